//! PyO3 bindings of the kernels. Signatures mirror `flatstream/_kernels/pure.py`.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use std::sync::Arc;

use pyo3::types::PyDict;

use crate::bulk::scan_all as scan_all_frames;
use crate::checksum::Algorithm;
use crate::frame::{frame_at, frame_size};
use crate::pydecoder::{borrow_buffer, FrameView, Storage};
use crate::scan::scan as scan_frames;

/// Borrows the bytes behind a buffer-protocol object.
pub(crate) fn bytes_of<'a>(_py: Python<'a>, buf: &'a PyBuffer<u8>) -> PyResult<&'a [u8]> {
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err("buffer must be C-contiguous"));
    }
    // SAFETY: `PyBuffer::get` succeeded, so `buf_ptr()` points to `len_bytes()`
    // initialised bytes that stay allocated while `buf` holds the export (the
    // exporter may not resize or free them meanwhile: a bytearray refuses to
    // resize while exported, mmap refuses to close). The buffer is C-contiguous
    // with item size 1 (`PyBuffer<u8>` checks the format), so the bytes form one
    // slice. The returned lifetime is tied to both `buf` and the GIL token: no
    // Python code runs while the slice is alive, so nothing writes through
    // another view meanwhile. A zero-length buffer may carry a dangling pointer,
    // so it is answered with an empty slice instead. Exercised by the Python
    // test suite over bytes, bytearray, memoryview slices and mmap.
    if buf.len_bytes() == 0 {
        return Ok(&[]);
    }
    Ok(unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) })
}

/// Whether the namespace of `flatstream._kernels` (`kernels`) selects the
/// native twin `name` now: it holds None there while the pure-Python twins
/// are selected. Native objects that hand over to their pure twin look this
/// up at each call, like every kernel (a dict lookup).
pub(crate) fn native_selected(
    kernels: &Bound<'_, PyDict>,
    name: &Bound<'_, PyString>,
) -> PyResult<bool> {
    Ok(kernels
        .get_item(name)?
        .is_some_and(|kernel| !kernel.is_none()))
}

fn algorithm(name: &str) -> PyResult<Algorithm> {
    Algorithm::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown checksum algorithm {name:?}")))
}

/// checksum(name, data) -> int: the checksum of `data` with a built-in algorithm.
#[pyfunction]
fn checksum(py: Python<'_>, name: &str, data: PyBuffer<u8>) -> PyResult<u64> {
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
fn scan<'py>(
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

/// The bytes of a Python object, borrowed for one call: `bytes` and a
/// reader's `FrameView` are read in place (no buffer export to allocate),
/// anything else through the byte buffer protocol.
pub(crate) enum Borrowed<'py> {
    Bytes(Bound<'py, PyBytes>),
    View(Bound<'py, FrameView>),
    /// A releasable view's chunk, shared for the borrow, and the payload's range.
    Chunk(Arc<Storage>, std::ops::Range<usize>),
    Buffer(PyBuffer<u8>),
}

impl<'py> Borrowed<'py> {
    /// None when `obj` has no C-contiguous byte buffer, or is a released view
    /// (callers then take a path that raises the object's own error).
    pub(crate) fn of(obj: &Bound<'py, PyAny>) -> Option<Self> {
        if let Ok(bytes) = obj.cast_exact::<PyBytes>() {
            return Some(Borrowed::Bytes(bytes.clone()));
        }
        if let Ok(view) = obj.cast_exact::<FrameView>() {
            if view.get().payload(obj.py()).is_some() {
                return Some(Borrowed::View(view.clone()));
            }
            if let Some((chunk, range)) = view.get().shared_chunk() {
                return Some(Borrowed::Chunk(chunk, range));
            }
        }
        borrow_buffer(obj).ok().map(Borrowed::Buffer)
    }

    /// Like `of`, but items wider than a byte (`array('I')`, numpy) lend their
    /// bytes, and an object without a buffer raises its error.
    fn any(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Some(borrowed) = Borrowed::of(obj) {
            return Ok(borrowed);
        }
        let bytes = py
            .import("builtins")?
            .getattr("memoryview")?
            .call1((obj,))?
            .call_method1("cast", ("B",))?;
        Ok(Borrowed::Buffer(borrow_buffer(&bytes)?))
    }

    /// The bytes, valid while no Python code runs (which could release a view
    /// or write through another export).
    pub(crate) fn bytes<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        match self {
            Borrowed::Bytes(b) => b.as_bytes(),
            // Checked unreleased in `of`.
            Borrowed::View(v) => v.get().payload(py).unwrap_or_default(),
            Borrowed::Chunk(chunk, range) => &chunk.bytes(py)[range.clone()],
            // Checked C-contiguous in `borrow_buffer`.
            Borrowed::Buffer(b) => bytes_of(py, b).unwrap_or_default(),
        }
    }
}

/// (frames, None), or (None, index of the first payload over the limit).
type FrameManyResult<'py> = (Option<Bound<'py, PyBytes>>, Option<usize>);

/// frame_many(payloads, width, algorithm, max_len) -> (bytes, None), or
/// (None, index) when payload `index` is longer than `max_len`: every payload
/// framed, back to back, in one buffer written in place.
#[pyfunction]
fn frame_many<'py>(
    py: Python<'py>,
    payloads: &Bound<'py, PyAny>,
    width: usize,
    algorithm_name: &str,
    max_len: u64,
) -> PyResult<FrameManyResult<'py>> {
    let algo = algorithm(algorithm_name)?;
    if algo.width() != width {
        return Err(PyValueError::new_err("width does not match the algorithm"));
    }
    let max_len = max_len.min(u64::from(u32::MAX));
    if let Ok(list) = payloads.cast_exact::<PyList>() {
        if let Some(framed) = frame_bytes_list(list, width, algo, max_len)? {
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
    let out = PyBytes::new_with(py, total, |out| {
        let mut at = 0;
        for bytes in &slices {
            at += frame_at(&mut out[at..], bytes, width, algo.compute(bytes));
        }
        Ok(())
    })?;
    Ok((Some(out), None))
}

/// `frame_many` of a list of `bytes` (the usual batch), read straight from
/// the list in two passes instead of keeping a borrow per item (the list
/// keeps them alive): 12 against 44 ns a 24-byte payload here. None when an
/// item is anything else.
fn frame_bytes_list<'py>(
    list: &Bound<'py, PyList>,
    width: usize,
    algo: Algorithm,
    max_len: u64,
) -> PyResult<Option<FrameManyResult<'py>>> {
    let mut total = 0usize;
    for (index, item) in list.iter().enumerate() {
        let Ok(bytes) = item.cast_exact::<PyBytes>() else {
            return Ok(None);
        };
        let len = bytes.as_bytes().len();
        if len as u64 > max_len {
            return Ok(Some((None, Some(index))));
        }
        total += frame_size(len, width);
    }
    // No Python code runs between the passes (the GIL is held throughout),
    // so the list holds the same `bytes` in the second pass; checked anyway.
    let out = PyBytes::new_with(list.py(), total, |out| {
        let mut at = 0;
        for item in list.iter() {
            let bytes = item.cast_exact::<PyBytes>()?.as_bytes();
            if at + frame_size(bytes.len(), width) > out.len() {
                return Err(PyRuntimeError::new_err(
                    "the list changed while it was framed",
                ));
            }
            at += frame_at(&mut out[at..], bytes, width, algo.compute(bytes));
        }
        Ok(())
    })?;
    Ok(Some((Some(out), None)))
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
fn scan_all<'py>(
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(checksum, m)?)?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(frame_many, m)?)?;
    m.add_class::<crate::pysink::FrameSink>()?;
    m.add_function(wrap_pyfunction!(scan_all, m)?)?;
    m.add_class::<crate::pydecoder::FrameDecoder>()?;
    m.add_class::<crate::pydecoder::FrameView>()?;
    m.add_class::<crate::pycodec::TableCodec>()?;
    m.add_class::<crate::pyverifier::SchemaVerifier>()?;
    m.add_class::<crate::pycolumnar::ColumnarDecoder>()?;
    m.add_class::<crate::pycolumnar::ColumnarEncoder>()?;
    Ok(())
}
