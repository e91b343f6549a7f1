//! Scanning a buffer for frame boundaries, verifying limits and checksums.
//!
//! The scan is the one place the reader's hot loop lives. It never allocates
//! from a declared length: lengths only index into the buffer it was given,
//! after a bounds check.

use crate::checksum::Algorithm;

/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;

/// How a scan ended. The numeric values are part of the Python kernel contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The scanned region ends exactly on a frame boundary.
    Clean = 0,
    /// The region ends inside a frame (torn, or more input is still to come).
    Partial = 1,
    /// The frame at `stop` declares a length above the limit.
    Limit = 2,
    /// The frame at `stop` fails its checksum.
    Checksum = 3,
    /// `max_frames` frames were found; more may follow.
    MaxFrames = 4,
}

/// The result of one scan. `offsets[i]` is where frame `i` starts (its length
/// prefix) and `lengths[i]` its payload length; `stop` is the offset of the
/// first byte not accounted for by a complete, valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub offsets: Vec<u64>,
    pub lengths: Vec<u32>,
    pub stop: usize,
    pub status: Status,
    /// Partial: bytes needed from `stop` to finish the frame. Limit: the declared
    /// length. Checksum: the stored value.
    pub detail_a: u64,
    /// Limit: the limit. Checksum: the calculated value. Otherwise 0.
    pub detail_b: u64,
}

/// Reads `width` (0..=8) bytes at `at` as a little-endian integer. The caller
/// has checked that they are in bounds.
pub fn read_le(buf: &[u8], at: usize, width: usize) -> u64 {
    buf[at..at + width]
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// What the bytes at one position hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A complete, valid frame whose payload is `buf[payload..payload + len]`.
    Frame { payload: usize, len: usize },
    /// No bytes at all: the end of a clean stream, or of what arrived so far.
    Empty,
    /// Some bytes, not a whole frame; `needed` bytes would make one.
    Partial { needed: usize },
    /// The declared length is above the limit.
    Limit { declared: u64 },
    /// The stored checksum differs from the payload's.
    Checksum { stored: u64, calculated: u64 },
}

/// Decodes the frame at `buf[pos..]`: the one loop body every reader shares.
/// Errors come in the spec's order: header end, limit, payload end, checksum.
// Always inlined: called once per frame in every scan loop, where the enum
// it returns then stays in registers (not inlined, it was half of a scan).
#[inline(always)]
pub fn step(
    buf: &[u8],
    pos: usize,
    width: usize,
    verify: Option<Algorithm>,
    max_frame_len: u64,
) -> Step {
    let remaining = buf.len().saturating_sub(pos);
    let header = LENGTH_BYTES + width;
    if remaining == 0 {
        return Step::Empty;
    }
    if remaining < header {
        return Step::Partial { needed: header };
    }
    let declared = read_le(buf, pos, LENGTH_BYTES);
    if declared > max_frame_len {
        return Step::Limit { declared };
    }
    // `declared` fits in u32, so this cannot overflow a 64-bit usize.
    let total = header + declared as usize;
    if remaining < total {
        return Step::Partial { needed: total };
    }
    let payload = pos + header;
    if let Some(algo) = verify {
        let stored = read_le(buf, pos + LENGTH_BYTES, width);
        let calculated = algo.compute(&buf[payload..pos + total]);
        if stored != calculated {
            return Step::Checksum { stored, calculated };
        }
    }
    Step::Frame {
        payload,
        len: declared as usize,
    }
}

/// Scans `buf[start..]` for back-to-back frames with a checksum field of
/// `width` bytes, at most `max_frames` of them. With `verify` set, each payload
/// is checked against it; without, the caller verifies (a checksum algorithm
/// the kernel does not have).
pub fn scan(
    buf: &[u8],
    start: usize,
    width: usize,
    verify: Option<Algorithm>,
    max_frame_len: u64,
    max_frames: usize,
) -> Scan {
    assert!(width <= 8, "checksum width must be 0..=8");
    let mut offsets = Vec::new();
    let mut lengths = Vec::new();
    let mut pos = start.min(buf.len());
    let (status, detail_a, detail_b) = loop {
        if offsets.len() >= max_frames && pos < buf.len() {
            break (Status::MaxFrames, 0, 0);
        }
        match step(buf, pos, width, verify, max_frame_len) {
            Step::Frame { payload, len } => {
                offsets.push(pos as u64);
                lengths.push(len as u32);
                pos = payload + len;
            }
            Step::Empty => break (Status::Clean, 0, 0),
            Step::Partial { needed } => break (Status::Partial, needed as u64, 0),
            Step::Limit { declared } => break (Status::Limit, declared, max_frame_len),
            Step::Checksum { stored, calculated } => break (Status::Checksum, stored, calculated),
        }
    };
    Scan {
        offsets,
        lengths,
        stop: pos,
        status,
        detail_a,
        detail_b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::frame_into;

    fn stream(payloads: &[&[u8]], algo: Algorithm) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            frame_into(&mut out, p, algo.width(), algo.compute(p));
        }
        out
    }

    #[test]
    fn finds_every_frame() {
        let buf = stream(&[b"", b"a", b"abc"], Algorithm::Crc32);
        let s = scan(
            &buf,
            0,
            4,
            Some(Algorithm::Crc32),
            u64::from(u32::MAX),
            usize::MAX,
        );
        assert_eq!(s.offsets, vec![0, 8, 17]);
        assert_eq!(s.lengths, vec![0, 1, 3]);
        assert_eq!((s.stop, s.status), (buf.len(), Status::Clean));
    }

    #[test]
    fn every_truncation_is_partial_or_clean() {
        let buf = stream(&[b"hello", b"", b"world!"], Algorithm::Xxh3_64);
        let boundaries = [0usize, 17, 29, 47];
        for cut in 0..=buf.len() {
            let s = scan(
                &buf[..cut],
                0,
                8,
                Some(Algorithm::Xxh3_64),
                1 << 31,
                usize::MAX,
            );
            let last = *boundaries.iter().filter(|&&b| b <= cut).max().unwrap();
            assert_eq!(s.stop, last, "cut {cut}");
            let want = if last == cut {
                Status::Clean
            } else {
                Status::Partial
            };
            assert_eq!(s.status, want, "cut {cut}");
        }
    }

    #[test]
    fn limit_is_checked_before_payload_end() {
        let mut buf = u32::MAX.to_le_bytes().to_vec();
        buf.extend_from_slice(&[0, 0]);
        let s = scan(&buf, 0, 2, Some(Algorithm::Crc16), 100, usize::MAX);
        assert_eq!(s.status, Status::Limit);
        assert_eq!((s.detail_a, s.detail_b), (u64::from(u32::MAX), 100));
    }

    #[test]
    fn bit_flip_is_a_checksum_error() {
        let mut buf = stream(&[b"abc", b"def"], Algorithm::Crc16);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let s = scan(&buf, 0, 2, Some(Algorithm::Crc16), 1 << 31, usize::MAX);
        assert_eq!(s.offsets.len(), 1);
        assert_eq!((s.stop, s.status), (9, Status::Checksum));
        assert_ne!(s.detail_a, s.detail_b);
    }

    #[test]
    fn max_frames_stops_early_and_resumes() {
        let buf = stream(&[b"a", b"b", b"c"], Algorithm::None);
        let s = scan(&buf, 0, 0, None, 10, 2);
        assert_eq!((s.offsets.len(), s.status), (2, Status::MaxFrames));
        let rest = scan(&buf, s.stop, 0, None, 10, 2);
        assert_eq!((rest.offsets, rest.status), (vec![10], Status::Clean));
    }
}
