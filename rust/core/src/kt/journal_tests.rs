//! The on-disk directory: a reopened directory is the same log, a torn last
//! record is cut off, damage and mismatched configurations are refused.

use std::fs;
use std::path::Path;
use std::time::Instant;

use ed25519_dalek::SigningKey;

use super::auditor::Auditor;
use super::client::Client;
use super::commitment::{commitment, search_key, update_value};
use super::directory::Directory;
use super::messages::{DistinguishedRequest, OwnerInitRequest, SearchRequest};
use super::tree_head::{Configuration, Mode};
use super::wire::Writer;
use crate::error::Error;
use crate::vrf::{self, VrfSecretKey};

const START: u64 = 1_700_000_000_000;
const RMW: u64 = 10_000;
const AUDITOR: u8 = 9;

fn keys(seed: u8) -> (SigningKey, VrfSecretKey) {
    (SigningKey::from_bytes(&[seed; 32]), VrfSecretKey::from_seed(&[seed.wrapping_add(1); 32]).unwrap())
}

fn config(seed: u8, audited: bool) -> Configuration {
    let (signing, vrf) = keys(seed);
    let mode = match audited {
        false => Mode::ContactMonitoring,
        true => Mode::ThirdPartyAuditing {
            max_auditor_lag: 3_600_000,
            auditor_start_pos: 0,
            auditor_public_key: SigningKey::from_bytes(&[AUDITOR; 32]).verifying_key().as_bytes().to_vec(),
        },
    };
    Configuration {
        mode,
        signature_public_key: signing.verifying_key().as_bytes().to_vec(),
        vrf_public_key: vrf.public_key().to_vec(),
        max_ahead: 60_000,
        max_behind: 24 * 3600 * 1000,
        reasonable_monitoring_window: RMW,
        maximum_lifetime: Some(2 * RMW),
    }
}

fn open_with(path: &Path, config: Configuration, seed: u8, create: bool) -> Result<Directory, Error> {
    let (signing, vrf) = keys(seed);
    Directory::open_journal(path, config, signing, vrf, 4, create)
}

fn open(path: &Path, audited: bool) -> Directory {
    open_with(path, config(1, audited), 1, true).unwrap()
}

/// Publishes entries `from..to`, one per second; entry i gives labels
/// `i % 7` and `(i * 3) % 11` a new version each.
fn grow(d: &mut Directory, from: u64, to: u64) {
    for i in from..to {
        for label in [i % 7, (i * 3) % 11] {
            d.stage(format!("user{label}").as_bytes(), format!("keys {i}").as_bytes()).unwrap();
        }
        assert_eq!(d.publish(START + 1000 * i).unwrap(), i);
    }
}

/// `grow`, the auditor (if any) signing every fifth entry: it must see
/// each entry before the entry's prefix tree expires.
fn grow_audited(d: &mut Directory, mut auditor: Option<&mut Auditor>, from: u64, to: u64) {
    for start in (from..to).step_by(5) {
        grow(d, start, (start + 5).min(to));
        if let Some(a) = auditor.as_deref_mut() {
            audit(d, a);
        }
    }
}

fn audit(d: &mut Directory, a: &mut Auditor) {
    let mut head = None;
    while a.size() < d.size() {
        head = Some(a.process(&d.auditor_update(a.size()).unwrap()).unwrap());
    }
    let mut w = Writer::default();
    head.unwrap().encode(&mut w).unwrap();
    d.set_auditor_head(&w.buf).unwrap();
}

type Ask = fn(&Directory, &[u8]) -> Result<Vec<u8>, Error>;

/// Searches, monitoring, owner and distinguished requests, from users who
/// saw nothing or part of the log; monitoring maps from a client's.
fn requests(d: &Directory, now: u64) -> Vec<(Ask, Vec<u8>)> {
    let n = d.size();
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.distinguished_request(None);
    let distinguished = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now).unwrap();
    let mut out: Vec<(Ask, Vec<u8>)> = Vec::new();
    for last in [None, Some(n / 2), Some(n)] {
        out.push((Directory::distinguished, DistinguishedRequest { last, stop: None }.to_bytes()));
        for u in 0..11 {
            let label = format!("user{u}").into_bytes();
            let Some(g) = d.greatest_version(&label).unwrap() else { continue };
            for version in [None, Some(g), Some(g - 1)] {
                let req = SearchRequest { last, label: label.clone(), version }.to_bytes().unwrap();
                out.push((Directory::search, req));
            }
            for &(start, _) in &distinguished {
                let req = OwnerInitRequest { last, label: label.clone(), start }.to_bytes().unwrap();
                out.push((Directory::owner_init, req));
            }
        }
    }
    for u in 0..11 {
        let label = format!("user{u}").into_bytes();
        if d.greatest_version(&label).unwrap().is_none() {
            continue;
        }
        let req = c.search_request(&label, None).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), now).unwrap();
        if c.monitors().contains_key(&label) {
            out.push((Directory::monitor, c.monitor_request(&label).unwrap()));
        }
    }
    out
}

/// The answers to `requests`, errors included, and every auditor update.
fn answers(d: &Directory, requests: &[(Ask, Vec<u8>)]) -> Vec<Result<Vec<u8>, Error>> {
    let mut out: Vec<_> = requests.iter().map(|(ask, req)| ask(d, req)).collect();
    out.extend((0..d.size()).map(|x| d.auditor_update(x)));
    out
}

fn journal_len(dir: &Path) -> u64 {
    fs::metadata(dir.join("journal")).unwrap().len()
}

/// A directory of format 2 (files and a head) kept in `path`.
fn open_files(path: &Path, audited: bool) -> Directory {
    let (signing, vrf) = keys(1);
    Directory::open(path, config(1, audited), signing, vrf, 4, true).unwrap()
}

#[test]
fn a_reopened_directory_is_the_same_log() {
    reopens_as_the_same_log(open);
}

/// Format 2 too: auditor heads, auditor updates and expired trees survive
/// reopening, with VRF proofs completed in between.
#[test]
fn a_reopened_directory_of_format_2_is_the_same_log() {
    reopens_as_the_same_log(open_files);
}

fn reopens_as_the_same_log(open: fn(&Path, bool) -> Directory) {
    for audited in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("kt");
        let mut d = open(&path, audited);
        assert_eq!(d.path(), Some(path.as_path()));
        let mut auditor =
            audited.then(|| Auditor::new(d.config().clone(), SigningKey::from_bytes(&[AUDITOR; 32])).unwrap());
        let mut auditor = auditor.as_mut();
        grow_audited(&mut d, auditor.as_deref_mut(), 0, 60);
        // An entry after the auditor's head: heads are served as taken.
        grow(&mut d, 60, 61);
        let mut c = Client::new(d.config().clone(), 4).unwrap();
        let req = c.search_request(b"user3", None).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), START + 61_000).unwrap();
        let asked = requests(&d, START + 61_000);
        let (entries, oldest, before) = (d.entries().to_vec(), d.oldest_tree(), answers(&d, &asked));
        let ok = before.iter().filter(|a| a.is_ok()).count();
        let errs: Vec<String> = before.iter().filter_map(|a| a.as_ref().err().map(|e| e.to_string())).collect();
        assert!(ok > 100, "{ok} of {} answered: {:?}", before.len(), &errs[..10]);
        let _ = d.fill_proofs(37);
        drop(d);
        let mut d = open(&path, audited);
        assert_eq!((d.entries(), d.oldest_tree()), (&entries[..], oldest));
        assert!(oldest > 0, "expired prefix trees are pruned on replay too");
        assert!(answers(&d, &asked) == before, "an answer changed across the reopening (audited: {audited})");
        // The client that verified before goes on verifying.
        grow_audited(&mut d, auditor, 61, 70);
        let req = c.search_request(b"user3", None).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), START + 70_000).unwrap();
    }
}

#[test]
fn a_second_writer_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = open(tmp.path(), false);
    let err = open_with(tmp.path(), config(1, false), 1, false).err().unwrap();
    assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("another process"), "{err}");
    drop(d);
    open(tmp.path(), false);
}

#[test]
fn a_torn_last_record_is_cut_at_every_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, false);
    grow(&mut d, 0, 5);
    let asked = requests(&d, START + 4_005);
    let (entries, answered) = (d.entries().to_vec(), answers(&d, &asked));
    let start = journal_len(&path);
    grow(&mut d, 5, 6);
    drop(d);
    let whole = fs::read(path.join("journal")).unwrap();
    let mut tails: Vec<Vec<u8>> = (start as usize..whole.len()).map(|cut| whole[..cut].to_vec()).collect();
    // The file grew, but the record's data never landed.
    tails.push([&whole[..start as usize], &vec![0; whole.len() - start as usize][..]].concat());
    for (i, torn) in tails.iter().enumerate() {
        fs::write(path.join("journal"), torn).unwrap();
        let mut d = open(&path, false);
        assert_eq!(d.entries(), &entries[..], "cut at {}", torn.len());
        assert_eq!(journal_len(&path), start, "the torn record is cut off");
        // The slower checks at a sample of the cuts.
        if i % 16 == 0 || i == tails.len() - 1 {
            assert!(answers(&d, &asked) == answered);
            grow(&mut d, 5, 6);
            drop(d);
            assert_eq!(open(&path, false).size(), 6, "a record appended after the cut survives");
        }
    }
    // What a cut removed is kept beside the journal (zeros are not).
    let kept = fs::read(path.join(format!("journal.cut-{start}"))).unwrap();
    assert!(!kept.is_empty() && whole[start as usize..].starts_with(&kept));
}

#[test]
fn damage_before_the_last_record_is_a_storage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = open(tmp.path(), false);
    grow(&mut d, 0, 3);
    let middle = journal_len(tmp.path()) - 10;
    grow(&mut d, 3, 5);
    drop(d);
    let whole = fs::read(tmp.path().join("journal")).unwrap();
    for (at, why) in [(middle as usize, "a bad record"), (20, "a bad record"), (0, "not a veritree KEYTRANS journal")] {
        let mut bad = whole.clone();
        bad[at] ^= 0x40;
        fs::write(tmp.path().join("journal"), &bad).unwrap();
        let err = open_with(tmp.path(), config(1, false), 1, false).err().unwrap();
        assert!(matches!(err, Error::Storage(_)) && err.to_string().contains(why), "byte {at}: {err}");
    }
}

#[test]
fn another_configuration_or_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = open(tmp.path(), false);
    grow(&mut d, 0, 2);
    drop(d);
    let mut slower = config(1, false);
    slower.max_ahead += 1;
    let refusals = [
        (open_with(tmp.path(), slower, 1, false), "max_ahead"),
        (open_with(tmp.path(), config(2, false), 2, false), "signing key, VRF key"),
        (open_with(tmp.path(), config(1, true), 1, false), "deployment mode"),
        (Directory::open_journal(tmp.path(), config(1, false), keys(1).0, keys(1).1, 5, false), "recent=4, not 5"),
    ];
    for (r, why) in refusals {
        let err = r.err().unwrap();
        assert!(matches!(err, Error::InvalidArgument(_)) && err.to_string().contains(why), "{err}");
    }
    assert_eq!(open(tmp.path(), false).size(), 2, "a refusal changes nothing");
    let missing = tmp.path().join("missing");
    let err = open_with(&missing, config(1, false), 1, false).err().unwrap();
    assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("create=True"), "{err}");
    let busy = tempfile::tempdir().unwrap();
    fs::write(busy.path().join("notes.txt"), b"mine").unwrap();
    let err = open_with(busy.path(), config(1, false), 1, true).err().unwrap();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn a_failed_append_keeps_the_batch_staged_and_the_next_one_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = open(tmp.path(), false);
    grow(&mut d, 0, 3);
    let entries = d.entries().to_vec();
    let journal = tmp.path().join("journal");
    let bytes = fs::read(&journal).unwrap();
    assert_eq!(d.stage(b"alice", b"a0").unwrap(), 0);
    assert_eq!(d.stage(b"alice", b"a1").unwrap(), 1);
    d.journal_mut().unwrap().inject_faults(2);
    for _ in 0..2 {
        let err = d.publish(START + 10_000).unwrap_err();
        assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("No space"), "{err}");
        assert_eq!(d.entries(), &entries[..], "memory is not ahead of the journal");
        assert_eq!(fs::read(&journal).unwrap(), bytes, "the half-written record is cut off");
    }
    assert_eq!(d.stage(b"alice", b"a2").unwrap(), 2, "the batch is still staged");
    // The fault has cleared: the same directory publishes, and the entry lasts.
    let position = d.publish(START + 10_000).unwrap();
    assert_eq!((position, d.greatest_version(b"alice").unwrap()), (3, Some(2)));
    let published = d.entries().to_vec();
    drop(d);
    assert_eq!(open(tmp.path(), false).entries(), &published[..]);
}

#[test]
fn the_folder_and_journal_are_private_and_an_open_folder_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kt");
    // SAFETY: umask only changes this process's file-creation mask; the
    // test restores it, and every file it creates meanwhile is checked.
    let old = unsafe { libc::umask(0) };
    let d = open(&dir, false);
    unsafe { libc::umask(old) };
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("journal")), 0o600);
    assert_eq!(mode(&dir.join("lock")), 0o600);
    drop(d);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    let err = open_with(&dir, config(1, false), 1, false).err().unwrap();
    assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("chmod 700"), "{err}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(open(&dir, false).size(), 0);
}

#[test]
fn an_older_timestamp_keeps_the_batch_staged() {
    let mut d = Directory::new(config(1, false), keys(1).0, keys(1).1, 4).unwrap();
    grow(&mut d, 0, 2);
    d.stage(b"alice", b"a0").unwrap();
    assert!(d.publish(START).is_err());
    assert_eq!(d.stage(b"alice", b"a1").unwrap(), 1);
    d.publish(START + 5_000).unwrap();
    assert_eq!(d.greatest_version(b"alice").unwrap(), Some(1));
}

/// What replay would spend per version to recompute the search key from
/// the VRF proof and the commitment from the opening. Run with
/// `cargo test --release -p veritree-core replay_costs -- --ignored --nocapture`.
#[test]
#[ignore]
fn replay_costs() {
    let (_, vrf) = keys(1);
    let proofs: Vec<_> = (0..2_000).map(|i| search_key(&vrf, b"someone@example.com", i).unwrap().1).collect();
    let t = Instant::now();
    for p in &proofs {
        std::hint::black_box(vrf::proof_to_hash(p).unwrap());
    }
    let key = t.elapsed().as_secs_f64() / proofs.len() as f64;
    let t = Instant::now();
    for i in 0..proofs.len() as u32 {
        let update = update_value(&[7; 64]).unwrap();
        std::hint::black_box(commitment(&[1; 16], b"someone@example.com", i, &update).unwrap());
    }
    let hmac = t.elapsed().as_secs_f64() / proofs.len() as f64;
    println!("per version: search key from proof {:.2} µs, commitment {:.2} µs", key * 1e6, hmac * 1e6);
}

/// Reopening time and journal bytes per label. Run with
/// `KT_LABELS=1000000 cargo test --release -p veritree-core reopen_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn reopen_time() {
    let labels: u64 = std::env::var("KT_LABELS").map_or(100_000, |n| n.parse().unwrap());
    let per_entry = 1_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut d = open(tmp.path(), false);
    let t = Instant::now();
    for e in 0..labels.div_ceil(per_entry) {
        for i in e * per_entry..((e + 1) * per_entry).min(labels) {
            d.stage(format!("user{i}@example.com").as_bytes(), &[i as u8; 32]).unwrap();
        }
        d.publish(START + e).unwrap();
    }
    let built = t.elapsed();
    drop(d);
    let t = Instant::now();
    let d = open(tmp.path(), false);
    let reopened = t.elapsed();
    let bytes = journal_len(tmp.path());
    println!(
        "{labels} labels (20-byte labels, 32-byte values) in {} entries: published in {built:.1?}, reopened in \
         {reopened:.2?}; journal {bytes} bytes, {:.1} per label",
        d.size(),
        bytes as f64 / labels as f64
    );
}

/// The directory's journal goes through the storage seam: over the
/// in-memory backend it reopens as the same log (entries, answers), refuses
/// another configuration, and a failed append changes nothing there either.
#[test]
fn a_directory_over_the_memory_backend_reopens_as_the_same_log() {
    use crate::storage::memory::MemoryRecords;
    use crate::storage::Records;

    let store = MemoryRecords::new();
    let over = |store: &MemoryRecords, config: Configuration| {
        let (signing, vrf) = keys(1);
        Directory::open_over(Box::new(store.clone()), store.records(), config, signing, vrf, 4)
    };
    let mut d = over(&store, config(1, false)).unwrap();
    assert_eq!(d.path(), None);
    grow(&mut d, 0, 30);
    let asked = requests(&d, START + 30_000);
    let (entries, before) = (d.entries().to_vec(), answers(&d, &asked));
    assert_eq!(store.records().len(), 31, "a header and one record per entry");
    drop(d);
    let mut d = over(&store, config(1, false)).unwrap();
    assert_eq!(d.entries(), &entries[..]);
    assert!(answers(&d, &asked) == before, "an answer changed across the reopening");
    let mut slower = config(1, false);
    slower.max_ahead += 1;
    let err = over(&store, slower).err().unwrap();
    assert!(matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("max_ahead"), "{err}");
    d.journal_mut().unwrap().inject_faults(1);
    d.stage(b"user1", b"new").unwrap();
    assert!(d.publish(START + 40_000).is_err());
    assert_eq!((d.entries(), store.records().len()), (&entries[..], 31), "nothing half-applied");
    assert_eq!(d.publish(START + 40_000).unwrap(), 30, "the next publication succeeds");
    let mut probe = store.clone();
    probe.append(b"").unwrap(); // a record no directory wrote
    let err = over(&store, config(1, false)).err().unwrap();
    assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("record 32 is malformed"), "{err}");
}
