//! Columnar decode fused with the frame walk (bound as
//! `ColumnarDecoder.decode_stream`). Its own module because it joins two
//! concepts the others keep apart: `bulk::scan_all` finds the frames of a
//! whole buffer window by window, and each window is decoded straight into
//! the output columns while its frames are still in cache. No frame index is
//! built, copied to Python or read back: on the 3-scalar telemetry event the
//! index alone (12 bytes a frame, grown, then copied) cost more than the
//! decode.
//!
//! The result is what `scan_all` followed by [`Decoder::decode_into`] over
//! its payloads gives: the same rows, and the same first error, a scan error
//! (limit, checksum) coming before a decode error wherever they are, since
//! the two-pass path scans everything before decoding anything.

use crate::bulk::{scan_all, Summary};
use crate::checksum::Algorithm;
use crate::columnar::{Decoder, FrameError, Out};
use crate::scan::LENGTH_BYTES;

/// How a fused decode ended.
#[derive(Debug)]
pub struct Fused {
    /// Rows written to the outputs (every good frame's, unless `error` or
    /// `overflow`).
    pub rows: usize,
    /// The scan's summary (frames found, where and why it stopped).
    pub summary: Summary,
    /// The first frame that cannot be decoded (not skipping).
    pub error: Option<FrameError>,
    /// More frames than `capacity` rows: the outputs are incomplete (the
    /// caller sizes them again and decodes in two passes).
    pub overflow: bool,
}

/// Parameters of the frame walk (those of `bulk::scan_all`).
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    pub start: usize,
    pub width: usize,
    pub verify: Option<Algorithm>,
    pub max_frame_len: u64,
    pub threads: usize,
}

/// Decodes every frame of `buf` (as `walk` finds them) into `out`, whose
/// slices hold `capacity` rows. Only for plans of fixed columns (`Err`
/// otherwise: strings and vectors grow per window and take the two-pass path).
pub fn decode_stream(
    dec: &Decoder,
    buf: &[u8],
    walk: Walk,
    out: &mut Out<'_>,
    capacity: usize,
) -> Result<Fused, String> {
    let n = dec.columns().len();
    if (0..n).any(|c| dec.fixed_size(c) == 0) {
        return Err("decode_stream takes fixed columns only".into());
    }
    let sizes: Vec<usize> = (0..n).map(|c| dec.fixed_size(c)).collect();
    let header = (LENGTH_BYTES + walk.width) as u64;
    let mut rows = 0usize;
    let mut error = None;
    let summary = scan_all(
        buf,
        walk.start,
        walk.width,
        walk.verify,
        walk.max_frame_len,
        walk.threads,
        |offsets, lengths| {
            let k = offsets.len();
            if error.is_some() || rows + k > capacity || k == 0 {
                return;
            }
            let mut window = Out {
                fixed: out
                    .fixed
                    .iter_mut()
                    .zip(&sizes)
                    .map(|(f, &s)| &mut f[rows * s..(rows + k) * s])
                    .collect(),
                valid: out
                    .valid
                    .iter_mut()
                    .map(|v| v.as_deref_mut().map(|v| &mut v[rows..rows + k]))
                    .collect(),
                rows_valid: out
                    .rows_valid
                    .as_deref_mut()
                    .map(|v| &mut v[rows..rows + k]),
            };
            let frame = |i: usize| (offsets[i] + header, lengths[i]);
            match dec.decode_into(buf, k, frame, &mut window) {
                Ok(_) => rows += k,
                Err(e) => {
                    error = Some(FrameError {
                        frame: rows + e.frame,
                        reason: e.reason,
                    })
                }
            }
        },
    );
    Ok(Fused {
        rows,
        summary,
        error,
        overflow: summary.frames > capacity as u64,
    })
}
