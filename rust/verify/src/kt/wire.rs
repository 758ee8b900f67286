//! The TLS presentation language as KEYTRANS uses it: big-endian integers,
//! length-prefixed vectors (the prefix as wide as the ceiling needs),
//! optional values with a 0/1 presence octet. Decoding is strict: a bad
//! presence octet, a vector past its ceiling or past the end of the input,
//! and trailing bytes are all refused.

use crate::error::{invalid, Result};

/// Appends encodings to a byte buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Fixed-length bytes (`opaque x[N]`).
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A vector of bytes with at most `ceiling` elements; the length prefix
    /// takes as many bytes as the ceiling needs.
    pub fn vector(&mut self, v: &[u8], ceiling: u64) -> Result<&mut Self> {
        if v.len() as u64 > ceiling {
            return Err(invalid(format!("{} bytes exceed the vector's limit of {ceiling}", v.len())));
        }
        let width = prefix_width(ceiling);
        self.buf.extend_from_slice(&(v.len() as u64).to_be_bytes()[8 - width..]);
        self.buf.extend_from_slice(v);
        Ok(self)
    }
}

fn prefix_width(ceiling: u64) -> usize {
    match ceiling {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        0x100_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

/// Reads encodings from a byte slice; `what` names the message in errors.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    fn malformed(&self, why: String) -> crate::error::Error {
        invalid(format!("malformed {}: {why} (at byte {})", self.what, self.pos))
    }

    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| self.malformed(format!("{n} more bytes needed, {} left", self.buf.len() - self.pos)))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.fixed(N)?.try_into().expect("N bytes"))
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The length prefix of a vector with at most `ceiling` elements.
    pub fn length(&mut self, ceiling: u64) -> Result<u64> {
        let width = prefix_width(ceiling);
        let mut b = [0u8; 8];
        b[8 - width..].copy_from_slice(self.fixed(width)?);
        let len = u64::from_be_bytes(b);
        if len > ceiling {
            return Err(self.malformed(format!("a vector of {len} exceeds its limit of {ceiling}")));
        }
        Ok(len)
    }

    /// A vector of bytes with at most `ceiling` elements.
    pub fn vector(&mut self, ceiling: u64) -> Result<&'a [u8]> {
        let len = self.length(ceiling)?;
        let len = usize::try_from(len).map_err(|_| self.malformed("a vector longer than memory".into()))?;
        self.fixed(len)
    }

    /// An optional value: a presence octet (0 or 1 only), then the value.
    pub fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            other => {
                self.pos -= 1;
                Err(self.malformed(format!("presence octet {other}, not 0 or 1")))
            }
        }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(self.malformed(format!("{} trailing bytes", self.buf.len() - self.pos)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_strictness() {
        let mut w = Writer::default();
        w.u8(7).u32(0x0102_0304).u64(9).fixed(&[1, 2]);
        w.vector(b"label", 255).unwrap().vector(&[0xaa; 300], 0xffff).unwrap().vector(b"v", u32::MAX as u64).unwrap();
        let b = w.buf.clone();
        let mut r = Reader::new(&b, "test message");
        assert_eq!((r.u8().unwrap(), r.u32().unwrap(), r.u64().unwrap()), (7, 0x0102_0304, 9));
        assert_eq!(r.fixed(2).unwrap(), [1, 2]);
        assert_eq!(r.vector(255).unwrap(), b"label");
        assert_eq!(r.vector(0xffff).unwrap().len(), 300);
        assert_eq!(r.vector(u32::MAX as u64).unwrap(), b"v");
        r.finish().unwrap();
        // Over the ceiling, both ways.
        assert!(Writer::default().vector(&[0; 256], 255).is_err());
        assert!(Reader::new(&[0x01, 0x2d], "m").vector(0x12c).is_err_and(|e| e.to_string().contains("exceeds")));
        // Truncated, and trailing bytes.
        assert!(Reader::new(&[5, 1, 2], "m").vector(255).is_err_and(|e| e.to_string().contains("malformed m")));
        let mut r = Reader::new(&[0, 9], "m");
        assert_eq!(r.optional(|r| r.u8()).unwrap(), None);
        assert!(r.finish().is_err_and(|e| e.to_string().contains("1 trailing")));
        // Presence octets other than 0 and 1.
        assert_eq!(Reader::new(&[1, 9], "m").optional(|r| r.u8()).unwrap(), Some(9));
        assert!(Reader::new(&[2, 9], "m")
            .optional(|r| r.u8())
            .is_err_and(|e| e.to_string().contains("presence octet 2")));
        assert!(Reader::new(&[], "m").u32().is_err());
    }
}
