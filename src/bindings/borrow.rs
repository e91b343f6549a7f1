//! Borrowing the bytes of Python objects for one call: what every binding
//! shares, so no binding imports another for it.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use std::sync::Arc;

use super::decoder::{borrow_buffer, FrameView, Storage};

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
    pub(crate) fn any(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Self> {
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
