//! The KEYTRANS client's verification of each response kind, against a real
//! client state (it verified a search of every label of a 40-entry log): an
//! honest response tampered as the input says (bits flipped, bytes cut or
//! inserted), or arbitrary bytes. Nothing panics; a tampered response the
//! client accepts must carry what the honest one said (the found version
//! and value of a search).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_fuzz::{kt, ENTRIES, T0};

#[derive(Arbitrary, Debug)]
struct Case {
    exchange: u8,
    flips: Vec<u32>,
    cut: Option<u32>,
    insert: Option<(u32, u8)>,
    raw: Option<Vec<u8>>,
    later_ms: u16,
}

fuzz_target!(|case: Case| {
    let kt = kt();
    let (kind, request, honest) = &kt.exchanges[case.exchange as usize % kt.exchanges.len()];
    let mut response = case.raw.clone().unwrap_or_else(|| honest.clone());
    if case.raw.is_none() {
        for f in case.flips.iter().take(4) {
            let bit = *f as usize % (response.len() * 8);
            response[bit / 8] ^= 1 << (bit % 8);
        }
        if let Some((at, byte)) = case.insert {
            response.insert(at as usize % (response.len() + 1), byte);
        }
        if let Some(cut) = case.cut {
            response.truncate(cut as usize % (response.len() + 1));
        }
    }
    let now = T0 + 1000 * (ENTRIES - 1) + 5 + u64::from(case.later_ms);
    let mut client = kt.client.clone();
    match kind {
        0 => {
            if let Ok(found) = client.verify_search(request, &response, now) {
                let truth = kt.client.clone().verify_search(request, honest, now).expect("the honest answer");
                assert_eq!((found.version, &found.value), (truth.version, &truth.value), "a tampered search accepted");
            }
        }
        1 => {
            let _ = client.verify_monitor(request, &response, now);
        }
        2 => {
            let _ = client.verify_distinguished(request, &response, now);
        }
        3 => {
            let _ = client.verify_owner_init(request, &response, now);
        }
        _ => unreachable!("four kinds"),
    }
});
