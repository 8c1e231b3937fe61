//! The one place where the SDK's types become C's: errors to status codes,
//! items, events and blocks to `slipstream_item_t` / `slipstream_block_t`,
//! and C options to a `ConsumerBuilder`. When the SDK's API changes, this is
//! the file to adapt.

use std::ffi::{c_char, CStr};
use std::time::Duration;

use slipstream_consumer::{
    Block, BlockItem, Consumer, ConsumerBuilder, ConsumerError, EventKind, EventRef, Item, KindSet,
    LapPolicy, Missed, ProducerChange, Start,
};

use crate::types::*;

/// A failure: its status code and message.
pub(crate) type Failure = (slipstream_status_t, String);

/// The status code of an SDK error.
pub(crate) fn status_of(e: &ConsumerError) -> slipstream_status_t {
    match e {
        ConsumerError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            SLIPSTREAM_ERR_NOT_FOUND
        }
        ConsumerError::Open { .. } => SLIPSTREAM_ERR_OPEN,
        ConsumerError::Attach { .. } => SLIPSTREAM_ERR_NOT_A_RING,
        ConsumerError::Slot { .. } => SLIPSTREAM_ERR_CURSOR,
        ConsumerError::Seek(_) | ConsumerError::StartUnavailable { .. } => {
            SLIPSTREAM_ERR_NOT_RETAINED
        }
        ConsumerError::Read(_) => SLIPSTREAM_ERR_CORRUPT,
        ConsumerError::Decode { .. } => SLIPSTREAM_ERR_DECODE,
        ConsumerError::Journal(_) => SLIPSTREAM_ERR_JOURNAL,
        _ => SLIPSTREAM_ERR_OTHER,
    }
}

/// A present byte string (possibly empty: then `ptr` is not NULL but must not
/// be read). Absent fields stay NULL with length 0.
#[inline(always)]
fn bytes(b: &[u8]) -> slipstream_bytes_t {
    slipstream_bytes_t {
        ptr: b.as_ptr(),
        len: b.len(),
    }
}

/// Fills `out` with an event; its byte strings borrow `ev`'s bytes.
#[inline(always)]
pub(crate) fn fill_event(out: &mut slipstream_item_t, seq: u64, ev: &EventRef<'_>) {
    *out = slipstream_item_t::IDLE;
    out.kind = SLIPSTREAM_ITEM_EVENT;
    out.event_kind = ev.kind().as_u16();
    out.seq = seq;
    out.block_height = ev.block_height();
    out.ordinal = ev.ordinal();
    match *ev {
        EventRef::MappingUpdate {
            program_id,
            mapping_name,
            key,
            value,
            ..
        } => {
            out.program_id = bytes(program_id);
            out.mapping_name = bytes(mapping_name);
            out.key = bytes(key);
            out.has_key = true;
            out.value = bytes(value);
        }
        EventRef::MappingRemoval {
            program_id,
            mapping_name,
            key,
            ..
        } => {
            out.program_id = bytes(program_id);
            out.mapping_name = bytes(mapping_name);
            out.has_key = key.is_some();
            out.key = key.map_or(slipstream_bytes_t::EMPTY, bytes);
        }
        EventRef::StakingReward {
            staker,
            validator,
            reward,
            new_stake,
            ..
        } => {
            out.staker = bytes(staker);
            out.validator = bytes(validator);
            out.reward = reward;
            out.new_stake = new_stake;
        }
        EventRef::Block { block, .. } => out.block = bytes(block),
        EventRef::BlockBegin { event_count, .. } | EventRef::BlockCommit { event_count, .. } => {
            out.event_count = event_count
        }
    }
}

/// The heights and partial flags of a lag, in the order of the C fields:
/// `(first_missed_height, last_missed_height, has_first, has_last,
/// first_partial, last_partial)`.
fn missed_heights(m: &Missed) -> (u64, u64, bool, bool, bool, bool) {
    (
        m.first_height.unwrap_or(0),
        m.last_height.unwrap_or(0),
        m.first_height.is_some(),
        m.last_height.is_some(),
        m.first_partial,
        m.last_partial,
    )
}

fn producer_fields(change: &ProducerChange) -> (slipstream_producer_change_t, u32, u64) {
    match *change {
        ProducerChange::Died { pid, epoch } => (SLIPSTREAM_PRODUCER_DIED, pid, epoch),
        ProducerChange::Closed { epoch } => (SLIPSTREAM_PRODUCER_CLOSED, 0, epoch),
        ProducerChange::Restarted { pid, epoch } => (SLIPSTREAM_PRODUCER_RESTARTED, pid, epoch),
    }
}

/// Fills `out` with an item of the consumer.
#[inline(always)]
pub(crate) fn fill_item(out: &mut slipstream_item_t, item: &Item<'_>) {
    match item {
        Item::Event(e) => fill_event(out, e.seq, &e.event),
        Item::Lagged(lag) => {
            *out = slipstream_item_t::IDLE;
            out.kind = SLIPSTREAM_ITEM_LAGGED;
            out.first_missed = lag.first_missed;
            out.last_missed = lag.last_missed;
            (
                out.first_missed_height,
                out.last_missed_height,
                out.has_first_missed_height,
                out.has_last_missed_height,
                out.first_partial,
                out.last_partial,
            ) = missed_heights(lag);
        }
        Item::Producer(change) => {
            *out = slipstream_item_t::IDLE;
            out.kind = SLIPSTREAM_ITEM_PRODUCER;
            (out.producer_change, out.pid, out.epoch) = producer_fields(change);
        }
    }
}

/// Fills `out` with an undecodable event; `error` is the handle's own text.
pub(crate) fn fill_undecodable(out: &mut slipstream_item_t, seq: u64, kind: u16, error: &str) {
    *out = slipstream_item_t::IDLE;
    out.kind = SLIPSTREAM_ITEM_UNDECODABLE;
    out.seq = seq;
    out.event_kind = kind;
    out.error = bytes(error.as_bytes());
}

/// Reads the next item into `out` if one is ready (no clock read, no
/// wait): the hot path. `Ok(false)`: nothing ready; then call [`next_item`].
#[inline(always)]
pub(crate) fn try_item(
    consumer: &mut Consumer,
    out: &mut slipstream_item_t,
    decode_text: &mut String,
) -> Result<bool, Failure> {
    match consumer.try_next() {
        Ok(Some(item)) => {
            fill_item(out, &item);
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(e) => failure(e, out, decode_text).map(|_| true),
    }
}

/// Reads the next item into `out`, waiting up to `timeout` (the slow path,
/// when [`try_item`] found nothing; `next` also checks the producer's
/// liveness). An idle return fills an IDLE item.
///
/// A decode error fills an UNDECODABLE item (its text kept in `decode_text`)
/// and fails with `SLIPSTREAM_ERR_DECODE`.
#[cold]
#[inline(never)]
pub(crate) fn next_item(
    consumer: &mut Consumer,
    timeout: Duration,
    out: &mut slipstream_item_t,
    decode_text: &mut String,
) -> Result<slipstream_status_t, Failure> {
    match consumer.next(timeout) {
        Ok(Some(item)) => fill_item(out, &item),
        Ok(None) => *out = slipstream_item_t::IDLE,
        Err(e) => return failure(e, out, decode_text),
    }
    Ok(SLIPSTREAM_OK)
}

#[cold]
#[inline(never)]
fn failure(
    e: ConsumerError,
    out: &mut slipstream_item_t,
    decode_text: &mut String,
) -> Result<slipstream_status_t, Failure> {
    *out = slipstream_item_t::IDLE;
    if let ConsumerError::Decode { seq, kind, source } = &e {
        *decode_text = source.to_string();
        fill_undecodable(out, *seq, *kind, decode_text);
        return Err((SLIPSTREAM_ERR_DECODE, e.to_string()));
    }
    Err((status_of(&e), e.to_string()))
}

/// Fills `out` with what `next_block` returned.
pub(crate) fn fill_block(out: &mut slipstream_block_t, item: &Option<BlockItem>) {
    *out = slipstream_block_t::IDLE;
    match item {
        None => {}
        Some(BlockItem::Block(b)) => {
            out.kind = SLIPSTREAM_BLOCK_COMPLETE;
            out.height = b.height;
            out.begin_seq = b.begin_seq;
            out.commit_seq = b.commit_seq;
            out.event_count = b.events.len();
        }
        Some(BlockItem::Lagged(lag)) => {
            out.kind = SLIPSTREAM_BLOCK_LAGGED;
            out.first_missed = lag.first_missed;
            out.last_missed = lag.last_missed;
            (
                out.first_missed_height,
                out.last_missed_height,
                out.has_first_missed_height,
                out.has_last_missed_height,
                out.first_partial,
                out.last_partial,
            ) = missed_heights(lag);
        }
        Some(BlockItem::Incomplete {
            height,
            first_seq,
            last_seq,
            reason,
        }) => {
            out.kind = SLIPSTREAM_BLOCK_INCOMPLETE;
            out.height = *height;
            out.first_seq = *first_seq;
            out.last_seq = *last_seq;
            out.reason = bytes(reason.as_bytes());
        }
        Some(BlockItem::Producer(change)) => {
            out.kind = SLIPSTREAM_BLOCK_PRODUCER;
            (out.producer_change, out.pid, out.epoch) = producer_fields(change);
        }
    }
}

/// Fills `out` with event `index` of `block`.
pub(crate) fn fill_block_event(
    out: &mut slipstream_item_t,
    block: &Block,
    index: usize,
) -> Result<(), Failure> {
    let ev = block.events.get(index).ok_or_else(|| {
        (
            SLIPSTREAM_ERR_OUT_OF_RANGE,
            format!(
                "event index {index} is out of range: the block holds {} events",
                block.events.len()
            ),
        )
    })?;
    fill_event(out, ev.seq, &ev.event());
    Ok(())
}

fn invalid(what: String) -> Failure {
    (SLIPSTREAM_ERR_INVALID_ARGUMENT, what)
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err((SLIPSTREAM_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// `n` NUL-terminated strings.
///
/// # Safety
/// `list` is NULL (then `n` must be 0) or points to `n` string pointers.
unsafe fn c_strs<'a>(
    list: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<&'a str>, Failure> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err((
            SLIPSTREAM_ERR_NULL,
            format!("{what} is NULL but its count is {n}"),
        ));
    }
    (0..n)
        .map(|i| {
            // SAFETY: `list` holds `n` pointers (the caller's contract).
            let p = unsafe { *list.add(i) };
            // SAFETY: each is NULL or NUL-terminated (the caller's contract).
            unsafe { c_str(p, &format!("{what}[{i}]")) }
        })
        .collect()
}

/// The default options.
pub(crate) fn default_options() -> slipstream_options_t {
    slipstream_options_t {
        name: std::ptr::null(),
        start: SLIPSTREAM_START_NEWEST,
        start_at: 0,
        reset: 0,
        manual_commit: 0,
        lap_to_newest: 0,
        kinds: 0,
        programs: std::ptr::null(),
        n_programs: 0,
        mappings: std::ptr::null(),
        n_mappings: 0,
        wait_for_ring_ms: 0,
        journal_dir: std::ptr::null(),
    }
}

/// A builder for the ring at `ring` with options `o`.
///
/// # Safety
/// Every pointer in `o` is NULL or valid as `slipstream_options_t` documents.
pub(crate) unsafe fn builder(
    ring: &str,
    o: &slipstream_options_t,
) -> Result<ConsumerBuilder, Failure> {
    let start = match o.start {
        SLIPSTREAM_START_NEWEST => Start::Newest,
        SLIPSTREAM_START_OLDEST => Start::Oldest,
        SLIPSTREAM_START_END => Start::End,
        SLIPSTREAM_START_SEQ => Start::Seq(o.start_at),
        SLIPSTREAM_START_HEIGHT => Start::Height(o.start_at),
        other => {
            return Err(invalid(format!(
                "options.start is {other}: not one of SLIPSTREAM_START_NEWEST, _OLDEST, _END, _SEQ, _HEIGHT (0 to 4)"
            )))
        }
    };
    let mut b = Consumer::builder(ring)
        .start(start)
        .reset(o.reset != 0)
        .auto_commit(o.manual_commit == 0)
        .lap_policy(if o.lap_to_newest != 0 {
            LapPolicy::Newest
        } else {
            LapPolicy::Oldest
        })
        .wait_for_ring(Duration::from_millis(o.wait_for_ring_ms.into()));
    if !o.name.is_null() {
        // SAFETY: not NULL; NUL-terminated by the caller's contract.
        b = b.name(unsafe { c_str(o.name, "options.name") }?);
    }
    if o.kinds != 0 {
        let mut set = KindSet::none();
        for bit in 0..32u16 {
            if o.kinds & (1 << bit) == 0 {
                continue;
            }
            match EventKind::from_u16(bit) {
                Some(kind) => set.insert(kind),
                None => {
                    return Err(invalid(format!(
                        "options.kinds has bit {bit} set, which is no event kind (bits 1 to 6: 1u << SLIPSTREAM_KIND_*)"
                    )))
                }
            };
        }
        b = b.kinds(set);
    }
    if !o.journal_dir.is_null() {
        // SAFETY: not NULL; NUL-terminated by the caller's contract.
        b = b.journal(unsafe { c_str(o.journal_dir, "options.journal_dir") }?);
    }
    // SAFETY: the caller's contract for both lists.
    for p in unsafe { c_strs(o.programs, o.n_programs, "options.programs") }? {
        b = b.program(p);
    }
    // SAFETY: as above.
    for m in unsafe { c_strs(o.mappings, o.n_mappings, "options.mappings") }? {
        b = b.mapping(m);
    }
    Ok(b)
}

/// The name of an event kind, as `slipstream-tail` prints it.
pub(crate) fn kind_name(kind: u16) -> Option<&'static str> {
    EventKind::from_u16(kind).map(EventKind::name)
}
