//! `slipstream exporter --journal RING=DIR`: the journal metrics and the
//! /healthz rule, from a journal written by the real recorder
//! (`slipstream-journal record`), its exposition parsed by a Prometheus text
//! parser. (The HTTP serving of the same exposition is tested in
//! tools/tests/operating.rs; this crate can run the recorder binary, that
//! one the exporter binary.)
//!
//! The ring and the journal are removed by a guard, the recorder child is
//! killed by one; every wait is bounded.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slipstream_producer::{Layout, Producer, ProducerOptions};
use slipstream_tools::exporter::{healthz, render, scrape};
use slipstream_tools::health::HealthArgs;

const RECORDER: &str = env!("CARGO_BIN_EXE_slipstream-journal");

/// A ring path and a journal directory, removed on drop (even on failure).
struct Scratch {
    ring: PathBuf,
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ring);
        slipstream_ring::sidecar::remove_all(&self.ring);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child killed and reaped on drop.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn recorder(s: &Scratch, extra: &[&str]) -> Command {
    let mut c = Command::new(RECORDER);
    c.arg("record")
        .arg(&s.ring)
        .arg("--dir")
        .arg(&s.dir)
        .arg("-q")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Blocks `heights` of one begin, 3 mapping updates and one commit each.
fn publish(p: &mut Producer, heights: std::ops::RangeInclusive<u64>) {
    for h in heights {
        p.begin_block(h).unwrap();
        for _ in 0..3 {
            p.mapping_update(b"credits.aleo", b"account", &h.to_le_bytes(), &[2; 40])
                .unwrap();
        }
        p.commit_block().unwrap();
    }
}

fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))?;
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(v),
        ref other => panic!("{metric}: {other:?}"),
    }
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

#[test]
fn journal_metrics_and_health_from_a_recorded_journal() {
    let id = format!("slipstream-jexporter-{}", std::process::id());
    let s = Scratch {
        ring: PathBuf::from(format!("/dev/shm/{id}")),
        dir: std::env::temp_dir().join(&id),
    };
    let _ = std::fs::remove_file(&s.ring);
    let _ = std::fs::remove_dir_all(&s.dir);
    let mut p = Producer::open(
        &s.ring,
        ProducerOptions {
            layout: Layout::new(1 << 16),
            ..Default::default()
        },
    )
    .unwrap();
    publish(&mut p, 1..=5); // seq 1..=25
    let st = recorder(&s, &["--exit-when-idle", "200ms"])
        .status()
        .unwrap();
    assert!(st.success(), "{st:?}");
    publish(&mut p, 6..=7); // seq 26..=35: not in the journal
    let missing = s.dir.with_extension("missing");
    let rings = [s.ring.clone()];
    let t = HealthArgs::default();
    let window = Duration::from_millis(50);

    let r = s.ring.to_str().unwrap();
    let d = s.dir.to_str().unwrap();
    let jl = [("ring", r), ("journal", d)];
    let sc = scrape(&rings, &[(s.ring.clone(), s.dir.clone())], window);
    let text = render(&sc, &t);
    let m = parse(&text);
    let sum = slipstream_journal::summary(&s.dir).unwrap();
    let v = |name: &str| value(&m, name, &jl).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert_eq!(v("slipstream_journal_up"), 1.0);
    assert_eq!(v("slipstream_journal_first_sequence"), 1.0);
    assert_eq!(v("slipstream_journal_next_sequence"), 26.0);
    assert_eq!(v("slipstream_journal_oldest_height"), 1.0);
    assert_eq!(v("slipstream_journal_newest_height"), 5.0);
    assert_eq!(v("slipstream_journal_bytes"), sum.bytes() as f64);
    assert!(sum.bytes() > 25 * 16, "{sum:?}");
    assert_eq!(v("slipstream_journal_segments"), sum.segments.len() as f64);
    assert!(!sum.segments.is_empty());
    assert_eq!(v("slipstream_journal_lag_events"), 10.0);
    assert!(m.docs.contains_key("slipstream_journal_lag_events"));
    // The recorder exited: its cursor is dead, and /healthz says so.
    let (ok, body) = healthz(&sc, &[], &t);
    assert!(!ok, "{body}");
    assert!(
        body.contains("its recorder (slipstream-journal) is dead"),
        "{body}"
    );

    // A journal that cannot be read: up 0, no range, and unhealthy.
    let sc = scrape(&rings, &[(s.ring.clone(), missing.clone())], window);
    let m = parse(&render(&sc, &t));
    let ml = [("ring", r), ("journal", missing.to_str().unwrap())];
    assert_eq!(value(&m, "slipstream_journal_up", &ml), Some(0.0));
    assert_eq!(value(&m, "slipstream_journal_next_sequence", &ml), None);
    let (ok, body) = healthz(&sc, &[], &t);
    assert!(!ok);
    assert!(body.contains("cannot be read"), "{body}");

    // The recorder running and caught up: lag 0, healthy.
    let _rec = Guard(recorder(&s, &[]).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while slipstream_journal::summary(&s.dir)
        .ok()
        .and_then(|x| x.next_seq())
        != Some(36)
    {
        assert!(Instant::now() < deadline, "the recorder did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sc = scrape(&rings, &[(s.ring.clone(), s.dir.clone())], window);
    let text = render(&sc, &t);
    let m = parse(&text);
    assert_eq!(
        value(&m, "slipstream_journal_lag_events", &jl),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&m, "slipstream_journal_newest_height", &jl),
        Some(7.0)
    );
    let (ok, body) = healthz(&sc, &[], &t);
    assert!(ok, "{body}");
    println!("{text}");
}
