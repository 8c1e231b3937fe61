//! Small text helpers: hex, byte sizes, times, ranges given on the command line.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::str::FromStr;
use std::time::Duration;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex, without allocating.
///
/// ```
/// let mut out = Vec::new();
/// slipstream_tools::text::write_hex(&mut out, &[0x0a, 0xff]).unwrap();
/// assert_eq!(out, b"0aff");
/// ```
pub fn write_hex(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut buf = [0u8; 256];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (i, &b) in chunk.iter().enumerate() {
            buf[2 * i] = HEX[(b >> 4) as usize];
            buf[2 * i + 1] = HEX[(b & 15) as usize];
        }
        out.write_all(&buf[..2 * chunk.len()])?;
    }
    Ok(())
}

/// `bytes` as lowercase hex.
///
/// ```
/// assert_eq!(slipstream_tools::text::hex(b"\x01\xab"), "01ab");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Bytes as text if they are printable UTF-8 (no control characters), else as
/// hex prefixed with `0x`. For showing opaque names and unexpected file contents.
///
/// ```
/// use slipstream_tools::text::printable;
/// assert_eq!(printable(b"credits.aleo"), "\"credits.aleo\"");
/// assert_eq!(printable(&[0, 1, 0xff]), "0x0001ff");
/// ```
pub fn printable(bytes: &[u8]) -> String {
    match as_text(bytes) {
        Some(s) => format!("{s:?}"),
        None => format!("0x{}", hex(bytes)),
    }
}

/// Bytes as `&str` if they are non-empty UTF-8 without control characters.
///
/// ```
/// use slipstream_tools::text::as_text;
/// assert_eq!(as_text(b"account"), Some("account"));
/// assert_eq!(as_text(b"a\nb"), None);
/// assert_eq!(as_text(b""), None);
/// ```
pub fn as_text(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    (!s.is_empty() && !s.chars().any(char::is_control)).then_some(s)
}

/// A byte count for people: `512 B`, `64.0 KiB`, `4.0 MiB`, `1.5 GiB`.
///
/// ```
/// use slipstream_tools::text::size;
/// assert_eq!(size(512), "512 B");
/// assert_eq!(size(64 << 20), "64.0 MiB");
/// ```
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration for people: `850 ns`, `12.3 µs`, `4.5 ms`, `2.0 s`, `3m 12s`, `2h 05m`, `3d 04h`.
///
/// ```
/// use slipstream_tools::text::duration;
/// use std::time::Duration;
/// assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
/// assert_eq!(duration(Duration::from_secs(192)), "3m 12s");
/// ```
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let s = d.as_secs();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if s < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86400 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d {:02}h", s / 86400, s % 86400 / 3600)
    }
}

/// Nanoseconds since the Unix epoch as UTC, `2025-06-01T12:34:56.789Z`.
///
/// ```
/// use slipstream_tools::text::utc;
/// assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(utc(1_700_000_000_123_000_000), "2023-11-14T22:13:20.123Z");
/// ```
pub fn utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let millis = unix_ns % 1_000_000_000 / 1_000_000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: a day count since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// How long ago `unix_ns` was, for people (`3m 12s ago`), or `in the future`.
pub fn ago(unix_ns: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    if unix_ns > now {
        return "in the future".into();
    }
    format!("{} ago", duration(Duration::from_nanos(now - unix_ns)))
}

/// An inclusive range of counts or sizes given as `N` or `MIN..MAX`
/// (`MIN..=MAX` too). Sizes accept units: `32KiB..256KiB`.
///
/// ```
/// use slipstream_tools::text::Range;
/// let r: Range = "200..2000".parse().unwrap();
/// assert_eq!((r.min, r.max), (200, 2000));
/// assert_eq!("7".parse::<Range>().unwrap(), Range { min: 7, max: 7 });
/// assert_eq!(Range::parse_sizes("1KiB..4KiB").unwrap(), Range { min: 1024, max: 4096 });
/// assert!("9..3".parse::<Range>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The smallest value.
    pub min: u64,
    /// The largest value (inclusive).
    pub max: u64,
}

impl Range {
    fn parse_with(s: &str, one: impl Fn(&str) -> Result<u64, String>) -> Result<Range, String> {
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
            None => (s, s),
        };
        let (min, max) = (one(a.trim())?, one(b.trim())?);
        if min > max {
            return Err(format!("range {s:?} is empty: {min} is more than {max}"));
        }
        Ok(Range { min, max })
    }

    /// Parses a range of sizes, each with an optional unit (`KiB`, `MiB`, ...).
    pub fn parse_sizes(s: &str) -> Result<Range, String> {
        Range::parse_with(s, |n| {
            slipstream_producer::parse_size(n).map_err(|e| e.to_string())
        })
    }
}

impl FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Range, String> {
        Range::parse_with(s, |n| {
            n.parse()
                .map_err(|_| format!("{n:?} is not a whole number (expected N or MIN..MAX)"))
        })
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_around_leap_years() {
        // 2024-02-29T00:00:00Z and 2000-03-01T00:00:00Z.
        assert_eq!(
            utc(1_709_164_800 * 1_000_000_000),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(utc(951_868_800 * 1_000_000_000), "2000-03-01T00:00:00.000Z");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(duration(Duration::from_micros(12_300)), "12.3 ms");
        assert_eq!(duration(Duration::from_secs(7500)), "2h 05m");
    }

    #[test]
    fn hex_of_long_input_is_chunked_correctly() {
        let bytes: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut out = Vec::new();
        write_hex(&mut out, &bytes).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), hex(&bytes));
    }
}
