//! The waker thread: wakes sleeping consumers off the finalize thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the waker thread of [`Wake::EveryEvent`](crate::Wake::EveryEvent) reads the wake file:
/// the longest a consumer that fell asleep waits for an event published
/// meanwhile (the next event after the flag is set wakes it sooner).
pub(crate) const EVERY_EVENT_WAKER_INTERVAL: Duration = Duration::from_micros(200);

/// A thread that wakes sleeping consumers on behalf of the producer.
pub(crate) struct WakerThread {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl WakerThread {
    pub(crate) fn spawn(mut waker: slipstream_ring::Waker, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("slipstream-waker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(interval);
                    waker.wake_if_needed();
                }
                waker.wake_if_needed();
            })
            .expect("spawn the waker thread");
        WakerThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for WakerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
