//! Whole-buffer scans: every frame of a buffer (a mapped file, say), in
//! windows of bounded memory, with checksums verified on several threads when
//! the frames are large enough to pay for them.
//!
//! The result is the same as one `scan` with no frame limit: the same frames
//! and the same first error, whatever the thread count.

use crate::checksum::Algorithm;
use crate::scan::{read_le, scan, Status, LENGTH_BYTES};

/// Frames located per window: bounds the memory of a scan that only counts.
pub const WINDOW_FRAMES: usize = 1 << 16;

/// Below this many payload bytes per window, threads cost more than they save.
const PARALLEL_MIN_BYTES: u64 = 4 << 20;

/// How a whole-buffer scan ended (the fields of `Scan` less the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    pub payload_bytes: u64,
    pub stop: usize,
    pub status: Status,
    pub detail_a: u64,
    pub detail_b: u64,
}

/// Index of the first frame whose checksum fails, with its stored and calculated values.
fn first_bad(
    buf: &[u8],
    offsets: &[u64],
    lengths: &[u32],
    width: usize,
    algo: Algorithm,
) -> Option<(usize, u64, u64)> {
    offsets
        .iter()
        .zip(lengths)
        .position(|(&off, &len)| {
            let off = off as usize;
            let payload = off + LENGTH_BYTES + width;
            read_le(buf, off + LENGTH_BYTES, width)
                != algo.compute(&buf[payload..payload + len as usize])
        })
        .map(|i| {
            let off = offsets[i] as usize;
            let payload = off + LENGTH_BYTES + width;
            (
                i,
                read_le(buf, off + LENGTH_BYTES, width),
                algo.compute(&buf[payload..payload + lengths[i] as usize]),
            )
        })
}

/// `first_bad` split over `threads` threads by contiguous runs of frames.
fn first_bad_parallel(
    buf: &[u8],
    offsets: &[u64],
    lengths: &[u32],
    width: usize,
    algo: Algorithm,
    threads: usize,
) -> Option<(usize, u64, u64)> {
    let per = offsets.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = offsets
            .chunks(per)
            .zip(lengths.chunks(per))
            .enumerate()
            .map(|(k, (o, l))| {
                s.spawn(move || {
                    first_bad(buf, o, l, width, algo).map(|(i, a, b)| (k * per + i, a, b))
                })
            })
            .collect();
        // Runs are in order, so the first failing run holds the first bad frame.
        handles
            .into_iter()
            .map(|h| h.join().expect("checksum thread panicked"))
            .find(Option::is_some)
            .flatten()
    })
}

/// Scans all of `buf[start..]`, handing each window's good frames to
/// `on_frames(offsets, lengths)`, and stops at the first error or the end.
pub fn scan_all(
    buf: &[u8],
    start: usize,
    width: usize,
    verify: Option<Algorithm>,
    max_frame_len: u64,
    threads: usize,
    mut on_frames: impl FnMut(&[u64], &[u32]),
) -> Summary {
    let threads = threads.max(1);
    let mut summary = Summary {
        frames: 0,
        payload_bytes: 0,
        stop: start.min(buf.len()),
        status: Status::Clean,
        detail_a: 0,
        detail_b: 0,
    };
    loop {
        // With threads, locate frames first and verify them in parallel after.
        let inline = if threads > 1 { None } else { verify };
        let window = scan(
            buf,
            summary.stop,
            width,
            inline,
            max_frame_len,
            WINDOW_FRAMES,
        );
        let bytes: u64 = window.lengths.iter().map(|&l| u64::from(l)).sum();
        let mut good = window.offsets.len();
        let mut failure = None;
        if let (Some(algo), true) = (verify, threads > 1) {
            failure = if bytes >= PARALLEL_MIN_BYTES {
                first_bad_parallel(buf, &window.offsets, &window.lengths, width, algo, threads)
            } else {
                first_bad(buf, &window.offsets, &window.lengths, width, algo)
            };
            if let Some((i, _, _)) = failure {
                good = i;
            }
        }
        on_frames(&window.offsets[..good], &window.lengths[..good]);
        summary.frames += good as u64;
        summary.payload_bytes += window.lengths[..good]
            .iter()
            .map(|&l| u64::from(l))
            .sum::<u64>();
        if let Some((i, stored, calculated)) = failure {
            summary.stop = window.offsets[i] as usize;
            summary.status = Status::Checksum;
            summary.detail_a = stored;
            summary.detail_b = calculated;
            return summary;
        }
        summary.stop = window.stop;
        if window.status != Status::MaxFrames {
            summary.status = window.status;
            summary.detail_a = window.detail_a;
            summary.detail_b = window.detail_b;
            return summary;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::frame_into;

    fn stream(count: usize, size: usize, algo: Algorithm) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..count {
            let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            frame_into(&mut out, &payload, algo.width(), algo.compute(&payload));
        }
        out
    }

    fn collect(buf: &[u8], threads: usize, algo: Algorithm) -> (Vec<u64>, Summary) {
        let mut all = Vec::new();
        let s = scan_all(
            buf,
            0,
            algo.width(),
            Some(algo),
            1 << 31,
            threads,
            |o, _| all.extend_from_slice(o),
        );
        (all, s)
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let algo = Algorithm::Xxh3_64;
        let mut buf = stream(40, 300_000, algo); // windows large enough to go parallel
        let one = collect(&buf, 1, algo);
        assert_eq!(one.1.frames, 40);
        assert_eq!(one, collect(&buf, 2, algo));
        assert_eq!(one, collect(&buf, 3, algo));
        // corrupt frame 29: both report 29 good frames and the same error
        let at = one.0[29] as usize + 12 + 5;
        buf[at] ^= 0x40;
        let (o1, s1) = collect(&buf, 1, algo);
        let (o2, s2) = collect(&buf, 2, algo);
        assert_eq!((o1.len(), s1.status), (29, Status::Checksum));
        assert_eq!((o1, s1), (o2, s2));
    }

    #[test]
    fn windows_cover_many_small_frames() {
        let algo = Algorithm::Crc32;
        let buf = stream(WINDOW_FRAMES * 2 + 7, 3, algo);
        let (offsets, s) = collect(&buf, 2, algo);
        assert_eq!(offsets.len(), WINDOW_FRAMES * 2 + 7);
        assert_eq!(
            (s.stop, s.status, s.payload_bytes),
            (buf.len(), Status::Clean, offsets.len() as u64 * 3)
        );
    }
}
