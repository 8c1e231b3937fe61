//! [`DecodeError`]: why a payload is not a valid event encoding.

use thiserror::Error;

use crate::EventKind;

/// A payload that is not a valid event encoding.
///
/// Field names are those of `FORMAT.md`; `X.len` is the length prefix of byte
/// string `X`, and `key.tag` the tag of an optional key.
///
/// ```
/// use slipstream_event::{DecodeError, EventKind, EventRef};
/// let err = EventRef::decode(5, &[0; 14]).unwrap_err();
/// assert_eq!(err, DecodeError::Truncated {
///     kind: EventKind::BlockBegin, field: "event_count", needed: 4, remaining: 2,
/// });
/// assert_eq!(err.to_string(), "block_begin payload truncated at event_count: needs 4 bytes, 2 left");
/// ```
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The record kind is not an event kind.
    #[error("unknown event kind {0}")]
    UnknownKind(u16),
    /// The payload ends inside a fixed-size field (an integer, a length prefix or a tag).
    #[error("{kind} payload truncated at {field}: needs {needed} bytes, {remaining} left")]
    Truncated {
        /// The event's kind.
        kind: EventKind,
        /// The field.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes the payload has left.
        remaining: usize,
    },
    /// A byte string's length prefix is larger than what is left of the payload.
    #[error("{kind} field {field} declares {len} bytes, but only {remaining} are left")]
    LengthTooLarge {
        /// The event's kind.
        kind: EventKind,
        /// The byte string.
        field: &'static str,
        /// Its declared length.
        len: u32,
        /// Bytes the payload has left after the length prefix.
        remaining: usize,
    },
    /// An option tag is neither 0 (none) nor 1 (some).
    #[error("{kind} field {field} has tag {tag}, expected 0 (none) or 1 (some)")]
    InvalidOptionTag {
        /// The event's kind.
        kind: EventKind,
        /// The tag field.
        field: &'static str,
        /// Its value.
        tag: u8,
    },
    /// Bytes follow the last field.
    #[error("{kind} payload has {trailing} trailing bytes after its last field")]
    TrailingBytes {
        /// The event's kind.
        kind: EventKind,
        /// Bytes after the last field.
        trailing: usize,
    },
    /// A block marker's ordinal is not the one its kind and `event_count` imply.
    #[error("{kind} with event_count {event_count} must have ordinal {expected}, found {found}")]
    MarkerOrdinal {
        /// [`EventKind::BlockBegin`] or [`EventKind::BlockCommit`].
        kind: EventKind,
        /// The marker's `event_count`.
        event_count: u32,
        /// The ordinal it must have.
        expected: u32,
        /// The ordinal it has.
        found: u32,
    },
}

#[cfg(test)]
mod tests {
    use crate::fixtures::encode_vec;
    use crate::{DecodeError, EventKind, EventRef};

    #[test]
    fn errors_name_what_is_wrong() {
        let update = EventRef::MappingUpdate {
            block_height: 1,
            ordinal: 1,
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: b"k",
            value: b"v",
        };
        let bytes = encode_vec(&update);
        for kind in [0, 7, 64, 0xFFFF] {
            assert_eq!(
                EventRef::decode(kind, &bytes),
                Err(DecodeError::UnknownKind(kind))
            );
        }
        assert_eq!(
            EventRef::decode(1, &bytes[..3]),
            Err(DecodeError::Truncated {
                kind: EventKind::MappingUpdate,
                field: "block_height",
                needed: 8,
                remaining: 3
            })
        );
        assert_eq!(
            EventRef::decode(1, &bytes[..10]),
            Err(DecodeError::Truncated {
                kind: EventKind::MappingUpdate,
                field: "ordinal",
                needed: 4,
                remaining: 2
            })
        );
        assert_eq!(
            EventRef::decode(1, &bytes[..14]),
            Err(DecodeError::Truncated {
                kind: EventKind::MappingUpdate,
                field: "program_id.len",
                needed: 4,
                remaining: 2
            })
        );
        assert_eq!(
            EventRef::decode(1, &bytes[..20]),
            Err(DecodeError::LengthTooLarge {
                kind: EventKind::MappingUpdate,
                field: "program_id",
                len: 12,
                remaining: 4
            })
        );
        let mut huge = bytes.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            EventRef::decode(1, &huge),
            Err(DecodeError::LengthTooLarge {
                kind: EventKind::MappingUpdate,
                field: "program_id",
                len: u32::MAX,
                remaining: bytes.len() - 16,
            })
        );

        let removal = EventRef::MappingRemoval {
            block_height: 1,
            ordinal: 1,
            program_id: b"p",
            mapping_name: b"m",
            key: None,
        };
        let mut bytes = encode_vec(&removal);
        let tag_at = bytes.len() - 1;
        bytes[tag_at] = 2;
        let err = EventRef::decode(2, &bytes).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidOptionTag {
                kind: EventKind::MappingRemoval,
                field: "key.tag",
                tag: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "mapping_removal field key.tag has tag 2, expected 0 (none) or 1 (some)"
        );
        bytes[tag_at] = 1;
        assert_eq!(
            EventRef::decode(2, &bytes),
            Err(DecodeError::Truncated {
                kind: EventKind::MappingRemoval,
                field: "key.len",
                needed: 4,
                remaining: 0
            })
        );

        let mut begin = encode_vec(&EventRef::BlockBegin {
            block_height: 1,
            event_count: 2,
        });
        begin[8] = 1;
        assert_eq!(
            EventRef::decode(5, &begin),
            Err(DecodeError::MarkerOrdinal {
                kind: EventKind::BlockBegin,
                event_count: 2,
                expected: 0,
                found: 1
            })
        );
        assert_eq!(
            EventRef::decode(6, &begin),
            Err(DecodeError::MarkerOrdinal {
                kind: EventKind::BlockCommit,
                event_count: 2,
                expected: 3,
                found: 1
            })
        );
        begin[8] = 3;
        assert_eq!(
            EventRef::decode(6, &begin),
            Ok(EventRef::BlockCommit {
                block_height: 1,
                event_count: 2
            })
        );
        assert_eq!(
            DecodeError::LengthTooLarge {
                kind: EventKind::Block,
                field: "block",
                len: 9,
                remaining: 1
            }
            .to_string(),
            "block field block declares 9 bytes, but only 1 are left"
        );
    }
}
