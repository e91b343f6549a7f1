//! The journal metadata reader (`record::read_record`), two ways:
//!
//! 1. Records built by the official `flatbuffers` crate's builder from fuzzed
//!    field values (an independent writer) read back equal, for each of the
//!    journal's record layouts.
//! 2. The same bytes, then cut and damaged as the fuzzer says, never panic,
//!    and whatever is read lies inside the buffer (strings valid UTF-8).
#![no_main]

use arbitrary::Arbitrary;
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use flatstream_native::record::{read_record, Value};
use libfuzzer_sys::fuzz_target;

const LAYOUTS: [&[u8]; 4] = [b"IsssqpbsssBsIQ", b"QQQQQQQQ", b"QQQQQQ", b"BQIIbvvv"];

#[derive(Arbitrary, Debug)]
enum Field {
    Absent,
    Int(u64),
    Text(String),
    Blob(Vec<u8>),
    Words(Vec<u32>),
    Pairs(Vec<(String, String)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    layout: u8,
    fields: Vec<Field>,
    cut: Option<u16>,
    damage: Vec<(u16, u8)>,
}

/// What the reader must return for a field of `kind` given `field`.
enum Want {
    Int(u64),
    Text(String),
    Blob(Vec<u8>),
    Words(Vec<u32>),
    Pairs(Vec<(String, String)>),
}

fn build(kinds: &[u8], fields: &[Field]) -> (Vec<u8>, Vec<Want>) {
    let mut b = FlatBufferBuilder::new();
    let mut refs: Vec<Option<WIPOffset<flatbuffers::UnionWIPOffset>>> = Vec::new();
    let mut wants = Vec::new();
    for (slot, &kind) in kinds.iter().enumerate() {
        let field = fields.get(slot).unwrap_or(&Field::Absent);
        let (r, want) = match (kind, field) {
            (b's', Field::Text(t)) => (Some(b.create_string(t).as_union_value()), Want::Text(t.clone())),
            (b's', _) => (None, Want::Text(String::new())),
            (b'b', Field::Blob(v)) => (Some(b.create_vector(v).as_union_value()), Want::Blob(v.clone())),
            (b'b', _) => (None, Want::Blob(Vec::new())),
            (b'v', Field::Words(v)) => (Some(b.create_vector(v).as_union_value()), Want::Words(v.clone())),
            (b'v', _) => (None, Want::Words(Vec::new())),
            (b'p', Field::Pairs(pairs)) => {
                let tables: Vec<_> = pairs
                    .iter()
                    .map(|(k, v)| {
                        let (k, v) = (b.create_string(k), b.create_string(v));
                        let start = b.start_table();
                        b.push_slot_always(4, k);
                        b.push_slot_always(6, v);
                        b.end_table(start)
                    })
                    .collect();
                (Some(b.create_vector(&tables).as_union_value()), Want::Pairs(pairs.clone()))
            }
            (b'p', _) => (None, Want::Pairs(Vec::new())),
            (_, Field::Int(v)) => {
                let mask = match kind {
                    b'B' => 0xff,
                    b'I' => 0xffff_ffff,
                    _ => u64::MAX,
                };
                (None, Want::Int(v & mask))
            }
            _ => (None, Want::Int(0)),
        };
        refs.push(r);
        wants.push(want);
    }
    let start = b.start_table();
    for (slot, &kind) in kinds.iter().enumerate() {
        let at = (4 + 2 * slot) as u16;
        match (&refs[slot], &wants[slot]) {
            (Some(r), _) => b.push_slot_always(at, *r),
            (None, Want::Int(v)) if *v != 0 => match kind {
                b'B' => b.push_slot_always(at, *v as u8),
                b'I' => b.push_slot_always(at, *v as u32),
                _ => b.push_slot_always(at, *v),
            },
            _ => {}
        }
    }
    let root = b.end_table(start);
    b.finish(root, Some("FSJX"));
    (b.finished_data().to_vec(), wants)
}

fn check_equal(buf: &[u8], values: &[Value], wants: &[Want]) {
    let text = |s: usize, l: usize| std::str::from_utf8(&buf[s..s + l]).unwrap().to_string();
    for (value, want) in values.iter().zip(wants) {
        match (value, want) {
            (Value::Unsigned(v), Want::Int(w)) => assert_eq!(v, w),
            (Value::Signed(v), Want::Int(w)) => assert_eq!(*v as u64, *w),
            (Value::Str(s, l), Want::Text(w)) => assert_eq!(&text(*s, *l), w),
            (Value::Bytes(s, l), Want::Blob(w)) => assert_eq!(&buf[*s..s + l], &w[..]),
            (Value::U32s(v), Want::Words(w)) => assert_eq!(v, w),
            (Value::Pairs(v), Want::Pairs(w)) => {
                let got: Vec<_> = v.iter().map(|(k, x)| (text(k.0, k.1), text(x.0, x.1))).collect();
                assert_eq!(&got, w);
            }
            (v, _) => panic!("kind mismatch: {v:?}"),
        }
    }
}

fn check_in_bounds(buf: &[u8], values: &[Value]) {
    let in_bounds = |s: usize, l: usize| s.checked_add(l).is_some_and(|e| e <= buf.len());
    for value in values {
        match value {
            Value::Str(s, l) => {
                assert!(in_bounds(*s, *l));
                assert!(std::str::from_utf8(&buf[*s..s + l]).is_ok());
            }
            Value::Bytes(s, l) => assert!(in_bounds(*s, *l)),
            Value::U32s(v) => assert!(v.len() * 4 <= buf.len()),
            Value::Pairs(v) => {
                for (k, x) in v {
                    assert!(in_bounds(k.0, k.1) && in_bounds(x.0, x.1));
                }
            }
            Value::Unsigned(_) | Value::Signed(_) => {}
        }
    }
}

fuzz_target!(|input: Input| {
    let kinds = LAYOUTS[usize::from(input.layout) % LAYOUTS.len()];
    let (mut buf, wants) = build(kinds, &input.fields);
    let values = read_record(&buf, kinds).expect("a record the builder wrote reads back");
    check_equal(&buf, &values, &wants);
    if let Some(cut) = input.cut {
        buf.truncate(usize::from(cut) % (buf.len() + 1));
    }
    for &(at, byte) in &input.damage {
        if !buf.is_empty() {
            let at = usize::from(at) % buf.len();
            buf[at] = byte;
        }
    }
    for layout in LAYOUTS {
        if let Ok(values) = read_record(&buf, layout) {
            check_in_bounds(&buf, &values);
        }
    }
});
