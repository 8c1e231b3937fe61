//! What every message carries, and how the receiver checks it.
//!
//! A message of `len` bytes (at least [`MIN_LEN`]) is a run of little-endian
//! 64-bit words (the last one cut short if `len` is not a multiple of 8):
//!
//! | word | throughput message | latency message |
//! |---|---|---|
//! | 0 | message index (0, 1, 2, ...) | message index |
//! | 1 | `x + 1` | sender's `CLOCK_MONOTONIC` reading, ns |
//! | j >= 2 | `x + j` | `x + j` |
//!
//! where `x = mix(index)`, a multiplicative hash of the index. Every word
//! depends on the index, so a message torn between two writes, a stale one, or
//! one delivered out of order fails the check; the words differ from each
//! other, so shifted bytes fail it too. Filling and checking cost one add per
//! word, which the compiler vectorises.

use std::mem::MaybeUninit;

/// The smallest message: the index word and the timestamp word.
pub const MIN_LEN: usize = 16;

#[inline(always)]
fn mix(index: u64) -> u64 {
    (index ^ 0x5bd1_e995_7f4a_7c15).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Fills `dst` with the message for `index` (a throughput message; see
/// [`stamp`] for latency messages).
#[inline]
pub fn fill_uninit(dst: &mut [MaybeUninit<u8>], index: u64) {
    debug_assert!(dst.len() >= MIN_LEN);
    let x = mix(index);
    let mut chunks = dst.chunks_exact_mut(8);
    for (j, chunk) in (&mut chunks).enumerate() {
        let w = if j == 0 {
            index
        } else {
            x.wrapping_add(j as u64)
        };
        for (b, v) in chunk.iter_mut().zip(w.to_le_bytes()) {
            b.write(v);
        }
    }
    let full = dst.len() / 8;
    let rest = dst.len() % 8;
    if rest != 0 {
        let w = x.wrapping_add(full as u64).to_le_bytes();
        for (b, v) in dst[full * 8..].iter_mut().zip(w) {
            b.write(v);
        }
    }
}

/// Fills `dst` with the message for `index`.
#[inline]
pub fn fill(dst: &mut [u8], index: u64) {
    let len = dst.len();
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and
    // `fill_uninit` only ever writes initialised bytes through the view, so
    // `dst` stays initialised.
    let view = unsafe { &mut *(dst as *mut [u8] as *mut [MaybeUninit<u8>]) };
    debug_assert_eq!(view.len(), len);
    fill_uninit(view, index);
}

/// Overwrites word 1 of a filled message with a timestamp (ns).
#[inline]
pub fn stamp(dst: &mut [u8], ts_ns: u64) {
    dst[8..16].copy_from_slice(&ts_ns.to_le_bytes());
}

/// Overwrites word 1 of a filled, uninitialised-typed message with a timestamp.
#[inline]
pub fn stamp_uninit(dst: &mut [MaybeUninit<u8>], ts_ns: u64) {
    for (b, v) in dst[8..16].iter_mut().zip(ts_ns.to_le_bytes()) {
        b.write(v);
    }
}

/// The timestamp word of a latency message.
#[inline]
pub fn timestamp(msg: &[u8]) -> u64 {
    u64::from_le_bytes(msg[8..16].try_into().expect("8 bytes"))
}

/// The index word of a message.
#[inline]
pub fn index_of(msg: &[u8]) -> u64 {
    u64::from_le_bytes(msg[0..8].try_into().expect("8 bytes"))
}

/// Checks that `msg` is the message for `expected` of `len` bytes; `stamped`
/// says whether word 1 is a timestamp (not checked) rather than pattern.
#[inline]
pub fn check(msg: &[u8], expected: u64, len: usize, stamped: bool) -> Result<(), String> {
    if msg.len() == len && msg.len() >= MIN_LEN && quick_ok(msg, expected, stamped) {
        return Ok(());
    }
    Err(describe(msg, expected, len, stamped))
}

#[inline]
fn quick_ok(msg: &[u8], expected: u64, stamped: bool) -> bool {
    let x = mix(expected);
    let mut chunks = msg.chunks_exact(8);
    let mut bad = 0u64;
    for (j, c) in (&mut chunks).enumerate() {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let want = if j == 0 {
            expected
        } else {
            x.wrapping_add(j as u64)
        };
        let skip = stamped && j == 1;
        bad |= if skip { 0 } else { w ^ want };
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let want = x.wrapping_add((msg.len() / 8) as u64).to_le_bytes();
        if rest != &want[..rest.len()] {
            return false;
        }
    }
    bad == 0
}

#[cold]
fn describe(msg: &[u8], expected: u64, len: usize, stamped: bool) -> String {
    if msg.len() != len {
        return format!("message {expected}: {} bytes, expected {len}", msg.len());
    }
    if msg.len() < MIN_LEN {
        return format!(
            "message {expected}: {} bytes is below the minimum {MIN_LEN}",
            msg.len()
        );
    }
    let got = index_of(msg);
    if got != expected {
        return format!("out of sequence: got message {got}, expected {expected}");
    }
    let mut want = vec![0u8; len];
    fill(&mut want, expected);
    if stamped {
        want[8..16].copy_from_slice(&msg[8..16]);
    }
    let at = msg.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
    format!(
        "message {expected} is corrupt from byte {at}: got {:02x?}, expected {:02x?}",
        &msg[at..(at + 8).min(len)],
        &want[at..(at + 8).min(len)]
    )
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the machine.
#[inline]
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Spins until `CLOCK_MONOTONIC` reaches `deadline_ns`.
#[inline]
pub fn spin_until(deadline_ns: u64) {
    while now_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_check_round_trips() {
        for len in [16, 17, 23, 64, 1000, 1024, 4096] {
            for index in [0u64, 1, 2, 255, 256, 1 << 40] {
                let mut buf = vec![0u8; len];
                fill(&mut buf, index);
                assert_eq!(check(&buf, index, len, false), Ok(()));
                stamp(&mut buf, 12345);
                assert_eq!(timestamp(&buf), 12345);
                assert!(check(&buf, index, len, true).is_ok());
                assert!(check(&buf, index, len, false).is_err() || index == u64::MAX);
            }
        }
    }

    #[test]
    fn check_catches_damage() {
        let len = 100;
        let mut buf = vec![0u8; len];
        fill(&mut buf, 7);
        assert!(check(&buf, 8, len, false)
            .unwrap_err()
            .contains("out of sequence"));
        for at in [16, 50, 99] {
            let mut bad = buf.clone();
            bad[at] ^= 1;
            assert!(check(&bad, 7, len, true).unwrap_err().contains("corrupt"));
        }
        // A message torn between two indices.
        let mut other = vec![0u8; len];
        fill(&mut other, 263);
        let mut torn = buf.clone();
        torn[64..].copy_from_slice(&other[64..]);
        assert!(check(&torn, 7, len, false).is_err());
        assert!(check(&buf[..99], 7, len, false)
            .unwrap_err()
            .contains("bytes"));
    }

    #[test]
    fn uninit_and_init_fill_agree() {
        let mut a = vec![0u8; 77];
        fill(&mut a, 99);
        let mut b = vec![MaybeUninit::<u8>::uninit(); 77];
        fill_uninit(&mut b, 99);
        // SAFETY: fill_uninit wrote every byte.
        let b: Vec<u8> = b.into_iter().map(|x| unsafe { x.assume_init() }).collect();
        assert_eq!(a, b);
    }
}
