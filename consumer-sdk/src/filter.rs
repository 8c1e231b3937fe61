//! Which events a consumer receives: [`Filter`] (kinds, programs, mappings, heights).

use slipstream_event::{EventRef, KindSet};

/// Which events a consumer receives.
///
/// Kinds are checked before decoding, so an unwanted kind costs almost
/// nothing. The program and mapping filters apply to mapping events only
/// (updates and removals); other kinds pass them. Block markers pass unless
/// their kinds are excluded.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-filter-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, EventKind, Filter, Item, KindSet};
/// let filter = Filter { kinds: Some(KindSet::none().with(EventKind::MappingUpdate)), ..Filter::default() };
/// let mut c = Consumer::builder(&path).kinds(filter.kinds.unwrap()).open()?;
/// // Only the mapping update of block 7 passes; its markers do not.
/// assert!(matches!(c.try_next()?, Some(Item::Event(ev)) if ev.seq == 2));
/// assert!(c.try_next()?.is_none());
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Kinds to receive (`None`: all).
    pub kinds: Option<KindSet>,
    /// Programs whose mapping events to receive (empty: all).
    pub programs: Vec<Vec<u8>>,
    /// Mappings whose events to receive (empty: all).
    pub mappings: Vec<Vec<u8>>,
    /// Events of blocks below this height are passed over.
    pub from_height: Option<u64>,
}

impl Filter {
    /// Whether a record of `kind` with `payload` passes: its kind, then (if
    /// a program, mapping or height filter is set) the decoded event
    /// ([`keeps`](Self::keeps)). A payload that does not decode passes, so
    /// that the reader sees the error.
    ///
    /// ```
    /// use slipstream_consumer::{EventKind, EventRef, Filter, KindSet};
    /// let filter = Filter { kinds: Some(KindSet::none().with(EventKind::Block)), ..Filter::default() };
    /// let ev = EventRef::Block { block_height: 1, ordinal: 1, block: b"b" };
    /// let mut payload = vec![0; ev.encoded_len()];
    /// ev.encode(&mut payload);
    /// assert!(filter.keep(EventKind::Block.as_u16(), &payload));
    /// assert!(!filter.keep(EventKind::StakingReward.as_u16(), &payload));
    /// ```
    pub fn keep(&self, kind: u16, payload: &[u8]) -> bool {
        if !self.keeps_kind(kind) {
            return false;
        }
        if !self.by_content() {
            return true;
        }
        EventRef::decode(kind, payload).map_or(true, |ev| self.keeps(&ev))
    }

    /// Whether records of `kind` pass the kind filter.
    #[inline]
    pub(crate) fn keeps_kind(&self, kind: u16) -> bool {
        self.kinds.is_none_or(|k| k.contains_raw(kind))
    }

    /// Whether a program, mapping or height filter is set (which needs the
    /// decoded event).
    #[inline]
    pub(crate) fn by_content(&self) -> bool {
        !(self.programs.is_empty() && self.mappings.is_empty() && self.from_height.is_none())
    }

    /// Whether a decoded event passes the program, mapping and height
    /// filters (its kind is not checked here: see [`keep`](Self::keep)).
    ///
    /// ```
    /// use slipstream_consumer::{EventRef, Filter};
    /// let filter = Filter { programs: vec![b"credits.aleo".to_vec()], ..Filter::default() };
    /// let update = |program_id| EventRef::MappingUpdate {
    ///     block_height: 1, ordinal: 1, program_id, mapping_name: b"account", key: b"k", value: b"v",
    /// };
    /// assert!(filter.keeps(&update(b"credits.aleo")));
    /// assert!(!filter.keeps(&update(b"token.aleo")));
    /// // Other kinds pass the program filter.
    /// assert!(filter.keeps(&EventRef::Block { block_height: 1, ordinal: 2, block: b"" }));
    /// ```
    pub fn keeps(&self, event: &EventRef<'_>) -> bool {
        if self.from_height.is_some_and(|h| event.block_height() < h) {
            return false;
        }
        let (Some(program), Some(mapping)) = (event.program_id(), event.mapping_name()) else {
            return true;
        };
        (self.programs.is_empty() || self.programs.iter().any(|p| p == program))
            && (self.mappings.is_empty() || self.mappings.iter().any(|m| m == mapping))
    }
}
