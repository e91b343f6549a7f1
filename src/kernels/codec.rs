//! Slice-level logic of the native schema codecs (bound in `pycodec`).
//!
//! In scope: a root table whose fields are scalars (bools, enums and optional
//! scalars included) and structs of scalars. The layout comes from the Python
//! schema model (`flatstream.schema.codecs`), which stays the reference: the
//! bytes written here are the bytes its generated encoder writes (which are the
//! official `flatbuffers.Builder`'s), and every read is bounds-checked so that
//! hostile input is an error, never a panic or an out-of-bounds read.

use std::fmt;

/// A scalar wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    /// From the `struct` format character the Python model uses.
    pub fn from_code(code: char) -> Option<Scalar> {
        Some(match code {
            '?' => Scalar::Bool,
            'b' => Scalar::I8,
            'B' => Scalar::U8,
            'h' => Scalar::I16,
            'H' => Scalar::U16,
            'i' => Scalar::I32,
            'I' => Scalar::U32,
            'q' => Scalar::I64,
            'Q' => Scalar::U64,
            'f' => Scalar::F32,
            'd' => Scalar::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Scalar::Bool | Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }

    /// The integer range of an integer type (bool: 0..=1).
    fn range(self) -> (i128, i128) {
        match self {
            Scalar::Bool => (0, 1),
            Scalar::I8 => (i8::MIN.into(), i8::MAX.into()),
            Scalar::U8 => (0, u8::MAX.into()),
            Scalar::I16 => (i16::MIN.into(), i16::MAX.into()),
            Scalar::U16 => (0, u16::MAX.into()),
            Scalar::I32 => (i32::MIN.into(), i32::MAX.into()),
            Scalar::U32 => (0, u32::MAX.into()),
            Scalar::I64 | Scalar::F32 | Scalar::F64 => (i64::MIN.into(), i64::MAX.into()),
            Scalar::U64 => (0, u64::MAX.into()),
        }
    }
}

/// A scalar value read from or written to a buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Raw {
    Bool(bool),
    Int(i128),
    Float(f64),
}

/// A value does not fit its wire type (the Python codec decides what error that is).
#[derive(Debug, PartialEq, Eq)]
pub struct DoesNotFit;

impl Raw {
    /// Writes the value as `ty` into `out` (exactly `ty.size()` bytes), with the
    /// checks `struct.pack` makes: integers in range, floats finite when they
    /// were finite (`f` overflow). A bool type takes the truth of an integer.
    pub fn write(self, ty: Scalar, out: &mut [u8]) -> Result<(), DoesNotFit> {
        match (ty, self) {
            (Scalar::Bool, Raw::Bool(b)) => out[0] = u8::from(b),
            (Scalar::Bool, Raw::Int(i)) => out[0] = u8::from(i != 0),
            (Scalar::F64, Raw::Float(f)) => out.copy_from_slice(&f.to_le_bytes()),
            (Scalar::F32, Raw::Float(f)) => {
                let narrow = f as f32;
                if narrow.is_infinite() && f.is_finite() {
                    return Err(DoesNotFit);
                }
                out.copy_from_slice(&narrow.to_le_bytes());
            }
            (_, Raw::Float(_)) | (Scalar::F32 | Scalar::F64, _) => return Err(DoesNotFit),
            (_, Raw::Bool(b)) => return Raw::Int(i128::from(b)).write(ty, out),
            (_, Raw::Int(i)) => {
                let (lo, hi) = ty.range();
                if i < lo || i > hi {
                    return Err(DoesNotFit);
                }
                // In range, so the low bytes are the value (two's complement).
                out.copy_from_slice(&i.to_le_bytes()[..ty.size()]);
            }
        }
        Ok(())
    }

    /// Reads a `ty` from the start of `bytes` (at least `ty.size()` long).
    pub fn read(ty: Scalar, bytes: &[u8]) -> Raw {
        fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
            let mut a = [0u8; N];
            a.copy_from_slice(&b[..N]);
            a
        }
        match ty {
            Scalar::Bool => Raw::Bool(bytes[0] != 0),
            Scalar::I8 => Raw::Int((bytes[0] as i8).into()),
            Scalar::U8 => Raw::Int(bytes[0].into()),
            Scalar::I16 => Raw::Int(i16::from_le_bytes(arr(bytes)).into()),
            Scalar::U16 => Raw::Int(u16::from_le_bytes(arr(bytes)).into()),
            Scalar::I32 => Raw::Int(i32::from_le_bytes(arr(bytes)).into()),
            Scalar::U32 => Raw::Int(u32::from_le_bytes(arr(bytes)).into()),
            Scalar::I64 => Raw::Int(i64::from_le_bytes(arr(bytes)).into()),
            Scalar::U64 => Raw::Int(u64::from_le_bytes(arr(bytes)).into()),
            Scalar::F32 => Raw::Float(f32::from_le_bytes(arr(bytes)).into()),
            Scalar::F64 => Raw::Float(f64::from_le_bytes(arr(bytes))),
        }
    }
}

/// A struct's bytes: its size, alignment and its scalars (flattened through
/// nested structs) at their byte offsets; the rest is zero padding.
#[derive(Clone, Debug, PartialEq)]
pub struct StructLayout {
    pub size: usize,
    pub align: usize,
    pub scalars: Vec<(usize, Scalar)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Scalar(Scalar),
    Struct(StructLayout),
}

/// A table field (not deprecated), listed in id order.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub id: usize,
    pub kind: Kind,
}

impl Field {
    pub fn size(&self) -> usize {
        match &self.kind {
            Kind::Scalar(s) => s.size(),
            Kind::Struct(l) => l.size,
        }
    }

    pub fn align(&self) -> usize {
        match &self.kind {
            Kind::Scalar(s) => s.size(),
            Kind::Struct(l) => l.align,
        }
    }
}

/// Why a buffer cannot be decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn read_u16(buf: &[u8], at: usize, what: &str) -> Result<u16, DecodeError> {
    match at.checked_add(2).and_then(|end| buf.get(at..end)) {
        Some(b) => Ok(u16::from_le_bytes([b[0], b[1]])),
        _ => Err(past_end(what, at, 2, buf.len())),
    }
}

fn read_u32(buf: &[u8], at: usize, what: &str) -> Result<u32, DecodeError> {
    match at.checked_add(4).and_then(|end| buf.get(at..end)) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(past_end(what, at, 4, buf.len())),
    }
}

fn past_end(what: &str, at: usize, size: usize, len: usize) -> DecodeError {
    DecodeError(format!(
        "{what} ({size} bytes at byte {at}) runs past the end of the {len}-byte buffer"
    ))
}

/// Finds the root table of `buf` and each field's position: `positions[n]`
/// is the byte offset of `fields[n]`'s inline value, or `None` when the vtable
/// leaves it out. Every position returned has the field's whole value inside
/// `buf`. Returns the table's position.
pub fn locate(
    buf: &[u8],
    fields: &[Field],
    max_size: usize,
    positions: &mut Vec<Option<usize>>,
) -> Result<usize, DecodeError> {
    positions.clear();
    if buf.len() > max_size {
        return Err(DecodeError(format!(
            "the payload is {} bytes, over the limit of {max_size}",
            buf.len()
        )));
    }
    let pos = read_u32(buf, 0, "the root offset")? as usize;
    let soffset = read_u32(buf, pos, "the root table")? as i32;
    let vt = pos as i64 - i64::from(soffset);
    if vt < 0 || vt as u64 > buf.len() as u64 {
        return Err(DecodeError(format!(
            "the vtable of the root table at byte {pos} is outside the buffer"
        )));
    }
    let vt = vt as usize;
    let vlen = read_u16(buf, vt, "the vtable length")? as usize;
    if vlen < 4 || vlen & 1 != 0 {
        return Err(DecodeError(format!(
            "the vtable at byte {vt} is {vlen} bytes: not a vtable"
        )));
    }
    if vt + vlen > buf.len() {
        return Err(past_end("the vtable", vt, vlen, buf.len()));
    }
    let entries = (vlen - 4) / 2;
    for field in fields {
        let slot = if field.id < entries {
            read_u16(buf, vt + 4 + 2 * field.id, "a vtable entry")? as usize
        } else {
            0
        };
        if slot == 0 {
            positions.push(None);
            continue;
        }
        let at = pos + slot;
        if at + field.size() > buf.len() {
            return Err(past_end("a field", at, field.size(), buf.len()));
        }
        positions.push(Some(at));
    }
    Ok(pos)
}

/// The buffer the builder makes for one set of present fields, values aside:
/// `template` holds the root offset, file identifier, vtable, vtable offset
/// and zero padding; `positions[n]` is where present field `n` goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub template: Vec<u8>,
    pub positions: Vec<Option<usize>>,
}

/// Lays out the fields in `mask` (bit `n`: `fields[n]` present) as
/// `flatbuffers.Builder` does for a table built into an empty builder and
/// finished with `ident` (empty, or 4 bytes); `slots` is 1 + the largest id.
pub fn plan(fields: &[Field], mask: u64, slots: usize, ident: &[u8]) -> Plan {
    // Built back to front: `u` counts the bytes from the end of the table.
    let mut u = 0usize;
    let mut minalign = 1usize;
    let mut slot_end: Vec<Option<usize>> = vec![None; fields.len()];
    for (n, field) in fields.iter().enumerate() {
        if mask >> n & 1 == 0 {
            continue;
        }
        let (size, align) = (field.size(), field.align());
        let pad = match field.kind {
            // Builder.Prep(minalign, size) for a struct; Prep(size, 0) for a scalar.
            Kind::Struct(_) => (align - (u + size) % align) % align,
            Kind::Scalar(_) => (size - u % size) % size,
        };
        u += pad + size;
        minalign = minalign.max(align);
        slot_end[n] = Some(u);
    }
    u += (4 - u % 4) % 4 + 4;
    minalign = minalign.max(4);
    let object = u;
    let mut entries = vec![0u16; slots];
    for (n, field) in fields.iter().enumerate() {
        if let Some(end) = slot_end[n] {
            entries[field.id] = (object - end) as u16;
        }
    }
    while entries.last() == Some(&0) {
        entries.pop();
    }
    let vlen = 4 + 2 * entries.len();
    let used = object + vlen;
    let pad = (minalign - (used + 4 + ident.len()) % minalign) % minalign;
    let root = vlen + pad + ident.len() + 4;
    let mut template = Vec::with_capacity(root + object);
    template.extend_from_slice(&(root as u32).to_le_bytes());
    template.extend_from_slice(ident);
    template.resize(template.len() + pad, 0);
    template.extend_from_slice(&(vlen as u16).to_le_bytes());
    template.extend_from_slice(&(object as u16).to_le_bytes());
    for e in &entries {
        template.extend_from_slice(&e.to_le_bytes());
    }
    template.extend_from_slice(&(vlen as i32).to_le_bytes());
    debug_assert_eq!(template.len(), root + 4);
    template.resize(root + object, 0);
    let positions = slot_end
        .iter()
        .map(|end| end.map(|end| root + object - end))
        .collect();
    Plan {
        template,
        positions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry() -> Vec<Field> {
        vec![
            Field {
                id: 0,
                kind: Kind::Scalar(Scalar::U64),
            },
            Field {
                id: 1,
                kind: Kind::Scalar(Scalar::U64),
            },
            Field {
                id: 2,
                kind: Kind::Scalar(Scalar::F64),
            },
        ]
    }

    fn encode(fields: &[Field], values: &[Option<Raw>], ident: &[u8]) -> Vec<u8> {
        let mask = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .fold(0u64, |m, (n, _)| m | 1 << n);
        let p = plan(fields, mask, fields.len(), ident);
        let mut out = p.template.clone();
        for (n, v) in values.iter().enumerate() {
            if let (Some(v), Some(at), Kind::Scalar(ty)) = (v, p.positions[n], &fields[n].kind) {
                v.write(*ty, &mut out[at..at + ty.size()]).unwrap();
            }
        }
        out
    }

    #[test]
    fn telemetry_matches_the_builder() {
        // flatbuffers.Builder for TelemetryEvent(1, 2, 3.0), no identifier.
        let out = encode(
            &telemetry(),
            &[Some(Raw::Int(1)), Some(Raw::Int(2)), Some(Raw::Float(3.0))],
            b"",
        );
        let expected: Vec<u8> = vec![
            20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 28, 0, 20, 0, 12, 0, 4, 0, 10, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 8, 64, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(out, expected);
        let mut positions = Vec::new();
        let pos = locate(&out, &telemetry(), usize::MAX, &mut positions).unwrap();
        assert_eq!(pos, 20);
        let read: Vec<Raw> = positions
            .iter()
            .zip(telemetry())
            .map(|(at, f)| match f.kind {
                Kind::Scalar(ty) => Raw::read(ty, &out[at.unwrap()..]),
                Kind::Struct(_) => unreachable!(),
            })
            .collect();
        assert_eq!(read, vec![Raw::Int(1), Raw::Int(2), Raw::Float(3.0)]);
    }

    #[test]
    fn absent_fields_round_trip() {
        let out = encode(&telemetry(), &[None, Some(Raw::Int(7)), None], b"TELE");
        assert_eq!(&out[4..8], b"TELE");
        let mut positions = Vec::new();
        locate(&out, &telemetry(), usize::MAX, &mut positions).unwrap();
        assert!(positions[0].is_none() && positions[2].is_none());
        assert_eq!(
            Raw::read(Scalar::U64, &out[positions[1].unwrap()..]),
            Raw::Int(7)
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let fields = telemetry();
        let out = encode(
            &fields,
            &[Some(Raw::Int(1)), Some(Raw::Int(2)), Some(Raw::Float(3.0))],
            b"",
        );
        let mut positions = Vec::new();
        for n in 0..out.len() {
            assert!(locate(&out[..n], &fields, usize::MAX, &mut positions).is_err());
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let mut bad = out.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bad.len() as u64) as usize;
                bad[at] = (state >> 32) as u8;
            }
            if let Ok(_pos) = locate(&bad, &fields, usize::MAX, &mut positions) {
                for (at, f) in positions.iter().zip(&fields) {
                    if let Some(at) = at {
                        assert!(at + f.size() <= bad.len());
                    }
                }
            }
        }
        assert!(locate(&out, &fields, 8, &mut positions).is_err());
    }

    #[test]
    fn writes_check_ranges() {
        let mut b = [0u8; 1];
        assert_eq!(Raw::Int(256).write(Scalar::U8, &mut b), Err(DoesNotFit));
        assert_eq!(Raw::Int(-1).write(Scalar::U8, &mut b), Err(DoesNotFit));
        assert_eq!(Raw::Int(-128).write(Scalar::I8, &mut b), Ok(()));
        assert_eq!(b, [0x80]);
        let mut f = [0u8; 4];
        assert_eq!(
            Raw::Float(1e300).write(Scalar::F32, &mut f),
            Err(DoesNotFit)
        );
        assert_eq!(Raw::Float(f64::INFINITY).write(Scalar::F32, &mut f), Ok(()));
        assert_eq!(Raw::Float(1.0).write(Scalar::I32, &mut f), Err(DoesNotFit));
    }
}
