//! Decoding a record's payload into an [`EventRef`], without copying.

use crate::event_ref::commit_ordinal;
use crate::{DecodeError, EventKind, EventRef};

impl<'a> EventRef<'a> {
    /// Decodes a record's payload, given the record's kind, borrowing its byte
    /// strings from `payload`.
    ///
    /// Never panics, loops or allocates, whatever the bytes: it reads each
    /// field once, checks every length against what is left, and rejects
    /// trailing bytes, so a payload that decodes is the one encoding of its event.
    ///
    /// ```
    /// use slipstream_event::{DecodeError, EventKind, EventRef};
    /// let payload = [7, 0, 0, 0, 0, 0, 0, 0, /* ordinal */ 0, 0, 0, 0, /* event_count */ 5, 0, 0, 0];
    /// assert_eq!(
    ///     EventRef::decode(EventKind::BlockBegin as u16, &payload),
    ///     Ok(EventRef::BlockBegin { block_height: 7, event_count: 5 }),
    /// );
    /// assert_eq!(EventRef::decode(9, &payload), Err(DecodeError::UnknownKind(9)));
    /// assert!(matches!(
    ///     EventRef::decode(EventKind::BlockCommit as u16, &payload),
    ///     Err(DecodeError::MarkerOrdinal { expected: 6, found: 0, .. }),
    /// ));
    /// ```
    #[inline]
    pub fn decode(kind: u16, payload: &'a [u8]) -> Result<EventRef<'a>, DecodeError> {
        let kind = EventKind::from_u16(kind).ok_or(DecodeError::UnknownKind(kind))?;
        let mut r = In { buf: payload, kind };
        let block_height = r.u64("block_height")?;
        let ordinal = r.u32("ordinal")?;
        let event = match kind {
            EventKind::MappingUpdate => EventRef::MappingUpdate {
                block_height,
                ordinal,
                program_id: r.bytes("program_id", "program_id.len")?,
                mapping_name: r.bytes("mapping_name", "mapping_name.len")?,
                key: r.bytes("key", "key.len")?,
                value: r.bytes("value", "value.len")?,
            },
            EventKind::MappingRemoval => EventRef::MappingRemoval {
                block_height,
                ordinal,
                program_id: r.bytes("program_id", "program_id.len")?,
                mapping_name: r.bytes("mapping_name", "mapping_name.len")?,
                key: match r.u8("key.tag")? {
                    0 => None,
                    1 => Some(r.bytes("key", "key.len")?),
                    tag => {
                        return Err(DecodeError::InvalidOptionTag {
                            kind,
                            field: "key.tag",
                            tag,
                        })
                    }
                },
            },
            EventKind::StakingReward => {
                let reward = r.u64("reward")?;
                let new_stake = r.u64("new_stake")?;
                EventRef::StakingReward {
                    block_height,
                    ordinal,
                    reward,
                    new_stake,
                    staker: r.bytes("staker", "staker.len")?,
                    validator: r.bytes("validator", "validator.len")?,
                }
            }
            EventKind::Block => EventRef::Block {
                block_height,
                ordinal,
                block: r.bytes("block", "block.len")?,
            },
            EventKind::BlockBegin | EventKind::BlockCommit => {
                let event_count = r.u32("event_count")?;
                let (event, expected) = if kind == EventKind::BlockBegin {
                    (
                        EventRef::BlockBegin {
                            block_height,
                            event_count,
                        },
                        0,
                    )
                } else {
                    (
                        EventRef::BlockCommit {
                            block_height,
                            event_count,
                        },
                        commit_ordinal(event_count),
                    )
                };
                if ordinal != expected {
                    return Err(DecodeError::MarkerOrdinal {
                        kind,
                        event_count,
                        expected,
                        found: ordinal,
                    });
                }
                event
            }
        };
        match r.buf.len() {
            0 => Ok(event),
            trailing => Err(DecodeError::TrailingBytes { kind, trailing }),
        }
    }
}

/// The decoder's cursor: the part of the payload not read yet.
struct In<'a> {
    buf: &'a [u8],
    kind: EventKind,
}

impl<'a> In<'a> {
    #[inline]
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        match self.buf.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.buf = tail;
                Ok(*head)
            }
            None => Err(DecodeError::Truncated {
                kind: self.kind,
                field,
                needed: N,
                remaining: self.buf.len(),
            }),
        }
    }

    #[inline]
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(field).map(|[b]| b)
    }

    #[inline]
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }

    #[inline]
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_le_bytes)
    }

    #[inline]
    fn bytes(
        &mut self,
        field: &'static str,
        len_field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(len_field)?;
        // On a 16-bit target a length that does not fit in usize is also too large.
        match usize::try_from(len)
            .ok()
            .and_then(|n| self.buf.split_at_checked(n))
        {
            Some((head, tail)) => {
                self.buf = tail;
                Ok(head)
            }
            None => Err(DecodeError::LengthTooLarge {
                kind: self.kind,
                field,
                len,
                remaining: self.buf.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{encode_vec, samples};
    use crate::{DecodeError, EventKind, EventRef, KindSet};

    #[test]
    fn round_trips_every_variant() {
        let mut seen = KindSet::none();
        for ev in samples() {
            let bytes = encode_vec(&ev);
            assert_eq!(bytes.len(), ev.encoded_len());
            let back = EventRef::decode(ev.kind() as u16, &bytes)
                .unwrap_or_else(|e| panic!("{ev:?}: {e}"));
            assert_eq!(back, ev);
            assert_eq!(back.kind(), ev.kind());
            assert_eq!(
                back.block_height(),
                u64::from_le_bytes(bytes[0..8].try_into().unwrap())
            );
            assert_eq!(
                back.ordinal(),
                u32::from_le_bytes(bytes[8..12].try_into().unwrap())
            );
            seen.insert(ev.kind());
        }
        assert_eq!(seen, KindSet::all());
    }

    #[test]
    fn none_key_and_empty_key_differ() {
        let none = EventRef::MappingRemoval {
            block_height: 1,
            ordinal: 1,
            program_id: b"",
            mapping_name: b"",
            key: None,
        };
        let empty = EventRef::MappingRemoval {
            block_height: 1,
            ordinal: 1,
            program_id: b"",
            mapping_name: b"",
            key: Some(b""),
        };
        assert_ne!(encode_vec(&none), encode_vec(&empty));
        assert_eq!(EventRef::decode(2, &encode_vec(&none)).unwrap(), none);
        assert_eq!(EventRef::decode(2, &encode_vec(&empty)).unwrap(), empty);
    }

    #[test]
    fn every_strict_prefix_is_an_error() {
        for ev in samples() {
            let bytes = encode_vec(&ev);
            for n in 0..bytes.len() {
                match EventRef::decode(ev.kind() as u16, &bytes[..n]) {
                    Err(DecodeError::Truncated {
                        kind,
                        remaining,
                        needed,
                        ..
                    }) => {
                        assert_eq!(kind, ev.kind());
                        assert!(remaining < needed);
                    }
                    Err(DecodeError::LengthTooLarge {
                        kind,
                        len,
                        remaining,
                        ..
                    }) => {
                        assert_eq!(kind, ev.kind());
                        assert!(remaining < len as usize);
                    }
                    other => panic!("{ev:?} cut to {n} bytes: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        for ev in samples() {
            let mut bytes = encode_vec(&ev);
            bytes.push(0);
            assert_eq!(
                EventRef::decode(ev.kind() as u16, &bytes),
                Err(DecodeError::TrailingBytes {
                    kind: ev.kind(),
                    trailing: 1
                })
            );
            bytes.extend_from_slice(&[0; 7]);
            assert_eq!(
                EventRef::decode(ev.kind() as u16, &bytes),
                Err(DecodeError::TrailingBytes {
                    kind: ev.kind(),
                    trailing: 8
                })
            );
        }
    }

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next() as u8;
            }
        }
    }

    /// A random event borrowing from `pool`.
    fn random_event<'a>(rng: &mut Rng, pool: &'a [u8]) -> EventRef<'a> {
        let string = |rng: &mut Rng| {
            let start = rng.below(pool.len() as u64) as usize;
            let len = rng
                .below((pool.len() - start) as u64 + 1)
                .min(rng.below(24)) as usize;
            &pool[start..start + len]
        };
        let block_height = rng.next() >> rng.below(64);
        let ordinal = (rng.next() >> rng.below(64)) as u32;
        match EventKind::ALL[rng.below(6) as usize] {
            EventKind::MappingUpdate => EventRef::MappingUpdate {
                block_height,
                ordinal,
                program_id: string(rng),
                mapping_name: string(rng),
                key: string(rng),
                value: string(rng),
            },
            EventKind::MappingRemoval => EventRef::MappingRemoval {
                block_height,
                ordinal,
                program_id: string(rng),
                mapping_name: string(rng),
                key: if rng.below(2) == 0 {
                    None
                } else {
                    Some(string(rng))
                },
            },
            EventKind::StakingReward => EventRef::StakingReward {
                block_height,
                ordinal,
                staker: string(rng),
                validator: string(rng),
                reward: rng.next(),
                new_stake: rng.next(),
            },
            EventKind::Block => EventRef::Block {
                block_height,
                ordinal,
                block: string(rng),
            },
            EventKind::BlockBegin => EventRef::BlockBegin {
                block_height,
                event_count: ordinal,
            },
            EventKind::BlockCommit => EventRef::BlockCommit {
                block_height,
                event_count: ordinal,
            },
        }
    }

    /// Checks what decode says about arbitrary bytes: an error, or an event
    /// whose one encoding is exactly those bytes.
    fn check_decode(kind: u16, bytes: &[u8]) -> bool {
        match EventRef::decode(kind, bytes) {
            Ok(ev) => {
                assert_eq!(ev.kind() as u16, kind);
                assert_eq!(
                    encode_vec(&ev),
                    bytes,
                    "decoded {ev:?} does not re-encode to its bytes"
                );
                true
            }
            Err(DecodeError::UnknownKind(k)) => {
                assert_eq!(k, kind);
                assert!(EventKind::from_u16(kind).is_none());
                false
            }
            Err(_) => false,
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut pool = [0u8; 64];
        let mut buf = Vec::with_capacity(256);
        let (mut decoded, mut rejected) = ([0u32; 7], [0u32; 7]);
        for i in 0..100_000u32 {
            rng.fill(&mut pool);
            let kind = match rng.below(16) {
                0 => rng.next() as u16,
                n => (n % 8) as u16, // 0..=7: every kind and its neighbours
            };
            buf.clear();
            if i % 2 == 0 {
                // Pure noise, with small length prefixes planted now and then.
                buf.resize(rng.below(96) as usize, 0);
                rng.fill(&mut buf);
                for at in [12, 16, 20, 28] {
                    if at + 4 <= buf.len() && rng.below(2) == 0 {
                        let len = rng.below(8) as u32;
                        buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
                    }
                }
            } else {
                // A valid encoding, then damaged: truncated, extended or a byte changed.
                let ev = random_event(&mut rng, &pool);
                buf.extend_from_slice(&encode_vec(&ev));
                match rng.below(5) {
                    0 => buf.truncate(rng.below(buf.len() as u64 + 1) as usize),
                    1 => buf.push(rng.next() as u8),
                    2 | 3 => {
                        let at = rng.below(buf.len() as u64) as usize;
                        buf[at] = rng.next() as u8;
                    }
                    _ => {}
                }
                let kind = if rng.below(4) == 0 {
                    kind
                } else {
                    ev.kind() as u16
                };
                let ok = check_decode(kind, &buf);
                let slot = (kind as usize).min(6);
                if ok {
                    decoded[slot] += 1
                } else {
                    rejected[slot] += 1
                }
                continue;
            }
            check_decode(kind, &buf);
        }
        // The loop exercised both outcomes for every kind.
        for kind in EventKind::ALL {
            let k = kind as usize;
            assert!(
                decoded[k] > 100 && rejected[k] > 100,
                "{kind}: {} decoded, {} rejected",
                decoded[k],
                rejected[k]
            );
        }
    }
}
