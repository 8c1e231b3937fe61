//! Encoding an event in place into a reserved record.

use crate::{EventRef, PREFIX_LEN};

/// Bytes a byte string takes: its length prefix and itself.
#[inline]
const fn bytes_len(b: &[u8]) -> usize {
    4 + b.len()
}

impl EventRef<'_> {
    /// Bytes of the event's encoding: the payload length to reserve.
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// let block = EventRef::Block { block_height: 1, ordinal: 1, block: &[0; 100] };
    /// assert_eq!(block.encoded_len(), 12 + 4 + 100);
    /// assert_eq!(EventRef::BlockBegin { block_height: 1, event_count: 1 }.encoded_len(), 16);
    /// ```
    #[inline]
    pub const fn encoded_len(&self) -> usize {
        PREFIX_LEN
            + match *self {
                EventRef::MappingUpdate {
                    program_id,
                    mapping_name,
                    key,
                    value,
                    ..
                } => {
                    bytes_len(program_id)
                        + bytes_len(mapping_name)
                        + bytes_len(key)
                        + bytes_len(value)
                }
                EventRef::MappingRemoval {
                    program_id,
                    mapping_name,
                    key,
                    ..
                } => {
                    bytes_len(program_id)
                        + bytes_len(mapping_name)
                        + 1
                        + match key {
                            Some(key) => bytes_len(key),
                            None => 0,
                        }
                }
                EventRef::StakingReward {
                    staker, validator, ..
                } => 8 + 8 + bytes_len(staker) + bytes_len(validator),
                EventRef::Block { block, .. } => bytes_len(block),
                EventRef::BlockBegin { .. } | EventRef::BlockCommit { .. } => 4,
            }
    }

    /// Writes the event's encoding into `out`, in place (typically a reserved
    /// record's payload).
    ///
    /// # Panics
    ///
    /// If `out.len()` is not [`encoded_len`](EventRef::encoded_len), or a byte
    /// string is longer than `u32::MAX` bytes. Both are the caller's bugs: a
    /// ring payload is at most 1 GiB, so an event it accepted has no such
    /// string. Nothing else panics.
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// let commit = EventRef::BlockCommit { block_height: 0x0102, event_count: 2 };
    /// let mut out = [0u8; 16];
    /// commit.encode(&mut out);
    /// assert_eq!(out, [0x02, 0x01, 0, 0, 0, 0, 0, 0, /* ordinal */ 3, 0, 0, 0, /* event_count */ 2, 0, 0, 0]);
    /// ```
    #[inline]
    pub fn encode(&self, out: &mut [u8]) {
        let len = self.encoded_len();
        assert_eq!(
            out.len(),
            len,
            "EventRef::encode: out has {} bytes, the {} event needs {len}",
            out.len(),
            self.kind()
        );
        let mut w = Out(out);
        w.fixed(self.block_height().to_le_bytes());
        w.fixed(self.ordinal().to_le_bytes());
        match *self {
            EventRef::MappingUpdate {
                program_id,
                mapping_name,
                key,
                value,
                ..
            } => {
                w.bytes(program_id);
                w.bytes(mapping_name);
                w.bytes(key);
                w.bytes(value);
            }
            EventRef::MappingRemoval {
                program_id,
                mapping_name,
                key,
                ..
            } => {
                w.bytes(program_id);
                w.bytes(mapping_name);
                match key {
                    None => w.fixed([0]),
                    Some(key) => {
                        w.fixed([1]);
                        w.bytes(key);
                    }
                }
            }
            EventRef::StakingReward {
                staker,
                validator,
                reward,
                new_stake,
                ..
            } => {
                w.fixed(reward.to_le_bytes());
                w.fixed(new_stake.to_le_bytes());
                w.bytes(staker);
                w.bytes(validator);
            }
            EventRef::Block { block, .. } => w.bytes(block),
            EventRef::BlockBegin { event_count, .. }
            | EventRef::BlockCommit { event_count, .. } => {
                w.fixed(event_count.to_le_bytes());
            }
        }
        debug_assert!(w.0.is_empty(), "encoded_len and encode disagree");
    }
}

/// The encoder's cursor: the part of the output not written yet.
struct Out<'o>(&'o mut [u8]);

impl Out<'_> {
    /// Writes a fixed-size field (a copy of known size, not a `memcpy` call).
    #[inline]
    fn fixed<const N: usize>(&mut self, bytes: [u8; N]) {
        let (head, tail) = core::mem::take(&mut self.0)
            .split_first_chunk_mut::<N>()
            .expect("EventRef::encode: encoded_len and encode disagree");
        *head = bytes;
        self.0 = tail;
    }

    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len())
            .expect("EventRef::encode: a byte string is longer than u32::MAX bytes");
        self.fixed(len.to_le_bytes());
        let (head, tail) = core::mem::take(&mut self.0).split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        self.0 = tail;
    }
}

#[cfg(test)]
mod tests {
    use crate::EventRef;

    #[test]
    #[should_panic(expected = "out has 17 bytes, the block_begin event needs 16")]
    fn encode_panics_on_a_wrong_length() {
        EventRef::BlockBegin {
            block_height: 1,
            event_count: 0,
        }
        .encode(&mut [0; 17]);
    }
}
