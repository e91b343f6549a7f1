//! Unit tests of `columnar` (the decode) and of the encode it round-trips with.
use super::*;
use crate::columnar_encode::{EncodeField, Encoder};

fn fixed(id: usize, ty: Scalar, nullable: bool) -> Column {
    Column {
        id,
        inline: ty.size(),
        align: ty.size(),
        kind: ColumnKind::Fixed {
            ty,
            offset: 0,
            default: vec![0; ty.size()],
            nullable,
        },
    }
}

fn telemetry_encoder() -> Encoder {
    let fields = (0..3)
        .map(|i| EncodeField {
            field: Field {
                id: i,
                kind: Kind::Scalar(if i == 2 { Scalar::F64 } else { Scalar::U64 }),
            },
            scalars: vec![(0, if i == 2 { Scalar::F64 } else { Scalar::U64 }, i)],
            presence: None,
        })
        .collect();
    Encoder::new(fields, Vec::new()).unwrap()
}

fn telemetry_frames(rows: usize) -> (Vec<u8>, Vec<u64>, Vec<u32>) {
    let a: Vec<u8> = (0..rows as u64).flat_map(|v| v.to_le_bytes()).collect();
    let b: Vec<u8> = (0..rows as u64)
        .flat_map(|v| (v * 3).to_le_bytes())
        .collect();
    let c: Vec<u8> = (0..rows)
        .flat_map(|v| (v as f64 / 2.0).to_le_bytes())
        .collect();
    let mut buf = Vec::new();
    let (mut offs, mut lens) = (Vec::new(), Vec::new());
    telemetry_encoder()
        .encode(&[&a, &b, &c], rows, |p| {
            offs.push(buf.len() as u64);
            lens.push(p.len() as u32);
            buf.extend_from_slice(p);
        })
        .unwrap();
    (buf, offs, lens)
}

fn telemetry_decoder() -> Decoder {
    Decoder::new(
        vec![
            fixed(0, Scalar::U64, false),
            fixed(1, Scalar::U64, false),
            fixed(2, Scalar::F64, false),
        ],
        usize::MAX,
    )
    .unwrap()
}

#[test]
fn round_trips_telemetry() {
    let (buf, offs, lens) = telemetry_frames(50);
    let cols = telemetry_decoder()
        .decode(&buf, &offs, &lens, false)
        .unwrap();
    let ts: Vec<u64> = cols.values[1]
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(ts, (0..50u64).map(|v| v * 3).collect::<Vec<_>>());
}

#[test]
fn every_cut_and_corruption_is_an_error_or_in_bounds() {
    let (buf, offs, lens) = telemetry_frames(3);
    let dec = telemetry_decoder();
    for cut in 0..lens[1] {
        let mut l = lens.clone();
        l[1] = cut;
        let err = dec.decode(&buf, &offs, &l, false).unwrap_err();
        assert_eq!(err.frame, 1);
        let skipped = dec.decode(&buf, &offs, &l, true).unwrap();
        assert_eq!(skipped.rows_valid, vec![1, 0, 1]);
    }
    for at in 0..buf.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut bad = buf.clone();
            bad[at] = v;
            let _ = dec.decode(&bad, &offs, &lens, false);
        }
    }
    assert!(dec.decode(&buf, &[u64::MAX], &[4], false).is_err());
}

#[test]
fn strings_and_vectors_are_checked() {
    // A table with one string at id 0: root 12, vtable at 6 (len 6, obj 8, slot 4)...
    let dec = Decoder::new(
        vec![Column {
            id: 0,
            inline: 4,
            align: 4,
            kind: ColumnKind::Str,
        }],
        usize::MAX,
    )
    .unwrap();
    // Hand-built: [root=8][pad 2][vt: 6, 8, 4][table: soffset=6][off=4 -> string at 16][len 2]["hi\0\0"]
    let mut b = Vec::new();
    b.extend_from_slice(&8u32.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[6, 0, 8, 0, 4, 0]);
    // table at 12? keep positions consistent: root must point at the table.
    b.truncate(4);
    b.extend_from_slice(&[6, 0, 8, 0, 4, 0, 0, 0]); // vtable at 4, padded to 12
    let table = b.len(); // 12
    b[0..4].copy_from_slice(&(table as u32).to_le_bytes());
    b.extend_from_slice(&((table - 4) as i32).to_le_bytes());
    b.extend_from_slice(&4u32.to_le_bytes()); // string at table+4+4
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(b"hi\0\0");
    let cols = dec.decode(&b, &[0], &[b.len() as u32], false).unwrap();
    assert_eq!(cols.values[0], b"hi");
    assert_eq!(cols.offsets[0], Some(vec![0, 2]));
    for cut in 0..(b.len() - 2) as u32 {
        assert!(dec.decode(&b, &[0], &[cut], false).is_err());
    }
    let mut bad = b.clone();
    let n = bad.len();
    bad[n - 4] = 0xff;
    assert!(dec.decode(&bad, &[0], &[n as u32], false).is_err());
}

mod speed {
    #[test]
    #[ignore]
    fn telemetry_speed() {
        use super::super::*;
        use crate::columnar_encode::{EncodeField, Encoder};
        let rows = 1_000_000;
        let a: Vec<u8> = (1..=rows as u64).flat_map(|v| v.to_le_bytes()).collect();
        let fields: Vec<EncodeField> = (0..3)
            .map(|i| EncodeField {
                field: Field {
                    id: i,
                    kind: Kind::Scalar(Scalar::U64),
                },
                scalars: vec![(0, Scalar::U64, i)],
                presence: None,
            })
            .collect();
        let mut buf = Vec::new();
        let (mut offs, mut lens) = (Vec::new(), Vec::new());
        let t = std::time::Instant::now();
        Encoder::new(fields, Vec::new())
            .unwrap()
            .encode(&[&a, &a, &a], rows, |p| {
                offs.push(buf.len() as u64);
                lens.push(p.len() as u32);
                buf.extend_from_slice(p);
            })
            .unwrap();
        eprintln!("encode {:?}", t.elapsed());
        let cols = (0..3)
            .map(|i| Column {
                id: i,
                inline: 8,
                align: 8,
                kind: ColumnKind::Fixed {
                    ty: Scalar::U64,
                    offset: 0,
                    default: vec![0; 8],
                    nullable: false,
                },
            })
            .collect();
        let dec = Decoder::new(cols, usize::MAX).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let c = dec.decode(&buf, &offs, &lens, false).unwrap();
            eprintln!("decode {:?} {}", t.elapsed(), c.values[0].len());
            let t = std::time::Instant::now();
            let mut sum = 0u64;
            for (&o, &l) in offs.iter().zip(&lens) {
                let p = &buf[o as usize..o as usize + l as usize];
                sum = sum.wrapping_add(u64::from_le_bytes(p[l as usize - 8..].try_into().unwrap()));
            }
            eprintln!("read-only loop {:?} {sum}", t.elapsed());
            let t = std::time::Instant::now();
            let mut v = vec![0u8; rows * 8];
            for (i, ch) in v.chunks_exact_mut(8).enumerate() {
                ch[0] = i as u8;
            }
            eprintln!("alloc+touch 8MB {:?} {}", t.elapsed(), v[9]);
        }
    }
}
