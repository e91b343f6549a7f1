//! `TableCodec`: the native twin of a generated root codec for a table of
//! scalars and structs (see `codec.rs`). `flatstream.schema._native` compiles
//! the layout from the schema model and hands over the generated pure-Python
//! encoder and decoder: whatever this code does not handle natively (a value
//! of another type, out of range, a payload without the byte buffer protocol)
//! goes to them, so results and errors are the pure codec's.
//!
//! Why one file of ~800 lines: it is one Python class, `TableCodec`, whose
//! encode and decode share its compiled steps and its hand-over to the pure
//! codec; PyO3 puts a class's methods in one `#[pymethods]` block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use super::borrow::{native_selected, Borrowed};
use crate::codec::{locate, plan, DoesNotFit, Field, Kind, Plan, Raw, Scalar, StructLayout};

/// Plans kept per codec (one per set of present fields); past that, planned per call.
const PLAN_CACHE_LIMIT: usize = 256;

/// One table field as the Python side describes it.
struct FieldInfo {
    name: Py<PyString>,
    optional: bool,
    /// The default a present scalar is compared with (None: optional or struct).
    default: Option<Raw>,
    /// int -> enum member (a dict, or a dict subclass with its own `get`).
    enum_map: Option<Py<PyAny>>,
    /// Per struct scalar: the path from the struct object to it.
    paths: Vec<Vec<Step>>,
    /// Builds the struct object from its flattened scalars.
    maker: Option<Py<PyAny>>,
}

/// One step from a struct object towards one of its scalars.
enum Step {
    /// An attribute (a struct field).
    Attr(Py<PyString>),
    /// Item `index` of a fixed-length array of `length` items: a list or
    /// tuple of exactly that length (anything else goes to the pure encoder,
    /// which converts it or names the field in its error).
    Index(usize, usize),
}

impl Step {
    /// From the Python side's path element: a name, or `(index, length)`.
    fn from_py(step: &Bound<'_, PyAny>) -> PyResult<Step> {
        if let Ok(name) = step.cast::<PyString>() {
            return Ok(Step::Attr(name.clone().unbind()));
        }
        let (index, length): (usize, usize) = step.extract()?;
        if index >= length {
            return Err(PyValueError::new_err("an array index is past its array"));
        }
        Ok(Step::Index(index, length))
    }

    /// The next object on the path, or None when the pure encoder must decide.
    fn take<'py>(&self, v: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
        match self {
            Step::Attr(name) => v.getattr(name.bind(v.py())).ok(),
            Step::Index(index, length) => {
                if let Ok(list) = v.cast_exact::<PyList>() {
                    (list.len() == *length).then(|| list.get_item(*index).ok())?
                } else if let Ok(tuple) = v.cast_exact::<PyTuple>() {
                    (tuple.len() == *length).then(|| tuple.get_item(*index).ok())?
                } else {
                    None
                }
            }
        }
    }
}

/// (size, align, [(offset, code, path)]) of a struct field; a path element
/// is an attribute name or an `(index, length)` into a fixed-length array.
type StructTuple<'py> = (usize, usize, Vec<(usize, String, Vec<Bound<'py, PyAny>>)>);

/// A field as `TableCodec(fields=...)` takes it (see `TableCodec::new`).
type FieldTuple<'py> = (
    Bound<'py, PyString>,
    usize,
    Option<String>,
    Bound<'py, PyAny>,
    bool,
    Option<Py<PyAny>>,
    Option<StructTuple<'py>>,
    Option<Py<PyAny>>,
);

#[pyclass(module = "flatstream._native", name = "TableCodec", frozen)]
pub struct TableCodec {
    fields: Vec<Field>,
    info: Vec<FieldInfo>,
    /// Per argument of `cls(...)`: the field index, or -1 and the value to pass.
    args: Vec<(isize, Py<PyAny>)>,
    cls: Py<PyAny>,
    decode_error: Py<PyAny>,
    pure_encode: Py<PyAny>,
    pure_decode: Py<PyAny>,
    slots: usize,
    ident: Vec<u8>,
    max_size: usize,
    force_defaults: bool,
    full_mask: u64,
    full: Arc<Plan>,
    plans: Mutex<HashMap<u64, Arc<Plan>>>,
    /// Scalars (flattened through structs) per field.
    counts: Vec<usize>,
    /// Encoding objects of exactly this class: each field's slot offset.
    encode_slots: Option<(Py<PyAny>, Vec<isize>)>,
    /// Decoding into `cls` by filling its slots (per argument), not calling it.
    decode_slots: Option<Vec<isize>>,
    /// Decoding into a plain dataclass: `object.__new__` and the attribute
    /// names (per argument) its generated `__init__` would set.
    decode_attributes: Option<Vec<Py<PyString>>>,
    /// Buffers reused from call to call.
    scratch: Mutex<Scratch>,
    /// The namespace of `flatstream._kernels`: `encode`/`decode` hand over to
    /// the pure codec while its `TableCodec` is None, decided at each call
    /// like every kernel (a dict lookup, cheaper than a module attribute).
    kernels: Py<PyDict>,
    /// `verify(payload)`: the codec's verifier, run before decoding when
    /// `decode(payload, verify=True)` asks for it (raises VerificationError).
    verify: Option<Py<PyAny>>,
}

/// The instance offsets of `__slots__` members `descriptors` of class `cls`,
/// or None unless each is a writable object slot inside `cls`'s instances
/// (checked here: the Python side's choice is not trusted with memory).
fn slot_offsets(
    py: Python<'_>,
    cls: &Bound<'_, PyAny>,
    descriptors: &[Bound<'_, PyAny>],
) -> PyResult<Option<Vec<isize>>> {
    let member_type = py.import("types")?.getattr("MemberDescriptorType")?;
    let Ok(cls_type) = cls.cast::<PyType>() else {
        return Ok(None);
    };
    let tp = cls_type.as_type_ptr();
    let mut offsets = Vec::with_capacity(descriptors.len());
    for desc in descriptors {
        if !desc.get_type().is(&member_type) {
            return Ok(None);
        }
        // SAFETY: `desc` is exactly a member_descriptor (checked above), whose C
        // layout is PyMemberDescrObject: the common descriptor header, then a
        // pointer to its PyMemberDef (pyo3-ffi types that field as
        // PyGetSetDef, hence the cast). `tp` is a live type object (`cls`
        // holds it).
        let (def, owner, basicsize) = unsafe {
            let d = desc.as_ptr() as *mut ffi::PyMemberDescrObject;
            (
                &*((*d).d_member as *const ffi::PyMemberDef),
                (*d).d_common.d_type,
                (*tp).tp_basicsize,
            )
        };
        let is_subtype = unsafe { ffi::PyType_IsSubtype(tp, owner) } != 0;
        let size = std::mem::size_of::<*mut ffi::PyObject>() as isize;
        if def.type_code != ffi::Py_T_OBJECT_EX
            || def.flags & ffi::Py_READONLY != 0
            || !is_subtype
            || def.offset < std::mem::size_of::<ffi::PyObject>() as isize
            || def.offset + size > basicsize
        {
            return Ok(None);
        }
        offsets.push(def.offset);
    }
    Ok(Some(offsets))
}

/// Whether `cls` is a type whose base chain, up to `object`, is made only of
/// heap (Python-defined) classes: then `object`'s `tp_new` is the one
/// `object.__new__(cls)` runs, with nothing a C base would initialise.
fn only_python_classes_over_object(cls: &Bound<'_, PyAny>) -> bool {
    let Ok(cls) = cls.cast::<PyType>() else {
        return false;
    };
    // SAFETY: `tp` starts as a live type object (`cls` holds it) and each
    // `tp_base` of a live type is a live type or NULL (bases are kept alive
    // by their subclasses).
    unsafe {
        let object_type = std::ptr::addr_of_mut!(ffi::PyBaseObject_Type);
        let mut tp = cls.as_type_ptr();
        while !tp.is_null() && tp != object_type {
            if ffi::PyType_GetFlags(tp) & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
                return false;
            }
            tp = (*tp).tp_base;
        }
        tp == object_type
    }
}

fn scalar_of(code: &str) -> PyResult<Scalar> {
    let mut chars = code.chars();
    match (chars.next().and_then(Scalar::from_code), chars.next()) {
        (Some(s), None) => Ok(s),
        _ => Err(PyValueError::new_err(format!(
            "unknown scalar code {code:?}"
        ))),
    }
}

/// An integer (`int` or a subclass such as an `IntEnum` member) as i128.
fn int_of(obj: &Bound<'_, PyAny>) -> Option<i128> {
    if let Ok(v) = obj.extract::<i64>() {
        return Some(v.into());
    }
    obj.extract::<u64>().ok().map(i128::from)
}

/// A value the native path packs exactly as `struct.pack` would, or None
/// (the pure codec then decides: it may still pack it, or raise).
fn raw_of(obj: &Bound<'_, PyAny>, ty: Scalar) -> Option<Raw> {
    if ty.is_float() {
        if let Ok(f) = obj.cast::<PyFloat>() {
            return Some(Raw::Float(f.value()));
        }
        if obj.is_instance_of::<PyInt>() {
            // Exact as a double: Python's int/float comparison with the
            // default and struct's conversion then agree with ours.
            let v = int_of(obj)?;
            if v.unsigned_abs() <= 1 << 53 {
                return Some(Raw::Float(v as f64));
            }
        }
        return None;
    }
    if obj.is_instance_of::<PyInt>() {
        return int_of(obj).map(Raw::Int);
    }
    None
}

fn differs(value: Raw, default: Raw) -> bool {
    match (value, default) {
        (Raw::Float(a), Raw::Float(b)) => a != b,
        (Raw::Int(a), Raw::Int(b)) => a != b,
        (Raw::Bool(a), Raw::Int(b)) | (Raw::Int(b), Raw::Bool(a)) => i128::from(a) != b,
        (Raw::Bool(a), Raw::Bool(b)) => a != b,
        (Raw::Float(a), Raw::Int(b)) | (Raw::Int(b), Raw::Float(a)) => a != b as f64,
        (Raw::Float(a), Raw::Bool(b)) | (Raw::Bool(b), Raw::Float(a)) => {
            a != f64::from(u8::from(b))
        }
    }
}

/// A value from Python for a default (int, float or bool).
fn default_of(obj: &Bound<'_, PyAny>, ty: Scalar) -> PyResult<Raw> {
    if ty.is_float() {
        return Ok(Raw::Float(obj.extract::<f64>()?));
    }
    int_of(obj)
        .map(Raw::Int)
        .ok_or_else(|| PyValueError::new_err("an integer default does not fit 64 bits"))
}

fn raw_to_py<'py>(py: Python<'py>, raw: Raw) -> PyResult<Bound<'py, PyAny>> {
    Ok(match raw {
        Raw::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
        Raw::Float(f) => PyFloat::new(py, f).into_any(),
        Raw::Int(i) => match i64::try_from(i) {
            Ok(v) => v.into_pyobject(py)?.into_any(),
            Err(_) => (i as u64).into_pyobject(py)?.into_any(),
        },
    })
}

impl TableCodec {
    fn plan_for(&self, mask: u64) -> Arc<Plan> {
        if mask == self.full_mask {
            return self.full.clone();
        }
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = plans.get(&mask) {
            return p.clone();
        }
        let p = Arc::new(plan(&self.fields, mask, self.slots, &self.ident));
        if plans.len() < PLAN_CACHE_LIMIT {
            plans.insert(mask, p.clone());
        }
        p
    }

    /// The values of `obj`'s fields, or None when the pure encoder must decide.
    fn gather(&self, obj: &Bound<'_, PyAny>, raws: &mut Vec<Raw>) -> Option<u64> {
        raws.clear();
        let mut mask = 0u64;
        let slots = match &self.encode_slots {
            Some((cls, offsets)) if obj.get_type().is(cls.bind(obj.py())) => Some(offsets),
            _ => None,
        };
        for (n, (field, info)) in self.fields.iter().zip(&self.info).enumerate() {
            let value = match slots {
                // SAFETY: `obj` is exactly the class whose slot offsets
                // `slot_offsets` checked (object slots inside its instances);
                // the slot holds a borrowed reference or NULL (unset), and
                // `from_borrowed_ptr_or_opt` takes a new reference at once.
                Some(offsets) => unsafe {
                    let at =
                        (obj.as_ptr() as *const u8).offset(offsets[n]) as *const *mut ffi::PyObject;
                    Bound::from_borrowed_ptr_or_opt(obj.py(), *at)?
                },
                None => obj.getattr(info.name.bind(obj.py())).ok()?,
            };
            match &field.kind {
                Kind::Scalar(ty) => {
                    if info.optional && value.is_none() {
                        raws.push(Raw::Int(0));
                        continue;
                    }
                    let raw = raw_of(&value, *ty)?;
                    let present = match info.default {
                        Some(d) if !self.force_defaults => differs(raw, d),
                        _ => true,
                    };
                    if present {
                        mask |= 1 << n;
                    }
                    raws.push(raw);
                }
                Kind::Struct(layout) => {
                    if value.is_none() {
                        raws.resize(raws.len() + layout.scalars.len(), Raw::Int(0));
                        continue;
                    }
                    mask |= 1 << n;
                    for (path, (_, ty)) in info.paths.iter().zip(&layout.scalars) {
                        let mut v = value.clone();
                        for step in path {
                            v = step.take(&v)?;
                        }
                        raws.push(raw_of(&v, *ty)?);
                    }
                }
            }
        }
        Some(mask)
    }

    fn write(
        &self,
        plan: &Plan,
        raws: &[Raw],
        mask: u64,
        out: &mut [u8],
    ) -> Result<(), DoesNotFit> {
        out.copy_from_slice(&plan.template);
        let mut k = 0;
        for (n, field) in self.fields.iter().enumerate() {
            let count = self.counts[n];
            if mask >> n & 1 == 1 {
                let at = plan.positions[n].ok_or(DoesNotFit)?;
                match &field.kind {
                    Kind::Scalar(ty) => raws[k].write(*ty, &mut out[at..at + ty.size()])?,
                    Kind::Struct(layout) => {
                        for (raw, (offset, ty)) in raws[k..k + count].iter().zip(&layout.scalars) {
                            let start = at + offset;
                            raw.write(*ty, &mut out[start..start + ty.size()])?;
                        }
                    }
                }
            }
            k += count;
        }
        Ok(())
    }

    fn encode_one<'py>(
        &self,
        obj: &Bound<'py, PyAny>,
        raws: &mut Vec<Raw>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = obj.py();
        if let Some(mask) = self.gather(obj, raws) {
            let plan = self.plan_for(mask);
            let mut fits = true;
            let bytes = PyBytes::new_with(py, plan.template.len(), |out| {
                fits = self.write(&plan, raws, mask, out).is_ok();
                Ok(())
            })?;
            if fits {
                return Ok(bytes.into_any());
            }
        }
        self.pure_encode.bind(py).call1((obj,))
    }

    /// Every field's raw values (absent: none), read while the bytes are held.
    fn read_raws(&self, buf: &[u8], scratch: &mut Scratch) -> Result<(), String> {
        locate(buf, &self.fields, self.max_size, &mut scratch.positions).map_err(|e| e.0)?;
        scratch.raws.clear();
        scratch.present.clear();
        for (field, at) in self.fields.iter().zip(&scratch.positions) {
            let Some(at) = *at else {
                scratch.present.push(None);
                continue;
            };
            scratch.present.push(Some(scratch.raws.len()));
            // `locate` checked that the field's bytes are inside `buf`.
            match &field.kind {
                Kind::Scalar(ty) => scratch.raws.push(Raw::read(*ty, &buf[at..])),
                Kind::Struct(layout) => {
                    for (offset, ty) in &layout.scalars {
                        scratch.raws.push(Raw::read(*ty, &buf[at + offset..]));
                    }
                }
            }
        }
        Ok(())
    }

    /// The decoded value of present field `n`, whose raws start at `start`.
    fn field_value<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        raws: &[Raw],
        start: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let info = &self.info[n];
        match &self.fields[n].kind {
            Kind::Scalar(_) => {
                let v = raw_to_py(py, raws[start])?;
                match &info.enum_map {
                    None => Ok(v),
                    Some(map) => {
                        let map = map.bind(py);
                        match map.cast_exact::<PyDict>() {
                            Ok(dict) => Ok(dict.get_item(&v)?.unwrap_or(v)),
                            Err(_) => map.call_method1("get", (&v, &v)),
                        }
                    }
                }
            }
            Kind::Struct(layout) => {
                let items = raws[start..start + layout.scalars.len()]
                    .iter()
                    .map(|r| raw_to_py(py, *r))
                    .collect::<PyResult<Vec<_>>>()?;
                let maker = info.maker.as_ref().expect("struct fields have a maker");
                maker.bind(py).call1(PyTuple::new(py, items)?)
            }
        }
    }

    /// The value of argument `index` of the class (a field index, or -1).
    fn arg_value<'py>(
        &self,
        py: Python<'py>,
        index: isize,
        absent: &Py<PyAny>,
        scratch: &Scratch,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(n) = usize::try_from(index) {
            if let Some(start) = scratch.present[n] {
                return self.field_value(py, n, &scratch.raws, start);
            }
        }
        Ok(absent.bind(py).clone())
    }

    /// Run the verifier `decode(..., verify=True)` asks for (an error if the
    /// codec was made without one: verifying cannot be skipped silently).
    fn verify_first(&self, payload: &Bound<'_, PyAny>) -> PyResult<()> {
        match &self.verify {
            Some(verify) => verify.bind(payload.py()).call1((payload,)).map(|_| ()),
            None => Err(PyValueError::new_err("this codec has no verifier to run")),
        }
    }

    /// Whether `flatstream._kernels` selects the pure-Python twins now.
    fn pure_selected(&self, py: Python<'_>) -> PyResult<bool> {
        native_selected(self.kernels.bind(py), pyo3::intern!(py, "TableCodec")).map(|n| !n)
    }

    fn decode_one<'py>(
        &self,
        payload: &Bound<'py, PyAny>,
        scratch: &mut Scratch,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = payload.py();
        let Some(held) = Borrowed::of(payload) else {
            return self.pure_decode.bind(py).call1((payload,));
        };
        let result = self.read_raws(held.bytes(py), scratch);
        drop(held);
        if let Err(message) = result {
            let error = self
                .decode_error
                .bind(py)
                .call1((format!("cannot decode a table: {message}"),))?;
            return Err(PyErr::from_value(error));
        }
        let cls = self.cls.bind(py);
        if let Some(offsets) = &self.decode_slots {
            // SAFETY: `cls` is a type (checked in `slot_offsets`) whose
            // `__init__` only stores each argument in its slot (the Python
            // side passes `decode_slots` only for classes it made so). A new
            // instance from `tp_alloc` has every slot NULL; each store moves
            // one owned reference into an empty slot inside the instance
            // (offsets checked against the basic size). On an error the
            // instance is dropped with the slots filled so far.
            unsafe {
                let tp = cls.as_ptr() as *mut ffi::PyTypeObject;
                let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
                let raw = alloc(tp, 0);
                if raw.is_null() {
                    return Err(PyErr::fetch(py));
                }
                let instance = Bound::from_owned_ptr(py, raw);
                for ((index, absent), offset) in self.args.iter().zip(offsets) {
                    let value = self.arg_value(py, *index, absent, scratch)?;
                    let at = (raw as *mut u8).offset(*offset) as *mut *mut ffi::PyObject;
                    *at = value.into_ptr();
                }
                return Ok(instance);
            }
        }
        if let Some(names) = &self.decode_attributes {
            // The stores `cls(*args)` would make in its generated `__init__`,
            // without running a Python frame for them.
            // SAFETY: `cls` is a type whose bases, up to `object`, are all
            // heap (Python-defined) classes (`only_python_classes_over_object`,
            // checked when this codec was made; the class's bases cannot be
            // changed to a static type's afterwards, CPython refuses a layout
            // change). For such a type, `object.__new__(cls)` checks its
            // arguments and calls `object`'s `tp_new` with `cls` and an empty
            // tuple, which is what this does; the result is a new reference
            // or NULL with an exception set.
            let instance = unsafe {
                let object_type = std::ptr::addr_of_mut!(ffi::PyBaseObject_Type);
                let Some(new) = (*object_type).tp_new else {
                    return Err(PyValueError::new_err("object has no tp_new"));
                };
                let empty = PyTuple::empty(py);
                let raw = new(
                    cls.as_ptr() as *mut ffi::PyTypeObject,
                    empty.as_ptr(),
                    std::ptr::null_mut(),
                );
                Bound::from_owned_ptr_or_err(py, raw)?
            };
            for ((index, absent), name) in self.args.iter().zip(names) {
                instance.setattr(name.bind(py), self.arg_value(py, *index, absent, scratch)?)?;
            }
            return Ok(instance);
        }
        let mut args = Vec::with_capacity(self.args.len());
        for (index, absent) in &self.args {
            args.push(self.arg_value(py, *index, absent, scratch)?);
        }
        cls.call1(PyTuple::new(py, args)?)
    }
}

/// Buffers one decode reuses (one set per batch).
#[derive(Default)]
struct Scratch {
    raws: Vec<Raw>,
    present: Vec<Option<usize>>,
    positions: Vec<Option<usize>>,
}

#[pymethods]
impl TableCodec {
    /// TableCodec(fields, cls, args, decode_error, pure_encode, pure_decode,
    /// slots, ident, max_size, force_defaults). `fields`: per field in id order,
    /// (name, id, code, default, optional, enum_map, struct, maker) where `code`
    /// is a `struct` character (None for a struct), `struct` is (size, align,
    /// [(offset, code, attribute path)]); `args`: per argument of `cls`,
    /// (field index or -1, the value when absent). `encode_slots`: (a class,
    /// the member descriptors of the fields' `__slots__`) to read objects of
    /// exactly that class without `getattr`; `decode_slots`: the descriptors
    /// of `cls`'s arguments when `cls(*args)` only stores them in those slots;
    /// `decode_attributes`: the argument names when `cls(*args)` only sets
    /// each as an attribute (a plain dataclass). `verify`: the callable
    /// `decode(payload, verify=True)` runs first.
    #[new]
    #[pyo3(signature = (
        fields, cls, args, decode_error, pure_encode, pure_decode, slots, ident, max_size,
        force_defaults, encode_slots, decode_slots, decode_attributes, verify=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        fields: Vec<Bound<'_, PyTuple>>,
        cls: Bound<'_, PyAny>,
        args: Vec<(isize, Py<PyAny>)>,
        decode_error: Py<PyAny>,
        pure_encode: Py<PyAny>,
        pure_decode: Py<PyAny>,
        slots: usize,
        ident: Vec<u8>,
        max_size: usize,
        force_defaults: bool,
        encode_slots: Option<(Bound<'_, PyAny>, Vec<Bound<'_, PyAny>>)>,
        decode_slots: Option<Vec<Bound<'_, PyAny>>>,
        decode_attributes: Option<Vec<Bound<'_, PyString>>>,
        verify: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let py = cls.py();
        if fields.is_empty() || fields.len() > 64 {
            return Err(PyValueError::new_err("a native codec takes 1 to 64 fields"));
        }
        let mut out_fields = Vec::new();
        let mut info = Vec::new();
        let mut counts = Vec::new();
        for t in &fields {
            let (name, id, code, default, optional, enum_map, layout, maker): FieldTuple<'_> =
                t.extract()?;
            if id >= slots {
                return Err(PyValueError::new_err("a field id is past the slots"));
            }
            let (kind, default, paths) = match (code, layout) {
                (Some(code), None) => {
                    let ty = scalar_of(&code)?;
                    let d = if default.is_none() {
                        None
                    } else {
                        Some(default_of(&default, ty)?)
                    };
                    (Kind::Scalar(ty), d, Vec::new())
                }
                (None, Some((size, align, scalars))) => {
                    let mut flat = Vec::new();
                    let mut paths = Vec::new();
                    for (offset, code, path) in scalars {
                        let ty = scalar_of(&code)?;
                        if offset + ty.size() > size {
                            return Err(PyValueError::new_err(
                                "a struct scalar is past its struct",
                            ));
                        }
                        flat.push((offset, ty));
                        paths.push(
                            path.iter()
                                .map(Step::from_py)
                                .collect::<PyResult<Vec<Step>>>()?,
                        );
                    }
                    if align == 0 || !align.is_power_of_two() {
                        return Err(PyValueError::new_err(
                            "a struct's alignment is a power of two",
                        ));
                    }
                    (
                        Kind::Struct(StructLayout {
                            size,
                            align,
                            scalars: flat,
                        }),
                        None,
                        paths,
                    )
                }
                _ => return Err(PyValueError::new_err("a field is a scalar or a struct")),
            };
            counts.push(match &kind {
                Kind::Scalar(_) => 1,
                Kind::Struct(l) => l.scalars.len(),
            });
            if matches!(kind, Kind::Struct(_)) && maker.is_none() {
                return Err(PyValueError::new_err("a struct field needs a maker"));
            }
            out_fields.push(Field { id, kind });
            info.push(FieldInfo {
                name: name.unbind(),
                optional,
                default,
                enum_map,
                paths,
                maker,
            });
        }
        for (index, _) in &args {
            if *index >= out_fields.len() as isize {
                return Err(PyValueError::new_err("an argument names no field"));
            }
        }
        if !(ident.is_empty() || ident.len() == 4) {
            return Err(PyValueError::new_err("a file identifier is 4 bytes"));
        }
        let full_mask = if out_fields.len() == 64 {
            u64::MAX
        } else {
            (1u64 << out_fields.len()) - 1
        };
        let full = Arc::new(plan(&out_fields, full_mask, slots, &ident));
        let encode_slots = match encode_slots {
            Some((slot_cls, descriptors)) if descriptors.len() == out_fields.len() => {
                slot_offsets(py, &slot_cls, &descriptors)?.map(|o| (slot_cls.unbind(), o))
            }
            _ => None,
        };
        let decode_slots = match decode_slots {
            Some(descriptors) if descriptors.len() == args.len() => {
                slot_offsets(py, &cls, &descriptors)?
            }
            _ => None,
        };
        let decode_attributes = match decode_attributes {
            Some(names)
                if decode_slots.is_none()
                    && names.len() == args.len()
                    && only_python_classes_over_object(&cls) =>
            {
                let names = names.into_iter().map(|n| n.unbind()).collect();
                Some(names)
            }
            _ => None,
        };
        let cls = cls.unbind();
        Ok(TableCodec {
            fields: out_fields,
            info,
            args,
            cls,
            decode_error,
            pure_encode,
            pure_decode,
            slots,
            ident,
            max_size,
            force_defaults,
            full_mask,
            full,
            plans: Mutex::new(HashMap::new()),
            counts,
            encode_slots,
            decode_slots,
            decode_attributes,
            scratch: Mutex::new(Scratch::default()),
            kernels: py.import("flatstream._kernels")?.dict().unbind(),
            verify,
        })
    }

    /// encode(obj) -> bytes: the FlatBuffer the pure codec writes for `obj`.
    fn encode<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if self.pure_selected(obj.py())? {
            return self.pure_encode.bind(obj.py()).call1((obj,));
        }
        match self.scratch.try_lock() {
            Ok(mut scratch) => self.encode_one(obj, &mut scratch.raws),
            Err(_) => self.encode_one(obj, &mut Vec::new()),
        }
    }

    /// decode(payload, verify=False) -> object: what the pure codec decodes
    /// `payload` into; `verify`: run the verifier first, so a buffer it
    /// refuses raises its VerificationError and never becomes an object.
    #[pyo3(signature = (payload, verify=false))]
    fn decode<'py>(
        &self,
        payload: &Bound<'py, PyAny>,
        verify: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.pure_selected(payload.py())? {
            if verify {
                return self.pure_decode.bind(payload.py()).call1((payload, true));
            }
            return self.pure_decode.bind(payload.py()).call1((payload,));
        }
        if verify {
            self.verify_first(payload)?;
        }
        // try_lock: a decode reentered from Python code (an enum map, a
        // struct class) or another thread takes fresh buffers instead.
        match self.scratch.try_lock() {
            Ok(mut scratch) => self.decode_one(payload, &mut scratch),
            Err(_) => self.decode_one(payload, &mut Scratch::default()),
        }
    }

    /// (encode reads slots directly, decode fills the instance directly):
    /// which fast paths the checks in the constructor allowed.
    #[getter]
    fn fast_paths(&self) -> (bool, bool) {
        (
            self.encode_slots.is_some(),
            self.decode_slots.is_some() || self.decode_attributes.is_some(),
        )
    }

    /// encode_many(objs) -> list of bytes.
    fn encode_many<'py>(&self, objs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = objs.py();
        let list = PyList::empty(py);
        let mut raws = Vec::with_capacity(self.fields.len());
        for obj in objs.try_iter()? {
            list.append(self.encode_one(&obj?, &mut raws)?)?;
        }
        Ok(list)
    }

    /// decode_many(payloads, verify=False) -> list of objects.
    #[pyo3(signature = (payloads, verify=false))]
    fn decode_many<'py>(
        &self,
        payloads: &Bound<'py, PyAny>,
        verify: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = payloads.py();
        let list = PyList::empty(py);
        let mut scratch = Scratch::default();
        for payload in payloads.try_iter()? {
            let payload = payload?;
            if verify {
                self.verify_first(&payload)?;
            }
            list.append(self.decode_one(&payload, &mut scratch)?)?;
        }
        Ok(list)
    }
}
