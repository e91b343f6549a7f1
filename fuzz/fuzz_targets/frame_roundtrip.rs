//! frame_into then scan: what the writer frames, the reader finds again.
//!
//! Properties: framing arbitrary payloads with an algorithm and scanning the
//! result yields exactly those payloads with status Clean; every truncation
//! of the stream yields the frames wholly before the cut, status Partial (or
//! Clean on a boundary) at the right stop with the right byte count needed;
//! a limit one below the longest payload stops with Limit at that frame; and
//! flipping a payload byte of a checksummed frame stops with Checksum there
//! (a detection guarantee every CRC and XXH3 gives for one flipped byte).
#![no_main]

use arbitrary::Arbitrary;
use flatstream_native::checksum::Algorithm;
use flatstream_native::frame::{frame_into, frame_size};
use flatstream_native::scan::{scan, Status, LENGTH_BYTES};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Algo {
    None,
    Crc16,
    Crc32,
    Crc32c,
    Xxh3_64,
}

#[derive(Arbitrary, Debug)]
struct Input {
    algo: Algo,
    payloads: Vec<Vec<u8>>,
    /// Chooses the extra cuts tried on long streams.
    cut_seed: u32,
    /// A payload byte to flip (index into the concatenated payloads).
    flip: Option<u16>,
    flip_mask: u8,
}

/// Stream sizes up to which every truncation is scanned; above it, cuts
/// around each boundary and a strided sample (keeps executions fast).
const ALL_CUTS_UP_TO: usize = 512;

fuzz_target!(|input: Input| {
    let algo = match input.algo {
        Algo::None => Algorithm::None,
        Algo::Crc16 => Algorithm::Crc16,
        Algo::Crc32 => Algorithm::Crc32,
        Algo::Crc32c => Algorithm::Crc32c,
        Algo::Xxh3_64 => Algorithm::Xxh3_64,
    };
    let width = algo.width();
    let header = LENGTH_BYTES + width;
    let payloads = &input.payloads;

    let mut buf = Vec::new();
    let mut boundaries = vec![0usize];
    for p in payloads {
        frame_into(&mut buf, p, width, algo.compute(p));
        boundaries.push(buf.len());
        assert_eq!(
            boundaries[boundaries.len() - 1] - boundaries[boundaries.len() - 2],
            frame_size(p.len(), width)
        );
    }
    let limit = u64::from(u32::MAX);

    // The whole stream: exactly the payloads, Clean.
    for verify in [Some(algo), None] {
        let s = scan(&buf, 0, width, verify, limit, usize::MAX);
        assert_eq!(s.status, Status::Clean);
        assert_eq!(s.stop, buf.len());
        assert_eq!(s.offsets.len(), payloads.len());
        for (i, p) in payloads.iter().enumerate() {
            let off = s.offsets[i] as usize;
            assert_eq!(off, boundaries[i]);
            assert_eq!(s.lengths[i] as usize, p.len());
            assert_eq!(&buf[off + header..off + header + p.len()], &p[..]);
        }
    }

    // Truncations.
    let check_cut = |cut: usize| {
        let s = scan(&buf[..cut], 0, width, Some(algo), limit, usize::MAX);
        let whole = boundaries.partition_point(|&b| b <= cut) - 1;
        let stop = boundaries[whole];
        assert_eq!(s.stop, stop, "cut {cut}");
        assert_eq!(s.offsets.len(), whole, "cut {cut}");
        if stop == cut {
            assert_eq!(s.status, Status::Clean, "cut {cut}");
        } else {
            assert_eq!(s.status, Status::Partial, "cut {cut}");
            let need = if cut - stop < header {
                header
            } else {
                frame_size(payloads[whole].len(), width)
            };
            assert_eq!(s.detail_a, need as u64, "cut {cut}");
        }
    };
    if buf.len() <= ALL_CUTS_UP_TO {
        (0..=buf.len()).for_each(check_cut);
    } else {
        for &b in &boundaries {
            for cut in [b.saturating_sub(1), b, b + 1, b + header - 1, b + header] {
                if cut <= buf.len() {
                    check_cut(cut);
                }
            }
        }
        let step = buf.len() / 64 + 1;
        let mut cut = input.cut_seed as usize % step;
        while cut <= buf.len() {
            check_cut(cut);
            cut += step;
        }
    }

    // A limit one below the longest payload: Limit at the first such frame.
    if let Some((first_long, longest)) = payloads
        .iter()
        .map(Vec::len)
        .enumerate()
        .max_by_key(|&(i, len)| (len, std::cmp::Reverse(i)))
    {
        if longest > 0 {
            let tight = longest as u64 - 1;
            let s = scan(&buf, 0, width, Some(algo), tight, usize::MAX);
            assert_eq!(s.status, Status::Limit);
            assert_eq!(s.offsets.len(), first_long);
            assert_eq!(s.stop, boundaries[first_long]);
            assert_eq!((s.detail_a, s.detail_b), (longest as u64, tight));
        }
    }

    // One flipped payload bit or byte: Checksum at that frame.
    if let (Some(flip), true) = (input.flip, width > 0 && input.flip_mask != 0) {
        let total: usize = payloads.iter().map(Vec::len).sum();
        if total > 0 {
            let mut target = usize::from(flip) % total;
            let frame = payloads
                .iter()
                .position(|p| {
                    if target < p.len() {
                        true
                    } else {
                        target -= p.len();
                        false
                    }
                })
                .unwrap();
            let mut damaged = buf.clone();
            damaged[boundaries[frame] + header + target] ^= input.flip_mask;
            let s = scan(&damaged, 0, width, Some(algo), limit, usize::MAX);
            assert_eq!(
                s.status,
                Status::Checksum,
                "flip in frame {frame} not detected"
            );
            assert_eq!(s.stop, boundaries[frame]);
            assert_eq!(s.offsets.len(), frame);
        }
    }
});
