//! The columnar decode kernel over arbitrary batches of arbitrary payloads.
//!
//! The plan reads a bool, a u64, an f32 at offset 4 of a 12-byte struct, an
//! optional i16, a string and a vector of u32 (ids 0..=5), as
//! `flatstream.schema.columnar` lowers such a table. Frames are the input's
//! payloads laid end to end, plus one frame whose offset/length may point
//! anywhere.
//!
//! Properties: `decode` never panics; without skipping it fails exactly at
//! the first frame that fails on its own (and succeeds when none does);
//! with skipping, `rows_valid` marks exactly the frames that decode on
//! their own, and every output has one value per row (offsets start at 0,
//! never decrease and end at the values' length); a batch's rows equal the
//! rows of its frames decoded one at a time.
#![no_main]

use arbitrary::Arbitrary;
use flatstream_native::codec::Scalar;
use flatstream_native::columnar::{Column, ColumnKind, Decoder};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    payloads: Vec<Vec<u8>>,
    stray: Option<(u64, u32)>,
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

fn decoder() -> Decoder {
    Decoder::new(
        vec![
            fixed(0, 1, Scalar::Bool, 0, false),
            fixed(1, 8, Scalar::U64, 0, false),
            fixed(2, 12, Scalar::F32, 4, true),
            fixed(3, 2, Scalar::I16, 0, true),
            Column { id: 4, inline: 4, align: 4, kind: ColumnKind::Str },
            Column { id: 5, inline: 4, align: 4, kind: ColumnKind::Vector { elem: 4 } },
        ],
        1 << 20,
    )
    .expect("a valid plan")
}

fuzz_target!(|input: Input| {
    let dec = decoder();
    let mut buf = Vec::new();
    let (mut offsets, mut lengths) = (Vec::new(), Vec::new());
    for p in input.payloads.iter().take(64) {
        offsets.push(buf.len() as u64);
        lengths.push(p.len().min(u32::MAX as usize) as u32);
        buf.extend_from_slice(p);
    }
    if let Some((o, l)) = input.stray {
        offsets.push(o);
        lengths.push(l);
    }
    let rows = offsets.len();
    let alone: Vec<bool> = (0..rows)
        .map(|i| dec.decode(&buf, &offsets[i..=i], &lengths[i..=i], false).is_ok())
        .collect();
    match dec.decode(&buf, &offsets, &lengths, false) {
        Ok(_) => assert!(alone.iter().all(|&ok| ok)),
        Err(e) => assert_eq!(Some(e.frame), alone.iter().position(|&ok| !ok)),
    }
    let cols = dec.decode(&buf, &offsets, &lengths, true).expect("skipping never fails");
    assert_eq!(cols.rows_valid, alone.iter().map(|&ok| u8::from(ok)).collect::<Vec<_>>());
    for (c, col) in dec.columns().iter().enumerate() {
        if let Some(v) = &cols.valid[c] {
            assert_eq!(v.len(), rows);
        }
        match (&col.kind, &cols.offsets[c]) {
            (ColumnKind::Fixed { ty, .. }, None) => assert_eq!(cols.values[c].len(), rows * ty.size()),
            (ColumnKind::Str, Some(o)) | (ColumnKind::Vector { .. }, Some(o)) => {
                let elem = if let ColumnKind::Vector { elem } = col.kind { elem } else { 1 };
                assert_eq!(o.len(), rows + 1);
                assert_eq!(o[0], 0);
                assert!(o.windows(2).all(|w| w[0] <= w[1]));
                assert_eq!(*o.last().unwrap() as usize * elem, cols.values[c].len());
            }
            _ => panic!("column {c} has the wrong shape"),
        }
    }
    // Row by row, the batch equals its frames decoded alone.
    for i in 0..rows {
        let one = dec.decode(&buf, &offsets[i..=i], &lengths[i..=i], true).unwrap();
        for c in 0..one.values.len() {
            if let Some(o) = &cols.offsets[c] {
                let elem = if let ColumnKind::Vector { elem } = dec.columns()[c].kind { elem } else { 1 };
                let part = &cols.values[c][o[i] as usize * elem..o[i + 1] as usize * elem];
                assert_eq!(part, one.values[c].as_slice());
            } else {
                let size = one.values[c].len();
                assert_eq!(&cols.values[c][i * size..(i + 1) * size], one.values[c].as_slice());
            }
        }
    }
});
