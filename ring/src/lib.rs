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
//! This crate holds no policy: where rings live, who may open them, and how
//! consumers are named belong to `slipstream-producer` and `slipstream-consumer`.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(target_endian = "big")]
compile_error!(
    "slipstream-ring maps little-endian counters as native atomics: little-endian targets only"
);

pub mod error;
pub mod event;
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
pub use file::{producer_alive, Access, AttachError, IfExists, ProducerInfo, ProducerState};
pub use layout::{Geometry, Layout};
pub use naming::{resolve_ring_path, SHM_DIR};
pub use reader::{Item, Lag, LapPolicy, Reader, Record, Start, Step};
#[cfg(not(loom))]
pub use slots::{read_slots, remove_slot, SavedCursor, Slot, SlotError, SlotInfo};
pub use writer::{Reservation, Wake, Waker, Writer};
