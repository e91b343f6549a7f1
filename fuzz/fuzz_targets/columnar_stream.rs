//! The one-pass columnar decode (`columnar_stream::decode_stream`) over an
//! arbitrary stream of frames: it gives what the two passes give, `bulk::scan_all`
//! collecting the frames and `Decoder::decode` of their payloads.
//!
//! Properties: never panics; the same scan summary; without skipping the
//! same first bad frame (and reason), or the same columns; with skipping the
//! same columns and `rows_valid`; `overflow` exactly when there are more
//! frames than the outputs were sized for.
#![no_main]

use arbitrary::Arbitrary;
use flatstream_native::bulk::scan_all;
use flatstream_native::checksum::Algorithm;
use flatstream_native::codec::Scalar;
use flatstream_native::columnar::{Column, ColumnKind, Decoder, Out};
use flatstream_native::columnar_stream::{decode_stream, Walk};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    stream: Vec<u8>,
    crc: bool,
    skip: bool,
    threads: u8,
    capacity: u8,
}

fn fixed(id: usize, inline: usize, ty: Scalar, offset: usize, nullable: bool) -> Column {
    Column {
        id,
        inline,
        align: ty.size(),
        kind: ColumnKind::Fixed {
            ty,
            offset,
            default: vec![1; ty.size()],
            nullable,
        },
    }
}

fuzz_target!(|input: Input| {
    let dec = Decoder::new(
        vec![
            fixed(0, 1, Scalar::Bool, 0, false),
            fixed(1, 8, Scalar::U64, 0, false),
            fixed(2, 12, Scalar::F32, 4, true),
            fixed(3, 2, Scalar::I16, 0, true),
        ],
        1 << 20,
    )
    .expect("a valid plan");
    let (width, verify) = if input.crc {
        (4, Algorithm::from_name("crc32c"))
    } else {
        (0, None)
    };
    let threads = usize::from(input.threads % 3) + 1;
    let buf = &input.stream;
    // The reference: every frame, then one decode of their payloads.
    let (mut offsets, mut lengths) = (Vec::new(), Vec::new());
    let summary = scan_all(buf, 0, width, verify, 1 << 16, threads, |o, l| {
        offsets.extend(o.iter().map(|&o| o + 4 + width as u64));
        lengths.extend_from_slice(l);
    });
    let want = dec.decode(buf, &offsets, &lengths, input.skip);
    let capacity = usize::from(input.capacity);
    let sizes: Vec<usize> = (0..4).map(|c| dec.fixed_size(c)).collect();
    let mut fixed_out: Vec<Vec<u8>> = sizes.iter().map(|s| vec![0; s * capacity]).collect();
    let mut valid_out: Vec<Option<Vec<u8>>> =
        (0..4).map(|c| dec.has_valid(c).then(|| vec![0; capacity])).collect();
    let mut rows_valid = vec![0u8; capacity];
    let mut out = Out {
        fixed: fixed_out.iter_mut().map(|v| v.as_mut_slice()).collect(),
        valid: valid_out.iter_mut().map(|v| v.as_deref_mut()).collect(),
        rows_valid: input.skip.then_some(rows_valid.as_mut_slice()),
    };
    let walk = Walk { start: 0, width, verify, max_frame_len: 1 << 16, threads };
    let got = decode_stream(&dec, buf, walk, &mut out, capacity).expect("fixed columns");
    drop(out);
    assert_eq!(got.summary, summary);
    assert_eq!(got.overflow, offsets.len() > capacity);
    if got.overflow {
        return;
    }
    match want {
        Err(e) => assert_eq!(got.error, Some(e)),
        Ok(cols) => {
            assert!(got.error.is_none());
            let rows = got.rows;
            assert_eq!(rows, offsets.len());
            for c in 0..4 {
                assert_eq!(&fixed_out[c][..rows * sizes[c]], cols.values[c].as_slice());
                assert_eq!(valid_out[c].as_ref().map(|v| v[..rows].to_vec()), cols.valid[c]);
            }
            if input.skip {
                assert_eq!(&rows_valid[..rows], cols.rows_valid.as_slice());
            }
        }
    }
});
