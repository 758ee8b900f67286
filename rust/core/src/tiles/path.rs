//! C2SP tlog-tiles resource paths: `tile/<L>/<N>[.p/<W>]` and
//! `tile/entries/<N>[.p/<W>]`, with `<N>` split into 3-digit elements.

/// Hashes per full tile (tiles have height 8).
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u32 = 8;

/// The `<N>` path elements: zero-padded 3-digit groups, all but the last
/// prefixed with `x` (1234067 -> `x001/x234/067`).
pub fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn with_width(base: String, width: u64) -> String {
    debug_assert!(width > 0 && width <= TILE_WIDTH);
    if width == TILE_WIDTH {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// The hash tile at tile level `level`, index `n`, holding `width` hashes.
pub fn tile_path(level: u32, n: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", index_path(n)), width)
}

/// The entry bundle `n` holding `width` entries.
pub fn bundle_path(n: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", index_path(n)), width)
}

/// How many hashes the tile `(level, n)` holds in a tree of `size` leaves
/// (0 when it does not exist yet).
pub fn tile_width(level: u32, n: u64, size: u64) -> u64 {
    let shift = TILE_HEIGHT * level;
    if shift >= 64 {
        return 0;
    }
    let hashes = size >> shift; // nodes at tree level 8 * level
    hashes.saturating_sub(n.saturating_mul(TILE_WIDTH)).min(TILE_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_spec() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(2, 5, 17), "tile/2/005.p/17");
        assert_eq!(bundle_path(273, 112), "tile/entries/273.p/112");
    }

    #[test]
    fn widths_match_the_spec_example() {
        // A tree of 70,000: 273 full level-0 tiles and one of width 112, one
        // full level-1 tile and one of width 17, one level-2 tile of width 1.
        assert_eq!(tile_width(0, 272, 70_000), 256);
        assert_eq!(tile_width(0, 273, 70_000), 112);
        assert_eq!(tile_width(0, 274, 70_000), 0);
        assert_eq!(tile_width(1, 0, 70_000), 256);
        assert_eq!(tile_width(1, 1, 70_000), 17);
        assert_eq!(tile_width(2, 0, 70_000), 1);
        assert_eq!(tile_width(3, 0, 70_000), 0);
        assert_eq!(tile_width(1, 0, 256), 1);
        assert_eq!(tile_width(8, 0, u64::MAX), 0);
    }
}
