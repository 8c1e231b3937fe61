//! Async streams of a consumer's events or blocks, for tokio users (feature `tokio`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{BlockItem, Consumer, ConsumerError, OwnedItem};

/// How long the reading thread waits for an item before it looks at the
/// stream's commit requests and whether the stream is gone.
const POLL: Duration = Duration::from_millis(20);

/// A cursor, and what the stream asked the reading thread to store.
type Cursor = (u64, u64);

/// What both streams share: the channel from the reading thread, and the
/// commits the application asked for.
struct Inner<T> {
    rx: mpsc::Receiver<(Result<T, ConsumerError>, Cursor)>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The cursor the reading thread is to store next.
    request: Arc<Mutex<Option<Cursor>>>,
    /// The consumer's commits were automatic.
    auto: bool,
    /// The cursor after the last item handed to the application.
    received: Option<Cursor>,
    /// The last cursor requested.
    requested: Option<Cursor>,
}

impl<T: Send + 'static> Inner<T> {
    fn spawn(
        mut consumer: Consumer,
        buffer: usize,
        mut read: impl FnMut(&mut Consumer) -> Result<Option<T>, ConsumerError> + Send + 'static,
    ) -> Inner<T> {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let request: Arc<Mutex<Option<Cursor>>> = Arc::default();
        let auto = consumer.auto_commit;
        // The thread reads ahead of the application: it must never store
        // what it read, only what the application acknowledged.
        consumer.auto_commit = false;
        let requests = request.clone();
        let thread = std::thread::Builder::new()
            .name("slipstream-stream".into())
            .spawn(move || {
                let apply = |consumer: &mut Consumer| {
                    let asked = requests.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(cursor) = asked {
                        consumer.store(cursor);
                    }
                };
                loop {
                    apply(&mut consumer);
                    let item = match read(&mut consumer) {
                        Ok(None) => {
                            if tx.is_closed() {
                                break;
                            }
                            continue;
                        }
                        Ok(Some(item)) => Ok(item),
                        Err(e) => Err(e),
                    };
                    if tx.blocking_send((item, consumer.handed)).is_err() {
                        break;
                    }
                }
                apply(&mut consumer);
            })
            .expect("spawn the stream thread");
        Inner {
            rx,
            thread: Some(thread),
            request,
            auto,
            received: None,
            requested: None,
        }
    }

    fn ask(&mut self, cursor: Option<Cursor>) {
        if cursor.is_some() && cursor != self.requested {
            self.requested = cursor;
            *self.request.lock().unwrap_or_else(|e| e.into_inner()) = cursor;
        }
    }

    fn commit(&mut self) {
        self.ask(self.received);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, ConsumerError>>> {
        if self.auto {
            // Asking for the next item: the application is done with the last one.
            self.ask(self.received);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some((item, cursor))) => {
                self.received = Some(cursor);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        self.rx.close();
        // Drain so that a thread blocked in send sees the channel closed.
        while self.rx.try_recv().is_ok() {}
        // The thread stores the last cursor asked for (never the item in
        // flight: that was not acknowledged) before it exits.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The events of a [`Consumer`] as a `futures_core::Stream`.
///
/// A dedicated thread reads the ring (spinning briefly, then sleeping on the
/// futex) and hands owned items to the stream through a bounded channel: if
/// the async side falls behind, that thread waits, the consumer falls behind
/// in the ring, and the stream reports the gap as [`OwnedItem::Lagged`]. The
/// producer never waits for it. Dropping the stream stops the thread.
///
/// Cursors: the thread reads ahead, but stores only what the application
/// acknowledged. With automatic commits, an item is acknowledged when the
/// next one is polled for; with `auto_commit(false)`, by
/// [`commit`](EventStream::commit), which acknowledges every item received.
/// The thread stores the acknowledged cursor within about 20 ms (and before
/// the stream's drop returns).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-event-stream-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{Consumer, OwnedItem};
/// use std::pin::Pin;
/// let mut events = Consumer::builder(&path).open()?.into_stream(16);
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let next = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut events), cx));
/// assert!(matches!(rt.block_on(next), Some(Ok(OwnedItem::Event(ev))) if ev.seq == 1));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct EventStream {
    inner: Inner<OwnedItem>,
}

/// The blocks of a [`Consumer`] as a `futures_core::Stream` of
/// [`BlockItem`]s: [`Consumer::next_block`], asynchronously.
///
/// Works as [`EventStream`] does; the cursor it stores is always a block
/// boundary (after the last block acknowledged).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-block-stream-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// use slipstream_consumer::{BlockItem, Consumer};
/// use std::pin::Pin;
/// let mut blocks = Consumer::builder(&path).open()?.into_block_stream(4);
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let next = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut blocks), cx));
/// assert!(matches!(rt.block_on(next), Some(Ok(BlockItem::Block(b))) if b.height == 7));
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct BlockStream {
    inner: Inner<BlockItem>,
}

impl EventStream {
    /// Acknowledges every item received from the stream: the reading thread
    /// stores the cursor after them (a named consumer resumes there).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-event-stream-commit-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut events = slipstream_consumer::Consumer::builder(&path).name("async").open()?.into_stream(16);
    /// // ... after processing what was received, durably:
    /// events.commit();
    /// # drop(events);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(&mut self) {
        self.inner.commit();
    }
}

impl BlockStream {
    /// Acknowledges every block (and report) received from the stream: the
    /// reading thread stores the cursor after the last of them.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("doc-block-stream-commit-{}", std::process::id()));
    /// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
    /// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
    /// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
    /// let mut blocks = slipstream_consumer::Consumer::builder(&path).name("async").open()?.into_block_stream(4);
    /// blocks.commit();
    /// # drop(blocks);
    /// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(&mut self) {
        self.inner.commit();
    }
}

impl Consumer {
    /// Turns the consumer into an async stream of events with a channel of
    /// `buffer` items.
    ///
    /// (Not run as a doctest: it reads for ever, as a consumer does.)
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use slipstream_consumer::{Consumer, OwnedItem};
    /// let mut events = Consumer::builder("node-events")
    ///     .name("async-indexer")
    ///     .auto_commit(false)
    ///     .open()?
    ///     .into_stream(1024);
    /// while let Some(item) = std::future::poll_fn(|cx| {
    ///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut events), cx)
    /// }).await {
    ///     if let OwnedItem::Event(ev) = item? { println!("#{}", ev.seq); }
    ///     events.commit(); // once what it did is durable
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn into_stream(self, buffer: usize) -> EventStream {
        EventStream {
            inner: Inner::spawn(self, buffer, |c| {
                Ok(c.next(POLL)?.map(|item| OwnedItem::from_item(&item)))
            }),
        }
    }

    /// Turns the consumer into an async stream of blocks
    /// ([`next_block`](Consumer::next_block)) with a channel of `buffer` items.
    ///
    /// (Not run as a doctest: it reads for ever, as a consumer does.)
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use slipstream_consumer::{BlockItem, Consumer};
    /// let mut blocks = Consumer::builder("node-events").name("async-blocks").open()?.into_block_stream(16);
    /// while let Some(item) = std::future::poll_fn(|cx| {
    ///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut blocks), cx)
    /// }).await {
    ///     if let BlockItem::Block(b) = item? { println!("block {}", b.height); }
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn into_block_stream(self, buffer: usize) -> BlockStream {
        BlockStream {
            inner: Inner::spawn(self, buffer, |c| c.next_block(POLL)),
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<OwnedItem, ConsumerError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll(cx)
    }
}

impl futures_core::Stream for BlockStream {
    type Item = Result<BlockItem, ConsumerError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll(cx)
    }
}
