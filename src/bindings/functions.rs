//! The kernel functions: checksum, scan, frame_many, scan_all, resync. Signatures
//! mirror `flatstream/_kernels/pure.py`.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

use super::borrow::{bytes_of, Borrowed};
use super::decoder::borrow_buffer;
use crate::bulk::scan_all as scan_all_frames;
use crate::checksum::Algorithm;
use crate::frame::{frame_at, frame_size};
use crate::resync::find_resync;
use crate::scan::scan as scan_frames;

fn algorithm(name: &str) -> PyResult<Algorithm> {
    Algorithm::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown checksum algorithm {name:?}")))
}

/// checksum(name, data) -> int: the checksum of `data` with a built-in algorithm.
#[pyfunction]
pub(super) fn checksum(py: Python<'_>, name: &str, data: PyBuffer<u8>) -> PyResult<u64> {
    let algo = algorithm(name)?;
    Ok(algo.compute(bytes_of(py, &data)?))
}

/// Integers packed little-endian into a new `bytes`, written in place.
fn le_bytes<'py, T: Copy + LeBytes>(
    py: Python<'py>,
    values: &[T],
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, values.len() * T::SIZE, |out| {
        for (chunk, value) in out.chunks_exact_mut(T::SIZE).zip(values) {
            value.write_le(chunk);
        }
        Ok(())
    })
}

trait LeBytes {
    const SIZE: usize;
    fn write_le(self, out: &mut [u8]);
}

impl LeBytes for u64 {
    const SIZE: usize = 8;
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for u32 {
    const SIZE: usize = 4;
    fn write_le(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
}

type ScanTuple<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
    u8,
    u64,
    u64,
);

/// scan(data, start, width, verify, max_frame_len, max_frames) ->
/// (offsets u64 LE bytes, lengths u32 LE bytes, stop, status, detail_a, detail_b)
#[pyfunction]
#[pyo3(signature = (data, start, width, verify, max_frame_len, max_frames))]
pub(super) fn scan<'py>(
    py: Python<'py>,
    data: PyBuffer<u8>,
    start: usize,
    width: usize,
    verify: Option<&str>,
    max_frame_len: u64,
    max_frames: usize,
) -> PyResult<ScanTuple<'py>> {
    if width > 8 {
        return Err(PyValueError::new_err("checksum width must be 0..=8"));
    }
    let verify = verify.map(algorithm).transpose()?;
    if let Some(algo) = verify {
        if algo.width() != width {
            return Err(PyValueError::new_err("width does not match the algorithm"));
        }
    }
    let s = scan_frames(
        bytes_of(py, &data)?,
        start,
        width,
        verify,
        max_frame_len,
        max_frames,
    );
    Ok((
        le_bytes(py, &s.offsets)?,
        le_bytes(py, &s.lengths)?,
        s.stop,
        s.status as u8,
        s.detail_a,
        s.detail_b,
    ))
}

/// resync(data, start, algorithm, max_frame_len) -> int | None: the salvage
/// scanner (`flatstream.io.salvage.find_resync`, whose body is its twin).
#[pyfunction]
pub(super) fn resync(
    py: Python<'_>,
    data: PyBuffer<u8>,
    start: usize,
    algorithm_name: &str,
    max_frame_len: u64,
) -> PyResult<Option<usize>> {
    let algo = algorithm(algorithm_name)?;
    if algo.width() == 0 {
        return Err(PyValueError::new_err(
            "there is nothing to resync on without a checksum",
        ));
    }
    Ok(find_resync(
        bytes_of(py, &data)?,
        start,
        algo,
        max_frame_len,
    ))
}

/// (frames, None), or (None, index of the first payload over the limit).
type FrameManyResult<'py> = (Option<Bound<'py, PyAny>>, Option<usize>);

/// frame_many(payloads, width, algorithm, max_len, out=None) -> (frames, None),
/// or (None, index) when payload `index` is longer than `max_len`: every
/// payload framed, back to back, in one buffer written in place: a new
/// `bytes`, or `out` (a bytearray) resized to fit, so a long-lived writer
/// reuses one buffer (no allocation, no zeroing, no page faults per batch).
#[pyfunction]
#[pyo3(signature = (payloads, width, algorithm_name, max_len, out=None))]
pub(super) fn frame_many<'py>(
    py: Python<'py>,
    payloads: &Bound<'py, PyAny>,
    width: usize,
    algorithm_name: &str,
    max_len: u64,
    out: Option<&Bound<'py, PyByteArray>>,
) -> PyResult<FrameManyResult<'py>> {
    let algo = algorithm(algorithm_name)?;
    if algo.width() != width {
        return Err(PyValueError::new_err("width does not match the algorithm"));
    }
    let max_len = max_len.min(u64::from(u32::MAX));
    if let Ok(list) = payloads.cast_exact::<PyList>() {
        if let Some(framed) = frame_bytes_list(list, width, algo, max_len, out)? {
            return Ok(framed);
        }
    }
    let mut items = Vec::new();
    let mut total = 0usize;
    for (index, item) in payloads.try_iter()?.enumerate() {
        let payload = Borrowed::any(py, &item?)?;
        let len = payload.bytes(py).len();
        if len as u64 > max_len {
            return Ok((None, Some(index)));
        }
        total += frame_size(len, width);
        items.push(payload);
    }
    let mut slices = Vec::with_capacity(items.len());
    for item in &items {
        slices.push(item.bytes(py));
    }
    // A payload that is a view of `out` holds an export of it while `items`
    // lives, so `frames_into` refuses to write over it.
    let framed = frames_into(py, total, out, |buf| {
        let mut at = 0;
        for bytes in &slices {
            at += frame_at(&mut buf[at..], bytes, width, algo.compute(bytes));
        }
        Ok(())
    })?;
    Ok((Some(framed), None))
}

/// `frame_many` of a list of `bytes` (the usual batch), read straight from
/// the list in two passes instead of keeping a borrow per item (the list
/// keeps them alive): 12 against 44 ns a 24-byte payload here. None when an
/// item is anything else.
/// Item `index` of `list` when it is exactly `bytes`: its bytes, borrowed
/// without touching its reference count (the framing loops visit every
/// payload of a batch twice, and the increments and decrements of an owned
/// reference were a tenth of a long-lived writer's time).
fn bytes_item<'a>(list: &'a Bound<'_, PyList>, index: usize) -> Option<&'a [u8]> {
    if index >= list.len() {
        return None;
    }
    // SAFETY: `index` is below the list's length (checked just above, with
    // the GIL held), so `PyList_GET_ITEM` reads a valid, non-null borrowed
    // reference. The list holds that reference and cannot drop it while the
    // returned slice lives: the slice borrows `list`, and the callers run no
    // Python code between this call and their last use of it (they frame
    // into a Rust buffer), so nothing can mutate the list or the immutable
    // `bytes` meanwhile. The exact type check comes before the data is read;
    // a `bytes` object's buffer is `PyBytes_Size` initialised bytes at
    // `PyBytes_AsString`. Exercised by every write_many test of bytes lists.
    unsafe {
        let item = ffi::PyList_GET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t);
        if ffi::PyBytes_CheckExact(item) == 0 {
            return None;
        }
        let data = ffi::PyBytes_AsString(item) as *const u8;
        let len = ffi::PyBytes_Size(item) as usize;
        if len == 0 {
            return Some(&[]);
        }
        Some(std::slice::from_raw_parts(data, len))
    }
}

fn frame_bytes_list<'py>(
    list: &Bound<'py, PyList>,
    width: usize,
    algo: Algorithm,
    max_len: u64,
    out: Option<&Bound<'py, PyByteArray>>,
) -> PyResult<Option<FrameManyResult<'py>>> {
    let mut total = 0usize;
    for index in 0..list.len() {
        let Some(bytes) = bytes_item(list, index) else {
            return Ok(None);
        };
        let len = bytes.len();
        if len as u64 > max_len {
            return Ok(Some((None, Some(index))));
        }
        total += frame_size(len, width);
    }
    // No Python code runs between the passes (the GIL is held throughout),
    // so the list holds the same `bytes` in the second pass; checked anyway.
    let framed = frames_into(list.py(), total, out, |buf| {
        let mut at = 0;
        for index in 0..list.len() {
            let bytes = bytes_item(list, index)
                .ok_or_else(|| PyRuntimeError::new_err("the list changed while it was framed"))?;
            if at + frame_size(bytes.len(), width) > buf.len() {
                return Err(PyRuntimeError::new_err(
                    "the list changed while it was framed",
                ));
            }
            at += frame_at(&mut buf[at..], bytes, width, algo.compute(bytes));
        }
        Ok(())
    })?;
    Ok(Some((Some(framed), None)))
}

/// The error of a reused output buffer that something still views (the
/// pure twin raises the same).
const OUT_EXPORTED: &str =
    "the output bytearray is exported (a memoryview of it is alive), so it cannot be reused";

/// `fill` run over the `total` bytes frames go to: a new `bytes`, or `out`
/// resized to `total` (returned as is). `fill` must write every byte.
fn frames_into<'py>(
    py: Python<'py>,
    total: usize,
    out: Option<&Bound<'py, PyByteArray>>,
    fill: impl FnOnce(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(out) = out else {
        return Ok(PyBytes::new_with(py, total, fill)?.into_any());
    };
    // A memoryview of `out` still alive (a sink that kept what it was given,
    // or a payload that is a view of `out`) must never see its bytes change
    // under it. Resizing refuses while `out` is exported, but not to its
    // current size, so the exports are checked first, and for every size.
    // SAFETY: `out` is a live bytearray (the bound reference keeps it alive
    // and `PyByteArray` checked its type), so its object memory is a
    // `PyByteArrayObject`; the GIL is held, so no thread changes the field
    // while it is read. `ob_exports` counts the buffer exports CPython hands out.
    let exports = unsafe { (*out.as_ptr().cast::<ffi::PyByteArrayObject>()).ob_exports };
    if exports != 0 {
        return Err(PyBufferError::new_err(OUT_EXPORTED));
    }
    out.resize(total)?;
    if total == 0 {
        return Ok(out.clone().into_any());
    }
    // SAFETY: no export of `out` exists (checked above), so no Python object
    // views these bytes, and `fill` runs no Python code (it reads exact
    // `bytes` and borrowed buffers, which cannot be views of `out`: those
    // would be exports), so nothing else reads, writes or resizes `out` while
    // the slice lives; it is dropped before `out` is returned. `resize`
    // made it `total` bytes long; the bytes past the old size come from
    // CPython's allocator, and `fill` writes every one of them before anything
    // reads them (test_writer checks the reused buffer byte for byte).
    fill(unsafe { out.as_bytes_mut() })?;
    Ok(out.clone().into_any())
}

type ScanAllTuple<'py> = (
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    u64,
    u64,
    usize,
    u8,
    u64,
    u64,
);

/// scan_all(data, start, width, verify, max_frame_len, threads, collect) ->
/// (offsets or None, lengths or None, frames, payload_bytes, stop, status, detail_a, detail_b)
///
/// Every frame of `data[start:]` up to the first error or the end, as one
/// `scan` with no frame limit would find them. Over a read-only buffer the GIL
/// is released and checksums of large frames are verified on `threads` threads.
#[pyfunction]
#[pyo3(signature = (data, start, width, verify, max_frame_len, threads, collect))]
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_all<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    start: usize,
    width: usize,
    verify: Option<&str>,
    max_frame_len: u64,
    threads: usize,
    collect: bool,
) -> PyResult<ScanAllTuple<'py>> {
    if width > 8 {
        return Err(PyValueError::new_err("checksum width must be 0..=8"));
    }
    let verify = verify.map(algorithm).transpose()?;
    if verify.is_some_and(|a| a.width() != width) {
        return Err(PyValueError::new_err("width does not match the algorithm"));
    }
    let mut offsets: Vec<u64> = Vec::new();
    let mut lengths: Vec<u32> = Vec::new();
    let mut run = |buf: &[u8]| {
        scan_all_frames(buf, start, width, verify, max_frame_len, threads, |o, l| {
            if collect {
                offsets.extend_from_slice(o);
                lengths.extend_from_slice(l);
            }
        })
    };
    let buffer = borrow_buffer(data)?;
    let summary = if immutable(data, &buffer)? {
        let bytes = bytes_of(py, &buffer)?;
        let (ptr, len) = (bytes.as_ptr() as usize, bytes.len());
        py.detach(move || {
            // SAFETY: `ptr..ptr + len` are the bytes of `buffer`, whose export
            // is held until this function returns, so they stay allocated. They
            // belong to an immutable `bytes` or a read-only `mmap`, so no Python
            // thread can write them while the GIL is released (another process
            // writing the mapped file is outside any reader's control, as for
            // every mmap reader). The slice is rebuilt only because a reference
            // tied to the GIL token cannot cross into `detach`.
            let buf = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
            run(buf)
        })
    } else {
        run(bytes_of(py, &buffer)?)
    };
    let (offsets, lengths) = if collect {
        (Some(le_bytes(py, &offsets)?), Some(le_bytes(py, &lengths)?))
    } else {
        (None, None)
    };
    Ok((
        offsets,
        lengths,
        summary.frames,
        summary.payload_bytes,
        summary.stop,
        summary.status as u8,
        summary.detail_a,
        summary.detail_b,
    ))
}

/// Whether no Python code can change these bytes: the only buffers the GIL is
/// released over.
fn immutable(data: &Bound<'_, PyAny>, buffer: &PyBuffer<u8>) -> PyResult<bool> {
    if data.is_exact_instance_of::<PyBytes>() {
        return Ok(true);
    }
    let kind = data.get_type();
    Ok(buffer.readonly() && kind.module()? == "mmap" && kind.name()? == "mmap")
}
