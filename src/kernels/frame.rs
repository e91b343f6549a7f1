//! Writing frames: `[u32 LE length][checksum, `width` bytes LE][payload]`.

use crate::scan::LENGTH_BYTES;

/// Appends one frame to `out`. The caller has checked that the payload fits
/// in a u32 and that `width` is 0..=8.
pub fn frame_into(out: &mut Vec<u8>, payload: &[u8], width: usize, checksum: u64) {
    let len = u32::try_from(payload.len()).expect("payload length checked by the caller");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum.to_le_bytes()[..width]);
    out.extend_from_slice(payload);
}

/// Writes one frame at the start of `out` (which has room for it) and returns
/// its size. The caller has checked that the payload fits in a u32.
pub fn frame_at(out: &mut [u8], payload: &[u8], width: usize, checksum: u64) -> usize {
    let len = u32::try_from(payload.len()).expect("payload length checked by the caller");
    let header = LENGTH_BYTES + width;
    out[..LENGTH_BYTES].copy_from_slice(&len.to_le_bytes());
    out[LENGTH_BYTES..header].copy_from_slice(&checksum.to_le_bytes()[..width]);
    out[header..header + payload.len()].copy_from_slice(payload);
    header + payload.len()
}

/// Bytes a frame of `payload_len` takes with a checksum of `width` bytes.
pub fn frame_size(payload_len: usize, width: usize) -> usize {
    LENGTH_BYTES + width + payload_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Algorithm;

    // The spec's table of known frames for the payload b"abc".
    #[test]
    fn known_frames() {
        let cases = [
            (Algorithm::None, "03000000616263"),
            (Algorithm::Crc16, "03000000d69d616263"),
            (Algorithm::Crc32, "03000000c2412435616263"),
            (Algorithm::Xxh3_64, "0300000050392f89945faf78616263"),
        ];
        for (algo, hex) in cases {
            let mut out = Vec::new();
            frame_into(&mut out, b"abc", algo.width(), algo.compute(b"abc"));
            let got: String = out.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(got, hex, "{algo:?}");
            assert_eq!(out.len(), frame_size(3, algo.width()));
            let mut placed = vec![0u8; out.len()];
            let n = frame_at(&mut placed, b"abc", algo.width(), algo.compute(b"abc"));
            assert_eq!((n, placed), (out.len(), out));
        }
    }
}
