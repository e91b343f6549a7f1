//! Columnar encode: rows given as columns of packed scalars (and presence
//! bytes) to FlatBuffers payloads, as a list or framed into one buffer (bound
//! in `pycolumnar` as `ColumnarEncoder`; pure twin in
//! `flatstream/_kernels/pure.py`). Split from `columnar` (decode) because
//! the two share no code: decode reads vtables, encode writes the templates
//! of [`crate::codec::plan`], so each payload is byte for byte what the
//! per-message codec (and `flatbuffers.Builder`) writes.

use crate::codec::{plan, Field, Plan, Scalar};
use crate::scan::LENGTH_BYTES;
use std::collections::HashMap;

/// A field to encode: its id, its inline layout and its scalars (offset in
/// the inline value, type, column index). A scalar field has one scalar at 0.
#[derive(Clone, Debug)]
pub struct EncodeField {
    pub field: Field,
    /// `(offset, type, column)` per scalar of the field.
    pub scalars: Vec<(usize, Scalar, usize)>,
    /// Column index of the field's presence bytes (one per row, 0 = absent),
    /// or None when it is always present.
    pub presence: Option<usize>,
}

/// Encodes rows of fixed columns into framed payloads or plain payloads.
pub struct Encoder {
    fields: Vec<EncodeField>,
    slots: usize,
    ident: Vec<u8>,
    /// Index in `made` of the plan of each set of present fields seen.
    plans: HashMap<u64, usize>,
    made: Vec<RowPlan>,
}

/// Why an input cannot be encoded, naming the column.
#[derive(Debug, PartialEq, Eq)]
pub struct ColumnError {
    pub column: usize,
    pub reason: String,
}

impl Encoder {
    pub fn new(fields: Vec<EncodeField>, ident: Vec<u8>) -> Result<Encoder, String> {
        if fields.len() > 64 {
            return Err("at most 64 fields".into());
        }
        let slots = fields.iter().map(|f| f.field.id + 1).max().unwrap_or(0);
        Ok(Encoder {
            fields,
            slots,
            ident,
            plans: HashMap::new(),
            made: Vec::new(),
        })
    }

    /// Encodes `rows` rows: `columns[k]` holds column `k`'s packed values (or
    /// presence bytes); every payload goes to `emit`. Lengths are checked here.
    pub fn encode(
        &mut self,
        columns: &[&[u8]],
        rows: usize,
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), ColumnError> {
        let mut scratch = Vec::new();
        self.walk(columns, rows, |row, p| {
            scratch.clear();
            scratch.extend_from_slice(&p.template);
            fill(&mut scratch, row, p, columns);
            emit(&scratch);
        })
    }

    /// `encode` framed with checksums of `width` bytes (`checksum` of each
    /// payload) into `out`, which holds exactly `rows` frames of the sizes
    /// `payload_bytes` counted: each payload is laid out in place, with no
    /// scratch copy. Returns the bytes written.
    pub fn encode_framed(
        &mut self,
        columns: &[&[u8]],
        rows: usize,
        width: usize,
        checksum: impl Fn(&[u8]) -> u64,
        out: &mut [u8],
    ) -> Result<usize, ColumnError> {
        let header = LENGTH_BYTES + width;
        let mut at = 0usize;
        let mut short = false;
        self.walk(columns, rows, |row, p| {
            let len = p.template.len();
            let Some(frame) = out.get_mut(at..at + header + len) else {
                short = true;
                return;
            };
            let (head, payload) = frame.split_at_mut(header);
            payload.copy_from_slice(&p.template);
            fill(payload, row, p, columns);
            head[..LENGTH_BYTES].copy_from_slice(&(len as u32).to_le_bytes());
            head[LENGTH_BYTES..].copy_from_slice(&checksum(payload).to_le_bytes()[..width]);
            at += header + len;
        })?;
        if short || at != out.len() {
            return Err(ColumnError {
                column: 0,
                reason: "the output is not the size of the frames".into(),
            });
        }
        Ok(at)
    }

    /// The bytes of all `rows` payloads `encode` would write (so a framed
    /// encode can allocate its output once: growing it, and copying it into
    /// Python after, cost more than the encode itself).
    pub fn payload_bytes(&mut self, columns: &[&[u8]], rows: usize) -> Result<u64, ColumnError> {
        let mut total = 0u64;
        self.walk(columns, rows, |_, p| total += p.template.len() as u64)?;
        Ok(total)
    }

    /// Checks the column lengths, then calls `each(row, plan, fields)` with
    /// the plan of each row's present fields.
    // `row` indexes every presence column and goes to `each`: no one iterator.
    #[allow(clippy::needless_range_loop)]
    fn walk(
        &mut self,
        columns: &[&[u8]],
        rows: usize,
        mut each: impl FnMut(usize, &RowPlan),
    ) -> Result<(), ColumnError> {
        for f in &self.fields {
            for &(_, ty, col) in &f.scalars {
                check_len(columns, col, rows * ty.size())?;
            }
            if let Some(col) = f.presence {
                check_len(columns, col, rows)?;
            }
        }
        // Rows mostly share one set of present fields: keep its plan at hand.
        let mut cur_mask = u64::MAX;
        let mut cur = 0usize;
        for row in 0..rows {
            let mut mask = 0u64;
            for (n, f) in self.fields.iter().enumerate() {
                let present = f.presence.map_or(true, |col| columns[col][row] != 0);
                mask |= u64::from(present) << n;
            }
            if mask != cur_mask || self.made.is_empty() {
                cur = match self.plans.get(&mask) {
                    Some(&k) => k,
                    None => {
                        let made = RowPlan::new(&self.fields, mask, self.slots, &self.ident);
                        self.made.push(made);
                        self.plans.insert(mask, self.made.len() - 1);
                        self.made.len() - 1
                    }
                };
                cur_mask = mask;
            }
            each(row, &self.made[cur]);
        }
        Ok(())
    }
}

/// The payload of one set of present fields: its template and, flattened,
/// every scalar to copy into it (`(position, size, column)`), so a row is a
/// template copy and one move per scalar.
pub struct RowPlan {
    template: Vec<u8>,
    copies: Vec<(usize, usize, usize)>,
}

impl RowPlan {
    fn new(fields: &[EncodeField], mask: u64, slots: usize, ident: &[u8]) -> RowPlan {
        let layout: Vec<Field> = fields.iter().map(|f| f.field.clone()).collect();
        let p: Plan = plan(&layout, mask, slots, ident);
        let mut copies = Vec::new();
        for (n, f) in fields.iter().enumerate() {
            if let Some(at) = p.positions[n] {
                for &(offset, ty, col) in &f.scalars {
                    copies.push((at + offset, ty.size(), col));
                }
            }
        }
        RowPlan {
            template: p.template,
            copies,
        }
    }
}

/// Writes row `row`'s values into `payload`, a copy of `p.template`.
fn fill(payload: &mut [u8], row: usize, p: &RowPlan, columns: &[&[u8]]) {
    for &(at, size, col) in &p.copies {
        let src = &columns[col][row * size..(row + 1) * size];
        let dst = &mut payload[at..at + size];
        // Constant sizes: a move each, not a call to `memcpy`.
        match size {
            8 => dst[..8].copy_from_slice(&src[..8]),
            4 => dst[..4].copy_from_slice(&src[..4]),
            2 => dst[..2].copy_from_slice(&src[..2]),
            _ => dst.copy_from_slice(src),
        }
    }
}

fn check_len(columns: &[&[u8]], col: usize, want: usize) -> Result<(), ColumnError> {
    match columns.get(col) {
        Some(c) if c.len() == want => Ok(()),
        Some(c) => Err(ColumnError {
            column: col,
            reason: format!("holds {} bytes, not the {want} its rows need", c.len()),
        }),
        None => Err(ColumnError {
            column: col,
            reason: "is missing".into(),
        }),
    }
}
