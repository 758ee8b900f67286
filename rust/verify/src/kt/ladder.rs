//! Binary ladders (the draft's "Binary Ladder" and its appendix): the label
//! versions whose VRF outputs a search or a monitor looks up in one prefix
//! tree, so that the lookups together pin down the greatest version.

const LIMIT: u64 = 1 << 32;

/// The versions looked up to establish that `n` is the greatest version:
/// `2^k - 1` until one exceeds `n`, then a binary search between the last two.
pub fn base(n: u32) -> Vec<u32> {
    let n = u64::from(n);
    let mut out: Vec<u64> = Vec::new();
    loop {
        let value = (1u64 << out.len()) - 1;
        out.push(value);
        if value > n {
            break;
        }
    }
    let (mut lower, mut upper) = (out[out.len() - 2], out[out.len() - 1]);
    while lower + 1 < upper {
        let value = (lower + upper) / 2;
        out.push(value);
        if value <= n && value < LIMIT {
            lower = value;
        } else {
            upper = value;
        }
    }
    out.into_iter().filter(|&v| v < LIMIT).map(|v| v as u32).collect()
}

/// The lookups of a search for target version `t` in a prefix tree whose
/// greatest version of the label is `n`: the base ladder, stopped at the
/// first lookup that ends the search, without the versions already proven
/// (inclusion to the left, non-inclusion to the right).
pub fn search(t: u32, n: u32, left_inclusion: &[u32], right_non_inclusion: &[u32]) -> Vec<u32> {
    let would_end = |v: u32| (v <= n && v > t) || (v > n && v <= t);
    let out = base(n);
    let end = out.iter().position(|&v| would_end(v)).map_or(out.len(), |i| i + 1);
    out[..end].iter().copied().filter(|v| !left_inclusion.contains(v) && !right_non_inclusion.contains(v)).collect()
}

/// The lookups of a monitoring ladder for version `t`: the base ladder's
/// versions up to `t`.
pub fn monitoring(t: u32) -> Vec<u32> {
    base(t).into_iter().filter(|&v| v <= t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drafts_worked_example() {
        // Greatest version 2, target 2: lookups 0, 1, 3, 2 from entry 11;
        // from entry 12 only version 3 remains (0, 1 and 2 were proven
        // included to the left; 3's non-inclusion was to the left, too).
        assert_eq!(search(2, 2, &[], &[]), [0, 1, 3, 2]);
        assert_eq!(search(2, 2, &[0, 1, 2], &[]), [3]);
    }

    #[test]
    fn base_ladders() {
        assert_eq!(base(0), [0, 1]);
        assert_eq!(base(1), [0, 1, 3, 2]);
        assert_eq!(base(5), [0, 1, 3, 7, 5, 6]);
        assert_eq!(base(6), [0, 1, 3, 7, 5, 6]);
        assert_eq!(base(7), [0, 1, 3, 7, 15, 11, 9, 8]);
        // Versions stop at 2^32 - 1.
        assert_eq!(*base(u32::MAX).last().unwrap(), u32::MAX);
        assert!(base(u32::MAX).len() == 33);
        assert_eq!(monitoring(5), [0, 1, 3, 5]);
    }

    /// The ladder proves `n` greatest: the largest included lookup is `n`
    /// and the smallest excluded one is `n + 1`.
    #[test]
    fn ladders_pin_down_the_greatest_version() {
        for n in (0..2000u32).chain([u32::MAX - 3, u32::MAX - 1, u32::MAX]) {
            let out = base(n);
            assert_eq!(out.iter().filter(|&&v| v <= n).max(), Some(&n), "n = {n}");
            if n < u32::MAX {
                assert_eq!(out.iter().filter(|&&v| v > n).min(), Some(&(n + 1)), "n = {n}");
            }
            let mut sorted = out.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), out.len(), "no version twice");
        }
    }

    #[test]
    fn searches_stop_at_the_first_decisive_lookup() {
        // Target 1 when 5 exists: 0, 1 included, then 3 (included, > t) ends it.
        assert_eq!(search(1, 5, &[], &[]), [0, 1, 3]);
        // Target 4 when only 2 exists: 0, 1, 3 (absent, <= t) ends it.
        assert_eq!(search(4, 2, &[], &[]), [0, 1, 3]);
        assert_eq!(search(4, 2, &[0], &[3]), [1]);
    }
}
