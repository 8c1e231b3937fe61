//! The batch API (`Reader::receive`) delivers exactly what the per-item API
//! (`Reader::try_next`) delivers: the same records, the same laps, in order,
//! over padding records, wide (`rep movsb`) and narrow copies, and `max`.

mod common;

use slipstream_ring::{Item, Layout, Reader, Start, Writer};

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Rec(u64, u16, Vec<u8>),
    Lag(u64, u64),
}

fn own(item: Item<'_>) -> Got {
    match item {
        Item::Record(r) => Got::Rec(r.seq, r.kind, r.payload.to_vec()),
        Item::Lagged(l) => Got::Lag(l.first_missed, l.last_missed),
    }
}

fn drain_next(r: &mut Reader) -> Vec<Got> {
    let mut out = Vec::new();
    while let Some(item) = r.try_next().unwrap() {
        out.push(own(item));
    }
    out
}

fn drain_receive(r: &mut Reader, max: usize) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let before = out.len();
        let n = r.receive(max, |item| out.push(own(item))).unwrap();
        assert_eq!(
            n,
            out.len() - before,
            "receive's count is the items handed over"
        );
        assert!(
            n <= max,
            "receive handed over {n} items, more than max {max}"
        );
        if n == 0 {
            return out;
        }
    }
}

/// A deterministic mix of sizes: tiny, around the wide-copy threshold, large.
fn size(i: u64) -> usize {
    const SIZES: [usize; 8] = [0, 1, 7, 64, 200, 1000, 1100, 3000];
    SIZES[(i * 2654435761 % 8) as usize]
}

#[test]
fn receive_matches_try_next_in_steps_with_padding_and_laps() {
    let mut w = Writer::anonymous(Layout::new(1 << 16)).unwrap();
    let mut a = w.reader(Start::Oldest).unwrap();
    let mut b = w.reader(Start::Oldest).unwrap();
    let mut c = w.reader(Start::Oldest).unwrap();
    c.set_batch_bytes(4096);
    let mut i = 0u64;
    let (mut records, mut laps) = (0, 0);
    for round in 0..200u64 {
        // Sometimes less than the ring, sometimes far more (a lap).
        let k = if round % 7 == 3 { 400 } else { 1 + round % 23 };
        for _ in 0..k {
            let len = size(i);
            let payload: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
            w.publish(1 + (i % 5) as u16, &payload).unwrap();
            i += 1;
        }
        let x = drain_next(&mut a);
        let y = drain_receive(&mut b, usize::MAX);
        let z = drain_receive(&mut c, 1 + (round as usize % 4));
        assert_eq!(x, y, "round {round}: receive differs from try_next");
        assert_eq!(
            x, z,
            "round {round}: receive with small batches and max differs"
        );
        for g in &x {
            match g {
                Got::Rec(seq, _, p) => {
                    assert_eq!(p.len(), size(seq - 1));
                    records += 1;
                }
                Got::Lag(..) => laps += 1,
            }
        }
    }
    assert!(
        laps > 0 && records > 1000,
        "the test must see laps ({laps}) and records ({records})"
    );
    assert_eq!(b.next_seq(), w.next_seq());
    assert_eq!(b.position(), w.tail());
}

#[test]
fn receive_zero_max_and_empty_ring() {
    let mut w = Writer::anonymous(Layout::new(4096)).unwrap();
    let mut r = w.reader(Start::Oldest).unwrap();
    assert_eq!(
        r.receive(usize::MAX, |_| panic!("nothing to deliver"))
            .unwrap(),
        0
    );
    w.publish(2, b"x").unwrap();
    assert_eq!(r.receive(0, |_| panic!("max is 0")).unwrap(), 0);
    let mut got = Vec::new();
    assert_eq!(r.receive(5, |item| got.push(own(item))).unwrap(), 1);
    assert_eq!(got, vec![Got::Rec(1, 2, b"x".to_vec())]);
    // The per-item API goes on from where the batch API stopped.
    w.publish(3, b"yz").unwrap();
    assert!(
        matches!(r.try_next().unwrap(), Some(Item::Record(rec)) if rec.seq == 2 && rec.payload == b"yz")
    );
}

/// Drains `r` with `try_next` or `receive`, recording records, laps and
/// errors (at most three errors in a row, as a consumer that gives up would).
fn drain_any(r: &mut Reader, batch: bool) -> Vec<Result<Got, String>> {
    let mut out = Vec::new();
    let mut errors = 0;
    for _ in 0..100_000 {
        if batch {
            let mut items = Vec::new();
            match r.receive(usize::MAX, |item| items.push(own(item))) {
                Ok(0) => return out,
                Ok(n) => {
                    assert_eq!(n, items.len());
                    out.extend(items.into_iter().map(Ok));
                    errors = 0;
                }
                Err(e) => {
                    out.push(Err(e.to_string()));
                    errors += 1;
                }
            }
        } else {
            match r.try_next() {
                Ok(None) => return out,
                Ok(Some(item)) => {
                    out.push(Ok(own(item)));
                    errors = 0;
                }
                Err(e) => {
                    out.push(Err(e.to_string()));
                    errors += 1;
                }
            }
        }
        if errors == 3 {
            return out;
        }
    }
    panic!("a walk over a 64 KiB ring did not end");
}

/// Bytes of the data region overwritten at random (what a hostile process
/// with write access, or a bug, could leave): both APIs deliver the same
/// records, laps and errors, and neither panics.
#[test]
fn receive_and_try_next_agree_on_corrupt_rings() {
    use std::os::unix::fs::FileExt;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut errors_seen = 0;
    for case in 0..150 {
        let path = common::TempPath::new("receive-corrupt");
        let file = path.open();
        let mut w = Writer::create(path.open(), path.lock(), Layout::new(1 << 16), 1).unwrap();
        let data_offset = w.geometry().data_offset;
        for i in 0..(200 + case * 7) as u64 {
            let len = size(i) % 900;
            w.publish(1 + (i % 3) as u16, &vec![i as u8; len]).unwrap();
        }
        for _ in 0..1 + case % 4 {
            let off = data_offset + next() % (1 << 16);
            let bytes = next().to_le_bytes();
            let n = 1 + (next() % 8) as usize;
            file.write_all_at(&bytes[..n], off).unwrap();
        }
        let mut a = Reader::attach(&file, Start::Oldest);
        let mut b = Reader::attach(&file, Start::Oldest);
        let (Ok(a), Ok(b)) = (a.as_mut(), b.as_mut()) else {
            assert_eq!(a.is_ok(), b.is_ok());
            continue;
        };
        let x = drain_any(a, false);
        let y = drain_any(b, true);
        errors_seen += x.iter().filter(|g| g.is_err()).count();
        assert_eq!(
            x, y,
            "case {case}: receive and try_next differ on a corrupt ring"
        );
        drop(w);
    }
    assert!(
        errors_seen > 0,
        "the corruption must be noticed at least once"
    );
}
