//! # slipstream-ring
//!
//! The on-disk format and lock-free single-producer/multi-consumer algorithm
//! of Slipstream: one producer (a blockchain node's finalize hook) appends
//! length-prefixed, sequence-numbered records to a power-of-two ring in a
//! memory-mapped file; any number of consumer processes read it, each with its
//! own cursor. The producer never waits for a consumer: a consumer that falls
//! behind is lapped, and told exactly which sequence numbers it missed.
//!
//! The algorithm is Agrona's broadcast buffer (Martin Thompson et al.:
//! `tail_intent`, `tail`, copy-then-validate readers, padding records), with
//! readers that wait on the next record's own sequence word instead of on
//! the commit line (Aeron's discovery; `tail` still confirms what is
//! committed), `tail_intent` announced a chunk ahead,
//! Aeron-style crash handling, a 64-bit sequence number in every record, a
//! segment table that lets a lapped or resuming reader find exact record
//! boundaries, and a futex that sleeping readers wait on. The bytes are
//! specified in `FORMAT.md`, and defined once in [`layout`].
//!
//! ```
//! use slipstream_ring::{Item, Layout, Start, Writer};
//! let mut writer = Writer::anonymous(Layout::new(1 << 16))?;
//! let mut reader = writer.reader(Start::Oldest)?;
//! let mut r = writer.reserve(1, 5)?;
//! r.payload_mut().copy_from_slice(b"hello"); // encode in place
//! r.commit();
//! while let Some(item) = reader.try_next()? {
//!     match item {
//!         Item::Record(rec) => println!("#{} kind {}: {:?}", rec.seq, rec.kind, rec.payload),
//!         Item::Lagged(lag) => println!("missed {}..={}", lag.first_missed, lag.last_missed),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate holds, and why
//!
//! The algorithm, and everything `FORMAT.md` specifies, because a producer
//! and its readers (in any language) must agree on all of it to find each
//! other and to trust what they read:
//!
//! - the bytes: the ring file ([`layout`]) and the cursor files ([`slots`]);
//!   the event payloads are `FORMAT.md` section 10 too, but they are the
//!   application's schema, not the ring's, and live in `slipstream-event`;
//! - the naming rule (section 1, [`resolve_ring_path`]): a bare name is a file
//!   under [`SHM_DIR`]. It is part of the format rather than a program's
//!   choice because it decides which file a name means: a producer and a
//!   reader (or a Python or C binding) that resolved `node-events`
//!   differently would not meet. Producer and consumer crates both need it,
//!   and neither may depend on the other;
//! - the files beside the ring and their modes relative to the ring's
//!   (section 7, [`sidecar`], [`FileMode`]), the single-producer lock and the
//!   liveness rule (section 7, `file.rs`): the isolation of format version 2
//!   rests on them, so every implementation must apply them the same way.
//!
//! What it does not hold is policy: which ring a program uses, the mode and
//! group it creates it with, when the producer wakes readers
//! (`slipstream_producer::Wake`), how consumers choose their names, and what
//! they do when lapped belong to `slipstream-producer` and
//! `slipstream-consumer`. Functions here take open files, paths and modes
//! from their caller.

#[cfg(target_endian = "big")]
compile_error!(
    "slipstream-ring maps little-endian counters as native atomics: little-endian targets only"
);

pub mod error;
#[cfg(not(loom))]
mod file;
pub mod layout;
mod naming;
mod reader;
mod shared;
#[cfg(not(loom))]
pub mod sidecar;
#[cfg(not(loom))]
pub mod slots;
#[cfg(not(loom))]
pub mod stats;
mod sync;
mod writer;

pub use error::{CorruptError, LayoutError, OpenError, PublishError, ReadError, SeekError};
#[cfg(not(loom))]
pub use file::{producer_alive, read_header};
pub use layout::{Geometry, Layout};
pub use naming::{resolve_ring_path, SHM_DIR};
#[cfg(not(loom))]
pub use reader::{Access, AttachError, ProducerInfo, ProducerState};
pub use reader::{Item, Lag, LapPolicy, Reader, Record, Start, Step};
#[cfg(not(loom))]
pub use sidecar::{FileMode, ParseModeError};
#[cfg(not(loom))]
pub use slots::{read_slots, remove_slot, SavedCursor, Slot, SlotError, SlotInfo};
#[cfg(not(loom))]
pub use writer::IfExists;
pub use writer::{Reservation, Wake, Waker, Writer};
