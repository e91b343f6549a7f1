//! `read_record`: the journal metadata table reader (`crate::record`); its
//! twin is `_read_record` in `flatstream/journal/records.py`.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::borrow::bytes_of;
use crate::record::{read_record as read_fields, Value};

/// read_record(payload, kinds) -> (values, None) | (None, why): the root
/// table's fields as `kinds` names them (see `crate::record::read_record`).
/// Strings come back as `str`, byte vectors as `(start, length)` into the
/// payload (the caller slices its own view: no copy), u32 vectors as tuples,
/// pairs as a list of `(key, value)`.
#[pyfunction]
pub(super) fn read_record<'py>(
    py: Python<'py>,
    payload: PyBuffer<u8>,
    kinds: &str,
) -> PyResult<(Option<Bound<'py, PyList>>, Option<String>)> {
    let buf = bytes_of(py, &payload)?;
    if let Some(bad) = kinds.bytes().find(|k| !b"BIQqsbvp".contains(k)) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown record field kind {:?}",
            bad as char
        )));
    }
    let values = match read_fields(buf, kinds.as_bytes()) {
        Ok(values) => values,
        Err(why) => return Ok((None, Some(why))),
    };
    // Strings were checked as UTF-8 by the kernel.
    let text = |(start, length): (usize, usize)| {
        PyString::new(
            py,
            std::str::from_utf8(&buf[start..start + length]).unwrap_or(""),
        )
    };
    let out = PyList::empty(py);
    for value in values {
        match value {
            Value::Unsigned(v) => out.append(v)?,
            Value::Signed(v) => out.append(v)?,
            Value::Str(start, length) => out.append(text((start, length)))?,
            Value::Bytes(start, length) => out.append((start, length))?,
            Value::U32s(v) => out.append(PyTuple::new(py, v)?)?,
            Value::Pairs(pairs) => {
                let list = PyList::empty(py);
                for (key, value) in pairs {
                    list.append((text(key), text(value)))?;
                }
                out.append(list)?;
            }
        }
    }
    Ok((Some(out), None))
}
