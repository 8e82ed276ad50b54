//! Parsers for human-friendly command-line values (`1KiB`, `20s`) and the
//! matching formatters used in the report.
//!
//! They are hand-written rather than pulled from a crate because the grammar
//! is tiny and keeping it here makes the accepted spellings explicit and
//! testable.

use std::time::Duration;

/// The largest object a single S3 `PutObject` may carry (5 GiB). Anything
/// larger is certainly a typo, and we would try to allocate it in memory.
const MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Parses a byte size such as `1024`, `4KB`, `1KiB`, `1.5MiB` or `2g`.
///
/// Decimal suffixes (`K`, `KB`, `M`, `MB`, `G`, `GB`) are powers of 1000 and
/// binary ones (`KiB`, `MiB`, `GiB`) powers of 1024, as in the SI/IEC
/// standards; matching is case-insensitive so `1kib` works too.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid size {input:?}: expected a number like 1KiB"));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {input:?}: use B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
    };
    let bytes = if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| format!("invalid size {input:?}"))?;
        (value * multiplier as f64).round() as u64
    } else {
        let value: u64 = number.parse().map_err(|_| format!("invalid size {input:?}"))?;
        value
            .checked_mul(multiplier)
            .ok_or_else(|| format!("size {input:?} is too large"))?
    };
    if bytes > MAX_SIZE {
        return Err(format!("size {input:?} exceeds the 5 GiB single-PUT limit of S3"));
    }
    Ok(bytes)
}

/// Parses a duration such as `20s`, `500ms`, `1m`, `1.5s` or `1h`; a bare
/// number means seconds.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {input:?}: expected e.g. 20s, 500ms or 1m"))?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {input:?}: use ms, s, m or h"
            ));
        }
    };
    let duration =
        Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| format!("invalid duration {input:?}"))?;
    if duration.is_zero() {
        return Err(format!("duration {input:?} must be greater than zero"));
    }
    Ok(duration)
}

/// Formats a byte count with a binary unit, for the human-readable report.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1kib"), Ok(1024));
        assert_eq!(parse_size("4KB"), Ok(4000));
        assert_eq!(parse_size("4k"), Ok(4000));
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("16B"), Ok(16));
        assert_eq!(parse_size(" 8 KiB "), Ok(8192));
        assert!(parse_size("").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("6GiB").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn size_formatting() {
        assert_eq!(format_size(100), "100 B");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_size(4 * 1024 * 1024), "4 MiB");
    }
}
