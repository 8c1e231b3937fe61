//! The C types of `slipstream.h`: status codes, constants, and the structs the
//! caller fills or reads. Every enumeration is a plain integer type with named
//! constants, so that no value a C caller passes can be an invalid Rust enum.

#![allow(non_camel_case_types)]

use std::ffi::c_char;

/// The result of every function: `SLIPSTREAM_OK` (0) or an error code.
/// `slipstream_status_name` names it; the handle's message says more.
pub type slipstream_status_t = i32;

/// Success.
pub const SLIPSTREAM_OK: slipstream_status_t = 0;
/// A pointer that must not be NULL was NULL.
pub const SLIPSTREAM_ERR_NULL: slipstream_status_t = 1;
/// The handle is not one returned by `slipstream_consumer_open` (or it was
/// closed so long ago that it can no longer be recognised).
pub const SLIPSTREAM_ERR_INVALID_HANDLE: slipstream_status_t = 2;
/// The handle was closed.
pub const SLIPSTREAM_ERR_CLOSED: slipstream_status_t = 3;
/// An argument is out of range or not valid UTF-8 (the message says which).
pub const SLIPSTREAM_ERR_INVALID_ARGUMENT: slipstream_status_t = 4;
/// The ring file does not exist.
pub const SLIPSTREAM_ERR_NOT_FOUND: slipstream_status_t = 5;
/// The ring file could not be opened (permissions, I/O).
pub const SLIPSTREAM_ERR_OPEN: slipstream_status_t = 6;
/// The file is not a usable ring (not a ring, another version, corrupt header).
pub const SLIPSTREAM_ERR_NOT_A_RING: slipstream_status_t = 7;
/// The named cursor could not be claimed (in use by a live consumer, the
/// table is full, the name is too long) or needs write access.
pub const SLIPSTREAM_ERR_CURSOR: slipstream_status_t = 8;
/// The start position is not in the ring (a sequence number or height no
/// longer retained, or not yet written).
pub const SLIPSTREAM_ERR_NOT_RETAINED: slipstream_status_t = 9;
/// The ring holds data that cannot be valid; reading again reports it again.
pub const SLIPSTREAM_ERR_CORRUPT: slipstream_status_t = 10;
/// An event's payload does not decode. The item is
/// `SLIPSTREAM_ITEM_UNDECODABLE` (its `seq`, `event_kind` and `error` are
/// set); the consumer has moved past it, and the next call goes on.
pub const SLIPSTREAM_ERR_DECODE: slipstream_status_t = 11;
/// The caller's buffer is too small; what fits was written, NUL-terminated.
pub const SLIPSTREAM_ERR_BUFFER_TOO_SMALL: slipstream_status_t = 12;
/// An index is out of range (no such event in the current block).
pub const SLIPSTREAM_ERR_OUT_OF_RANGE: slipstream_status_t = 13;
/// A system call failed (creating the readiness fd or its thread).
pub const SLIPSTREAM_ERR_IO: slipstream_status_t = 14;
/// A bug inside the library (a Rust panic, caught). The handle is poisoned:
/// every later call on it returns this code; close it.
pub const SLIPSTREAM_ERR_PANIC: slipstream_status_t = 15;
/// Any other error of the SDK (the message says what).
pub const SLIPSTREAM_ERR_OTHER: slipstream_status_t = 16;
/// The journal (`options.journal_dir`) could not serve the start position
/// (the message names the oldest sequence number and block height it
/// holds), could not be read, or holds bytes that are not valid (the
/// message names the file and offset).
pub const SLIPSTREAM_ERR_JOURNAL: slipstream_status_t = 17;

/// Where a consumer starts: one of the `SLIPSTREAM_START_*` constants.
pub type slipstream_start_t = u32;
/// The newest event already in the ring, then what follows (the default).
pub const SLIPSTREAM_START_NEWEST: slipstream_start_t = 0;
/// The oldest event the ring still holds.
pub const SLIPSTREAM_START_OLDEST: slipstream_start_t = 1;
/// Only events published from now on.
pub const SLIPSTREAM_START_END: slipstream_start_t = 2;
/// The event whose sequence number is `start_at`.
pub const SLIPSTREAM_START_SEQ: slipstream_start_t = 3;
/// The begin marker of the first block at or after height `start_at`.
pub const SLIPSTREAM_START_HEIGHT: slipstream_start_t = 4;

/// An event kind, as numbered in the ring (FORMAT.md).
pub type slipstream_event_kind_t = u16;
/// A mapping entry was inserted or updated.
pub const SLIPSTREAM_KIND_MAPPING_UPDATE: slipstream_event_kind_t = 1;
/// A mapping entry, or a whole mapping, was removed.
pub const SLIPSTREAM_KIND_MAPPING_REMOVAL: slipstream_event_kind_t = 2;
/// A staker was rewarded.
pub const SLIPSTREAM_KIND_STAKING_REWARD: slipstream_event_kind_t = 3;
/// A block was finalized (its bytes).
pub const SLIPSTREAM_KIND_BLOCK: slipstream_event_kind_t = 4;
/// The events of a block begin.
pub const SLIPSTREAM_KIND_BLOCK_BEGIN: slipstream_event_kind_t = 5;
/// The events of a block are complete.
pub const SLIPSTREAM_KIND_BLOCK_COMMIT: slipstream_event_kind_t = 6;
/// `event_count` of a begin marker whose producer did not know the count.
pub const SLIPSTREAM_UNKNOWN_COUNT: u32 = u32::MAX;

/// What `slipstream_consumer_next` returned: one of the `SLIPSTREAM_ITEM_*` constants.
pub type slipstream_item_kind_t = u32;
/// Nothing came within the timeout.
pub const SLIPSTREAM_ITEM_IDLE: slipstream_item_kind_t = 0;
/// An event (`seq`, `event_kind`, `block_height`, `ordinal` and its kind's fields).
pub const SLIPSTREAM_ITEM_EVENT: slipstream_item_kind_t = 1;
/// Events were overwritten before this consumer read them
/// (`first_missed..=last_missed`, and the heights of their blocks:
/// `first_missed_height`, `last_missed_height`, `first_partial`,
/// `last_partial`); reading goes on after them.
pub const SLIPSTREAM_ITEM_LAGGED: slipstream_item_kind_t = 2;
/// The producer died, closed the ring, or was restarted (`producer_change`,
/// `pid`, `epoch`).
pub const SLIPSTREAM_ITEM_PRODUCER: slipstream_item_kind_t = 3;
/// An event that does not decode (`seq`, `event_kind`, `error`); returned
/// with `SLIPSTREAM_ERR_DECODE`.
pub const SLIPSTREAM_ITEM_UNDECODABLE: slipstream_item_kind_t = 4;

/// A change in the producer's life: one of the `SLIPSTREAM_PRODUCER_*` constants.
pub type slipstream_producer_change_t = u32;
/// The producer died (its lock is gone) without closing the ring.
pub const SLIPSTREAM_PRODUCER_DIED: slipstream_producer_change_t = 1;
/// The producer closed the ring cleanly (`pid` is 0).
pub const SLIPSTREAM_PRODUCER_CLOSED: slipstream_producer_change_t = 2;
/// A new producer opened the ring; events go on with the next sequence number.
pub const SLIPSTREAM_PRODUCER_RESTARTED: slipstream_producer_change_t = 3;

/// What `slipstream_consumer_next_block` returned: one of the `SLIPSTREAM_BLOCK_*` constants.
pub type slipstream_block_kind_t = u32;
/// No block completed within the timeout.
pub const SLIPSTREAM_BLOCK_IDLE: slipstream_block_kind_t = 0;
/// A complete, committed block: `height`, `begin_seq`, `commit_seq`,
/// `event_count` events read with `slipstream_consumer_block_event`.
pub const SLIPSTREAM_BLOCK_COMPLETE: slipstream_block_kind_t = 1;
/// Events were missed (`first_missed..=last_missed`, and the heights of
/// their blocks as for `SLIPSTREAM_ITEM_LAGGED`); a block they interrupted
/// was dropped.
pub const SLIPSTREAM_BLOCK_LAGGED: slipstream_block_kind_t = 2;
/// A block began and did not commit (`height`, `first_seq`, `last_seq`,
/// `reason`); its events were dropped.
pub const SLIPSTREAM_BLOCK_INCOMPLETE: slipstream_block_kind_t = 3;
/// The producer died, closed the ring, or was restarted.
pub const SLIPSTREAM_BLOCK_PRODUCER: slipstream_block_kind_t = 4;

/// A byte string owned by the library; never NUL-terminated. A field that
/// does not apply is `{NULL, 0}`; an empty one that does may have any `ptr`
/// (read `len` bytes, that is none).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct slipstream_bytes_t {
    /// The first byte.
    pub ptr: *const u8,
    /// How many bytes.
    pub len: usize,
}

impl slipstream_bytes_t {
    /// No bytes.
    pub(crate) const EMPTY: slipstream_bytes_t = slipstream_bytes_t {
        ptr: std::ptr::null(),
        len: 0,
    };
}

/// Options of `slipstream_consumer_open`. Initialise with
/// `slipstream_options_init`, then set what you need. Every pointer in it is
/// borrowed for the duration of the open call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct slipstream_options_t {
    /// A cursor name (NUL-terminated UTF-8, at most 64 bytes), or NULL for an
    /// unnamed consumer. A named consumer resumes from its saved cursor.
    pub name: *const c_char,
    /// Where to start (`SLIPSTREAM_START_*`; default NEWEST).
    pub start: slipstream_start_t,
    /// The sequence number (`SLIPSTREAM_START_SEQ`) or height (`SLIPSTREAM_START_HEIGHT`).
    pub start_at: u64,
    /// Non-zero: ignore a saved cursor and start at `start`.
    pub reset: u8,
    /// Non-zero: a named cursor is stored only by `slipstream_consumer_commit`
    /// (default: automatically, before each read: at least once).
    pub manual_commit: u8,
    /// Non-zero: after being lapped, skip to the newest event (default: go on
    /// from the oldest retained one, missing the least).
    pub lap_to_newest: u8,
    /// Kinds to receive, a bit mask of `1u << SLIPSTREAM_KIND_*`; 0: all.
    pub kinds: u32,
    /// Programs whose mapping events to receive (`n_programs` NUL-terminated
    /// strings); none: all.
    pub programs: *const *const c_char,
    /// How many `programs`.
    pub n_programs: usize,
    /// Mappings whose events to receive (`n_mappings` NUL-terminated
    /// strings); none: all.
    pub mappings: *const *const c_char,
    /// How many `mappings`.
    pub n_mappings: usize,
    /// Wait up to this many milliseconds for the ring to exist (default 0: fail at once).
    pub wait_for_ring_ms: u32,
    /// The directory of a journal that `slipstream-journal record` keeps
    /// (NUL-terminated UTF-8), or NULL (the default) for none. With one, a
    /// start older than the ring is served from the journal, then the
    /// consumer joins the ring with no gap and no duplicate; a lap the
    /// journal can fill is replayed from it. A start older than the journal
    /// fails with `SLIPSTREAM_ERR_JOURNAL`.
    pub journal_dir: *const c_char,
}

/// An item of `slipstream_consumer_next` (or an event of a block). Which
/// fields are set depends on `kind` and, for events, `event_kind`; the others
/// are zero. Byte strings point into the consumer's own copy (never into the
/// shared ring) and stay valid until the next call on the same handle.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct slipstream_item_t {
    /// `SLIPSTREAM_ITEM_*`.
    pub kind: slipstream_item_kind_t,
    /// The event's kind (`SLIPSTREAM_KIND_*`); EVENT and UNDECODABLE.
    pub event_kind: slipstream_event_kind_t,
    /// The event's sequence number; EVENT and UNDECODABLE.
    pub seq: u64,
    /// The block's height; EVENT.
    pub block_height: u64,
    /// The event's position in its block, from 1 (0 for a begin marker); EVENT.
    pub ordinal: u32,
    /// MAPPING_UPDATE and MAPPING_REMOVAL: the program, as the node encodes it.
    pub program_id: slipstream_bytes_t,
    /// MAPPING_UPDATE and MAPPING_REMOVAL: the mapping, as the node encodes it.
    pub mapping_name: slipstream_bytes_t,
    /// MAPPING_UPDATE and MAPPING_REMOVAL (when `has_key`): the entry's key.
    pub key: slipstream_bytes_t,
    /// MAPPING_REMOVAL: false when the whole mapping was removed. True for MAPPING_UPDATE.
    pub has_key: bool,
    /// MAPPING_UPDATE: the entry's new value.
    pub value: slipstream_bytes_t,
    /// STAKING_REWARD: the staker's address.
    pub staker: slipstream_bytes_t,
    /// STAKING_REWARD: the validator's address.
    pub validator: slipstream_bytes_t,
    /// STAKING_REWARD: the reward (microcredits).
    pub reward: u64,
    /// STAKING_REWARD: the stake after the reward.
    pub new_stake: u64,
    /// BLOCK: the block's bytes.
    pub block: slipstream_bytes_t,
    /// BLOCK_BEGIN (may be `SLIPSTREAM_UNKNOWN_COUNT`) and BLOCK_COMMIT: events in the block.
    pub event_count: u32,
    /// LAGGED: the first sequence number missed.
    pub first_missed: u64,
    /// LAGGED: the last sequence number missed (inclusive).
    pub last_missed: u64,
    /// LAGGED: the height of the block of `first_missed`, when
    /// `has_first_missed_height` (not known when the consumer resumed a
    /// stored cursor whose event was already overwritten and read nothing
    /// before the gap); else 0.
    pub first_missed_height: u64,
    /// LAGGED: the height of the block of `last_missed`, when
    /// `has_last_missed_height` (false only if no event could be read after
    /// the gap); else 0.
    pub last_missed_height: u64,
    /// LAGGED: `first_missed_height` is set.
    pub has_first_missed_height: bool,
    /// LAGGED: `last_missed_height` is set.
    pub has_last_missed_height: bool,
    /// LAGGED: the first block's events before `first_missed` were delivered
    /// (or precede this consumer's start): only part of it is missing. False
    /// when its height is not known. Every block between the first and the
    /// last that is not marked partial was lost whole.
    pub first_partial: bool,
    /// LAGGED: the last block's events after `last_missed` are delivered
    /// next: only part of it is missing.
    pub last_partial: bool,
    /// PRODUCER: what happened (`SLIPSTREAM_PRODUCER_*`).
    pub producer_change: slipstream_producer_change_t,
    /// PRODUCER: the producer's process id (0 for CLOSED).
    pub pid: u32,
    /// PRODUCER: the producer's epoch.
    pub epoch: u64,
    /// UNDECODABLE: why the event does not decode (UTF-8 text, not NUL-terminated).
    pub error: slipstream_bytes_t,
}

impl slipstream_item_t {
    /// An item with every field zero (IDLE).
    pub(crate) const IDLE: slipstream_item_t = slipstream_item_t {
        kind: SLIPSTREAM_ITEM_IDLE,
        event_kind: 0,
        seq: 0,
        block_height: 0,
        ordinal: 0,
        program_id: slipstream_bytes_t::EMPTY,
        mapping_name: slipstream_bytes_t::EMPTY,
        key: slipstream_bytes_t::EMPTY,
        has_key: false,
        value: slipstream_bytes_t::EMPTY,
        staker: slipstream_bytes_t::EMPTY,
        validator: slipstream_bytes_t::EMPTY,
        reward: 0,
        new_stake: 0,
        block: slipstream_bytes_t::EMPTY,
        event_count: 0,
        first_missed: 0,
        last_missed: 0,
        first_missed_height: 0,
        last_missed_height: 0,
        has_first_missed_height: false,
        has_last_missed_height: false,
        first_partial: false,
        last_partial: false,
        producer_change: 0,
        pid: 0,
        epoch: 0,
        error: slipstream_bytes_t::EMPTY,
    };
}

/// What `slipstream_consumer_next_block` returned. Which fields are set
/// depends on `kind`; the others are zero. Valid until the next call of
/// `slipstream_consumer_next` or `slipstream_consumer_next_block` on the handle.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct slipstream_block_t {
    /// `SLIPSTREAM_BLOCK_*`.
    pub kind: slipstream_block_kind_t,
    /// COMPLETE and INCOMPLETE: the block's height.
    pub height: u64,
    /// COMPLETE: the sequence number of its begin marker.
    pub begin_seq: u64,
    /// COMPLETE: the sequence number of its commit marker.
    pub commit_seq: u64,
    /// COMPLETE: how many events it holds (markers excluded); read each with
    /// `slipstream_consumer_block_event`.
    pub event_count: usize,
    /// LAGGED: the first sequence number missed.
    pub first_missed: u64,
    /// LAGGED: the last sequence number missed (inclusive).
    pub last_missed: u64,
    /// LAGGED: the height of the block of `first_missed`, when
    /// `has_first_missed_height` (not known when the consumer resumed a
    /// stored cursor whose event was already overwritten and read nothing
    /// before the gap); else 0.
    pub first_missed_height: u64,
    /// LAGGED: the height of the block of `last_missed`, when
    /// `has_last_missed_height` (false only if no event could be read after
    /// the gap); else 0.
    pub last_missed_height: u64,
    /// LAGGED: `first_missed_height` is set.
    pub has_first_missed_height: bool,
    /// LAGGED: `last_missed_height` is set.
    pub has_last_missed_height: bool,
    /// LAGGED: the first block's events before `first_missed` were delivered
    /// (or precede this consumer's start): only part of it is missing. False
    /// when its height is not known. Every block between the first and the
    /// last that is not marked partial was lost whole.
    pub first_partial: bool,
    /// LAGGED: the last block's events after `last_missed` are delivered
    /// next: only part of it is missing.
    pub last_partial: bool,
    /// INCOMPLETE: the sequence number of its begin marker.
    pub first_seq: u64,
    /// INCOMPLETE: the sequence number of its last record read (its commit
    /// marker, or the record before whatever ended it).
    pub last_seq: u64,
    /// INCOMPLETE: why (UTF-8 text, not NUL-terminated; static).
    pub reason: slipstream_bytes_t,
    /// PRODUCER: what happened (`SLIPSTREAM_PRODUCER_*`).
    pub producer_change: slipstream_producer_change_t,
    /// PRODUCER: the producer's process id (0 for CLOSED).
    pub pid: u32,
    /// PRODUCER: the producer's epoch.
    pub epoch: u64,
}

impl slipstream_block_t {
    /// A block result with every field zero (IDLE).
    pub(crate) const IDLE: slipstream_block_t = slipstream_block_t {
        kind: SLIPSTREAM_BLOCK_IDLE,
        height: 0,
        begin_seq: 0,
        commit_seq: 0,
        event_count: 0,
        first_missed: 0,
        last_missed: 0,
        first_missed_height: 0,
        last_missed_height: 0,
        has_first_missed_height: false,
        has_last_missed_height: false,
        first_partial: false,
        last_partial: false,
        first_seq: 0,
        last_seq: 0,
        reason: slipstream_bytes_t::EMPTY,
        producer_change: 0,
        pid: 0,
        epoch: 0,
    };
}
