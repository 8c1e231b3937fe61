//! # slipstream-bridge
//!
//! A ring consumer that publishes every event of a Slipstream ring into a NATS
//! JetStream stream, exactly once and in order, so that consumers on other
//! machines read the node's events (with
//! `slipstream_consumer::remote::RemoteConsumer`, `slipstream-tail --nats`, or
//! any NATS client). The node never notices it: the bridge is one more reader
//! of the ring, and a slow or absent server only makes the bridge fall behind.
//!
//! Subjects, headers and payloads are specified in
//! `slipstream_consumer::remote::wire` (and the bridge's README).
//!
//! **Exactly once.** Every message carries `Nats-Msg-Id = RING_ID:SEQ`, and
//! `Nats-Expected-Last-Sequence` (the stream's sequence the bridge expects to
//! follow) and, but for the first after a resynchronisation,
//! `Nats-Expected-Last-Msg-Id` (the message before it). The server stores a
//! message only where the bridge meant it to go, so a lost or reordered
//! publish (a connection dropped mid-pipeline, a server restart) is refused
//! rather than leaving a hole or a duplicate. After any failure, and at start,
//! the bridge reads the stream's last message, and resumes the ring at the
//! sequence in its `Slipstream-Next-Seq` header.
//!
//! **Resuming from the ring only.** The bridge resumes from the ring (no
//! journal yet): if the ring has overwritten the events after the stream's
//! end, it publishes a gap message with the exact range, then goes on.
//!
//! Publishing is pipelined: up to `--max-in-flight` messages await their
//! acknowledgements at once.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream::{
    self, context::PublishErrorKind, message::PublishMessage, publish::PublishAck,
    stream::StorageType,
};
use async_nats::HeaderMap;
use bytes::Bytes;
use clap::Args;
use futures_util::FutureExt;
use slipstream_consumer::remote::{self, parse_headers, wire::*, RemoteError};
use slipstream_consumer::{
    resolve_ring_path, Consumer, ConsumerError, EventRef, Item, Missed, ProducerChange, Start,
};
use slipstream_ring::SeekError;
use slipstream_tools::cli;
use slipstream_units::{parse_duration, parse_size};

/// Publish every event of a Slipstream ring into a NATS JetStream stream, exactly once.
///
/// The stream is created if it does not exist (subjects PREFIX.>, file
/// storage, limits retention with --max-age/--max-bytes/--max-msgs, the
/// duplicate window --duplicate-window). After a crash or restart the bridge
/// resumes after the stream's last message. Events the ring overwrote before
/// the bridge read them are published as one gap message with the exact range.
///
/// Exit status: 0 on Ctrl-C/SIGTERM after the messages in flight are
/// acknowledged (or with --exit-when-idle), 1 on an error that retrying cannot
/// mend (a bad URL, refused credentials, a stream deleted under the bridge, a
/// stream fed by another ring).
#[derive(Args, Debug, Clone)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  slipstream-bridge node-events --nats nats://127.0.0.1:4222 --stream SLIPSTREAM
  slipstream-bridge node-events --nats nats://bridge:secret@nats1:4222,nats://nats2:4222 \\
      --stream MAINNET --subject-prefix aleo.mainnet --max-age 7d --max-bytes 50GiB"
)]
pub struct BridgeArgs {
    /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
    #[arg(value_name = "RING")]
    pub ring: PathBuf,

    /// NATS server URL(s), comma-separated; credentials as nats://user:password@host:port.
    #[arg(long, value_name = "URL")]
    pub nats: String,

    /// The JetStream stream (created if missing).
    #[arg(long, value_name = "NAME")]
    pub stream: String,

    /// Subject prefix: events go to PREFIX.<kind> and, for mapping events,
    /// PREFIX.<kind>.<program>.<mapping> (names escaped: see the README).
    // Also the --help text, where `<kind>` is meant literally, not as HTML.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "PREFIX", default_value = "slipstream")]
    pub subject_prefix: String,

    /// Payloads: `binary` (the event's bytes as FORMAT.md encodes them, the
    /// compact one) or `json` (the line `slipstream-tail --json` prints).
    #[arg(long, value_name = "FORMAT", default_value = "binary")]
    pub format: Format,

    /// Where to start when the stream is empty: `oldest` (the ring's oldest
    /// event; a gap message stands for the events before it), `end`, or a sequence.
    #[arg(long, value_name = "WHERE", default_value = "oldest")]
    pub from: Start,

    /// Messages awaiting their acknowledgement at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_in_flight: usize,

    /// How long an acknowledgement may take before the bridge resynchronises.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub ack_timeout: Duration,

    /// A created stream's maximum age of messages (0: unlimited).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub max_age: Duration,

    /// A created stream's maximum size, with units (e.g. `50GiB`; default unlimited).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,

    /// A created stream's maximum number of messages (default unlimited).
    #[arg(long, value_name = "N")]
    pub max_msgs: Option<i64>,

    /// A created stream's duplicate window: a message id seen within it is dropped.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub duplicate_window: Duration,

    /// A created stream's storage: `file` or `memory`.
    #[arg(long, value_name = "STORAGE", default_value = "file", value_parser = parse_storage)]
    pub storage: StorageType,

    /// A created stream's replicas (clustered servers).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: usize,

    /// Give up (exit 1) after failing to reach the server for this long (default: never).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub give_up_after: Option<Duration>,

    /// Exit 0 once everything read is acknowledged and no event came for this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub exit_when_idle: Option<Duration>,

    /// Wait up to this long for the ring to be created.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// A status line to stderr this often (0: never).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub report_every: Duration,
}

fn parse_storage(s: &str) -> Result<StorageType, String> {
    match s {
        "file" => Ok(StorageType::File),
        "memory" => Ok(StorageType::Memory),
        _ => Err(format!("{s:?} is not a storage: file or memory")),
    }
}

/// A failure of one pass of the publishing loop.
#[derive(Debug)]
enum Failure {
    /// Retry after a pause (the server is down, slow, restarting).
    Transient(String),
    /// Resynchronise at once (the stream is not where the bridge thought).
    Resync(String),
    /// Stop with this error.
    Fatal(anyhow::Error),
}

type AckFuture = Pin<
    Box<
        dyn Future<Output = Result<PublishAck, async_nats::jetstream::context::PublishError>>
            + Send,
    >,
>;

struct InFlight {
    ack: AckFuture,
    /// The stream sequence it must land at.
    stream_seq: u64,
}

/// One message ready to publish.
struct Outgoing {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    msg_id: String,
}

struct Bridge {
    args: BridgeArgs,
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    ring_hex: String,
    ring_id: u64,
    consumer: Consumer,
    in_flight: VecDeque<InFlight>,
    /// The stream sequence of the last message published (acknowledged or not).
    stream_last: u64,
    /// The message id of the last message published in this pass.
    last_msg_id: Option<String>,
    /// Whether the stream was seen to exist.
    stream_seen: bool,
    published: u64,
    acked: u64,
    last_event: Instant,
    last_report: Instant,
    /// When the server was last reached.
    last_ok: Instant,
    enc: Encoder,
}

/// Turns ring items into messages.
struct Encoder {
    prefix: String,
    format: Format,
    ring_hex: String,
    gap_subject: String,
    producer_subject: String,
    encode_buf: Vec<u8>,
    /// The ring sequence the next message starts at.
    next_seq: u64,
    gaps: u64,
}

/// Runs `slipstream-bridge`.
///
/// # Errors
/// What retrying cannot mend: see [`BridgeArgs`].
pub fn run(args: BridgeArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    check_prefix(&args.subject_prefix).context("--subject-prefix")?;
    check_stream_name(&args.stream).context("--stream")?;
    if args.max_in_flight == 0 {
        bail!("--max-in-flight must be at least 1");
    }
    let path = resolve_ring_path(&args.ring);
    let deadline = Instant::now() + args.wait.unwrap_or_default();
    let (consumer, ring_id) = loop {
        let attempt = (|| -> anyhow::Result<(Consumer, u64)> {
            let (_, header, _) = slipstream_tools::stat::read_header(&path, &args.ring)?;
            let consumer = Consumer::builder(&path)
                .start(Start::End)
                .open()
                .with_context(|| format!("cannot attach to ring {}", path.display()))?;
            Ok((consumer, header.ring_id.get()))
        })();
        match attempt {
            Ok(v) => break v,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("slipstream-bridge-nats")
        .enable_all()
        .build()
        .context("start the NATS client's runtime")?;
    let shown = remote::redact_url(&args.nats);
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let client = loop {
        match rt.block_on(remote::connect(&args.nats, Duration::from_secs(5))) {
            Ok(c) => break c,
            Err(e @ RemoteError::Url { .. }) => return Err(anyhow::Error::new(e).context("--nats")),
            Err(e @ RemoteError::Connect { .. })
                if e.to_string().contains("authorization")
                    || e.to_string().contains("authentication") =>
            {
                return Err(anyhow::Error::new(e));
            }
            Err(e) => {
                if args.give_up_after.is_some_and(|g| started.elapsed() >= g) {
                    return Err(anyhow::Error::new(e).context("giving up (--give-up-after)"));
                }
                let pause = backoff.next();
                eprintln!("slipstream-bridge: {e}; retrying in {pause:?}");
                if !cli::sleep_interruptibly(pause) {
                    return Ok(cli::signal_exit_code(cli::interrupted().unwrap_or(2)));
                }
            }
        }
    };
    let js = {
        // The context spawns its acknowledgement task on the runtime.
        let _runtime = rt.enter();
        jetstream::ContextBuilder::new()
            .timeout(args.ack_timeout)
            .max_ack_inflight(args.max_in_flight + 16)
            .backpressure_on_inflight(true)
            .build(client)
    };
    eprintln!(
        "slipstream-bridge: ring {} (ring_id {}) -> stream {:?} at {shown}, subjects {}.>",
        path.display(),
        ring_hex(ring_id),
        args.stream,
        args.subject_prefix
    );
    let prefix = args.subject_prefix.clone();
    let enc = Encoder {
        gap_subject: gap_subject(&prefix),
        producer_subject: producer_subject(&prefix),
        prefix,
        format: args.format,
        ring_hex: ring_hex(ring_id),
        encode_buf: Vec::new(),
        next_seq: 0,
        gaps: 0,
    };
    let mut bridge = Bridge {
        enc,
        args,
        rt,
        js,
        ring_hex: ring_hex(ring_id),
        ring_id,
        consumer,
        in_flight: VecDeque::new(),
        stream_last: 0,
        last_msg_id: None,
        stream_seen: false,
        published: 0,
        acked: 0,
        last_event: Instant::now(),
        last_report: Instant::now(),
        last_ok: Instant::now(),
    };
    bridge.main_loop()
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(50))
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

impl Bridge {
    fn main_loop(&mut self) -> anyhow::Result<ExitCode> {
        let mut backoff = Backoff::new();
        loop {
            if let Some(sig) = cli::interrupted() {
                return Ok(cli::signal_exit_code(sig));
            }
            let result = self.resync().and_then(|()| self.pump());
            self.in_flight.clear();
            match result {
                Ok(code) => return Ok(code),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Resync(why)) => {
                    tracing::debug!("resynchronising: {why}");
                    backoff = Backoff::new();
                }
                Err(Failure::Transient(why)) => {
                    if self
                        .args
                        .give_up_after
                        .is_some_and(|g| self.last_ok.elapsed() >= g)
                    {
                        return Err(anyhow::anyhow!(
                            "{why}; giving up after {:?} without reaching the server (--give-up-after)",
                            self.last_ok.elapsed()
                        ));
                    }
                    let pause = backoff.next();
                    eprintln!("slipstream-bridge: {why}; retrying in {pause:?}");
                    if !cli::sleep_interruptibly(pause) {
                        return Ok(cli::signal_exit_code(cli::interrupted().unwrap_or(2)));
                    }
                }
            }
        }
    }

    /// Finds where the stream ends, and moves the ring reader after it.
    fn resync(&mut self) -> Result<(), Failure> {
        self.last_msg_id = None;
        let name = self.args.stream.clone();
        let info = match self.rt.block_on(self.js.get_stream(&name)) {
            Ok(s) => s.cached_info().clone(),
            Err(e) if is_not_found(&e) => {
                if self.stream_seen {
                    return Err(Failure::Fatal(anyhow::anyhow!(
                        "stream {name:?} was deleted while the bridge was publishing to it; \
                         not recreating it behind the back of whoever deleted it (restart the bridge to create it anew)"
                    )));
                }
                self.create_stream()?
            }
            Err(e) => return Err(Failure::Transient(format!("look up stream {name:?}: {e}"))),
        };
        self.stream_seen = true;
        self.last_ok = Instant::now();
        let wanted = stream_subjects(&self.args.subject_prefix);
        if !info.config.subjects.iter().any(|s| s == &wanted) {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "stream {name:?} captures {:?}, not {wanted:?} (the subjects of --subject-prefix {})",
                info.config.subjects,
                self.args.subject_prefix
            )));
        }
        self.stream_last = info.state.last_sequence;
        let resume = if info.state.messages == 0 {
            None
        } else {
            let stream = self
                .rt
                .block_on(self.js.get_stream_no_info(&name))
                .map_err(|e| Failure::Transient(format!("look up stream {name:?}: {e}")))?;
            let last = self
                .rt
                .block_on(stream.get_raw_message(info.state.last_sequence))
                .map_err(|e| {
                    Failure::Transient(format!(
                        "read the stream's last message #{}: {e}",
                        info.state.last_sequence
                    ))
                })?;
            let parsed = parse_headers(Some(&last.headers)).map_err(|why| {
                Failure::Fatal(anyhow::anyhow!(
                    "stream {name:?}: its last message #{} (subject {}) was not published by slipstream-bridge: {why}",
                    info.state.last_sequence, last.subject
                ))
            })?;
            if parsed.ring_id != self.ring_id {
                return Err(Failure::Fatal(anyhow::anyhow!(
                    "stream {name:?} holds the events of ring {} but this ring is {} (was the ring recreated?): \
                     use another stream, or delete this one to start over",
                    ring_hex(parsed.ring_id),
                    self.ring_hex
                )));
            }
            Some(parsed.next_seq)
        };
        self.position(resume)
    }

    fn create_stream(&mut self) -> Result<jetstream::stream::Info, Failure> {
        let a = &self.args;
        let config = jetstream::stream::Config {
            name: a.stream.clone(),
            subjects: vec![stream_subjects(&a.subject_prefix)],
            storage: a.storage,
            retention: jetstream::stream::RetentionPolicy::Limits,
            discard: jetstream::stream::DiscardPolicy::Old,
            max_age: a.max_age,
            max_bytes: a.max_bytes.map_or(-1, |b| b.min(i64::MAX as u64) as i64),
            max_messages: a.max_msgs.unwrap_or(-1),
            duplicate_window: a.duplicate_window,
            num_replicas: a.replicas,
            allow_direct: true,
            description: Some("Slipstream events, published by slipstream-bridge".into()),
            ..Default::default()
        };
        match self.rt.block_on(self.js.create_stream(config)) {
            Ok(s) => {
                eprintln!(
                    "slipstream-bridge: created stream {:?} (file storage: {}, max age {}, max bytes {}, duplicate window {:?})",
                    a.stream,
                    a.storage == StorageType::File,
                    if a.max_age.is_zero() { "unlimited".to_string() } else { format!("{:?}", a.max_age) },
                    a.max_bytes.map_or("unlimited".to_string(), |b| b.to_string()),
                    a.duplicate_window
                );
                Ok(s.cached_info().clone())
            }
            Err(e) => {
                let text = e.to_string();
                if text.contains("already in use") || text.contains("already exists") {
                    Err(Failure::Resync(
                        "the stream was created concurrently".into(),
                    ))
                } else if text.contains("timed out") || text.contains("no responders") {
                    Err(Failure::Transient(format!(
                        "create stream {:?}: {e}",
                        a.stream
                    )))
                } else {
                    Err(Failure::Fatal(anyhow::anyhow!(
                        "cannot create stream {:?}: {e}",
                        a.stream
                    )))
                }
            }
        }
    }

    /// Moves the ring reader to `resume` (or `--from` for an empty stream),
    /// publishing a gap for what the ring no longer holds.
    fn position(&mut self, resume: Option<u64>) -> Result<(), Failure> {
        let mut target = match resume {
            Some(n) => Start::Seq(n),
            None => self.args.from,
        };
        loop {
            let res = self.consumer.seek(target);
            match res {
                Ok(()) => {}
                // The ring overwrote what follows the stream's end (a bridge
                // down or lapped for longer than the ring holds).
                Err(ConsumerError::StartUnavailable {
                    requested: Start::Seq(requested),
                    available,
                }) if available.oldest_seq > requested => {
                    self.publish_gap(requested, available.oldest_seq - 1, "not-retained")?;
                    target = Start::Seq(available.oldest_seq);
                    continue;
                }
                Err(ConsumerError::Seek(SeekError::NotRetained { requested, oldest })) => {
                    self.publish_gap(requested, oldest - 1, "not-retained")?;
                    target = Start::Seq(oldest);
                    continue;
                }
                Err(ConsumerError::Seek(SeekError::InFuture { requested, next }))
                    if requested == next =>
                {
                    target = Start::End;
                    continue;
                }
                Err(ConsumerError::Seek(SeekError::InFuture { requested, next })) => {
                    return Err(self.ahead(requested, next))
                }
                Err(ConsumerError::Seek(SeekError::Contended { .. })) => continue,
                Err(e) => {
                    return Err(Failure::Fatal(
                        anyhow::Error::new(e).context("seek in the ring"),
                    ))
                }
            }
            break;
        }
        // A sequence not written yet is waited for by the SDK: the stream
        // would then be ahead of the ring.
        if let (Some(_), Start::Seq(requested)) = (resume, target) {
            let next = self.consumer.available().next_seq;
            if requested > next {
                return Err(self.ahead(requested, next));
            }
        }
        let next = self.consumer.next_seq();
        if resume.is_none() && target == Start::Oldest && next > 1 {
            // A new stream fed from the ring's oldest: the stream still starts at 1.
            self.publish_gap(1, next - 1, "not-retained")?;
        }
        self.enc.next_seq = next;
        eprintln!(
            "slipstream-bridge: stream {:?} ends at stream sequence {}; publishing from ring sequence {next}",
            self.args.stream, self.stream_last
        );
        Ok(())
    }

    fn ahead(&self, requested: u64, next: u64) -> Failure {
        Failure::Fatal(anyhow::anyhow!(
            "stream {:?} ends at ring sequence {} but the ring's next sequence is {next}: \
             the stream is ahead of the ring",
            self.args.stream,
            requested - 1
        ))
    }

    /// Publishes what the ring holds until something fails.
    fn pump(&mut self) -> Result<ExitCode, Failure> {
        loop {
            if let Some(sig) = cli::interrupted() {
                self.drain()?;
                self.report(true);
                return Ok(cli::signal_exit_code(sig));
            }
            self.reap(false)?;
            if self.args.report_every > Duration::ZERO
                && self.last_report.elapsed() >= self.args.report_every
            {
                self.report(false);
            }
            let got = self.read(None)?;
            match got {
                Some(out) => {
                    self.last_event = Instant::now();
                    self.send(out)?;
                }
                None if !self.in_flight.is_empty() => self.reap(true)?,
                None => {
                    if let Some(idle) = self.args.exit_when_idle {
                        if self.last_event.elapsed() >= idle {
                            self.report(true);
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                    // Wait for the ring (spinning briefly, then on its futex).
                    if let Some(out) = self.read(Some(Duration::from_millis(50)))? {
                        self.last_event = Instant::now();
                        self.send(out)?;
                    }
                }
            }
            while self.in_flight.len() >= self.args.max_in_flight {
                self.reap(true)?;
            }
        }
    }

    /// The next message from the ring: without waiting, or waiting up to `wait`.
    fn read(&mut self, wait: Option<Duration>) -> Result<Option<Outgoing>, Failure> {
        let mut change = None;
        let got = match wait {
            None => self.consumer.try_next(),
            Some(d) => self.consumer.next(d),
        };
        let got = match got {
            Ok(Some(Item::Producer(c))) => {
                change = Some(c);
                None
            }
            Ok(Some(item)) => Some(self.enc.outgoing(&item)),
            Ok(None) => None,
            Err(ConsumerError::Decode { seq, .. }) => {
                Some(self.enc.gap(seq, seq, "undecodable", None))
            }
            Err(e) => {
                return Err(Failure::Fatal(
                    anyhow::Error::new(e).context("read the ring"),
                ))
            }
        };
        Ok(match change {
            Some(c) => Some(self.enc.producer(c, self.consumer.next_seq())),
            None => got,
        })
    }

    fn report(&mut self, last: bool) {
        self.last_report = Instant::now();
        if self.args.report_every.is_zero() && !last {
            return;
        }
        eprintln!(
            "slipstream-bridge: {}published {}, acknowledged {}, gaps {}, next ring sequence {}, stream at {}, {} in flight, {} bytes behind the ring's head",
            if last { "stopping: " } else { "" },
            self.published,
            self.acked,
            self.enc.gaps,
            self.enc.next_seq,
            self.stream_last,
            self.in_flight.len(),
            self.consumer.bytes_behind()
        );
    }

    /// Waits for every acknowledgement.
    fn drain(&mut self) -> Result<(), Failure> {
        while !self.in_flight.is_empty() {
            self.reap(true)?;
        }
        Ok(())
    }

    /// Takes the acknowledgements that are in (waiting for the oldest if `block`).
    fn reap(&mut self, block: bool) -> Result<(), Failure> {
        let _guard = self.rt.enter();
        let mut first = true;
        while let Some(front) = self.in_flight.front_mut() {
            let got = if block && first {
                self.rt.block_on(&mut front.ack)
            } else {
                match (&mut front.ack).now_or_never() {
                    Some(r) => r,
                    None => return Ok(()),
                }
            };
            first = false;
            let expected = front.stream_seq;
            self.in_flight.pop_front();
            match got {
                Ok(ack) if ack.duplicate => {
                    return Err(Failure::Resync(format!(
                        "message for stream sequence {expected} was a duplicate of #{}",
                        ack.sequence
                    )))
                }
                Ok(ack) if ack.sequence != expected => {
                    return Err(Failure::Resync(format!(
                        "message landed at stream sequence {}, not {expected}",
                        ack.sequence
                    )))
                }
                Ok(_) => {
                    self.acked += 1;
                    self.last_ok = Instant::now();
                }
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(())
    }

    fn send(&mut self, out: Outgoing) -> Result<(), Failure> {
        let mut publish = PublishMessage::build()
            .payload(out.payload)
            .headers(out.headers)
            .message_id(&out.msg_id)
            .expected_last_sequence(self.stream_last);
        if let Some(prev) = &self.last_msg_id {
            publish = publish.expected_last_message_id(prev);
        }
        let fut = self
            .rt
            .block_on(self.js.send_publish(out.subject, publish))
            .map_err(|e| match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => Failure::Fatal(anyhow::anyhow!(
                    "message {} is larger than the server's max_payload ({e}): raise max_payload in nats-server's configuration (it allows up to 64 MiB) above the ring's largest event",
                    out.msg_id
                )),
                _ => Failure::Transient(format!("publish: {e}")),
            })?;
        self.stream_last += 1;
        self.last_msg_id = Some(out.msg_id);
        self.published += 1;
        self.in_flight.push_back(InFlight {
            ack: fut.into_future(),
            stream_seq: self.stream_last,
        });
        Ok(())
    }

    fn publish_gap(&mut self, first: u64, last: u64, reason: &str) -> Result<(), Failure> {
        let out = self.enc.gap(first, last, reason, None);
        self.send(out)
    }
}

impl Encoder {
    fn base_headers(&self, kind: &str, next_seq: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(H_RING, self.ring_hex.as_str());
        h.insert(H_MESSAGE, kind);
        h.insert(H_NEXT_SEQ, next_seq.to_string().as_str());
        h
    }

    /// A gap message for `first..=last`; `heights` is the ring consumer's
    /// report of it when there is one (a lapped bridge), whose heights and
    /// partial flags travel as headers.
    fn gap(&mut self, first: u64, last: u64, reason: &str, heights: Option<&Missed>) -> Outgoing {
        self.gaps += 1;
        self.next_seq = last + 1;
        let mut h = self.base_headers("gap", last + 1);
        h.insert(H_GAP_FIRST, first.to_string().as_str());
        h.insert(H_GAP_LAST, last.to_string().as_str());
        h.insert(H_GAP_REASON, reason);
        let flag = |b: bool| if b { "true" } else { "false" };
        if let Some(m) = heights {
            if let Some(fh) = m.first_height {
                h.insert(H_GAP_FIRST_HEIGHT, fh.to_string().as_str());
            }
            if let Some(lh) = m.last_height {
                h.insert(H_GAP_LAST_HEIGHT, lh.to_string().as_str());
            }
            h.insert(H_GAP_FIRST_PARTIAL, flag(m.first_partial));
            h.insert(H_GAP_LAST_PARTIAL, flag(m.last_partial));
        }
        match heights {
            Some(m) => eprintln!("slipstream-bridge: gap: {m} ({reason}) published as a gap message"),
            None => eprintln!(
                "slipstream-bridge: gap: ring sequences {first}..={last} ({} events, {reason}) published as a gap message",
                last - first + 1
            ),
        }
        Outgoing {
            subject: self.gap_subject.clone(),
            headers: h,
            payload: Bytes::new(),
            msg_id: format!("{}:gap:{first}-{last}", self.ring_hex),
        }
    }

    fn outgoing(&mut self, item: &Item<'_>) -> Outgoing {
        match item {
            Item::Lagged(lag) => self.gap(lag.first_missed, lag.last_missed, "lapped", Some(lag)),
            Item::Producer(change) => self.producer(*change, self.next_seq),
            Item::Event(ev) => {
                let e = &ev.event;
                self.next_seq = ev.seq + 1;
                let names = match (e.program_id(), e.mapping_name()) {
                    (Some(p), Some(m)) => Some((p, m)),
                    _ => None,
                };
                let subject = event_subject(&self.prefix, e.kind(), names);
                let mut h = self.base_headers("event", ev.seq + 1);
                h.insert(H_SEQ, ev.seq.to_string().as_str());
                h.insert(H_KIND, e.kind().name());
                h.insert(H_KIND_CODE, e.kind().as_u16().to_string().as_str());
                h.insert(H_HEIGHT, e.block_height().to_string().as_str());
                h.insert(H_ORDINAL, ordinal(e).to_string().as_str());
                h.insert(H_FORMAT, self.format.as_str());
                let payload = match self.format {
                    Format::Binary => {
                        self.encode_buf.resize(e.encoded_len(), 0);
                        e.encode(&mut self.encode_buf);
                        Bytes::copy_from_slice(&self.encode_buf)
                    }
                    Format::Json => {
                        self.encode_buf.clear();
                        slipstream_tools::render::json_event(&mut self.encode_buf, ev.seq, e, 0)
                            .expect("writing to a Vec cannot fail");
                        if self.encode_buf.last() == Some(&b'\n') {
                            self.encode_buf.pop();
                        }
                        Bytes::copy_from_slice(&self.encode_buf)
                    }
                };
                Outgoing {
                    subject,
                    headers: h,
                    payload,
                    msg_id: format!("{}:{}", self.ring_hex, ev.seq),
                }
            }
        }
    }

    fn producer(&mut self, change: ProducerChange, next: u64) -> Outgoing {
        let (what, pid, epoch) = match change {
            ProducerChange::Died { pid, epoch } => ("died", Some(pid), epoch),
            ProducerChange::Closed { epoch } => ("closed", None, epoch),
            ProducerChange::Restarted { pid, epoch } => ("restarted", Some(pid), epoch),
        };
        self.next_seq = next;
        let mut h = self.base_headers("producer", next);
        h.insert(H_PRODUCER, what);
        h.insert(H_EPOCH, epoch.to_string().as_str());
        if let Some(pid) = pid {
            h.insert(H_PID, pid.to_string().as_str());
        }
        Outgoing {
            subject: self.producer_subject.clone(),
            headers: h,
            payload: Bytes::new(),
            msg_id: format!("{}:producer:{what}:{epoch}:{next}", self.ring_hex),
        }
    }
}

fn ordinal(e: &EventRef<'_>) -> u32 {
    e.ordinal()
}

fn is_not_found(e: &async_nats::jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), async_nats::jetstream::context::GetStreamErrorKind::JetStream(j)
        if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn classify(e: async_nats::jetstream::context::PublishError) -> Failure {
    match e.kind() {
        PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId => {
            Failure::Resync(format!("the server refused a message out of place: {e}"))
        }
        PublishErrorKind::StreamNotFound => {
            Failure::Transient(format!("no stream answered the publish: {e}"))
        }
        _ => Failure::Transient(format!("acknowledgement: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: BridgeArgs,
    }

    fn parse(extra: &[&str]) -> Result<BridgeArgs, clap::Error> {
        use clap::Parser as _;
        let base = [
            "slipstream-bridge",
            "ring",
            "--nats",
            "nats://x",
            "--stream",
            "S",
        ];
        Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.args)
    }

    /// The command line reads sizes and durations with the shared grammar
    /// (slipstream-units): what the bridge accepted before (`0`, `7d`, `2m`,
    /// `500ms`, `50GiB`) and what other tools accept (`64mib`, `200 us`).
    #[test]
    fn durations_and_sizes() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.ack_timeout, a.max_age, a.duplicate_window, a.max_bytes),
            (
                Duration::from_secs(5),
                Duration::ZERO,
                Duration::from_secs(120),
                None
            )
        );
        let a = parse(&[
            "--max-age",
            "7d",
            "--duplicate-window",
            "2m",
            "--ack-timeout",
            "500ms",
            "--report-every",
            "0",
            "--max-bytes",
            "50GiB",
            "--wait",
            "200 us",
            "--give-up-after",
            "12h",
        ])
        .unwrap();
        assert_eq!(a.max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(a.duplicate_window, Duration::from_secs(120));
        assert_eq!(a.ack_timeout, Duration::from_millis(500));
        assert_eq!(a.report_every, Duration::ZERO);
        assert_eq!(a.max_bytes, Some(50 << 30));
        assert_eq!(a.wait, Some(Duration::from_micros(200)));
        assert_eq!(a.give_up_after, Some(Duration::from_secs(12 * 3_600)));
        assert_eq!(
            parse(&["--max-bytes", "64mib"]).unwrap().max_bytes,
            Some(64 << 20)
        );
        let err = parse(&["--max-age", "5 parsecs"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(r#"unknown unit "parsecs" (valid: ns, us, µs, ms, s, m, h, d)"#),
            "{err}"
        );
        // Too large for a duration is refused, not wrapped (the old `7d`
        // path multiplied without a check).
        let err = parse(&["--max-age", "999999999999999999d"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("too large a duration"), "{err}");
    }
}
