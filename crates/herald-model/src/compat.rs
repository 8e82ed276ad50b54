//! Whose behaviour Herald follows where AWS and Ceph disagree.
//!
//! Herald serves users of both, and a few of Ceph's answers contradict
//! AWS's (Ceph sends no `s3:TestEvent`, adds notifications by Id instead
//! of replacing the configuration, puts the tenant in topic ARNs). The
//! operator picks one with `herald serve --compat aws|ceph`; every point
//! it changes is listed in `docs/notifications.md`.

use std::fmt;
use std::str::FromStr;

/// The server-wide compatibility mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// AWS S3, SNS and SQS (the default).
    #[default]
    Aws,
    /// Ceph RGW (Squid): what Ceph's own notification suite expects.
    Ceph,
}

impl Compat {
    pub fn is_ceph(self) -> bool {
        self == Compat::Ceph
    }
}

impl FromStr for Compat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "aws" => Ok(Compat::Aws),
            "ceph" => Ok(Compat::Ceph),
            _ => Err(format!("compat must be aws or ceph, not {s:?}")),
        }
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compat::Aws => "aws",
            Compat::Ceph => "ceph",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_modes_and_refuses_others() {
        assert_eq!("aws".parse::<Compat>(), Ok(Compat::Aws));
        assert_eq!("CEPH".parse::<Compat>(), Ok(Compat::Ceph));
        assert!("minio".parse::<Compat>().unwrap_err().contains("aws or ceph"));
        assert_eq!(Compat::default(), Compat::Aws);
        assert_eq!(Compat::Ceph.to_string(), "ceph");
    }
}
