//! crossbeam-channel between two threads of this process: the in-process
//! reference.
//!
//! Messages are fixed-size byte arrays (`[u8; N]`, moved by value through a
//! bounded channel, so one copy in and one copy out, like a socket) for the
//! usual sizes, and `Box<[u8]>` (one allocation per message) for any other
//! size; [`message_kind`] says which.

use crate::common::{
    send_loop, LatRecorder, LatRun, LatSpec, Pacing, RecvMode, TputRun, TputSpec, Verifier,
    Watchdog,
};
use crate::payload;
use anyhow::{anyhow, bail, Result};
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::thread;

/// A message type the channel can carry.
trait Msg: Send + 'static {
    fn make(len: usize) -> Self;
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
}

impl<const N: usize> Msg for [u8; N] {
    #[inline]
    fn make(_len: usize) -> Self {
        [0; N]
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        self
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Msg for Box<[u8]> {
    fn make(len: usize) -> Self {
        vec![0; len].into_boxed_slice()
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// Calls `$f::<M>` with `M` the message type for `$size`.
macro_rules! with_msg {
    ($size:expr, $f:ident ( $($arg:expr),* )) => {
        match $size {
            16 => $f::<[u8; 16]>($($arg),*),
            32 => $f::<[u8; 32]>($($arg),*),
            64 => $f::<[u8; 64]>($($arg),*),
            128 => $f::<[u8; 128]>($($arg),*),
            256 => $f::<[u8; 256]>($($arg),*),
            512 => $f::<[u8; 512]>($($arg),*),
            1024 => $f::<[u8; 1024]>($($arg),*),
            2048 => $f::<[u8; 2048]>($($arg),*),
            4096 => $f::<[u8; 4096]>($($arg),*),
            8192 => $f::<[u8; 8192]>($($arg),*),
            16384 => $f::<[u8; 16384]>($($arg),*),
            _ => $f::<Box<[u8]>>($($arg),*),
        }
    };
}

/// How messages of `size` bytes travel: by value, or boxed.
pub fn message_kind(size: usize) -> &'static str {
    if size.is_power_of_two() && (16..=16384).contains(&size) {
        "[u8; N] by value"
    } else {
        "Box<[u8]>"
    }
}

/// Channel capacity: about 4 MiB of messages, within 64..=65536.
fn capacity(size: usize) -> usize {
    ((4 << 20) / size.max(1)).clamp(64, 65536)
}

/// Throughput run.
pub fn throughput(spec: &TputSpec) -> Result<TputRun> {
    with_msg!(spec.size, tput(spec))
}

/// Latency run.
pub fn latency(spec: &LatSpec) -> Result<LatRun> {
    with_msg!(spec.size, lat(spec))
}

/// Starts the sender thread, which waits for a message on `go` first.
fn sender<M: Msg>(
    size: usize,
    count: u64,
    pacing: Pacing,
    cpu: Option<usize>,
) -> (Sender<()>, Receiver<M>, thread::JoinHandle<Result<u64>>) {
    let (go_tx, go_rx) = bounded::<()>(1);
    let (tx, rx) = bounded::<M>(capacity(size));
    let h = thread::Builder::new()
        .name("crossbeam-sender".into())
        .spawn(move || -> Result<u64> {
            if let Some(cpu) = cpu {
                crate::pin::pin_current(cpu)?;
            }
            go_rx.recv().map_err(|_| anyhow!("no go"))?;
            let latency = matches!(pacing, Pacing::Interval { .. });
            send_loop(count, pacing, |i| {
                let mut m = M::make(size);
                payload::fill(m.bytes_mut(), i);
                if latency {
                    payload::stamp(m.bytes_mut(), payload::now_ns());
                }
                tx.send(m).map_err(|_| anyhow!("receiver gone"))
            })
        })
        .expect("spawning a thread");
    (go_tx, rx, h)
}

fn join(h: thread::JoinHandle<Result<u64>>) -> Result<u64> {
    match h.join() {
        Ok(r) => r,
        Err(_) => bail!("the crossbeam sender thread panicked"),
    }
}

fn tput<M: Msg>(spec: &TputSpec) -> Result<TputRun> {
    let pacing = if spec.rate > 0.0 {
        Pacing::Rate(spec.rate)
    } else {
        Pacing::Flat
    };
    let (go, rx, h) = sender::<M>(spec.size, spec.count, pacing, None);
    let mut v = Verifier::new(spec.size);
    let t0 = payload::now_ns();
    go.send(())
        .map_err(|_| anyhow!("the sender thread is gone"))?;
    let res = (|| -> Result<()> {
        // Busy-poll, like the Slipstream and iceoryx2 receivers: with `recv`,
        // a receiver that catches up parks, and the sender then pays a futex
        // wake, which would make the reference slower than it can be.
        let mut dog = Watchdog::new(spec.timeout, "crossbeam throughput");
        while v.next < spec.count {
            match rx.try_recv() {
                Ok(m) => v.take(m.bytes())?,
                Err(TryRecvError::Empty) => dog.idle(|| Ok(()))?,
                Err(TryRecvError::Disconnected) => bail!("the sender stopped at {}", v.next),
            }
        }
        Ok(())
    })();
    let elapsed_ns = payload::now_ns() - t0;
    drop(rx); // unblocks the sender if we stopped early
    let sender_ns = join(h);
    res?;
    Ok(v.into_run(elapsed_ns, sender_ns?))
}

fn lat<M: Msg>(spec: &LatSpec) -> Result<LatRun> {
    let (go, rx, h) = sender::<M>(spec.size, spec.total(), spec.pacing(), spec.sender_cpu);
    let mut rec = LatRecorder::new(spec);
    let mut dog = Watchdog::new(spec.timeout, "crossbeam latency");
    go.send(())
        .map_err(|_| anyhow!("the sender thread is gone"))?;
    let res = (|| -> Result<()> {
        while rec.next < spec.total() {
            let m = match spec.mode {
                RecvMode::Sleep => rx
                    .recv()
                    .map_err(|_| anyhow!("the sender stopped at {}", rec.next))?,
                RecvMode::Busy => match rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => {
                        dog.idle(|| Ok(()))?;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => {
                        bail!("the sender stopped at {}", rec.next)
                    }
                },
            };
            rec.take(m.bytes(), payload::now_ns())?;
        }
        Ok(())
    })();
    drop(rx);
    let sent = join(h);
    res?;
    sent?;
    Ok(rec.finish())
}
