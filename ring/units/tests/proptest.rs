//! Properties of the grammar over many generated inputs: every size round-trips
//! or is `TooLarge`, every duration likewise, and no text makes a parser panic.

use std::time::Duration;

use proptest::prelude::*;
use slipstream_units::{parse_duration, parse_size, UnitsError};

/// Every spelling of every size unit, lower case, with its power of two,
/// written from the grammar's rule rather than as a table: a prefix (none,
/// k, m, g, t: 2^0, 2^10 ... 2^40) then nothing, `b` or `ib` (`ib` needs a
/// prefix).
fn size_unit() -> impl Strategy<Value = (String, u32)> {
    (0u32..5, prop::sample::select(vec!["", "b", "ib"])).prop_map(|(p, suffix)| {
        let prefix = ["", "k", "m", "g", "t"][p as usize];
        let suffix = if p == 0 && suffix == "ib" {
            "b"
        } else {
            suffix
        };
        (format!("{prefix}{suffix}"), 10 * p)
    })
}

const DURATION_UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// A number: any u64, weighted towards the edges where overflow starts.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..4096,
        (0u32..64).prop_map(|k| u64::MAX >> k),
        (0u32..64).prop_map(|k| (u64::MAX >> k).saturating_add(1)),
    ]
}

/// Spaces, tabs or nothing.
fn blank() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn size_round_trips_or_is_too_large(
        n in number(),
        (spelling, shift) in size_unit(),
        upper in proptest::collection::vec(any::<bool>(), 3),
        (before, between, after) in (blank(), blank(), blank()),
    ) {
        let cased: String = spelling
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let text = format!("{before}{n}{between}{cased}{after}");
        match n.checked_mul(1 << shift) {
            Some(v) => prop_assert_eq!(parse_size(&text), Ok(v)),
            None => {
                prop_assert_eq!(n.checked_shl(shift).filter(|v| v >> shift == n), None);
                prop_assert_eq!(
                    parse_size(&text),
                    Err(UnitsError::TooLarge { what: "size", text: text.clone() })
                );
            }
        }
    }

    #[test]
    fn duration_round_trips_or_is_too_large(
        n in number(),
        unit in 0..DURATION_UNITS.len(),
        between in blank(),
    ) {
        let (spelling, ns) = DURATION_UNITS[unit];
        let text = format!("{n}{between}{spelling}");
        match n.checked_mul(ns) {
            Some(v) => prop_assert_eq!(parse_duration(&text), Ok(Duration::from_nanos(v))),
            None => prop_assert_eq!(
                parse_duration(&text),
                Err(UnitsError::TooLarge { what: "duration", text: text.clone() })
            ),
        }
    }

    #[test]
    fn no_text_panics(text in any::<String>()) {
        let _ = parse_size(&text);
        let _ = parse_duration(&text);
    }

    #[test]
    fn no_unit_like_text_panics_and_errors_quote_the_text(
        text in "[ \t]?[-+]?[0-9]{0,25}[.,]?[0-9]{0,3}[ \t]?[a-zA-Zµμ]{0,4}[ \t]?",
    ) {
        for r in [parse_size(&text).err(), parse_duration(&text).err()].into_iter().flatten() {
            let quoted = format!("{text:?}");
            prop_assert!(r.to_string().starts_with(&quoted), "{} does not quote {}", r, quoted);
        }
    }
}
