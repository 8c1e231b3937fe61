//! Catch-up from a journal ([`ConsumerBuilder::journal`](crate::ConsumerBuilder::journal)):
//! a start, a saved cursor or a lag older than the ring is served from the
//! journal that `slipstream-journal record` keeps, then the consumer joins the
//! live ring at the next sequence number (Aeron's ReplayMerge), with no gap
//! and no duplicate. Only events that neither holds are reported, as one
//! exact [`Missed`](crate::Missed). With a name, the consumer's cursor is also
//! kept in the journal directory, so that it survives a reboot (the ring's
//! cursor files do not).
//!
//! This module is the journal side only: [`Catchup`] is a second record
//! source beside the ring's reader. `lib.rs` reads from whichever is current
//! (`Consumer::advance_any`), so that the delivery contract (cursors stored
//! only for what the application moved past, `next_block` at block
//! boundaries, gaps with their heights) holds for journal-served items too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipstream_journal::{
    load_cursor, store_cursor, JournalError, JournalItem, JournalReader, JournalStart,
};
use slipstream_ring::{Lag, Record};

/// How often an automatically committing named consumer stores its durable
/// cursor (each store is a write, an fsync and a rename). A crash loses at
/// most this much progress: those events are delivered again (at least once).
/// [`Consumer::commit`](crate::Consumer::commit) and dropping the consumer
/// store it at once.
///
/// ```
/// assert_eq!(slipstream_consumer::DURABLE_CURSOR_INTERVAL, std::time::Duration::from_secs(1));
/// ```
pub const DURABLE_CURSOR_INTERVAL: Duration = Duration::from_secs(1);

/// What the journal reader already read ahead (to learn whether the journal
/// holds a position), handed out next.
#[derive(Clone, Copy, Debug)]
enum Peeked {
    /// The reader's current record.
    Record,
    /// A gap entry.
    Gap(Lag),
}

/// One step of the journal.
#[derive(Clone, Copy, Debug)]
pub(crate) enum JStep {
    /// A record: [`Catchup::current`].
    Record,
    /// Events neither the journal nor (as far as it knows) the ring holds.
    Lagged(Lag),
    /// The journal's end for now: the next sequence number it would hold.
    End(u64),
}

/// The journal side of a [`Consumer`](crate::Consumer).
pub(crate) struct Catchup {
    dir: PathBuf,
    /// Replaying from the journal (until it has nothing more).
    reader: Option<JournalReader>,
    /// A gap to report before the journal (older than the journal and the ring).
    pending: Option<Lag>,
    peeked: Option<Peeked>,
    /// The durable cursor's name (the consumer's).
    name: Option<String>,
    stored_seq: u64,
    stored_at: Instant,
}

/// Whether the journal holds nothing yet (no directory, or no segment).
pub(crate) fn absent(e: &JournalError) -> bool {
    match e {
        JournalError::Empty(_) => true,
        JournalError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

impl Catchup {
    pub(crate) fn new(dir: &Path, name: Option<String>) -> Catchup {
        Catchup {
            dir: dir.to_path_buf(),
            reader: None,
            pending: None,
            peeked: None,
            name,
            stored_seq: 0,
            stored_at: Instant::now(),
        }
    }

    /// The durable cursor saved under this consumer's name, if any.
    pub(crate) fn load(&self) -> Result<Option<u64>, JournalError> {
        match &self.name {
            Some(n) => load_cursor(&self.dir, n),
            None => Ok(None),
        }
    }

    /// Whether the consumer reads from the journal now.
    pub(crate) fn replaying(&self) -> bool {
        self.reader.is_some() || self.pending.is_some()
    }

    /// The sequence number of the next item while replaying.
    pub(crate) fn cursor(&self) -> Option<u64> {
        if let Some(l) = self.pending {
            return Some(l.first_missed);
        }
        let r = self.reader.as_ref()?;
        Some(match self.peeked {
            Some(Peeked::Record) => r.current().map_or(r.next_seq(), |rec| rec.seq),
            Some(Peeked::Gap(l)) => l.first_missed,
            None => r.next_seq(),
        })
    }

    /// The record the last [`step`](Self::step) returned.
    pub(crate) fn current(&self) -> Option<Record<'_>> {
        self.reader.as_ref()?.current()
    }

    /// The next item of the journal (only while [`replaying`](Self::replaying)).
    pub(crate) fn step(&mut self) -> Result<JStep, JournalError> {
        if let Some(l) = self.pending.take() {
            return Ok(JStep::Lagged(l));
        }
        let Some(r) = self.reader.as_mut() else {
            return Ok(JStep::End(0));
        };
        if let Some(p) = self.peeked.take() {
            return Ok(match p {
                Peeked::Record => JStep::Record,
                Peeked::Gap(l) => JStep::Lagged(l),
            });
        }
        Ok(match r.try_next()? {
            Some(JournalItem::Record(_)) => JStep::Record,
            Some(JournalItem::Gap(g)) => JStep::Lagged(Lag {
                first_missed: g.first_missed,
                last_missed: g.last_missed,
            }),
            None => JStep::End(r.next_seq()),
        })
    }

    /// Ends a replay (the consumer reads the ring).
    pub(crate) fn stop(&mut self) {
        self.reader = None;
        self.pending = None;
        self.peeked = None;
    }

    /// Replays from `at`.
    ///
    /// # Errors
    /// Whatever opening the journal there gives (`NotRetained` names the
    /// oldest sequence number and height it holds).
    pub(crate) fn replay_from(&mut self, at: JournalStart) -> Result<(), JournalError> {
        let r = JournalReader::open(&self.dir, at)?;
        self.stop();
        self.reader = Some(r);
        Ok(())
    }

    /// Serves sequence number `n` from the journal if it holds it (`true`:
    /// replaying from `n`). If the journal begins after `n` but at or before
    /// `last_useful + 1`, replays from its oldest after reporting
    /// `n..oldest` as missed. `false`: the journal cannot help (empty, at its
    /// end before `n`, or beginning too late); nothing changed.
    pub(crate) fn serve(&mut self, n: u64, last_useful: u64) -> Result<bool, JournalError> {
        match JournalReader::open(&self.dir, JournalStart::Seq(n)) {
            Ok(mut r) => {
                // Read ahead once: a reader at the journal's end opens fine
                // but holds nothing at `n`.
                let peeked = match r.try_next()? {
                    Some(JournalItem::Record(_)) => Peeked::Record,
                    Some(JournalItem::Gap(g)) => Peeked::Gap(Lag {
                        first_missed: g.first_missed,
                        last_missed: g.last_missed,
                    }),
                    None => return Ok(false),
                };
                self.stop();
                self.reader = Some(r);
                self.peeked = Some(peeked);
                Ok(true)
            }
            Err(JournalError::NotRetained { oldest_seq, .. })
                if oldest_seq > n && oldest_seq <= last_useful.saturating_add(1) =>
            {
                let r = JournalReader::open(&self.dir, JournalStart::Seq(oldest_seq))?;
                self.stop();
                self.reader = Some(r);
                self.pending = Some(Lag {
                    first_missed: n,
                    last_missed: oldest_seq - 1,
                });
                Ok(true)
            }
            Err(JournalError::NotRetained { .. } | JournalError::InFuture { .. }) => Ok(false),
            Err(e) if absent(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The kind and payload of record `n`, if the journal holds it (a probe:
    /// the replay, if any, is not moved).
    pub(crate) fn record_at(&self, n: u64) -> Option<(u16, Vec<u8>)> {
        let mut r = JournalReader::open(&self.dir, JournalStart::Seq(n)).ok()?;
        match r.try_next().ok()? {
            Some(JournalItem::Record(rec)) if rec.seq == n => {
                Some((rec.kind, rec.payload.to_vec()))
            }
            _ => None,
        }
    }

    /// Stores the durable cursor of a named consumer: at once if `now`, else
    /// at most every [`DURABLE_CURSOR_INTERVAL`].
    pub(crate) fn store(&mut self, next_seq: u64, now: bool) {
        let Some(name) = &self.name else { return };
        if next_seq == self.stored_seq
            || (!now && self.stored_at.elapsed() < DURABLE_CURSOR_INTERVAL)
        {
            return;
        }
        match store_cursor(&self.dir, name, next_seq) {
            Ok(()) => {
                self.stored_seq = next_seq;
                self.stored_at = Instant::now();
            }
            // The ring's cursor file still has it; a reboot would resume earlier.
            Err(e) => tracing::warn!(error = %e, "could not store the durable cursor"),
        }
    }
}
