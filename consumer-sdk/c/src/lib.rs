//! # slipstream-c
//!
//! The C ABI of the Slipstream consumer SDK (`slipstream-consumer`): a thin
//! layer over it, not a second implementation. Built as `libslipstream.a`
//! and `libslipstream.so`; the header `include/slipstream.h` is generated
//! from this crate by cbindgen and checked in (the `header` test proves it up
//! to date).
//!
//! Conventions (see the header for each function):
//! - one prefix, `slipstream_`; types end in `_t`; a consumer is an opaque
//!   `slipstream_consumer_t *` from `slipstream_consumer_open`, released by
//!   `slipstream_consumer_close`;
//! - every function returns a `slipstream_status_t` (0 is success), except
//!   the few that return a static string; the handle's last error message is
//!   `slipstream_consumer_error` (or copied by `slipstream_consumer_copy_error`);
//! - no function aborts the process on bad input: NULL pointers, closed
//!   handles, out-of-range values, too-small buffers and Rust panics (caught
//!   with `catch_unwind` at every entry point) are error codes;
//! - pointers the caller passes in are borrowed for the call only; pointers
//!   the library hands out (byte strings of items, error messages) belong to
//!   the handle and stay valid until the next call on it (or its close);
//! - a handle is used by one thread at a time (it may move between threads).
//!
//! ```
//! use slipstream::*;
//! let mut consumer = std::ptr::null_mut();
//! let mut err = [0 as std::ffi::c_char; 256];
//! let ring = c"/nonexistent/ring";
//! // SAFETY: valid pointers, as the header requires.
//! let status = unsafe {
//!     slipstream_consumer_open(ring.as_ptr(), std::ptr::null(), &mut consumer, err.as_mut_ptr(), err.len())
//! };
//! assert_eq!(status, SLIPSTREAM_ERR_NOT_FOUND);
//! assert!(consumer.is_null());
//! ```
#![allow(non_camel_case_types)]

mod map;
mod types;

pub use types::*;

use std::collections::{BTreeSet, VecDeque};
use std::ffi::{c_char, c_int, CString};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use slipstream_consumer::{Block, BlockItem, Consumer};
use slipstream_readiness::Readiness;

use map::Failure;

/// A consumer of a ring: opaque; made by `slipstream_consumer_open`, released
/// by `slipstream_consumer_close`. Use from one thread at a time.
pub struct slipstream_consumer_t {
    magic: u64,
    /// The last error message (empty: none), NUL-terminated.
    error: CString,
    /// A panic inside the library left the consumer in an unknown state.
    poisoned: bool,
    inner: Option<Inner>,
}

struct Inner {
    consumer: Consumer,
    readiness: Option<Readiness>,
    /// The block last returned by `next_block`, whose events the caller reads.
    block: Option<Block>,
    /// The text of the last undecodable event.
    decode_text: String,
}

const MAGIC_LIVE: u64 = 0x534c_4950_5354_5245; // "SLIPSTRE"
const MAGIC_CLOSED: u64 = 0x434c_4f53_4544_2121; // "CLOSED!!"

/// Addresses of the live handles: `close` checks here first, so that a
/// double close or a foreign pointer is an error, never a double free.
static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
/// Closed handles are kept (their consumer dropped, their magic CLOSED) for
/// this many further closes, so that a call on a recently closed handle reads
/// valid memory and returns `SLIPSTREAM_ERR_CLOSED`.
const QUARANTINE: usize = 64;
static CLOSED: Mutex<VecDeque<Box<slipstream_consumer_t>>> = Mutex::new(VecDeque::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Runs `f` with no handle; a panic becomes `SLIPSTREAM_ERR_PANIC`.
fn guard(f: impl FnOnce() -> slipstream_status_t) -> slipstream_status_t {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(SLIPSTREAM_ERR_PANIC)
}

impl slipstream_consumer_t {
    fn set_error(&mut self, text: &str) {
        self.error = CString::new(text.replace('\0', "\\0")).unwrap_or_default();
    }
}

/// The handle behind `c` if it is a live one, else the status saying why not.
///
/// # Safety
/// `c` is NULL, a handle from `slipstream_consumer_open` (open or closed
/// within the last `QUARANTINE` closes), or some other pointer that is at
/// least readable for the handle's magic (anything else is undefined
/// behaviour, as in C).
#[inline(always)]
unsafe fn live<'a>(
    c: *const slipstream_consumer_t,
) -> Result<&'a slipstream_consumer_t, slipstream_status_t> {
    if c.is_null() {
        return Err(SLIPSTREAM_ERR_NULL);
    }
    if !c.is_aligned() {
        return Err(SLIPSTREAM_ERR_INVALID_HANDLE);
    }
    // SAFETY: not NULL and aligned; readable by the caller's contract.
    match unsafe { std::ptr::addr_of!((*c).magic).read_volatile() } {
        // SAFETY: the magic says this is a live handle made by `open`.
        MAGIC_LIVE => Ok(unsafe { &*c }),
        MAGIC_CLOSED => Err(SLIPSTREAM_ERR_CLOSED),
        _ => Err(SLIPSTREAM_ERR_INVALID_HANDLE),
    }
}

/// Checks `c` and runs `f` on its open consumer, recording a failure's message
/// in the handle (and clearing it on success). A panic in `f` poisons the handle.
///
/// # Safety
/// `c` is NULL, a handle from `slipstream_consumer_open` (open or closed
/// within the last `QUARANTINE` closes), or some other pointer that is at
/// least readable for a `u64` (anything else is undefined behaviour, as in C).
#[inline(always)]
unsafe fn with_consumer(
    c: *mut slipstream_consumer_t,
    f: impl FnOnce(&mut Inner) -> Result<slipstream_status_t, Failure>,
) -> slipstream_status_t {
    // The checks read plain fields and cannot panic: only `f` runs inside
    // `catch_unwind` (one per call, on the hot path of every read).
    // SAFETY: the caller's contract for `c`.
    if let Err(status) = unsafe { live(c) } {
        return status;
    }
    // SAFETY: a live handle (checked just above), used by one thread at a
    // time (the documented contract): no other reference to it exists.
    let h = unsafe { &mut *c };
    if h.poisoned {
        return SLIPSTREAM_ERR_PANIC;
    }
    let Some(inner) = h.inner.as_mut() else {
        return SLIPSTREAM_ERR_CLOSED;
    };
    match catch_unwind(AssertUnwindSafe(|| f(inner))) {
        Ok(Ok(status)) => {
            if status == SLIPSTREAM_OK && !h.error.is_empty() {
                h.error = CString::default();
            }
            status
        }
        Ok(Err((status, text))) => {
            h.set_error(&text);
            status
        }
        Err(payload) => {
            h.poisoned = true;
            h.set_error(&format!(
                "internal error (a bug in libslipstream; close this consumer): {}",
                panic_text(&*payload)
            ));
            SLIPSTREAM_ERR_PANIC
        }
    }
}

/// Writes `text` into the caller's buffer `buf` of `len` bytes, cut to fit
/// and NUL-terminated; returns whether it all fitted.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
unsafe fn copy_out(text: &str, buf: *mut c_char, len: usize) -> bool {
    if buf.is_null() || len == 0 {
        return text.is_empty() && !buf.is_null();
    }
    let n = text.len().min(len - 1);
    // SAFETY: `buf` has `len` writable bytes and `n + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
    n == text.len()
}

/// Fills `*options` with the defaults: unnamed, start NEWEST, all kinds, no
/// filters, automatic commit, lapped consumers go on from the oldest event,
/// no wait for the ring.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL` if `options` is NULL.
///
/// # Safety
/// `options` is NULL or points to writable memory for a `slipstream_options_t`.
#[no_mangle]
pub unsafe extern "C" fn slipstream_options_init(
    options: *mut slipstream_options_t,
) -> slipstream_status_t {
    guard(|| {
        if options.is_null() {
            return SLIPSTREAM_ERR_NULL;
        }
        // SAFETY: not NULL; writable by the caller's contract.
        unsafe { options.write(map::default_options()) };
        SLIPSTREAM_OK
    })
}

/// Opens a consumer of the ring `ring` (a path, or a bare name for a file
/// under /dev/shm) with `options` (NULL: the defaults).
///
/// On success `*out` is a new handle, which the caller owns and must release
/// with `slipstream_consumer_close`. On failure `*out` is NULL and, if `err`
/// is not NULL, the message is copied into `err` (`err_len` bytes, cut to fit,
/// NUL-terminated). `ring`, `options` and everything they point to are
/// borrowed for this call only.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL` (ring or out NULL), `_INVALID_ARGUMENT`, `_NOT_FOUND`,
/// `_OPEN`, `_NOT_A_RING`, `_CURSOR`, `_NOT_RETAINED`, `_CORRUPT`, `_PANIC`.
///
/// # Safety
/// `ring` is NULL or NUL-terminated; `options` is NULL or a valid options
/// struct; `out` is NULL or writable; `err` is NULL or has `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_open(
    ring: *const c_char,
    options: *const slipstream_options_t,
    out: *mut *mut slipstream_consumer_t,
    err: *mut c_char,
    err_len: usize,
) -> slipstream_status_t {
    let mut text = String::new();
    let status = guard(|| {
        if out.is_null() {
            text = "out is NULL".into();
            return SLIPSTREAM_ERR_NULL;
        }
        // SAFETY: not NULL; writable by the caller's contract.
        unsafe { out.write(std::ptr::null_mut()) };
        let opened = (|| -> Result<Consumer, Failure> {
            // SAFETY: NULL or NUL-terminated by the caller's contract.
            let ring = unsafe { map::c_str(ring, "ring") }?;
            let defaults = map::default_options();
            let o = if options.is_null() {
                &defaults
            } else {
                // SAFETY: not NULL; a valid options struct by the caller's contract.
                unsafe { &*options }
            };
            // SAFETY: the options' pointers are valid by the caller's contract.
            let builder = unsafe { map::builder(ring, o) }?;
            builder
                .open()
                .map_err(|e| (map::status_of(&e), e.to_string()))
        })();
        match opened {
            Ok(consumer) => {
                let handle = Box::new(slipstream_consumer_t {
                    magic: MAGIC_LIVE,
                    error: CString::default(),
                    poisoned: false,
                    inner: Some(Inner {
                        consumer,
                        readiness: None,
                        block: None,
                        decode_text: String::new(),
                    }),
                });
                let p = Box::into_raw(handle);
                lock(&LIVE).insert(p as usize);
                // SAFETY: checked not NULL above.
                unsafe { out.write(p) };
                SLIPSTREAM_OK
            }
            Err((status, t)) => {
                text = t;
                status
            }
        }
    });
    if status == SLIPSTREAM_ERR_PANIC && text.is_empty() {
        text = "internal error (a bug in libslipstream)".into();
    }
    if !err.is_null() {
        // SAFETY: `err` has `err_len` writable bytes by the caller's contract.
        unsafe { copy_out(&text, err, err_len) };
    }
    status
}

/// Closes a consumer: stores a named cursor (unless manual commit was
/// chosen), releases the cursor's slot, stops the readiness thread and closes
/// its fd, and frees the handle. The handle and every pointer it handed out
/// are invalid afterwards.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL`; `SLIPSTREAM_ERR_INVALID_HANDLE` if `c` is not an
/// open handle (already closed, or never opened): nothing is freed then.
///
/// # Safety
/// `c` is NULL or any pointer (it is looked up, not dereferenced, unless it
/// is an open handle).
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_close(
    c: *mut slipstream_consumer_t,
) -> slipstream_status_t {
    guard(|| {
        if c.is_null() {
            return SLIPSTREAM_ERR_NULL;
        }
        if !lock(&LIVE).remove(&(c as usize)) {
            return SLIPSTREAM_ERR_INVALID_HANDLE;
        }
        // SAFETY: in LIVE, so made by `Box::into_raw` in open and not yet closed.
        let mut handle = unsafe { Box::from_raw(c) };
        handle.magic = MAGIC_CLOSED;
        // Drops the consumer (auto-commit, slot release) and the readiness thread.
        let inner = handle.inner.take();
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(inner)));
        let mut closed = lock(&CLOSED);
        closed.push_back(handle);
        while closed.len() > QUARANTINE {
            closed.pop_front();
        }
        match dropped {
            Ok(()) => SLIPSTREAM_OK,
            Err(_) => SLIPSTREAM_ERR_PANIC,
        }
    })
}

/// Reads the next item into `*item`, waiting up to `timeout_ms` milliseconds
/// (0: do not wait) for one. An idle return is `SLIPSTREAM_OK` with
/// `item->kind == SLIPSTREAM_ITEM_IDLE`. Byte strings in `*item` stay valid
/// until the next call on this handle. Events in a block being read with
/// `slipstream_consumer_block_event` become invalid.
///
/// With a readiness fd (`slipstream_consumer_fd`), an idle return re-arms it.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL`, `_INVALID_HANDLE`, `_CLOSED`, `_CORRUPT` (the ring
/// holds invalid data), `_DECODE` (with an UNDECODABLE item; go on reading),
/// `_PANIC`.
///
/// # Safety
/// `c` is a handle (see `slipstream_consumer_close`); `item` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_next(
    c: *mut slipstream_consumer_t,
    timeout_ms: u32,
    item: *mut slipstream_item_t,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        if item.is_null() {
            return Err((SLIPSTREAM_ERR_NULL, "item is NULL".into()));
        }
        // SAFETY: not NULL; writable by the caller's contract.
        let out = unsafe { &mut *item };
        if inner.block.is_some() {
            inner.block = None;
        }
        // The hot path: an item is ready.
        let failed = match map::try_item(&mut inner.consumer, out, &mut inner.decode_text) {
            Ok(true) => return Ok(SLIPSTREAM_OK),
            Ok(false) => None,
            Err(f) => Some(f),
        };
        if let Some(f) = failed {
            return Err(f);
        }
        let timeout = Duration::from_millis(timeout_ms.into());
        let status = map::next_item(&mut inner.consumer, timeout, out, &mut inner.decode_text);
        if let (Ok(SLIPSTREAM_OK), SLIPSTREAM_ITEM_IDLE) = (&status, out.kind) {
            if let Some(r) = &inner.readiness {
                r.arm(inner.consumer.next_seq());
            }
        }
        status
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// Reads the next complete block (all its events, or nothing), waiting up to
/// `timeout_ms` milliseconds, into `*block`; read its events with
/// `slipstream_consumer_block_event`. Lags, incomplete blocks and producer
/// changes come as their own kinds; an idle return is `SLIPSTREAM_OK` with
/// `block->kind == SLIPSTREAM_BLOCK_IDLE`. The result stays valid until the
/// next `slipstream_consumer_next` or `slipstream_consumer_next_block`.
///
/// # Errors
/// As `slipstream_consumer_next` (a decode error inside a block has no item:
/// the message names the event).
///
/// # Safety
/// `c` is a handle; `block` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_next_block(
    c: *mut slipstream_consumer_t,
    timeout_ms: u32,
    block: *mut slipstream_block_t,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        if block.is_null() {
            return Err((SLIPSTREAM_ERR_NULL, "block is NULL".into()));
        }
        // SAFETY: not NULL; writable by the caller's contract.
        let out = unsafe { &mut *block };
        *out = slipstream_block_t::IDLE;
        inner.block = None;
        let got = inner
            .consumer
            .next_block(Duration::from_millis(timeout_ms.into()))
            .map_err(|e| (map::status_of(&e), e.to_string()))?;
        map::fill_block(out, &got);
        match got {
            Some(BlockItem::Block(b)) => inner.block = Some(b),
            None => {
                if let Some(r) = &inner.readiness {
                    r.arm(inner.consumer.next_seq());
                }
            }
            Some(_) => {}
        }
        Ok(SLIPSTREAM_OK)
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// Fills `*item` with event `index` (from 0) of the block last returned by
/// `slipstream_consumer_next_block`. Valid until the next `next` or `next_block`.
///
/// # Errors
/// `SLIPSTREAM_ERR_OUT_OF_RANGE` if there is no such event (or no block);
/// `_NULL`, `_INVALID_HANDLE`, `_CLOSED`, `_PANIC`.
///
/// # Safety
/// `c` is a handle; `item` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_block_event(
    c: *mut slipstream_consumer_t,
    index: usize,
    item: *mut slipstream_item_t,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        if item.is_null() {
            return Err((SLIPSTREAM_ERR_NULL, "item is NULL".into()));
        }
        // SAFETY: not NULL; writable by the caller's contract.
        let out = unsafe { &mut *item };
        *out = slipstream_item_t::IDLE;
        let block = inner.block.as_ref().ok_or_else(|| {
            (
                SLIPSTREAM_ERR_OUT_OF_RANGE,
                "no block: slipstream_consumer_next_block returned none since the last read"
                    .to_string(),
            )
        })?;
        map::fill_block_event(out, block, index)?;
        Ok(SLIPSTREAM_OK)
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// Stores a named consumer's cursor: everything handed out so far counts as
/// processed, and a restart under this name resumes after it. Automatic
/// before each read unless `manual_commit` was set; nothing for an unnamed one.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL`, `_INVALID_HANDLE`, `_CLOSED`, `_PANIC`.
///
/// # Safety
/// `c` is a handle.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_commit(
    c: *mut slipstream_consumer_t,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        inner.consumer.commit();
        Ok(SLIPSTREAM_OK)
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// Writes the sequence number of the next event this consumer will receive
/// into `*out`.
///
/// # Errors
/// `SLIPSTREAM_ERR_NULL`, `_INVALID_HANDLE`, `_CLOSED`, `_PANIC`.
///
/// # Safety
/// `c` is a handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_next_seq(
    c: *mut slipstream_consumer_t,
    out: *mut u64,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        if out.is_null() {
            return Err((SLIPSTREAM_ERR_NULL, "out is NULL".into()));
        }
        // SAFETY: not NULL; writable by the caller's contract.
        unsafe { out.write(inner.consumer.next_seq()) };
        Ok(SLIPSTREAM_OK)
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// Writes into `*fd` a file descriptor for the caller's own poll loop
/// (`poll`, `epoll`, `select`: wait for POLLIN / EPOLLIN). It belongs to the
/// handle (closed by `slipstream_consumer_close`); never read, write or close
/// it yourself. The first call starts a helper thread.
///
/// Semantics: level-triggered, possibly spurious. The fd is readable when the
/// consumer may have an item. When it is, call `slipstream_consumer_next`
/// with timeout 0 until it returns `SLIPSTREAM_ITEM_IDLE` (or
/// `slipstream_consumer_next_block` until `SLIPSTREAM_BLOCK_IDLE`): that idle
/// return clears and re-arms the fd, and nothing published before or after it
/// is missed. It also stays readable until then, so an item left unread is
/// never forgotten. A producer's death, close or restart makes it readable
/// too (within about 0.2 s). The fd starts readable if items are waiting.
///
/// # Errors
/// `SLIPSTREAM_ERR_IO` (no eventfd or thread could be made),
/// `_NULL`, `_INVALID_HANDLE`, `_CLOSED`, `_PANIC`.
///
/// # Safety
/// `c` is a handle; `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_fd(
    c: *mut slipstream_consumer_t,
    fd: *mut c_int,
) -> slipstream_status_t {
    let body = |inner: &mut Inner| {
        if fd.is_null() {
            return Err((SLIPSTREAM_ERR_NULL, "fd is NULL".into()));
        }
        if inner.readiness.is_none() {
            let r = Readiness::new(&inner.consumer)
                .map_err(|e| (SLIPSTREAM_ERR_IO, format!("readiness fd: {e}")))?;
            r.arm(inner.consumer.next_seq());
            inner.readiness = Some(r);
        }
        let raw = inner.readiness.as_ref().map_or(-1, |r| r.fd().as_raw_fd());
        // SAFETY: not NULL; writable by the caller's contract.
        unsafe { fd.write(raw) };
        Ok(SLIPSTREAM_OK)
    };
    // SAFETY: the caller's contract for `c`.
    unsafe { with_consumer(c, body) }
}

/// The handle's last error message (UTF-8, NUL-terminated; "" when the last
/// call succeeded). Owned by the handle; valid until the next call on it.
/// Never NULL: for a NULL, unknown or closed handle it is a static text that
/// says so.
///
/// # Safety
/// `c` is NULL or a handle (open, or recently closed).
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_error(
    c: *const slipstream_consumer_t,
) -> *const c_char {
    let mut text: *const c_char = c"internal error while reading the error message".as_ptr();
    let _ = guard(|| {
        // SAFETY: the caller's contract for `c`.
        text = match unsafe { live(c) } {
            // The message lives until the next call on the handle.
            Ok(h) => h.error.as_ptr(),
            Err(SLIPSTREAM_ERR_NULL) => c"the consumer handle is NULL".as_ptr(),
            Err(SLIPSTREAM_ERR_CLOSED) => c"the consumer handle was closed".as_ptr(),
            Err(_) => c"not a consumer handle".as_ptr(),
        };
        SLIPSTREAM_OK
    });
    text
}

/// Copies the handle's last error message into `buf` (`len` bytes, cut to
/// fit, NUL-terminated) and writes its full length (without the NUL) into
/// `*needed` when `needed` is not NULL.
///
/// # Errors
/// `SLIPSTREAM_ERR_BUFFER_TOO_SMALL` if it was cut; `_NULL` if `buf` is NULL
/// (`*needed` is still written); `_INVALID_HANDLE`, `_CLOSED`.
///
/// # Safety
/// `c` is NULL or a handle; `buf` is NULL or has `len` writable bytes;
/// `needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn slipstream_consumer_copy_error(
    c: *const slipstream_consumer_t,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> slipstream_status_t {
    guard(|| {
        // SAFETY: the caller's contract for `c`.
        let h = match unsafe { live(c) } {
            Ok(h) => h,
            Err(status) => return status,
        };
        let text = h.error.to_str().unwrap_or("");
        if !needed.is_null() {
            // SAFETY: not NULL; writable by the caller's contract.
            unsafe { needed.write(text.len()) };
        }
        if buf.is_null() {
            return SLIPSTREAM_ERR_NULL;
        }
        // SAFETY: `buf` has `len` writable bytes by the caller's contract.
        if unsafe { copy_out(text, buf, len) } {
            SLIPSTREAM_OK
        } else {
            SLIPSTREAM_ERR_BUFFER_TOO_SMALL
        }
    })
}

/// The name of a status code, such as "SLIPSTREAM_ERR_CLOSED" (static;
/// "SLIPSTREAM_ERR_UNKNOWN" for a code that is none).
#[no_mangle]
pub extern "C" fn slipstream_status_name(status: slipstream_status_t) -> *const c_char {
    let name = match status {
        SLIPSTREAM_OK => c"SLIPSTREAM_OK",
        SLIPSTREAM_ERR_NULL => c"SLIPSTREAM_ERR_NULL",
        SLIPSTREAM_ERR_INVALID_HANDLE => c"SLIPSTREAM_ERR_INVALID_HANDLE",
        SLIPSTREAM_ERR_CLOSED => c"SLIPSTREAM_ERR_CLOSED",
        SLIPSTREAM_ERR_INVALID_ARGUMENT => c"SLIPSTREAM_ERR_INVALID_ARGUMENT",
        SLIPSTREAM_ERR_NOT_FOUND => c"SLIPSTREAM_ERR_NOT_FOUND",
        SLIPSTREAM_ERR_OPEN => c"SLIPSTREAM_ERR_OPEN",
        SLIPSTREAM_ERR_NOT_A_RING => c"SLIPSTREAM_ERR_NOT_A_RING",
        SLIPSTREAM_ERR_CURSOR => c"SLIPSTREAM_ERR_CURSOR",
        SLIPSTREAM_ERR_NOT_RETAINED => c"SLIPSTREAM_ERR_NOT_RETAINED",
        SLIPSTREAM_ERR_CORRUPT => c"SLIPSTREAM_ERR_CORRUPT",
        SLIPSTREAM_ERR_DECODE => c"SLIPSTREAM_ERR_DECODE",
        SLIPSTREAM_ERR_BUFFER_TOO_SMALL => c"SLIPSTREAM_ERR_BUFFER_TOO_SMALL",
        SLIPSTREAM_ERR_OUT_OF_RANGE => c"SLIPSTREAM_ERR_OUT_OF_RANGE",
        SLIPSTREAM_ERR_IO => c"SLIPSTREAM_ERR_IO",
        SLIPSTREAM_ERR_PANIC => c"SLIPSTREAM_ERR_PANIC",
        SLIPSTREAM_ERR_OTHER => c"SLIPSTREAM_ERR_OTHER",
        SLIPSTREAM_ERR_JOURNAL => c"SLIPSTREAM_ERR_JOURNAL",
        _ => c"SLIPSTREAM_ERR_UNKNOWN",
    };
    name.as_ptr()
}

/// The name of an event kind as `slipstream-tail` prints it, such as
/// "mapping_update" (static; NULL for a number that is no kind).
#[no_mangle]
pub extern "C" fn slipstream_kind_name(kind: slipstream_event_kind_t) -> *const c_char {
    match map::kind_name(kind) {
        Some("mapping_update") => c"mapping_update".as_ptr(),
        Some("mapping_removal") => c"mapping_removal".as_ptr(),
        Some("staking_reward") => c"staking_reward".as_ptr(),
        Some("block") => c"block".as_ptr(),
        Some("block_begin") => c"block_begin".as_ptr(),
        Some("block_commit") => c"block_commit".as_ptr(),
        _ => std::ptr::null(),
    }
}

/// The library's version, such as "0.1.0" (static).
#[no_mangle]
pub extern "C" fn slipstream_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_becomes_a_code_and_poisons_the_handle() {
        let path = std::env::temp_dir().join(format!("slipstream-c-panic-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let producer =
            slipstream_producer::Producer::open(&path, Default::default()).expect("a ring");
        let ring = CString::new(path.to_str().unwrap()).unwrap();
        let mut c = std::ptr::null_mut();
        // SAFETY: valid pointers.
        let st = unsafe {
            slipstream_consumer_open(
                ring.as_ptr(),
                std::ptr::null(),
                &mut c,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(st, SLIPSTREAM_OK);
        // SAFETY: a live handle.
        let st = unsafe { with_consumer(c, |_| panic!("boom")) };
        assert_eq!(st, SLIPSTREAM_ERR_PANIC);
        // SAFETY: a live handle; the message is NUL-terminated.
        let text = unsafe { std::ffi::CStr::from_ptr(slipstream_consumer_error(c)) };
        assert!(text.to_str().unwrap().contains("boom"), "{text:?}");
        let mut n = 0;
        // SAFETY: a live (poisoned) handle.
        let st = unsafe { slipstream_consumer_next_seq(c, &mut n) };
        assert_eq!(st, SLIPSTREAM_ERR_PANIC);
        // SAFETY: a live handle; closing a poisoned one releases it.
        assert_eq!(unsafe { slipstream_consumer_close(c) }, SLIPSTREAM_OK);
        assert_eq!(guard(|| panic!("no handle")), SLIPSTREAM_ERR_PANIC);
        drop(producer);
        let _ = std::fs::remove_file(&path);
    }
}
