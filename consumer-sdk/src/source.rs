//! Where the next record comes from: the journal while it replays, else the ring.

use crate::journal::JStep;
use crate::{delivery, Consumer, ConsumerError};
use slipstream_ring::{SeekError, Start as RingStart, Step};

impl Consumer {
    /// The next record (kept by the filter unless `keep_all`) or gap, from the
    /// journal while replaying, else from the ring; tracks where a gap would
    /// begin (`at`) over every record read. A lap of the ring that the journal
    /// can fill is replayed from it; at the journal's end the consumer joins
    /// the ring at the next sequence number (no gap, no duplicate), and if the
    /// ring no longer holds that either, the ring reports the exact lag.
    pub(crate) fn advance_any(&mut self, keep_all: bool) -> Result<Option<Step>, ConsumerError> {
        let mut polled_again = false;
        loop {
            if let Some(j) = self.journal.as_mut().filter(|j| j.replaying()) {
                match j.step()? {
                    JStep::Record => {
                        let rec = j.current().expect("the journal moved to a record");
                        if let Some(here) = delivery::after(rec.kind, rec.payload) {
                            self.at = Some(here);
                        }
                        if keep_all || self.filter.keep(rec.kind, rec.payload) {
                            self.from_journal = true;
                            return Ok(Some(Step::Record));
                        }
                        continue;
                    }
                    JStep::Lagged(lag) => {
                        self.from_journal = true;
                        return Ok(Some(Step::Lagged(lag)));
                    }
                    JStep::End(n) => match self.reader.seek(RingStart::Seq(n)) {
                        Ok(()) => j.stop(),
                        // The recorder may have just appended it: look once more.
                        Err(SeekError::NotRetained { .. }) if !polled_again => {
                            polled_again = true;
                            continue;
                        }
                        // In neither: the ring's resume reports the exact lag
                        // (and the journal is asked once more, in the lap below).
                        Err(SeekError::NotRetained { .. }) => {
                            j.stop();
                            self.reader.resume(n, u64::MAX)?;
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            }
            self.from_journal = false;
            let step = {
                let at = &mut self.at;
                let filter = &self.filter;
                self.reader.advance(|kind, payload| {
                    if let Some(here) = delivery::after(kind, payload) {
                        *at = Some(here);
                    }
                    keep_all || filter.keep(kind, payload)
                })?
            };
            if let (Some(Step::Lagged(lag)), Some(j)) = (&step, self.journal.as_mut()) {
                if j.serve(lag.first_missed, lag.last_missed)? {
                    continue;
                }
            }
            return Ok(step);
        }
    }

    /// Moves to the cursor `(seq, pos)`: in the ring if it holds it, else
    /// in the journal (if one is configured and holds it), else the ring's
    /// resume, which reports the exact lag.
    pub(crate) fn reposition(&mut self, seq: u64, pos: u64) -> Result<(), ConsumerError> {
        self.from_journal = false;
        let Some(j) = self.journal.as_mut() else {
            self.reader.resume(seq, pos)?;
            return Ok(());
        };
        j.stop();
        match self.reader.seek(RingStart::Seq(seq)) {
            Ok(()) => {}
            Err(SeekError::NotRetained { .. }) => {
                if !j.serve(seq, u64::MAX)? {
                    self.reader.resume(seq, pos)?;
                }
            }
            Err(_) => self.reader.resume(seq, pos)?,
        }
        Ok(())
    }
}
