//! The implicit binary search tree over log entries (the draft's "Implicit
//! Binary Search Tree" and its appendix): the root is the greatest
//! `2^k - 1` below the log size, and clients check timestamps against it
//! recursively. Indices are log entry positions.

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
