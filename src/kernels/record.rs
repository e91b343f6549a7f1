//! The journal's metadata records (header, index, footer, block): a
//! bounds-checked reader of one FlatBuffers table whose fields are described
//! by a kinds string, one letter per vtable slot.
//!
//! Twin: `_read_record` in `python/flatstream/journal/records.py`, with the
//! same checks in the same order and the same messages, so both name the same
//! first fault. Every offset, count and length read from the payload is
//! checked against it before use; nothing is allocated from a count that the
//! payload's own size does not bound.

/// One field's value. Byte ranges are `(start, length)` into the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Unsigned(u64),
    Signed(i64),
    /// A UTF-8 string (checked).
    Str(usize, usize),
    Bytes(usize, usize),
    U32s(Vec<u32>),
    /// A vector of (key, value) string tables.
    Pairs(Vec<((usize, usize), (usize, usize))>),
}

fn u16_at(buf: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([buf[at], buf[at + 1]]))
}

fn u32_at(buf: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        buf[at],
        buf[at + 1],
        buf[at + 2],
        buf[at + 3],
    ]))
}

fn le_at(buf: &[u8], at: usize, size: usize) -> u64 {
    buf[at..at + size]
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vt: usize,
    vt_len: usize,
}

type Fault = String;

impl<'a> Table<'a> {
    fn new(buf: &'a [u8], pos: u64) -> Result<Self, Fault> {
        let n = buf.len() as u64;
        if pos + 4 > n {
            return Err("table offset out of bounds".into());
        }
        let pos = pos as usize;
        let soff = i64::from(i32::from_le_bytes([
            buf[pos],
            buf[pos + 1],
            buf[pos + 2],
            buf[pos + 3],
        ]));
        let vt = pos as i64 - soff;
        if vt < 0 || vt as u64 + 4 > n {
            return Err("vtable out of bounds".into());
        }
        let vt = vt as usize;
        let (vt_len, obj_len) = (u16_at(buf, vt), u16_at(buf, vt + 2));
        if vt_len < 4 || vt_len % 2 == 1 || vt as u64 + vt_len > n || pos as u64 + obj_len > n {
            return Err("vtable malformed".into());
        }
        Ok(Self {
            buf,
            pos,
            vt,
            vt_len: vt_len as usize,
        })
    }

    /// Where field `slot` of `size` bytes is, or None when absent.
    fn field(&self, slot: usize, size: usize) -> Result<Option<usize>, Fault> {
        let at = 4 + 2 * slot;
        if at + 2 > self.vt_len {
            return Ok(None);
        }
        let off = u16_at(self.buf, self.vt + at) as usize;
        if off == 0 {
            return Ok(None);
        }
        let place = self.pos + off;
        if place + size > self.buf.len() {
            return Err(format!("field {slot} out of bounds"));
        }
        Ok(Some(place))
    }

    fn scalar(&self, slot: usize, size: usize) -> Result<u64, Fault> {
        Ok(self
            .field(slot, size)?
            .map_or(0, |at| le_at(self.buf, at, size)))
    }

    /// (start, element count) of the vector or string at `slot`.
    fn indirect(&self, slot: usize) -> Result<Option<(u64, u64)>, Fault> {
        let Some(place) = self.field(slot, 4)? else {
            return Ok(None);
        };
        let target = place as u64 + u32_at(self.buf, place);
        if target + 4 > self.buf.len() as u64 {
            return Err(format!("field {slot} points out of bounds"));
        }
        Ok(Some((target + 4, u32_at(self.buf, target as usize))))
    }

    fn bytes(&self, slot: usize) -> Result<(usize, usize), Fault> {
        match self.indirect(slot)? {
            None => Ok((0, 0)),
            Some((start, length)) if start + length <= self.buf.len() as u64 => {
                Ok((start as usize, length as usize))
            }
            Some(_) => Err(format!("vector {slot} runs past the buffer")),
        }
    }

    fn string(&self, slot: usize) -> Result<(usize, usize), Fault> {
        let (start, length) = self.bytes(slot)?;
        match std::str::from_utf8(&self.buf[start..start + length]) {
            Ok(_) => Ok((start, length)),
            Err(_) => Err(format!("string {slot} is not UTF-8")),
        }
    }

    fn u32s(&self, slot: usize) -> Result<Vec<u32>, Fault> {
        let Some((start, count)) = self.indirect(slot)? else {
            return Ok(Vec::new());
        };
        if start + 4 * count > self.buf.len() as u64 {
            return Err(format!("vector {slot} runs past the buffer"));
        }
        let start = start as usize;
        Ok((0..count as usize)
            .map(|i| u32_at(self.buf, start + 4 * i) as u32)
            .collect())
    }

    fn tables(&self, slot: usize, limit: u64) -> Result<Vec<Table<'a>>, Fault> {
        let Some((start, count)) = self.indirect(slot)? else {
            return Ok(Vec::new());
        };
        if count > limit || start + 4 * count > self.buf.len() as u64 {
            return Err(format!(
                "vector {slot} has {count} entries, more than the buffer holds"
            ));
        }
        (0..count)
            .map(|i| {
                let at = start + 4 * i;
                Table::new(self.buf, at + u32_at(self.buf, at as usize))
            })
            .collect()
    }
}

/// The fields of the root table of `buf`, slot by slot, as `kinds` says:
/// `B`/`I`/`Q` unsigned of 1/4/8 bytes, `q` signed 8 bytes, `s` a string,
/// `b` a byte vector, `v` a vector of u32, `p` a vector of (key, value)
/// string tables. Absent fields are 0 or empty. `Err` is why the record is
/// corrupt; an unknown kind letter is a caller's bug and panics.
pub fn read_record(buf: &[u8], kinds: &[u8]) -> Result<Vec<Value>, Fault> {
    if buf.len() < 4 {
        return Err("table offset out of bounds".into());
    }
    let table = Table::new(buf, u32_at(buf, 0))?;
    kinds
        .iter()
        .enumerate()
        .map(|(slot, kind)| {
            Ok(match kind {
                b'B' => Value::Unsigned(table.scalar(slot, 1)?),
                b'I' => Value::Unsigned(table.scalar(slot, 4)?),
                b'Q' => Value::Unsigned(table.scalar(slot, 8)?),
                b'q' => Value::Signed(table.scalar(slot, 8)? as i64),
                b's' => {
                    let (start, length) = table.string(slot)?;
                    Value::Str(start, length)
                }
                b'b' => {
                    let (start, length) = table.bytes(slot)?;
                    Value::Bytes(start, length)
                }
                b'v' => Value::U32s(table.u32s(slot)?),
                b'p' => {
                    let pairs = table.tables(slot, buf.len() as u64 / 4)?;
                    Value::Pairs(
                        pairs
                            .iter()
                            .map(|pair| Ok((pair.string(0)?, pair.string(1)?)))
                            .collect::<Result<_, Fault>>()?,
                    )
                }
                other => panic!("unknown record field kind {other:?}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root table with a u64 field (slot 0) = 7 and a string field
    /// (slot 1) = "hi", laid out by hand.
    fn sample() -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&16u32.to_le_bytes()); // the root table is at 16
        buf.extend_from_slice(b"FSJT");
        buf.extend_from_slice(&[8, 0, 16, 0, 4, 0, 12, 0]); // vtable at 8: slots at +4, +12
        buf.extend_from_slice(&8i32.to_le_bytes()); // table at 16: vtable at 16 - 8
        buf.extend_from_slice(&7u64.to_le_bytes()); // slot 0 at 20
        buf.extend_from_slice(&4u32.to_le_bytes()); // slot 1 at 28: string at 32
        buf.extend_from_slice(&2u32.to_le_bytes());
        buf.extend_from_slice(b"hi\0\0");
        buf
    }

    #[test]
    fn reads_scalars_and_strings() {
        let buf = sample();
        let values = read_record(&buf, b"Qs").unwrap();
        assert_eq!(values[0], Value::Unsigned(7));
        let Value::Str(start, length) = values[1] else {
            panic!("not a string")
        };
        assert_eq!(&buf[start..start + length], b"hi");
        // Slots past the vtable are absent.
        assert_eq!(read_record(&buf, b"QsQ").unwrap()[2], Value::Unsigned(0));
    }

    #[test]
    fn every_truncation_is_a_fault_not_a_panic() {
        let buf = sample();
        for cut in 0..buf.len() - 2 {
            assert!(read_record(&buf[..cut], b"Qs").is_err(), "cut {cut}");
        }
    }

    #[test]
    fn every_byte_flip_is_handled() {
        let buf = sample();
        for at in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[at] ^= 1 << bit;
                for kinds in [&b"Qs"[..], b"Qb", b"Qv", b"Qp", b"BIqs"] {
                    let _ = read_record(&bad, kinds);
                }
            }
        }
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let mut buf = sample();
        let at = 32; // the string's length
        buf[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            read_record(&buf, b"Qp").unwrap_err(),
            "vector 1 has 4294967295 entries, more than the buffer holds"
        );
        assert_eq!(
            read_record(&buf, b"Qv").unwrap_err(),
            "vector 1 runs past the buffer"
        );
    }
}
