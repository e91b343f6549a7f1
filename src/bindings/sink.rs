//! `FrameSink`: the per-message half of `flatstream.StreamWriter`, the twin
//! of `flatstream._kernels.pure.FrameSink`. A small payload (bytes or a
//! memoryview) is framed and handed to the sink's `write` here, with the
//! writer's counters and its stopped state, so a capture loop pays one call
//! per message; anything else (a larger payload, adapters, a custom checksum,
//! a payload over the limit, a stopped writer) goes to the Python writer's
//! `slow` path, which raises the usual errors. `write(item)` finds the
//! item's encoder in the writer's table (type -> encode) and frames what it
//! returns; a type not in the table goes to `slow_item`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyInterruptedError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, PyVisit};

use super::borrow::Borrowed;
use crate::checksum::Algorithm;
use crate::frame::{frame_at, frame_size};

#[pyclass(module = "flatstream._native", name = "FrameSink")]
pub struct FrameSink {
    algo: Algorithm,
    /// Payloads shorter than this are framed here; 0: none are.
    fast_below: usize,
    write: Option<Py<PyAny>>,
    slow: Option<Py<PyAny>>,
    write_all: Option<Py<PyAny>>,
    encoders: Option<Py<PyDict>>,
    slow_item: Option<Py<PyAny>>,
    frames: AtomicU64,
    nbytes: AtomicU64,
    /// Closed, or failed: every payload goes to the slow path, which refuses it.
    stopped: AtomicBool,
    closed: AtomicBool,
    failed: Mutex<Option<Py<PyAny>>>,
}

fn cleared() -> PyErr {
    PyValueError::new_err("this FrameSink was cleared by the garbage collector")
}

impl FrameSink {
    /// Hand `frame` to the sink: one `write` call, continued by `write_all`
    /// after a short or interrupted write. A failure stops the sink.
    fn put(&self, py: Python<'_>, frame: Bound<'_, PyBytes>) -> PyResult<()> {
        let (write, write_all) = match (&self.write, &self.write_all) {
            (Some(w), Some(a)) => (w.bind(py), a.bind(py)),
            _ => return Err(cleared()),
        };
        let size = frame.as_bytes().len();
        let outcome = match write.call1((&frame,)) {
            Ok(written) => {
                let complete =
                    written.is_none() || written.extract::<usize>().is_ok_and(|n| n == size);
                if complete {
                    Ok(())
                } else {
                    write_all.call1((write, &frame, written)).map(drop)
                }
            }
            Err(err) if err.is_instance_of::<PyInterruptedError>(py) => {
                write_all.call1((write, &frame)).map(drop)
            }
            Err(err) => Err(err),
        };
        match outcome {
            Ok(()) => {
                self.frames.fetch_add(1, Ordering::Relaxed);
                self.nbytes.fetch_add(size as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                self.fail(err.value(py).clone().into_any().unbind());
                Err(err)
            }
        }
    }

    /// The frame of `data` when this sink frames it itself.
    fn fast_frame<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.fast_below == 0 || self.stopped.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if !(data.is_exact_instance_of::<PyBytes>() || data.is_exact_instance_of::<PyMemoryView>())
        {
            return Ok(None);
        }
        let Some(borrowed) = Borrowed::of(data) else {
            return Ok(None);
        };
        let payload = borrowed.bytes(py);
        if payload.len() >= self.fast_below {
            return Ok(None);
        }
        let width = self.algo.width();
        let checksum = self.algo.compute(payload);
        let frame = PyBytes::new_with(py, frame_size(payload.len(), width), |out| {
            frame_at(out, payload, width, checksum);
            Ok(())
        })?;
        Ok(Some(frame))
    }
}

#[pymethods]
impl FrameSink {
    /// FrameSink(write, width, algorithm, fast_below, slow, write_all,
    /// encoders, slow_item): frames payloads shorter than `fast_below` bytes
    /// with `algorithm` and passes them to `write`; `slow(data)` handles
    /// every other payload. `write(item)` encodes with `encoders[type(item)]`,
    /// or hands the item to `slow_item(item)`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        write: Py<PyAny>,
        width: usize,
        algorithm: &str,
        fast_below: usize,
        slow: Py<PyAny>,
        write_all: Py<PyAny>,
        encoders: Py<PyDict>,
        slow_item: Py<PyAny>,
    ) -> PyResult<Self> {
        let algo = Algorithm::from_name(algorithm).ok_or_else(|| {
            PyValueError::new_err(format!("unknown checksum algorithm {algorithm:?}"))
        })?;
        if algo.width() != width {
            return Err(PyValueError::new_err("width does not match the algorithm"));
        }
        Ok(FrameSink {
            algo,
            // The format cannot carry more than u32::MAX bytes.
            fast_below: fast_below.min(u32::MAX as usize),
            write: Some(write),
            slow: Some(slow),
            write_all: Some(write_all),
            encoders: Some(encoders),
            slow_item: Some(slow_item),
            frames: AtomicU64::new(0),
            nbytes: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            failed: Mutex::new(None),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.write)?;
        visit.call(&self.slow)?;
        visit.call(&self.write_all)?;
        visit.call(&self.encoders)?;
        visit.call(&self.slow_item)?;
        if let Ok(failed) = self.failed.try_lock() {
            visit.call(&*failed)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.write = None;
        self.slow = None;
        self.write_all = None;
        self.encoders = None;
        self.slow_item = None;
        if let Ok(failed) = self.failed.get_mut() {
            *failed = None;
        }
    }

    /// Frame `data` and write it (see the class).
    fn write_payload(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Some(frame) = self.fast_frame(py, data)? {
            return self.put(py, frame);
        }
        match &self.slow {
            Some(slow) => slow.bind(py).call1((data,)).map(drop),
            None => Err(cleared()),
        }
    }

    /// Encode `item` with its type's encoder and write the payload.
    fn write(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let (Some(encoders), Some(slow_item)) = (&self.encoders, &self.slow_item) else {
            return Err(cleared());
        };
        match encoders.bind(py).get_item(item.get_type())? {
            Some(encode) => {
                let payload = encode.call1((item,))?;
                self.write_payload(py, &payload)
            }
            None => slow_item.bind(py).call1((item,)).map(drop),
        }
    }

    /// Count frames the slow path wrote (`nbytes` with their headers).
    fn count(&self, frames: u64, nbytes: u64) {
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.nbytes.fetch_add(nbytes, Ordering::Relaxed);
    }

    /// Stop after a failed write; `error` is what it raised.
    fn fail(&self, error: Py<PyAny>) {
        if let Ok(mut failed) = self.failed.lock() {
            *failed = Some(error);
        }
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Stop: the writer is closed.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Frames written (this sink's and the slow path's).
    #[getter]
    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Bytes written, headers included.
    #[getter]
    fn nbytes(&self) -> u64 {
        self.nbytes.load(Ordering::Relaxed)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The exception of the write that failed, or None.
    #[getter]
    fn failed(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let failed = self.failed.lock().ok()?;
        failed.as_ref().map(|e| e.clone_ref(py))
    }
}
