//! An async `Stream` of events, for tokio users (feature `tokio`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{Consumer, ConsumerError, Owned};

/// An item of an [`EventStream`].
pub type OwnedItem = Owned;

/// The events of a [`Consumer`] as a `futures_core::Stream`.
///
/// A dedicated thread reads the ring (spinning briefly, then sleeping on the
/// futex) and hands owned items to the stream through a bounded channel: if
/// the async side falls behind, that thread waits, the consumer falls behind
/// in the ring, and the stream reports the gap as [`Owned::Lagged`]. The
/// producer is never slowed. Dropping the stream stops the thread.
pub struct EventStream {
    rx: mpsc::Receiver<Result<OwnedItem, ConsumerError>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Consumer {
    /// Turns the consumer into an async stream with a channel of `buffer` items.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use slipstream_consumer::Consumer;
    /// let mut events = Consumer::builder("node-events").name("async-indexer").open()?.into_stream(1024);
    /// while let Some(item) = std::future::poll_fn(|cx| {
    ///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut events), cx)
    /// }).await {
    ///     println!("{:?}", item?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn into_stream(mut self, buffer: usize) -> EventStream {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let thread = std::thread::Builder::new()
            .name("slipstream-stream".into())
            .spawn(move || loop {
                let item = match self.next(Duration::from_millis(100)) {
                    Ok(None) => {
                        if tx.is_closed() {
                            return;
                        }
                        continue;
                    }
                    Ok(Some(item)) => Ok(Owned::from_item(&item)),
                    Err(e) => Err(e),
                };
                if tx.blocking_send(item).is_err() {
                    return;
                }
            })
            .expect("spawn the stream thread");
        EventStream {
            rx,
            thread: Some(thread),
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<OwnedItem, ConsumerError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.rx.close();
        // Drain so that a thread blocked in send sees the channel closed.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
