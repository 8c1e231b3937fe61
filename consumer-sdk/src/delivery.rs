//! What a consumer reports about events it did not deliver, and what a ring
//! holds when a start position is not in it.

use slipstream_event::EventKind;
use slipstream_ring::Lag;

/// Events this consumer did not deliver: an exact range of sequence numbers,
/// and the block heights they belong to.
///
/// Yielded as [`Item::Lagged`](crate::Item::Lagged) by the event APIs and as
/// [`BlockItem::Lagged`](crate::BlockItem::Lagged) by
/// [`next_block`](crate::Consumer::next_block). Every sequence number in
/// `first_missed..=last_missed` was not delivered (by `next_block`: not
/// delivered inside a [`Block`](crate::Block)); the items before and after
/// it are contiguous with it.
///
/// Heights: every block that lost an event lies in
/// `first_height..=last_height`. A block inside the range that is not
/// marked partial was lost whole. The first block is *partial* when some of
/// its events come before `first_missed` (an event API delivered them before
/// the gap, or they are older than where this consumer started); the last is
/// partial when some of its events come after `last_missed` (an event API
/// delivers them next). `next_block` never hands out part of a block, so its
/// ranges begin at a block's begin marker and end at the last event before
/// the next block's begin marker: its blocks are partial only when a block's
/// begin marker was no longer in the ring.
///
/// ```
/// use slipstream_consumer::Missed;
/// let m = Missed { first_missed: 10, last_missed: 14, first_height: Some(3),
///                  last_height: Some(4), first_partial: true, last_partial: false };
/// assert_eq!(m.count(), 5);
/// assert_eq!(m.seqs(), slipstream_consumer::Lag { first_missed: 10, last_missed: 14 });
/// assert_eq!(m.to_string(), "missed seqs 10..=14 (5 events), heights 3 (partial)..=4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Missed {
    /// Sequence number of the first event not delivered.
    pub first_missed: u64,
    /// Sequence number of the last event not delivered (inclusive).
    pub last_missed: u64,
    /// Height of the block of `first_missed`; `None` when the consumer cannot
    /// know it: it resumed a stored cursor whose event had already been
    /// overwritten, and had read nothing before the gap (the block is then
    /// the one after the last block your application applied).
    pub first_height: Option<u64>,
    /// Height of the block of `last_missed`; `None` only if no event could
    /// be read after the gap.
    pub last_height: Option<u64>,
    /// The first block's events before `first_missed` were delivered (or
    /// precede this consumer's start): only part of it is missing. `false`
    /// when `first_height` is `None` (not known).
    pub first_partial: bool,
    /// The last block's events after `last_missed` are delivered next: only
    /// part of it is missing.
    pub last_partial: bool,
}

impl Missed {
    /// Number of events not delivered.
    ///
    /// ```
    /// use slipstream_consumer::Missed;
    /// let m = Missed { first_missed: 3, last_missed: 9, first_height: Some(1), last_height: Some(2), first_partial: true, last_partial: false };
    /// assert_eq!(m.count(), 7);
    /// ```
    pub fn count(&self) -> u64 {
        self.last_missed - self.first_missed + 1
    }

    /// The sequence numbers alone, as the ring reports them.
    ///
    /// ```
    /// use slipstream_consumer::{Lag, Missed};
    /// let m = Missed { first_missed: 3, last_missed: 9, first_height: None, last_height: None, first_partial: false, last_partial: false };
    /// assert_eq!(m.seqs(), Lag { first_missed: 3, last_missed: 9 });
    /// ```
    pub fn seqs(&self) -> Lag {
        Lag {
            first_missed: self.first_missed,
            last_missed: self.last_missed,
        }
    }

    /// A gap from `first_missed` to `last_missed`, where `before` says what a
    /// gap starting at `first_missed` belongs to (see [`after`]) and `next`
    /// is the head of the first record read after it.
    pub(crate) fn between(
        first_missed: u64,
        last_missed: u64,
        before: Option<Here>,
        next: Option<Head>,
    ) -> Missed {
        let first_height = before.map(|b| b.height);
        let (last_height, last_partial) = match next {
            Some(Head {
                height,
                begin: true,
            }) => (
                Some(height.saturating_sub(1).max(first_height.unwrap_or(0))),
                false,
            ),
            Some(Head { height, .. }) => (Some(height), true),
            None => (None, false),
        };
        Missed {
            first_missed,
            last_missed,
            first_height,
            last_height,
            first_partial: before.is_some_and(|b| b.partial),
            last_partial,
        }
    }
}

impl std::fmt::Display for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.count();
        write!(
            f,
            "missed seqs {}..={} ({n} event{}), heights ",
            self.first_missed,
            self.last_missed,
            if n == 1 { "" } else { "s" }
        )?;
        let part = |p: bool| if p { " (partial)" } else { "" };
        match self.first_height {
            Some(h) => write!(f, "{h}{}", part(self.first_partial))?,
            None => write!(f, "?")?,
        }
        match self.last_height {
            Some(h) => write!(f, "..={h}{}", part(self.last_partial)),
            None => write!(f, "..=?"),
        }
    }
}

/// Where a gap starting at the consumer's position would begin: in block
/// `height`, partial if that block has events before the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Here {
    pub(crate) height: u64,
    pub(crate) partial: bool,
}

/// A record's block height, and whether it is a begin marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) height: u64,
    pub(crate) begin: bool,
}

/// The head of a record, from the prefix every event payload starts with
/// (`None` for a payload too short to have one).
#[inline]
pub(crate) fn head(kind: u16, payload: &[u8]) -> Option<Head> {
    let height = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    Some(Head {
        height,
        begin: kind == EventKind::BlockBegin.as_u16(),
    })
}

/// Where a gap right after the record `kind, payload` would begin.
#[inline]
pub(crate) fn after(kind: u16, payload: &[u8]) -> Option<Here> {
    let h = head(kind, payload)?;
    Some(if kind == EventKind::BlockCommit.as_u16() {
        Here {
            height: h.height.saturating_add(1),
            partial: false,
        }
    } else {
        Here {
            height: h.height,
            partial: true,
        }
    })
}

/// What a ring holds now: said by
/// [`ConsumerError::StartUnavailable`](crate::ConsumerError::StartUnavailable).
///
/// ```
/// let a = slipstream_consumer::Available { oldest_seq: 5, next_seq: 9, oldest_height: Some(2), newest_height: Some(3) };
/// assert_eq!(a.to_string(), "the ring holds seqs 5..9 (next is 9), blocks from height 2 (newest event at height 3)");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Available {
    /// The oldest sequence number retained.
    pub oldest_seq: u64,
    /// The sequence number the next event will carry.
    pub next_seq: u64,
    /// The height of the oldest block whose begin marker is retained (the
    /// oldest `Start::Height` that can be served), if any.
    pub oldest_height: Option<u64>,
    /// The height of the newest event, if any.
    pub newest_height: Option<u64>,
}

impl std::fmt::Display for Available {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the ring holds seqs {}..{} (next is {})",
            self.oldest_seq, self.next_seq, self.next_seq
        )?;
        match self.oldest_height {
            Some(h) => write!(f, ", blocks from height {h}")?,
            None => write!(f, ", no block begin marker")?,
        }
        if let Some(h) = self.newest_height {
            write!(f, " (newest event at height {h})")?;
        }
        Ok(())
    }
}
