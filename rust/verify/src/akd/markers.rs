//! Marker versions: which versions of a label a key-history proof must show
//! present (past markers, below the oldest version shown) and absent
//! (future markers, above the newest, up to the epoch), as akd 0.13
//! chooses them (`akd_core::utils::get_marker_versions`). A lookup's
//! marker is the version's highest power of two.

/// Versions every label is checked at, besides powers of two near its own.
const SKIPLIST: [u64; 7] = [1, 1 << 1, 1 << 2, 1 << 4, 1 << 8, 1 << 16, 1 << 32];

/// The highest power of two at most `version` (> 0).
pub fn power_below(version: u64) -> u64 {
    1 << (63 - version.leading_zeros())
}

/// Index of the largest skiplist entry at most `v` (> 0).
fn skiplist_index(v: u64) -> usize {
    SKIPLIST.iter().rposition(|&s| s <= v).expect("v > 0")
}

/// The past markers for a history starting at `start` (> 0), ascending.
pub fn past(start: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut push = |v: u64| {
        if v != 0 && v != start && out.last() != Some(&v) {
            out.push(v);
        }
    };
    push(SKIPLIST[skiplist_index(start)]);
    // Then start's prefixes: start with its low bits cleared, one set bit
    // at a time from the top (the top one alone is the power of two below).
    for bit in (0..64 - start.leading_zeros()).rev() {
        if start >> bit & 1 == 1 {
            push(start.checked_shr(bit + 1).map_or(0, |high| high << (bit + 1)));
        }
    }
    out
}

/// The future markers for a history ending at `end` (> 0) seen at `epoch`
/// (≥ end), ascending.
pub fn future(end: u64, epoch: u64) -> Vec<u64> {
    let mut out = Vec::new();
    // The next versions that round end up: set a zero bit, clear the ones
    // below it, in turn from the lowest zero bit.
    let mut v = end;
    for bit in 0..64 - end.leading_zeros() {
        if end >> bit & 1 == 0 {
            v = (v | 1 << bit) & !((1 << bit) - 1);
            if v <= epoch {
                out.push(v);
            }
        }
    }
    // Then the powers of two above end, up to the epoch, until the
    // skiplist's next entry takes over; then the skiplist's entries above
    // end's, up to the epoch's.
    let skip = &SKIPLIST[skiplist_index(end) + 1..=skiplist_index(epoch)];
    for log in (63 - end.leading_zeros() + 1)..=(63 - epoch.leading_zeros()) {
        let p = 1u64 << log;
        if skip.first().is_some_and(|&s| p >= s) {
            break;
        }
        out.push(p);
    }
    out.extend_from_slice(skip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases akd 0.13's own unit test states.
    #[test]
    fn matches_akds_stated_cases() {
        let both = |s, e, ep| (past(s), future(e, ep));
        assert_eq!(both(65, 65, 128), (vec![16, 64], vec![66, 68, 72, 80, 96, 128]));
        assert_eq!(both(85, 85, 65537), (vec![16, 64, 80, 84], vec![86, 88, 96, 128, 256, 65536]));
        assert_eq!(both(1, 5, 33), (vec![], vec![6, 8, 16]));
        assert_eq!(both(2, 5, 33), (vec![], vec![6, 8, 16]));
        assert_eq!(both(3, 5, 33), (vec![2], vec![6, 8, 16]));
        assert_eq!(both(6, 12, 128), (vec![4], vec![13, 14, 16]));
        assert_eq!(both(6, 12, 256), (vec![4], vec![13, 14, 16, 256]));
        assert_eq!(both(130, 130, 256), (vec![16, 128], vec![131, 132, 136, 144, 160, 192, 256]));
    }

    #[test]
    fn markers_lie_outside_the_history_and_ascend() {
        for start in 1..300u64 {
            for end in start..start + 40 {
                for epoch in [end, end + 1, end * 2, end * 300, u64::MAX] {
                    let (p, f) = (past(start), future(end, epoch));
                    assert!(p.windows(2).all(|w| w[0] < w[1]) && p.iter().all(|&v| 0 < v && v < start));
                    assert!(f.windows(2).all(|w| w[0] < w[1]) && f.iter().all(|&v| end < v && v <= epoch));
                }
            }
        }
        assert_eq!(power_below(1), 1);
        assert_eq!(power_below(u64::MAX), 1 << 63);
        let _ = future(u64::MAX, u64::MAX);
        let _ = past(u64::MAX);
    }
}
