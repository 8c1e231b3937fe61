//! Waiting for the next item: spinning, sleeping on the futex, and watching the producer's life while idle.

use crate::consumer::Reported;
use crate::{Consumer, ConsumerError, ProducerChange};
use slipstream_ring::{producer_alive, ProducerState};
use std::time::Instant;

impl Consumer {
    /// Waits until something may be ready to read (or `deadline` passes):
    /// spins for the configured time, then sleeps on the futex, checking the
    /// producer's liveness while idle.
    pub(crate) fn wait_ready(&mut self, deadline: Instant) -> Result<bool, ConsumerError> {
        // The clock is read only once nothing is ready: a block's records
        // come through here one by one, and most of them are ready.
        let mut start = None;
        loop {
            if self.ready()? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if now - *start.get_or_insert(now) < self.spin {
                std::hint::spin_loop();
                continue;
            }
            let nap = (deadline - now).min(self.liveness_interval);
            self.reader.wait(nap);
        }
    }

    /// Whether [`try_next`](Self::try_next) has something to return (it may
    /// still be filtered out); checks the producer's liveness when idle.
    fn ready(&mut self) -> Result<bool, ConsumerError> {
        if self.pending.is_some()
            || self.held.is_some()
            || self.reader.available()
            || self.journal.as_ref().is_some_and(|j| j.replaying())
        {
            return Ok(true);
        }
        if self.last_liveness.elapsed() >= self.liveness_interval {
            self.last_liveness = Instant::now();
            self.check_producer();
        }
        Ok(self.pending.is_some())
    }

    /// Compares the producer's state with what was last reported.
    fn check_producer(&mut self) {
        let info = self.reader.producer();
        if info.epoch > self.seen_epoch {
            self.seen_epoch = info.epoch;
            self.reported = Reported::None;
            self.pending = Some(ProducerChange::Restarted {
                pid: info.pid,
                epoch: info.epoch,
            });
            return;
        }
        let now = match info.state {
            ProducerState::Closed => Reported::Closed,
            ProducerState::Open if !producer_alive(&self.file).unwrap_or(true) => Reported::Died,
            _ => Reported::None,
        };
        if now != self.reported {
            self.reported = now;
            self.pending = match now {
                Reported::Died => Some(ProducerChange::Died {
                    pid: info.pid,
                    epoch: info.epoch,
                }),
                Reported::Closed => Some(ProducerChange::Closed { epoch: info.epoch }),
                Reported::None => None,
            };
        }
    }

    /// Whether a producer holds the ring now.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-consumer-alive-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let c = slipstream_consumer::Consumer::builder(&path).open()?;
    /// assert!(c.producer_alive());
    /// drop(p);
    /// assert!(!c.producer_alive());
    /// # let p = ();
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_alive(&self) -> bool {
        producer_alive(&self.file).unwrap_or(false)
    }
}
