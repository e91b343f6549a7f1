//! The schema-driven FlatBuffers verifier: the native twin of
//! `python/flatstream/schema/verifier.py`.
//!
//! The Python side lowers a schema into a [`Verifier`] (tables with their
//! field checks, roots with their file identifier and known shape); this
//! module then answers, for any bytes, exactly what the pure verifier answers:
//! `Ok(())`, or the first fault it meets with the same reason and byte
//! position. "The first" matters: both walk a buffer in the same order (the
//! root's header, then per table its vtable, the faults its vtable alone
//! shows, its length, the alignment of its wide fields, then what its fields
//! point to in field order, depth first), so the reasons agree word for word.
//!
//! Every length and offset read from the buffer is bounds-checked before use,
//! in 64-bit arithmetic that cannot overflow (buffers are at most 2³¹ − 1
//! bytes, offsets 32 bits). Recursion is bounded by the depth limit, which the
//! constructor caps at [`MAX_DEPTH`]. Plain Rust: cargo test and cargo-fuzz
//! use it without Python.
//!
//! Why one file of ~900 lines: one recursive walk (`Verifier`) whose order of
//! checks must match the pure twin's step for step; its unit tests are at the
//! end.

use std::fmt;

/// The deepest nesting a native verifier accepts as `max_depth`: recursion
/// follows the tables, so this bounds the stack (a few frames per level).
pub const MAX_DEPTH: u32 = 128;

/// The largest buffer any verifier accepts (the format's 2 GiB ceiling).
pub const MAX_SIZE: u64 = 0x7FFF_FFFF;

/// What a field holds, as the pure verifier's `_Check.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A scalar (or a union's type): inline, checked by its vtable entry.
    Scalar,
    /// A struct: inline, like a scalar of its size and alignment.
    Struct,
    String,
    Table,
    Union,
    /// A vector of scalars or structs (`element` bytes each).
    Vector,
    /// A `[ubyte]` holding a FlatBuffer of another table.
    Nested,
    Strings,
    Tables,
    /// A vector of unions; `type_id` is its type vector's slot.
    Unions,
    /// The type vector of a vector of unions; `type_id` is the values' slot.
    UnionTypes,
}

impl Kind {
    /// The codes the Python lowering uses (`verifier._KINDS`).
    pub fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            0 => Kind::Scalar,
            1 => Kind::Struct,
            2 => Kind::String,
            3 => Kind::Table,
            4 => Kind::Union,
            5 => Kind::Vector,
            6 => Kind::Nested,
            7 => Kind::Strings,
            8 => Kind::Tables,
            9 => Kind::Unions,
            10 => Kind::UnionTypes,
            _ => return None,
        })
    }
}

/// How to verify one field of a table.
#[derive(Clone, Debug)]
pub struct Field {
    pub kind: Kind,
    /// The field's vtable slot (its id).
    pub id: usize,
    pub required: bool,
    /// Bytes the field takes in its table (4 for offsets).
    pub width: u64,
    /// Its alignment (a power of two).
    pub alignment: u64,
    /// Element size of a `Vector`.
    pub element: u64,
    /// The table a `Table` or `Tables` field points to, or the root a
    /// `Nested` field holds (indexes into [`Verifier`]'s lists).
    pub target: usize,
    /// A `Union`'s type field slot, if the table has one.
    pub type_id: Option<usize>,
    /// A `Union`'s members: type number -> what it holds. Numbers the schema
    /// does not know are accepted unchecked (newer writers may add members).
    pub members: Vec<(u8, Member)>,
    /// `Table.field`, for messages.
    pub label: String,
}

/// What a union member's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// A table (an index into [`Verifier`]'s tables).
    Table(usize),
    /// A struct of this many bytes, stored out of line.
    Struct(u64),
    /// A string.
    String,
}

impl Member {
    /// From the Python side's (kind, argument): 0 table (index), 1 struct
    /// (size), 2 string.
    pub fn from_code(code: u8, argument: u64) -> Option<Member> {
        match code {
            0 => usize::try_from(argument).ok().map(Member::Table),
            1 => Some(Member::Struct(argument)),
            2 => Some(Member::String),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    /// The fully qualified name, for messages.
    pub name: String,
    /// In the schema's order (the order faults are looked for).
    pub fields: Vec<Field>,
}

/// A table verified as the root of a buffer: the buffer itself, or the bytes
/// of a `nested_flatbuffer` field.
#[derive(Clone, Debug)]
pub struct Root {
    pub table: usize,
    /// The file identifier the buffer must carry at bytes 4..8.
    pub ident: Option<[u8; 4]>,
    /// The header and length every builder gives this table with all fields
    /// present, if that shape verifies: equal bytes leave nothing to check.
    pub known: Option<(Vec<u8>, usize)>,
}

/// The limits and switches of `VerifyOptions`.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub max_depth: u32,
    pub max_tables: u64,
    pub max_size: u64,
    pub check_utf8: bool,
    pub check_alignment: bool,
    /// Refuse a buffer whose length is not a multiple of 4 (stricter than C++).
    pub check_length: bool,
    /// Bound fields by the table's declared inline size, not by the buffer
    /// (stricter than C++, which ignores the declared size).
    pub check_table_size: bool,
}

/// Why a buffer was refused, and the byte where that was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub reason: String,
    pub position: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at payload byte {}", self.reason, self.position)
    }
}

type Checked<T = ()> = Result<T, Fault>;

fn fail<T>(reason: String, position: u64) -> Checked<T> {
    Err(Fault { reason, position })
}

/// A read the checks before it should have made impossible: reported, never
/// a panic (the fuzz target asserts it never happens).
fn out_of_bounds<T>(at: u64) -> Checked<T> {
    fail(format!("internal error: read out of bounds at {at}"), at)
}

fn bytes_at<const N: usize>(buf: &[u8], at: u64) -> Checked<[u8; N]> {
    let start = usize::try_from(at).ok();
    let window = start.and_then(|s| buf.get(s..s.checked_add(N)?));
    match window.and_then(|w| <[u8; N]>::try_from(w).ok()) {
        Some(bytes) => Ok(bytes),
        None => out_of_bounds(at),
    }
}

fn u8_at(buf: &[u8], at: u64) -> Checked<u8> {
    Ok(bytes_at::<1>(buf, at)?[0])
}

fn u16_at(buf: &[u8], at: u64) -> Checked<u64> {
    Ok(u64::from(u16::from_le_bytes(bytes_at(buf, at)?)))
}

fn u32_at(buf: &[u8], at: u64) -> Checked<u64> {
    Ok(u64::from(u32::from_le_bytes(bytes_at(buf, at)?)))
}

fn i32_at(buf: &[u8], at: u64) -> Checked<i64> {
    Ok(i64::from(i32::from_le_bytes(bytes_at(buf, at)?)))
}

fn slice(buf: &[u8], start: u64, end: u64) -> Checked<&[u8]> {
    let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
    match range.and_then(|(s, e)| buf.get(s..e)) {
        Some(bytes) => Ok(bytes),
        None => out_of_bounds(start),
    }
}

/// `repr(bytes)` as Python writes it (the file identifier's message).
pub fn python_bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() * 4 + 3);
    out.push('b');
    out.push(quote);
    for &c in bytes {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's reason for the first UTF-8 error in `bytes`, and where it starts
/// (`UnicodeDecodeError.reason` and `.start`), or None for valid UTF-8.
pub fn utf8_error(bytes: &[u8]) -> Option<(&'static str, usize)> {
    let error = std::str::from_utf8(bytes).err()?;
    let start = error.valid_up_to();
    let reason = match (error.error_len(), bytes.get(start)) {
        (None, _) => "unexpected end of data",
        (Some(_), Some(0x80..=0xC1 | 0xF5..=0xFF)) => "invalid start byte",
        (Some(_), _) => "invalid continuation byte",
    };
    Some((reason, start))
}

/// A compiled schema: verifies buffers whose root is `roots[0]`.
#[derive(Clone, Debug)]
pub struct Verifier {
    tables: Vec<Table>,
    roots: Vec<Root>,
    options: Options,
}

impl Verifier {
    /// Checks the description (every index in range, sane limits) so that
    /// verifying can index without checks of its own.
    pub fn new(tables: Vec<Table>, roots: Vec<Root>, options: Options) -> Result<Self, String> {
        if !(1..=MAX_DEPTH).contains(&options.max_depth) {
            return Err(format!("max_depth must be between 1 and {MAX_DEPTH}"));
        }
        if options.max_tables < 1 {
            return Err("max_tables must be positive".into());
        }
        if !(8..=MAX_SIZE).contains(&options.max_size) {
            return Err(format!("max_size must be between 8 and {MAX_SIZE}"));
        }
        if roots.is_empty() {
            return Err("no root".into());
        }
        for root in &roots {
            if root.table >= tables.len() {
                return Err(format!("root table {} out of range", root.table));
            }
            if let Some((header, length)) = &root.known {
                if header.len() > *length {
                    return Err("a known shape's header is longer than its buffer".into());
                }
            }
        }
        for table in &tables {
            for field in &table.fields {
                let bad = match field.kind {
                    Kind::Table | Kind::Tables => field.target >= tables.len(),
                    Kind::Nested => field.target >= roots.len(),
                    Kind::Union | Kind::Unions => field
                        .members
                        .iter()
                        .any(|&(_, m)| matches!(m, Member::Table(t) if t >= tables.len())),
                    _ => false,
                };
                if bad {
                    return Err(format!("{}: target out of range", field.label));
                }
                if !field.alignment.is_power_of_two() || field.id > usize::from(u16::MAX) {
                    return Err(format!("{}: bad alignment or id", field.label));
                }
            }
        }
        Ok(Verifier {
            tables,
            roots,
            options,
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Verifies `buf` as a buffer of the first root's table.
    pub fn verify(&self, buf: &[u8]) -> Checked {
        self.root(buf, 0, 1)
    }

    /// The pure verifier's compiled `root` function.
    fn root(&self, buf: &[u8], root: usize, depth: u32) -> Checked {
        let o = &self.options;
        if depth > o.max_depth {
            return fail(format!("tables nest deeper than {}", o.max_depth), 0);
        }
        let root = &self.roots[root];
        if let Some((header, length)) = &root.known {
            if buf.len() == *length && buf.starts_with(header) {
                return Ok(());
            }
        }
        let n = buf.len() as u64;
        if n < if root.ident.is_some() { 8 } else { 4 } {
            return fail(format!("{n} bytes cannot hold a FlatBuffer"), 0);
        }
        if n > o.max_size {
            return fail(
                format!("the buffer is {n} bytes, over the limit of {}", o.max_size),
                0,
            );
        }
        if o.check_length && n & 3 != 0 {
            return fail(
                format!("the buffer is {n} bytes, not a multiple of 4: truncated or padded"),
                n,
            );
        }
        if let Some(ident) = &root.ident {
            let found = slice(buf, 4, 8)?;
            if found != ident {
                return fail(
                    format!(
                        "the file identifier is {}, not \"{}\"",
                        python_bytes_repr(found),
                        String::from_utf8_lossy(ident)
                    ),
                    4,
                );
            }
        }
        let pos = u32_at(buf, 0)?;
        let align = o.check_alignment;
        if align && pos & 3 != 0 {
            return fail("the root table is not 4-byte aligned".into(), pos);
        }
        if pos + 4 > n {
            return fail(
                "the root offset points past the end of the buffer".into(),
                0,
            );
        }
        let vt = pos as i64 - i32_at(buf, pos)?;
        if vt < 0 || vt + 4 > n as i64 || (align && vt & 1 != 0) {
            return fail(
                format!(
                    "the vtable offset of the root table points to byte {vt}, outside the buffer"
                ),
                pos,
            );
        }
        let vt = vt as u64;
        let vl = u16_at(buf, vt)?;
        if vl < 4 || vl & 1 != 0 || vt + vl > n {
            return fail(
                format!("the vtable at byte {vt} has an invalid size {vl}"),
                vt,
            );
        }
        // The root counts as one table; its children go through `table`.
        let mut budget = o.max_tables - 1;
        self.body(buf, pos, vt, vl, root.table, depth, &mut budget)
    }

    /// The pure verifier's per-table function (`vt_`): where the table is,
    /// the limits, its vtable.
    fn table(&self, buf: &[u8], pos: u64, t: usize, depth: u32, budget: &mut u64) -> Checked {
        let o = &self.options;
        let n = buf.len() as u64;
        let name = &self.tables[t].name;
        let align = o.check_alignment;
        if align && pos & 3 != 0 {
            return fail(format!("the table {name} is not 4-byte aligned"), pos);
        }
        if pos + 4 > n {
            return fail(
                format!("the table {name} starts past the end of the buffer"),
                pos,
            );
        }
        if depth > o.max_depth {
            return fail(format!("tables nest deeper than {}", o.max_depth), pos);
        }
        if *budget == 0 {
            return fail(
                format!("the buffer holds more than {} tables", o.max_tables),
                pos,
            );
        }
        *budget -= 1;
        let vt = pos as i64 - i32_at(buf, pos)?;
        if vt < 0 || vt + 4 > n as i64 || (align && vt & 1 != 0) {
            return fail(
                format!("the vtable offset of a table points to byte {vt}, outside the buffer"),
                pos,
            );
        }
        let vt = vt as u64;
        let vl = u16_at(buf, vt)?;
        if vl < 4 || vl & 1 != 0 || vt + vl > n {
            return fail(
                format!("the vtable at byte {vt} has an invalid size {vl}"),
                vt,
            );
        }
        self.body(buf, pos, vt, vl, t, depth, budget)
    }

    /// The checks of table `t` at `pos` with the (checked) vtable at `vt` of
    /// `vl` bytes: the pure verifier's `specialised` function for that vtable.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &self,
        buf: &[u8],
        pos: u64,
        vt: u64,
        vl: u64,
        t: usize,
        depth: u32,
        budget: &mut u64,
    ) -> Checked {
        let o = &self.options;
        let align = o.check_alignment;
        let n = buf.len() as u64;
        let table = &self.tables[t];
        let table_len = u16_at(buf, vt + 2)?;
        let slots = (vl - 4) / 2;
        let entry = |id: usize| -> Checked<u64> {
            if (id as u64) < slots {
                u16_at(buf, vt + 4 + 2 * id as u64)
            } else {
                Ok(0)
            }
        };
        // Faults the vtable alone shows: every table with it is refused.
        for f in &table.fields {
            let offset = entry(f.id)?;
            if offset == 0 {
                if f.required {
                    return fail(format!("the required field {} is missing", f.label), pos);
                }
                continue;
            }
            if o.check_table_size && (offset < 4 || offset + f.width > table_len) {
                return fail(
                    format!(
                        "the field {} at offset {offset} lies outside its table of {table_len} bytes",
                        f.label
                    ),
                    pos,
                );
            }
            if align && 1 < f.alignment && f.alignment <= 4 && offset % f.alignment != 0 {
                return fail(
                    format!("the field {} is not {}-byte aligned", f.label, f.alignment),
                    pos,
                );
            }
        }
        // The bytes from the table's start that must be in the buffer: its
        // declared size when strict, else (as C++) its first 4 and every
        // present field.
        let extent = if o.check_table_size {
            table_len
        } else {
            let mut reach = 4;
            for f in &table.fields {
                let offset = entry(f.id)?;
                if offset != 0 {
                    reach = reach.max(offset + f.width);
                }
            }
            reach
        };
        if pos + extent > n {
            let reason = if o.check_table_size {
                format!(
                    "the table {} ({extent} bytes) runs past the end of the buffer",
                    table.name
                )
            } else {
                format!(
                    "the fields of the table {} ({extent} bytes) run past the end of the buffer",
                    table.name
                )
            };
            return fail(reason, pos);
        }
        if align {
            for f in table.fields.iter().filter(|f| f.alignment > 4) {
                let offset = entry(f.id)?;
                if offset != 0 && (pos + offset) & (f.alignment - 1) != 0 {
                    return fail(
                        format!("the field {} is not {}-byte aligned", f.label, f.alignment),
                        pos + offset,
                    );
                }
            }
        }
        // What the fields point to, in field order, depth first.
        for f in &table.fields {
            let offset = entry(f.id)?;
            if offset == 0 {
                continue;
            }
            let at = pos + offset;
            match f.kind {
                Kind::Scalar | Kind::Struct => {}
                Kind::Union => {
                    let type_offset = match f.type_id {
                        Some(id) => entry(id)?,
                        None => 0,
                    };
                    if type_offset == 0 {
                        continue; // type NONE: the value is ignored, as the C++ verifier does
                    }
                    let number = u8_at(buf, pos + type_offset)?;
                    let member = f.members.iter().find(|&&(value, _)| value == number);
                    if let Some(&(_, member)) = member {
                        let p = self.offset_target(buf, at)?;
                        self.member(buf, p, member, depth + 1, budget)?;
                    }
                }
                Kind::String => {
                    let p = self.offset_target(buf, at)?;
                    self.string(buf, p)?;
                }
                Kind::Table => {
                    let p = self.offset_target(buf, at)?;
                    self.table(buf, p, f.target, depth + 1, budget)?;
                }
                Kind::Vector => {
                    let p = self.offset_target(buf, at)?;
                    self.vector_length(buf, p, f.element)?;
                }
                Kind::Nested => {
                    let p = self.offset_target(buf, at)?;
                    let count = self.vector_length(buf, p, 1)?;
                    let inner = slice(buf, p + 4, p + 4 + count)?;
                    if let Err(fault) = self.root(inner, f.target, depth + 1) {
                        return fail(
                            format!("in the nested flatbuffer {}: {}", f.label, fault.reason),
                            p + 4 + fault.position,
                        );
                    }
                }
                Kind::Strings => {
                    let p = self.offset_target(buf, at)?;
                    let count = self.vector_length(buf, p, 4)?;
                    for i in 0..count {
                        let s = self.offset_target(buf, p + 4 + 4 * i)?;
                        self.string(buf, s)?;
                    }
                }
                Kind::Tables => {
                    let p = self.offset_target(buf, at)?;
                    let count = self.vector_length(buf, p, 4)?;
                    for i in 0..count {
                        let element = self.offset_target(buf, p + 4 + 4 * i)?;
                        self.table(buf, element, f.target, depth + 1, budget)?;
                    }
                }
                Kind::UnionTypes | Kind::Unions => {
                    // As C++ `Verify<U>Vector`: both vectors or neither, of one
                    // length, each value checked as its type's member.
                    let other = match f.type_id {
                        Some(id) => entry(id)?,
                        None => 0,
                    };
                    if other == 0 {
                        return fail(
                            "a vector of unions and its type vector are not both present".into(),
                            pos,
                        );
                    }
                    if f.kind == Kind::UnionTypes {
                        continue; // checked with the values
                    }
                    let types = self.offset_target(buf, pos + other)?;
                    let count = self.vector_length(buf, types, 1)?;
                    let values = self.offset_target(buf, at)?;
                    if self.vector_length(buf, values, 4)? != count {
                        return fail(
                            format!("a vector of unions and its type vector of {count} differ in length"),
                            values,
                        );
                    }
                    for i in 0..count {
                        let number = u8_at(buf, types + 4 + i)?;
                        let member = f.members.iter().find(|&&(value, _)| value == number);
                        if let Some(&(_, member)) = member {
                            let p = self.offset_target(buf, values + 4 + 4 * i)?;
                            self.member(buf, p, member, depth + 1, budget)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A union member's value at `p`: a table, a struct (which must lie in
    /// the buffer, as C++ `Verifier::Verify<T>`) or a string.
    fn member(&self, buf: &[u8], p: u64, member: Member, depth: u32, budget: &mut u64) -> Checked {
        match member {
            Member::Table(t) => self.table(buf, p, t, depth, budget),
            Member::String => self.string(buf, p),
            Member::Struct(size) => {
                let n = buf.len() as u64;
                if p + size > n {
                    return fail(
                        format!(
                            "a union's {size}-byte struct runs past the end of the {n}-byte buffer"
                        ),
                        p,
                    );
                }
                Ok(())
            }
        }
    }

    /// Where the uoffset stored at `at` (inside the buffer) points.
    fn offset_target(&self, buf: &[u8], at: u64) -> Checked<u64> {
        let n = buf.len() as u64;
        let off = u32_at(buf, at)?;
        if off == 0 || off >= 0x8000_0000 {
            return fail(format!("offset {off} is not a valid forward offset"), at);
        }
        let target = at + off;
        if target >= n {
            return fail(
                format!("offset {off} points past the end of the {n}-byte buffer"),
                at,
            );
        }
        Ok(target)
    }

    /// A vector's (or string's) element count, once its elements are known
    /// to fit in the buffer.
    fn vector_length(&self, buf: &[u8], pos: u64, element_size: u64) -> Checked<u64> {
        let n = buf.len() as u64;
        if self.options.check_alignment && pos & 3 != 0 {
            return fail("a vector's length is not 4-byte aligned".into(), pos);
        }
        if pos + 4 > n {
            return fail(
                "a vector's length runs past the end of the buffer".into(),
                pos,
            );
        }
        let count = u32_at(buf, pos)?;
        let end = count
            .checked_mul(element_size)
            .and_then(|bytes| bytes.checked_add(pos + 4));
        if !end.is_some_and(|end| end <= n) {
            return fail(
                format!("a vector of {count} elements runs past the end of the {n}-byte buffer"),
                pos,
            );
        }
        Ok(count)
    }

    fn string(&self, buf: &[u8], pos: u64) -> Checked {
        let n = buf.len() as u64;
        let length = self.vector_length(buf, pos, 1)?;
        let end = pos + 4 + length;
        if end >= n {
            return fail(
                "a string's terminating NUL is past the end of the buffer".into(),
                pos,
            );
        }
        if u8_at(buf, end)? != 0 {
            return fail("a string is not NUL-terminated".into(), end);
        }
        if self.options.check_utf8 {
            if let Some((reason, start)) = utf8_error(slice(buf, pos + 4, end)?) {
                return fail(
                    format!("a string is not UTF-8: {reason} at its byte {start}"),
                    pos + 4 + start as u64,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            max_depth: 64,
            max_tables: 1_000_000,
            max_size: MAX_SIZE,
            check_utf8: true,
            check_alignment: true,
            check_length: true,
            check_table_size: true,
        }
    }

    fn field(kind: Kind, id: usize, width: u64, label: &str) -> Field {
        Field {
            kind,
            id,
            required: false,
            width,
            alignment: width.clamp(1, 8),
            element: 0,
            target: 0,
            type_id: None,
            members: Vec::new(),
            label: label.into(),
        }
    }

    /// `table Node { value: double; name: string (required); child: Node; }`
    fn node_verifier(options: Options) -> Verifier {
        let mut name = field(Kind::String, 1, 4, "Node.name");
        name.required = true;
        let mut child = field(Kind::Table, 2, 4, "Node.child");
        child.alignment = 4;
        let table = Table {
            name: "Node".into(),
            fields: vec![field(Kind::Scalar, 0, 8, "Node.value"), name, child],
        };
        let root = Root {
            table: 0,
            ident: None,
            known: None,
        };
        Verifier::new(vec![table], vec![root], options).unwrap()
    }

    /// A Node with value 1.5 and name "hi": the table at 8 (its double
    /// 8-aligned at 16), its vtable at 24, the string at 32.
    fn node_buffer() -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0..4].copy_from_slice(&8u32.to_le_bytes());
        b[8..12].copy_from_slice(&(8i32 - 24).to_le_bytes());
        b[12..16].copy_from_slice(&(32u32 - 12).to_le_bytes());
        b[16..24].copy_from_slice(&1.5f64.to_le_bytes());
        b[24..32].copy_from_slice(&[8, 0, 16, 0, 8, 0, 4, 0]);
        b[32..36].copy_from_slice(&2u32.to_le_bytes());
        b[36..38].copy_from_slice(b"hi");
        b
    }

    fn fault(reason: &str, position: u64) -> Checked {
        fail(reason.into(), position)
    }

    #[test]
    fn accepts_a_good_buffer_and_refuses_every_truncation() {
        let v = node_verifier(options());
        let b = node_buffer();
        assert_eq!(v.verify(&b), Ok(()));
        for cut in 0..b.len() {
            assert!(v.verify(&b[..cut]).is_err(), "accepted {cut} bytes");
        }
        assert_eq!(
            v.verify(&b[..36]),
            fault(
                "a vector of 2 elements runs past the end of the 36-byte buffer",
                32
            )
        );
        assert_eq!(
            v.verify(&b[..6]),
            fault(
                "the buffer is 6 bytes, not a multiple of 4: truncated or padded",
                6
            )
        );
    }

    #[test]
    fn refuses_each_fault_with_the_pure_verifiers_words() {
        let v = node_verifier(options());
        let with = |at: usize, value: u8| {
            let mut b = node_buffer();
            b[at] = value;
            v.verify(&b)
        };
        assert_eq!(with(38, b'!'), fault("a string is not NUL-terminated", 38));
        assert_eq!(
            with(36, 0xFF),
            fault(
                "a string is not UTF-8: invalid start byte at its byte 0",
                36
            )
        );
        assert_eq!(
            with(28 + 2, 0),
            fault("the required field Node.name is missing", 8)
        );
        assert_eq!(
            with(28, 4),
            fault("the field Node.value is not 8-byte aligned", 12)
        );
        assert_eq!(
            with(26, 12),
            fault(
                "the field Node.value at offset 8 lies outside its table of 12 bytes",
                8
            )
        );
        assert_eq!(with(0, 9), fault("the root table is not 4-byte aligned", 9));
        assert_eq!(
            with(12, 0),
            fault("offset 0 is not a valid forward offset", 12)
        );
        assert_eq!(
            with(24, 3),
            fault("the vtable at byte 24 has an invalid size 3", 24)
        );
        assert_eq!(
            with(8, 0),
            fault(
                "the vtable offset of the root table points to byte 264, outside the buffer",
                8
            )
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let v = node_verifier(options());
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut b = node_buffer();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            let cut = (next() % (b.len() as u64 + 1)) as usize;
            if let Err(f) = v.verify(&b[..cut]) {
                assert!(!f.reason.starts_with("internal"), "{f}");
            }
        }
    }

    #[test]
    fn python_reprs_and_reasons() {
        assert_eq!(python_bytes_repr(b"EVRY"), "b'EVRY'");
        assert_eq!(python_bytes_repr(b"a'b\0"), "b\"a'b\\x00\"");
        assert_eq!(python_bytes_repr(b"a'\"\\"), "b'a\\'\"\\\\'");
        assert_eq!(python_bytes_repr(b"\t\n\r\x7f"), "b'\\t\\n\\r\\x7f'");
        assert_eq!(utf8_error(b"ok"), None);
        assert_eq!(utf8_error(b"a\xff"), Some(("invalid start byte", 1)));
        assert_eq!(
            utf8_error(b"\xe0\x80"),
            Some(("invalid continuation byte", 0))
        );
        assert_eq!(
            utf8_error(b"ab\xe0\xa0"),
            Some(("unexpected end of data", 2))
        );
    }
}
