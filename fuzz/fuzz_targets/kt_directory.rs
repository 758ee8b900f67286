//! The directory's handling of arbitrary requests (the first byte picks the
//! endpoint) against a real 40-entry log: an error for anything it cannot
//! answer, never a panic, an endless loop or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritree_fuzz::kt;

fuzz_target!(|data: &[u8]| {
    let Some((&which, request)) = data.split_first() else { return };
    let d = &kt().directory;
    let _ = match which % 6 {
        0 => d.search(request),
        1 => d.monitor(request),
        2 => d.distinguished(request),
        3 => d.owner_init(request),
        4 => d.owner_monitor(request),
        _ => d.auditor_update(u64::from_le_bytes(request.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]))),
    };
});
