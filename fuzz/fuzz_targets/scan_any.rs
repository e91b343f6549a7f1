//! scan over arbitrary bytes with arbitrary parameters.
//!
//! Properties: `scan` never panics; every frame it returns lies inside the
//! buffer, the frames are contiguous from `start`, each one satisfies the
//! limit and (when verifying) its checksum; `stop` and the details agree with
//! the status; scanning in batches of `max_frames`, resuming each time from
//! `stop`, finds the same frames and the same end as one unlimited scan; and
//! so does the whole-buffer `bulk::scan_all`, with one thread or several
//! (several locate first and verify after: a different path to the same result).
#![no_main]

use arbitrary::Arbitrary;
use flatstream_native::bulk::scan_all;
use flatstream_native::checksum::Algorithm;
use flatstream_native::scan::{scan, Scan, Status, LENGTH_BYTES};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Algo {
    None,
    Crc16,
    Crc32,
    Crc32c,
    Xxh3_64,
}

impl From<Algo> for Algorithm {
    fn from(a: Algo) -> Self {
        match a {
            Algo::None => Algorithm::None,
            Algo::Crc16 => Algorithm::Crc16,
            Algo::Crc32 => Algorithm::Crc32,
            Algo::Crc32c => Algorithm::Crc32c,
            Algo::Xxh3_64 => Algorithm::Xxh3_64,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Limit {
    /// The format's ceiling.
    Format,
    /// Anything, including values above u32::MAX.
    Any(u64),
    /// A small limit, so Limit statuses are common.
    Small(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Where the scan starts; may lie past the end.
    start: u16,
    /// Checksum field width (taken modulo 9) when not derived from `verify`.
    width: u8,
    /// The algorithm to verify with, or None (the caller verifies).
    verify: Option<Algo>,
    /// Use the algorithm's own width instead of `width` (the Python binding
    /// insists on that; the Rust function does not, so both are fuzzed).
    matching_width: bool,
    limit: Limit,
    /// Frames per call; 0 is legal (it finds nothing).
    max_frames: u8,
    /// Rewrite the checksum of every complete frame so that it verifies:
    /// random bytes almost never carry a right CRC, and without this the
    /// fuzzer would rarely get past the first frame.
    repair: bool,
    /// After repairing, flip this byte (index modulo the length) ...
    corrupt_at: Option<u16>,
    /// ... with this mask.
    corrupt_mask: u8,
    /// Threads for scan_all (2..=4 when used).
    threads: u8,
    buf: Vec<u8>,
}

fn read_le(buf: &[u8], at: usize, width: usize) -> u64 {
    let mut v = 0u64;
    for (i, b) in buf[at..at + width].iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    v
}

/// Walks the frames the way a writer would have laid them out and writes the
/// right checksum into each one that fits entirely.
fn repair(buf: &mut [u8], start: usize, width: usize, algo: Algorithm) {
    let header = LENGTH_BYTES + width;
    let mut pos = start;
    while pos + header <= buf.len() {
        let declared = read_le(buf, pos, LENGTH_BYTES) as usize;
        let Some(end) = (pos + header).checked_add(declared) else {
            return;
        };
        if end > buf.len() {
            return;
        }
        let sum = algo.compute(&buf[pos + header..end]).to_le_bytes();
        buf[pos + LENGTH_BYTES..pos + header].copy_from_slice(&sum[..width]);
        pos = end;
    }
}

fn check_one(
    s: &Scan,
    buf: &[u8],
    start: usize,
    width: usize,
    verify: Option<Algorithm>,
    limit: u64,
    max_frames: usize,
) {
    let header = LENGTH_BYTES + width;
    assert_eq!(s.offsets.len(), s.lengths.len());
    assert!(s.offsets.len() <= max_frames);
    // Frames: contiguous from start, inside the buffer, within the limit, verified.
    let mut pos = start.min(buf.len());
    for (&off, &len) in s.offsets.iter().zip(&s.lengths) {
        assert_eq!(off as usize, pos, "frames are not contiguous");
        let end = pos + header + len as usize;
        assert!(end <= buf.len(), "frame at {pos} runs past the buffer");
        assert_eq!(read_le(buf, pos, LENGTH_BYTES), u64::from(len));
        assert!(u64::from(len) <= limit, "frame over the limit accepted");
        if let Some(algo) = verify {
            assert_eq!(
                read_le(buf, pos + LENGTH_BYTES, width),
                algo.compute(&buf[pos + header..end]),
                "frame with a bad checksum accepted"
            );
        }
        pos = end;
    }
    assert_eq!(s.stop, pos, "stop is not the end of the last frame");
    let remaining = buf.len() - s.stop;
    match s.status {
        Status::Clean => {
            assert_eq!(remaining, 0);
            assert_eq!((s.detail_a, s.detail_b), (0, 0));
        }
        Status::MaxFrames => {
            assert!(remaining > 0);
            assert_eq!(s.offsets.len(), max_frames);
            assert_eq!((s.detail_a, s.detail_b), (0, 0));
        }
        Status::Partial => {
            assert!(remaining > 0);
            assert!(
                (remaining as u64) < s.detail_a,
                "Partial but the frame is complete"
            );
            if remaining < header {
                assert_eq!(s.detail_a, header as u64);
            } else {
                let declared = read_le(buf, s.stop, LENGTH_BYTES);
                assert!(declared <= limit);
                assert_eq!(s.detail_a, header as u64 + declared);
            }
            assert_eq!(s.detail_b, 0);
        }
        Status::Limit => {
            assert!(remaining >= header);
            let declared = read_le(buf, s.stop, LENGTH_BYTES);
            assert!(declared > limit);
            assert_eq!((s.detail_a, s.detail_b), (declared, limit));
        }
        Status::Checksum => {
            let algo = verify.expect("Checksum status without verification");
            let declared = read_le(buf, s.stop, LENGTH_BYTES);
            assert!(declared <= limit);
            let end = s.stop + header + declared as usize;
            assert!(end <= buf.len(), "checksum error on an incomplete frame");
            let stored = read_le(buf, s.stop + LENGTH_BYTES, width);
            let calculated = algo.compute(&buf[s.stop + header..end]);
            assert_ne!(stored, calculated);
            assert_eq!((s.detail_a, s.detail_b), (stored, calculated));
        }
    }
}

fuzz_target!(|input: Input| {
    let verify: Option<Algorithm> = input.verify.map(Into::into);
    let width = match verify {
        Some(algo) if input.matching_width => algo.width(),
        _ => usize::from(input.width % 9),
    };
    let limit = match input.limit {
        Limit::Format => u64::from(u32::MAX),
        Limit::Any(v) => v,
        Limit::Small(v) => u64::from(v),
    };
    let start = usize::from(input.start);
    let max_frames = usize::from(input.max_frames);
    let mut buf = input.buf;
    if input.repair {
        if let Some(algo) = verify {
            repair(&mut buf, start, width, algo);
        }
    }
    if let Some(at) = input.corrupt_at {
        if !buf.is_empty() {
            let i = usize::from(at) % buf.len();
            buf[i] ^= input.corrupt_mask;
        }
    }

    let full = scan(&buf, start, width, verify, limit, usize::MAX);
    check_one(&full, &buf, start, width, verify, limit, usize::MAX);
    assert_ne!(full.status, Status::MaxFrames);

    for threads in [1, 2 + usize::from(input.threads % 3)] {
        let mut offsets = Vec::new();
        let mut lengths = Vec::new();
        let summary = scan_all(&buf, start, width, verify, limit, threads, |o, l| {
            offsets.extend_from_slice(o);
            lengths.extend_from_slice(l);
        });
        assert_eq!(offsets, full.offsets, "scan_all with {threads} threads");
        assert_eq!(lengths, full.lengths, "scan_all with {threads} threads");
        assert_eq!(summary.frames, full.offsets.len() as u64);
        let bytes: u64 = full.lengths.iter().map(|&l| u64::from(l)).sum();
        assert_eq!(summary.payload_bytes, bytes);
        assert_eq!(
            (
                summary.stop,
                summary.status,
                summary.detail_a,
                summary.detail_b
            ),
            (full.stop, full.status, full.detail_a, full.detail_b),
            "scan_all with {threads} threads"
        );
    }

    let limited = scan(&buf, start, width, verify, limit, max_frames);
    check_one(&limited, &buf, start, width, verify, limit, max_frames);
    if max_frames == 0 {
        if full.stop < buf.len() {
            assert_eq!(limited.status, Status::MaxFrames);
        }
        assert!(limited.offsets.is_empty());
        return;
    }

    // Resume from stop until the scan ends for another reason than the batch size.
    let mut offsets = Vec::new();
    let mut lengths = Vec::new();
    let mut s = limited;
    loop {
        offsets.extend_from_slice(&s.offsets);
        lengths.extend_from_slice(&s.lengths);
        if s.status != Status::MaxFrames {
            break;
        }
        let next = scan(&buf, s.stop, width, verify, limit, max_frames);
        check_one(&next, &buf, s.stop, width, verify, limit, max_frames);
        assert!(
            next.stop > s.stop || next.status != Status::MaxFrames,
            "a resumed scan made no progress"
        );
        s = next;
    }
    assert_eq!(offsets, full.offsets);
    assert_eq!(lengths, full.lengths);
    assert_eq!(
        (s.stop, s.status, s.detail_a, s.detail_b),
        (full.stop, full.status, full.detail_a, full.detail_b)
    );
});
