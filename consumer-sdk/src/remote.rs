//! Remote consumers (feature `nats`): read the stream that `slipstream-bridge`
//! feeds into NATS JetStream, with the items of a ring [`Consumer`](crate::Consumer).
//!
//! A [`RemoteConsumer`] yields [`Item`]s: events (decoded from the bytes the
//! bridge published, with the ring's sequence numbers), [`Item::Lagged`] with
//! the exact range for every gap (a gap message the bridge published because
//! the ring lapped it, or events the stream's retention removed before this
//! consumer read them), and [`Item::Producer`] for the node's producer
//! changes the bridge saw. [`RemoteConsumer::next_block`] returns whole
//! committed blocks as [`BlockItem`]s.
//!
//! It starts at a ring sequence number, a block height, the oldest event the
//! stream retains, the newest, or the end ([`Start`]). A consumer with a
//! [`name`](RemoteBuilder::name) is a durable JetStream consumer of that name
//! (acknowledgement policy `all`): restarted, it resumes after the last
//! message it acknowledged.
//!
//! **Delivery contract**: the ring consumer's (crate docs, "Delivery
//! contract"), with acknowledgements for stored cursors:
//!
//! - Gaps come as [`Missed`] with the heights and partial flags: for a gap
//!   message, those the bridge's ring consumer reported (headers
//!   `Slipstream-Gap-First-Height`, `-Last-Height`, `-First-Partial`,
//!   `-Last-Partial`, see [`wire`]); for events the stream's retention
//!   removed before this consumer read them, worked out as the ring consumer
//!   does, from the messages on either side. A stream written by a bridge
//!   that sent no heights (or a gap the bridge could not place: `not-retained`
//!   at its start, `undecodable`) reports them unknown: `None`, not partial.
//! - With [`next`](RemoteConsumer::next) / [`try_next`](RemoteConsumer::try_next):
//!   only what the application moved past is acknowledged automatically
//!   (when it asks for the next item; lazily, every 512 items or second),
//!   and on drop the same: the item in flight is never acknowledged by
//!   either, so it comes again after a restart.
//!   [`commit`](RemoteConsumer::commit) acknowledges everything handed out,
//!   the item in flight included.
//! - With [`next_block`](RemoteConsumer::next_block): acknowledgements fall
//!   only at block boundaries (after the commit marker of the last block or
//!   report handed out), so a restart resumes at a block's begin marker.
//! - Not as the ring consumer: acknowledgements are sent lazily, so a process
//!   killed (rather than dropped) comes back at an older cursor, at most ~512
//!   items or a second behind (at least once, still); and a restart inside a
//!   block (a cursor that `next` left there) makes `next_block` report the
//!   rest of that block as missed, where the ring consumer would go back to
//!   its begin marker (within one process, `next_block` after `next` does go
//!   back, as the ring consumer's).
//! - Not yet kept: a named consumer that resumes after the stream's
//!   retention (`--max-age`, `--max-bytes`, `--max-msgs`) removed messages it
//!   had not acknowledged is not told: JetStream delivers from the oldest
//!   message left, and the consumer does not know the ring sequence its
//!   cursor stood at (the acknowledged message is gone too). Size retention
//!   above the longest time a consumer may be stopped. An unnamed consumer,
//!   or one that is running when retention removes messages ahead of it, is
//!   told (an [`Item::Lagged`] with the heights).
//!
//! Filters ([`RemoteBuilder::kinds`], [`program`](RemoteBuilder::program),
//! [`mapping`](RemoteBuilder::mapping)) are applied in the consumer, not on the
//! server: a JetStream 2.9 consumer takes one filter subject, and gap messages
//! must always arrive for lags to be exact. Subscribers that want server-side
//! filtering can subscribe to the subjects directly (see [`wire`]).
//!
//! Both payload formats are read: `binary` as it is, `json` (the lines of
//! `slipstream-tail --json`) turned back into the event's bytes.
//!
//! (Not run as a doctest: it needs a NATS server and a bridge.)
//!
//! ```no_run
//! use slipstream_consumer::remote::RemoteConsumer;
//! use slipstream_consumer::{Item, Start};
//! use std::time::Duration;
//! let mut c = RemoteConsumer::builder("nats://127.0.0.1:4222", "SLIPSTREAM")
//!     .name("explorer")
//!     .start(Start::Oldest)
//!     .open()?;
//! while let Some(item) = c.next(Duration::from_secs(5))? {
//!     match item {
//!         Item::Event(ev) => println!("#{} {:?}", ev.seq, ev.event),
//!         Item::Lagged(missed) => eprintln!("{missed}"),
//!         Item::Producer(change) => eprintln!("producer: {change:?}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[path = "remote_wire.rs"]
pub mod wire;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, consumer::DeliverPolicy};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use slipstream_event::{EventKind, EventRef, KindSet};

use crate::block::{Assembler, Boundary};
use crate::delivery::{self, Head, Here};
use crate::{BlockItem, Event, Filter, Item, Missed, ProducerChange, Start};

use wire::*;

/// An error from a remote consumer.
///
/// ```
/// use slipstream_consumer::remote::{RemoteConsumer, RemoteError};
/// let err = RemoteConsumer::builder("nats://localhost:4222", "not.a.stream").open().unwrap_err();
/// assert!(matches!(err, RemoteError::Name(_)), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The stream name is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The URL could not be parsed.
    #[error("invalid NATS URL {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The server could not be reached, or refused the credentials.
    #[error("cannot connect to NATS at {url}: {why}")]
    Connect {
        /// The URL (without its password).
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The stream does not exist.
    #[error("JetStream stream {0:?} does not exist (is slipstream-bridge feeding it?)")]
    NoStream(String),
    /// A JetStream request failed.
    #[error("JetStream: {what}: {why}")]
    JetStream {
        /// What was asked.
        what: String,
        /// The server's or client's answer.
        why: String,
    },
    /// The start sequence is older than the oldest the stream retains.
    #[error("sequence {requested} is no longer in the stream (oldest retained is {oldest})")]
    NotRetained {
        /// The sequence asked for.
        requested: u64,
        /// The oldest ring sequence the stream still holds.
        oldest: u64,
    },
    /// The start height is older than the oldest block the stream retains.
    #[error("block height {requested} is no longer in the stream (oldest retained event is of height {oldest})")]
    HeightNotRetained {
        /// The height asked for.
        requested: u64,
        /// The height of the oldest event retained.
        oldest: u64,
    },
    /// A message in the stream was not published by a bridge, or is damaged.
    #[error("stream message #{stream_seq} is not a Slipstream message: {why}")]
    Foreign {
        /// Its JetStream sequence number.
        stream_seq: u64,
        /// What is wrong with it.
        why: String,
    },
}

fn js_err(what: impl Into<String>, e: impl std::fmt::Display) -> RemoteError {
    RemoteError::JetStream {
        what: what.into(),
        why: e.to_string(),
    }
}

/// A URL with its password replaced by `***`, for messages.
///
/// ```
/// use slipstream_consumer::remote::redact_url;
/// assert_eq!(redact_url("nats://indexer:s3cret@nats.internal:4222"), "nats://indexer:***@nats.internal:4222");
/// assert_eq!(redact_url("nats://localhost:4222"), "nats://localhost:4222");
/// ```
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => format!("{}***{}", &url[..s + 3], &url[at..]),
            }
        }
        _ => url.to_string(),
    }
}

/// Connects to NATS, with errors that say what was wrong (bad URL, refused
/// credentials, nothing listening).
///
/// # Errors
/// [`RemoteError::Url`] or [`RemoteError::Connect`].
///
/// ```
/// use slipstream_consumer::remote::{connect, RemoteError};
/// use std::time::Duration;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let err = rt.block_on(connect("nats://:bad port", Duration::from_secs(1))).unwrap_err();
/// assert!(matches!(err, RemoteError::Url { .. }), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn connect(url: &str, timeout: Duration) -> Result<async_nats::Client, RemoteError> {
    let addrs: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(|u| {
            u.trim()
                .parse::<async_nats::ServerAddr>()
                .map_err(|e| RemoteError::Url {
                    url: redact_url(u),
                    why: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let shown = redact_url(url);
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .request_timeout(Some(Duration::from_secs(5)));
    // Credentials in the URL: `user:password@` or a token as `token@`.
    if let Some(addr) = addrs.iter().find(|a| a.username().is_some()) {
        let user = addr.username().unwrap_or_default().to_string();
        options = match addr.password() {
            Some(pass) => options.user_and_password(user, pass.to_string()),
            None => options.token(user),
        };
    }
    match options.connect(addrs.as_slice()).await {
        Ok(client) => Ok(client),
        Err(e) => {
            let why = match e.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation => {
                    format!("authorization violation: the server refused the credentials ({e})")
                }
                async_nats::ConnectErrorKind::Authentication => {
                    format!("authentication failed ({e})")
                }
                async_nats::ConnectErrorKind::TimedOut => {
                    format!("timed out after {timeout:?} ({e})")
                }
                _ => e.to_string(),
            };
            Err(RemoteError::Connect { url: shown, why })
        }
    }
}

/// What a message of the stream is, read from its headers.
///
/// ```
/// use slipstream_consumer::remote::{parse_headers, wire::*, Header};
/// let mut h = async_nats::HeaderMap::new();
/// for (k, v) in [(H_RING, "00000000000000ab"), (H_MESSAGE, "producer"), (H_NEXT_SEQ, "10"), (H_PRODUCER, "closed"), (H_EPOCH, "2")] {
///     h.insert(k, v);
/// }
/// assert!(matches!(parse_headers(Some(&h))?.header, Header::Producer(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// An event.
    Event {
        /// Its ring sequence number.
        seq: u64,
        /// Its record kind.
        kind: u16,
        /// Its block height.
        height: u64,
        /// Its payload format.
        format: Format,
    },
    /// Events the bridge could not read, with the heights of their blocks
    /// when the bridge's headers carry them (a stream written by an older
    /// bridge has none: `None`, not partial).
    Gap(Missed),
    /// A producer change.
    Producer(ProducerChange),
}

/// The parsed headers of a bridge's message.
///
/// ```
/// use slipstream_consumer::remote::{parse_headers, wire::*};
/// let mut h = async_nats::HeaderMap::new();
/// for (k, v) in [(H_RING, "00000000000000ab"), (H_MESSAGE, "event"), (H_NEXT_SEQ, "8"), (H_SEQ, "7"),
///                (H_KIND_CODE, "4"), (H_HEIGHT, "3"), (H_FORMAT, "binary")] {
///     h.insert(k, v);
/// }
/// let parsed = parse_headers(Some(&h))?;
/// assert_eq!((parsed.ring_id, parsed.next_seq), (0xab, 8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The ring's identity.
    pub ring_id: u64,
    /// The ring sequence that follows this message.
    pub next_seq: u64,
    /// What it is.
    pub header: Header,
}

impl Parsed {
    /// The first ring sequence this message stands for.
    ///
    /// ```
    /// use slipstream_consumer::remote::{parse_headers, wire::*};
    /// let mut h = async_nats::HeaderMap::new();
    /// for (k, v) in [(H_RING, "00000000000000ab"), (H_MESSAGE, "gap"), (H_NEXT_SEQ, "10"), (H_GAP_FIRST, "5"), (H_GAP_LAST, "9")] {
    ///     h.insert(k, v);
    /// }
    /// assert_eq!(parse_headers(Some(&h))?.first_seq(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first_seq(&self) -> u64 {
        match self.header {
            Header::Event { seq, .. } => seq,
            Header::Gap(m) => m.first_missed,
            Header::Producer(_) => self.next_seq,
        }
    }
}

/// Headers that are not a bridge's (see [`parse_headers`]).
///
/// ```
/// use slipstream_consumer::remote::{parse_headers, wire::H_RING, HeaderError};
/// let h = async_nats::HeaderMap::new();
/// assert_eq!(parse_headers(Some(&h)).unwrap_err(), HeaderError::Missing(H_RING));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The message has no headers.
    #[error("it has no headers")]
    NoHeaders,
    /// A header the message's type needs is missing.
    #[error("header {0} is missing")]
    Missing(&'static str),
    /// A header's value is not of its type.
    #[error("header {header} is not {expected}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What its value must be.
        expected: &'static str,
    },
    /// A header holds a value no bridge writes.
    #[error("header {header} has the unknown value {value:?}")]
    Unknown {
        /// The header.
        header: &'static str,
        /// Its value.
        value: String,
    },
    /// A gap whose last sequence number is before its first.
    #[error("a gap whose last sequence is before its first")]
    GapBackwards,
}

/// Reads a bridge's headers.
///
/// # Errors
///
/// [`HeaderError`] naming the header that is missing or malformed:
/// [`NoHeaders`](HeaderError::NoHeaders), [`Missing`](HeaderError::Missing),
/// [`Malformed`](HeaderError::Malformed), [`Unknown`](HeaderError::Unknown),
/// [`GapBackwards`](HeaderError::GapBackwards).
///
/// ```
/// use slipstream_consumer::remote::{parse_headers, wire::*, Header, HeaderError};
/// let mut h = async_nats::HeaderMap::new();
/// h.insert(H_RING, "00000000000000ab");
/// h.insert(H_MESSAGE, "gap");
/// h.insert(H_NEXT_SEQ, "10");
/// h.insert(H_GAP_FIRST, "5");
/// h.insert(H_GAP_LAST, "9");
/// let parsed = parse_headers(Some(&h))?;
/// assert_eq!((parsed.ring_id, parsed.next_seq, parsed.first_seq()), (0xab, 10, 5));
/// assert!(matches!(parsed.header, Header::Gap(m) if m.count() == 5));
/// assert_eq!(parse_headers(None).unwrap_err(), HeaderError::NoHeaders);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_headers(h: Option<&HeaderMap>) -> Result<Parsed, HeaderError> {
    let h = h.ok_or(HeaderError::NoHeaders)?;
    let text = |name: &'static str| -> Result<&str, HeaderError> {
        h.get(name)
            .map(|v| v.as_str())
            .ok_or(HeaderError::Missing(name))
    };
    let malformed =
        |header: &'static str, expected: &'static str| HeaderError::Malformed { header, expected };
    let num = |name: &'static str| -> Result<u64, HeaderError> {
        text(name)?.parse().map_err(|_| malformed(name, "a number"))
    };
    let ring_id = u64::from_str_radix(text(H_RING)?, 16).map_err(|_| malformed(H_RING, "hex"))?;
    let next_seq = num(H_NEXT_SEQ)?;
    let header = match text(H_MESSAGE)? {
        "event" => Header::Event {
            seq: num(H_SEQ)?,
            kind: u16::try_from(num(H_KIND_CODE)?)
                .map_err(|_| malformed(H_KIND_CODE, "a 16-bit record kind"))?,
            height: num(H_HEIGHT)?,
            format: text(H_FORMAT)?.parse().map_err(|e: ParseFormatError| {
                HeaderError::Unknown {
                    header: H_FORMAT,
                    value: e.0,
                }
            })?,
        },
        "gap" => {
            let (first, last) = (num(H_GAP_FIRST)?, num(H_GAP_LAST)?);
            if last < first {
                return Err(HeaderError::GapBackwards);
            }
            let height = |name: &'static str| match h.get(name) {
                None => Ok(None),
                Some(_) => num(name).map(Some),
            };
            let flag = |name: &'static str| match h.get(name).map(|v| v.as_str()) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(malformed(name, "true or false")),
            };
            Header::Gap(Missed {
                first_missed: first,
                last_missed: last,
                first_height: height(H_GAP_FIRST_HEIGHT)?,
                last_height: height(H_GAP_LAST_HEIGHT)?,
                first_partial: flag(H_GAP_FIRST_PARTIAL)?,
                last_partial: flag(H_GAP_LAST_PARTIAL)?,
            })
        }
        "producer" => {
            let epoch = num(H_EPOCH)?;
            Header::Producer(match text(H_PRODUCER)? {
                "died" => ProducerChange::Died {
                    pid: num(H_PID)? as u32,
                    epoch,
                },
                "closed" => ProducerChange::Closed { epoch },
                "restarted" => ProducerChange::Restarted {
                    pid: num(H_PID)? as u32,
                    epoch,
                },
                other => {
                    return Err(HeaderError::Unknown {
                        header: H_PRODUCER,
                        value: other.to_owned(),
                    })
                }
            })
        }
        other => {
            return Err(HeaderError::Unknown {
                header: H_MESSAGE,
                value: other.to_owned(),
            })
        }
    };
    Ok(Parsed {
        ring_id,
        next_seq,
        header,
    })
}

/// Options for a [`RemoteConsumer`]; made by [`RemoteConsumer::builder`].
///
/// ```
/// use slipstream_consumer::remote::RemoteConsumer;
/// use slipstream_consumer::Start;
/// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM")
///     .name("indexer")
///     .start(Start::Height(1_000));
/// # drop(builder);
/// ```
#[derive(Clone, Debug)]
pub struct RemoteBuilder {
    url: String,
    stream: String,
    name: Option<String>,
    start: Start,
    reset: bool,
    filter: Filter,
    connect_timeout: Duration,
}

impl RemoteBuilder {
    /// A durable cursor under this name (a durable JetStream consumer).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer");
    /// # drop(builder);
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Where to start (default [`Start::Oldest`]); a named consumer that exists resumes instead.
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM")
    ///     .start(slipstream_consumer::Start::Oldest);
    /// # drop(builder);
    /// ```
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Delete a named consumer's cursor and start at [`start`](Self::start).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").reset(true);
    /// # drop(builder);
    /// ```
    pub fn reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    /// Receive only these kinds.
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// use slipstream_consumer::{EventKind, KindSet};
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM")
    ///     .kinds(KindSet::none().with(EventKind::MappingUpdate));
    /// # drop(builder);
    /// ```
    pub fn kinds(mut self, kinds: KindSet) -> Self {
        self.filter.kinds = Some(kinds);
        self
    }

    /// Receive only mapping events of this program (repeatable).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").program("credits.aleo");
    /// # drop(builder);
    /// ```
    pub fn program(mut self, program: impl AsRef<[u8]>) -> Self {
        self.filter.programs.push(program.as_ref().to_vec());
        self
    }

    /// Receive only mapping events of this mapping (repeatable).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").mapping("account");
    /// # drop(builder);
    /// ```
    pub fn mapping(mut self, mapping: impl AsRef<[u8]>) -> Self {
        self.filter.mappings.push(mapping.as_ref().to_vec());
        self
    }

    /// How long connecting may take (default 5 s).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM")
    ///     .connect_timeout(std::time::Duration::from_secs(2));
    /// # drop(builder);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects and creates (or resumes) the JetStream consumer.
    ///
    /// # Errors
    /// A bad URL or stream name, an unreachable server, refused credentials,
    /// a missing stream, a start position the stream no longer holds.
    ///
    /// ```
    /// use slipstream_consumer::remote::{RemoteConsumer, RemoteError};
    /// // A stream name NATS would refuse is refused before connecting.
    /// let err = RemoteConsumer::builder("nats://localhost:4222", "two words").open().unwrap_err();
    /// assert!(matches!(err, RemoteError::Name(_)), "{err}");
    /// ```
    pub fn open(self) -> Result<RemoteConsumer, RemoteError> {
        check_stream_name(&self.stream)?;
        if let Some(name) = &self.name {
            check_stream_name(name).map_err(|_| RemoteError::JetStream {
                what: format!("consumer name {name:?}"),
                why: "not a valid consumer name (printable ASCII without '.', '*', '>', '/', '\\' or spaces)".into(),
            })?;
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("slipstream-remote")
            .enable_all()
            .build()
            .map_err(|e| js_err("start the client runtime", e))?;
        let (client, messages, wait_for_height, skip_below, pending) = rt.block_on(self.setup())?;
        Ok(RemoteConsumer {
            rt,
            client,
            stream: self.stream,
            durable: self.name,
            messages,
            filter: self.filter,
            next_seq: skip_below,
            wait_for_height,
            at: None,
            queue: VecDeque::new(),
            current: None,
            handed_ack: None,
            past_ack: None,
            unacked: 0,
            last_ack: Instant::now(),
            block: Assembler::default(),
            since_boundary: Vec::new(),
            block_mode: false,
            since_begin: Vec::new(),
            before_begin: None,
            pending,
            last_stream_seq: 0,
        })
    }

    async fn setup(
        &self,
    ) -> Result<(async_nats::Client, pull::Stream, Option<u64>, u64, u64), RemoteError> {
        let client = connect(&self.url, self.connect_timeout).await?;
        let js = jetstream::new(client.clone());
        let stream = js.get_stream(&self.stream).await.map_err(|e| {
            if e.to_string().contains("stream not found") {
                RemoteError::NoStream(self.stream.clone())
            } else {
                js_err(format!("look up stream {:?}", self.stream), e)
            }
        })?;
        if let (Some(name), true) = (&self.name, self.reset) {
            let _ = stream.delete_consumer(name).await;
        }
        let mut resume = None;
        if let Some(name) = &self.name {
            if let Ok(existing) = stream.get_consumer::<pull::Config>(name).await {
                // Resume right after the acknowledgement floor. The consumer is
                // made anew there: messages it had delivered but that were never
                // acknowledged would otherwise come again only after ack_wait.
                let info = existing.cached_info();
                let floor = info.ack_floor.stream_sequence;
                resume = Some(if floor > 0 {
                    DeliverPolicy::ByStartSequence {
                        start_sequence: floor + 1,
                    }
                } else {
                    info.config.deliver_policy
                });
                stream
                    .delete_consumer(name)
                    .await
                    .map_err(|e| js_err(format!("move consumer {name:?} to its cursor"), e))?;
            }
        }
        let (deliver, wait_for_height, skip_below) = match resume {
            Some(deliver) => (deliver, None, 0),
            None => self.deliver_policy(&stream).await?,
        };
        let durable = self.name.is_some();
        let config = pull::Config {
            durable_name: self.name.clone(),
            deliver_policy: deliver,
            ack_policy: if durable {
                AckPolicy::All
            } else {
                AckPolicy::None
            },
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            inactive_threshold: if durable {
                Duration::ZERO
            } else {
                Duration::from_secs(120)
            },
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(|e| js_err(format!("create a consumer on {:?}", self.stream), e))?;
        let pending = consumer.cached_info().num_pending;
        // Short pull requests with heartbeats: a request lost when the
        // connection drops (a server restart) is replaced within seconds, not
        // after the default 30 s expiry.
        let messages = consumer
            .stream()
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| js_err("pull messages", e))?;
        Ok((client, messages, wait_for_height, skip_below, pending))
    }

    /// The JetStream start, a height to wait for, and ring sequences to pass over.
    async fn deliver_policy(
        &self,
        stream: &jetstream::stream::Stream,
    ) -> Result<(DeliverPolicy, Option<u64>, u64), RemoteError> {
        Ok(match self.start {
            Start::Oldest => (DeliverPolicy::All, None, 0),
            Start::Newest => (DeliverPolicy::Last, None, 0),
            Start::End => (DeliverPolicy::New, None, 0),
            Start::Seq(n) => {
                let (first, last) = bounds(stream).await?;
                if first > last {
                    return Ok((DeliverPolicy::All, None, n));
                }
                let oldest = fetch(stream, first).await?;
                if oldest.first_seq() > n {
                    return Err(RemoteError::NotRetained {
                        requested: n,
                        oldest: oldest.first_seq(),
                    });
                }
                // The first message that covers n: its next sequence is past n.
                let at = search(stream, first, last, |p| p.next_seq > n).await?;
                (
                    DeliverPolicy::ByStartSequence {
                        start_sequence: at.max(1),
                    },
                    None,
                    n,
                )
            }
            Start::Height(h) => {
                let (first, last) = bounds(stream).await?;
                if first > last {
                    return Ok((DeliverPolicy::All, Some(h), 0));
                }
                let oldest = fetch(stream, first).await?;
                if let Header::Event { height, .. } = oldest.header {
                    if height > h {
                        return Err(RemoteError::HeightNotRetained {
                            requested: h,
                            oldest: height,
                        });
                    }
                }
                let at = search(stream, first, last, |p| match p.header {
                    Header::Event { height, .. } => height >= h,
                    _ => false,
                })
                .await?;
                (
                    DeliverPolicy::ByStartSequence {
                        start_sequence: at.max(1),
                    },
                    Some(h),
                    0,
                )
            }
        })
    }
}

/// The stream's first and last JetStream sequence numbers.
async fn bounds(stream: &jetstream::stream::Stream) -> Result<(u64, u64), RemoteError> {
    let info = stream
        .get_info()
        .await
        .map_err(|e| js_err("stream info", e))?;
    Ok((info.state.first_sequence, info.state.last_sequence))
}

async fn fetch(stream: &jetstream::stream::Stream, seq: u64) -> Result<Parsed, RemoteError> {
    let m = stream
        .get_raw_message(seq)
        .await
        .map_err(|e| js_err(format!("get message #{seq}"), e))?;
    parse_headers(Some(&m.headers)).map_err(|e| RemoteError::Foreign {
        stream_seq: seq,
        why: e.to_string(),
    })
}

/// The first JetStream sequence in `lo..=hi` whose message satisfies `pred`
/// (which must be monotonic along the stream; messages it says nothing of
/// count as not satisfying it), or `hi + 1`.
async fn search(
    stream: &jetstream::stream::Stream,
    mut lo: u64,
    mut hi: u64,
    pred: impl Fn(&Parsed) -> bool,
) -> Result<u64, RemoteError> {
    let end = hi + 1;
    let mut found = end;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        if pred(&fetch(stream, mid).await?) {
            found = mid;
            if mid == 0 {
                break;
            }
            hi = mid - 1;
        } else {
            lo = mid + 1;
        }
    }
    Ok(found)
}

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("{s:?} is not hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{s:?} is not hex"))
        })
        .collect()
}

/// The FORMAT.md bytes of an event from the JSON line `slipstream-tail --json`
/// prints (and `--format json` publishes; byte strings never cut).
fn json_to_payload(json: &[u8]) -> Result<Vec<u8>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let u = |k: &str| {
        v[k].as_u64()
            .ok_or_else(|| format!("field {k} is missing or not a number"))
    };
    let bytes = |k: &str| -> Result<Vec<u8>, String> {
        if v.get(format!("{k}_len")).is_some() {
            return Err(format!("field {k} was cut (published with a byte limit)"));
        }
        hex(v[k]
            .as_str()
            .ok_or_else(|| format!("field {k} is missing"))?)
    };
    let name = |k: &str| -> Result<Vec<u8>, String> {
        match v[k].as_str() {
            Some(text) => Ok(text.as_bytes().to_vec()),
            None => bytes(&format!("{k}_hex")),
        }
    };
    let kind = v["kind"].as_str().ok_or("field kind is missing")?;
    let height = u("block_height")?;
    let ordinal = u32::try_from(u("ordinal")?).map_err(|_| "ordinal out of range")?;
    let count = |v: &serde_json::Value| -> Result<u32, String> {
        match &v["event_count"] {
            serde_json::Value::Null => Ok(slipstream_event::UNKNOWN_COUNT),
            n => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| "event_count out of range".to_string()),
        }
    };
    let (program, mapping) = match kind {
        "mapping_update" | "mapping_removal" => (name("program_id")?, name("mapping_name")?),
        _ => (Vec::new(), Vec::new()),
    };
    let (key, removed_key, value, staker, validator, block);
    let ev = match kind {
        "mapping_update" => {
            key = bytes("key")?;
            value = bytes("value")?;
            EventRef::MappingUpdate {
                block_height: height,
                ordinal,
                program_id: &program,
                mapping_name: &mapping,
                key: &key,
                value: &value,
            }
        }
        "mapping_removal" => {
            removed_key = match v["key"].is_null() {
                true => None,
                false => Some(bytes("key")?),
            };
            EventRef::MappingRemoval {
                block_height: height,
                ordinal,
                program_id: &program,
                mapping_name: &mapping,
                key: removed_key.as_deref(),
            }
        }
        "staking_reward" => {
            staker = bytes("staker")?;
            validator = bytes("validator")?;
            EventRef::StakingReward {
                block_height: height,
                ordinal,
                staker: &staker,
                validator: &validator,
                reward: u("reward")?,
                new_stake: u("new_stake")?,
            }
        }
        "block" => {
            block = hex(v["block"].as_str().ok_or("field block is missing")?)?;
            if v["block_len"].as_u64() != Some(block.len() as u64) {
                return Err("field block was cut (published with a byte limit)".into());
            }
            EventRef::Block {
                block_height: height,
                ordinal,
                block: &block,
            }
        }
        "block_begin" => EventRef::BlockBegin {
            block_height: height,
            event_count: count(&v)?,
        },
        "block_commit" => EventRef::BlockCommit {
            block_height: height,
            event_count: count(&v)?,
        },
        other => return Err(format!("unknown kind {other:?}")),
    };
    let mut out = vec![0; ev.encoded_len()];
    ev.encode(&mut out);
    Ok(out)
}

/// An event received: what the consumer holds between two calls.
#[derive(Clone)]
struct Current {
    seq: u64,
    kind: u16,
    payload: bytes::Bytes,
}

/// A message taken from the stream, with the message to acknowledge once it
/// is handed out (or moved past).
type Entry = (Queued, Option<jetstream::Message>);

/// A consumer of a JetStream stream fed by `slipstream-bridge`; see the [module docs](self).
///
/// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
///
/// ```no_run
/// use slipstream_consumer::remote::RemoteConsumer;
/// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
/// while let Some(item) = c.next(std::time::Duration::from_secs(1))? {
///     if let slipstream_consumer::Item::Event(ev) = item { println!("#{}", ev.seq); }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RemoteConsumer {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    stream: String,
    durable: Option<String>,
    messages: pull::Stream,
    filter: Filter,
    /// The next ring sequence expected (0: whatever comes first).
    next_seq: u64,
    wait_for_height: Option<u64>,
    /// Where a gap at `next_seq` would begin (the block of the last message
    /// received, and whether it has events before the gap).
    at: Option<Here>,
    /// What the messages received stand for, in order: lags, events (those
    /// the filter drops too, which `next_block` counts), producer changes.
    queue: VecDeque<Entry>,
    current: Option<Current>,
    /// The newest message whose items are all handed out (the item in
    /// flight included): what [`commit`](RemoteConsumer::commit) acknowledges.
    handed_ack: Option<jetstream::Message>,
    /// The newest message whose items the application has moved past (it
    /// asked for the next item since): what automatic acknowledgements and
    /// the drop acknowledge.
    past_ack: Option<jetstream::Message>,
    unacked: u64,
    last_ack: Instant,
    /// `next_block`'s assembly (the ring consumer's: block.rs).
    block: Assembler,
    /// The entries `next_block` took since the last block boundary it
    /// handed out: an event API called in the middle of a block reads them again.
    since_boundary: Vec<Entry>,
    /// Whether the last read was `next_block`'s.
    block_mode: bool,
    /// What the event API handed out since the last begin marker (from it),
    /// and the acknowledgement due before it: `next_block` called in the
    /// middle of a block goes back to its begin marker, as the ring
    /// consumer's does.
    since_begin: Vec<Queued>,
    before_begin: Option<jetstream::Message>,
    /// Messages the server said were left after the newest one received.
    pending: u64,
    /// The JetStream sequence of the newest message received.
    last_stream_seq: u64,
}

#[derive(Clone)]
enum Queued {
    Lag(Missed),
    /// An event, and whether the filter keeps it.
    Event(Current, bool),
    Producer(ProducerChange),
}

/// Acknowledge at least this often.
const ACK_EVERY: u64 = 512;
const ACK_INTERVAL: Duration = Duration::from_secs(1);

impl RemoteConsumer {
    /// Options to read `stream` at the NATS server(s) `url` (comma-separated
    /// URLs; `nats://user:password@host:port` for credentials).
    ///
    /// ```
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let builder = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM");
    /// # drop(builder);
    /// ```
    pub fn builder(url: impl Into<String>, stream: impl Into<String>) -> RemoteBuilder {
        RemoteBuilder {
            url: url.into(),
            stream: stream.into(),
            name: None,
            start: Start::Oldest,
            reset: false,
            filter: Filter::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The stream's name.
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// assert_eq!(c.stream(), "SLIPSTREAM");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The consumer's name, if it is durable.
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// assert_eq!(c.name(), Some("indexer"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.durable.as_deref()
    }

    /// The ring sequence of the next item expected (0 before the first).
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// println!("next: #{}", c.next_seq());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether this consumer has received every message the stream held when
    /// the last one was sent, and handed out every item (for "print what is
    /// there and exit").
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// while !c.caught_up() {
    ///     c.next(std::time::Duration::from_secs(1))?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn caught_up(&self) -> bool {
        self.pending == 0
            && self
                .queue
                .iter()
                .all(|(q, _)| matches!(q, Queued::Event(_, false)))
    }

    /// Acknowledges everything handed out so far (named consumers), the item
    /// in flight included; a restart under this name resumes after it. After
    /// [`next_block`](Self::next_block), that is after the last block (or
    /// report) it returned: a block boundary.
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// c.next(std::time::Duration::from_secs(1))?;
    /// c.commit(); // acknowledges everything handed out
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(&mut self) {
        let newest = self.handed_ack.take().or(self.past_ack.take());
        self.past_ack = None;
        self.ack(newest);
    }

    /// Acknowledges `m` (policy `all`: and every message before it).
    fn ack(&mut self, m: Option<jetstream::Message>) {
        if let Some(m) = m {
            let client = self.client.clone();
            self.rt.block_on(async move {
                let _ = m.ack().await;
                let _ = client.flush().await;
            });
        }
        self.unacked = 0;
        self.last_ack = Instant::now();
    }

    /// The start of every read: the application moved past what was handed
    /// out; acknowledge it now and then (every 512 items or second).
    fn begin_read(&mut self) {
        if let Some(m) = self.handed_ack.take() {
            self.past_ack = Some(m);
            self.unacked += 1;
        }
        if self.past_ack.is_some()
            && (self.unacked >= ACK_EVERY || self.last_ack.elapsed() >= ACK_INTERVAL)
        {
            let m = self.past_ack.take();
            self.ack(m);
        }
    }

    /// The item in flight was handed out with `m`.
    fn handed(&mut self, m: Option<jetstream::Message>) {
        if let Some(m) = m {
            self.handed_ack = Some(m);
        }
    }

    /// The next item without waiting (`None` if none is there now).
    ///
    /// # Errors
    /// See [`next`](Self::next).
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// while let Some(item) = c.try_next()? { println!("{item:?}"); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_next(&mut self) -> Result<Option<Item<'_>>, RemoteError> {
        self.next(Duration::ZERO)
    }

    /// The next item, waiting up to `timeout`; `None` if none came.
    ///
    /// # Errors
    /// A message that is not a bridge's (or does not decode), a
    /// JetStream failure (the consumer was deleted, the server is gone).
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// if let Some(item) = c.next(std::time::Duration::from_millis(100))? { println!("{item:?}"); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Item<'_>>, RemoteError> {
        self.begin_read();
        self.leave_block_mode();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((q, ack)) = self.queue.pop_front() {
                self.track_block(&q);
                self.handed(ack);
                return Ok(Some(match q {
                    Queued::Lag(m) => Item::Lagged(m),
                    Queued::Producer(p) => Item::Producer(p),
                    Queued::Event(_, false) => continue,
                    Queued::Event(c, true) => {
                        let c = self.current.insert(c);
                        let event = EventRef::decode(c.kind, &c.payload).map_err(|e| {
                            RemoteError::Foreign {
                                stream_seq: 0,
                                why: format!("event #{} does not decode: {e}", c.seq),
                            }
                        })?;
                        Item::Event(Event {
                            seq: c.seq,
                            event,
                            payload: &c.payload,
                        })
                    }
                }));
            }
            if !self.receive(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Waits for one message (until `deadline`) and queues what it stands
    /// for; `false` if none came.
    fn receive(&mut self, deadline: Instant) -> Result<bool, RemoteError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .rt
                .block_on(async { tokio::time::timeout(left, self.messages.next()).await });
            let msg = match got {
                Err(_elapsed) => return Ok(false),
                Ok(None) => return Err(js_err("pull messages", "the message stream ended")),
                Ok(Some(Err(e))) => {
                    // Heartbeats missed while the server restarts: go on waiting.
                    if Instant::now() >= deadline {
                        return Err(js_err("pull messages", e));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Ok(Some(Ok(m))) => m,
            };
            self.take(msg)?;
            return Ok(true);
        }
    }

    /// Turns one message into queued entries.
    fn take(&mut self, msg: jetstream::Message) -> Result<(), RemoteError> {
        let (stream_seq, pending) = msg
            .info()
            .map(|i| (i.stream_sequence, i.pending))
            .unwrap_or((0, 0));
        self.pending = pending;
        let parsed = parse_headers(msg.headers.as_ref()).map_err(|e| RemoteError::Foreign {
            stream_seq,
            why: e.to_string(),
        })?;
        if stream_seq <= self.last_stream_seq {
            return Ok(()); // delivered before (a redelivery): nothing to hand out or acknowledge
        }
        self.last_stream_seq = stream_seq;
        let payload = msg.payload.clone();
        let queued_before = self.queue.len();
        let result = self.queue_items(stream_seq, parsed, payload);
        if self.durable.is_some() {
            // Acknowledged once its items are handed out (policy `all`: this
            // also acknowledges every message before it).
            if self.queue.len() > queued_before {
                self.queue.back_mut().expect("queued").1 = Some(msg);
            } else {
                // Before the start position: not owed, and nothing of it is handed out.
                self.past_ack = Some(msg);
            }
        }
        result
    }

    fn queue_items(
        &mut self,
        stream_seq: u64,
        parsed: Parsed,
        payload: bytes::Bytes,
    ) -> Result<(), RemoteError> {
        let first = parsed.first_seq();
        if let Header::Event { kind, height, .. } = parsed.header {
            if let Some(h) = self.wait_for_height {
                if kind != EventKind::BlockBegin.as_u16() || height < h {
                    self.next_seq = parsed.next_seq;
                    return Ok(());
                }
                self.wait_for_height = None;
            }
        } else if self.wait_for_height.is_some() {
            self.next_seq = parsed.next_seq;
            return Ok(());
        }
        // An event's bytes (binary, whatever was published).
        let event = match parsed.header {
            Header::Event {
                seq, kind, format, ..
            } => Some(Current {
                seq,
                kind,
                payload: match format {
                    Format::Binary => payload,
                    Format::Json => json_to_payload(&payload)
                        .map_err(|why| RemoteError::Foreign { stream_seq, why })?
                        .into(),
                },
            }),
            _ => None,
        };
        if self.next_seq != 0 && first > self.next_seq {
            // The stream no longer held these when this consumer got to them:
            // their heights as the ring consumer reports them, from the
            // messages on either side.
            let next = match (&event, parsed.header) {
                (Some(c), _) => delivery::head(c.kind, &c.payload),
                (None, Header::Gap(m)) => m.first_height.map(|height| Head {
                    height,
                    begin: !m.first_partial,
                }),
                _ => None,
            };
            let missed = Missed::between(self.next_seq, first - 1, self.at, next);
            self.queue.push_back((Queued::Lag(missed), None));
        }
        self.next_seq = parsed.next_seq;
        match parsed.header {
            Header::Gap(m) => {
                // What a gap right after this one would begin in.
                self.at = m.last_height.map(|height| match m.last_partial {
                    true => Here {
                        height,
                        partial: true,
                    },
                    false => Here {
                        height: height.saturating_add(1),
                        partial: false,
                    },
                });
                self.queue.push_back((Queued::Lag(m), None));
            }
            Header::Producer(p) => self.queue.push_back((Queued::Producer(p), None)),
            Header::Event { .. } => {
                let c = event.expect("an event message");
                if let Some(here) = delivery::after(c.kind, &c.payload) {
                    self.at = Some(here);
                }
                let kept = self.filter.keep(c.kind, &c.payload);
                self.queue.push_back((Queued::Event(c, kept), None));
            }
        }
        Ok(())
    }

    /// Keeps what the event API hands out since the last begin marker.
    fn track_block(&mut self, q: &Queued) {
        match q {
            Queued::Event(c, _) if c.kind == EventKind::BlockBegin.as_u16() => {
                self.since_begin.clear();
                self.since_begin.push(q.clone());
                self.before_begin = self.past_ack.clone();
            }
            Queued::Event(c, _) if c.kind == EventKind::BlockCommit.as_u16() => {
                self.since_begin.clear();
            }
            Queued::Event(..) if !self.since_begin.is_empty() => self.since_begin.push(q.clone()),
            Queued::Producer(_) => {}
            _ => self.since_begin.clear(),
        }
    }

    /// `next_block` after an event API: back to the begin marker of the
    /// block the event API was inside, if it read that begin marker.
    fn enter_block_mode(&mut self) {
        if std::mem::replace(&mut self.block_mode, true) {
            return;
        }
        if self.since_begin.is_empty() {
            return;
        }
        for q in self.since_begin.drain(..).rev() {
            self.queue.push_front((q, None));
        }
        // Acknowledged up to the message before the begin marker only.
        self.handed_ack = None;
        self.past_ack = self.before_begin.take();
    }

    /// An event API after `next_block`: what `next_block` took since its
    /// last boundary is read again, event by event.
    fn leave_block_mode(&mut self) {
        if !std::mem::replace(&mut self.block_mode, false) {
            return;
        }
        self.since_begin.clear();
        self.block.open = None;
        self.block.dropping = None;
        for e in self.since_boundary.drain(..).rev() {
            self.queue.push_front(e);
        }
    }

    /// The next complete committed block (all its events, or nothing),
    /// waiting up to `timeout`; `None` if none completed in time. The same
    /// rules as [`Consumer::next_block`](crate::Consumer::next_block):
    ///
    /// - nothing is passed over silently, and no part of a block is handed
    ///   out: a gap (a gap message, or events the stream no longer held) that
    ///   cuts into a block is reported as [`BlockItem::Lagged`] widened to
    ///   whole blocks, from that block's begin marker to the event before the
    ///   next begin marker, with the heights; a block that began and did not
    ///   commit whole is [`BlockItem::Incomplete`] with its exact range;
    /// - the block markers are read whatever the filter says, and the commit
    ///   marker's count is checked against every event of the block;
    /// - a named consumer's acknowledgements fall only at block boundaries
    ///   (after the commit marker of the last block, or report, handed out),
    ///   so a restart resumes at the begin marker of the first block not
    ///   moved past;
    /// - called after [`next`](Self::next) handed out part of a block, it
    ///   goes back to that block's begin marker and hands the block out whole.
    ///   Restarting inside a block (a cursor that `next` acknowledged there)
    ///   reports the rest of that block as missed, partial (the ring consumer
    ///   goes back to the block's begin marker if the ring holds it; a remote
    ///   consumer does not).
    ///
    /// # Errors
    /// As [`next`](Self::next).
    ///
    /// (Not run as a doctest: it needs a NATS server and a bridge feeding the stream.)
    ///
    /// ```no_run
    /// use slipstream_consumer::remote::RemoteConsumer;
    /// let mut c = RemoteConsumer::builder("nats://localhost:4222", "SLIPSTREAM").name("indexer").open()?;
    /// if let Some(slipstream_consumer::BlockItem::Block(b)) = c.next_block(std::time::Duration::from_secs(5))? {
    ///     println!("block {}: {} events", b.height, b.events.len());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<BlockItem>, RemoteError> {
        self.enter_block_mode();
        self.begin_read();
        let deadline = Instant::now() + timeout;
        loop {
            let Some(entry) = self.queue.pop_front() else {
                if !self.receive(deadline)? {
                    return Ok(None);
                }
                continue;
            };
            if let Queued::Producer(change) = entry.0 {
                // Not part of any block: handed out as it comes; an
                // acknowledgement only outside a block.
                if self.block.open.is_none() && self.block.dropping.is_none() {
                    self.since_boundary.clear();
                    self.handed(entry.1);
                }
                return Ok(Some(BlockItem::Producer(change)));
            }
            let (item, boundary) = match &entry.0 {
                Queued::Lag(m) => {
                    self.block_gap(m);
                    (None, Boundary::After)
                }
                Queued::Event(c, kept) => self.block_record(c, *kept),
                Queued::Producer(_) => unreachable!("handled above"),
            };
            let Some(item) = item else {
                self.since_boundary.push(entry);
                continue;
            };
            match boundary {
                Boundary::After => {
                    self.since_boundary.push(entry);
                    self.boundary();
                }
                Boundary::Before => {
                    self.boundary();
                    self.since_boundary.push(entry);
                }
                Boundary::Again => {
                    self.boundary();
                    self.queue.push_front(entry);
                }
            }
            return Ok(Some(item));
        }
    }

    /// A block boundary is handed out: what was taken before it is acknowledged
    /// once the application moves past it.
    fn boundary(&mut self) {
        let newest = self.since_boundary.drain(..).filter_map(|(_, m)| m).last();
        self.handed(newest);
    }

    /// A gap: whatever was being assembled is dropped, and reported (with
    /// the gap) at the next block boundary.
    fn block_gap(&mut self, m: &Missed) {
        let before = m.first_height.map(|height| Here {
            height,
            partial: m.first_partial,
        });
        self.block.gap(m.first_missed, before, m.last_height);
    }

    /// Takes an event into the block being assembled (the ring consumer's
    /// assembly: block.rs); returns an item when one is complete, and where
    /// the boundary falls.
    fn block_record(&mut self, c: &Current, kept: bool) -> (Option<BlockItem>, Boundary) {
        let Some(head) = delivery::head(c.kind, &c.payload) else {
            self.block.undecodable();
            return (None, Boundary::After);
        };
        let decoded = crate::Event::decode(c.seq, c.kind, &c.payload);
        match self.block.take(c.seq, c.kind, &decoded, head, kept) {
            Some((item, boundary)) => (Some(item), boundary),
            None => (None, Boundary::After),
        }
    }
}

impl Drop for RemoteConsumer {
    /// Acknowledges what the application has moved past (never the item in
    /// flight: it comes again after a restart).
    fn drop(&mut self) {
        let m = self.past_ack.take();
        self.ack(m);
    }
}

impl std::fmt::Debug for RemoteConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConsumer")
            .field("stream", &self.stream)
            .field("name", &self.durable)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_ring::Lag;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("nats://u:secret@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact_url("nats://token@h"), "nats://***@h");
        assert_eq!(redact_url("nats://h:1"), "nats://h:1");
    }

    #[test]
    fn headers_parse_and_fail_clearly() {
        let mut h = HeaderMap::new();
        h.insert(H_RING, "00000000000000ff");
        h.insert(H_MESSAGE, "gap");
        h.insert(H_NEXT_SEQ, "11");
        h.insert(H_GAP_FIRST, "5");
        h.insert(H_GAP_LAST, "10");
        let p = parse_headers(Some(&h)).unwrap();
        assert_eq!(p.ring_id, 255);
        let Header::Gap(m) = p.header else {
            panic!("{p:?}")
        };
        assert_eq!(
            m.seqs(),
            Lag {
                first_missed: 5,
                last_missed: 10
            }
        );
        // A stream from a bridge that sent no heights: unknown, not partial.
        assert_eq!(
            (
                m.first_height,
                m.last_height,
                m.first_partial,
                m.last_partial
            ),
            (None, None, false, false)
        );
        assert_eq!(p.first_seq(), 5);
        h.insert(H_GAP_FIRST_HEIGHT, "3");
        h.insert(H_GAP_LAST_HEIGHT, "4");
        h.insert(H_GAP_FIRST_PARTIAL, "true");
        h.insert(H_GAP_LAST_PARTIAL, "false");
        let Header::Gap(m) = parse_headers(Some(&h)).unwrap().header else {
            panic!()
        };
        assert_eq!(
            (
                m.first_height,
                m.last_height,
                m.first_partial,
                m.last_partial
            ),
            (Some(3), Some(4), true, false)
        );
        h.insert(H_GAP_LAST_PARTIAL, "maybe");
        assert!(parse_headers(Some(&h))
            .unwrap_err()
            .to_string()
            .contains("Gap-Last-Partial"));
        h.insert(H_GAP_LAST_PARTIAL, "false");
        h.insert(H_GAP_FIRST_HEIGHT, "x");
        assert!(parse_headers(Some(&h))
            .unwrap_err()
            .to_string()
            .contains("Gap-First-Height"));
        h.insert(H_GAP_FIRST_HEIGHT, "3");
        h.insert(H_GAP_LAST, "x");
        assert!(parse_headers(Some(&h))
            .unwrap_err()
            .to_string()
            .contains("Gap-Last"));
        assert!(parse_headers(None).is_err());
    }
}
