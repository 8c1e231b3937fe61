//! The one grammar of human sizes and durations in Slipstream.
//!
//! Every config file and command line of the project (the producer's plugin
//! config, `slipstream-sim`, `slipstream-journal`, `slipstream-bridge`, the
//! benchmark harness, ...) reads sizes with [`parse_size`] and durations with
//! [`parse_duration`], so that `64MiB` or `7d` written for one tool means the
//! same in every other.
//!
//! # Grammar
//!
//! A value is a whole number of decimal digits (`0`-`9` only: no sign, no
//! fraction, no exponent, no other script's digits), optional whitespace, then
//! a unit. Whitespace around the whole value is ignored.
//!
//! ## Sizes ([`parse_size`])
//!
//! Units are case-insensitive (`64mib`, `64MIB` and `64MiB` are the same).
//! **Every unit is binary (a power of 1024), `KB` and `MB` included**: the
//! producer's config always read `kb` as 1024 bytes, and a ring's capacity
//! must be a power of two, so decimal kilobytes would only surprise.
//!
//! | unit | also written | bytes |
//! |---|---|---|
//! | none | `B` | 1 |
//! | `KiB` | `K`, `KB` | 2^10 = 1024 |
//! | `MiB` | `M`, `MB` | 2^20 |
//! | `GiB` | `G`, `GB` | 2^30 |
//! | `TiB` | `T`, `TB` | 2^40 |
//!
//! The result must fit in a `u64`: `16777215TiB` is the largest value in
//! tebibytes, `16777216TiB` is [`UnitsError::TooLarge`].
//!
//! ## Durations ([`parse_duration`])
//!
//! Units are lower case, exactly as written here (`M` is not a unit: months
//! or minutes?).
//!
//! | unit | also written | meaning |
//! |---|---|---|
//! | `ns` | | nanoseconds |
//! | `us` | `µs` | microseconds |
//! | `ms` | | milliseconds |
//! | `s` | | seconds |
//! | `m` | | minutes |
//! | `h` | | hours |
//! | `d` | | days (86 400 s) |
//!
//! A bare `0` (any number of zeros) is a zero duration; any other number
//! needs a unit ([`UnitsError::MissingUnit`]): `5` alone could mean seconds or
//! milliseconds. The total must fit in 64 bits of nanoseconds
//! (`18446744073709551615ns`, about 584 years); more is
//! [`UnitsError::TooLarge`], so a caller can add it to an `Instant` or convert
//! it to nanoseconds without overflowing.
//!
//! ```
//! use std::time::Duration;
//! use slipstream_units::{parse_duration, parse_size};
//! assert_eq!(parse_size("64MiB")?, 64 << 20);
//! assert_eq!(parse_size(" 4 kb ")?, 4096);
//! assert_eq!(parse_duration("7d")?, Duration::from_secs(7 * 86_400));
//! assert_eq!(parse_duration("200 us")?, Duration::from_micros(200));
//! assert!(parse_duration("1.5s").is_err()); // whole numbers only: write 1500ms
//! # Ok::<(), slipstream_units::UnitsError>(())
//! ```

use std::time::Duration;

/// The size units accepted, as error messages list them.
pub const SIZE_UNITS: &str = "B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (any case, all 1024-based)";

/// The duration units accepted, as error messages list them.
pub const DURATION_UNITS: &str = "ns, us, µs, ms, s, m, h, d";

/// Text that is not a size or a duration. Every variant carries the text
/// given and what it was read as (`what`: `"size"` or `"duration"`), and its
/// message says what is accepted.
///
/// ```
/// use slipstream_units::{parse_duration, UnitsError};
/// let err = parse_duration("7 parsecs").unwrap_err();
/// assert!(matches!(&err, UnitsError::UnknownUnit { what: "duration", unit, .. } if unit == "parsecs"));
/// assert_eq!(
///     err.to_string(),
///     r#""7 parsecs" is not a duration: unknown unit "parsecs" (valid: ns, us, µs, ms, s, m, h, d)"#
/// );
/// ```
///
/// Not `#[non_exhaustive]` on purpose: the crates that map it into their own
/// errors (`slipstream-producer`'s `ConfigError`, `slipstream-journal`'s
/// `ParseError`) match every variant, so a new one fails their build rather
/// than falling into a catch-all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// The text does not start with a whole number of ASCII digits (it is
    /// empty, has a sign, or the number has a fraction such as `1.5s`).
    #[error("{text:?} is not a {what}: it must be a whole number (digits 0-9, no sign or fraction) and a unit")]
    NotANumber {
        /// `"size"` or `"duration"`.
        what: &'static str,
        /// The text given.
        text: String,
    },
    /// The unit after the number is not one of `valid`.
    #[error("{text:?} is not a {what}: unknown unit {unit:?} (valid: {valid})")]
    UnknownUnit {
        /// `"size"` or `"duration"`.
        what: &'static str,
        /// The text given.
        text: String,
        /// The unit given (whitespace around it removed).
        unit: String,
        /// The units accepted ([`SIZE_UNITS`] or [`DURATION_UNITS`]).
        valid: &'static str,
    },
    /// A number other than zero with no unit where one is needed (a
    /// duration: `5` could be seconds or milliseconds).
    #[error(
        "{text:?} is not a {what}: a number needs a unit (valid: {valid}); only 0 stands alone"
    )]
    MissingUnit {
        /// `"duration"`.
        what: &'static str,
        /// The text given.
        text: String,
        /// The units accepted.
        valid: &'static str,
    },
    /// The value does not fit in 64 bits (of bytes or of nanoseconds).
    #[error("{text:?} is too large a {what}: the largest is {}", largest(what))]
    TooLarge {
        /// `"size"` or `"duration"`.
        what: &'static str,
        /// The text given.
        text: String,
    },
}

fn largest(what: &str) -> &'static str {
    if what == "size" {
        "18446744073709551615 bytes (16 EiB - 1)"
    } else {
        "18446744073709551615ns (about 584 years)"
    }
}

const SIZE: &str = "size";
const DURATION: &str = "duration";

/// Size units (compared case-insensitively) and the power of two each stands for.
const SIZE_TABLE: [(&str, u32); 14] = [
    ("", 0),
    ("b", 0),
    ("k", 10),
    ("kb", 10),
    ("kib", 10),
    ("m", 20),
    ("mb", 20),
    ("mib", 20),
    ("g", 30),
    ("gb", 30),
    ("gib", 30),
    ("t", 40),
    ("tb", 40),
    ("tib", 40),
];

/// Duration units (compared exactly) and their nanoseconds. `µs` is there
/// twice: as U+00B5 MICRO SIGN (what keyboards type) and U+03BC GREEK SMALL
/// LETTER MU (what Unicode normalisation makes of it).
const DURATION_TABLE: [(&str, u64); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
];

/// A value split into its number and its unit: the digits (checked to be a
/// whole number, not yet converted) and the unit with whitespace removed.
fn split<'a>(what: &'static str, s: &'a str) -> Result<(&'a str, &'a str), UnitsError> {
    let t = s.trim();
    let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, rest) = t.split_at(end);
    let fraction =
        rest.starts_with(['.', ',']) && rest[1..].starts_with(|c: char| c.is_ascii_digit());
    if digits.is_empty() || fraction {
        return Err(UnitsError::NotANumber {
            what,
            text: s.to_owned(),
        });
    }
    Ok((digits, rest.trim_start()))
}

/// `digits` (non-empty ASCII digits) times `mul`, or `TooLarge`.
fn scale(what: &'static str, s: &str, digits: &str, mul: u64) -> Result<u64, UnitsError> {
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| UnitsError::TooLarge {
            what,
            text: s.to_owned(),
        })
}

/// Parses a size in bytes: `4096`, `64KiB`, `64 MiB`, `1gb`, `2T` (see the
/// [grammar](crate#sizes-parse_size); every unit is 1024-based).
///
/// ```
/// use slipstream_units::{parse_size, UnitsError};
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert_eq!(parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(parse_size("64 mb"), Ok(64 << 20)); // binary, not 64 000 000
/// assert_eq!(parse_size("1T"), Ok(1 << 40));
/// assert!(matches!(parse_size("2 parsecs"), Err(UnitsError::UnknownUnit { .. })));
/// assert!(matches!(parse_size("16777216TiB"), Err(UnitsError::TooLarge { .. })));
/// ```
///
/// # Errors
///
/// [`UnitsError::NotANumber`] (no whole number of ASCII digits first: empty,
/// signed, `1.5MiB`), [`UnitsError::UnknownUnit`], or
/// [`UnitsError::TooLarge`] for more than `u64::MAX` bytes.
pub fn parse_size(s: &str) -> Result<u64, UnitsError> {
    let (digits, unit) = split(SIZE, s)?;
    let Some(&(_, shift)) = SIZE_TABLE
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
    else {
        return Err(UnitsError::UnknownUnit {
            what: SIZE,
            text: s.to_owned(),
            unit: unit.to_owned(),
            valid: SIZE_UNITS,
        });
    };
    scale(SIZE, s, digits, 1 << shift)
}

/// Parses a duration: `500ns`, `200us`, `200µs`, `1ms`, `2s`, `10m`, `12h`,
/// `7d`, or a bare `0` (see the [grammar](crate#durations-parse_duration)).
///
/// ```
/// use std::time::Duration;
/// use slipstream_units::{parse_duration, UnitsError};
/// assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
/// assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
/// assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
/// assert!(matches!(parse_duration("5"), Err(UnitsError::MissingUnit { .. })));
/// assert!(matches!(parse_duration("1.5s"), Err(UnitsError::NotANumber { .. })));
/// ```
///
/// # Errors
///
/// [`UnitsError::NotANumber`] (no whole number of ASCII digits first: empty,
/// signed, `1.5s`), [`UnitsError::MissingUnit`] (a number other than 0
/// alone), [`UnitsError::UnknownUnit`], or [`UnitsError::TooLarge`] for more
/// than `u64::MAX` nanoseconds (about 584 years).
pub fn parse_duration(s: &str) -> Result<Duration, UnitsError> {
    let (digits, unit) = split(DURATION, s)?;
    if unit.is_empty() {
        if digits.bytes().all(|b| b == b'0') {
            return Ok(Duration::ZERO);
        }
        return Err(UnitsError::MissingUnit {
            what: DURATION,
            text: s.to_owned(),
            valid: DURATION_UNITS,
        });
    }
    let Some(&(_, ns)) = DURATION_TABLE.iter().find(|(u, _)| *u == unit) else {
        return Err(UnitsError::UnknownUnit {
            what: DURATION,
            text: s.to_owned(),
            unit: unit.to_owned(),
            valid: DURATION_UNITS,
        });
    };
    scale(DURATION, s, digits, ns).map(Duration::from_nanos)
}

#[cfg(test)]
mod tests;
