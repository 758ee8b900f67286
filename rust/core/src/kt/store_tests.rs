//! The directory on disk (format 3): reopened and read by readers, it is
//! the same log, answer for answer; what a crash or a failure leaves past
//! the head is undone.

use std::path::Path;

use ed25519_dalek::SigningKey;

use super::client::Client;
use super::directory::Directory;
use super::tests::START;
use super::tree_head::Configuration;
use crate::error::{Error, StorageKind};
use crate::vrf::VrfSecretKey;

fn keys() -> (Configuration, SigningKey, VrfSecretKey) {
    super::tests::keys(7, None)
}

fn open(path: &Path, create: bool) -> Directory {
    let (config, signing, vrf) = keys();
    Directory::open(path, config, signing, vrf, 4, create).unwrap()
}

fn reader(path: &Path) -> Directory {
    let (config, signing, vrf) = keys();
    Directory::open_reader(path, config, signing, vrf, 4).unwrap()
}

/// Entry `i` gives `user{i % 7}` a new version; entry 5 adds `bulk` labels.
pub(super) fn grow(d: &mut Directory, from: u64, to: u64, bulk: u32) {
    for i in from..to {
        d.stage(format!("user{}", i % 7).as_bytes(), format!("keys of user{} at {i}", i % 7).as_bytes()).unwrap();
        if i == 5 {
            for b in 0..bulk {
                d.stage(format!("bulk{b}").as_bytes(), &[b as u8; 40]).unwrap();
            }
        }
        assert_eq!(d.publish(START + 1000 * i).unwrap(), i);
    }
}

/// Requests whose answers must not change while the log does not.
fn requests(c: &Client) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for label in ["user0", "user3", "user6", "bulk0", "bulk2999", "nobody"] {
        out.push(("search", c.search_request(label.as_bytes(), None).unwrap()));
        out.push(("search", c.search_request(label.as_bytes(), Some(1)).unwrap()));
    }
    out.push(("distinguished", c.distinguished_request(None)));
    out
}

/// Every answer (or error) to `requests`, as bytes.
fn answers(d: &Directory, requests: &[(&str, Vec<u8>)]) -> Vec<Result<Vec<u8>, String>> {
    requests
        .iter()
        .map(|(kind, r)| match *kind {
            "search" => d.search(r),
            _ => d.distinguished(r),
        })
        .map(|a| a.map_err(|e| e.to_string()))
        .collect()
}

#[test]
fn reopened_and_read_by_readers_it_answers_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    // 3000 labels at once: the label index grows (4096 slots take 2560).
    grow(&mut d, 0, 30, 3000);
    let c = Client::new(d.config().clone(), 4).unwrap();
    let asked = requests(&c);
    let before = answers(&d, &asked);
    assert!(before.iter().filter(|a| a.is_ok()).count() == 9, "{before:?}");
    let mut r = reader(&path);
    assert!(r.is_reader());
    assert_eq!(answers(&r, &asked), before, "a reader answers as the publisher");
    assert!(!r.refresh().unwrap(), "nothing new");
    drop(d);
    let d = open(&path, false);
    assert_eq!(answers(&d, &asked), before, "reopened: the same log");
    assert_eq!(d.greatest_version(b"user3").unwrap(), Some(3));
    assert_eq!(d.value(b"bulk17").unwrap(), Some(vec![17; 40]));
    // The answers verify.
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.search_request(b"user3", None).unwrap();
    let found = c.verify_search(&req, &r.search(&req).unwrap(), START + 29_005).unwrap();
    assert_eq!((found.version, found.value), (3, b"keys of user3 at 24".to_vec()));
}

#[test]
fn a_reader_answers_from_its_head_until_it_refreshes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    grow(&mut d, 0, 10, 50);
    let mut r = reader(&path);
    let c = Client::new(d.config().clone(), 4).unwrap();
    let asked = requests(&c);
    let at_10 = answers(&r, &asked);
    // New versions of labels the reader knows (their slots now point at
    // records past its head) and new labels.
    grow(&mut d, 10, 12, 0);
    for b in 0..3000 {
        d.stage(format!("late{b}").as_bytes(), b"v").unwrap();
    }
    d.publish(START + 12_000).unwrap();
    assert_eq!(answers(&r, &asked), at_10, "a reader's answers come from its head alone");
    assert_eq!(r.size(), 10);
    assert!(r.refresh().unwrap());
    assert_eq!(r.size(), 13);
    assert_eq!(answers(&r, &asked), answers(&d, &asked));
    assert_eq!(r.greatest_version(b"late2999").unwrap(), Some(0));
}

#[test]
fn what_a_crash_leaves_past_the_head_is_undone_on_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    grow(&mut d, 0, 8, 20);
    let c = Client::new(d.config().clone(), 4).unwrap();
    let asked = requests(&c);
    let before = answers(&d, &asked);
    // Records, slots, nodes and heads of an entry written, its head not:
    // what a crash just before the head's rename leaves.
    d.unpublished_entry(START + 9_000, &[(b"user3", b"forged"), (b"newcomer", b"x"), (b"user3", b"again")]);
    drop(d);
    let mut d = open(&path, false);
    assert_eq!(answers(&d, &asked), before);
    assert_eq!(d.greatest_version(b"user3").unwrap(), Some(0));
    assert_eq!(d.greatest_version(b"newcomer").unwrap(), None);
    // The next entry takes the place of the lost one, and chains right.
    d.stage(b"user3", b"real").unwrap();
    d.stage(b"newcomer", b"y").unwrap();
    d.publish(START + 9_000).unwrap();
    drop(d);
    let d = open(&path, false);
    assert_eq!(d.greatest_version(b"user3").unwrap(), Some(1));
    assert_eq!(d.value(b"user3").unwrap(), Some(b"real".to_vec()));
    assert_eq!(d.value(b"newcomer").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn one_publisher_at_a_time_and_readers_never_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    grow(&mut d, 0, 3, 0);
    let (config, signing, vrf) = keys();
    let second = Directory::open(&path, config, signing, vrf, 4, false).err().unwrap();
    assert_eq!(second.storage_kind(), Some(StorageKind::Locked), "{second}");
    let mut r = reader(&path);
    assert!(matches!(r.stage(b"user1", b"v"), Err(Error::InvalidArgument(_))));
    assert!(matches!(r.publish(START + 5_000), Err(Error::InvalidArgument(_))));
    let (config, signing, vrf) = keys();
    let other = Directory::open_reader(&path, config, signing, vrf, 5).err().unwrap();
    assert!(other.to_string().contains("recent=4, not 5"), "{other}");
    let (config, signing, _) = keys();
    let wrong = VrfSecretKey::from_seed(&[99; 32]).unwrap();
    let other = Directory::open_reader(&path, config, signing, wrong, 4).err().unwrap();
    assert!(other.to_string().contains("VRF"), "{other}");
    let missing = Directory::open_reader(&tmp.path().join("none"), keys().0, keys().1, keys().2, 4).err().unwrap();
    assert_eq!(missing.storage_kind(), Some(StorageKind::NotFound));
}

#[test]
fn a_damaged_head_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    grow(&mut open(&path, true), 0, 3, 0);
    let head = path.join("head");
    let mut b = std::fs::read(&head).unwrap();
    b[20] ^= 1;
    std::fs::write(&head, &b).unwrap();
    let (config, signing, vrf) = keys();
    let e = Directory::open(&path, config, signing, vrf, 4, false).err().unwrap();
    assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{e}");
    // A truncated head, and a config cut short or with another magic: damaged too, never a panic.
    std::fs::write(&head, &b[..40]).unwrap();
    let e = Directory::open_reader(&path, keys().0, keys().1, keys().2, 4).err().unwrap();
    assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{e}");
    let config_file = path.join("config");
    let c = std::fs::read(&config_file).unwrap();
    for bad in [&c[..30], &c[..c.len() - 3], &b"x"[..]] {
        std::fs::write(&config_file, bad).unwrap();
        let e = Directory::open_reader(&path, keys().0, keys().1, keys().2, 4).err().unwrap();
        assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{e}");
    }
}

/// Replaces the head file (a new inode, as a publisher does) with `head`'s
/// u64s at the given offsets changed, under a valid checksum.
fn write_head_with(path: &Path, head: &[u8], fields: &[(usize, u64)]) {
    use sha2::{Digest, Sha256};
    let mut b = head[..head.len() - 32].to_vec();
    for &(at, value) in fields {
        b[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    std::fs::write(path.join("head.new"), &b).unwrap();
    std::fs::rename(path.join("head.new"), path.join("head")).unwrap();
}

#[test]
fn counts_past_memory_in_a_checksummed_head_are_damage() {
    // Found by the `kt_files` fuzz target built with overflow checks: a head
    // whose entry count doubles past 2^64 overflowed the log's head count,
    // one whose label count no index holds doubled the index past memory,
    // and a serial of 2^64 − 1 overflowed the next publication's (an index
    // generation of 2^64 − 1 would the next index's).
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    grow(&mut open(&path, true), 0, 3, 0);
    let b = std::fs::read(path.join("head")).unwrap();
    let (serial, entries) = (16, 24);
    let labels_head = 32 + crate::map::MapHead::LEN;
    let (labels, generation, slots) = (labels_head + 8, labels_head + 16, labels_head + 24);
    let mut r = reader(&path);
    let damage = [
        (serial, u64::MAX),
        (entries, 1 << 63),
        (entries, u64::MAX),
        (entries, (1 << 31) + 1),
        (slots, 1 << 62),
        (slots, u64::MAX),
        (slots, 3),
        // More labels than 4,096 slots hold at 5/8 load: growing the index doubled past memory.
        (labels, 2561),
        (labels, u64::MAX),
        (generation, u64::MAX),
    ];
    for (at, value) in damage {
        write_head_with(&path, &b, &[(at, value)]);
        let (config, signing, vrf) = keys();
        let e = Directory::open(&path, config, signing, vrf, 4, false).err().unwrap();
        assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{at} {value}: {e}");
        let e = Directory::open_reader(&path, keys().0, keys().1, keys().2, 4).err().unwrap();
        assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{at} {value}: {e}");
    }
    // A reader already open meets such a head (a newer serial) when it refreshes.
    let next = u64::from_le_bytes(b[serial..serial + 8].try_into().unwrap()) + 1;
    for (at, value) in damage.into_iter().filter(|&(at, _)| at != entries) {
        write_head_with(&path, &b, &[(serial, next), (at, value)]);
        let e = r.refresh().unwrap_err();
        assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{at} {value}: {e}");
    }
}

#[test]
fn proofs_completed_later_leave_every_answer_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    grow(&mut d, 0, 12, 300);
    let c = Client::new(d.config().clone(), 4).unwrap();
    let asked = requests(&c);
    let before = answers(&d, &asked);
    let r = reader(&path);
    assert_eq!(answers(&r, &asked), before);
    // In steps, across a reopening: the proofs made then are the ones answers made before.
    assert_eq!(d.fill_proofs(100).unwrap(), 100);
    drop(d);
    let mut d = open(&path, false);
    let mut filled = 100;
    loop {
        match d.fill_proofs(64).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    assert_eq!(filled, 12 + 300);
    assert_eq!(answers(&d, &asked), before, "stored proofs are the ones computed on the fly");
    let mut r = r;
    assert!(r.refresh().unwrap(), "filling proofs publishes a head");
    assert_eq!(answers(&r, &asked), before);
    assert!(matches!(r.fill_proofs(1), Err(Error::InvalidArgument(_))));
    // New versions after that: whole again once filled.
    grow(&mut d, 12, 14, 0);
    assert_eq!(d.fill_proofs(usize::MAX).unwrap(), 2);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.search_request(b"user6", None).unwrap();
    assert_eq!(c.verify_search(&req, &d.search(&req).unwrap(), START + 13_005).unwrap().version, 1);
}

#[test]
fn a_first_format_directory_opens_but_has_no_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let (config, signing, vrf) = keys();
    let mut d = Directory::open_journal(&path, config, signing, vrf, 4, true).unwrap();
    grow(&mut d, 0, 3, 0);
    drop(d);
    let d = open(&path, false);
    assert_eq!((d.size(), d.greatest_version(b"user2").unwrap()), (3, Some(0)), "the journal replays");
    let (config, signing, vrf) = keys();
    let e = Directory::open_reader(&path, config, signing, vrf, 4).err().unwrap();
    assert!(e.to_string().contains("first on-disk format"), "{e}");
}

/// Bytes of the label files changed on disk (rot, a bad copy) give answers
/// a client verifies or errors, never a panic: every offset, length and
/// chain a record holds is checked before it is followed.
#[test]
fn damaged_label_files_give_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    grow(&mut open(&path, true), 0, 10, 40);
    let c = Client::new(open(&path, false).config().clone(), 4).unwrap();
    let asked = requests(&c);
    for (file, step) in [("labels/records", 37), ("labels/index-0", 53)] {
        let original = std::fs::read(path.join(file)).unwrap();
        let used = original.iter().rposition(|&b| b != 0).unwrap_or(0) + 1;
        for at in (0..used).step_by(step) {
            let mut bytes = original.clone();
            bytes[at] ^= 0x5a;
            std::fs::write(path.join(file), &bytes).unwrap();
            if let Ok(r) = Directory::open_reader(&path, keys().0, keys().1, keys().2, 4) {
                let _ = answers(&r, &asked); // answered or refused, whatever the byte
                let _ = r.value(b"bulk7");
                // What a client accepts is what was published, or nothing.
                for (label, want) in [(&b"user3"[..], &b"keys of user3 at 3"[..]), (b"bulk7", &[7; 40])] {
                    let mut c = Client::new(r.config().clone(), 4).unwrap();
                    let req = c.search_request(label, None).unwrap();
                    if let Ok(Ok(found)) = r.search(&req).map(|a| c.verify_search(&req, &a, START + 9_005)) {
                        assert_eq!(found.value, want, "{file} damaged at {at}");
                    }
                }
            }
        }
        std::fs::write(path.join(file), &original).unwrap();
    }
    let r = reader(&path);
    assert_eq!(r.value(b"bulk7").unwrap(), Some(vec![7; 40]), "the files restored read as before");
    let mut c = Client::new(r.config().clone(), 4).unwrap();
    let req = c.search_request(b"user3", None).unwrap();
    let found = c.verify_search(&req, &r.search(&req).unwrap(), START + 9_005).unwrap();
    assert_eq!(found.value, b"keys of user3 at 3", "undamaged, the check above accepts");
}

/// A version record holds 90 bytes besides its label and value, packed
/// (88 for a label's first version, 89 past 127 bytes): the search key,
/// opening and position live elsewhere (the leaf, the VRF key, the entry
/// starts), and the answers that need them still verify.
#[test]
fn version_records_hold_nothing_kept_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("d");
    let mut d = open(&path, true);
    grow(&mut d, 0, 12, 300);
    // The length (a varint counting itself), the tag (version and flags:
    // one byte below version 32), the previous version's offset (u48, none
    // for a first version), the leaf slot, the VRF proof, the label's length.
    let record = |label: usize, value: usize, first: bool| {
        let body = 1 + if first { 0 } else { 6 } + 4 + 80 + 1 + label + value;
        body + if body < 127 { 1 } else { 2 }
    };
    let bytes: usize = (0..12u64)
        .map(|i| record(format!("user{}", i % 7).len(), format!("keys of user{} at {i}", i % 7).len(), i < 7))
        .chain((0..300u32).map(|b| record(format!("bulk{b}").len(), 40, true)))
        .sum();
    assert_eq!(d.record_bytes(), 16 + bytes as u64);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    for (label, version) in [("user3", None), ("user3", Some(0)), ("bulk299", None)] {
        let req = c.search_request(label.as_bytes(), version).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), START + 12_000).unwrap();
    }
}

/// The label index grows from one pass over the records: each label's
/// newest record is the one its slot points at, older versions (before and
/// after it in the file) are passed over, and every label keeps its newest
/// version through two growths, a reopen and a reader.
#[test]
fn the_index_grows_from_the_records_keeping_each_labels_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kt");
    let mut d = open(&path, true);
    let value = |b: u32, v: u32| format!("{b} at {v}").into_bytes();
    // 2,000 labels, new versions of every third, then 2,000 more labels
    // twice (4,096 slots take 2,560; 8,192 take 5,120).
    for b in 0..2000 {
        d.stage(format!("l{b}").as_bytes(), &value(b, 0)).unwrap();
    }
    d.publish(START).unwrap();
    // A reader follows: heads in the same index generation, then new ones.
    let mut r = reader(&path);
    for round in 1..3 {
        for b in (0..2000).step_by(3) {
            d.stage(format!("l{b}").as_bytes(), &value(b, round)).unwrap();
        }
        d.publish(START + u64::from(round)).unwrap();
        assert!(r.refresh().unwrap());
    }
    for more in [2000..4000, 4000..6000] {
        let at = START + u64::from(more.start);
        for b in more {
            d.stage(format!("l{b}").as_bytes(), &value(b, 0)).unwrap();
        }
        d.publish(at).unwrap();
        assert!(r.refresh().unwrap());
    }
    let check = |d: &Directory| {
        for b in 0..6000u32 {
            let newest = if b < 2000 && b % 3 == 0 { 2 } else { 0 };
            let label = format!("l{b}");
            assert_eq!(d.greatest_version(label.as_bytes()).unwrap(), Some(newest), "{label}");
            assert_eq!(d.value(label.as_bytes()).unwrap(), Some(value(b, newest)), "{label}");
        }
        assert_eq!(d.greatest_version(b"l6000").unwrap(), None);
    };
    check(&d);
    check(&r);
    check(&reader(&path));
    drop(d);
    check(&open(&path, false));
}
