use std::time::Duration;

use super::*;

fn not_a_number(what: &'static str, text: &str) -> Result<u64, UnitsError> {
    Err(UnitsError::NotANumber {
        what,
        text: text.to_owned(),
    })
}

fn too_large(what: &'static str, text: &str) -> UnitsError {
    UnitsError::TooLarge {
        what,
        text: text.to_owned(),
    }
}

#[test]
fn every_size_unit_in_every_case() {
    let units: [(&[&str], u32); 5] = [
        (&["", "b", "B"], 0),
        (
            &["k", "K", "kb", "KB", "Kb", "kB", "kib", "KiB", "KIB", "kIb"],
            10,
        ),
        (&["m", "M", "mb", "MB", "mib", "MiB", "MIB", "miB"], 20),
        (&["g", "G", "gb", "GB", "gib", "GiB", "GIB"], 30),
        (&["t", "T", "tb", "TB", "tib", "TiB", "TIB"], 40),
    ];
    for (spellings, shift) in units {
        for unit in spellings {
            for text in [
                format!("3{unit}"),
                format!("3 {unit}"),
                format!(" \t3\t{unit} \n"),
            ] {
                assert_eq!(parse_size(&text), Ok(3 << shift), "{text:?}");
            }
        }
    }
}

#[test]
fn every_duration_unit() {
    let cases = [
        ("7ns", Duration::from_nanos(7)),
        ("7us", Duration::from_micros(7)),
        ("7\u{b5}s", Duration::from_micros(7)),
        ("7\u{3bc}s", Duration::from_micros(7)),
        ("7ms", Duration::from_millis(7)),
        ("7s", Duration::from_secs(7)),
        ("7m", Duration::from_secs(7 * 60)),
        ("7h", Duration::from_secs(7 * 3_600)),
        ("7d", Duration::from_secs(7 * 86_400)),
        (" 7 d ", Duration::from_secs(7 * 86_400)),
        ("200\tus", Duration::from_micros(200)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Ok(want), "{text:?}");
    }
}

#[test]
fn duration_units_are_lower_case_only() {
    for text in ["7S", "7MS", "7Ms", "7M", "7H", "7D", "7NS", "7US"] {
        let err = parse_duration(text).unwrap_err();
        assert!(
            matches!(&err, UnitsError::UnknownUnit { what: "duration", unit, valid, .. }
                if *unit == text[1..] && *valid == DURATION_UNITS),
            "{text:?}: {err:?}"
        );
    }
}

#[test]
fn zero() {
    assert_eq!(parse_size("0"), Ok(0));
    assert_eq!(parse_size("0GiB"), Ok(0));
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration(" 000 "), Ok(Duration::ZERO));
    assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("0d"), Ok(Duration::ZERO));
}

#[test]
fn a_bare_duration_other_than_zero_needs_a_unit() {
    let err = parse_duration("5").unwrap_err();
    assert_eq!(
        err,
        UnitsError::MissingUnit {
            what: "duration",
            text: "5".into(),
            valid: DURATION_UNITS
        }
    );
    assert_eq!(
        err.to_string(),
        r#""5" is not a duration: a number needs a unit (valid: ns, us, µs, ms, s, m, h, d); only 0 stands alone"#
    );
    assert!(matches!(
        parse_duration("007"),
        Err(UnitsError::MissingUnit { .. })
    ));
}

#[test]
fn largest_size_that_fits_and_the_first_that_does_not() {
    assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    assert_eq!(parse_size("18446744073709551615B"), Ok(u64::MAX));
    assert_eq!(
        parse_size("18446744073709551616"),
        Err(too_large("size", "18446744073709551616"))
    );
    let max = [
        ("KiB", u64::MAX >> 10),
        ("MiB", u64::MAX >> 20),
        ("GiB", u64::MAX >> 30),
        ("TiB", u64::MAX >> 40),
    ];
    for (unit, n) in max {
        let shift = n.leading_zeros();
        assert_eq!(parse_size(&format!("{n}{unit}")), Ok(n << shift), "{unit}");
        let over = format!("{}{unit}", n + 1);
        assert_eq!(parse_size(&over), Err(too_large("size", &over)));
    }
    assert_eq!(parse_size("16777215TiB"), Ok(16_777_215 << 40));
    // Digits beyond u64 with a unit: still TooLarge, not NotANumber.
    let huge = "99999999999999999999999999999KiB";
    assert_eq!(parse_size(huge), Err(too_large("size", huge)));
    // Leading zeros do not count against the limit.
    assert_eq!(parse_size("0000000000000000000000000001KiB"), Ok(1024));
    assert_eq!(
        parse_size("16777216TiB").unwrap_err().to_string(),
        r#""16777216TiB" is too large a size: the largest is 18446744073709551615 bytes (16 EiB - 1)"#
    );
}

#[test]
fn largest_duration_that_fits_and_the_first_that_does_not() {
    assert_eq!(
        parse_duration("18446744073709551615ns"),
        Ok(Duration::from_nanos(u64::MAX))
    );
    let over = "18446744073709551616ns";
    assert_eq!(parse_duration(over), Err(too_large("duration", over)));
    // u64::MAX ns = 18446744073.709551615 s = 213503.98... days.
    assert_eq!(
        parse_duration("18446744073s"),
        Ok(Duration::from_secs(18_446_744_073))
    );
    assert_eq!(
        parse_duration("18446744074s"),
        Err(too_large("duration", "18446744074s"))
    );
    assert_eq!(
        parse_duration("213503d"),
        Ok(Duration::from_secs(213_503 * 86_400))
    );
    assert_eq!(
        parse_duration("213504d"),
        Err(too_large("duration", "213504d"))
    );
    assert_eq!(
        parse_duration("213504d").unwrap_err().to_string(),
        r#""213504d" is too large a duration: the largest is 18446744073709551615ns (about 584 years)"#
    );
}

#[test]
fn empty_blank_and_unit_only() {
    for text in ["", "   ", "MiB", "B", "k"] {
        assert_eq!(parse_size(text), not_a_number("size", text), "{text:?}");
    }
    for text in ["", " ", "s", "ms", "d"] {
        assert_eq!(
            parse_duration(text),
            Err(UnitsError::NotANumber {
                what: "duration",
                text: text.into()
            }),
            "{text:?}"
        );
    }
}

#[test]
fn signs_are_not_accepted() {
    for text in ["-1", "+1", "-1KiB", "+1KiB", " -0"] {
        assert_eq!(parse_size(text), not_a_number("size", text), "{text:?}");
    }
    for text in ["-1s", "+1s", "-0", "+0"] {
        assert!(
            matches!(parse_duration(text), Err(UnitsError::NotANumber { .. })),
            "{text:?}"
        );
    }
}

#[test]
fn fractions_are_not_a_number_whole_numbers_only() {
    for text in ["1.5s", "0.5ms", "1,5s", "2.0"] {
        let err = parse_duration(text).unwrap_err();
        assert_eq!(
            err,
            UnitsError::NotANumber {
                what: "duration",
                text: text.into()
            }
        );
        assert!(err.to_string().contains("no sign or fraction"), "{err}");
    }
    for text in ["1.5GiB", "0.5", "1,5MiB"] {
        assert_eq!(parse_size(text), not_a_number("size", text), "{text:?}");
    }
    // A dot not followed by a digit is part of an unknown unit.
    assert!(
        matches!(parse_size("1.MiB"), Err(UnitsError::UnknownUnit { unit, .. }) if unit == ".MiB")
    );
}

#[test]
fn non_ascii_digits_are_not_a_number() {
    // Arabic-Indic, full-width and Devanagari digits.
    for text in ["\u{661}\u{662}MiB", "\u{ff11}\u{ff12}", "\u{967}s"] {
        assert!(
            matches!(parse_size(text), Err(UnitsError::NotANumber { .. })),
            "{text:?}"
        );
        assert!(
            matches!(parse_duration(text), Err(UnitsError::NotANumber { .. })),
            "{text:?}"
        );
    }
    // ASCII digits then non-ASCII ones: the rest is an unknown unit.
    assert!(matches!(
        parse_size("1\u{661}"),
        Err(UnitsError::UnknownUnit { unit, .. }) if unit == "\u{661}"
    ));
}

#[test]
fn unknown_units_name_the_unit_and_the_valid_ones() {
    let err = parse_duration("7 parsecs").unwrap_err();
    assert_eq!(
        err,
        UnitsError::UnknownUnit {
            what: "duration",
            text: "7 parsecs".into(),
            unit: "parsecs".into(),
            valid: DURATION_UNITS
        }
    );
    assert_eq!(
        err.to_string(),
        r#""7 parsecs" is not a duration: unknown unit "parsecs" (valid: ns, us, µs, ms, s, m, h, d)"#
    );
    let err = parse_size("2XiB").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#""2XiB" is not a size: unknown unit "XiB" (valid: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (any case, all 1024-based))"#
    );
    // Decimal-looking and larger units are not silently accepted.
    for text in ["1PiB", "1P", "1EiB", "1kibi", "1 KiB B", "5 5MiB", "1e3"] {
        assert!(
            matches!(parse_size(text), Err(UnitsError::UnknownUnit { .. })),
            "{text:?}"
        );
    }
    for text in ["1sec", "1min", "1w", "1y", "1 s s", "1e3s", "1mss"] {
        assert!(
            matches!(parse_duration(text), Err(UnitsError::UnknownUnit { .. })),
            "{text:?}"
        );
    }
}

#[test]
fn a_wrong_unit_is_named_before_an_overflowing_number() {
    let text = "99999999999999999999999 parsecs";
    assert!(matches!(
        parse_size(text),
        Err(UnitsError::UnknownUnit { .. })
    ));
    assert!(matches!(
        parse_duration(text),
        Err(UnitsError::UnknownUnit { .. })
    ));
}
