//! Native kernels of flatstream: the loops Python should not run per frame.
//!
//! The kernels themselves are plain Rust over byte slices (so `cargo test` and
//! cargo-fuzz exercise them without Python); `python` binds them with PyO3.
//! Each binding has a pure-Python twin in `python/flatstream/_kernels/pure.py`
//! with the same signature and results.

pub mod bulk;
pub mod checksum;
pub mod codec;
pub mod columnar;
pub mod frame;
pub mod scan;
pub mod verifier;

#[cfg(feature = "python")]
mod pycodec;
#[cfg(feature = "python")]
mod pycolumnar;
#[cfg(feature = "python")]
mod pydecoder;
#[cfg(feature = "python")]
mod pysink;
#[cfg(feature = "python")]
mod python;
#[cfg(feature = "python")]
mod pyverifier;
