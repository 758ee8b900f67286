//! The implicit binary search tree over log entries (the draft's "Implicit
//! Binary Search Tree" and its appendix): the root is the greatest
//! `2^k - 1` below the log size, and clients check timestamps against it
//! recursively. Indices are log entry positions.

use crate::error::{failed, invalid, Result};

/// `floor(log2(x))`, and 0 for 0.
fn log2(x: u64) -> u32 {
    if x == 0 {
        0
    } else {
        63 - x.leading_zeros()
    }
}

/// The level of entry `x`: its count of trailing one bits.
pub fn level(x: u64) -> u32 {
    x.trailing_ones()
}

/// The root entry of a log of `n >= 1` entries.
pub fn root(n: u64) -> u64 {
    debug_assert!(n >= 1);
    (1 << log2(n)) - 1
}

/// The left child of `x`, if it has one.
pub fn left(x: u64) -> Option<u64> {
    match level(x) {
        0 => None,
        k => Some(x ^ (1 << (k - 1))),
    }
}

/// The right child of `x` in a log of `n` entries, if it has one.
pub fn right(x: u64, n: u64) -> Option<u64> {
    let k = level(x);
    if k == 0 || x + 1 >= n {
        return None;
    }
    let mut y = x ^ (3 << (k - 1));
    while y >= n {
        y = left(y).expect("a node past the end has a left child");
    }
    Some(y)
}

/// The frontier: the root, its right child, that one's right child, ...,
/// down to the last entry.
pub fn frontier(n: u64) -> Vec<u64> {
    let mut out = vec![root(n)];
    while let Some(r) = right(*out.last().expect("non-empty"), n) {
        out.push(r);
    }
    out
}

/// The entries from the root down to `x`'s parent (empty for the root).
pub fn path_to(x: u64, n: u64) -> Vec<u64> {
    debug_assert!(x < n);
    let mut out = Vec::new();
    let mut node = root(n);
    while node != x {
        out.push(node);
        node = if x < node { left(node) } else { right(node, n) }.expect("x lies below node");
    }
    out
}

/// The log entries whose timestamps a user gets when it updates its view
/// from `old` entries (None: its first view) to `n`, in the order given:
/// the ancestors of entry `old - 1` at or past `old`, nearest first, then
/// the rest of the new frontier. Their indices increase, so their
/// timestamps must not decrease.
pub fn update_view_entries(old: Option<u64>, n: u64) -> Result<Vec<u64>> {
    let Some(old) = old else {
        if n == 0 {
            return Err(invalid("an empty log has no view"));
        }
        return Ok(frontier(n));
    };
    if old == 0 || old > n {
        return Err(invalid(format!("cannot update a view of {old} entries to {n}")));
    }
    let mut out: Vec<u64> = path_to(old - 1, n).into_iter().rev().filter(|&x| x >= old).collect();
    let mut last = out.last().copied().unwrap_or(old - 1);
    while let Some(r) = right(last, n) {
        out.push(r);
        last = r;
    }
    Ok(out)
}

/// Checks the timestamps of an update (in the order of
/// [`update_view_entries`]) against the last one the user retained, and the
/// newest against the user's clock: at most `max_ahead` ms ahead of `now`,
/// at most `max_behind` ms behind it.
pub fn check_timestamps(
    retained: Option<u64>,
    timestamps: &[u64],
    now: u64,
    max_ahead: u64,
    max_behind: u64,
) -> Result<()> {
    let mut prev = retained;
    for (i, &t) in timestamps.iter().enumerate() {
        if prev.is_some_and(|p| t < p) {
            return Err(failed(format!("timestamp {i} ({t}) is older than the one before it")));
        }
        prev = Some(t);
    }
    if let Some(newest) = prev {
        if newest > now.saturating_add(max_ahead) {
            return Err(failed(format!("the newest entry is {} ms ahead of this clock", newest - now)));
        }
        if now.saturating_sub(newest) > max_behind {
            return Err(failed(format!("the newest entry is {} ms behind this clock: a stale tree", now - newest)));
        }
    }
    Ok(())
}

/// Every distinguished log entry of a log of `n >= 1` entries (the draft's
/// "Reasonable Monitoring Window"), in ascending order: roughly one per
/// `rmw` milliseconds, and once distinguished, always distinguished.
/// `timestamp(x)` gives entry `x`'s timestamp.
pub fn distinguished(n: u64, rmw: u64, timestamp: &dyn Fn(u64) -> u64) -> Vec<u64> {
    fn walk(x: u64, n: u64, lo: u64, hi: u64, rmw: u64, ts: &dyn Fn(u64) -> u64, out: &mut Vec<u64>) {
        if hi.saturating_sub(lo) < rmw {
            return;
        }
        let t = ts(x);
        if let Some(l) = left(x) {
            walk(l, n, lo, t, rmw, ts, out);
        }
        out.push(x);
        if let Some(r) = right(x, n) {
            walk(r, n, t, hi, rmw, ts, out);
        }
    }
    let mut out = Vec::new();
    walk(root(n), n, 0, timestamp(n - 1), rmw, timestamp, &mut out);
    out
}

/// The rightmost distinguished entry, found along the frontier (whose
/// timestamps are all it reads), or None if there is none.
pub fn rightmost_distinguished(n: u64, rmw: u64, timestamp: &dyn Fn(u64) -> u64) -> Option<u64> {
    let hi = timestamp(n - 1);
    let (mut x, mut lo, mut found) = (root(n), 0, None);
    while hi.saturating_sub(lo) >= rmw {
        found = Some(x);
        lo = timestamp(x);
        match right(x, n) {
            Some(r) => x = r,
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drafts_examples() {
        // 50 entries: root 31, frontier 31, 47, 49.
        assert_eq!(root(50), 31);
        assert_eq!(frontier(50), [31, 47, 49]);
        // The worked CombinedTreeProof example: 13 entries, frontier 7, 11,
        // 12, and the direct path of entry 3 is entry 7 alone.
        assert_eq!(frontier(13), [7, 11, 12]);
        assert_eq!(path_to(3, 13), [7]);
        // The 14-entry figure: 7 over 3 and 11; 11 over 9 and 13; 13 has no
        // right child and 12 as left.
        assert_eq!((left(7), right(7, 14)), (Some(3), Some(11)));
        assert_eq!((left(11), right(11, 14)), (Some(9), Some(13)));
        assert_eq!((left(13), right(13, 14)), (Some(12), None));
        assert_eq!((left(12), right(12, 14)), (None, None));
        assert_eq!(frontier(1), [0]);
    }

    /// In-order walk of the implicit tree: must visit 0..n in order, with
    /// every subtree on the right side of its parent.
    fn in_order(x: u64, n: u64, out: &mut Vec<u64>) {
        if let Some(l) = left(x) {
            assert!(l < x);
            in_order(l, n, out);
        }
        out.push(x);
        if let Some(r) = right(x, n) {
            assert!(r > x && r < n);
            in_order(r, n, out);
        }
    }

    #[test]
    fn updating_a_view() {
        // The worked example: from 4 entries to 13, entry 7 (the direct path
        // of entry 3), then the rest of the frontier.
        assert_eq!(update_view_entries(Some(4), 13).unwrap(), [7, 11, 12]);
        assert_eq!(update_view_entries(None, 13).unwrap(), [7, 11, 12]);
        assert_eq!(update_view_entries(Some(13), 14).unwrap(), [13]);
        assert_eq!(update_view_entries(Some(13), 13).unwrap(), Vec::<u64>::new());
        assert!(update_view_entries(Some(14), 13).is_err() && update_view_entries(Some(0), 3).is_err());
        assert!(update_view_entries(None, 0).is_err());
        for n in 1..200u64 {
            for old in 1..=n {
                let got = update_view_entries(Some(old), n).unwrap();
                assert!(got.windows(2).all(|w| w[0] < w[1]) && got.iter().all(|&x| x >= old && x < n));
                // It ends on the frontier's last entry (unless nothing is new).
                assert_eq!(got.last().copied(), (old < n).then_some(n - 1), "old {old}, n {n}");
                for x in got {
                    assert!(frontier(n).contains(&x) || path_to(old - 1, n).contains(&x));
                }
            }
        }
    }

    #[test]
    fn distinguished_entries() {
        // The worked example: T_i = 10 i, RMW 40: T_12 - T_7 >= RMW and
        // T_12 - T_11 < RMW, so 11 is the rightmost distinguished entry, 7 too.
        let ts = |x: u64| 10 * x;
        assert_eq!(rightmost_distinguished(13, 40, &ts), Some(11));
        let all = distinguished(13, 40, &ts);
        assert!(all.contains(&7) && all.contains(&11) && !all.contains(&12));
        assert_eq!(all.last(), Some(&11));
        assert_eq!(rightmost_distinguished(13, 1_000, &ts), None);
        assert_eq!(distinguished(13, 0, &ts), (0..13).collect::<Vec<_>>(), "RMW 0: every entry");
        // Stable as the log grows, and the rightmost one is the last of all,
        // for irregular (non-decreasing) timestamps.
        let mut t = vec![0u64; 400];
        let mut seed = 9u64;
        for i in 1..t.len() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            t[i] = t[i - 1] + [0, 1, 5, 30][(seed >> 60) as usize % 4];
        }
        let ts = |x: u64| t[x as usize];
        let mut before: Vec<u64> = Vec::new();
        for n in 1..t.len() as u64 {
            let now = distinguished(n, 100, &ts);
            assert!(before.iter().all(|x| now.contains(x)), "n = {n}: an entry stopped being distinguished");
            assert_eq!(rightmost_distinguished(n, 100, &ts), now.last().copied(), "n = {n}");
            before = now;
        }
        assert!(before.len() > 10);
    }

    #[test]
    fn timestamps_must_not_go_back_nor_be_stale() {
        let (ahead, behind) = (1_000, 60_000);
        assert!(check_timestamps(Some(5), &[5, 9, 9, 100_000], 100_000, ahead, behind).is_ok());
        assert!(check_timestamps(Some(6), &[5], 5, ahead, behind).is_err_and(|e| e.to_string().contains("older")));
        assert!(check_timestamps(None, &[9, 8], 9, ahead, behind).is_err());
        assert!(check_timestamps(None, &[10_000], 8_999, ahead, behind).is_err_and(|e| e.to_string().contains("ahead")));
        assert!(
            check_timestamps(None, &[10_000], 70_001, ahead, behind).is_err_and(|e| e.to_string().contains("stale"))
        );
        assert!(check_timestamps(None, &[10_000], 70_000, ahead, behind).is_ok());
    }

    #[test]
    fn it_is_a_search_tree_over_every_entry() {
        for n in 1..300u64 {
            let mut seen = Vec::new();
            in_order(root(n), n, &mut seen);
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
            assert_eq!(*frontier(n).last().unwrap(), n - 1);
            for x in 0..n {
                let path = path_to(x, n);
                assert!(path.iter().all(|&p| p != x) && path.first().is_none_or(|&r| r == root(n)));
            }
        }
    }
}
