//! [`EventRef`]: one event, borrowing its byte strings, and what every event has.

use crate::EventKind;

/// One event, borrowing its byte strings: what the producer encodes and what a
/// consumer decodes. `Copy`, and never allocates.
///
/// Field names are those of `FORMAT.md`. Byte strings are opaque (see the
/// [crate documentation](crate)).
///
/// ```
/// use slipstream_event::{EventKind, EventRef};
/// let removal = EventRef::MappingRemoval {
///     block_height: 10,
///     ordinal: 3,
///     program_id: b"credits.aleo",
///     mapping_name: b"bonded",
///     key: None, // the whole mapping was removed
/// };
/// assert_eq!(removal.kind(), EventKind::MappingRemoval);
/// assert_eq!(removal.mapping_name(), Some(&b"bonded"[..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventRef<'a> {
    /// A mapping entry was inserted or updated.
    MappingUpdate {
        /// The block's height.
        block_height: u64,
        /// The event's position in its block, from 1.
        ordinal: u32,
        /// The program, as the node encodes its id.
        program_id: &'a [u8],
        /// The mapping, as the node encodes its name.
        mapping_name: &'a [u8],
        /// The entry's key, as the node encodes it.
        key: &'a [u8],
        /// The entry's new value, as the node encodes it.
        value: &'a [u8],
    },
    /// A mapping entry was removed, or (`key: None`) the whole mapping.
    MappingRemoval {
        /// The block's height.
        block_height: u64,
        /// The event's position in its block, from 1.
        ordinal: u32,
        /// The program, as the node encodes its id.
        program_id: &'a [u8],
        /// The mapping, as the node encodes its name.
        mapping_name: &'a [u8],
        /// The removed entry's key, or `None` when the whole mapping was removed.
        key: Option<&'a [u8]>,
    },
    /// A staker was rewarded.
    StakingReward {
        /// The block's height.
        block_height: u64,
        /// The event's position in its block, from 1.
        ordinal: u32,
        /// The staker's address, as the node encodes it.
        staker: &'a [u8],
        /// The validator's address, as the node encodes it.
        validator: &'a [u8],
        /// The reward, in the node's unit (microcredits).
        reward: u64,
        /// The staker's stake after the reward, in the same unit.
        new_stake: u64,
    },
    /// A block was finalized.
    Block {
        /// The block's height.
        block_height: u64,
        /// The event's position in its block, from 1.
        ordinal: u32,
        /// The block, as the node encodes it.
        block: &'a [u8],
    },
    /// The events of a block begin; its ordinal is 0.
    BlockBegin {
        /// The block's height.
        block_height: u64,
        /// Events in the block, markers excluded, or [`UNKNOWN_COUNT`](crate::UNKNOWN_COUNT) if the
        /// producer did not know it when the block began (the node's plugin
        /// interface hands events over one at a time). The commit marker
        /// always carries the true count.
        event_count: u32,
    },
    /// The events of a block are complete; its ordinal is `event_count + 1`.
    BlockCommit {
        /// The block's height.
        block_height: u64,
        /// Events in the block, markers excluded.
        event_count: u32,
    },
}

/// The ordinal a commit marker of a block with `event_count` events has.
#[inline]
pub(crate) const fn commit_ordinal(event_count: u32) -> u32 {
    event_count.saturating_add(1)
}

impl<'a> EventRef<'a> {
    /// The event's kind.
    ///
    /// ```
    /// use slipstream_event::{EventKind, EventRef};
    /// let begin = EventRef::BlockBegin { block_height: 1, event_count: 0 };
    /// assert_eq!(begin.kind(), EventKind::BlockBegin);
    /// ```
    #[inline]
    pub const fn kind(&self) -> EventKind {
        match self {
            EventRef::MappingUpdate { .. } => EventKind::MappingUpdate,
            EventRef::MappingRemoval { .. } => EventKind::MappingRemoval,
            EventRef::StakingReward { .. } => EventKind::StakingReward,
            EventRef::Block { .. } => EventKind::Block,
            EventRef::BlockBegin { .. } => EventKind::BlockBegin,
            EventRef::BlockCommit { .. } => EventKind::BlockCommit,
        }
    }

    /// The height of the block the event belongs to.
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// let block = EventRef::Block { block_height: 42, ordinal: 1, block: b"..." };
    /// assert_eq!(block.block_height(), 42);
    /// ```
    #[inline]
    pub const fn block_height(&self) -> u64 {
        match *self {
            EventRef::MappingUpdate { block_height, .. }
            | EventRef::MappingRemoval { block_height, .. }
            | EventRef::StakingReward { block_height, .. }
            | EventRef::Block { block_height, .. }
            | EventRef::BlockBegin { block_height, .. }
            | EventRef::BlockCommit { block_height, .. } => block_height,
        }
    }

    /// The event's position in its block: 0 for [`BlockBegin`](EventRef::BlockBegin),
    /// `1..=n` for the block's `n` events, `n + 1` for [`BlockCommit`](EventRef::BlockCommit)
    /// (saturating at `u32::MAX`).
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// assert_eq!(EventRef::BlockBegin { block_height: 9, event_count: 3 }.ordinal(), 0);
    /// assert_eq!(EventRef::BlockCommit { block_height: 9, event_count: 3 }.ordinal(), 4);
    /// ```
    #[inline]
    pub const fn ordinal(&self) -> u32 {
        match *self {
            EventRef::MappingUpdate { ordinal, .. }
            | EventRef::MappingRemoval { ordinal, .. }
            | EventRef::StakingReward { ordinal, .. }
            | EventRef::Block { ordinal, .. } => ordinal,
            EventRef::BlockBegin { .. } => 0,
            EventRef::BlockCommit { event_count, .. } => commit_ordinal(event_count),
        }
    }

    /// The program of a mapping event; `None` for other kinds.
    ///
    /// ```
    /// use slipstream_event::{as_str, EventRef};
    /// let ev = EventRef::MappingRemoval {
    ///     block_height: 1, ordinal: 1, program_id: b"credits.aleo", mapping_name: b"account", key: Some(b"k"),
    /// };
    /// assert_eq!(ev.program_id().and_then(as_str), Some("credits.aleo"));
    /// assert_eq!(EventRef::Block { block_height: 1, ordinal: 2, block: b"" }.program_id(), None);
    /// ```
    #[inline]
    pub const fn program_id(&self) -> Option<&'a [u8]> {
        match *self {
            EventRef::MappingUpdate { program_id, .. }
            | EventRef::MappingRemoval { program_id, .. } => Some(program_id),
            _ => None,
        }
    }

    /// The mapping of a mapping event; `None` for other kinds.
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// let ev = EventRef::MappingUpdate {
    ///     block_height: 1, ordinal: 1, program_id: b"credits.aleo", mapping_name: b"account",
    ///     key: b"k", value: b"v",
    /// };
    /// assert_eq!(ev.mapping_name(), Some(&b"account"[..]));
    /// ```
    #[inline]
    pub const fn mapping_name(&self) -> Option<&'a [u8]> {
        match *self {
            EventRef::MappingUpdate { mapping_name, .. }
            | EventRef::MappingRemoval { mapping_name, .. } => Some(mapping_name),
            _ => None,
        }
    }

    /// The number of events in the block, for a block marker; `None` for other kinds.
    ///
    /// ```
    /// use slipstream_event::EventRef;
    /// assert_eq!(EventRef::BlockCommit { block_height: 9, event_count: 3 }.event_count(), Some(3));
    /// ```
    #[inline]
    pub const fn event_count(&self) -> Option<u32> {
        match *self {
            EventRef::BlockBegin { event_count, .. }
            | EventRef::BlockCommit { event_count, .. } => Some(event_count),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::as_str;
    use crate::fixtures::samples;

    #[test]
    fn accessors() {
        for ev in samples() {
            let is_mapping = matches!(
                ev.kind(),
                EventKind::MappingUpdate | EventKind::MappingRemoval
            );
            assert_eq!(ev.program_id().is_some(), is_mapping);
            assert_eq!(ev.mapping_name().is_some(), is_mapping);
            assert_eq!(ev.event_count().is_some(), ev.kind().is_marker());
            match ev {
                EventRef::BlockBegin { .. } => assert_eq!(ev.ordinal(), 0),
                EventRef::BlockCommit { event_count, .. } => {
                    assert_eq!(ev.ordinal(), event_count.saturating_add(1))
                }
                _ => {}
            }
        }
        let ev = samples()[0];
        assert_eq!(ev.program_id().and_then(as_str), Some("credits.aleo"));
        assert_eq!(ev.mapping_name().and_then(as_str), Some("account"));
    }
}
