//! Differential fuzzing of the checksum kernel against independent implementations.
//!
//! `Algorithm::compute` must never panic and must equal, for every input:
//! - crc16: a bitwise CRC-16/XMODEM written here from the spec's parameters;
//! - crc32: the `crc` crate's CRC_32_ISO_HDLC (the kernel uses crc32fast), and
//!   crc32fast's streaming hasher fed in arbitrary pieces;
//! - crc32c: the `crc` crate's CRC_32_ISCSI (the kernel uses the crc32c crate);
//! - xxh3_64: xxhash-rust's one-shot XXH3-64 (the kernel uses twox-hash,
//!   with its run-time AVX2/SSE2 choice), and xxhash-rust's streaming hasher
//!   fed in arbitrary pieces.
#![no_main]

use arbitrary::Arbitrary;
use crc::{Crc, CRC_32_ISCSI, CRC_32_ISO_HDLC};
use flatstream_native::checksum::Algorithm;
use libfuzzer_sys::fuzz_target;

const ISO_HDLC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
const ISCSI: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

#[derive(Arbitrary, Debug)]
struct Input {
    /// Where to split the data for the streaming hashers (each taken modulo
    /// the remaining length).
    splits: Vec<u16>,
    data: Vec<u8>,
}

/// CRC-16/XMODEM: poly 0x1021, init 0, no reflection, no final xor.
fn crc16_xmodem_bitwise(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn pieces<'a>(data: &'a [u8], splits: &[u16]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &s in splits {
        if rest.is_empty() {
            break;
        }
        let at = usize::from(s) % (rest.len() + 1);
        let (head, tail) = rest.split_at(at);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

fuzz_target!(|input: Input| {
    let data = &input.data[..];
    let parts = pieces(data, &input.splits);

    assert_eq!(Algorithm::None.compute(data), 0);

    let crc16 = Algorithm::Crc16.compute(data);
    assert_eq!(crc16, u64::from(crc16_xmodem_bitwise(data)), "crc16");

    let crc32 = Algorithm::Crc32.compute(data);
    assert_eq!(
        crc32,
        u64::from(ISO_HDLC.checksum(data)),
        "crc32 vs crc crate"
    );
    let mut hasher = crc32fast::Hasher::new();
    for p in &parts {
        hasher.update(p);
    }
    assert_eq!(crc32, u64::from(hasher.finalize()), "crc32 streaming");

    let crc32c = Algorithm::Crc32c.compute(data);
    assert_eq!(
        crc32c,
        u64::from(ISCSI.checksum(data)),
        "crc32c vs crc crate"
    );
    let mut running = 0u32;
    for p in &parts {
        running = crc32c::crc32c_append(running, p);
    }
    assert_eq!(crc32c, u64::from(running), "crc32c appended");

    let xxh3 = Algorithm::Xxh3_64.compute(data);
    assert_eq!(
        xxh3,
        xxhash_rust::xxh3::xxh3_64(data),
        "xxh3 vs xxhash-rust"
    );
    let mut streaming = xxhash_rust::xxh3::Xxh3::new();
    for p in &parts {
        streaming.update(p);
    }
    assert_eq!(xxh3, streaming.digest(), "xxh3 streaming");

    for algo in [
        Algorithm::Crc16,
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Xxh3_64,
    ] {
        let value = algo.compute(data);
        let bits = 8 * algo.width() as u32;
        assert!(
            bits == 64 || value >> bits == 0,
            "{algo:?} wider than its field"
        );
    }
});
