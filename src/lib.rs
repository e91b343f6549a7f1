//! Native kernels of flatstream: the loops Python should not run per frame.
//!
//! The kernels themselves are plain Rust over byte slices (so `cargo test` and
//! cargo-fuzz exercise them without Python); `bindings` binds them with PyO3.
//! Each binding has a pure-Python twin in `python/flatstream/_kernels/pure.py`
//! with the same signature and results.

pub mod kernels;
// The kernels keep their crate-root paths (`flatstream_native::scan`), which
// the fuzz targets and the bindings use.
pub use kernels::{
    bulk, checksum, codec, columnar, columnar_encode, columnar_stream, frame, record, resync, scan,
    verifier,
};

#[cfg(feature = "python")]
mod bindings;
