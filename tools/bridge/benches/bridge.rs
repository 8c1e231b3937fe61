//! Bridge benchmarks against a real `nats-server` of the bench's own.
//!
//! 1. Throughput: a ring holding EVENTS events (blocks of 1000 mapping
//!    updates) is bridged into a fresh stream by `slipstream-bridge`; then a
//!    bare async-nats JetStream publisher publishes the very same messages
//!    (subjects, headers, payloads, read back from the bridge's stream) into
//!    another fresh stream, with the same bound on messages in flight. Rounds
//!    alternate. Both times run from the start (process spawn, or connect)
//!    until the stream holds every message.
//! 2. End-to-end latency: a producer thread publishes mapping updates whose
//!    value is the publish time, paced; the bridge publishes them to
//!    JetStream; a `RemoteConsumer` in this process receives them.
//!
//! `cargo bench -p slipstream-bridge --bench bridge` (env `BRIDGE_BENCH_ROUNDS`,
//! default 5; `BRIDGE_BENCH_EVENTS`, default 200000; `BRIDGE_BENCH_SAMPLES`,
//! default 20000 per latency run).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, message::PublishMessage};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use slipstream_consumer::remote::{connect, RemoteConsumer};
use slipstream_consumer::{EventRef, Item, Start};
use slipstream_producer::{Producer, ProducerOptions, Wake};
use slipstream_ring::Layout;
use slipstream_tests::{ChildGuard, NatsServer, TempRing};

const BRIDGE: &str = env!("CARGO_BIN_EXE_slipstream-bridge");
const IN_FLIGHT: usize = 4096;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    k
}

/// A ring holding `events` mapping updates in blocks of 1000.
fn fill_ring(ring: &TempRing, events: u64) -> u64 {
    let mut p = Producer::open(
        ring.path(),
        ProducerOptions {
            layout: Layout::new(512 << 20),
            ..Default::default()
        },
    )
    .expect("producer");
    let mut height = 1;
    let mut done = 0;
    while done < events {
        p.begin_block(height).unwrap();
        for _ in 0..1000.min(events - done) {
            p.mapping_update_at(
                height,
                b"credits.aleo",
                b"account",
                &key(done),
                &done.to_le_bytes(),
            )
            .unwrap();
            done += 1;
        }
        p.commit_block().unwrap();
        height += 1;
    }
    let next = p.next_seq();
    drop(p);
    next - 1
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn stream_messages(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(s) => s.cached_info().state.messages,
        Err(_) => 0,
    }
}

/// Runs the bridge into a fresh stream; seconds until the stream holds `total` messages.
fn bridge_round(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    ring: &TempRing,
    url: &str,
    stream: &str,
    total: u64,
) -> f64 {
    let t0 = Instant::now();
    let mut child = ChildGuard::new(
        Command::new(BRIDGE)
            .arg(ring.path())
            .args(["--nats", url, "--stream", stream, "--report-every", "0"])
            .args(["--max-in-flight", &IN_FLIGHT.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bridge"),
    );
    loop {
        if rt.block_on(stream_messages(js, stream)) >= total {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "the bridge stalled"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = t0.elapsed().as_secs_f64();
    child.signal(nix::sys::signal::Signal::SIGTERM);
    child.wait_timeout(Duration::from_secs(20), "bridge");
    secs
}

struct Stored {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
}

async fn read_all(js: &jetstream::Context, name: &str) -> Vec<Stored> {
    let s = js.get_stream(name).await.unwrap();
    let total = s.cached_info().state.messages;
    let c = s
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut m = c.messages().await.unwrap();
    let mut out = Vec::with_capacity(total as usize);
    while (out.len() as u64) < total {
        let msg = m.next().await.unwrap().unwrap();
        out.push(Stored {
            subject: msg.subject.to_string(),
            headers: msg.headers.clone().unwrap(),
            payload: msg.payload.clone(),
        });
    }
    out
}

/// Publishes `msgs` into a fresh stream with async-nats alone; seconds from connect to the last ack.
async fn bare_round(
    url: &str,
    config: &jetstream::stream::Config,
    stream: &str,
    msgs: &[Stored],
) -> f64 {
    let t0 = Instant::now();
    let client = connect(url, Duration::from_secs(5)).await.unwrap();
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(IN_FLIGHT + 16)
        .backpressure_on_inflight(true)
        .build(client);
    // The stream the bridge created, under another name.
    js.create_stream(jetstream::stream::Config {
        name: stream.to_string(),
        ..config.clone()
    })
    .await
    .unwrap();
    let mut in_flight = std::collections::VecDeque::new();
    for m in msgs {
        let ack = js
            .send_publish(
                m.subject.clone(),
                PublishMessage::build()
                    .payload(m.payload.clone())
                    .headers(m.headers.clone()),
            )
            .await
            .unwrap();
        in_flight.push_back(std::future::IntoFuture::into_future(ack));
        // As the bridge: take the acknowledgements that are in, wait only when full.
        while let Some(front) = in_flight.front_mut() {
            match futures_util::FutureExt::now_or_never(front) {
                Some(r) => {
                    r.unwrap();
                    in_flight.pop_front();
                }
                None => break,
            }
        }
        if in_flight.len() >= IN_FLIGHT {
            in_flight.pop_front().unwrap().await.unwrap();
        }
    }
    for ack in in_flight {
        ack.await.unwrap();
    }
    t0.elapsed().as_secs_f64()
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn latency_run(url: &str, run: u64, samples: u64) -> Histogram<u64> {
    let ring = TempRing::new("bridge-bench-lat");
    let base = Instant::now();
    let mut p = Producer::open(
        ring.path(),
        ProducerOptions {
            layout: Layout::new(64 << 20),
            wake: Wake::EveryEvent,
            ..Default::default()
        },
    )
    .unwrap();
    let stream = format!("LAT{run}");
    let mut bridge = ChildGuard::new(
        Command::new(BRIDGE)
            .arg(ring.path())
            .args(["--nats", url, "--stream", &stream, "--report-every", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The stream exists once the bridge is up.
    let rt = runtime();
    rt.block_on(async {
        let js = jetstream::new(connect(url, Duration::from_secs(5)).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while js.get_stream(&stream).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the bridge never created {stream}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut consumer = RemoteConsumer::builder(url, &stream)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let producer = std::thread::spawn(move || {
        let mut height = 1;
        let mut sent = 0u64;
        let start = Instant::now();
        while sent < samples {
            p.begin_block(height).unwrap();
            for _ in 0..20 {
                // One event every 200 µs (5000/s).
                let due = start + Duration::from_micros(200 * sent);
                while Instant::now() < due {
                    std::thread::sleep(Duration::from_micros(50));
                }
                let now = base.elapsed().as_nanos() as u64;
                p.mapping_update_at(
                    height,
                    b"credits.aleo",
                    b"account",
                    &key(sent),
                    &now.to_le_bytes(),
                )
                .unwrap();
                sent += 1;
            }
            p.commit_block().unwrap();
            height += 1;
        }
        p
    });
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut got = 0;
    while got < samples {
        match consumer.next(Duration::from_secs(30)).unwrap() {
            Some(Item::Event(e)) => {
                if let EventRef::MappingUpdate { value, .. } = e.event {
                    let sent = u64::from_le_bytes(value.try_into().unwrap());
                    let now = base.elapsed().as_nanos() as u64;
                    hist.saturating_record(now.saturating_sub(sent).max(1));
                    got += 1;
                }
            }
            Some(Item::Lagged(l)) => panic!("lagged: {l:?}"),
            Some(_) => {}
            None => panic!("no event for 30 s"),
        }
    }
    let _producer = producer.join().unwrap();
    bridge.signal(nix::sys::signal::Signal::SIGTERM);
    bridge.wait_timeout(Duration::from_secs(20), "bridge");
    drop(consumer);
    // Streams may not overlap: the next run's captures the same subjects.
    rt.block_on(async {
        let js = jetstream::new(connect(url, Duration::from_secs(5)).await.unwrap());
        js.delete_stream(&stream).await.unwrap();
    });
    hist
}

fn main() {
    // `cargo bench` passes --bench; a filter argument runs only that part.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |what: &str| filter.is_empty() || filter.iter().any(|f| what.contains(f.as_str()));
    let server = NatsServer::start();
    let url = server.url();
    let rt = runtime();
    if want("throughput") {
        let rounds = env_or("BRIDGE_BENCH_ROUNDS", 5);
        let events = env_or("BRIDGE_BENCH_EVENTS", 200_000);
        let ring = TempRing::new("bridge-bench");
        let last = fill_ring(&ring, events);
        let js = rt.block_on(async {
            jetstream::new(connect(&url, Duration::from_secs(5)).await.unwrap())
        });
        let total = last; // one message per ring record (no gaps, no producer change while it runs)
                          // The messages the bridge publishes, for the bare publisher.
        bridge_round(&rt, &js, &ring, &url, "WARM", total);
        let msgs = rt.block_on(read_all(&js, "WARM"));
        let config = rt
            .block_on(js.get_stream("WARM"))
            .unwrap()
            .cached_info()
            .config
            .clone();
        rt.block_on(js.delete_stream("WARM")).unwrap();
        let bytes: usize = msgs.iter().map(|m| m.payload.len()).sum();
        let names: Vec<String> = msgs[1]
            .headers
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        println!("a message: {} {names:?}", msgs[1].subject);
        println!(
            "throughput: {} messages per round ({} ring records, {:.0} B payload on average), {IN_FLIGHT} in flight, file storage",
            msgs.len(),
            total,
            bytes as f64 / msgs.len() as f64
        );
        let (mut b, mut p, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so that neither always follows a deletion.
            let mut bs = 0.0;
            let mut ps = 0.0;
            for which in [round % 2, 1 - round % 2] {
                if which == 0 {
                    let name = format!("B{round}");
                    bs = bridge_round(&rt, &js, &ring, &url, &name, total);
                    rt.block_on(js.delete_stream(&name)).unwrap();
                } else {
                    let name = format!("P{round}");
                    ps = rt.block_on(bare_round(&url, &config, &name, &msgs));
                    rt.block_on(js.delete_stream(&name)).unwrap();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            let (brate, prate) = (total as f64 / bs, msgs.len() as f64 / ps);
            println!(
                "  round {round}: bridge {:.0} events/s ({bs:.2} s), bare async-nats publisher {:.0} msgs/s ({ps:.2} s), ratio {:.3}",
                brate,
                prate,
                brate / prate
            );
            b.push(brate);
            p.push(prate);
            r.push(brate / prate);
        }
        let (bm, bl, bh) = stats(&b);
        let (pm, pl, ph) = stats(&p);
        let (rm, rl, rh) = stats(&r);
        println!("  bridge: median {bm:.0} events/s [{bl:.0} - {bh:.0}]");
        println!("  bare:   median {pm:.0} msgs/s [{pl:.0} - {ph:.0}]");
        println!("  ratio bridge/bare (per round): median {rm:.3} [{rl:.3} - {rh:.3}]");
    }
    if want("latency") {
        let samples = env_or("BRIDGE_BENCH_SAMPLES", 20_000);
        for run in 0..3 {
            let h = latency_run(&url, run, samples);
            let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "latency run {run}: {samples} events at 5000/s, node publish -> remote consumer: p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
                us(0.5),
                us(0.99),
                us(0.999),
                h.max() as f64 / 1000.0
            );
        }
    }
}
