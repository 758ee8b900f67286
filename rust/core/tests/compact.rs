//! Compact ranges (veritree-verify) against the in-memory log.

use veritree_core::{CompactRange, Hash, MemoryLog, Suite};

#[test]
fn any_chunking_gives_the_log_root() {
    for suite in Suite::ALL {
        let leaves: Vec<Hash> = (0..5000u64).map(|i| suite.leaf_hash(&i.to_be_bytes())).collect();
        let mut log = MemoryLog::new(suite);
        log.extend_leaf_hashes(&leaves);
        for chunk in [1, 3, 64, 1000, 4096, 5000] {
            let mut cr = CompactRange::new(suite);
            for c in leaves.chunks(chunk) {
                cr.extend(c).unwrap();
            }
            assert_eq!(cr.size(), 5000);
            assert_eq!(cr.root(), log.root(5000).unwrap());
            assert_eq!(cr, log.compact_range(5000).unwrap());
        }
    }
}
