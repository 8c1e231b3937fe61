//! The event kinds (record kind numbers), their names, and sets of them.

use core::fmt;
use core::str::FromStr;

use thiserror::Error;

/// The record kind of each event, as stored in the ring record header.
///
/// The numbers are part of the format and never change. Kinds 0 and `0xFFFF`
/// are reserved by the ring (`KIND_INVALID` and `KIND_PADDING` of
/// `slipstream_ring::layout`) and are never event kinds.
///
/// ```
/// use slipstream_event::EventKind;
/// assert_eq!(EventKind::StakingReward as u16, 3);
/// assert_eq!(EventKind::from_u16(3), Some(EventKind::StakingReward));
/// assert_eq!("staking_reward".parse::<EventKind>().unwrap(), EventKind::StakingReward);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum EventKind {
    /// A mapping entry was inserted or updated ([`EventRef::MappingUpdate`](crate::EventRef::MappingUpdate)).
    MappingUpdate = 1,
    /// A mapping entry, or a whole mapping, was removed ([`EventRef::MappingRemoval`](crate::EventRef::MappingRemoval)).
    MappingRemoval = 2,
    /// A staker was rewarded ([`EventRef::StakingReward`](crate::EventRef::StakingReward)).
    StakingReward = 3,
    /// A block was finalized ([`EventRef::Block`](crate::EventRef::Block)).
    Block = 4,
    /// The events of a block begin ([`EventRef::BlockBegin`](crate::EventRef::BlockBegin)).
    BlockBegin = 5,
    /// The events of a block are complete ([`EventRef::BlockCommit`](crate::EventRef::BlockCommit)).
    BlockCommit = 6,
}

impl EventKind {
    /// Every kind, in numeric order.
    pub const ALL: [EventKind; 6] = [
        EventKind::MappingUpdate,
        EventKind::MappingRemoval,
        EventKind::StakingReward,
        EventKind::Block,
        EventKind::BlockBegin,
        EventKind::BlockCommit,
    ];

    /// The kind with this record kind number, if it is one.
    ///
    /// ```
    /// use slipstream_event::EventKind;
    /// assert_eq!(EventKind::from_u16(4), Some(EventKind::Block));
    /// assert_eq!(EventKind::from_u16(0), None);
    /// assert_eq!(EventKind::from_u16(0xFFFF), None);
    /// ```
    #[inline]
    pub const fn from_u16(kind: u16) -> Option<EventKind> {
        Some(match kind {
            1 => EventKind::MappingUpdate,
            2 => EventKind::MappingRemoval,
            3 => EventKind::StakingReward,
            4 => EventKind::Block,
            5 => EventKind::BlockBegin,
            6 => EventKind::BlockCommit,
            _ => return None,
        })
    }

    /// The record kind number.
    ///
    /// ```
    /// use slipstream_event::EventKind;
    /// assert_eq!(EventKind::BlockCommit.as_u16(), 6);
    /// ```
    #[inline]
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The kind's name, as the command line and `FORMAT.md` spell it.
    ///
    /// ```
    /// use slipstream_event::EventKind;
    /// assert_eq!(EventKind::MappingUpdate.name(), "mapping_update");
    /// assert_eq!(EventKind::BlockBegin.to_string(), "block_begin");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::MappingUpdate => "mapping_update",
            EventKind::MappingRemoval => "mapping_removal",
            EventKind::StakingReward => "staking_reward",
            EventKind::Block => "block",
            EventKind::BlockBegin => "block_begin",
            EventKind::BlockCommit => "block_commit",
        }
    }

    /// Whether this is a block marker ([`BlockBegin`](EventKind::BlockBegin)
    /// or [`BlockCommit`](EventKind::BlockCommit)) rather than a node event.
    ///
    /// ```
    /// use slipstream_event::EventKind;
    /// assert!(EventKind::BlockCommit.is_marker());
    /// assert!(!EventKind::Block.is_marker());
    /// ```
    #[inline]
    pub const fn is_marker(self) -> bool {
        matches!(self, EventKind::BlockBegin | EventKind::BlockCommit)
    }
}

impl From<EventKind> for u16 {
    #[inline]
    fn from(kind: EventKind) -> u16 {
        kind as u16
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventKind {
    type Err = ParseKindError;

    /// Parses a kind's [`name`](EventKind::name), ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<EventKind, ParseKindError> {
        let name = s.trim();
        EventKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| ParseKindError {
                name: name.to_owned(),
            })
    }
}

/// A name that is not an event kind's.
///
/// ```
/// use slipstream_event::EventKind;
/// let err = "mapping".parse::<EventKind>().unwrap_err();
/// assert_eq!(err.name, "mapping");
/// assert!(err.to_string().contains("mapping_update"));
/// ```
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown event kind {name:?}: expected one of mapping_update, mapping_removal, staking_reward, block, block_begin, block_commit")]
pub struct ParseKindError {
    /// The name that was given.
    pub name: String,
}

/// A set of event kinds: bit `k` of a u64 stands for record kind `k`.
///
/// For per-kind switches (which kinds a producer publishes) and filters (which
/// kinds a consumer wants). [`contains_raw`](KindSet::contains_raw) tests a
/// record's kind before its payload is decoded.
///
/// ```
/// use slipstream_event::{EventKind, KindSet};
/// let set: KindSet = "mapping_update, mapping_removal".parse()?;
/// assert!(set.contains(EventKind::MappingUpdate));
/// assert!(!set.contains(EventKind::Block));
/// assert!(set.contains_raw(2) && !set.contains_raw(0xFFFF));
/// assert_eq!(set.to_string(), "mapping_update,mapping_removal");
/// # Ok::<(), slipstream_event::ParseKindError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSet(u64);

impl KindSet {
    /// The empty set.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// assert!(KindSet::none().is_empty());
    /// assert!(!KindSet::none().contains(EventKind::Block));
    /// ```
    #[inline]
    pub const fn none() -> KindSet {
        KindSet(0)
    }

    /// Every event kind, markers included.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// assert!(EventKind::ALL.iter().all(|&k| KindSet::all().contains(k)));
    /// ```
    #[inline]
    pub const fn all() -> KindSet {
        let mut bits = 0;
        let mut i = 0;
        while i < EventKind::ALL.len() {
            bits |= 1 << EventKind::ALL[i] as u16;
            i += 1;
        }
        KindSet(bits)
    }

    /// This set with `kind` added (for building constants).
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// const MARKERS: KindSet = KindSet::none().with(EventKind::BlockBegin).with(EventKind::BlockCommit);
    /// assert!(MARKERS.contains(EventKind::BlockCommit));
    /// ```
    #[inline]
    #[must_use]
    pub const fn with(self, kind: EventKind) -> KindSet {
        KindSet(self.0 | 1 << kind as u16)
    }

    /// Adds `kind`; returns whether it was absent.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// let mut set = KindSet::none();
    /// assert!(set.insert(EventKind::Block));
    /// assert!(!set.insert(EventKind::Block));
    /// ```
    #[inline]
    pub fn insert(&mut self, kind: EventKind) -> bool {
        let absent = !self.contains(kind);
        self.0 |= 1 << kind as u16;
        absent
    }

    /// Removes `kind`; returns whether it was present.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// let mut set = KindSet::all();
    /// assert!(set.remove(EventKind::Block));
    /// assert!(!set.contains(EventKind::Block));
    /// ```
    #[inline]
    pub fn remove(&mut self, kind: EventKind) -> bool {
        let present = self.contains(kind);
        self.0 &= !(1 << kind as u16);
        present
    }

    /// Whether `kind` is in the set.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// assert!(KindSet::all().contains(EventKind::StakingReward));
    /// ```
    #[inline]
    pub const fn contains(self, kind: EventKind) -> bool {
        self.0 & 1 << kind as u16 != 0
    }

    /// Whether the record kind number `kind` is in the set: false for any
    /// number that is not an event kind's.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// let set = KindSet::none().with(EventKind::Block);
    /// assert!(set.contains_raw(4));
    /// assert!(!set.contains_raw(5) && !set.contains_raw(0) && !set.contains_raw(0xFFFF));
    /// ```
    #[inline]
    pub const fn contains_raw(self, kind: u16) -> bool {
        kind < 64 && self.0 & 1 << kind != 0
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// use slipstream_event::KindSet;
    /// assert!(KindSet::none().is_empty() && !KindSet::all().is_empty());
    /// ```
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bits: bit `k` is set when record kind `k` is in the set.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// assert_eq!(KindSet::none().with(EventKind::MappingUpdate).bits(), 0b10);
    /// assert_eq!(KindSet::all().bits(), 0b111_1110);
    /// ```
    #[inline]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The kinds in the set, in numeric order.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// let set = KindSet::none().with(EventKind::Block).with(EventKind::MappingUpdate);
    /// assert!(set.iter().eq([EventKind::MappingUpdate, EventKind::Block]));
    /// ```
    pub fn iter(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |&k| self.contains(k))
    }
}

impl FromIterator<EventKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = EventKind>>(iter: I) -> KindSet {
        iter.into_iter().fold(KindSet::none(), KindSet::with)
    }
}

impl FromStr for KindSet {
    type Err = ParseKindError;

    /// Parses comma-separated kind names (whitespace around each is ignored, as
    /// are empty items, so `""` is the empty set), or `all`.
    ///
    /// ```
    /// use slipstream_event::{EventKind, KindSet};
    /// assert_eq!("all".parse::<KindSet>().unwrap(), KindSet::all());
    /// assert_eq!("".parse::<KindSet>().unwrap(), KindSet::none());
    /// assert_eq!("block, block_commit,".parse::<KindSet>().unwrap(),
    ///            KindSet::none().with(EventKind::Block).with(EventKind::BlockCommit));
    /// assert_eq!("block,blok".parse::<KindSet>().unwrap_err().name, "blok");
    /// ```
    fn from_str(s: &str) -> Result<KindSet, ParseKindError> {
        if s.trim() == "all" {
            return Ok(KindSet::all());
        }
        s.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::parse::<EventKind>)
            .collect()
    }
}

/// Comma-separated names, in numeric order; [`FromStr`] parses it back.
impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_numbers_are_stable() {
        let expected = [
            (EventKind::MappingUpdate, 1, "mapping_update"),
            (EventKind::MappingRemoval, 2, "mapping_removal"),
            (EventKind::StakingReward, 3, "staking_reward"),
            (EventKind::Block, 4, "block"),
            (EventKind::BlockBegin, 5, "block_begin"),
            (EventKind::BlockCommit, 6, "block_commit"),
        ];
        assert_eq!(EventKind::ALL.len(), expected.len());
        for (i, (kind, number, name)) in expected.into_iter().enumerate() {
            assert_eq!(EventKind::ALL[i], kind);
            assert_eq!(kind as u16, number);
            assert_eq!(u16::from(kind), number);
            assert_eq!(kind.name(), name);
            assert_eq!(name.parse::<EventKind>(), Ok(kind));
            assert_eq!(format!(" {name}\n").parse::<EventKind>(), Ok(kind));
        }
        for raw in 0..=u16::MAX {
            match EventKind::from_u16(raw) {
                Some(kind) => assert_eq!(kind.as_u16(), raw),
                None => assert!(raw == 0 || raw > 6, "{raw}"),
            }
        }
        assert_eq!(
            EventKind::from_u16(slipstream_ring::layout::KIND_INVALID),
            None
        );
        assert_eq!(
            EventKind::from_u16(slipstream_ring::layout::KIND_PADDING),
            None
        );
        assert!("Block".parse::<EventKind>().is_err());
        assert!("".parse::<EventKind>().is_err());
    }

    #[test]
    fn kind_sets() {
        let mut set = KindSet::none();
        assert!(set.is_empty());
        assert_eq!(set.to_string(), "");
        assert_eq!(format!("{set:?}"), "{}");
        for kind in EventKind::ALL {
            assert!(!set.contains(kind));
            assert!(set.insert(kind));
            assert!(set.contains(kind) && set.contains_raw(kind as u16));
        }
        assert_eq!(set, KindSet::all());
        assert_eq!(set.iter().collect::<Vec<_>>(), EventKind::ALL);
        for raw in (0..=u16::MAX).filter(|&r| EventKind::from_u16(r).is_none()) {
            assert!(!KindSet::all().contains_raw(raw), "{raw}");
        }
        assert!(set.remove(EventKind::Block) && !set.remove(EventKind::Block));
        assert!(!set.contains(EventKind::Block) && !set.contains_raw(4));
        let text = set.to_string();
        assert_eq!(
            text,
            "mapping_update,mapping_removal,staking_reward,block_begin,block_commit"
        );
        assert_eq!(text.parse::<KindSet>(), Ok(set));
        assert_eq!(
            format!("{:?}", KindSet::none().with(EventKind::Block)),
            "{Block}"
        );
        assert_eq!(" all ".parse::<KindSet>(), Ok(KindSet::all()));
        assert_eq!(" , ".parse::<KindSet>(), Ok(KindSet::none()));
        assert_eq!(
            "block,block".parse::<KindSet>(),
            Ok(KindSet::none().with(EventKind::Block))
        );
        assert_eq!("block,all".parse::<KindSet>().unwrap_err().name, "all");
        assert_eq!(
            [EventKind::Block, EventKind::BlockBegin]
                .into_iter()
                .collect::<KindSet>()
                .bits(),
            0b11_0000
        );
    }
}
