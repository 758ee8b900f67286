//! The hashing limit: how many node hashes per second this machine can do at
//! best, so that benchmarks report tree speed as a fraction of it.

use std::time::Instant;

use crate::error::{invalid, Result};
use crate::suite::{Hash, Suite};

/// Node hashes per second that `suite` sustains on every rayon thread, each
/// hashing its own cache-resident level over and over with the suite's
/// many-input path. No tree build can beat it; benchmarks divide by it.
/// `min_seconds` must lie in (0, 60].
pub fn node_hash_limit(suite: Suite, min_seconds: f64) -> Result<f64> {
    if !(min_seconds > 0.0 && min_seconds <= 60.0) {
        return Err(invalid(format!("seconds must be in (0, 60], got {min_seconds}")));
    }
    const NODES: usize = 1 << 11; // 128 KiB of children: stays in L2
    let per_thread = rayon::broadcast(|ctx| {
        let children: Vec<Hash> =
            (0..2 * NODES as u64).map(|i| suite.leaf_hash(&(i ^ ((ctx.index() as u64) << 32)).to_le_bytes())).collect();
        let mut out = vec![[0u8; 32]; NODES];
        let start = Instant::now();
        let mut passes = 0u64;
        loop {
            suite.hash_nodes(std::hint::black_box(&children), &mut out);
            std::hint::black_box(&mut out);
            passes += 1;
            let t = start.elapsed().as_secs_f64();
            if t >= min_seconds {
                return (passes * NODES as u64, t);
            }
        }
    });
    let hashes: u64 = per_thread.iter().map(|p| p.0).sum();
    let secs = per_thread.iter().map(|p| p.1).fold(0.0, f64::max);
    Ok(hashes as f64 / secs)
}
