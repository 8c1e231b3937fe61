//! A reader on a ring in a file: attaching read-only, and what the header
//! says of the ring and its producer.

use crate::error::{io, OpenError};
use crate::file::read_header;
use crate::layout::*;
use crate::shared::{Keep, Shared};
use crate::sync::{Arc, Ordering, Region};
use crate::{Reader, SeekError, Start};
use std::fs::File;

/// How a reader attached to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The reader can announce that it sleeps (an in-process ring, or one
    /// given a wake file): the producer wakes it.
    ReadWrite,
    /// The reader cannot announce itself: it polls instead of being woken.
    ReadOnly,
}

impl Reader {
    /// Attaches a reader to the ring in `file`, starting at `start`.
    ///
    /// `file` may (and should) be opened read-only: the header is copied out
    /// with `pread` and validated before anything is mapped, and the ring is
    /// mapped `PROT_READ` only. To be woken rather than poll when idle, give
    /// the reader the ring's wake file with [`Reader::set_wake_file`].
    ///
    /// # Errors
    /// [`AttachError::Open`] if the file is not a usable ring (not one,
    /// another version, not initialised, truncated); [`AttachError::Seek`] if
    /// `start` is not in the ring.
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Item, Layout, Reader, Start, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-attach-{}", std::process::id()));
    /// let lock = slipstream_ring::sidecar::lock_path(&path);
    /// let rw = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).create(true).open(p).unwrap();
    /// let mut w = Writer::open(rw(&path), rw(&lock), Layout::new(1 << 16), IfExists::Resume).unwrap();
    /// w.publish(9, b"event").unwrap();
    /// let mut r = Reader::attach(&std::fs::File::open(&path).unwrap(), Start::Oldest).unwrap();
    /// assert!(matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.kind == 9));
    /// # drop(w); std::fs::remove_file(path).unwrap(); std::fs::remove_file(lock).unwrap();
    /// ```
    pub fn attach(file: &File, start: Start) -> Result<Reader, AttachError> {
        let (_, geo) = read_header(file)?;
        // SAFETY: a read-only shared mapping; the producer modifies it
        // concurrently, which is why every access goes through atomics and
        // validation. The length was checked against the file's size, and
        // only the producer (never a consumer) can truncate the file.
        let ro = unsafe {
            memmap2::MmapOptions::new()
                .len(geo.file_len as usize)
                .map(file)
        }
        .map_err(io("mmap ring file (read-only)"))?;
        let base = ro.as_ptr() as *mut u8;
        // SAFETY: inside the mapping kept alive in `keep`; page-aligned. The
        // read-only regions are never written through (only loads are issued on
        // header and data by a reader; a store would fault, not corrupt).
        let (header, data) = unsafe {
            (
                Region::new(base, geo.header_len as usize),
                Region::new(base.add(geo.data_offset as usize), geo.capacity as usize),
            )
        };
        let shared = Shared::new(geo, header, data, None, Keep::Ro(ro));
        Ok(Reader::new(Arc::new(shared), start)?)
    }

    /// Whether this reader can be woken by the producer ([`Access::ReadWrite`])
    /// or polls ([`Access::ReadOnly`]).
    pub fn access(&self) -> Access {
        if self.shared.wake.is_some() || self.wake_file.is_some() {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        }
    }

    /// Gives the reader the ring's wake file (`RING.wake`, opened for
    /// writing), in which it announces that it sleeps (`pwrite`, never a
    /// mapping: a truncation by someone else cannot hurt it). Without one, an
    /// idle reader polls.
    pub fn set_wake_file(&mut self, wake: File) {
        self.wake_file = Some(crate::shared::WakeFile::new(wake));
    }

    /// The producer as the header describes it.
    pub fn producer(&self) -> ProducerInfo {
        let h = &self.shared.header;
        ProducerInfo {
            epoch: h.u64(OFF_EPOCH).load(Ordering::Relaxed),
            pid: h.u32(OFF_PRODUCER_PID).load(Ordering::Relaxed),
            state: match h.u32(OFF_PRODUCER_STATE).load(Ordering::Acquire) {
                PRODUCER_NONE => ProducerState::Never,
                PRODUCER_LIVE => ProducerState::Open,
                PRODUCER_CLOSED => ProducerState::Closed,
                other => ProducerState::Unknown(other),
            },
            start_unix_ns: h.u64(OFF_PRODUCER_START).load(Ordering::Relaxed),
        }
    }

    /// The ring's random identity (`ring_id`), which tells it from a
    /// replacement at the same path.
    pub fn ring_id(&self) -> u64 {
        self.shared
            .header
            .u64(core::mem::offset_of!(RawHeader, ring_id))
            .load(Ordering::Relaxed)
    }

    /// The ring's first sequence number (`first_seq`).
    pub fn first_seq(&self) -> u64 {
        self.shared.first_seq
    }
}

/// The producer of a ring, as its header describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerInfo {
    /// How many producers have opened the ring (this one included).
    pub epoch: u64,
    /// Process id of the producer that opened it last.
    pub pid: u32,
    /// What the header says. Whether the producer is alive is only known from
    /// its lock: see [`producer_alive`](crate::producer_alive).
    pub state: ProducerState,
    /// When that producer opened the ring, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
}

/// What the header says of the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerState {
    /// No producer has opened the ring.
    Never,
    /// A producer opened it and did not close it: alive, or died.
    Open,
    /// The last producer closed it cleanly.
    Closed,
    /// A value this build does not know.
    Unknown(u32),
}

/// An error attaching a reader.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The file is not a usable ring.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The start position is not available.
    #[error(transparent)]
    Seek(#[from] SeekError),
}

impl From<crate::LayoutError> for AttachError {
    fn from(e: crate::LayoutError) -> Self {
        AttachError::Open(e.into())
    }
}
