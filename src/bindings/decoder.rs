//! The native twin of `flatstream.wire.decoder.PyFrameDecoder`: same methods, same
//! events, same errors (built by the Python side's `make_error`, so messages
//! and fields are defined once). Iterating a decoder that has a `read`
//! callable runs entirely here: Python pays one `tp_iternext` per frame.
//!
//! Payloads are `FrameView`s: a small object with the buffer protocol over an
//! immutable chunk. Chunks are never written after a view of them exists (a
//! new chunk is built instead), so a view can never show another message's
//! bytes; `release_views` marks the previous view stale when the decoder
//! advances, which is the read-buffer contract of the Python API.
//!
//! Why one file of ~900 lines: `FrameDecoder` and `FrameView` share the chunk
//! storage and its safety argument (a view's bytes are never written while it
//! lives); keeping the two and that argument together keeps the proof local.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{
    PyBaseException, PyBlockingIOError, PyException, PyInterruptedError, PyRuntimeError,
    PyValueError,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::{PyTraverseError, PyVisit};

use crate::checksum::Algorithm;
use crate::scan::{read_le, step, Step, LENGTH_BYTES};

/// Bytes a decoder holds: its own, or a Python object's (borrowed through the
/// buffer protocol).
pub(crate) enum Storage {
    Owned(Vec<u8>),
    Borrowed(PyBuffer<u8>),
}

impl Storage {
    /// The bytes. Taking the GIL token ties the slice to a stretch of code that
    /// holds the GIL; callers run no Python code while they hold the slice.
    pub(crate) fn bytes<'a>(&'a self, _py: Python<'a>) -> &'a [u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Borrowed(b) => {
                if b.len_bytes() == 0 {
                    return &[];
                }
                // SAFETY: `PyBuffer::get` succeeded and checked the item format
                // ("B", size 1); `Borrowed` is only built from C-contiguous
                // buffers (checked in `borrow_buffer`). The export is held for
                // the life of `self`, so the exporter keeps the memory allocated
                // and unresized (bytearray refuses to resize while exported,
                // mmap refuses to close). Contents of a writable exporter can
                // only change when Python code runs, and the GIL token plus the
                // callers' rule above keep Python code from running while the
                // slice lives. Exercised by the test suite over bytes,
                // bytearray, memoryview slices, array and mmap sources.
                unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes()) }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Storage::Owned(v) => v.len(),
            Storage::Borrowed(b) => b.len_bytes(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Storage::Owned(v) => v.capacity(),
            // A chunk taken from the source: the decoder keeps it alive.
            Storage::Borrowed(b) => b.len_bytes(),
        }
    }
}

pub(crate) fn borrow_buffer(data: &Bound<'_, PyAny>) -> PyResult<PyBuffer<u8>> {
    let buf = PyBuffer::<u8>::get(data)?;
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err("buffer must be C-contiguous"));
    }
    Ok(buf)
}

/// Where a view's bytes are.
enum Chunk {
    /// Kept for the view's whole life: views of decoders that never release
    /// them (buffer sources, where the chunk is the source itself).
    Fixed(Arc<Storage>),
    /// Views of decoders that release them as they advance (file-likes):
    /// the chunk is let go at release once no buffer export of the view is
    /// left, so a stale payload still bound to a loop variable does not keep
    /// a large frame in memory while the next one is read.
    Releasable(Mutex<Option<Arc<Storage>>>),
}

/// Capacity for a chunk of `have` bytes when the frame being assembled takes
/// `pending` bytes: the whole frame when that is at most four times what has
/// arrived (so a claimed length alone never reserves more than that), which
/// keeps a large frame from being copied as its chunk doubles.
fn capacity_for(have: usize, pending: Option<usize>) -> usize {
    match pending {
        Some(frame) if frame > have => frame.min(have.saturating_mul(4)),
        _ => have,
    }
}

/// A payload: read-only bytes with the buffer protocol, `len`, `bytes()`,
/// slicing and equality, over a chunk it keeps alive.
#[pyclass(module = "flatstream._native", name = "FrameView", frozen)]
pub struct FrameView {
    chunk: Chunk,
    // Atomics only so that a decoder can point a view nobody else holds at
    // its next frame (see `FrameDecoder::recycled`); relaxed loads are plain
    // loads here.
    start: AtomicUsize,
    len: AtomicUsize,
    released: AtomicBool,
    /// Buffer exports alive (`__getbuffer__` minus `__releasebuffer__`).
    exports: AtomicUsize,
}

fn stale() -> PyErr {
    PyValueError::new_err(
        "operation forbidden on a released payload view: the reader has moved past \
         this message (keep bytes(payload) to hold on to it)",
    )
}

impl FrameView {
    fn new(storage: Arc<Storage>, start: usize, len: usize) -> Self {
        Self::with_chunk(Chunk::Fixed(storage), start, len)
    }

    fn releasable(storage: Arc<Storage>, start: usize, len: usize) -> Self {
        Self::with_chunk(Chunk::Releasable(Mutex::new(Some(storage))), start, len)
    }

    fn with_chunk(chunk: Chunk, start: usize, len: usize) -> Self {
        FrameView {
            chunk,
            start: AtomicUsize::new(start),
            len: AtomicUsize::new(len),
            released: AtomicBool::new(false),
            exports: AtomicUsize::new(0),
        }
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn range(&self) -> std::ops::Range<usize> {
        let start = self.start.load(Ordering::Relaxed);
        start..start + self.len()
    }

    /// The chunk of a view that keeps it for life.
    fn fixed(&self) -> Option<&Arc<Storage>> {
        match &self.chunk {
            Chunk::Fixed(storage) => Some(storage),
            Chunk::Releasable(_) => None,
        }
    }

    /// The bytes of an unreleased view, given to `f` (which runs no Python
    /// code: the chunk may be locked meanwhile).
    fn with_bytes<R>(&self, py: Python<'_>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
        self.check()?;
        match &self.chunk {
            Chunk::Fixed(storage) => Ok(f(&storage.bytes(py)[self.range()])),
            Chunk::Releasable(held) => {
                let held = held.lock().map_err(|_| stale())?;
                let storage = held.as_ref().ok_or_else(stale)?;
                Ok(f(&storage.bytes(py)[self.range()]))
            }
        }
    }

    /// For native consumers of a releasable view: its chunk (shared) and the
    /// payload's range in it; None once released.
    pub(crate) fn shared_chunk(&self) -> Option<(Arc<Storage>, std::ops::Range<usize>)> {
        if self.released.load(Ordering::Relaxed) {
            return None;
        }
        match &self.chunk {
            Chunk::Fixed(storage) => Some((Arc::clone(storage), self.range())),
            Chunk::Releasable(held) => {
                let held = held.lock().ok()?;
                Some((Arc::clone(held.as_ref()?), self.range()))
            }
        }
    }

    /// Mark the view stale, and let its chunk go when nothing exports it.
    fn retire(&self) {
        self.released.store(true, Ordering::Relaxed);
        self.drop_chunk_if_unexported();
    }

    fn drop_chunk_if_unexported(&self) {
        if let Chunk::Releasable(held) = &self.chunk {
            if self.exports.load(Ordering::Relaxed) == 0 {
                if let Ok(mut held) = held.lock() {
                    *held = None;
                }
            }
        }
    }

    fn check(&self) -> PyResult<()> {
        if self.released.load(Ordering::Relaxed) {
            return Err(stale());
        }
        Ok(())
    }

    /// The payload's bytes for a view that keeps its chunk for life, or None
    /// (released, or a releasable view: see `shared_chunk`). For native
    /// consumers such as the codecs, which otherwise take the buffer-protocol
    /// path and its error.
    pub(crate) fn payload<'a>(&'a self, py: Python<'a>) -> Option<&'a [u8]> {
        if self.released.load(Ordering::Relaxed) {
            return None;
        }
        self.fixed().map(|storage| &storage.bytes(py)[self.range()])
    }
}

#[pymethods]
impl FrameView {
    /// # Safety
    /// Called by CPython with a valid `view` to fill. The pointer handed out
    /// stays valid while the consumer holds the buffer: `PyBuffer_FillInfo`
    /// stores a new reference to this view in `view.obj`; the view keeps its
    /// chunk (`Arc<Storage>`) alive while an export is counted (a releasable
    /// view lets its chunk go only when `exports` is 0, and it is counted
    /// here before this returns, with no Python code run in between); and
    /// chunks are never written or resized once a view of them exists. The
    /// reference in `view.obj` also keeps a decoder from re-pointing this
    /// view at another frame while the buffer is exported (it recycles only
    /// views nobody else references). Exercised by tests/test_reader.py.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let ptr = this.with_bytes(slf.py(), |bytes| bytes.as_ptr())? as *mut std::os::raw::c_void;
        let len = this.len() as ffi::Py_ssize_t;
        this.exports.fetch_add(1, Ordering::Relaxed);
        // SAFETY: see above; FillInfo refuses writable requests (readonly = 1).
        if unsafe { ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr, len, 1, flags) } == -1 {
            this.exports.fetch_sub(1, Ordering::Relaxed);
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::Relaxed);
        if self.released.load(Ordering::Relaxed) {
            self.drop_chunk_if_unexported();
        }
    }

    fn __len__(&self) -> PyResult<usize> {
        self.check()?;
        Ok(self.len())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_bytes(py, |bytes| PyBytes::new(py, bytes))
    }

    /// The payload as `bytes` (a copy), as `memoryview.tobytes()`.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.__bytes__(py)
    }

    /// Indexing and slicing behave as on a memoryview of the payload.
    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.get().check()?;
        let view = slf
            .py()
            .import("builtins")?
            .getattr("memoryview")?
            .call1((slf,))?;
        view.get_item(index)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.check()?;
        let Ok(theirs) = PyBuffer::<u8>::get(other) else {
            return Ok(false);
        };
        let Ok(theirs) = theirs.to_vec(py) else {
            return Ok(false);
        };
        self.with_bytes(py, |bytes| bytes == theirs.as_slice())
    }

    /// Mark the view stale: every later use raises ValueError.
    fn release(&self) {
        self.retire();
    }

    #[getter]
    fn released(&self) -> bool {
        self.released.load(Ordering::Relaxed)
    }

    fn __repr__(&self) -> String {
        if self.released.load(Ordering::Relaxed) {
            "<released FrameView>".to_string()
        } else {
            format!("<FrameView of {} bytes>", self.len())
        }
    }
}

/// Decoder events and error constructors, from `flatstream.wire.decoder`.
struct Hooks {
    need_data: Py<PyAny>,
    end: Py<PyAny>,
    make_error: Py<PyAny>,
    flatstream_error: Py<PyAny>,
}

impl Hooks {
    fn load(py: Python<'_>) -> PyResult<Self> {
        let decoder = py.import("flatstream.wire.decoder")?;
        let errors = py.import("flatstream.errors")?;
        Ok(Hooks {
            need_data: decoder.getattr("NEED_DATA")?.unbind(),
            end: decoder.getattr("END")?.unbind(),
            make_error: decoder.getattr("make_error")?.unbind(),
            flatstream_error: errors.getattr("FlatstreamError")?.unbind(),
        })
    }
}

enum Event {
    Frame(Py<FrameView>),
    NeedData,
    End,
}

#[pyclass(module = "flatstream._native", name = "FrameDecoder")]
pub struct FrameDecoder {
    width: usize,
    verify: Option<Algorithm>,
    custom: Option<Py<PyAny>>,
    #[pyo3(get)]
    max_frame_len: u64,
    storage: Arc<Storage>,
    pos: usize,
    base: u64,
    eof: bool,
    borrowed: bool,
    error: Option<Py<PyAny>>,
    #[pyo3(get)]
    frame_offset: u64,
    /// Frames returned so far (the index of the next one).
    #[pyo3(get)]
    frames: u64,
    read: Option<Py<PyAny>>,
    chunk_size: usize,
    steps: Vec<Py<PyAny>>,
    release_views: bool,
    last_view: Option<Py<FrameView>>,
    /// An error `next_batch` met after some good frames: it returned those
    /// first, and the next pull raises this.
    pending: Option<Py<PyBaseException>>,
    hooks: Hooks,
    /// The last views the iteration fast path made. A loop that drops each
    /// payload before taking the next leaves one of them referenced by this
    /// decoder alone: it is pointed at the next frame instead of freeing it
    /// and allocating another (no one can observe the change: any holder,
    /// a buffer export included, would be a second reference).
    spares: [Option<Py<FrameView>>; 2],
    next_spare: usize,
}

impl FrameDecoder {
    fn build(
        py: Python<'_>,
        checksum: &Bound<'_, PyAny>,
        max_frame_len: u64,
        storage: Storage,
        steps: Vec<Py<PyAny>>,
    ) -> PyResult<Self> {
        let width: usize = checksum.getattr("width")?.extract()?;
        if width > 8 {
            return Err(PyValueError::new_err("checksum width must be 0 to 8 bytes"));
        }
        let builtin = checksum
            .getattr("kernel_builtin")
            .and_then(|b| b.is_truthy())
            .unwrap_or(false);
        let (mut verify, mut custom) = (None, None);
        if width > 0 {
            if builtin {
                let name: String = checksum.getattr("name")?.extract()?;
                verify = Algorithm::from_name(&name);
            } else {
                custom = Some(checksum.getattr("compute")?.unbind());
            }
        }
        Ok(FrameDecoder {
            width,
            verify,
            custom,
            max_frame_len: max_frame_len.min(u64::from(u32::MAX)),
            storage: Arc::new(storage),
            pos: 0,
            base: 0,
            eof: false,
            borrowed: false,
            error: None,
            frame_offset: 0,
            frames: 0,
            read: None,
            chunk_size: 256 * 1024,
            steps,
            release_views: false,
            last_view: None,
            pending: None,
            hooks: Hooks::load(py)?,
            spares: [None, None],
            next_spare: 0,
        })
    }

    /// A spare view of the current chunk that only this decoder references,
    /// pointed at `len` bytes from `start`.
    fn recycled(&self, py: Python<'_>, start: usize, len: usize) -> Option<Py<FrameView>> {
        let view = self.spares.iter().flatten().find(|view| {
            view.get_refcnt(py) == 1
                && view
                    .get()
                    .fixed()
                    .is_some_and(|storage| Arc::ptr_eq(storage, &self.storage))
        })?;
        let this = view.get();
        this.start.store(start, Ordering::Relaxed);
        this.len.store(len, Ordering::Relaxed);
        this.released.store(false, Ordering::Relaxed);
        Some(view.clone_ref(py))
    }

    /// Mark the last payload handed out stale (it lets go of its chunk).
    fn retire_last_view(&mut self) {
        if let Some(previous) = self.last_view.take() {
            previous.get().retire();
        }
    }

    fn keep_spare(&mut self, py: Python<'_>, view: &Py<FrameView>) {
        self.spares[self.next_spare] = Some(view.clone_ref(py));
        self.next_spare ^= 1;
    }

    fn header_len(&self) -> usize {
        LENGTH_BYTES + self.width
    }

    fn fail(&mut self, py: Python<'_>, kind: &str, a: u64, b: u64, offset: u64) -> PyErr {
        let available = self.storage.len() - self.pos;
        let made = self.hooks.make_error.bind(py).call1((
            kind,
            a,
            b,
            offset,
            self.width,
            available,
            self.frames,
        ));
        match made {
            Ok(error) => {
                self.error = Some(error.clone().unbind());
                PyErr::from_value(error)
            }
            Err(e) => e,
        }
    }

    /// One step of the state machine, with no Python code run while the
    /// chunk's bytes are borrowed (custom checksums run on the view after).
    fn decode(&mut self, py: Python<'_>) -> PyResult<Event> {
        if let Some(error) = &self.error {
            return Err(PyErr::from_value(error.bind(py).clone()));
        }
        let storage = Arc::clone(&self.storage);
        let here = self.base + self.pos as u64;
        let (payload, len, stored) = {
            let buf = storage.bytes(py);
            match step(buf, self.pos, self.width, self.verify, self.max_frame_len) {
                Step::Frame { payload, len } => {
                    let stored = self
                        .custom
                        .as_ref()
                        .map(|_| read_le(buf, self.pos + LENGTH_BYTES, self.width));
                    (payload, len, stored)
                }
                Step::Empty => {
                    return Ok(if self.eof {
                        Event::End
                    } else {
                        Event::NeedData
                    })
                }
                Step::Partial { needed } => {
                    if !self.eof {
                        return Ok(Event::NeedData);
                    }
                    let header = self.header_len() as u64;
                    return Err(self.fail(py, "eof", needed as u64, header, here));
                }
                Step::Limit { declared } => {
                    let limit = self.max_frame_len;
                    return Err(self.fail(py, "limit", declared, limit, here));
                }
                Step::Checksum { stored, calculated } => {
                    return Err(self.fail(py, "checksum", stored, calculated, here));
                }
            }
        };
        let view = if self.release_views {
            FrameView::releasable(storage, payload, len)
        } else {
            FrameView::new(storage, payload, len)
        };
        let view = Py::new(py, view)?;
        if let (Some(compute), Some(stored)) = (&self.custom, stored) {
            let value: u64 = compute.bind(py).call1((view.bind(py),))?.extract()?;
            let mask = if self.width == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * self.width)) - 1
            };
            if value & mask != stored {
                return Err(self.fail(py, "checksum", stored, value & mask, here));
            }
        }
        self.pos = payload + len;
        self.frame_offset = here;
        self.frames += 1;
        Ok(Event::Frame(view))
    }

    /// Runs the adapters on a decoded frame and retires the previous view.
    fn deliver(&mut self, py: Python<'_>, view: Py<FrameView>) -> PyResult<Py<FrameView>> {
        if self.release_views {
            self.retire_last_view();
            self.last_view = Some(view.clone_ref(py));
        }
        for adapter in &self.steps {
            if let Err(err) = adapter.bind(py).call1((view.bind(py),)) {
                let value = err.value(py);
                if value.is_instance(self.hooks.flatstream_error.bind(py))?
                    && value.getattr("offset")?.is_none()
                {
                    value.setattr("offset", self.frame_offset)?;
                    value.setattr("frame_index", self.frames.saturating_sub(1))?;
                }
                return Err(err);
            }
        }
        Ok(view)
    }

    fn fill(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(read) = self.read.as_ref().map(|r| r.clone_ref(py)) else {
            return Err(PyValueError::new_err(
                "this decoder has no source to read: feed() it, or feed_eof()",
            ));
        };
        // One chunk at a time, also for a frame larger than a chunk: `feed`
        // reserves its whole size, so no read is held beside a copy of it.
        let size = self.chunk_size.max(self.header_len());
        let data = loop {
            match read.bind(py).call1((size,)) {
                Ok(data) => break data,
                Err(e) if e.is_instance_of::<PyInterruptedError>(py) => py.check_signals()?,
                Err(e) => return Err(e),
            }
        };
        if data.is_none() {
            return Err(PyBlockingIOError::new_err(
                "the source is non-blocking and has no data now",
            ));
        }
        if data.len()? == 0 {
            self.eof = true;
            Ok(())
        } else {
            // The reader has moved past the last payload and new bytes came:
            // retire it first, so its chunk is reused or freed instead of
            // kept beside the next one (at the end of the input it stays).
            self.retire_last_view();
            self.feed(py, &data)
        }
    }

    fn pull(&mut self, py: Python<'_>) -> PyResult<Option<Py<FrameView>>> {
        if let Some(err) = self.pending.take() {
            return Err(PyErr::from_value(err.into_bound(py).into_any()));
        }
        loop {
            match self.decode(py)? {
                Event::Frame(view) => return self.deliver(py, view).map(Some),
                Event::End => return Ok(None),
                Event::NeedData => {
                    if self.read.is_none() {
                        return Ok(None);
                    }
                    self.fill(py)?;
                }
            }
        }
    }

    fn bytes_needed_inner(&self, py: Python<'_>) -> usize {
        if self.error.is_some() {
            return 0;
        }
        let buf = self.storage.bytes(py);
        let available = buf.len() - self.pos;
        match step(buf, self.pos, self.width, None, self.max_frame_len) {
            Step::Partial { needed } => needed - available,
            Step::Empty if !self.eof => self.header_len(),
            _ => 0,
        }
    }
}

#[pymethods]
impl FrameDecoder {
    // The decoder holds Python objects that can lead back to it (its sticky
    // error's traceback holds the frames of the reader that drives it, the
    // read callable and steps may be bound methods of its owner): without
    // these, such cycles are invisible to the garbage collector and leak with
    // their buffers (found by the decoder fuzz target).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.custom)?;
        visit.call(&self.error)?;
        visit.call(&self.read)?;
        for step in &self.steps {
            visit.call(step)?;
        }
        visit.call(&self.last_view)?;
        visit.call(&self.pending)?;
        for spare in &self.spares {
            visit.call(spare)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.custom = None;
        self.error = None;
        self.read = None;
        self.steps.clear();
        self.last_view = None;
        self.pending = None;
        self.spares = [None, None];
    }

    #[new]
    #[pyo3(signature = (checksum, max_frame_len, *, read=None, chunk_size=262144, steps=Vec::new(), release_views=false))]
    fn new(
        py: Python<'_>,
        checksum: &Bound<'_, PyAny>,
        max_frame_len: u64,
        read: Option<Py<PyAny>>,
        chunk_size: usize,
        steps: Vec<Py<PyAny>>,
        release_views: bool,
    ) -> PyResult<Self> {
        let mut decoder = Self::build(
            py,
            checksum,
            max_frame_len,
            Storage::Owned(Vec::new()),
            steps,
        )?;
        decoder.read = read;
        decoder.chunk_size = chunk_size.max(1);
        decoder.release_views = release_views;
        Ok(decoder)
    }

    /// A decoder over a complete buffer, borrowed without copying.
    #[staticmethod]
    #[pyo3(signature = (data, checksum, max_frame_len, *, steps=Vec::new()))]
    fn over(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        checksum: &Bound<'_, PyAny>,
        max_frame_len: u64,
        steps: Vec<Py<PyAny>>,
    ) -> PyResult<Self> {
        let storage = Storage::Borrowed(borrow_buffer(data)?);
        let mut decoder = Self::build(py, checksum, max_frame_len, storage, steps)?;
        decoder.borrowed = true;
        decoder.eof = true;
        Ok(decoder)
    }

    /// Add bytes that follow those already fed.
    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.borrowed || self.eof {
            return Err(PyRuntimeError::new_err(
                "cannot feed a decoder after the end of its input",
            ));
        }
        let incoming = match borrow_buffer(data) {
            Ok(buffer) => buffer,
            // Items wider than a byte (array('I'), numpy): take their bytes.
            Err(_) => borrow_buffer(
                &py.import("builtins")?
                    .getattr("memoryview")?
                    .call1((data,))?
                    .call_method1("cast", ("B",))?,
            )?,
        };
        if incoming.len_bytes() == 0 {
            return Ok(());
        }
        // Spare views would keep the old chunk alive and from growing in place.
        self.spares = [None, None];
        // The frame being assembled, if its header is in: its size from `pos`.
        let pending = match step(
            self.storage.bytes(py),
            self.pos,
            self.width,
            None,
            self.max_frame_len,
        ) {
            Step::Partial { needed } => Some(needed),
            _ => None,
        };
        let remaining = self.storage.len() - self.pos;
        let consumed = self.pos;
        if remaining == 0 && data.is_exact_instance_of::<PyBytes>() {
            // Immutable bytes can be borrowed as the next chunk: no copy at all.
            self.storage = Arc::new(Storage::Borrowed(incoming));
        } else if let Some(Storage::Owned(vec)) = Arc::get_mut(&mut self.storage) {
            // No view of this chunk exists: grow it in place (amortised).
            vec.drain(..consumed);
            let have = vec.len() + incoming.len_bytes();
            if vec.capacity() < have {
                let want = capacity_for(have, pending);
                vec.reserve_exact(want - vec.len());
            }
            vec.extend_from_slice(Storage::Borrowed(incoming).bytes(py));
        } else {
            let have = remaining + incoming.len_bytes();
            let mut vec = Vec::with_capacity(capacity_for(have, pending));
            vec.extend_from_slice(&self.storage.bytes(py)[consumed..]);
            vec.extend_from_slice(Storage::Borrowed(incoming).bytes(py));
            self.storage = Arc::new(Storage::Owned(vec));
        }
        self.base += consumed as u64;
        self.pos = 0;
        Ok(())
    }

    /// Declare that no more bytes will come.
    fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// The next payload, NEED_DATA or END; raises at a bad frame.
    fn next_frame(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.decode(py)? {
            Event::Frame(view) => Ok(self.deliver(py, view)?.into_any()),
            Event::NeedData => Ok(self.hooks.need_data.clone_ref(py)),
            Event::End => Ok(self.hooks.end.clone_ref(py)),
        }
    }

    /// The next payload, reading from the source as needed; None at the end.
    fn read(&mut self, py: Python<'_>) -> PyResult<Option<Py<FrameView>>> {
        self.pull(py)
    }

    /// Up to `n` payloads (fewer at the end of the input; empty at its end).
    fn next_batch<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let batch = PyList::empty(py);
        let release = std::mem::replace(&mut self.release_views, false);
        let result = (|| {
            while batch.len() < n {
                match self.pull(py) {
                    Ok(Some(view)) => batch.append(view)?,
                    Ok(None) => break,
                    // Frames before a bad one are all delivered: hand out the
                    // good ones now and raise the error on the next call.
                    Err(err) if !batch.is_empty() && err.is_instance_of::<PyException>(py) => {
                        self.pending = Some(err.into_value(py));
                        break;
                    }
                    Err(err) => return Err(err),
                }
            }
            Ok(batch)
        })();
        self.release_views = release;
        result
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<FrameView>>> {
        // The common case, decided without the general state machine: a
        // complete, valid frame and nothing to run on it.
        let plain = self.custom.is_none()
            && self.steps.is_empty()
            && !self.release_views
            && self.pending.is_none()
            && self.error.is_none();
        if plain {
            let at = self.pos;
            let found = step(
                self.storage.bytes(py),
                at,
                self.width,
                self.verify,
                self.max_frame_len,
            );
            if let Step::Frame { payload, len } = found {
                self.frame_offset = self.base + at as u64;
                self.frames += 1;
                self.pos = payload + len;
                if let Some(view) = self.recycled(py, payload, len) {
                    return Ok(Some(view));
                }
                let view = Py::new(py, FrameView::new(Arc::clone(&self.storage), payload, len))?;
                self.keep_spare(py, &view);
                return Ok(Some(view));
            }
        }
        self.pull(py)
    }

    /// Stream offset just past the last frame returned.
    #[getter]
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes held that are not yet part of a returned frame.
    #[getter]
    fn buffered(&self) -> usize {
        self.storage.len() - self.pos
    }

    /// Bytes of memory the decoder's own buffer occupies (0 when borrowing).
    #[getter]
    fn capacity(&self) -> usize {
        if self.borrowed {
            0
        } else {
            self.storage.capacity()
        }
    }

    /// How many more bytes the next frame needs at least (0 if none are).
    #[getter]
    fn bytes_needed(&self, py: Python<'_>) -> usize {
        self.bytes_needed_inner(py)
    }

    /// Move unconsumed bytes to a right-sized buffer; returns the bytes given up.
    fn reclaim(&mut self, py: Python<'_>) -> usize {
        if self.borrowed {
            return 0;
        }
        let before = self.capacity();
        self.spares = [None, None];
        let rest = self.storage.bytes(py)[self.pos..].to_vec();
        self.storage = Arc::new(Storage::Owned(rest));
        self.base += self.pos as u64;
        self.pos = 0;
        before.saturating_sub(self.capacity())
    }
}
