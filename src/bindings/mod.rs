//! PyO3 bindings of the kernels, one file a Python-facing type or family of
//! functions. Imports run one way: `borrow` (shared helpers) <- the bindings
//! <- this module, which registers them all and is imported by none.

mod borrow;
mod codec;
mod columnar;
mod decoder;
mod functions;
mod record;
mod sink;
mod verifier;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(functions::checksum, m)?)?;
    m.add_function(wrap_pyfunction!(functions::scan, m)?)?;
    m.add_function(wrap_pyfunction!(functions::frame_many, m)?)?;
    m.add_class::<sink::FrameSink>()?;
    m.add_function(wrap_pyfunction!(functions::scan_all, m)?)?;
    m.add_function(wrap_pyfunction!(functions::resync, m)?)?;
    m.add_function(wrap_pyfunction!(record::read_record, m)?)?;
    m.add_class::<decoder::FrameDecoder>()?;
    m.add_class::<decoder::FrameView>()?;
    m.add_class::<codec::TableCodec>()?;
    m.add_class::<verifier::SchemaVerifier>()?;
    m.add_class::<columnar::ColumnarDecoder>()?;
    m.add_class::<columnar::ColumnarEncoder>()?;
    Ok(())
}
