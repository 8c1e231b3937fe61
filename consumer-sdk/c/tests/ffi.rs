//! The C functions called as a C program would, on rings written by the
//! producer hook: every item kind, filters, blocks, cursors, the readiness fd,
//! and bad input of every sort (which must come back as codes, never abort).

use slipstream::*;
use slipstream_producer::{Producer, ProducerOptions, Wake};
use slipstream_ring::Layout;
use slipstream_tests::TempRing;
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

fn producer(ring: &TempRing, capacity: u64) -> Producer {
    Producer::open(
        ring.path(),
        ProducerOptions {
            layout: Layout::new(capacity),
            wake: Wake::EveryEvent,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Block `h`: `n` mapping updates (credits.aleo/account for even i,
/// token.aleo/balances for odd i), a staking reward, a whole-mapping removal
/// and a block event.
fn block(p: &mut Producer, h: u64, n: u32) {
    p.begin_block(h).unwrap();
    for i in 0..n {
        let (program, mapping): (&[u8], &[u8]) = if i % 2 == 0 {
            (b"credits.aleo", b"account")
        } else {
            (b"token.aleo", b"balances")
        };
        p.mapping_update_at(
            h,
            program,
            mapping,
            &i.to_le_bytes(),
            &(h * 1000 + i as u64).to_le_bytes(),
        )
        .unwrap();
    }
    p.staking_reward_at(h, &[1; 32], &[2; 32], 77, 1000 + h)
        .unwrap();
    p.mapping_removal_at(h, b"credits.aleo", b"bonded", None)
        .unwrap();
    p.block_at(h, &[0xab; 100]).unwrap();
    p.commit_block().unwrap();
}

fn options() -> slipstream_options_t {
    let mut o = std::mem::MaybeUninit::uninit();
    assert_eq!(
        // SAFETY: a writable options struct.
        unsafe { slipstream_options_init(o.as_mut_ptr()) },
        SLIPSTREAM_OK
    );
    // SAFETY: initialised just above.
    unsafe { o.assume_init() }
}

/// Opens a consumer, or returns the status and message.
fn try_open(
    ring: &str,
    o: Option<&slipstream_options_t>,
) -> Result<*mut slipstream_consumer_t, (i32, String)> {
    let ring = CString::new(ring).unwrap();
    let mut c = null_mut();
    let mut err = [0 as c_char; 512];
    // SAFETY: valid pointers and lengths.
    let st = unsafe {
        slipstream_consumer_open(
            ring.as_ptr(),
            o.map_or(null(), |o| o as *const _),
            &mut c,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if st == SLIPSTREAM_OK {
        assert!(!c.is_null());
        Ok(c)
    } else {
        assert!(c.is_null());
        // SAFETY: NUL-terminated by the library.
        Err((
            st,
            unsafe { CStr::from_ptr(err.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        ))
    }
}

fn open(ring: &TempRing, o: &slipstream_options_t) -> *mut slipstream_consumer_t {
    try_open(ring.path().to_str().unwrap(), Some(o)).unwrap_or_else(|e| panic!("open: {e:?}"))
}

fn next(c: *mut slipstream_consumer_t, timeout_ms: u32) -> (i32, slipstream_item_t) {
    let mut item = std::mem::MaybeUninit::uninit();
    // SAFETY: a live handle and a writable item.
    let st = unsafe { slipstream_consumer_next(c, timeout_ms, item.as_mut_ptr()) };
    // SAFETY: every return writes the item when its pointer is not NULL.
    (st, unsafe { item.assume_init() })
}

fn bytes(b: slipstream_bytes_t) -> Vec<u8> {
    if b.ptr.is_null() {
        assert_eq!(b.len, 0);
        return Vec::new();
    }
    // SAFETY: the library's bytes, valid until the next call on the handle.
    unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec()
}

fn error(c: *mut slipstream_consumer_t) -> String {
    // SAFETY: a handle (or NULL); the text is NUL-terminated.
    unsafe { CStr::from_ptr(slipstream_consumer_error(c)) }
        .to_string_lossy()
        .into_owned()
}

fn close(c: *mut slipstream_consumer_t) {
    // SAFETY: a live handle.
    assert_eq!(unsafe { slipstream_consumer_close(c) }, SLIPSTREAM_OK);
}

/// All events until idle.
fn drain(c: *mut slipstream_consumer_t) -> Vec<slipstream_item_t> {
    let mut out = Vec::new();
    loop {
        let (st, item) = next(c, 0);
        assert_eq!(st, SLIPSTREAM_OK, "{}", error(c));
        if item.kind == SLIPSTREAM_ITEM_IDLE {
            return out;
        }
        out.push(item);
    }
}

#[test]
fn events_carry_every_field() {
    let ring = TempRing::new("c-fields");
    let mut p = producer(&ring, 1 << 16);
    block(&mut p, 7, 2);
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    let c = open(&ring, &o);
    let mut seen = Vec::new();
    loop {
        let (st, it) = next(c, 0);
        assert_eq!(st, SLIPSTREAM_OK);
        if it.kind == SLIPSTREAM_ITEM_IDLE {
            break;
        }
        assert_eq!(it.kind, SLIPSTREAM_ITEM_EVENT);
        assert_eq!(it.block_height, 7);
        match it.event_kind {
            SLIPSTREAM_KIND_BLOCK_BEGIN => assert_eq!(it.ordinal, 0),
            SLIPSTREAM_KIND_MAPPING_UPDATE if it.ordinal == 1 => {
                assert_eq!(bytes(it.program_id), b"credits.aleo");
                assert_eq!(bytes(it.mapping_name), b"account");
                assert!(it.has_key);
                assert_eq!(bytes(it.key), 0u32.to_le_bytes());
                assert_eq!(bytes(it.value), 7000u64.to_le_bytes());
            }
            SLIPSTREAM_KIND_MAPPING_UPDATE => assert_eq!(bytes(it.program_id), b"token.aleo"),
            SLIPSTREAM_KIND_STAKING_REWARD => {
                assert_eq!(bytes(it.staker), [1; 32]);
                assert_eq!(bytes(it.validator), [2; 32]);
                assert_eq!((it.reward, it.new_stake), (77, 1007));
            }
            SLIPSTREAM_KIND_MAPPING_REMOVAL => {
                assert!(!it.has_key);
                assert!(it.key.ptr.is_null());
                assert_eq!(bytes(it.mapping_name), b"bonded");
            }
            SLIPSTREAM_KIND_BLOCK => assert_eq!(bytes(it.block), [0xab; 100]),
            SLIPSTREAM_KIND_BLOCK_COMMIT => assert_eq!(it.event_count, 5),
            other => panic!("kind {other}"),
        }
        // SAFETY: a static NUL-terminated name for each kind.
        let name = unsafe { CStr::from_ptr(slipstream_kind_name(it.event_kind)) };
        assert!(!name.to_bytes().is_empty());
        seen.push((it.seq, it.event_kind));
    }
    let kinds: Vec<u16> = seen.iter().map(|s| s.1).collect();
    assert_eq!(kinds, [5, 1, 1, 3, 2, 4, 6]);
    let seqs: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let mut n = 0;
    assert_eq!(
        // SAFETY: a live handle, a writable u64.
        unsafe { slipstream_consumer_next_seq(c, &mut n) },
        SLIPSTREAM_OK
    );
    assert_eq!(n, 8);
    close(c);
    assert!(slipstream_kind_name(99).is_null());
}

#[test]
fn starts_and_filters() {
    let ring = TempRing::new("c-filters");
    let mut p = producer(&ring, 1 << 16);
    for h in 1..=3 {
        block(&mut p, h, 4);
    }
    // Kinds and programs.
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    o.kinds = 1 << SLIPSTREAM_KIND_MAPPING_UPDATE;
    let program = CString::new("token.aleo").unwrap();
    let programs = [program.as_ptr()];
    o.programs = programs.as_ptr();
    o.n_programs = 1;
    let c = open(&ring, &o);
    let got = drain(c);
    assert_eq!(got.len(), 6, "2 token.aleo updates in each of 3 blocks");
    assert!(got
        .iter()
        .all(|i| i.event_kind == SLIPSTREAM_KIND_MAPPING_UPDATE
            && bytes(i.program_id) == b"token.aleo"));
    close(c);
    // Mappings.
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    o.kinds = (1 << SLIPSTREAM_KIND_MAPPING_UPDATE) | (1 << SLIPSTREAM_KIND_MAPPING_REMOVAL);
    let mapping = CString::new("bonded").unwrap();
    let mappings = [mapping.as_ptr()];
    o.mappings = mappings.as_ptr();
    o.n_mappings = 1;
    let c = open(&ring, &o);
    assert_eq!(drain(c).len(), 3);
    close(c);
    // Height: the begin marker of block 2 (each block is 9 events).
    let mut o = options();
    o.start = SLIPSTREAM_START_HEIGHT;
    o.start_at = 2;
    let c = open(&ring, &o);
    let got = drain(c);
    assert_eq!(
        (got[0].seq, got[0].event_kind, got[0].block_height),
        (10, SLIPSTREAM_KIND_BLOCK_BEGIN, 2)
    );
    close(c);
    // Sequence number, newest, end.
    let mut o = options();
    o.start = SLIPSTREAM_START_SEQ;
    o.start_at = 5;
    let c = open(&ring, &o);
    assert_eq!(drain(c)[0].seq, 5);
    close(c);
    let o = options(); // newest
    let c = open(&ring, &o);
    let got = drain(c);
    assert_eq!((got.len(), got[0].seq), (1, 27));
    close(c);
    let mut o = options();
    o.start = SLIPSTREAM_START_END;
    let c = open(&ring, &o);
    assert!(drain(c).is_empty());
    close(c);
    // A sequence number not written yet is waited for, like a future height
    // (the SDK's delivery contract): the open succeeds and nothing comes yet.
    let mut o = options();
    o.start = SLIPSTREAM_START_SEQ;
    o.start_at = 1000;
    let c = open(&ring, &o);
    assert!(drain(c).is_empty());
    close(c);
}

#[test]
fn lag_producer_changes_and_blocks() {
    let ring = TempRing::new("c-lag");
    let mut p = producer(&ring, 4096);
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    block(&mut p, 1, 1);
    let c = open(&ring, &o);
    for h in 2..200 {
        block(&mut p, h, 3);
    }
    let (st, it) = next(c, 0);
    assert_eq!(st, SLIPSTREAM_OK);
    assert_eq!(it.kind, SLIPSTREAM_ITEM_LAGGED);
    assert_eq!(it.first_missed, 1);
    assert!(it.last_missed > 100, "{}", it.last_missed);
    // Its heights: it began at block 1's begin marker (nothing of block 1
    // delivered before it), and ends in the block of the next event, which
    // is partial unless that event is a begin marker.
    assert!(it.has_first_missed_height);
    assert_eq!((it.first_missed_height, it.first_partial), (1, false));
    assert!(it.has_last_missed_height);
    let after = drain(c);
    let first = after.first().expect("events after the lag");
    assert_eq!(first.kind, SLIPSTREAM_ITEM_EVENT);
    assert_eq!(first.seq, it.last_missed + 1);
    if first.event_kind == SLIPSTREAM_KIND_BLOCK_BEGIN {
        assert_eq!(it.last_missed_height, first.block_height - 1);
        assert!(!it.last_partial);
    } else {
        assert_eq!(it.last_missed_height, first.block_height);
        assert!(it.last_partial);
    }
    assert!(it.last_missed_height > 1 && it.last_missed_height < 200);

    // Blocks: after the lag, whole blocks only.
    block(&mut p, 200, 2);
    block(&mut p, 201, 2);
    let mut b = std::mem::MaybeUninit::<slipstream_block_t>::uninit();
    let mut found = Vec::new();
    let mut o = options();
    o.start = SLIPSTREAM_START_HEIGHT;
    o.start_at = 200;
    let cb = open(&ring, &o);
    loop {
        assert_eq!(
            // SAFETY: a live handle and a writable block.
            unsafe { slipstream_consumer_next_block(cb, 0, b.as_mut_ptr()) },
            SLIPSTREAM_OK
        );
        // SAFETY: written by the call.
        let blk = unsafe { b.assume_init() };
        if blk.kind == SLIPSTREAM_BLOCK_IDLE {
            break;
        }
        assert_eq!(blk.kind, SLIPSTREAM_BLOCK_COMPLETE);
        assert_eq!(blk.event_count, 5);
        let mut ev = std::mem::MaybeUninit::uninit();
        for i in 0..blk.event_count {
            assert_eq!(
                // SAFETY: a live handle and a writable item.
                unsafe { slipstream_consumer_block_event(cb, i, ev.as_mut_ptr()) },
                SLIPSTREAM_OK
            );
            // SAFETY: written by the call.
            let e = unsafe { ev.assume_init() };
            assert_eq!(e.block_height, blk.height);
            assert_eq!(e.ordinal as usize, i + 1);
        }
        assert_eq!(
            // SAFETY: as above.
            unsafe { slipstream_consumer_block_event(cb, 5, ev.as_mut_ptr()) },
            SLIPSTREAM_ERR_OUT_OF_RANGE
        );
        assert!(error(cb).contains("out of range"), "{}", error(cb));
        found.push(blk.height);
    }
    assert_eq!(found, [200, 201]);
    let mut ev = std::mem::MaybeUninit::uninit();
    assert_eq!(
        // SAFETY: as above; no block after an idle return.
        unsafe { slipstream_consumer_block_event(cb, 0, ev.as_mut_ptr()) },
        SLIPSTREAM_ERR_OUT_OF_RANGE
    );
    close(cb);

    // The producer closes: a PRODUCER item, within the liveness interval.
    let epoch = p.epoch();
    drop(p);
    let deadline = Instant::now() + Duration::from_secs(5);
    let it = loop {
        let (st, it) = next(c, 200);
        assert_eq!(st, SLIPSTREAM_OK);
        if it.kind != SLIPSTREAM_ITEM_IDLE && it.kind != SLIPSTREAM_ITEM_EVENT {
            break it;
        }
        assert!(Instant::now() < deadline, "no producer item");
    };
    assert_eq!(
        (it.kind, it.producer_change, it.epoch),
        (SLIPSTREAM_ITEM_PRODUCER, SLIPSTREAM_PRODUCER_CLOSED, epoch)
    );
    close(c);
}

#[test]
fn undecodable_events_are_items_with_a_code() {
    let ring = TempRing::new("c-decode");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(ring.path())
        .unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(slipstream_ring::sidecar::lock_path(ring.path()))
        .unwrap();
    let mut w = slipstream_ring::Writer::create(file, lock, Layout::new(1 << 16), 1).unwrap();
    w.publish(SLIPSTREAM_KIND_MAPPING_UPDATE, b"not an event")
        .unwrap();
    w.publish(
        SLIPSTREAM_KIND_BLOCK_BEGIN,
        &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
    )
    .unwrap();
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    let c = open(&ring, &o);
    let (st, it) = next(c, 0);
    assert_eq!(st, SLIPSTREAM_ERR_DECODE);
    assert_eq!(
        (it.kind, it.seq, it.event_kind),
        (SLIPSTREAM_ITEM_UNDECODABLE, 1, 1)
    );
    assert!(!bytes(it.error).is_empty());
    assert!(error(c).contains("does not decode"), "{}", error(c));
    // The consumer moved past it.
    let (st, it) = next(c, 0);
    assert_eq!(st, SLIPSTREAM_OK);
    assert_eq!(
        (it.kind, it.seq, it.event_kind),
        (SLIPSTREAM_ITEM_EVENT, 2, SLIPSTREAM_KIND_BLOCK_BEGIN)
    );
    assert_eq!(it.event_count, SLIPSTREAM_UNKNOWN_COUNT);
    assert_eq!(error(c), "", "a success clears the message");
    close(c);
}

#[test]
fn named_cursors_resume_and_commit() {
    let ring = TempRing::new("c-named");
    let mut p = producer(&ring, 1 << 16);
    block(&mut p, 1, 2);
    let name = CString::new("c-indexer").unwrap();
    let mut o = options();
    o.name = name.as_ptr();
    o.start = SLIPSTREAM_START_OLDEST;
    o.manual_commit = 1;
    let c = open(&ring, &o);
    for _ in 0..3 {
        assert_eq!(next(c, 0).1.kind, SLIPSTREAM_ITEM_EVENT);
    }
    // SAFETY: a live handle.
    assert_eq!(unsafe { slipstream_consumer_commit(c) }, SLIPSTREAM_OK);
    assert_eq!(next(c, 0).1.seq, 4); // read, not committed
                                     // The same name cannot be claimed twice.
    let (st, msg) = try_open(ring.path().to_str().unwrap(), Some(&o)).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_CURSOR, "{msg}");
    close(c);
    let c = open(&ring, &o);
    assert_eq!(next(c, 0).1.seq, 4, "resumes after the committed cursor");
    close(c);
}

/// Whether `fd` polls readable within `timeout` (poll(2); reading it would clear it).
fn readable(fd: i32, timeout: Duration) -> bool {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
    }
    const POLLIN: i16 = 1;
    let mut p = PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd struct.
    let n = unsafe { poll(&mut p, 1, timeout.as_millis() as i32) };
    n > 0 && p.revents & POLLIN != 0
}

#[test]
fn the_readiness_fd_says_when_to_read() {
    let ring = TempRing::new("c-fd");
    let mut p = producer(&ring, 1 << 16);
    block(&mut p, 1, 1);
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    let c = open(&ring, &o);
    let mut fd = -1;
    // SAFETY: a live handle and a writable int.
    assert_eq!(unsafe { slipstream_consumer_fd(c, &mut fd) }, SLIPSTREAM_OK);
    assert!(fd >= 0);
    assert!(
        readable(fd, Duration::from_secs(5)),
        "events are waiting: readable at once"
    );
    assert_eq!(drain(c).len(), 6);
    // Idle re-armed it: not readable until something is published.
    assert!(!readable(fd, Duration::from_millis(50)));
    block(&mut p, 2, 1);
    assert!(
        readable(fd, Duration::from_secs(5)),
        "a published block makes it readable"
    );
    // Level: stays readable until the consumer has read to idle.
    assert!(readable(fd, Duration::ZERO));
    assert_eq!(next(c, 0).1.seq, 7);
    assert_eq!(drain(c).len(), 5);
    assert!(!readable(fd, Duration::from_millis(50)));
    // The same fd on a second call.
    let mut again = -1;
    assert_eq!(
        // SAFETY: as above.
        unsafe { slipstream_consumer_fd(c, &mut again) },
        SLIPSTREAM_OK
    );
    assert_eq!(again, fd);
    // A producer change makes it readable too, and next then reports it.
    drop(p);
    assert!(
        readable(fd, Duration::from_secs(5)),
        "the producer closing makes it readable"
    );
    let (st, it) = next(c, 0);
    assert_eq!(st, SLIPSTREAM_OK);
    assert_eq!(
        (it.kind, it.producer_change),
        (SLIPSTREAM_ITEM_PRODUCER, SLIPSTREAM_PRODUCER_CLOSED)
    );
    close(c);
}

#[test]
fn bad_input_is_an_error_code_never_an_abort() {
    let ring = TempRing::new("c-bad");
    let mut p = producer(&ring, 1 << 16);
    block(&mut p, 1, 1);
    let path = ring.path().to_str().unwrap();
    // SAFETY: (all the calls below) deliberately NULL or closed arguments,
    // which the header documents as errors.
    unsafe {
        assert_eq!(slipstream_options_init(null_mut()), SLIPSTREAM_ERR_NULL);
        let mut c = null_mut();
        assert_eq!(
            slipstream_consumer_open(null(), null(), &mut c, null_mut(), 0),
            SLIPSTREAM_ERR_NULL
        );
        let ring_c = CString::new(path).unwrap();
        assert_eq!(
            slipstream_consumer_open(ring_c.as_ptr(), null(), null_mut(), null_mut(), 0),
            SLIPSTREAM_ERR_NULL
        );
        // A too-small error buffer: cut, NUL-terminated.
        let mut small = [0x55 as c_char; 8];
        let missing = CString::new("/dev/shm/slipstream-no-such-ring-here").unwrap();
        assert_eq!(
            slipstream_consumer_open(
                missing.as_ptr(),
                null(),
                &mut c,
                small.as_mut_ptr(),
                small.len()
            ),
            SLIPSTREAM_ERR_NOT_FOUND
        );
        assert_eq!(CStr::from_ptr(small.as_ptr()).to_bytes().len(), 7);
        // Not UTF-8.
        let bad = [0xffu8 as c_char, 0];
        assert_eq!(
            slipstream_consumer_open(bad.as_ptr(), null(), &mut c, null_mut(), 0),
            SLIPSTREAM_ERR_INVALID_ARGUMENT
        );

        // NULL handles.
        let mut item = std::mem::MaybeUninit::uninit();
        assert_eq!(
            slipstream_consumer_next(null_mut(), 0, item.as_mut_ptr()),
            SLIPSTREAM_ERR_NULL
        );
        assert_eq!(slipstream_consumer_commit(null_mut()), SLIPSTREAM_ERR_NULL);
        assert_eq!(slipstream_consumer_close(null_mut()), SLIPSTREAM_ERR_NULL);
        assert!(!slipstream_consumer_error(null()).is_null());
        // A pointer that is not a handle.
        let mut not_a_handle = [0u64; 64];
        let fake = not_a_handle.as_mut_ptr().cast::<slipstream_consumer_t>();
        assert_eq!(
            slipstream_consumer_next(fake, 0, item.as_mut_ptr()),
            SLIPSTREAM_ERR_INVALID_HANDLE
        );
        assert_eq!(
            slipstream_consumer_close(fake),
            SLIPSTREAM_ERR_INVALID_HANDLE
        );
        assert_eq!(error(fake), "not a consumer handle");
    }

    // Bad options.
    let mut o = options();
    o.start = 99;
    let (st, msg) = try_open(path, Some(&o)).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_INVALID_ARGUMENT);
    assert!(msg.contains("options.start"), "{msg}");
    let mut o = options();
    o.kinds = 1 << 9;
    let (st, msg) = try_open(path, Some(&o)).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_INVALID_ARGUMENT);
    assert!(msg.contains("bit 9"), "{msg}");
    let mut o = options();
    o.n_programs = 2;
    let (st, msg) = try_open(path, Some(&o)).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_NULL);
    assert!(msg.contains("programs"), "{msg}");
    let mut o = options();
    let programs = [null()];
    o.programs = programs.as_ptr();
    o.n_programs = 1;
    let (st, msg) = try_open(path, Some(&o)).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_NULL);
    assert!(msg.contains("programs[0]"), "{msg}");
    // Not a ring.
    let junk = TempRing::new("c-junk");
    std::fs::write(junk.path(), vec![7u8; 10_000]).unwrap();
    let (st, msg) = try_open(junk.path().to_str().unwrap(), None).unwrap_err();
    assert_eq!(st, SLIPSTREAM_ERR_NOT_A_RING, "{msg}");

    // NULL out-pointers on a live handle, and the error message buffers.
    let c = try_open(path, None).unwrap();
    // SAFETY: a live handle; NULL out-pointers are documented errors.
    unsafe {
        assert_eq!(
            slipstream_consumer_next(c, 0, null_mut()),
            SLIPSTREAM_ERR_NULL
        );
        assert_eq!(error(c), "item is NULL");
        assert_eq!(
            slipstream_consumer_next_block(c, 0, null_mut()),
            SLIPSTREAM_ERR_NULL
        );
        assert_eq!(
            slipstream_consumer_next_seq(c, null_mut()),
            SLIPSTREAM_ERR_NULL
        );
        assert_eq!(slipstream_consumer_fd(c, null_mut()), SLIPSTREAM_ERR_NULL);
        assert_eq!(
            slipstream_consumer_block_event(c, 0, null_mut()),
            SLIPSTREAM_ERR_NULL
        );
        let mut needed = 0;
        let mut buf = [0 as c_char; 4];
        assert_eq!(
            slipstream_consumer_copy_error(c, buf.as_mut_ptr(), buf.len(), &mut needed),
            SLIPSTREAM_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(needed, "item is NULL".len());
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_bytes(), b"ite");
        assert_eq!(
            slipstream_consumer_copy_error(c, null_mut(), 0, &mut needed),
            SLIPSTREAM_ERR_NULL
        );
        let mut big = [0 as c_char; 64];
        assert_eq!(
            slipstream_consumer_copy_error(c, big.as_mut_ptr(), big.len(), null_mut()),
            SLIPSTREAM_OK
        );
        assert_eq!(CStr::from_ptr(big.as_ptr()).to_bytes(), b"item is NULL");
    }
    // Closed and double-closed handles.
    close(c);
    // SAFETY: a closed handle, which the library recognises (quarantine).
    unsafe {
        let mut item = std::mem::MaybeUninit::uninit();
        assert_eq!(
            slipstream_consumer_next(c, 0, item.as_mut_ptr()),
            SLIPSTREAM_ERR_CLOSED
        );
        assert_eq!(slipstream_consumer_commit(c), SLIPSTREAM_ERR_CLOSED);
        assert_eq!(error(c), "the consumer handle was closed");
        assert_eq!(
            slipstream_consumer_close(c),
            SLIPSTREAM_ERR_INVALID_HANDLE,
            "double close"
        );
    }
    // Names of codes.
    // SAFETY: static strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(slipstream_status_name(SLIPSTREAM_ERR_CLOSED)).to_bytes(),
            b"SLIPSTREAM_ERR_CLOSED"
        );
        assert_eq!(
            CStr::from_ptr(slipstream_status_name(-5)).to_bytes(),
            b"SLIPSTREAM_ERR_UNKNOWN"
        );
        assert_eq!(
            CStr::from_ptr(slipstream_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
    drop(p);
}

/// `next_block` into a block result.
fn next_block(c: *mut slipstream_consumer_t, timeout_ms: u32) -> slipstream_block_t {
    let mut b = std::mem::MaybeUninit::uninit();
    // SAFETY: a live handle and a writable block.
    let st = unsafe { slipstream_consumer_next_block(c, timeout_ms, b.as_mut_ptr()) };
    assert_eq!(st, SLIPSTREAM_OK, "{}", error(c));
    // SAFETY: written by the call.
    unsafe { b.assume_init() }
}

#[test]
fn a_block_lag_carries_its_heights_and_an_incomplete_block_its_seqs() {
    let ring = TempRing::new("c-block-lag");
    let mut p = Producer::open(
        ring.path(),
        ProducerOptions {
            layout: Layout::new(4096).max_payload(256),
            wake: Wake::EveryEvent,
            ..Default::default()
        },
    )
    .unwrap();
    block(&mut p, 1, 1);
    let mut o = options();
    o.start = SLIPSTREAM_START_OLDEST;
    let c = open(&ring, &o);
    for h in 2..200 {
        block(&mut p, h, 3);
    }
    let lag = next_block(c, 0);
    assert_eq!(lag.kind, SLIPSTREAM_BLOCK_LAGGED);
    assert_eq!(lag.first_missed, 1);
    assert!(lag.has_first_missed_height && lag.has_last_missed_height);
    assert_eq!((lag.first_missed_height, lag.first_partial), (1, false));
    // `next_block` ranges end before the next block's begin marker: the
    // last block was lost whole, and the next block handed out follows it.
    assert!(!lag.last_partial);
    let next = next_block(c, 0);
    assert_eq!(next.kind, SLIPSTREAM_BLOCK_COMPLETE);
    assert_eq!(next.begin_seq, lag.last_missed + 1);
    assert_eq!(next.height, lag.last_missed_height + 1);
    while next_block(c, 0).kind != SLIPSTREAM_BLOCK_IDLE {}

    // A block whose event the producer refused is incomplete: its seqs are
    // its begin marker's and its last record's.
    let begin = p.next_seq();
    p.begin_block(300).unwrap();
    p.mapping_update(b"p", b"m", b"k", b"v").unwrap();
    assert!(p.block_at(300, &[0; 300]).is_err());
    p.commit_block().unwrap();
    block(&mut p, 301, 1);
    let inc = next_block(c, 0);
    assert_eq!(inc.kind, SLIPSTREAM_BLOCK_INCOMPLETE);
    assert_eq!(inc.height, 300);
    assert_eq!((inc.first_seq, inc.last_seq), (begin, begin + 2));
    assert!(
        String::from_utf8(bytes(inc.reason))
            .unwrap()
            .contains("refused"),
        "{inc:?}"
    );
    let after = next_block(c, 0);
    assert_eq!((after.kind, after.height), (SLIPSTREAM_BLOCK_COMPLETE, 301));
    close(c);
}

/// What `slipstream-journal record` does, done in step: appends to `w`
/// everything `r` has not read yet.
fn record(r: &mut slipstream_ring::Reader, w: &mut slipstream_journal::JournalWriter) {
    use slipstream_ring::Item as RingItem;
    loop {
        match r.try_next().unwrap() {
            Some(RingItem::Record(x)) => w.append(x.seq, x.kind, x.payload).unwrap(),
            Some(RingItem::Lagged(l)) => panic!("the recorder was lapped: {l:?}"),
            None => break w.flush().unwrap(),
        }
    }
}

#[test]
fn a_start_older_than_the_ring_is_served_from_the_journal() {
    let ring = TempRing::new("c-journal");
    let dir = std::env::temp_dir().join(format!("slipstream-c-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    struct RmDir(std::path::PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = RmDir(dir.clone());
    let mut p = producer(&ring, 4096);
    let (mut w, _) = slipstream_journal::JournalWriter::open(&dir, Default::default()).unwrap();
    let file = std::fs::File::open(ring.path()).unwrap();
    let mut r = slipstream_ring::Reader::attach(&file, slipstream_ring::Start::Oldest).unwrap();
    // Many rings' worth, recorded block by block (never lapped).
    for h in 1..=300 {
        block(&mut p, h, 3);
        record(&mut r, &mut w);
    }
    let recorded = r.next_seq();
    // Then a few blocks the journal does not hold yet (the ring does).
    for h in 301..=303 {
        block(&mut p, h, 3);
    }
    let last = p.next_seq() - 1;

    // Without the journal, the oldest event is long gone.
    let mut o = options();
    o.start = SLIPSTREAM_START_SEQ;
    o.start_at = 1;
    let err = try_open(ring.path().to_str().unwrap(), Some(&o)).unwrap_err();
    assert_eq!(err.0, SLIPSTREAM_ERR_NOT_RETAINED, "{err:?}");

    // With it: every event from #1, from the journal then the ring, with
    // no gap, no duplicate and no lag.
    let jdir = CString::new(dir.to_str().unwrap()).unwrap();
    o.journal_dir = jdir.as_ptr();
    let c = open(&ring, &o);
    let (mut seqs, mut first_value) = (Vec::new(), None);
    loop {
        let (st, it) = next(c, 0);
        assert_eq!(st, SLIPSTREAM_OK, "{}", error(c));
        match it.kind {
            SLIPSTREAM_ITEM_IDLE => break,
            SLIPSTREAM_ITEM_EVENT => seqs.push(it.seq),
            _ => panic!("only events, no lag: {it:?}"),
        }
        // Served from the journal with every field, as from the ring (the
        // bytes are valid until the next call).
        if first_value.is_none() && it.event_kind == SLIPSTREAM_KIND_MAPPING_UPDATE {
            first_value = Some((it.block_height, bytes(it.value)));
        }
    }
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    assert!(recorded < last);
    assert_eq!(first_value, Some((1, 1000u64.to_le_bytes().to_vec())));
    close(c);

    // The oldest block through the block API too.
    o.start = SLIPSTREAM_START_HEIGHT;
    o.start_at = 2;
    let c = open(&ring, &o);
    let b = next_block(c, 0);
    assert_eq!(
        (b.kind, b.height, b.event_count),
        (SLIPSTREAM_BLOCK_COMPLETE, 2, 6)
    );
    close(c);

    // A journal directory that cannot be read: the journal's error code,
    // naming the directory.
    let empty = CString::new(dir.join("none").to_str().unwrap()).unwrap();
    o.start = SLIPSTREAM_START_SEQ;
    o.start_at = 1;
    o.journal_dir = empty.as_ptr();
    let err = try_open(ring.path().to_str().unwrap(), Some(&o)).unwrap_err();
    assert_eq!(err.0, SLIPSTREAM_ERR_JOURNAL, "{err:?}");
    assert!(err.1.contains("none"), "{err:?}");
    // SAFETY: a static string.
    let name = unsafe { CStr::from_ptr(slipstream_status_name(SLIPSTREAM_ERR_JOURNAL)) };
    assert_eq!(name.to_str().unwrap(), "SLIPSTREAM_ERR_JOURNAL");
    // Non-UTF-8 journal_dir: an argument error, not an abort.
    let bad = [0xffu8 as c_char, 0];
    o.journal_dir = bad.as_ptr();
    let err = try_open(ring.path().to_str().unwrap(), Some(&o)).unwrap_err();
    assert_eq!(err.0, SLIPSTREAM_ERR_INVALID_ARGUMENT, "{err:?}");
    assert!(err.1.contains("journal_dir"), "{err:?}");
}
