//! `ColumnarDecoder` / `ColumnarEncoder`: bindings of `columnar.rs`. Their
//! pure twins are in `flatstream/_kernels/columnar.py` (same signatures and
//! results); `flatstream.schema.columnar` compiles the plans they take.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

use std::sync::Mutex;

use super::borrow::bytes_of;
use crate::codec::{Field, Kind, Scalar, StructLayout};
use crate::columnar::{Column, ColumnKind, Decoder, Out};
use crate::columnar_encode::{EncodeField, Encoder};
use crate::columnar_stream::{decode_stream, Walk};
use crate::scan::LENGTH_BYTES;

fn scalar(code: &str) -> PyResult<Scalar> {
    let mut chars = code.chars();
    match (chars.next().and_then(Scalar::from_code), chars.next()) {
        (Some(s), None) => Ok(s),
        _ => Err(PyValueError::new_err(format!(
            "unknown scalar code {code:?}"
        ))),
    }
}

/// A column as the Python plan gives it:
/// `(id, inline, align, kind, code, offset, default, nullable)`.
type ColumnTuple = (usize, usize, usize, String, String, usize, Vec<u8>, bool);

/// One decoded column: `(values, valid or None, offsets or None)`.
type ColumnOut<'py> = (
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

type DecodeOut<'py> = (
    Vec<ColumnOut<'py>>,
    Option<Bound<'py, PyAny>>,
    Option<(usize, String)>,
);

/// A numpy array and the export of its bytes.
type Output<'py> = (Bound<'py, PyAny>, PyBuffer<u8>);

/// Fixed values, validity and `rows_valid` outputs of `decoder` for `rows`.
type Outputs<'py> = (
    Vec<Output<'py>>,
    Vec<Option<Output<'py>>>,
    Option<Output<'py>>,
);

/// The outputs, allocated at their final size and filled in place. numpy
/// allocates them (it asks for transparent huge pages on large arrays, which
/// saves most of the page faults of fresh memory); pages past what a decode
/// writes are never touched, so sizing for more rows than come costs address
/// space only.
fn outputs<'py>(
    py: Python<'py>,
    decoder: &Decoder,
    rows: usize,
    skip: bool,
) -> PyResult<Outputs<'py>> {
    let empty = py.import("numpy")?.getattr("empty")?;
    let alloc = |size: usize| -> PyResult<Output<'py>> {
        let array = empty.call1((size, "u1"))?;
        let buffer = PyBuffer::<u8>::get(&array)?;
        if buffer.readonly() || !buffer.is_c_contiguous() || buffer.len_bytes() != size {
            return Err(PyValueError::new_err(
                "numpy.empty gave an unexpected buffer",
            ));
        }
        Ok((array, buffer))
    };
    let n = decoder.columns().len();
    let fixed = (0..n)
        .map(|c| alloc(rows * decoder.fixed_size(c)))
        .collect::<PyResult<_>>()?;
    let valid = (0..n)
        .map(|c| decoder.has_valid(c).then(|| alloc(rows)).transpose())
        .collect::<PyResult<_>>()?;
    Ok((fixed, valid, skip.then(|| alloc(rows)).transpose()?))
}

fn slice_of(b: &mut PyBuffer<u8>) -> &mut [u8] {
    if b.len_bytes() == 0 {
        return &mut [];
    }
    // SAFETY: `b` exports a writable, C-contiguous array of `len_bytes()`
    // bytes that `outputs` created a moment ago (numpy.empty, checked there).
    // No reference to the array has left the decode call, so no other code
    // can read, write, resize or free it while this slice lives (the export
    // held by `b` also pins it); distinct arrays do not overlap each other or
    // the input. The slices are dropped before the arrays are returned.
    unsafe { std::slice::from_raw_parts_mut(b.buf_ptr() as *mut u8, b.len_bytes()) }
}

fn out_of<'a>(
    fixed: &'a mut [Output<'_>],
    valid: &'a mut [Option<Output<'_>>],
    rows_valid: &'a mut Option<Output<'_>>,
) -> Out<'a> {
    Out {
        fixed: fixed.iter_mut().map(|(_, b)| slice_of(b)).collect(),
        valid: valid
            .iter_mut()
            .map(|v| v.as_mut().map(|(_, b)| slice_of(b)))
            .collect(),
        rows_valid: rows_valid.as_mut().map(|(_, b)| slice_of(b)),
    }
}

/// Whether no Python code can write `data` while the GIL is released: an
/// immutable `bytes` or a read-only `mmap`.
fn immutable(data: &Bound<'_, PyAny>, buffer: &PyBuffer<u8>) -> PyResult<bool> {
    if data.is_exact_instance_of::<PyBytes>() {
        return Ok(true);
    }
    let kind = data.get_type();
    Ok(buffer.readonly() && kind.module()? == "mmap" && kind.name()? == "mmap")
}

/// Asks Linux for transparent huge pages over the 2 MiB-aligned interior of
/// a large buffer not yet touched (as numpy does for its arrays): one fault
/// per 2 MiB instead of per 4 KiB, which on the framed telemetry encode was
/// half the time. Advice only: ignored where refused or elsewhere.
fn advise_huge_pages(buf: &mut [u8]) {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        const MADV_HUGEPAGE: i32 = 14;
        const HUGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let first = start.div_ceil(HUGE) * HUGE;
        let end = (start + buf.len()) / HUGE * HUGE;
        if end > first {
            // SAFETY: `first..end` lies inside `buf`, memory this process
            // owns; the advice changes how its pages are backed, not their
            // contents or mapping.
            unsafe {
                madvise(first as *mut std::ffi::c_void, end - first, MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Shrinks a fresh output array to `size` bytes in place (numpy reallocates;
/// the pages never written are returned unread).
fn shrink(array: &Bound<'_, PyAny>, size: usize) -> PyResult<()> {
    let kwargs = pyo3::types::PyDict::new(array.py());
    // No other reference to the array exists yet (see `slice_of`).
    kwargs.set_item("refcheck", false)?;
    array.call_method("resize", (size,), Some(&kwargs))?;
    Ok(())
}

#[pyclass(module = "flatstream._native", name = "ColumnarDecoder", frozen)]
pub struct ColumnarDecoder {
    decoder: Decoder,
}

#[pymethods]
impl ColumnarDecoder {
    #[new]
    fn new(columns: Vec<ColumnTuple>, max_size: usize) -> PyResult<Self> {
        let mut cols = Vec::with_capacity(columns.len());
        for (id, inline, align, kind, code, offset, default, nullable) in columns {
            let kind = match kind.as_str() {
                "fixed" => ColumnKind::Fixed {
                    ty: scalar(&code)?,
                    offset,
                    default,
                    nullable,
                },
                "string" => ColumnKind::Str,
                "vector" => ColumnKind::Vector {
                    elem: scalar(&code)?.size(),
                },
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown column kind {other:?}"
                    )))
                }
            };
            cols.push(Column {
                id,
                inline,
                align,
                kind,
            });
        }
        let decoder = Decoder::new(cols, max_size).map_err(PyValueError::new_err)?;
        Ok(ColumnarDecoder { decoder })
    }

    /// decode(buffer, offsets, lengths, skip) -> (columns, rows_valid, error)
    ///
    /// `offsets`/`lengths`: little-endian u64/u32 bytes, one per frame.
    /// `columns[c]` is `(values, valid, offsets)` as bytearrays (valid and
    /// offsets None where the column has none); `rows_valid` is a bytearray
    /// when skipping; `error` is None or `(frame, reason)` (columns then empty).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
        offsets: PyBuffer<u8>,
        lengths: PyBuffer<u8>,
        skip: bool,
    ) -> PyResult<DecodeOut<'py>> {
        let offsets = bytes_of(py, &offsets)?;
        let lengths = bytes_of(py, &lengths)?;
        if offsets.len() % 8 != 0
            || lengths.len() % 4 != 0
            || offsets.len() / 8 != lengths.len() / 4
        {
            let rows = (offsets.len() / 8).min(lengths.len() / 4);
            return Ok((
                Vec::new(),
                None,
                Some((rows, "offsets and lengths differ in length".into())),
            ));
        }
        let rows = lengths.len() / 4;
        let decoder = &self.decoder;
        let n = decoder.columns().len();
        let (mut fixed, mut valid, mut rows_valid) = outputs(py, decoder, rows, skip)?;
        let data = PyBuffer::<u8>::get(buffer)?;
        let immutable = immutable(buffer, &data)?;
        let mut out = out_of(&mut fixed, &mut valid, &mut rows_valid);
        let frame = |i: usize| {
            let o = &offsets[8 * i..8 * i + 8];
            let l = &lengths[4 * i..4 * i + 4];
            (
                u64::from_le_bytes([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]),
                u32::from_le_bytes([l[0], l[1], l[2], l[3]]),
            )
        };
        let result = if immutable {
            let bytes = bytes_of(py, &data)?;
            let (ptr, len) = (bytes.as_ptr() as usize, bytes.len());
            let out = &mut out;
            py.detach(move || {
                // SAFETY: `ptr..ptr + len` are the bytes of `data`, whose export
                // is held until this function returns, so they stay allocated;
                // they belong to an immutable `bytes` or a read-only `mmap`, so
                // no Python thread writes them while the GIL is released (as in
                // `python::scan_all`, whose comment this repeats). The slice is
                // rebuilt because a GIL-bound reference cannot enter `detach`.
                // The output slices are private to this call (see above), and
                // `offsets`/`lengths` are the exports held by the arguments.
                // Exercised by the columnar tests over bytes and mmap sources.
                let buf = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
                decoder.decode_into(buf, rows, frame, out)
            })
        } else {
            decoder.decode_into(bytes_of(py, &data)?, rows, frame, &mut out)
        };
        drop(out);
        match result {
            Err(e) => Ok((Vec::new(), None, Some((e.frame, e.reason)))),
            Ok(var) => {
                let mut cols = Vec::with_capacity(n);
                for ((f, v), var) in fixed.into_iter().zip(valid).zip(var) {
                    let v = v.map(|(array, _)| array);
                    match var {
                        None => cols.push((f.0, v, None)),
                        Some((values, offs)) => {
                            let bytes: Vec<u8> =
                                offs.iter().flat_map(|x| x.to_le_bytes()).collect();
                            let values = PyByteArray::new(py, &values).into_any();
                            cols.push((values, v, Some(PyByteArray::new(py, &bytes).into_any())));
                        }
                    }
                }
                Ok((cols, rows_valid.map(|(array, _)| array), None))
            }
        }
    }

    /// decode_stream(buffer, start, width, verify, max_frame_len, threads, skip)
    /// -> (columns, rows_valid, error, summary) or None
    ///
    /// Every frame of `buffer[start:]` (as `scan_all` with these arguments
    /// finds them) decoded in the same pass; plans of fixed columns only.
    /// `summary` is `scan_all`'s `(frames, payload_bytes, stop, status,
    /// detail_a, detail_b)`; None when there are more frames than the outputs
    /// were sized for (payloads under 8 bytes): decode with `scan_all` and
    /// `decode` then.
    #[pyo3(signature = (buffer, start, width, verify, max_frame_len, threads, skip))]
    #[allow(clippy::too_many_arguments)]
    fn decode_stream<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
        start: usize,
        width: usize,
        verify: Option<&str>,
        max_frame_len: u64,
        threads: usize,
        skip: bool,
    ) -> PyResult<Option<StreamOut<'py>>> {
        let verify = verify
            .map(|name| {
                crate::checksum::Algorithm::from_name(name).ok_or_else(|| {
                    PyValueError::new_err(format!("unknown checksum algorithm {name:?}"))
                })
            })
            .transpose()?;
        if width > 8 || verify.is_some_and(|a| a.width() != width) {
            return Err(PyValueError::new_err("width does not match the algorithm"));
        }
        let decoder = &self.decoder;
        let data = PyBuffer::<u8>::get(buffer)?;
        // A decodable payload holds a root offset and a table's vtable
        // offset (8 bytes): no more frames than this fit in the buffer.
        let capacity = data.len_bytes().saturating_sub(start) / (LENGTH_BYTES + width + 8) + 1;
        let (mut fixed, mut valid, mut rows_valid) = outputs(py, decoder, capacity, skip)?;
        let immutable = immutable(buffer, &data)?;
        let mut out = out_of(&mut fixed, &mut valid, &mut rows_valid);
        let walk = Walk {
            start,
            width,
            verify,
            max_frame_len,
            threads,
        };
        let result = if immutable {
            let bytes = bytes_of(py, &data)?;
            let (ptr, len) = (bytes.as_ptr() as usize, bytes.len());
            let out = &mut out;
            py.detach(move || {
                // SAFETY: as in `decode`: the bytes of `data` (an immutable
                // `bytes` or read-only `mmap`, exported until this returns),
                // and output slices private to this call.
                let buf = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
                decode_stream(decoder, buf, walk, out, capacity)
            })
        } else {
            decode_stream(decoder, bytes_of(py, &data)?, walk, &mut out, capacity)
        };
        drop(out);
        let fused = result.map_err(PyValueError::new_err)?;
        if fused.overflow {
            return Ok(None);
        }
        let s = fused.summary;
        let summary = (
            s.frames,
            s.payload_bytes,
            s.stop,
            s.status as u8,
            s.detail_a,
            s.detail_b,
        );
        if let Some(e) = fused.error {
            return Ok(Some((Vec::new(), None, Some((e.frame, e.reason)), summary)));
        }
        let rows = fused.rows;
        let mut cols = Vec::with_capacity(fixed.len());
        for (c, ((f, export), v)) in fixed.into_iter().zip(valid).enumerate() {
            // numpy refuses to resize an array whose buffer is exported.
            drop(export);
            shrink(&f, rows * decoder.fixed_size(c))?;
            let v = v.map(|(array, _)| array);
            if let Some(v) = &v {
                shrink(v, rows)?;
            }
            cols.push((f, v, None));
        }
        let rows_valid = rows_valid.map(|(array, _)| array);
        if let Some(r) = &rows_valid {
            shrink(r, rows)?;
        }
        Ok(Some((cols, rows_valid, None, summary)))
    }
}

/// `decode_stream`'s answer: `decode`'s and the scan summary.
type StreamOut<'py> = (
    Vec<ColumnOut<'py>>,
    Option<Bound<'py, PyAny>>,
    Option<(usize, String)>,
    (u64, u64, usize, u8, u64, u64),
);

/// `(payload list or framed bytes, None)` or `(None, (column, reason))`.
type EncodeOut<'py> = (Option<Bound<'py, PyAny>>, Option<(usize, String)>);

/// A field as the Python plan gives it to the encoder:
/// `(id, size, align, is_struct, [(offset, code, column)], presence column or None)`.
type EncodeFieldTuple = (
    usize,
    usize,
    usize,
    bool,
    Vec<(usize, String, usize)>,
    Option<usize>,
);

#[pyclass(module = "flatstream._native", name = "ColumnarEncoder", frozen)]
pub struct ColumnarEncoder {
    encoder: Mutex<Encoder>,
}

#[pymethods]
impl ColumnarEncoder {
    #[new]
    fn new(fields: Vec<EncodeFieldTuple>, ident: Vec<u8>) -> PyResult<Self> {
        let mut out = Vec::with_capacity(fields.len());
        for (id, size, align, is_struct, scalars, presence) in fields {
            let scalars = scalars
                .into_iter()
                .map(|(off, code, col)| Ok((off, scalar(&code)?, col)))
                .collect::<PyResult<Vec<_>>>()?;
            let kind = if is_struct {
                Kind::Struct(StructLayout {
                    size,
                    align,
                    scalars: scalars.iter().map(|&(o, t, _)| (o, t)).collect(),
                })
            } else {
                match scalars.as_slice() {
                    [(0, ty, _)] if ty.size() == size => Kind::Scalar(*ty),
                    _ => return Err(PyValueError::new_err("a scalar field has one scalar")),
                }
            };
            out.push(EncodeField {
                field: Field { id, kind },
                scalars,
                presence,
            });
        }
        let encoder = Encoder::new(out, ident).map_err(PyValueError::new_err)?;
        Ok(ColumnarEncoder {
            encoder: Mutex::new(encoder),
        })
    }

    /// encode(columns, rows, width, algorithm) -> list of payloads (width None)
    /// or one buffer of frames (width 0..=8 with that checksum algorithm).
    /// Returns `(result, error)`: error None or `(column, reason)`.
    #[pyo3(signature = (columns, rows, width=None, algorithm=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        columns: Vec<PyBuffer<u8>>,
        rows: usize,
        width: Option<usize>,
        algorithm: Option<&str>,
    ) -> PyResult<EncodeOut<'py>> {
        let slices = columns
            .iter()
            .map(|b| bytes_of(py, b))
            .collect::<PyResult<Vec<&[u8]>>>()?;
        let mut encoder = self
            .encoder
            .lock()
            .map_err(|_| PyValueError::new_err("encoder poisoned"))?;
        match width {
            None => {
                let list = PyList::empty(py);
                let mut failed = None;
                let result = encoder.encode(&slices, rows, |p| {
                    if failed.is_none() {
                        if let Err(e) = list.append(PyBytes::new(py, p)) {
                            failed = Some(e);
                        }
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                match result {
                    Ok(()) => Ok((Some(list.into_any()), None)),
                    Err(e) => Ok((None, Some((e.column, e.reason)))),
                }
            }
            Some(width) => {
                let name = algorithm.unwrap_or("none");
                let algo = crate::checksum::Algorithm::from_name(name).ok_or_else(|| {
                    PyValueError::new_err(format!("unknown checksum algorithm {name:?}"))
                })?;
                if algo.width() != width {
                    return Err(PyValueError::new_err("width does not match the algorithm"));
                }
                // Sized first, then framed in place: one allocation, no copy.
                let payload = match encoder.payload_bytes(&slices, rows) {
                    Ok(n) => n,
                    Err(e) => return Ok((None, Some((e.column, e.reason)))),
                };
                let total = usize::try_from(payload + (rows * (LENGTH_BYTES + width)) as u64)
                    .map_err(|_| PyValueError::new_err("the frames do not fit in memory"))?;
                // SAFETY: a new `bytes` of `total` bytes, uninitialised
                // (CPython's own way of building one in place): no reference
                // to it has left this function, so writing it is sound;
                // `encode_framed` writes every byte or fails, and on failure
                // the object is dropped unseen.
                let (out, failed) = unsafe {
                    let raw =
                        pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), total as isize);
                    let out = Bound::from_owned_ptr_or_err(py, raw)?;
                    let ptr = pyo3::ffi::PyBytes_AsString(raw) as *mut u8;
                    let buf = std::slice::from_raw_parts_mut(ptr, total);
                    advise_huge_pages(buf);
                    let result =
                        encoder.encode_framed(&slices, rows, width, |p| algo.compute(p), buf);
                    (out, result.err())
                };
                match failed {
                    None => Ok((Some(out.into_any()), None)),
                    Some(e) => Ok((None, Some((e.column, e.reason)))),
                }
            }
        }
    }
}
