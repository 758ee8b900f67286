//! A first-format directory's journal replayed from damaged records (an
//! honest journal's records flipped, cut, dropped, repeated, or arbitrary
//! ones added): the directory opens, or says its journal is damaged; never a
//! panic. What a record's checksum catches is the storage backend's (the
//! file backend's records carry one); replay must survive the rest.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use veritree_core::kt::directory::Directory;
use veritree_core::storage::memory::MemoryRecords;
use veritree_fuzz::{kt, T0};
use veritree_verify::vrf::VrfSecretKey;

fn keys() -> (SigningKey, VrfSecretKey) {
    (SigningKey::from_bytes(&[7; 32]), VrfSecretKey::from_seed(&[8; 32]).expect("a seed"))
}

/// The records of an honest journal of 12 entries.
fn honest() -> &'static Vec<Vec<u8>> {
    static RECORDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let shared = MemoryRecords::new();
        let (signing, vrf) = keys();
        let config = kt().client.config().clone();
        let mut d = Directory::open_over(Box::new(shared.clone()), Vec::new(), config, signing, vrf, 4).unwrap();
        for i in 0..12u64 {
            d.stage(format!("user{}", i % 4).as_bytes(), &[i as u8; 20]).unwrap();
            d.publish(T0 + 1000 * i).unwrap();
        }
        shared.records()
    })
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Flip { record: u8, bit: u16 },
    Cut { record: u8, len: u16 },
    Drop { record: u8 },
    Repeat { record: u8 },
    Add { at: u8, record: Vec<u8> },
}

fuzz_target!(|damage: Vec<Damage>| {
    let mut records = honest().clone();
    for d in damage.iter().take(3) {
        let n = records.len().max(1);
        match d {
            Damage::Flip { record, bit } => {
                let r = &mut records[*record as usize % n];
                if !r.is_empty() {
                    let b = *bit as usize % (r.len() * 8);
                    r[b / 8] ^= 1 << (b % 8);
                }
            }
            Damage::Cut { record, len } => {
                let r = &mut records[*record as usize % n];
                r.truncate(*len as usize % (r.len() + 1));
            }
            Damage::Drop { record } => {
                records.remove(*record as usize % n);
            }
            Damage::Repeat { record } => {
                let r = records[*record as usize % n].clone();
                records.insert(*record as usize % n, r);
            }
            Damage::Add { at, record } => records.insert(*at as usize % (records.len() + 1), record.clone()),
        }
        if records.is_empty() {
            return;
        }
    }
    let (signing, vrf) = keys();
    let config = kt().client.config().clone();
    let _ = Directory::open_over(Box::new(MemoryRecords::new()), records, config, signing, vrf, 4);
});
