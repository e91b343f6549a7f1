//! The kernels: plain Rust over byte slices, no Python (so `cargo test` and
//! cargo-fuzz exercise them directly). Imports run one way: `checksum` <-
//! `scan` (the one frame step) <- `frame`, `bulk`, `resync` (the salvage
//! scanner); `record` (journal metadata tables), `codec` and `verifier`
//! (schema plans) stand alone.

pub mod bulk;
pub mod checksum;
pub mod codec;
pub mod columnar;
pub mod columnar_encode;
pub mod columnar_stream;
pub mod frame;
pub mod record;
pub mod resync;
pub mod scan;
pub mod verifier;
