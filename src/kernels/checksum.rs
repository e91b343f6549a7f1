//! The checksum algorithms of the wire format, each taken from a crate made for it.

use crc::{Crc, CRC_16_XMODEM};

const XMODEM: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// A built-in checksum algorithm. Custom algorithms live in Python; the kernels
/// then only frame and leave verification to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    None,
    Crc16,
    Crc32,
    Crc32c,
    Xxh3_64,
}

impl Algorithm {
    /// Looks an algorithm up by its wire-format name (`xxhash64` is the Rust crate's alias).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "crc16" => Self::Crc16,
            "crc32" => Self::Crc32,
            "crc32c" => Self::Crc32c,
            "xxh3_64" | "xxhash64" => Self::Xxh3_64,
            _ => return None,
        })
    }

    /// Bytes the checksum occupies in a frame header.
    pub fn width(self) -> usize {
        match self {
            Self::None => 0,
            Self::Crc16 => 2,
            Self::Crc32 | Self::Crc32c => 4,
            Self::Xxh3_64 => 8,
        }
    }

    pub fn compute(self, data: &[u8]) -> u64 {
        match self {
            Self::None => 0,
            Self::Crc16 => u64::from(XMODEM.checksum(data)),
            Self::Crc32 => u64::from(crc32fast::hash(data)),
            Self::Crc32c => u64::from(crc32c::crc32c(data)),
            Self::Xxh3_64 => twox_hash::XxHash3_64::oneshot(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer values from the wire-format spec.
    #[test]
    fn known_answers() {
        let check = b"123456789";
        assert_eq!(Algorithm::Crc16.compute(check), 0x31C3);
        assert_eq!(Algorithm::Crc32.compute(check), 0xCBF4_3926);
        assert_eq!(Algorithm::Xxh3_64.compute(check), 0x72DC_B18B_67A1_7DFF);
        assert_eq!(Algorithm::Crc32c.compute(check), 0xE306_9283);
        assert_eq!(Algorithm::Xxh3_64.compute(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(Algorithm::Crc16.compute(b""), 0);
        assert_eq!(Algorithm::Crc32.compute(b""), 0);
        assert_eq!(Algorithm::Crc32c.compute(b""), 0);
    }

    #[test]
    fn names_and_widths() {
        assert_eq!(Algorithm::from_name("xxhash64"), Some(Algorithm::Xxh3_64));
        assert_eq!(Algorithm::from_name("md5"), None);
        let widths: Vec<usize> = ["none", "crc16", "crc32", "crc32c", "xxh3_64"]
            .iter()
            .map(|n| Algorithm::from_name(n).unwrap().width())
            .collect();
        assert_eq!(widths, vec![0, 2, 4, 4, 8]);
    }
}
