//! # slipstream-readiness
//!
//! A file descriptor that becomes readable when a [`Consumer`] may have
//! something to return, for callers that wait in their own event loop
//! (`poll`, `epoll`, `select`, asyncio) instead of in [`Consumer::next`].
//! The C and Python bindings share it.
//!
//! How it works: an `eventfd`, and a helper thread with its own unnamed
//! consumer of the same ring (a watcher that receives no kinds, so it copies
//! records only to skip them, and only while armed). [`Readiness::arm`] tells
//! it the sequence number the real consumer will read next; the helper then
//! sleeps on the ring's futex like any consumer and signals the eventfd as
//! soon as the ring holds a sequence number at or past that one, or the
//! producer died, closed or restarted. It then waits to be armed again.
//!
//! Semantics for the caller (level-triggered, possibly spurious):
//! - the fd is readable when the consumer *may* have an item;
//! - when it is, read with a zero timeout until the consumer says it is idle,
//!   then [`arm`](Readiness::arm) again (the bindings do this for you on every
//!   idle return): arming clears the fd first, and no item published before
//!   or after arming is missed;
//! - a producer change is signalled at least 110 ms after arming (past the
//!   consumer's 100 ms liveness interval), so that the consumer's next idle
//!   check sees it too.
//!
//! ```
//! # use slipstream_producer::{Producer, ProducerOptions};
//! # let path = std::env::temp_dir().join(format!("readiness-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! use slipstream_consumer::{Consumer, Start};
//! use slipstream_readiness::Readiness;
//! use std::os::fd::AsRawFd;
//! let mut producer = Producer::open(&path, ProducerOptions::default())?;
//! let consumer = Consumer::builder(&path).start(Start::End).open()?;
//! let ready = Readiness::new(&consumer)?;
//! ready.arm(consumer.next_seq());
//! assert!(!ready.wait(std::time::Duration::from_millis(10)));
//! producer.begin_block(1)?;
//! producer.commit_block()?;
//! assert!(ready.wait(std::time::Duration::from_secs(5)));
//! # let _ = ready.fd().as_raw_fd();
//! # drop(producer); let _ = std::fs::remove_file(&path);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use slipstream_consumer::{Consumer, ConsumerError, Item, KindSet, Start};

/// How long the helper sleeps on the futex before it looks at its orders again
/// (bounds the time [`Readiness`]'s drop waits for the thread).
const NAP: Duration = Duration::from_millis(50);
/// How long after arming a producer change is signalled: past the consumer's
/// default liveness interval (100 ms), so that its next idle call checks too.
const PRODUCER_DELAY: Duration = Duration::from_millis(110);

#[derive(Debug, Default)]
struct Orders {
    /// The sequence number the consumer reads next, while armed.
    armed: Option<u64>,
    /// Bumped by every `arm`, so that the helper never disarms a newer order.
    generation: u64,
    quit: bool,
}

#[derive(Debug)]
struct Shared {
    orders: Mutex<Orders>,
    cond: Condvar,
    fd: OwnedFd,
}

/// A pollable fd that says when a consumer may have an item; see the
/// [crate documentation](crate).
#[derive(Debug)]
pub struct Readiness {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Readiness {
    /// Starts watching the ring of `consumer` (not armed yet: call [`arm`](Self::arm)).
    ///
    /// # Errors
    /// The eventfd or the thread could not be created, or the watcher could not
    /// attach to the ring.
    pub fn new(consumer: &Consumer) -> std::io::Result<Readiness> {
        let watcher = Consumer::builder(consumer.path())
            .start(Start::End)
            .kinds(KindSet::none())
            .spin(Duration::ZERO)
            .open()
            .map_err(|e: ConsumerError| std::io::Error::other(format!("readiness watcher: {e}")))?;
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let shared = Arc::new(Shared {
            orders: Mutex::new(Orders::default()),
            cond: Condvar::new(),
            fd,
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("slipstream-ready".into())
                .spawn(move || watch(watcher, &shared))?
        };
        Ok(Readiness {
            shared,
            thread: Some(thread),
        })
    }

    /// The eventfd: readable when the consumer may have an item. Owned by this
    /// value (closed when it drops); never read it yourself.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.shared.fd.as_fd()
    }

    /// Clears the fd and watches for a sequence number at or past `next_seq`
    /// (the consumer's [`next_seq`](Consumer::next_seq) when it came back idle).
    pub fn arm(&self, next_seq: u64) {
        let mut buf = [0u8; 8];
        // Non-blocking: EAGAIN when it was not signalled.
        let _ = rustix::io::read(&self.shared.fd, &mut buf);
        let mut orders = lock(&self.shared.orders);
        orders.armed = Some(next_seq);
        orders.generation = orders.generation.wrapping_add(1);
        self.shared.cond.notify_all();
    }

    /// Waits up to `timeout` for the fd to become readable (for tests and for
    /// callers without an event loop); does not clear it.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut fds = [PollFd::new(&self.shared.fd, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: timeout.subsec_nanos() as i64,
        };
        matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        lock(&self.shared.orders).quit = true;
        self.shared.cond.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(m: &Mutex<Orders>) -> std::sync::MutexGuard<'_, Orders> {
    // A panic while holding this lock cannot leave the orders inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn signal(fd: &OwnedFd) {
    // Adds 1 to the counter; it cannot overflow in practice (2^64 - 2 signals).
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// The helper thread: waits for orders, then for the ring to pass them.
fn watch(mut watcher: Consumer, shared: &Shared) {
    loop {
        let (mut target, generation) = {
            let mut orders = lock(&shared.orders);
            loop {
                if orders.quit {
                    return;
                }
                if let Some(n) = orders.armed {
                    break (n, orders.generation);
                }
                orders = shared
                    .cond
                    .wait(orders)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let armed_at = Instant::now();
        let mut generation = generation;
        // Records published before this seek have sequence numbers below
        // `next_seq`, so comparing with `target` misses none of them.
        let mut fire = watcher.seek(Start::End).is_err();
        let mut producer_news = false;
        while !fire {
            if watcher.next_seq() > target {
                fire = true;
                break;
            }
            if producer_news && armed_at.elapsed() >= PRODUCER_DELAY {
                fire = true;
                break;
            }
            {
                let orders = lock(&shared.orders);
                if orders.quit {
                    return;
                }
                match orders.armed {
                    Some(n) if orders.generation != generation => {
                        target = n;
                        generation = orders.generation;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            match watcher.next(NAP) {
                Ok(Some(Item::Producer(_))) => producer_news = true,
                Ok(Some(Item::Event(_) | Item::Lagged(_))) | Ok(None) => {}
                // The consumer will meet the same error and report it.
                Err(_) => fire = true,
            }
        }
        if fire {
            signal(&shared.fd);
        }
        let mut orders = lock(&shared.orders);
        if orders.generation == generation {
            orders.armed = None;
        }
    }
}
