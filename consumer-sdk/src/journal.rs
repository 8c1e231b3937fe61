//! Catch-up from a journal ([`ConsumerBuilder::journal`]): a start, a saved
//! cursor or a lag older than the ring is served from the journal that
//! `slipstream-journal record` keeps, then the consumer joins the live ring at
//! the next sequence number (Aeron's ReplayMerge), with no gap and no
//! duplicate. Only events that neither holds are reported, as one exact
//! [`Item::Lagged`]. With a name, the consumer's cursor is also kept in the
//! journal directory, so that it survives a reboot (the ring's reader table
//! does not).
//!
//! The hooks in `lib.rs` are one call each: [`open`] positions a new
//! consumer, [`replay`] runs before each read, [`on_lag`] turns a lap into a
//! replay, [`cursor`] and [`store`] keep the cursor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipstream_journal::{
    load_cursor, store_cursor, JournalError, JournalItem, JournalReader, JournalStart,
};
use slipstream_ring::{Lag, SeekError, StartAt};

use crate::{Consumer, ConsumerError, Event, EventRef, Item, Start};

/// How often an automatically committing named consumer stores its durable
/// cursor (each store is a write, an fsync and a rename). A crash loses at
/// most this much progress: those events are delivered again (at least once).
pub const DURABLE_CURSOR_INTERVAL: Duration = Duration::from_secs(1);

/// The journal side of a [`Consumer`].
pub(crate) struct Catchup {
    dir: PathBuf,
    /// Replaying from the journal (until it has nothing more).
    reader: Option<JournalReader>,
    /// A lag to report before anything else.
    pending: Option<Lag>,
    /// The durable cursor's name (the consumer's).
    name: Option<String>,
    stored_seq: u64,
    stored_at: Instant,
}

/// What [`replay`] did.
pub(crate) enum Replay {
    /// Not replaying: read the ring.
    Live,
    /// A record from the journal: [`current`] hands it out.
    Record,
    /// Events neither the journal nor the ring holds.
    Lagged(Lag),
}

fn journal_err(e: JournalError) -> ConsumerError {
    ConsumerError::Journal(e)
}

/// Whether the journal holds nothing yet (no directory, or no segment).
fn absent(e: &JournalError) -> bool {
    match e {
        JournalError::Empty(_) => true,
        JournalError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Positions a newly attached consumer with a journal in `dir`: from its
/// saved cursor (the ring's, else the durable one), else at `start`.
pub(crate) fn open(
    c: &mut Consumer,
    dir: &Path,
    saved_in_ring: Option<u64>,
    start: Start,
    reset: bool,
) -> Result<(), ConsumerError> {
    let name = c.name().map(str::to_owned);
    let durable = match (&name, reset) {
        (Some(n), false) => load_cursor(dir, n).map_err(journal_err)?,
        _ => None,
    };
    c.journal = Some(Catchup {
        dir: dir.to_path_buf(),
        reader: None,
        pending: None,
        name,
        stored_seq: 0,
        stored_at: Instant::now(),
    });
    if let Some(n) = saved_in_ring.or(durable) {
        return resume_at(c, n);
    }
    match start {
        Start::Seq(n) => {
            if !retained_in_ring(c, n)? {
                replay_from(c, JournalStart::Seq(n))?;
            }
            Ok(())
        }
        Start::Oldest => {
            let ring_oldest = {
                c.reader.seek(StartAt::Oldest)?;
                c.reader.next_seq()
            };
            let journal_first = match slipstream_journal::summary(dir) {
                Ok(s) => s.first_seq(),
                Err(e) if absent(&e) => None,
                Err(e) => return Err(journal_err(e)),
            };
            if journal_first.is_some_and(|j| j < ring_oldest) {
                replay_from(c, JournalStart::Oldest)?;
            }
            Ok(())
        }
        Start::Height(h) => match c.seek(Start::Height(h)) {
            Err(ConsumerError::HeightNotRetained { .. }) => replay_from(c, JournalStart::Height(h)),
            other => other,
        },
        Start::Latest | Start::End => c.seek(start),
    }
}

/// Whether the ring holds `n` (and if so, the reader is there now).
fn retained_in_ring(c: &mut Consumer, n: u64) -> Result<bool, ConsumerError> {
    match c.reader.seek(StartAt::Seq(n)) {
        Ok(()) => Ok(true),
        Err(SeekError::NotRetained { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn catchup(c: &mut Consumer) -> &mut Catchup {
    c.journal.as_mut().expect("a journal is configured")
}

fn replay_from(c: &mut Consumer, at: JournalStart) -> Result<(), ConsumerError> {
    let dir = catchup(c).dir.clone();
    let r = JournalReader::open(&dir, at).map_err(journal_err)?;
    catchup(c).reader = Some(r);
    Ok(())
}

/// Resumes a saved cursor `n`: from the ring if it holds it, else from the
/// journal, else from the oldest either holds, reporting exactly what is missing.
fn resume_at(c: &mut Consumer, n: u64) -> Result<(), ConsumerError> {
    if retained_in_ring(c, n)? {
        return Ok(());
    }
    let dir = catchup(c).dir.clone();
    match JournalReader::open(&dir, JournalStart::Seq(n)) {
        Ok(r) => catchup(c).reader = Some(r),
        Err(JournalError::NotRetained { oldest_seq, .. }) if oldest_seq > n => {
            // Older than both: the journal from its oldest, after an exact lag.
            let r =
                JournalReader::open(&dir, JournalStart::Seq(oldest_seq)).map_err(journal_err)?;
            let j = catchup(c);
            j.reader = Some(r);
            j.pending = Some(Lag {
                first_missed: n,
                last_missed: oldest_seq - 1,
            });
        }
        // An empty journal (or one ahead of the ring): the ring's own resume,
        // which reports the exact lag.
        Err(e) if absent(&e) || matches!(e, JournalError::InFuture { .. }) => {
            c.reader.resume(n, u64::MAX)?
        }
        Err(e) => return Err(journal_err(e)),
    }
    Ok(())
}

/// Before each read: serves the journal while replaying, and joins the ring
/// when the journal has nothing more.
pub(crate) fn replay(c: &mut Consumer) -> Result<Replay, ConsumerError> {
    let Some(j) = c.journal.as_mut() else {
        return Ok(Replay::Live);
    };
    if let Some(lag) = j.pending.take() {
        return Ok(Replay::Lagged(lag));
    }
    let Some(r) = j.reader.as_mut() else {
        return Ok(Replay::Live);
    };
    let mut polled_again = false;
    loop {
        match r.try_next().map_err(journal_err)? {
            Some(JournalItem::Record(rec)) => {
                if c.filter.keep(rec.kind, rec.payload) {
                    return Ok(Replay::Record);
                }
            }
            Some(JournalItem::Gap(g)) => {
                return Ok(Replay::Lagged(Lag {
                    first_missed: g.first_missed,
                    last_missed: g.last_missed,
                }))
            }
            None => {
                // The journal's end for now: the live ring from here (ReplayMerge).
                let n = r.next_seq();
                match c.reader.seek(StartAt::Seq(n)) {
                    Ok(()) => {}
                    Err(SeekError::NotRetained { .. }) if !polled_again => {
                        // The recorder may have just appended it: look once more.
                        polled_again = true;
                        continue;
                    }
                    // In neither: the ring's resume reports the exact lag first.
                    Err(SeekError::NotRetained { .. }) => c.reader.resume(n, u64::MAX)?,
                    Err(e) => return Err(e.into()),
                }
                j.reader = None;
                return Ok(Replay::Live);
            }
        }
    }
}

/// The record [`replay`] moved to, decoded.
pub(crate) fn current(c: &mut Consumer) -> Result<Option<Item<'_>>, ConsumerError> {
    c.delivered += 1;
    let rec = c
        .journal
        .as_ref()
        .and_then(|j| j.reader.as_ref())
        .and_then(|r| r.current())
        .expect("replay moved to a record");
    match EventRef::decode(rec.kind, rec.payload) {
        Ok(event) => Ok(Some(Item::Event(Event {
            seq: rec.seq,
            event,
        }))),
        Err(source) => Err(ConsumerError::Decode {
            seq: rec.seq,
            kind: rec.kind,
            source,
        }),
    }
}

/// The ring lapped the consumer: replay what it missed from the journal if
/// the journal holds it. `true`: replaying (read again); `false`: report the lag.
pub(crate) fn on_lag(c: &mut Consumer, lag: Lag) -> Result<bool, ConsumerError> {
    let Some(j) = c.journal.as_mut() else {
        return Ok(false);
    };
    match JournalReader::open(&j.dir, JournalStart::Seq(lag.first_missed)) {
        Ok(r) => {
            j.reader = Some(r);
            Ok(true)
        }
        Err(JournalError::NotRetained { .. } | JournalError::InFuture { .. }) => Ok(false),
        Err(e) if absent(&e) => Ok(false),
        Err(e) => Err(journal_err(e)),
    }
}

/// The consumer's cursor while it replays: (next sequence number, no position).
pub(crate) fn cursor(c: &Consumer) -> Option<(u64, u64)> {
    let j = c.journal.as_ref()?;
    if let Some(lag) = j.pending {
        return Some((lag.first_missed, 0));
    }
    j.reader.as_ref().map(|r| (r.next_seq(), 0))
}

/// Stores the durable cursor of a named consumer with a journal: at once if
/// `now`, else at most every [`DURABLE_CURSOR_INTERVAL`].
pub(crate) fn store(c: &mut Consumer, next_seq: u64, now: bool) {
    let Some(j) = c.journal.as_mut() else { return };
    let Some(name) = &j.name else { return };
    if next_seq == j.stored_seq || (!now && j.stored_at.elapsed() < DURABLE_CURSOR_INTERVAL) {
        return;
    }
    match store_cursor(&j.dir, name, next_seq) {
        Ok(()) => {
            j.stored_seq = next_seq;
            j.stored_at = Instant::now();
        }
        // The ring's slot still has the cursor; a reboot would resume earlier.
        Err(e) => tracing::warn!(error = %e, "could not store the durable cursor"),
    }
}

/// Ends a replay (the consumer was moved with [`Consumer::seek`]).
pub(crate) fn stop(c: &mut Consumer) {
    if let Some(j) = c.journal.as_mut() {
        j.reader = None;
        j.pending = None;
    }
}

/// Whether the consumer is replaying (so it has something to read now).
pub(crate) fn replaying(c: &Consumer) -> bool {
    c.journal
        .as_ref()
        .is_some_and(|j| j.reader.is_some() || j.pending.is_some())
}
