//! A blocking iterator of owned items: [`Consumer::iter`](crate::Consumer::iter), [`Iter`](crate::Iter), [`OwnedItem`](crate::OwnedItem).

use crate::{Consumer, ConsumerError, Item, Missed, OwnedEvent, ProducerChange};
use std::time::Duration;

/// An [`Item`] that owns its event: what [`Consumer::iter`] and the
/// streams (feature `tokio`) yield.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-owned-item-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.block_at(5, b"bytes")?;
/// use slipstream_consumer::{Consumer, OwnedItem};
/// let mut c = Consumer::builder(&path).open()?;
/// let item = c.try_next()?.map(|item| OwnedItem::from_item(&item));
/// drop(c); // the copy outlives the consumer
/// assert!(matches!(item, Some(OwnedItem::Event(ev)) if ev.seq == 1));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedItem {
    /// An event ([`Item::Event`]).
    Event(OwnedEvent),
    /// Events were missed ([`Item::Lagged`]).
    Lagged(Missed),
    /// The producer died, closed, or restarted ([`Item::Producer`]).
    Producer(ProducerChange),
}

impl OwnedItem {
    /// Copies a borrowed item (an event's bytes are copied, not re-encoded).
    ///
    /// ```
    /// use slipstream_consumer::{Item, Missed, OwnedItem};
    /// let lag = Missed { first_missed: 3, last_missed: 9, first_height: None, last_height: None, first_partial: false, last_partial: false };
    /// assert_eq!(OwnedItem::from_item(&Item::Lagged(lag)), OwnedItem::Lagged(lag));
    /// ```
    pub fn from_item(item: &Item<'_>) -> OwnedItem {
        match item {
            Item::Event(e) => OwnedItem::Event(OwnedEvent::from(e)),
            Item::Lagged(l) => OwnedItem::Lagged(*l),
            Item::Producer(p) => OwnedItem::Producer(*p),
        }
    }
}

/// A blocking iterator over a consumer's items; see [`Consumer::iter`].
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-iter-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// let mut c = slipstream_consumer::Consumer::builder(&path).open()?;
/// let mut iter = c.iter();
/// assert!(iter.next().is_some()); // the begin marker of block 7
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iter<'c> {
    consumer: &'c mut Consumer,
}

impl Iterator for Iter<'_> {
    type Item = Result<OwnedItem, ConsumerError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.consumer.next(Duration::from_secs(3600)) {
                Ok(Some(item)) => return Some(Ok(OwnedItem::from_item(&item))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Consumer {
    /// An iterator of owned items that waits for each (allocates per event;
    /// use [`next`](Self::next) for the zero-copy path). Ends only on error.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-iter-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, OwnedItem};
    /// let mut c = Consumer::builder(&path).open()?;
    /// // The iterator waits for each item: take what is there.
    /// let items: Vec<OwnedItem> = c.iter().take(3).collect::<Result<_, _>>()?;
    /// assert!(matches!(&items[2], OwnedItem::Event(ev) if ev.seq == 3));
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { consumer: self }
    }
}
