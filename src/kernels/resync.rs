//! The salvage scanner: where the next frame starts after damage.
//!
//! Twin: `find_resync` in `python/flatstream/io/salvage.py`, which states the
//! rule this follows (a candidate must verify, have a non-zero length and a
//! non-zero stored checksum, and be chained on by what follows it); the two
//! give the same offset for every input (tests there and the `salvage`
//! cargo-fuzz target, against a brute-force oracle of its own).

use crate::checksum::Algorithm;
use crate::scan::{read_le, step, Step, LENGTH_BYTES};

/// The first offset at or after `start` where a frame a writer could have
/// left begins, or None. `start - 1` is where the damaged frame began: its
/// declared end, when a frame verifies there, is taken as is.
///
/// Every read is bounds-checked against `buf`; nothing is allocated. Worst
/// case (a crafted stretch where every offset holds a length that fits) it is
/// one checksum per offset, like the Python twin.
pub fn find_resync(buf: &[u8], start: usize, algo: Algorithm, max_frame_len: u64) -> Option<usize> {
    let width = algo.width();
    assert!(
        width > 0,
        "there is nothing to resync on without a checksum"
    );
    let header = LENGTH_BYTES + width;
    let end = buf.len();
    // The end of an eligible frame that verifies at `at`.
    let plausible = |at: usize| -> Option<usize> {
        if at.checked_add(header)? > end {
            return None;
        }
        let length = read_le(buf, at, LENGTH_BYTES);
        if length == 0 || length > max_frame_len {
            return None;
        }
        // `length` fits in u32 and `at + header <= end`: no overflow.
        let frame_end = at + header + length as usize;
        if frame_end > end || buf[at + LENGTH_BYTES..at + header].iter().all(|&b| b == 0) {
            return None;
        }
        match step(buf, at, width, Some(algo), max_frame_len) {
            Step::Frame { .. } => Some(frame_end),
            _ => None,
        }
    };
    let declared_end = start
        .checked_sub(1)
        .filter(|&bad| bad + LENGTH_BYTES <= end)
        .map(|bad| bad + header + read_le(buf, bad, LENGTH_BYTES) as usize)
        .filter(|&candidate| plausible(candidate).is_some());
    let followed = |after: usize| {
        after == end
            || Some(after) == declared_end
            || matches!(
                step(buf, after, width, Some(algo), max_frame_len),
                Step::Frame { .. }
            )
    };
    let last = end.checked_sub(header)?;
    (start..=last).find(|&at| match plausible(at) {
        Some(frame_end) => Some(at) == declared_end || followed(frame_end),
        None => false,
    })
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
    fn skips_garbage_to_the_next_frame() {
        let good = stream(&[b"hello", b"world"], Algorithm::Crc32);
        let mut buf = vec![0xAB; 7];
        buf.extend_from_slice(&good);
        assert_eq!(find_resync(&buf, 0, Algorithm::Crc32, 1 << 20), Some(7));
        assert_eq!(find_resync(&buf[..7], 0, Algorithm::Crc32, 1 << 20), None);
    }

    #[test]
    fn a_lookalike_nothing_follows_is_not_a_resync_point() {
        // crc32c of b"\xff" is 0xff000000: a one-byte frame, then garbage.
        let mut buf = vec![1, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        buf.extend_from_slice(&[0x55; 5]);
        assert_eq!(find_resync(&buf, 0, Algorithm::Crc32c, 1 << 20), None);
        // The same frame at the end of the buffer counts.
        assert_eq!(
            find_resync(&buf[..9], 0, Algorithm::Crc32c, 1 << 20),
            Some(0)
        );
    }

    #[test]
    fn the_damaged_frames_declared_end_is_taken_as_is() {
        let frames = stream(&[b"abcd", b"efgh"], Algorithm::Xxh3_64);
        let mut buf = frames.clone();
        buf[13] ^= 0x40; // the first payload: its checksum fails, its length is intact
        assert_eq!(find_resync(&buf, 1, Algorithm::Xxh3_64, 1 << 20), Some(16));
    }

    #[test]
    fn empty_frames_and_zero_checksums_are_skipped() {
        let zeros = vec![0u8; 64];
        assert_eq!(find_resync(&zeros, 0, Algorithm::Crc16, 1 << 20), None);
    }

    #[test]
    fn start_past_the_end_finds_nothing() {
        let buf = stream(&[b"x"], Algorithm::Crc32);
        assert_eq!(
            find_resync(&buf, buf.len() + 5, Algorithm::Crc32, 1 << 20),
            None
        );
        assert_eq!(find_resync(&[], 0, Algorithm::Crc32, 1 << 20), None);
    }
}
