//! PyO3 binding of the schema verifier (`crate::verifier`): the native twin
//! of `flatstream.schema.verifier`'s compiled checks.
//!
//! `flatstream.schema.verifier` lowers a schema into the plain description
//! the constructor takes (see `_lower` there) and falls back to its pure
//! checks when the constructor declines (ValueError) or `verify` returns
//! False (an object that is not a flat byte buffer: the pure twin decides what
//! such an object gets, so both twins answer alike).

use std::sync::OnceLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{PyTraverseError, PyVisit};

use super::borrow::{native_selected, Borrowed};
use crate::verifier::{Field, Kind, Member, Options, Root, Table, Verifier};

/// Verified with the GIL released: `bytes` (immutable) of at least this size.
/// Below it, releasing and taking back the GIL costs more than it frees.
const DETACH_MIN: usize = 64 * 1024;

/// (kind code, vtable slot, required, width, alignment, vector element size,
/// target index or -1, union type slot or -1, union members [(type number,
/// member kind, table index or struct size)], "Table.field").
type FieldTuple = (
    u8,
    usize,
    bool,
    u64,
    u64,
    u64,
    i64,
    i64,
    Vec<(u8, u8, u64)>,
    String,
);

/// (table index, file identifier or None, (header, length) of the known shape or None).
type RootTuple = (usize, Option<Vec<u8>>, Option<(Vec<u8>, usize)>);

fn field(tuple: FieldTuple) -> PyResult<Field> {
    let (code, id, required, width, alignment, element, target, type_id, members, label) = tuple;
    let kind = Kind::from_code(code)
        .ok_or_else(|| PyValueError::new_err(format!("{label}: unknown field kind {code}")))?;
    Ok(Field {
        kind,
        id,
        required,
        width,
        alignment,
        element,
        target: usize::try_from(target).unwrap_or(usize::MAX),
        type_id: usize::try_from(type_id).ok(),
        members: members
            .into_iter()
            .map(|(value, code, argument)| {
                Member::from_code(code, argument)
                    .map(|m| (value, m))
                    .ok_or_else(|| PyValueError::new_err(format!("{label}: bad union member")))
            })
            .collect::<PyResult<Vec<_>>>()?,
        label,
    })
}

fn root(tuple: RootTuple) -> PyResult<Root> {
    let (table, ident, known) = tuple;
    let ident = match ident {
        None => None,
        Some(bytes) => Some(
            <[u8; 4]>::try_from(bytes.as_slice())
                .map_err(|_| PyValueError::new_err("a file identifier is 4 bytes"))?,
        ),
    };
    Ok(Root {
        table,
        ident,
        known,
    })
}

/// SchemaVerifier(tables, roots, max_depth, max_tables, max_size, check_utf8,
/// check_alignment, check_length, check_table_size, name, error)
///
/// `verify(buffer)` returns True for a valid buffer of `roots[0]`'s table,
/// raises `error(name, reason, position=...)` for an invalid one, and returns
/// False for an object that is not a C-contiguous one-dimensional buffer of
/// unsigned bytes, or a released view (the caller asks the pure twin).
#[pyclass(module = "flatstream._native", name = "SchemaVerifier", frozen)]
pub struct SchemaVerifier {
    verifier: Verifier,
    name: String,
    error: Py<PyAny>,
    /// For `validate`, set once by `bind_fallback`: the pure checks (as one
    /// callable that raises the same error) and the namespace of
    /// `flatstream._kernels`, whose `SchemaVerifier` is None while the pure
    /// twins are selected (looked up at each call, like every kernel).
    fallback: OnceLock<(Py<PyAny>, Py<PyDict>)>,
}

#[pymethods]
impl SchemaVerifier {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tables: Vec<(String, Vec<FieldTuple>)>,
        roots: Vec<RootTuple>,
        max_depth: u32,
        max_tables: u64,
        max_size: u64,
        check_utf8: bool,
        check_alignment: bool,
        check_length: bool,
        check_table_size: bool,
        name: String,
        error: Py<PyAny>,
    ) -> PyResult<Self> {
        let tables = tables
            .into_iter()
            .map(|(name, fields)| {
                let fields = fields.into_iter().map(field).collect::<PyResult<_>>()?;
                Ok(Table { name, fields })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let roots = roots.into_iter().map(root).collect::<PyResult<Vec<_>>>()?;
        let options = Options {
            max_depth,
            max_tables,
            max_size,
            check_utf8,
            check_alignment,
            check_length,
            check_table_size,
        };
        let verifier = Verifier::new(tables, roots, options).map_err(PyValueError::new_err)?;
        Ok(SchemaVerifier {
            verifier,
            name,
            error,
            fallback: OnceLock::new(),
        })
    }

    // The fallback's closure can lead back to objects that hold this twin
    // (its compiler's caches): the collector must see that reference.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some((pure, kernels)) = self.fallback.get() {
            visit.call(pure)?;
            visit.call(kernels)?;
        }
        Ok(())
    }

    /// Set what `validate` falls back to (once; later calls change nothing).
    fn bind_fallback(&self, pure: Py<PyAny>, kernels: Py<PyDict>) {
        let _ = self.fallback.set((pure, kernels));
    }

    /// validate(buffer): return for a valid buffer, raise the verification
    /// error for an invalid one. The pure checks answer instead while the
    /// pure twins are selected, and for what `verify` does not read.
    fn validate(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some((pure, kernels)) = self.fallback.get() else {
            return Err(PyValueError::new_err(
                "validate() needs bind_fallback() first",
            ));
        };
        if native_selected(kernels.bind(py), pyo3::intern!(py, "SchemaVerifier"))?
            && self.verify(py, buffer)?
        {
            return Ok(());
        }
        pure.bind(py).call1((buffer,)).map(drop)
    }

    /// True if `buffer` is valid; raises the verification error if not;
    /// False if `buffer` is not a flat byte buffer.
    fn verify(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<bool> {
        let verifier = &self.verifier;
        let Some(borrowed) = Borrowed::of(buffer) else {
            return Ok(false);
        };
        if let Borrowed::Buffer(held) = &borrowed {
            // What the pure checks see as a sequence of byte values (len,
            // indexing, slicing) only for such buffers.
            if held.dimensions() != 1 || held.format() != c"B" {
                return Ok(false);
            }
        }
        // No Python code runs while the slice is alive.
        let data = borrowed.bytes(py);
        let outcome = if matches!(borrowed, Borrowed::Bytes(_)) && data.len() >= DETACH_MIN {
            // `bytes` cannot change, and `buffer` keeps it alive.
            py.detach(|| verifier.verify(data))
        } else {
            verifier.verify(data)
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(fault) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("position", fault.position)?;
                let error = self
                    .error
                    .bind(py)
                    .call((self.name.as_str(), fault.reason), Some(&kwargs))?;
                Err(PyErr::from_value(error))
            }
        }
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __repr__(&self) -> String {
        format!("<native {}>", self.name)
    }
}
