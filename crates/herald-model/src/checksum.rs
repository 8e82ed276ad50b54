//! S3's flexible checksums as Herald keeps them with an object: which
//! algorithm, whether the value covers the whole object or is a checksum of
//! its parts' checksums (multipart `COMPOSITE`, value suffixed `-N`), and
//! the base64 value. Computing them is the server's job (it already hashes
//! every body it verifies); the store only keeps what it is given.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The wire name (`x-amz-checksum-algorithm`), case-insensitively.
    pub fn parse(s: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Whether a multipart object can carry a whole-object value (the CRCs
    /// combine; hashes do not).
    pub fn allows_full_object(self) -> bool {
        matches!(
            self,
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme
        )
    }

    /// Whether a multipart object can carry a checksum of checksums (all
    /// but CRC64NVME, as S3).
    pub fn allows_composite(self) -> bool {
        self != ChecksumAlgorithm::Crc64Nvme
    }

    /// S3's default type of a multipart upload with this algorithm.
    pub fn default_multipart_type(self) -> ChecksumType {
        if self == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    FullObject,
    Composite,
}

impl ChecksumType {
    pub fn parse(s: &str) -> Option<ChecksumType> {
        match s {
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            "COMPOSITE" => Some(ChecksumType::Composite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
}

/// An object's checksum as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumType,
    /// Base64; a composite value ends in `-<parts>`.
    pub value: String,
}

/// The checksum a multipart upload was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_types_follow_s3() {
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(ChecksumAlgorithm::parse("crc32c"), Some(ChecksumAlgorithm::Crc32c));
        assert_eq!(ChecksumAlgorithm::parse("md5"), None);
        assert!(!ChecksumAlgorithm::Sha256.allows_full_object());
        assert!(!ChecksumAlgorithm::Crc64Nvme.allows_composite());
        assert_eq!(
            ChecksumAlgorithm::Crc64Nvme.default_multipart_type(),
            ChecksumType::FullObject
        );
        assert_eq!(ChecksumType::parse("COMPOSITE"), Some(ChecksumType::Composite));
    }
}
