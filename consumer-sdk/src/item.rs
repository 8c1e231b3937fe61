//! What a consumer yields: [`Item`], the decoded [`Event`] and the [`ProducerChange`]s.

use crate::{ConsumerError, Missed};
use slipstream_event::EventRef;

/// One event, decoded from the consumer's own copy of its bytes (never a
/// borrow of the shared ring).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-event-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, EventRef, Item};
/// let mut c = Consumer::builder(&path).open()?;
/// c.try_next()?; // the begin marker
/// let Some(Item::Event(ev)) = c.try_next()? else { unreachable!() };
/// assert_eq!(ev.seq, 2);
/// assert!(matches!(ev.event, EventRef::MappingUpdate { block_height: 7, key: b"k", .. }));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// The event.
    pub event: EventRef<'a>,
    /// Its encoded payload, which `event` borrows.
    pub(crate) payload: &'a [u8],
}

impl<'a> Event<'a> {
    /// Decodes the payload of record `seq` of `kind`: the one decode between
    /// the reader's validated copy and the caller's [`EventRef`].
    #[inline]
    pub(crate) fn decode(
        seq: u64,
        kind: u16,
        payload: &'a [u8],
    ) -> Result<Event<'a>, ConsumerError> {
        match EventRef::decode(kind, payload) {
            Ok(event) => Ok(Event {
                seq,
                event,
                payload,
            }),
            Err(source) => Err(ConsumerError::Decode { seq, kind, source }),
        }
    }

    /// The event's encoded payload (FORMAT.md, section 10): the bytes
    /// [`event`](Self::event) borrows, for forwarding or storing them as they are.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-event-payload-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.block_at(7, b"block")?;
    /// use slipstream_consumer::{Consumer, EventRef, Item};
    /// let mut c = Consumer::builder(&path).open()?;
    /// c.try_next()?; // the begin marker of block 7
    /// if let Some(Item::Event(ev)) = c.try_next()? {
    ///     assert_eq!(EventRef::decode(ev.event.kind().as_u16(), ev.payload())?, ev.event);
    /// }
    /// # drop(p); drop(c); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A change in the producer's life.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-producer-change-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item, ProducerChange, Start};
/// use std::time::Duration;
/// let mut c = Consumer::builder(&path).start(Start::End).liveness_interval(Duration::ZERO).open()?;
/// drop(p); // closes the ring cleanly
/// let item = c.next(Duration::from_secs(5))?;
/// assert!(matches!(item, Some(Item::Producer(ProducerChange::Closed { epoch: 1 }))), "{item:?}");
/// # let p = ();
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerChange {
    /// The producer died (its lock is gone) without closing the ring.
    Died {
        /// Its process id.
        pid: u32,
        /// Its epoch.
        epoch: u64,
    },
    /// The producer closed the ring cleanly.
    Closed {
        /// Its epoch.
        epoch: u64,
    },
    /// A new producer opened the ring; events go on with the next sequence number.
    Restarted {
        /// Its process id.
        pid: u32,
        /// Its epoch.
        epoch: u64,
    },
}

/// What a consumer yields.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-item-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, Item};
/// let mut c = Consumer::builder(&path).open()?;
/// while let Some(item) = c.try_next()? {
///     match item {
///         Item::Event(ev) => println!("#{} {:?}", ev.seq, ev.event),
///         Item::Lagged(missed) => eprintln!("{missed}"),
///         Item::Producer(change) => eprintln!("producer: {change:?}"),
///     }
/// }
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The next event.
    Event(Event<'a>),
    /// Events were overwritten before this consumer read them (exactly
    /// which, by sequence number and height); reading goes on after them.
    Lagged(Missed),
    /// The producer died, closed the ring, or was restarted.
    Producer(ProducerChange),
}
