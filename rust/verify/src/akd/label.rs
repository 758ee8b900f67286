//! akd's node labels: a bit string of up to 256 bits, most significant bit
//! of the first byte first, stored in 32 bytes.

use super::wire::{bytes, uint32, unknown, Fields, Once};
use crate::error::{failed, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeLabel {
    /// The bits, zero past `len` (but for [`NodeLabel::EMPTY`]).
    pub val: [u8; 32],
    pub len: u32,
}

impl NodeLabel {
    /// The root's label: no bits.
    pub const ROOT: NodeLabel = NodeLabel { val: [0; 32], len: 0 };
    /// The placeholder akd gives a missing child: no bits, all bytes 1.
    pub const EMPTY: NodeLabel = NodeLabel { val: [1; 32], len: 0 };

    /// A full label (a leaf's: the first 32 bytes of a VRF output).
    pub fn full(val: [u8; 32]) -> Self {
        NodeLabel { val, len: 256 }
    }

    pub fn is_empty_placeholder(&self) -> bool {
        *self == Self::EMPTY
    }

    /// Bit `i` (0 = the first); `i` < 256.
    pub fn bit(&self, i: u32) -> bool {
        self.val[(i / 8) as usize] >> (7 - i % 8) & 1 == 1
    }

    /// How many leading bits two labels share (at most the shorter length).
    pub fn common_prefix_len(&self, other: &NodeLabel) -> u32 {
        let limit = self.len.min(other.len);
        let mut n = 0u32;
        for (a, b) in self.val.iter().zip(&other.val) {
            let x = a ^ b;
            if x != 0 {
                n += x.leading_zeros();
                break;
            }
            n += 8;
        }
        n.min(limit)
    }

    /// Whether this label is a prefix of `other` (equal labels included).
    pub fn is_prefix_of(&self, other: &NodeLabel) -> bool {
        self.len <= other.len && self.common_prefix_len(other) == self.len
    }

    /// Whether this label is a prefix of `other` and shorter.
    pub fn is_strict_prefix_of(&self, other: &NodeLabel) -> bool {
        self.len < other.len && self.is_prefix_of(other)
    }

    /// Decodes akd's `NodeLabel` message: the bytes with trailing zero bytes
    /// left out, and the length. Strict: at most 256 bits and 32 bytes, no
    /// zero byte at the end, no bit set past the length (akd's own encoder
    /// never writes those) but for the empty placeholder.
    pub fn decode(buf: &[u8]) -> Result<NodeLabel> {
        let mut fields = Fields::new(buf, "NodeLabel");
        let (mut val, mut len) = (Once::new("NodeLabel.label_val"), Once::new("NodeLabel.label_len"));
        while let Some((number, value)) = fields.next_field()? {
            match number {
                1 => val.set(bytes(value, "NodeLabel.label_val")?)?,
                2 => len.set(uint32(value, "NodeLabel.label_len")?)?,
                n => return Err(unknown("NodeLabel", n)),
            }
        }
        let (val, len) = (val.required()?, len.required()?);
        if len > 256 {
            return Err(failed(format!("a node label of {len} bits (at most 256)")));
        }
        if val.len() > 32 {
            return Err(failed(format!("a node label of {} bytes (at most 32)", val.len())));
        }
        if val.last() == Some(&0) {
            return Err(failed("a node label's bytes end in a zero byte (akd leaves those out)"));
        }
        let mut label = NodeLabel { val: [0; 32], len };
        label.val[..val.len()].copy_from_slice(val);
        if label != Self::EMPTY && label != label.masked() {
            return Err(failed(format!("a node label of {len} bits has bits set past its length")));
        }
        Ok(label)
    }

    /// The first `len` bits (at most this label's length).
    pub fn prefix(&self, len: u32) -> NodeLabel {
        NodeLabel { val: self.val, len: len.min(self.len) }.masked()
    }

    /// The label with every bit past its length cleared.
    fn masked(&self) -> NodeLabel {
        let mut out = NodeLabel { val: [0; 32], len: self.len };
        let whole = (self.len / 8) as usize;
        out.val[..whole].copy_from_slice(&self.val[..whole]);
        if !self.len.is_multiple_of(8) {
            out.val[whole] = self.val[whole] & (0xff << (8 - self.len % 8));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(val: &[u8], len: u32) -> NodeLabel {
        let mut l = NodeLabel { val: [0; 32], len };
        l.val[..val.len()].copy_from_slice(val);
        l
    }

    #[test]
    fn prefixes_count_bits_not_bytes() {
        let a = label(&[0b1010_0000], 3);
        let b = label(&[0b1011_0000], 4);
        assert_eq!(a.common_prefix_len(&b), 3);
        assert!(a.is_strict_prefix_of(&b) && a.is_prefix_of(&b) && !b.is_prefix_of(&a));
        assert!(a.is_prefix_of(&a) && !a.is_strict_prefix_of(&a));
        assert!(!label(&[0b1100_0000], 2).is_prefix_of(&b));
        assert!(NodeLabel::ROOT.is_strict_prefix_of(&b));
        assert!(b.bit(2) && b.bit(3) && !b.bit(1) && !b.bit(4));
        let full = NodeLabel::full([0xff; 32]);
        assert_eq!(full.common_prefix_len(&full), 256);
    }

    #[test]
    fn decodes_akds_minimal_encoding_strictly() {
        // label_val = [0x80], label_len = 1, as akd writes the label "1".
        assert_eq!(NodeLabel::decode(&[0x0a, 0x01, 0x80, 0x10, 0x01]).unwrap(), label(&[0x80], 1));
        // The root: empty bytes, length 0.
        assert_eq!(NodeLabel::decode(&[0x0a, 0x00, 0x10, 0x00]).unwrap(), NodeLabel::ROOT);
        let mut empty = vec![0x0a, 0x20];
        empty.extend([1u8; 32]);
        empty.extend([0x10, 0x00]);
        assert_eq!(NodeLabel::decode(&empty).unwrap(), NodeLabel::EMPTY);
        for (bad, why) in [
            (&[0x0a, 0x01, 0x80][..], "missing"),
            (&[0x0a, 0x01, 0xc0, 0x10, 0x01], "past its length"),
            (&[0x0a, 0x02, 0x80, 0x00, 0x10, 0x01], "zero byte"),
            (&[0x0a, 0x01, 0x80, 0x10, 0x81, 0x02], "bits (at most 256)"),
            (&[0x0a, 0x01, 0x80, 0x10, 0x01, 0x18, 0x00], "unknown field 3"),
        ] {
            let err = NodeLabel::decode(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:02x?}: {err}");
        }
    }
}
