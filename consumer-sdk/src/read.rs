//! Reading events one by one: [`try_next`](crate::Consumer::try_next) and [`next`](crate::Consumer::next), and the gap reports between them.

use crate::consumer::record_of;
use crate::delivery::{self, Here};
use crate::{Consumer, ConsumerError, Event, Item, Missed};
use slipstream_ring::{Lag, Step};
use std::time::{Duration, Instant};

/// Decodes a delivered record into the item handed out.
#[inline]
fn decode(seq: u64, kind: u16, payload: &[u8]) -> Result<Option<Item<'_>>, ConsumerError> {
    Event::decode(seq, kind, payload).map(|e| Some(Item::Event(e)))
}

impl Consumer {
    /// Leaves `next_block`'s reading: back to the last block boundary handed
    /// out, so that an event API reads on from there (the block being
    /// assembled comes again, event by event).
    pub(crate) fn leave_block_mode(&mut self) -> Result<(), ConsumerError> {
        if !self.block_mode {
            return Ok(());
        }
        self.block_mode = false;
        self.block.open = None;
        self.block.dropping = None;
        if self.cursor() != self.handed {
            let (seq, pos) = self.handed;
            self.held = None;
            match self.handed_at {
                Some(here) => self.at = Some(here),
                None => self.prime(seq),
            }
            self.reposition(seq, pos)?;
        }
        Ok(())
    }

    /// Returns the next item without waiting, or `None` if there is none now.
    ///
    /// A decode error is returned once, for the one event that does not
    /// decode; the consumer has moved past it and the next call goes on.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Read`] if the ring holds what cannot be valid,
    /// [`ConsumerError::Decode`] for an event that does not decode.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1649-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// let mut c = Consumer::builder(&path).open()?;
    /// while let Some(item) = c.try_next()? {
    ///     if let Item::Lagged(missed) = item { eprintln!("{missed}"); }
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_next(&mut self) -> Result<Option<Item<'_>>, ConsumerError> {
        self.leave_block_mode()?;
        self.begin_read();
        self.read_item()
    }

    /// The next item, with no commit: what `try_next` and `next` return.
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ConsumerError> {
        if let Some(change) = self.pending.take() {
            self.in_flight = true;
            return Ok(Some(Item::Producer(change)));
        }
        if let Some((seq, kind, _)) = self.held.take() {
            self.handed = self.cursor();
            self.delivered += 1;
            self.in_flight = true;
            return decode(seq, kind, &self.held_buf);
        }
        loop {
            match self.advance_any(false)? {
                None => {
                    self.handed = self.cursor();
                    return Ok(None);
                }
                Some(Step::Lagged(lag)) => {
                    let missed = self.complete_gap(lag)?;
                    self.missed += missed.count();
                    self.handed = self.cursor();
                    self.in_flight = true;
                    return Ok(Some(Item::Lagged(missed)));
                }
                Some(Step::Record) => {
                    let seq = self.current_record().expect("moved to a record").seq;
                    if self.skip_below.is_some_and(|n| seq < n) {
                        continue;
                    }
                    self.skip_below = None;
                    self.handed = self.cursor();
                    self.delivered += 1;
                    self.in_flight = true;
                    let rec = self.current_record().expect("moved to a record");
                    return decode(rec.seq, rec.kind, rec.payload);
                }
            }
        }
    }

    /// The gap `lag`, with its heights: reads the first record after it (and
    /// holds it, to deliver next, if the filter keeps it).
    fn complete_gap(&mut self, lag: Lag) -> Result<Missed, ConsumerError> {
        let before = self.at;
        let mut last_missed = lag.last_missed;
        loop {
            let pos = self.source_cursor().1;
            match self.advance_any(true)? {
                None => return Ok(Missed::between(lag.first_missed, last_missed, before, None)),
                Some(Step::Lagged(more)) => last_missed = more.last_missed,
                Some(Step::Record) => {
                    let rec = record_of(self.from_journal, &self.journal, &self.reader)
                        .expect("moved to a record");
                    let next = delivery::head(rec.kind, rec.payload);
                    if self.filter.keep(rec.kind, rec.payload)
                        && self.skip_below.is_none_or(|n| rec.seq >= n)
                    {
                        self.held_buf.clear();
                        self.held_buf.extend_from_slice(rec.payload);
                        self.held = Some((rec.seq, rec.kind, pos));
                        // Not delivered yet: a gap before it would begin in its block.
                        if let Some(h) = next {
                            self.at = Some(Here {
                                height: h.height,
                                partial: !h.begin,
                            });
                        }
                    }
                    return Ok(Missed::between(lag.first_missed, last_missed, before, next));
                }
            }
        }
    }

    /// Returns the next item, waiting up to `timeout` for one (spinning
    /// briefly, then sleeping on the ring's futex); `None` if none came.
    ///
    /// # Errors
    ///
    /// As [`try_next`](Self::try_next).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1745-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder(&path).open()?;
    /// if let Some(Item::Event(ev)) = c.next(Duration::from_millis(100))? {
    ///     println!("#{} at height {}", ev.seq, ev.event.block_height());
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Item<'_>>, ConsumerError> {
        let deadline = Instant::now() + timeout;
        self.leave_block_mode()?;
        self.begin_read();
        if self.wait_ready(deadline)? {
            return self.read_item();
        }
        Ok(None)
    }
}
