//! A directory on disk damaged (rot, a bad copy, a hand-edited head): the
//! fixed 40-entry directory (`veritree_fuzz::kt`) published into a folder,
//! then its `head` rewritten with the input's field values under a valid
//! checksum (serial, entries, the map's and the labels' heads, the auditor
//! head's length) and bytes of its other files changed or cut. It is opened
//! by its publisher and by a reader, asked the honest searches and a
//! publication. Never a panic or a hang; the undamaged copy answers as the
//! in-memory directory does; and whatever a first-contact client accepts
//! from a damaged copy is the honest value (damage may make the directory
//! refuse or answer wrongly, never be believed).
#![no_main]

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use veritree_core::kt::directory::Directory;
use veritree_fuzz::{kt, ENTRIES, T0};
use veritree_verify::kt::client::Client;
use veritree_verify::vrf::VrfSecretKey;

fn keys() -> (SigningKey, VrfSecretKey) {
    (SigningKey::from_bytes(&[7; 32]), VrfSecretKey::from_seed(&[8; 32]).expect("a seed"))
}

struct Pristine {
    /// Every file of the folder, by its path inside it.
    files: Vec<(PathBuf, Vec<u8>)>,
    scratch: PathBuf,
    _dir: tempfile::TempDir,
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kt");
        let (signing, vrf) = keys();
        let config = kt().client.config().clone();
        // The same stages and publications as the in-memory directory.
        let mut d = Directory::open(&path, config, signing, vrf, 4, true).unwrap();
        for i in 0..ENTRIES {
            if i % 3 == 0 {
                d.stage(format!("user{}", i % 5).as_bytes(), format!("keys {i}").as_bytes()).unwrap();
            }
            d.publish(T0 + 1000 * i).unwrap();
        }
        drop(d);
        let mut files = Vec::new();
        collect(&path, Path::new(""), &mut files);
        files.sort();
        Pristine { files, scratch: dir.path().join("scratch"), _dir: dir }
    })
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            collect(root, &rel, out);
        } else if entry.file_name() != "lock" {
            out.push((rel.clone(), std::fs::read(root.join(&rel)).unwrap()));
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Damage {
    /// The head's 8 bytes at this offset of its fixed part set to `value`,
    /// the checksum made again.
    HeadField { at: u8, value: u64 },
    /// One byte of a file (not the head) changed.
    Byte { file: u8, at: u32, xor: u8 },
    /// A file (not the head) cut to a length.
    Cut { file: u8, len: u32 },
}

/// The head's fixed part: magic 16, serial 8, entries 8, map head 40,
/// labels head 40, auditor head length 4 (then the auditor head, then
/// SHA-256 of all before).
const HEAD_FIXED: usize = 16 + 8 + 8 + 40 + 40 + 4;

fn damage(files: &mut [(PathBuf, Vec<u8>)], damage: &[Damage]) {
    let head = files.iter().position(|(p, _)| p == Path::new("head")).expect("a head");
    let others: Vec<usize> = (0..files.len()).filter(|&i| i != head).collect();
    for d in damage.iter().take(4) {
        match d {
            Damage::HeadField { at, value } => {
                let h = &mut files[head].1;
                let at = 16 + usize::from(*at) % (HEAD_FIXED - 16 - 3);
                let end = (at + 8).min(HEAD_FIXED);
                h[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
                let body = h.len() - 32;
                let sum = Sha256::digest(&h[..body]);
                h[body..].copy_from_slice(&sum);
            }
            Damage::Byte { file, at, xor } => {
                let f = &mut files[others[usize::from(*file) % others.len()]].1;
                if !f.is_empty() {
                    let at = *at as usize % f.len();
                    f[at] ^= xor;
                }
            }
            Damage::Cut { file, len } => {
                let f = &mut files[others[usize::from(*file) % others.len()]].1;
                let len = *len as usize % (f.len() + 1);
                f.truncate(len);
            }
        }
    }
}

fn write(scratch: &Path, files: &[(PathBuf, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(scratch);
    for (rel, bytes) in files {
        let path = scratch.join(rel);
        // Owner-only, as a directory's folders and files must be.
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
    }
}

/// Asks `d` the honest searches; checks what a first-contact client
/// accepts. `exact`: the copy is undamaged and must answer byte for byte.
fn searches(d: &Directory, exact: bool) {
    let now = T0 + 1000 * (ENTRIES - 1) + 5;
    let honest = kt();
    for (kind, request, response) in &honest.exchanges {
        if *kind != 0 {
            continue;
        }
        let Ok(answer) = d.search(request) else {
            assert!(!exact, "the undamaged directory refused a search");
            continue;
        };
        if exact {
            assert_eq!(&answer, response, "the undamaged directory answered otherwise");
        }
        let mut client = Client::new(honest.client.config().clone(), 4).unwrap();
        if let Ok(found) = client.verify_search(request, &answer, now) {
            let mut fresh = Client::new(honest.client.config().clone(), 4).unwrap();
            let want = fresh.verify_search(request, response, now).unwrap();
            assert_eq!((found.version, found.value), (want.version, want.value), "a damaged directory was believed");
        }
    }
}

fuzz_target!(|input: Vec<Damage>| {
    let p = pristine();
    let mut files = p.files.clone();
    damage(&mut files, &input);
    write(&p.scratch, &files);
    let exact = input.is_empty();
    let (signing, vrf) = keys();
    let config = kt().client.config().clone();
    if let Ok(reader) = Directory::open_reader(&p.scratch, config.clone(), signing.clone(), keys().1, 4) {
        searches(&reader, exact);
    } else {
        assert!(!exact, "the undamaged directory does not open for a reader");
    }
    match Directory::open(&p.scratch, config, signing, vrf, 4, false) {
        Ok(mut d) => {
            searches(&d, exact);
            if d.stage(b"user9", b"new keys").is_ok() {
                let _ = d.publish(T0 + 1000 * ENTRIES);
            }
        }
        Err(e) => assert!(!exact, "the undamaged directory does not open: {e}"),
    }
});
