//! # slipstream-consumer
//!
//! What an indexer links to read a Slipstream ring: attach by path with a
//! name, and read the node's finalize events in order, each with its sequence
//! number, at the consumer's own pace.
//!
//! - **Named cursors.** A consumer with a name keeps its cursor in its own
//!   file beside the ring (`RING.readers/NAME`, mode 0600); restarted under
//!   the same name, it resumes where it left off
//!   (at least once: the event being processed when it died comes again).
//! - **Lag is an item, not an error.** A consumer that fell behind gets
//!   [`Item::Lagged`] with the exact sequence numbers and block heights it
//!   missed ([`Missed`]), and reading goes on; nothing ends the stream but
//!   the caller.
//! - **Blocks.** [`Consumer::next_block`] returns all the events of one
//!   committed block, or nothing (and then says so).
//! - **The producer's life** (death, clean close, restart) arrives as
//!   [`Item::Producer`], never as a hang.
//!
//! (Not run as a doctest: it reads the ring `/dev/shm/node-events` for ever, as a consumer does.)
//!
//! ```no_run
//! use slipstream_consumer::{Consumer, Item, Start};
//! use std::time::Duration;
//! let mut consumer = Consumer::builder("node-events")
//!     .name("my-indexer")
//!     .start(Start::Oldest)
//!     .open()?;
//! loop {
//!     match consumer.next(Duration::from_secs(1))? {
//!         Some(Item::Event(ev)) => println!("#{} {:?}", ev.seq, ev.event),
//!         Some(Item::Lagged(lag)) => eprintln!("missed {}..={}", lag.first_missed, lag.last_missed),
//!         Some(Item::Producer(change)) => eprintln!("producer: {change:?}"),
//!         None => {} // idle for a second
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Delivery contract
//!
//! Every event the producer publishes reaches a consumer in exactly one of
//! two ways: **delivered** (at least once, in sequence order, with no gap),
//! or **inside a reported range**. Nothing is passed over silently, whichever
//! way the consumer reads. (Events a [filter](ConsumerBuilder::kinds)
//! excludes, and events before a start position, are neither: they were not
//! asked for.)
//!
//! | reading with | delivered | cursor stored (automatic commits, the default) | a restart resumes at |
//! |---|---|---|---|
//! | [`next`](Consumer::next), [`try_next`](Consumer::try_next), [`iter`](Consumer::iter) | each event, in order | when the next item is asked for: everything handed out before; on drop: the same (never the item in flight); on a panic: nothing | the first item the application had not moved past: the one in flight comes again |
//! | [`next_block`](Consumer::next_block) | each committed block whole | only at block boundaries: after the commit marker of the last block (or report) handed out, when the next is asked for | the begin marker of the first block not moved past; from inside a block (a cursor an event API stored), that block's begin marker if the ring still holds it, else the rest of the block is reported |
//! | `into_stream`, `into_block_stream` (feature `tokio`) | as `next` / `next_block` | only what the application acknowledged: polling for the next item, or `commit()` on the stream; the reading thread's read-ahead never | as above |
//! | any, with [`auto_commit(false)`](ConsumerBuilder::auto_commit) | as above | only on [`commit`](Consumer::commit) (`commit()` on a stream): everything handed out (for `next_block`, a block boundary) | after the last commit |
//! | `remote::RemoteConsumer` (feature `nats`): `next`, `next_block` | as the ring consumer's | acknowledged (durable JetStream consumer) when the next item is asked for, lazily (every 512 items or second), and on drop: only what the application moved past, for `next_block` only block boundaries; `commit()`: everything handed out | after the last acknowledgement: the item in flight comes again (a killed process may see up to ~512 items or a second more again) |
//!
//! With a journal ([`ConsumerBuilder::journal`]) the same holds for events
//! served from it: a start, a saved cursor or a lap older than the ring is
//! read from the journal, then from the ring with no gap and no duplicate;
//! cursors are stored as in the table (the journal's position is a sequence
//! number), and also in the journal directory; only events neither holds are
//! reported, as below.
//!
//! What is not delivered is reported, in order, where it would have been:
//!
//! - [`Item::Lagged`] / [`BlockItem::Lagged`] ([`Missed`]): the exact range
//!   of sequence numbers not delivered, the heights of the blocks they belong
//!   to, and whether the first and last of those blocks are *partial* (part
//!   of the block was delivered by an event API) or were lost whole.
//!   `next_block` widens the range to whole blocks: a block the gap cut into
//!   is reported from its begin marker, never delivered in part.
//! - [`BlockItem::Incomplete`]: a block that began and did not commit whole
//!   (its producer died mid-block, refused one of its events as too large,
//!   or its count does not add up), with its height and exact range.
//!
//! Start positions: [`Start::Seq`] or [`Start::Height`] no longer in the
//! ring is [`ConsumerError::StartUnavailable`], which says what the ring
//! holds ([`Available`]); one not written yet is waited for (both alike);
//! `Start::Height(0)` is the oldest block retained.
//!
//! Proven by `consumer-sdk/tests/model.rs`: a property test that drives a
//! real ring, producer and consumer (and SIGKILLed consumer processes)
//! through random publishes, reads with each API, commits, drops, panics,
//! kills, restarts and laps, against a reference model of every record.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod block;
mod builder;
mod commit;
mod consumer;
mod delivery;
mod error;
mod filter;
mod item;
mod iter;
mod journal;
mod read;
mod read_block;
#[cfg(feature = "nats")]
pub mod remote;
mod seek;
mod source;
mod start;
#[cfg(feature = "tokio")]
mod stream;
mod wait;

pub use block::{Block, BlockItem, OwnedEvent};
pub use builder::ConsumerBuilder;
pub use consumer::Consumer;
pub use delivery::{Available, Missed};
pub use error::ConsumerError;
pub use filter::Filter;
pub use item::{Event, Item, ProducerChange};
pub use iter::{Iter, OwnedItem};
pub use journal::DURABLE_CURSOR_INTERVAL;
pub use slipstream_event::{DecodeError, EventKind, EventRef, KindSet};
pub use slipstream_journal::JournalError;
pub use slipstream_ring::{resolve_ring_path, Lag, LapPolicy, SHM_DIR};
/// The ring's errors, as they appear in [`ConsumerError`]'s sources: match them from here.
pub use slipstream_ring::{
    AttachError, CorruptError, LayoutError, OpenError, ReadError, SeekError, SlotError,
};
pub use start::{ParseStartError, Start};
#[cfg(feature = "tokio")]
pub use stream::{BlockStream, EventStream};
