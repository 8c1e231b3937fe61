//! What `slipstream-bridge` puts on NATS JetStream: subjects, headers and
//! payloads, defined once for the bridge and the remote consumer.
//!
//! **Subjects** (`P` is the prefix, one or more NATS tokens; default `slipstream`):
//!
//! | message | subject |
//! | --- | --- |
//! | `mapping_update`, `mapping_removal` | `P.<kind>.<program>.<mapping>` |
//! | `staking_reward`, `block`, `block_begin`, `block_commit` | `P.<kind>` |
//! | a gap (events the bridge could not read) | `P.gap` |
//! | a change in the producer's life | `P.producer` |
//!
//! The stream captures `P.>`. A subscriber filters on the server with e.g.
//! `P.mapping_update.credits~2Ealeo.account` or `P.*.credits~2Ealeo.>`.
//!
//! **Escaping of names** ([`escape_token`]): a NATS token may not contain
//! `.`, `*`, `>` or whitespace, and program ids contain dots. Each byte of a
//! program id or mapping name that is an ASCII letter, digit, `_` or `-` is
//! kept; every other byte (including `.` and `~`, and any byte of non-ASCII
//! UTF-8) becomes `~` and two upper-case hex digits. An empty name is the
//! token `~`. So `credits.aleo` is `credits~2Ealeo`; the mapping is exact and
//! reversible ([`unescape_token`]).
//!
//! **Headers** (all values ASCII decimal unless said):
//!
//! | header | on | value |
//! | --- | --- | --- |
//! | `Nats-Msg-Id` | all | `RING:SEQ` for an event, `RING:gap:FIRST-LAST`, `RING:producer:CHANGE:EPOCH:NEXT` (JetStream drops a second message with the same id within the stream's duplicate window) |
//! | `Slipstream-Ring` | all | the ring's `ring_id`, 16 lower-case hex digits |
//! | `Slipstream-Message` | all | `event`, `gap` or `producer` |
//! | `Slipstream-Next-Seq` | all | the ring sequence number that follows this message: where a bridge resumes |
//! | `Slipstream-Seq` | event | the event's sequence number |
//! | `Slipstream-Kind` | event | its kind's name (`mapping_update`, ...) |
//! | `Slipstream-Kind-Code` | event | its record kind (FORMAT.md) |
//! | `Slipstream-Height`, `Slipstream-Ordinal` | event | its block height and ordinal |
//! | `Slipstream-Format` | event | `binary` (the payload is the event's bytes as FORMAT.md section 10 encodes them) or `json` (the line `slipstream-tail --json` prints, without its newline) |
//! | `Slipstream-Gap-First`, `Slipstream-Gap-Last`, `Slipstream-Gap-Reason` | gap | the exact range missed (inclusive), and `lapped`, `not-retained` or `undecodable` |
//! | `Slipstream-Gap-First-Height`, `Slipstream-Gap-Last-Height` | gap, when known | the heights of the blocks of the first and last event missed (the SDK's `Missed::first_height`, `last_height`); absent when the bridge does not know them (a `not-retained` or `undecodable` gap, or a `lapped` one whose `Missed` left them `None`) |
//! | `Slipstream-Gap-First-Partial`, `Slipstream-Gap-Last-Partial` | gap | `true` or `false`: `Missed::first_partial`, `last_partial` (some of that block's events come before / after the range); absent means `false` |
//! | `Slipstream-Producer`, `Slipstream-Pid`, `Slipstream-Epoch` | producer | `died`, `closed` or `restarted`; pid (not for `closed`); epoch |
//!
//! Gap and producer messages have an empty payload.
//!
//! ```
//! use slipstream_consumer::{EventKind, remote::wire::*};
//! // What a subscriber to credits.aleo's account updates filters on:
//! let subject = event_subject("slipstream", EventKind::MappingUpdate, Some((b"credits.aleo", b"account")));
//! assert_eq!(subject, "slipstream.mapping_update.credits~2Ealeo.account");
//! assert_eq!(stream_subjects("slipstream"), "slipstream.>");
//! ```

use slipstream_event::EventKind;

/// `Nats-Msg-Id`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_MSG_ID, "Nats-Msg-Id");
/// ```
pub const H_MSG_ID: &str = "Nats-Msg-Id";
/// `Slipstream-Ring`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_RING, "Slipstream-Ring");
/// ```
pub const H_RING: &str = "Slipstream-Ring";
/// `Slipstream-Message`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_MESSAGE, "Slipstream-Message");
/// ```
pub const H_MESSAGE: &str = "Slipstream-Message";
/// `Slipstream-Next-Seq`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_NEXT_SEQ, "Slipstream-Next-Seq");
/// ```
pub const H_NEXT_SEQ: &str = "Slipstream-Next-Seq";
/// `Slipstream-Seq`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_SEQ, "Slipstream-Seq");
/// ```
pub const H_SEQ: &str = "Slipstream-Seq";
/// `Slipstream-Kind`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_KIND, "Slipstream-Kind");
/// ```
pub const H_KIND: &str = "Slipstream-Kind";
/// `Slipstream-Kind-Code`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_KIND_CODE, "Slipstream-Kind-Code");
/// ```
pub const H_KIND_CODE: &str = "Slipstream-Kind-Code";
/// `Slipstream-Height`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_HEIGHT, "Slipstream-Height");
/// ```
pub const H_HEIGHT: &str = "Slipstream-Height";
/// `Slipstream-Ordinal`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_ORDINAL, "Slipstream-Ordinal");
/// ```
pub const H_ORDINAL: &str = "Slipstream-Ordinal";
/// `Slipstream-Format`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_FORMAT, "Slipstream-Format");
/// ```
pub const H_FORMAT: &str = "Slipstream-Format";
/// `Slipstream-Gap-First`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_FIRST, "Slipstream-Gap-First");
/// ```
pub const H_GAP_FIRST: &str = "Slipstream-Gap-First";
/// `Slipstream-Gap-Last`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_LAST, "Slipstream-Gap-Last");
/// ```
pub const H_GAP_LAST: &str = "Slipstream-Gap-Last";
/// `Slipstream-Gap-Reason`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_REASON, "Slipstream-Gap-Reason");
/// ```
pub const H_GAP_REASON: &str = "Slipstream-Gap-Reason";
/// `Slipstream-Gap-First-Height`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_FIRST_HEIGHT, "Slipstream-Gap-First-Height");
/// ```
pub const H_GAP_FIRST_HEIGHT: &str = "Slipstream-Gap-First-Height";
/// `Slipstream-Gap-Last-Height`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_LAST_HEIGHT, "Slipstream-Gap-Last-Height");
/// ```
pub const H_GAP_LAST_HEIGHT: &str = "Slipstream-Gap-Last-Height";
/// `Slipstream-Gap-First-Partial`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_FIRST_PARTIAL, "Slipstream-Gap-First-Partial");
/// ```
pub const H_GAP_FIRST_PARTIAL: &str = "Slipstream-Gap-First-Partial";
/// `Slipstream-Gap-Last-Partial`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_GAP_LAST_PARTIAL, "Slipstream-Gap-Last-Partial");
/// ```
pub const H_GAP_LAST_PARTIAL: &str = "Slipstream-Gap-Last-Partial";
/// `Slipstream-Producer`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_PRODUCER, "Slipstream-Producer");
/// ```
pub const H_PRODUCER: &str = "Slipstream-Producer";
/// `Slipstream-Pid`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_PID, "Slipstream-Pid");
/// ```
pub const H_PID: &str = "Slipstream-Pid";
/// `Slipstream-Epoch`.
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::H_EPOCH, "Slipstream-Epoch");
/// ```
pub const H_EPOCH: &str = "Slipstream-Epoch";

/// How an event's payload is encoded.
///
/// ```
/// use slipstream_consumer::remote::wire::Format;
/// assert_eq!(Format::default(), Format::Binary);
/// assert_eq!("json".parse(), Ok(Format::Json));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The event's bytes as FORMAT.md section 10 encodes them.
    #[default]
    Binary,
    /// The JSON line `slipstream-tail --json` prints (no newline).
    Json,
}

impl Format {
    /// The `Slipstream-Format` value.
    ///
    /// ```
    /// assert_eq!(slipstream_consumer::remote::wire::Format::Json.as_str(), "json");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Binary => "binary",
            Format::Json => "json",
        }
    }
}

/// Text that is not a [`Format`].
///
/// ```
/// use slipstream_consumer::remote::wire::{Format, ParseFormatError};
/// assert_eq!("yaml".parse::<Format>(), Err(ParseFormatError("yaml".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a format: binary or json")]
pub struct ParseFormatError(pub String);

impl std::str::FromStr for Format {
    type Err = ParseFormatError;
    /// `binary` (or `bin`) or `json`.
    fn from_str(s: &str) -> Result<Self, ParseFormatError> {
        match s {
            "binary" | "bin" => Ok(Format::Binary),
            "json" => Ok(Format::Json),
            _ => Err(ParseFormatError(s.to_owned())),
        }
    }
}

/// A subject prefix or stream name that NATS would refuse or misread.
///
/// ```
/// use slipstream_consumer::remote::wire::{check_stream_name, NameError};
/// assert!(matches!(check_stream_name("a.b"), Err(NameError::Stream { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The prefix is not one or more tokens of allowed characters.
    #[error("subject prefix {prefix:?} is not valid: {why} (a prefix is one or more tokens separated by '.', each non-empty, of printable ASCII without '*', '>', spaces, and not starting with '$')")]
    Prefix {
        /// The prefix.
        prefix: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The stream name is not allowed.
    #[error("stream name {name:?} is not valid: {why} (a stream name is printable ASCII without '.', '*', '>', '/', '\\\\' or spaces)")]
    Stream {
        /// The name.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// Checks a subject prefix.
///
/// ```
/// use slipstream_consumer::remote::wire::check_prefix;
/// assert!(check_prefix("slipstream.mainnet").is_ok());
/// assert!(check_prefix("a..b").is_err());
/// assert!(check_prefix("events.>").is_err());
/// ```
///
/// # Errors
/// [`NameError::Prefix`] naming what is wrong.
pub fn check_prefix(prefix: &str) -> Result<(), NameError> {
    let err = |why| {
        Err(NameError::Prefix {
            prefix: prefix.to_string(),
            why,
        })
    };
    if prefix.is_empty() {
        return err("it is empty");
    }
    if prefix.starts_with('$') {
        return err("names starting with '$' are reserved for the server's APIs");
    }
    for token in prefix.split('.') {
        if token.is_empty() {
            return err("it has an empty token (a leading, trailing or doubled '.')");
        }
        if token.bytes().any(|b| b == b'*' || b == b'>') {
            return err("wildcards '*' and '>' cannot be published to");
        }
        if token.bytes().any(|b| !b.is_ascii_graphic()) {
            return err("it contains whitespace, a control character or non-ASCII");
        }
    }
    Ok(())
}

/// Checks a JetStream stream name.
///
/// # Errors
/// [`NameError::Stream`] naming what is wrong.
///
/// ```
/// use slipstream_consumer::remote::wire::check_stream_name;
/// assert!(check_stream_name("SLIPSTREAM").is_ok());
/// assert!(check_stream_name("two words").is_err());
/// ```
pub fn check_stream_name(name: &str) -> Result<(), NameError> {
    let err = |why| {
        Err(NameError::Stream {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return err("it is empty");
    }
    if name
        .bytes()
        .any(|b| matches!(b, b'.' | b'*' | b'>' | b'/' | b'\\') || !b.is_ascii_graphic())
    {
        return err("it contains a character that is not allowed");
    }
    Ok(())
}

fn keep(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A program id or mapping name as one subject token (see the module docs).
///
/// ```
/// use slipstream_consumer::remote::wire::{escape_token, unescape_token};
/// assert_eq!(escape_token(b"credits.aleo"), "credits~2Ealeo");
/// assert_eq!(escape_token(b""), "~");
/// assert_eq!(unescape_token("credits~2Ealeo").unwrap(), b"credits.aleo");
/// ```
pub fn escape_token(name: &[u8]) -> String {
    if name.is_empty() {
        return "~".to_string();
    }
    let mut out = String::with_capacity(name.len() + 8);
    for &b in name {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push('~');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// The bytes a token made by [`escape_token`] stands for; `None` if it is not one.
///
/// ```
/// use slipstream_consumer::remote::wire::unescape_token;
/// assert_eq!(unescape_token("credits~2Ealeo").as_deref(), Some(&b"credits.aleo"[..]));
/// assert_eq!(unescape_token("a.b"), None); // not a token
/// ```
pub fn unescape_token(token: &str) -> Option<Vec<u8>> {
    if token == "~" {
        return Some(Vec::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'~' {
            let hex = token.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if keep(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// The subject of an event of `kind` (program and mapping for mapping events).
///
/// ```
/// use slipstream_consumer::{EventKind, remote::wire::event_subject};
/// assert_eq!(event_subject("s", EventKind::MappingUpdate, Some((b"credits.aleo", b"account"))),
///            "s.mapping_update.credits~2Ealeo.account");
/// assert_eq!(event_subject("s", EventKind::BlockCommit, None), "s.block_commit");
/// ```
pub fn event_subject(prefix: &str, kind: EventKind, names: Option<(&[u8], &[u8])>) -> String {
    match names {
        Some((program, mapping)) => format!(
            "{prefix}.{}.{}.{}",
            kind.name(),
            escape_token(program),
            escape_token(mapping)
        ),
        None => format!("{prefix}.{}", kind.name()),
    }
}

/// The subject of gap messages.
///
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::gap_subject("slipstream"), "slipstream.gap");
/// ```
pub fn gap_subject(prefix: &str) -> String {
    format!("{prefix}.gap")
}

/// The subject of producer-change messages.
///
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::producer_subject("slipstream"), "slipstream.producer");
/// ```
pub fn producer_subject(prefix: &str) -> String {
    format!("{prefix}.producer")
}

/// The subjects a stream fed by a bridge with `prefix` captures.
///
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::stream_subjects("slipstream"), "slipstream.>");
/// ```
pub fn stream_subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// A ring identity as it appears in headers.
///
/// ```
/// assert_eq!(slipstream_consumer::remote::wire::ring_hex(0xab), "00000000000000ab");
/// ```
pub fn ring_hex(ring_id: u64) -> String {
    format!("{ring_id:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_and_is_subject_safe() {
        let all: Vec<u8> = (0..=255).collect();
        let t = escape_token(&all);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>')));
        assert_eq!(unescape_token(&t).unwrap(), all);
        assert_eq!(unescape_token("~").unwrap(), b"");
        assert_eq!(unescape_token("a~2").as_deref(), None);
        assert_eq!(unescape_token("a.b"), None);
        assert_eq!(
            unescape_token("~2e"),
            None,
            "lower-case hex is not produced"
        );
    }

    #[test]
    fn prefixes_and_names() {
        assert!(check_prefix("a.b-c_d").is_ok());
        for bad in ["", ".a", "a.", "a b", "a.*", "$JS", "é"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(check_stream_name("SLIPSTREAM").is_ok());
        for bad in ["", "a.b", "a b", "a*"] {
            assert!(check_stream_name(bad).is_err(), "{bad:?}");
        }
    }
}
