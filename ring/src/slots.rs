//! Reader slots: named cursors kept in the ring file.
//!
//! Each slot is its own page, so a consumer maps exactly one page of the file
//! writable: its own slot. Ownership is an OFD write lock on the slot's first
//! byte, which the kernel drops when the consumer dies; a slot whose lock is
//! free is dead and may be reclaimed. A consumer that restarts under the same
//! name takes its slot back and resumes from the cursor stored there.

use crate::error::{io, OpenError};
use crate::file::{is_locked, read_header, try_lock, unlock};
use crate::layout::*;
use crate::sync::{Ordering, Region};
use std::fs::File;
use std::os::unix::fs::FileExt;
use zerocopy::{FromBytes, FromZeros};

/// A slot as read from the file (a copy, taken with `pread`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// Index of the slot in the table.
    pub index: u32,
    /// Whether a consumer ever claimed it (and did not release it).
    pub claimed: bool,
    /// Whether a live process holds it now (its lock is held).
    pub live: bool,
    /// The consumer's name (lossy UTF-8).
    pub name: String,
    /// The consumer's process id.
    pub pid: u32,
    /// `ring_id` of the ring its cursor belongs to.
    pub ring_id: u64,
    /// Sequence number of the next record it will read (0: none yet).
    pub next_seq: u64,
    /// Position of that record (a hint).
    pub position: u64,
    /// When it was claimed, nanoseconds since the Unix epoch.
    pub attached_unix_ns: u64,
    /// Records delivered since it was claimed.
    pub delivered: u64,
    /// Records missed (lapped) since it was claimed.
    pub missed: u64,
}

/// Errors claiming a slot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    /// The file is not a usable ring.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The name is empty or longer than 64 bytes.
    #[error("consumer name {0:?} must be 1 to 64 bytes of UTF-8")]
    InvalidName(String),
    /// A live consumer already holds a slot under this name.
    #[error("consumer name {name:?} is in use by live process {pid}")]
    NameInUse {
        /// The name.
        name: String,
        /// Process id recorded in the slot.
        pid: u32,
    },
    /// Every slot is held by a live consumer.
    #[error("all {0} reader slots are held by live consumers")]
    Full(u32),
}

/// Reads every slot of the ring in `file`, with its liveness.
///
/// ```no_run
/// let file = std::fs::File::open("/dev/shm/ring").unwrap();
/// for s in slipstream_ring::read_slots(&file).unwrap() {
///     println!("{} {} live={} next_seq={}", s.index, s.name, s.live, s.next_seq);
/// }
/// ```
pub fn read_slots(file: &File) -> Result<Vec<SlotInfo>, OpenError> {
    let (_, geo) = read_header(file)?;
    (0..geo.layout.reader_slots)
        .map(|i| read_slot(file, &geo, i))
        .collect()
}

fn read_slot(file: &File, geo: &Geometry, index: u32) -> Result<SlotInfo, OpenError> {
    let mut bytes = [0u8; core::mem::size_of::<RawSlot>()];
    let off = geo.slot_offset(index);
    file.read_exact_at(&mut bytes, off)
        .map_err(io("read reader slot"))?;
    let raw = RawSlot::read_from_bytes(&bytes).expect("buffer has the slot's size");
    let name_len = (raw.name_len.get() as usize).min(SLOT_NAME_LEN);
    Ok(SlotInfo {
        index,
        claimed: raw.state.get() == SLOT_CLAIMED,
        live: is_locked(file, off).map_err(io("fcntl(F_OFD_GETLK)"))?,
        name: String::from_utf8_lossy(&raw.name[..name_len]).into_owned(),
        pid: raw.pid.get(),
        ring_id: raw.ring_id.get(),
        next_seq: raw.next_seq.get(),
        position: raw.position.get(),
        attached_unix_ns: raw.attached_unix_ns.get(),
        delivered: raw.delivered.get(),
        missed: raw.missed.get(),
    })
}

/// A claimed reader slot: this consumer's named cursor.
///
/// Holds the slot's lock for as long as it lives (or the process does).
pub struct Slot {
    index: u32,
    name: String,
    /// `ring_id` of the ring, stored again with every cursor.
    ring_id: u64,
    /// Offset of the slot in the file: the byte its lock is on.
    offset: u64,
    region: Region,
    _map: memmap2::MmapMut,
    _file: File,
}

/// A cursor found in a slot, to resume from with [`Reader::resume`](crate::Reader::resume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedCursor {
    /// Sequence number of the next record to read.
    pub next_seq: u64,
    /// Position of that record (a hint).
    pub position: u64,
}

impl Slot {
    /// Claims the slot named `name` in the ring in `file`, or a free one.
    ///
    /// `file` must be a descriptor opened for this claim alone (locks belong to
    /// the open file description: two claims through one description would not
    /// exclude each other). The slot stays claimed until the returned `Slot` is
    /// dropped or the process dies.
    ///
    /// Returns the cursor stored under that name, if this ring has one.
    ///
    /// ```
    /// # use slipstream_ring::{IfExists, Layout, Slot, Writer};
    /// let path = std::env::temp_dir().join(format!("doc-slot-{}", std::process::id()));
    /// let open = || std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path).unwrap();
    /// let w = Writer::open(open(), Layout::new(1 << 16).reader_slots(2), IfExists::Resume).unwrap();
    /// let (slot, saved) = Slot::claim(open(), "indexer").unwrap();
    /// assert!(saved.is_none());
    /// slot.store_cursor(42, 4096);
    /// assert!(Slot::claim(open(), "indexer").is_err()); // live, in use
    /// drop(slot);
    /// let (_slot, saved) = Slot::claim(open(), "indexer").unwrap();
    /// assert_eq!(saved.unwrap().next_seq, 42);
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    pub fn claim(file: File, name: &str) -> Result<(Slot, Option<SavedCursor>), SlotError> {
        if name.is_empty() || name.len() > SLOT_NAME_LEN {
            return Err(SlotError::InvalidName(name.to_owned()));
        }
        let (header, geo) = read_header(&file)?;
        let ring_id = header.ring_id.get();
        let slots: Vec<SlotInfo> = (0..geo.layout.reader_slots)
            .map(|i| read_slot(&file, &geo, i))
            .collect::<Result<_, _>>()?;
        // 1. Our own slot, left by an earlier run under this name.
        if let Some(s) = slots.iter().find(|s| s.claimed && s.name == name) {
            if !try_lock(&file, geo.slot_offset(s.index))? {
                return Err(SlotError::NameInUse {
                    name: name.to_owned(),
                    pid: s.pid,
                });
            }
            let saved = (s.ring_id == ring_id && s.next_seq != 0).then_some(SavedCursor {
                next_seq: s.next_seq,
                position: s.position,
            });
            let slot = Slot::take(file, &geo, s.index, name, ring_id, saved)?;
            return Ok((slot, saved));
        }
        // 2. A free slot; 3. a dead consumer's, oldest first.
        let mut order: Vec<&SlotInfo> = slots.iter().filter(|s| !s.live).collect();
        order.sort_by_key(|s| (s.claimed, s.attached_unix_ns));
        for s in order {
            if try_lock(&file, geo.slot_offset(s.index))? {
                let slot = Slot::take(file, &geo, s.index, name, ring_id, None)?;
                return Ok((slot, None));
            }
        }
        Err(SlotError::Full(geo.layout.reader_slots))
    }

    fn take(
        file: File,
        geo: &Geometry,
        index: u32,
        name: &str,
        ring_id: u64,
        saved: Option<SavedCursor>,
    ) -> Result<Slot, OpenError> {
        // SAFETY: a shared mapping of our own slot's page, which we hold the
        // lock for; other processes only read it (with pread).
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .offset(geo.slot_offset(index))
                .len(geo.slot_len as usize)
                .map_mut(&file)
        }
        .map_err(io("mmap reader slot"))?;
        let mut raw = RawSlot::new_zeroed();
        raw.state = SLOT_CLAIMED.into();
        raw.name_len = (name.len() as u32).into();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.pid = std::process::id().into();
        raw.ring_id = ring_id.into();
        if let Some(c) = saved {
            raw.next_seq = c.next_seq.into();
            raw.position = c.position.into();
        }
        raw.attached_unix_ns = crate::sync::unix_ns().into();
        map[..core::mem::size_of::<RawSlot>()].copy_from_slice(zerocopy::IntoBytes::as_bytes(&raw));
        // SAFETY: the mapping is page-aligned, `slot_len` long, and lives in
        // `_map` next to the region.
        let region = unsafe { Region::new(map.as_mut_ptr(), geo.slot_len as usize) };
        Ok(Slot {
            index,
            name: name.to_owned(),
            ring_id,
            offset: geo.slot_offset(index),
            region,
            _map: map,
            _file: file,
        })
    }

    /// Index of the slot in the table.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The name it was claimed under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores the cursor: the next record to read and its position. Two
    /// stores; a reader of the slot checks the pair against the ring.
    ///
    /// The ring's id is stored again too, in the same line: a slot whose id
    /// was overwritten (a stray write through this process's mapping) would
    /// otherwise look like another ring's on the next attach, and its cursor
    /// would be dropped without a word.
    #[inline]
    pub fn store_cursor(&self, next_seq: u64, position: u64) {
        self.region
            .u64(OFF_SLOT_RING_ID)
            .store(self.ring_id, Ordering::Relaxed);
        self.region
            .u64(OFF_SLOT_POSITION)
            .store(position, Ordering::Relaxed);
        self.region
            .u64(OFF_SLOT_NEXT_SEQ)
            .store(next_seq, Ordering::Relaxed);
    }

    /// Adds to the delivered and missed counters (saturating: they are
    /// statistics in shared memory, and whatever they hold must not make the
    /// consumer panic on overflow).
    #[inline]
    pub fn count(&self, delivered: u64, missed: u64) {
        if delivered != 0 {
            let c = self.region.u64(OFF_SLOT_DELIVERED);
            c.store(
                c.load(Ordering::Relaxed).saturating_add(delivered),
                Ordering::Relaxed,
            );
        }
        if missed != 0 {
            let c = self.region.u64(OFF_SLOT_MISSED);
            c.store(
                c.load(Ordering::Relaxed).saturating_add(missed),
                Ordering::Relaxed,
            );
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The name and cursor stay, so that the consumer can come back to them.
        // The lock is released explicitly: it would go with the file
        // descriptor, but only once no forked child still holds a copy of it.
        let _ = unlock(&self._file, self.offset);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("index", &self.index)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
