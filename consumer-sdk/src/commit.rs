//! Commits: storing a named consumer's cursor (by hand, at each read, on drop).

use crate::Consumer;

impl Drop for Consumer {
    /// With automatic commits, stores what the application has moved past:
    /// never the item in flight (it comes again after a restart), and nothing
    /// while a panic unwinds.
    fn drop(&mut self) {
        if self.auto_commit && !std::thread::panicking() {
            let cursor = if self.in_flight {
                self.acked
            } else {
                self.handed
            };
            self.store(cursor);
        }
        // The durable cursor catches up with the last one stored in the
        // cursor file (by automatic commits, `commit`, or a stream's
        // acknowledgements), which it may trail by the store interval.
        if self.slot.is_some() && self.stored != (0, 0) {
            self.store_durable(self.stored.0, true);
        }
    }
}

impl Consumer {
    /// Stores the cursor of a named consumer: everything handed out so far
    /// counts as processed, and a restart under this name resumes after it.
    /// After [`next_block`](Self::next_block), that is after the last block
    /// (or gap report) it returned: a block boundary, never the middle of a
    /// block. Called automatically (for what the application has moved past)
    /// unless [`auto_commit(false)`](crate::ConsumerBuilder::auto_commit) was chosen.
    ///
    /// Two stores to the consumer's own slot; nothing if it has no name.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-lib-1561-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// use slipstream_consumer::{Consumer, Item};
    /// use std::time::Duration;
    /// let mut c = Consumer::builder(&path).name("db-writer").auto_commit(false).open()?;
    /// while let Some(item) = c.next(Duration::from_millis(10))? {
    ///     if let Item::Event(ev) = item { /* write ev to a transaction */ }
    ///     // ... once the transaction is durable:
    ///     c.commit();
    /// }
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(&mut self) {
        // Everything handed out is processed now: a later automatic store
        // (the next read, or the drop) must not move the cursor back before
        // the item that was in flight when the application committed.
        self.acked = self.handed;
        self.in_flight = false;
        self.store(self.handed);
        self.store_durable(self.handed.0, true);
    }

    /// Stores the durable cursor in the journal directory (if the consumer
    /// has a name and a journal): at once if `now`, else at most every
    /// [`DURABLE_CURSOR_INTERVAL`](crate::DURABLE_CURSOR_INTERVAL).
    fn store_durable(&mut self, next_seq: u64, now: bool) {
        if let Some(j) = self.journal.as_mut() {
            j.store(next_seq, now);
        }
    }

    /// Stores `cursor` in the slot (and the counters), and in the journal
    /// directory at most every [`DURABLE_CURSOR_INTERVAL`](crate::DURABLE_CURSOR_INTERVAL).
    pub(crate) fn store(&mut self, cursor: (u64, u64)) {
        self.store_durable(cursor.0, false);
        let Some(slot) = &self.slot else { return };
        if cursor != self.stored {
            slot.store_cursor(cursor.0, cursor.1);
            self.stored = cursor;
        }
        if self.delivered != 0 || self.missed != 0 {
            slot.count(self.delivered, self.missed);
            self.delivered = 0;
            self.missed = 0;
        }
    }

    /// The start of every read: the application has moved past what was
    /// handed out before; store that if commits are automatic.
    pub(crate) fn begin_read(&mut self) {
        self.acked = self.handed;
        self.in_flight = false;
        if self.auto_commit {
            self.store(self.acked);
        }
    }
}
