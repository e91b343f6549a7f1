//! The salvage scanner (`resync::find_resync`) against a brute-force oracle
//! written here from the rule in `python/flatstream/io/salvage.py`, with the
//! checksums computed by independent crates (crc, crc32fast, crc32c,
//! xxhash-rust), over frames built from fuzzed payloads and then damaged.
//!
//! Properties: never panics; the answer equals the oracle's; an answer is a
//! frame that verifies, has a non-zero length and stored checksum, and is
//! chained on (a valid frame follows, the end, or the damaged frame's
//! declared end).
#![no_main]

use arbitrary::Arbitrary;
use flatstream_native::checksum::Algorithm;
use flatstream_native::resync::find_resync;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Algo {
    Crc16,
    Crc32,
    Crc32c,
    Xxh3_64,
}

#[derive(Arbitrary, Debug)]
struct Input {
    algo: Algo,
    payloads: Vec<Vec<u8>>,
    damage: Vec<(u16, u8)>,
    start: u16,
    limit: u16,
}

fn width(a: Algo) -> usize {
    match a {
        Algo::Crc16 => 2,
        Algo::Crc32 | Algo::Crc32c => 4,
        Algo::Xxh3_64 => 8,
    }
}

fn oracle_sum(a: Algo, data: &[u8]) -> u64 {
    match a {
        Algo::Crc16 => u64::from(crc::Crc::<u16>::new(&crc::CRC_16_XMODEM).checksum(data)),
        Algo::Crc32 => u64::from(crc32fast::hash(data)),
        Algo::Crc32c => u64::from(crc32c::crc32c(data)),
        Algo::Xxh3_64 => xxhash_rust::xxh3::xxh3_64(data),
    }
}

fn le(buf: &[u8], at: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..n).rev() {
        v = (v << 8) | u64::from(buf[at + i]);
    }
    v
}

/// A complete frame at `at` whose checksum verifies: its end.
fn valid(buf: &[u8], at: usize, a: Algo, limit: u64) -> Option<usize> {
    let w = width(a);
    if at + 4 + w > buf.len() {
        return None;
    }
    let len = le(buf, at, 4);
    if len > limit || at + 4 + w + len as usize > buf.len() {
        return None;
    }
    let end = at + 4 + w + len as usize;
    (le(buf, at + 4, w) == oracle_sum(a, &buf[at + 4 + w..end])).then_some(end)
}

fn eligible(buf: &[u8], at: usize, a: Algo, limit: u64) -> Option<usize> {
    let w = width(a);
    let end = valid(buf, at, a, limit)?;
    let nonempty = le(buf, at, 4) > 0;
    let nonzero = buf[at + 4..at + 4 + w].iter().any(|&b| b != 0);
    (nonempty && nonzero).then_some(end)
}

fn oracle(buf: &[u8], start: usize, a: Algo, limit: u64) -> Option<usize> {
    let w = width(a);
    let declared = if start >= 1 && start - 1 + 4 <= buf.len() {
        let c = start - 1 + 4 + w + le(buf, start - 1, 4) as usize;
        eligible(buf, c, a, limit).map(|_| c)
    } else {
        None
    };
    (start..buf.len()).find(|&at| match eligible(buf, at, a, limit) {
        None => false,
        Some(end) => {
            Some(at) == declared
                || end == buf.len()
                || Some(end) == declared
                || valid(buf, end, a, limit).is_some()
        }
    })
}

fuzz_target!(|input: Input| {
    let a = input.algo;
    let algo = match a {
        Algo::Crc16 => Algorithm::Crc16,
        Algo::Crc32 => Algorithm::Crc32,
        Algo::Crc32c => Algorithm::Crc32c,
        Algo::Xxh3_64 => Algorithm::Xxh3_64,
    };
    let mut buf = Vec::new();
    for p in input.payloads.iter().take(64) {
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
        buf.extend_from_slice(&oracle_sum(a, p).to_le_bytes()[..width(a)]);
        buf.extend_from_slice(p);
    }
    if buf.is_empty() {
        return;
    }
    for &(at, byte) in &input.damage {
        let at = usize::from(at) % buf.len();
        buf[at] = byte;
    }
    let start = usize::from(input.start) % (buf.len() + 2);
    let limit = u64::from(input.limit) + 1;
    let got = find_resync(&buf, start, algo, limit);
    assert_eq!(got, oracle(&buf, start, a, limit));
    if let Some(at) = got {
        assert!(at >= start && eligible(&buf, at, a, limit).is_some());
    }
});
