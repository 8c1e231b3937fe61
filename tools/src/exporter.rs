//! `slipstream exporter`: Prometheus metrics and a health endpoint for rings,
//! read from the rings and their cursor files alone
//! ([`slipstream_ring::stats`]), with no help from the node.
//!
//! `GET /metrics` answers the OpenMetrics text exposition (which Prometheus
//! scrapes as it does its own text format), encoded by `prometheus-client`.
//! Each scrape samples every ring twice, `--window` apart, so that the
//! consumers' health (slow, lapped: [`crate::health`]) is judged afresh.
//!
//! `GET /healthz` answers `200 OK` when every ring can be read, its producer
//! is alive, and every checked consumer (`--consumer`, default all) is
//! healthy; otherwise `503 Service Unavailable`, with one line per reason.
//!
//! `--journal RING=DIR` (repeatable, one per ring at most) pairs a ring with
//! the journal `slipstream-journal record` keeps of it in DIR: the journal's
//! range and size ([`slipstream_journal::summary`]) and how far it is behind
//! the ring are exported too, and `/healthz` also fails when the journal
//! cannot be read or its recorder (the consumer named
//! [`RECORDER`]) has no cursor, is dead, lapped or its cursor unreadable.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use slipstream_consumer::resolve_ring_path;
use slipstream_journal::Summary;
use slipstream_producer::parse_duration;
use slipstream_ring::stats::{RingStats, StatsReader};
use std::sync::atomic::AtomicU64;

use crate::cli;
use crate::health::{self, HealthArgs, State};

/// Serve Prometheus metrics (`/metrics`) and a health check (`/healthz`) for rings.
///
/// Metrics, labelled `ring` (the ring's path) and, per consumer, `consumer`
/// (its name): `slipstream_up`, `slipstream_producer_up`,
/// `slipstream_producer_events_total`, `slipstream_producer_bytes_total`,
/// `slipstream_producer_blocks_total`,
/// `slipstream_producer_refused_events_total{reason}`,
/// `slipstream_producer_padding_bytes_total`,
/// `slipstream_producer_wake_calls_total`, `slipstream_producer_starts_total`,
/// `slipstream_head_sequence`, `slipstream_oldest_sequence`,
/// `slipstream_ring_capacity_bytes`, `slipstream_consumer_up`,
/// `slipstream_consumer_lag_events`, `slipstream_consumer_next_sequence`,
/// `slipstream_consumer_delivered_events_total`,
/// `slipstream_consumer_lapped_total`,
/// `slipstream_consumer_missed_events_total`,
/// `slipstream_consumer_last_progress_seconds` (Unix time) and
/// `slipstream_consumer_state{state}` (1 for the consumer's state, 0 for the others).
/// With `--journal RING=DIR`, labelled `ring` (and `journal`, the directory):
/// `slipstream_journal_up`, `slipstream_journal_first_sequence`,
/// `slipstream_journal_next_sequence`, `slipstream_journal_oldest_height`,
/// `slipstream_journal_newest_height`, `slipstream_journal_bytes`,
/// `slipstream_journal_segments` and `slipstream_journal_lag_events`.
///
/// /healthz: 200 when every ring can be read, its producer is alive and every
/// checked consumer is healthy, and every journal can be read and its
/// recorder (`slipstream-journal`) has a cursor that is neither dead, lapped
/// nor unreadable; else 503 with the reasons.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  slipstream exporter node-events --listen 127.0.0.1:9464
  slipstream exporter node-events other-ring --listen [::]:9464 --consumer indexer
  slipstream exporter node-events --journal node-events=/var/lib/slipstream/journal/node-events --listen 127.0.0.1:9464
  curl -s localhost:9464/metrics; curl -si localhost:9464/healthz")]
pub struct ExporterArgs {
    /// The rings: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
    #[arg(value_name = "RING", required = true)]
    pub rings: Vec<PathBuf>,

    /// The address to listen on, e.g. `127.0.0.1:9464` (port 0: any free
    /// port). The address bound is printed on stdout as `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,

    /// How far apart each scrape's two samples are (a scrape takes this long).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "200ms")]
    pub window: Duration,

    /// Consumers /healthz checks (repeatable); default: every consumer with a
    /// cursor. A name with no cursor is unhealthy.
    #[arg(long = "consumer", value_name = "NAME")]
    pub consumers: Vec<String>,

    /// Also export the journal `slipstream-journal record` keeps of RING in
    /// DIR (repeatable; RING names one of the RING arguments, as a bare name
    /// or a path, at most one journal per ring): its range, size and lag behind the ring; /healthz
    /// then also checks the journal and its recorder's cursor.
    #[arg(long = "journal", value_name = "RING=DIR", value_parser = parse_journal)]
    pub journals: Vec<(PathBuf, PathBuf)>,

    /// The thresholds of the health rules.
    #[command(flatten)]
    pub health: HealthArgs,
}

/// The consumer name the recorder (`slipstream-journal record`) reads under
/// by default; `/healthz` checks the cursor of that name for a ring with a journal.
pub const RECORDER: &str = "slipstream-journal";

fn parse_journal(s: &str) -> Result<(PathBuf, PathBuf), String> {
    match s.split_once('=') {
        Some((ring, dir)) if !ring.is_empty() && !dir.is_empty() => {
            Ok((PathBuf::from(ring), PathBuf::from(dir)))
        }
        _ => Err(format!("{s:?} is not RING=DIR")),
    }
}

/// Checks that each journal names one of `rings`, each ring at most once.
///
/// # Errors
/// A journal's ring that is not among `rings`, or a ring given two journals.
pub fn check_journals(rings: &[PathBuf], journals: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    for (i, (ring, dir)) in journals.iter().enumerate() {
        anyhow::ensure!(
            rings
                .iter()
                .any(|r| resolve_ring_path(r) == resolve_ring_path(ring)),
            "--journal {}={}: {} is not one of the RING arguments",
            ring.display(),
            dir.display(),
            ring.display()
        );
        anyhow::ensure!(
            !journals[..i]
                .iter()
                .any(|(r, _)| resolve_ring_path(r) == resolve_ring_path(ring)),
            "--journal: ring {} has two journals",
            ring.display()
        );
    }
    Ok(())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JournalLabels {
    ring: String,
    journal: String,
}

/// One scrape of a ring's journal: its directory and summary, or why it could not be read.
pub struct JournalScrape {
    /// The journal's directory.
    pub dir: String,
    /// Its summary, read just after the ring's later sample; or the error.
    pub summary: Result<Summary, String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RingLabels {
    ring: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    ring: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    ring: String,
    consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    ring: String,
    consumer: String,
    state: String,
}

/// One scrape of one ring: its two samples, or why it could not be read.
pub struct Scrape {
    /// The ring's path.
    pub ring: String,
    /// The samples, earlier and later; or the error.
    pub samples: Result<(RingStats, RingStats), String>,
    /// The ring's journal, if it was given one.
    pub journal: Option<JournalScrape>,
}

/// A ring opened for a scrape, with its first sample (or why not).
type Opened = (String, Result<(StatsReader, RingStats), String>);

/// Samples every ring twice, `window` apart, and each ring's journal
/// (`journals`: ring, as in `rings`, and directory) after the later sample.
pub fn scrape(rings: &[PathBuf], journals: &[(PathBuf, PathBuf)], window: Duration) -> Vec<Scrape> {
    let mut open: Vec<(Opened, Option<&PathBuf>)> = rings
        .iter()
        .map(|r| {
            let path = resolve_ring_path(r);
            let journal = journals
                .iter()
                .find(|(ring, _)| resolve_ring_path(ring) == path)
                .map(|(_, d)| d);
            let shown = path.display().to_string();
            let first = StatsReader::open(&path).and_then(|mut s| {
                let a = s.read()?;
                Ok((s, a))
            });
            ((shown, first.map_err(|e| e.to_string())), journal)
        })
        .collect();
    std::thread::sleep(window);
    open.drain(..)
        .map(|((ring, r), journal)| Scrape {
            ring,
            samples: r.and_then(|(mut s, a)| s.read().map(|b| (a, b)).map_err(|e| e.to_string())),
            journal: journal.map(|dir| JournalScrape {
                dir: dir.display().to_string(),
                summary: slipstream_journal::summary(dir).map_err(|e| e.to_string()),
            }),
        })
        .collect()
}

/// Events published that the journal does not hold after its end: from the
/// journal's next sequence number (the ring's oldest when it is empty) to the
/// ring's head.
pub fn journal_lag(now: &RingStats, journal: &Summary) -> u64 {
    let from = journal
        .next_seq()
        .or(now.oldest_seq)
        .unwrap_or(now.next_seq);
    now.next_seq.saturating_sub(from)
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The OpenMetrics text exposition of `scrapes`.
pub fn render(scrapes: &[Scrape], t: &HealthArgs) -> String {
    let mut reg = Registry::with_prefix("slipstream");
    macro_rules! family {
        ($name:literal, $help:literal, $labels:ty, $metric:ty) => {{
            let f = Family::<$labels, $metric>::default();
            reg.register($name, $help, f.clone());
            f
        }};
    }
    let up = family!(
        "up",
        "Whether the ring could be read (1) or not (0)",
        RingLabels,
        Gauge
    );
    let producer_up = family!(
        "producer_up",
        "Whether the ring's producer is alive",
        RingLabels,
        Gauge
    );
    let events = family!(
        "producer_events",
        "Events published into the ring over its life",
        RingLabels,
        Counter
    );
    let bytes = family!(
        "producer_bytes",
        "Bytes written into the ring over its life (record headers and padding included)",
        RingLabels,
        Counter
    );
    let blocks = family!(
        "producer_blocks",
        "Blocks committed (block_commit markers)",
        RingLabels,
        Counter
    );
    let refused = family!(
        "producer_refused_events",
        "Events the producer did not publish, by reason (too_large, switched_off)",
        RefusedLabels,
        Counter
    );
    let padding = family!(
        "producer_padding_bytes",
        "Bytes of padding records",
        RingLabels,
        Counter
    );
    let wakes = family!(
        "producer_wake_calls",
        "FUTEX_WAKE calls made by the producers",
        RingLabels,
        Counter
    );
    let starts = family!(
        "producer_starts",
        "Producers that opened the ring",
        RingLabels,
        Counter
    );
    let head = family!(
        "head_sequence",
        "Sequence number of the newest event published",
        RingLabels,
        Gauge
    );
    let oldest = family!(
        "oldest_sequence",
        "Sequence number of the oldest event the ring retains",
        RingLabels,
        Gauge
    );
    let capacity = family!(
        "ring_capacity_bytes",
        "Bytes of the ring's data region",
        RingLabels,
        Gauge
    );
    let c_up = family!(
        "consumer_up",
        "Whether a live process holds the consumer's name",
        ConsumerLabels,
        Gauge
    );
    let c_lag = family!(
        "consumer_lag_events",
        "Events published that the consumer has not read",
        ConsumerLabels,
        Gauge
    );
    let c_next = family!(
        "consumer_next_sequence",
        "Sequence number of the next event the consumer will read",
        ConsumerLabels,
        Gauge
    );
    let c_delivered = family!(
        "consumer_delivered_events",
        "Events delivered to the consumer over its cursor's life",
        ConsumerLabels,
        Counter
    );
    let c_lapped = family!(
        "consumer_lapped",
        "Times the consumer was lapped over its cursor's life",
        ConsumerLabels,
        Counter
    );
    let c_missed = family!(
        "consumer_missed_events",
        "Events the consumer missed by being lapped over its cursor's life",
        ConsumerLabels,
        Counter
    );
    let c_progress = family!(
        "consumer_last_progress_seconds",
        "When the consumer last delivered or missed an event, Unix time in seconds (0: never)",
        ConsumerLabels,
        Gauge<f64, AtomicU64>
    );
    let c_state = family!(
        "consumer_state",
        "The consumer's health: 1 for its state (healthy, slow, stalled, lapped, dead, unknown), 0 for the others",
        StateLabels,
        Gauge
    );
    let j_up = family!(
        "journal_up",
        "Whether the ring's journal could be read (1) or not (0)",
        JournalLabels,
        Gauge
    );
    let j_first = family!(
        "journal_first_sequence",
        "Sequence number of the oldest event the journal holds (or reports as a gap); absent when it is empty",
        JournalLabels,
        Gauge
    );
    let j_next = family!(
        "journal_next_sequence",
        "Sequence number the journal's next entry will carry; absent when it is empty",
        JournalLabels,
        Gauge
    );
    let j_oldest = family!(
        "journal_oldest_height",
        "Height of the oldest block the journal holds; absent when it holds none",
        JournalLabels,
        Gauge
    );
    let j_newest = family!(
        "journal_newest_height",
        "Height of the newest block the journal holds; absent when it holds none",
        JournalLabels,
        Gauge
    );
    let j_bytes = family!(
        "journal_bytes",
        "Bytes of the journal's segment files",
        JournalLabels,
        Gauge
    );
    let j_segments = family!(
        "journal_segments",
        "Segment files in the journal",
        JournalLabels,
        Gauge
    );
    let j_lag = family!(
        "journal_lag_events",
        "Events published into the ring after the journal's end (the recorder's lag behind the ring)",
        JournalLabels,
        Gauge
    );
    for s in scrapes {
        let rl = RingLabels {
            ring: s.ring.clone(),
        };
        if let Some(j) = &s.journal {
            let jl = JournalLabels {
                ring: s.ring.clone(),
                journal: j.dir.clone(),
            };
            j_up.get_or_create(&jl).set(j.summary.is_ok() as i64);
            if let Ok(sum) = &j.summary {
                let opt = [
                    (&j_first, sum.first_seq()),
                    (&j_next, sum.next_seq()),
                    (&j_oldest, sum.oldest_height()),
                    (&j_newest, sum.newest_height()),
                ];
                for (f, v) in opt {
                    if let Some(v) = v {
                        f.get_or_create(&jl).set(gauge(v));
                    }
                }
                j_bytes.get_or_create(&jl).set(gauge(sum.bytes()));
                j_segments
                    .get_or_create(&jl)
                    .set(gauge(sum.segments.len() as u64));
                if let Ok((_, now)) = &s.samples {
                    j_lag.get_or_create(&jl).set(gauge(journal_lag(now, sum)));
                }
            }
        }
        let Ok((earlier, now)) = &s.samples else {
            up.get_or_create(&rl).set(0);
            continue;
        };
        up.get_or_create(&rl).set(1);
        producer_up
            .get_or_create(&rl)
            .set(now.producer_alive as i64);
        let c = &now.counters;
        events.get_or_create(&rl).inc_by(c.events);
        bytes.get_or_create(&rl).inc_by(c.bytes);
        blocks.get_or_create(&rl).inc_by(c.blocks);
        for (reason, n) in [
            ("too_large", c.refused_too_large),
            ("switched_off", c.refused_switched_off),
        ] {
            refused
                .get_or_create(&RefusedLabels {
                    ring: s.ring.clone(),
                    reason: reason.into(),
                })
                .inc_by(n);
        }
        padding.get_or_create(&rl).inc_by(c.padding_bytes);
        wakes.get_or_create(&rl).inc_by(c.wake_calls);
        starts.get_or_create(&rl).inc_by(c.producer_starts);
        head.get_or_create(&rl)
            .set(gauge(now.next_seq.saturating_sub(1)));
        if let Some(o) = now.oldest_seq {
            oldest.get_or_create(&rl).set(gauge(o));
        }
        capacity
            .get_or_create(&rl)
            .set(gauge(now.header.capacity.get()));
        for cur in &now.cursors {
            let cl = ConsumerLabels {
                ring: s.ring.clone(),
                consumer: cur.name.clone(),
            };
            let verdict = health::judge(Some(earlier), now, cur, t);
            for state in State::ALL {
                c_state
                    .get_or_create(&StateLabels {
                        ring: s.ring.clone(),
                        consumer: cur.name.clone(),
                        state: state.as_str().into(),
                    })
                    .set((state == verdict.state) as i64);
            }
            if cur.problem.is_some() {
                continue;
            }
            c_up.get_or_create(&cl).set((cur.live == Some(true)) as i64);
            c_lag.get_or_create(&cl).set(gauge(now.lag(cur)));
            c_next.get_or_create(&cl).set(gauge(cur.next_seq));
            c_delivered.get_or_create(&cl).inc_by(cur.delivered);
            c_lapped.get_or_create(&cl).inc_by(cur.laps);
            c_missed.get_or_create(&cl).inc_by(cur.missed);
            c_progress
                .get_or_create(&cl)
                .set(cur.last_progress_unix_ns as f64 / 1e9);
        }
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg)
        .expect("writing to a String cannot fail");
    out
}

/// `/healthz`: whether everything is healthy, and one line per reason it is not.
pub fn healthz(scrapes: &[Scrape], names: &[String], t: &HealthArgs) -> (bool, String) {
    let mut ok = true;
    let mut body = String::new();
    for s in scrapes {
        let (earlier, now) = match &s.samples {
            Ok(pair) => pair,
            Err(e) => {
                ok = false;
                let _ = writeln!(body, "{}: cannot be read: {e}", s.ring);
                continue;
            }
        };
        if !now.producer_alive {
            ok = false;
            let _ = writeln!(body, "{}: producer: not alive", s.ring);
        }
        let verdicts = health::judge_all(Some(earlier), now, t);
        let (fine, lines) = health::check(&verdicts, names);
        ok &= fine;
        for line in lines {
            let _ = writeln!(body, "{}: {line}", s.ring);
        }
        if let Some(j) = &s.journal {
            for line in journal_health(j, &verdicts) {
                ok = false;
                let _ = writeln!(body, "{}: {line}", s.ring);
            }
        }
    }
    (ok, body)
}

/// Why a ring's journal is unhealthy (nothing if it is healthy): its
/// directory cannot be read, or its recorder's cursor ([`RECORDER`]) is
/// missing, dead, lapped or unreadable. (A slow or stalled recorder is
/// judged by the consumer rules, as any consumer `--consumer` checks.)
pub fn journal_health(j: &JournalScrape, verdicts: &[(String, health::Verdict)]) -> Vec<String> {
    let mut lines = Vec::new();
    if let Err(e) = &j.summary {
        lines.push(format!("journal {}: cannot be read: {e}", j.dir));
    }
    match verdicts.iter().find(|(n, _)| n == RECORDER) {
        None => lines.push(format!(
            "journal {}: its recorder has no cursor (no consumer named {RECORDER})",
            j.dir
        )),
        Some((_, v)) if matches!(v.state, State::Dead | State::Lapped | State::Unknown) => lines
            .push(format!(
                "journal {}: its recorder ({RECORDER}) is {}: {}",
                j.dir, v.state, v.reason
            )),
        Some(_) => {}
    }
    lines
}

/// Runs `slipstream exporter` until SIGINT or SIGTERM.
pub fn run(args: ExporterArgs) -> anyhow::Result<ExitCode> {
    check_journals(&args.rings, &args.journals)?;
    cli::install_signal_handlers()?;
    let server = tiny_http::Server::http(args.listen.as_str())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("listen on {}", args.listen))?;
    let bound = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or_else(|| args.listen.clone());
    println!("listening on http://{bound}");
    use std::io::Write;
    std::io::stdout().flush().ok();
    loop {
        if let Some(sig) = cli::interrupted() {
            return Ok(cli::signal_exit_code(sig));
        }
        let req = match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(req)) => req,
            Ok(None) => continue,
            Err(e) => return Err(e).context("accept a connection"),
        };
        let path = req.url().split('?').next().unwrap_or("").to_owned();
        let response = match (req.method(), path.as_str()) {
            (tiny_http::Method::Get, "/metrics") => {
                let text = render(
                    &scrape(&args.rings, &args.journals, args.window),
                    &args.health,
                );
                tiny_http::Response::from_string(text).with_header(header(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ))
            }
            (tiny_http::Method::Get, "/healthz") => {
                let (ok, body) = healthz(
                    &scrape(&args.rings, &args.journals, args.window),
                    &args.consumers,
                    &args.health,
                );
                tiny_http::Response::from_string(body)
                    .with_status_code(if ok { 200 } else { 503 })
                    .with_header(header("text/plain; charset=utf-8"))
            }
            (tiny_http::Method::Get, "/") => tiny_http::Response::from_string(
                "slipstream exporter: GET /metrics (Prometheus), GET /healthz\n",
            )
            .with_header(header("text/plain; charset=utf-8")),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        // A client that went away is its own problem, not the exporter's.
        let _ = req.respond(response);
    }
}

fn header(content_type: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
        .expect("a valid header")
}
