//! A strict reader of protobuf (proto2) wire format, for akd's messages.
//!
//! Written here rather than taken from a protobuf crate: akd's seven message
//! types need two wire types (varint and length-delimited), and a reader
//! that borrows its byte strings decodes a lookup proof without one
//! allocation per field (the protobuf crate's generated code builds an
//! owned message first; compared in `akd_report`). Strict where protobuf
//! is lenient, so that one proof has one encoding: unknown fields, other
//! wire types, a singular field given twice, varints longer than needed
//! and values past their type are refused.

use crate::error::{failed, Result};

/// One field's value: a varint, or the bytes of a length-delimited field.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The fields of one message, in the order they were written.
pub struct Fields<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Fields { buf, what }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds the top bit of 64 only.
            if i == 9 && byte > 1 {
                break;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                // A last byte of 0 (beyond the first) is a longer encoding
                // of a shorter number.
                if i > 0 && byte == 0 {
                    return Err(failed(format!("{}: a varint is not minimally encoded", self.what)));
                }
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(failed(format!("{}: a varint is truncated or longer than 64 bits", self.what)))
    }

    /// The next field: its number and value; None at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| failed(format!("{}: a field number is too large", self.what)))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= self.buf.len())
                    .ok_or_else(|| failed(format!("{}: a field runs past the end of the message", self.what)))?;
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Value::Bytes(bytes)
            }
            other => return Err(failed(format!("{}: wire type {other} is not used by akd's messages", self.what))),
        };
        Ok(Some((number, value)))
    }
}

/// A singular field: set once, read once.
pub struct Once<T> {
    value: Option<T>,
    name: &'static str,
}

impl<T> Once<T> {
    pub fn new(name: &'static str) -> Self {
        Once { value: None, name }
    }

    pub fn set(&mut self, value: T) -> Result<()> {
        if self.value.replace(value).is_some() {
            return Err(failed(format!("the field {} is given twice", self.name)));
        }
        Ok(())
    }

    /// The value; an error naming the field where it is missing.
    pub fn required(self) -> Result<T> {
        self.value.ok_or_else(|| failed(format!("the required field {} is missing", self.name)))
    }

    pub fn optional(self) -> Option<T> {
        self.value
    }
}

/// The bytes of a length-delimited field; an error for a varint.
pub fn bytes<'a>(value: Value<'a>, name: &'static str) -> Result<&'a [u8]> {
    match value {
        Value::Bytes(b) => Ok(b),
        Value::Varint(_) => Err(failed(format!("the field {name} must be length-delimited"))),
    }
}

/// A uint64 field's value; an error for bytes.
pub fn uint64(value: Value<'_>, name: &'static str) -> Result<u64> {
    match value {
        Value::Varint(v) => Ok(v),
        Value::Bytes(_) => Err(failed(format!("the field {name} must be a varint"))),
    }
}

/// A uint32 field's value: a varint below 2^32.
pub fn uint32(value: Value<'_>, name: &'static str) -> Result<u32> {
    u32::try_from(uint64(value, name)?).map_err(|_| failed(format!("the field {name} is larger than a uint32")))
}

/// The error for a field number the message does not have.
pub fn unknown(what: &str, number: u32) -> crate::error::Error {
    failed(format!("{what}: unknown field {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, u64)>> {
        let mut f = Fields::new(buf, "test");
        let mut out = vec![];
        while let Some((n, v)) = f.next_field()? {
            out.push((n, match v {
                Value::Varint(x) => x,
                Value::Bytes(b) => b.len() as u64,
            }));
        }
        Ok(out)
    }

    #[test]
    fn reads_varints_and_length_delimited_fields() {
        assert_eq!(fields(&[0x08, 0x96, 0x01, 0x12, 0x02, 0xaa, 0xbb]).unwrap(), vec![(1, 150), (2, 2)]);
        let max = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(fields(&max).unwrap(), vec![(1, u64::MAX)]);
    }

    #[test]
    fn refuses_what_protobuf_would_tolerate() {
        for (bad, why) in [
            (&[0x08, 0x80, 0x00][..], "minimally"),
            (&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], "longer than 64"),
            (&[0x08, 0x80], "truncated"),
            (&[0x12, 0x03, 0x00], "past the end"),
            (&[0x0d, 0, 0, 0, 0], "wire type 5"),
            (&[0x09, 0, 0, 0, 0, 0, 0, 0, 0], "wire type 1"),
        ] {
            let err = fields(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:02x?}: {err}");
        }
        let mut once = Once::new("x");
        once.set(1).unwrap();
        assert!(once.set(2).unwrap_err().to_string().contains("twice"));
        assert!(Once::<u8>::new("y").required().unwrap_err().to_string().contains("missing"));
        assert!(uint32(Value::Varint(1 << 32), "z").is_err());
    }
}
