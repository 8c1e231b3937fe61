//! Instruction counts per publish and per consumed record, from callgrind.
//!
//! Timed figures on a shared 2-core machine swing by 2x; the number of
//! instructions a given binary executes does not. This binary runs its own
//! workloads under `valgrind --tool=callgrind` at two sizes, and takes the
//! difference divided by the extra records, so that start-up and set-up cancel:
//!
//! ```sh
//! cargo run --release -p slipstream-callgrind -- measure   # prints the figures as JSON
//! cargo run --release -p slipstream-callgrind -- check     # fails if one grew > 10%
//! cargo run --release -p slipstream-callgrind -- update    # rewrites benches/callgrind.json
//! ```
//!
//! Workloads (64-byte payloads, 16 MiB anonymous ring, in one process):
//! - `publish`: `Writer::publish` only, no reader;
//! - `reserve`: `Writer::reserve`, a copy into `payload_mut`, `commit`: the
//!   producer hook's path (it encodes each event in place), no reader;
//! - `try_next`: publish batches of 10 000 records, then read each batch back
//!   with `Reader::try_next` (the per-item API), checking every record;
//! - `receive`: the same, reading with `Reader::receive` (the batch API).
//!
//! Per consumed record = per pair (publish + read) - per publish.
//! The committed figures live in `benches/callgrind.json`; `check` exits 1
//! with a message naming the figure that grew, and exits 2 if valgrind is
//! missing (install it with `bash tests/install-deps.sh`).

use serde_json::{json, Value};
use slipstream_ring::{Item, Layout, Start, Writer};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Payload bytes per record.
const PAYLOAD: usize = 64;
/// Records per publish-then-read batch.
const BATCH: u64 = 10_000;
/// The smaller run; the larger one has twice as many records.
const N: u64 = 100_000;
/// How much a figure may grow over the committed one before `check` fails.
const TOLERANCE: f64 = 0.10;

fn figures_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../callgrind.json"))
}

/// Runs one workload of `n` records in this process.
fn work(mode: &str, n: u64) -> Result<(), String> {
    let mut w = Writer::anonymous(Layout::new(16 << 20)).map_err(|e| e.to_string())?;
    let mut r = w.reader(Start::End).map_err(|e| e.to_string())?;
    let payload = [0x5Au8; PAYLOAD];
    let mut sum = 0u64;
    let mut done = 0u64;
    while done < n {
        let k = BATCH.min(n - done);
        if mode == "reserve" {
            // The node's path: encode in place into a reservation, then commit.
            for _ in 0..k {
                let mut r = w.reserve(1, PAYLOAD).map_err(|e| e.to_string())?;
                r.payload_mut().copy_from_slice(black_box(&payload));
                black_box(r.commit());
            }
        } else {
            for _ in 0..k {
                w.publish(1, black_box(&payload))
                    .map_err(|e| e.to_string())?;
            }
        }
        match mode {
            "publish" | "reserve" => {}
            "try_next" => {
                for _ in 0..k {
                    match r.try_next().map_err(|e| e.to_string())? {
                        Some(Item::Record(rec)) => {
                            sum = sum.wrapping_add(rec.seq + rec.payload[PAYLOAD - 1] as u64)
                        }
                        other => return Err(format!("expected a record, got {other:?}")),
                    }
                }
            }
            "receive" => {
                let mut got = 0u64;
                while got < k {
                    let mut bad = None;
                    let n = r
                        .receive(usize::MAX, |item| match item {
                            Item::Record(rec) => {
                                sum = sum.wrapping_add(rec.seq + rec.payload[PAYLOAD - 1] as u64)
                            }
                            Item::Lagged(lag) => bad = Some(lag),
                        })
                        .map_err(|e| e.to_string())?;
                    if let Some(lag) = bad {
                        return Err(format!("unexpected lap {lag:?}"));
                    }
                    if n == 0 {
                        return Err("reader found nothing to read".into());
                    }
                    got += n as u64;
                }
            }
            other => return Err(format!("unknown workload {other}")),
        }
        done += k;
    }
    black_box(sum);
    Ok(())
}

/// Instructions executed by `self work MODE n` under callgrind.
fn count(mode: &str, n: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::env::temp_dir().join(format!(
        "slipstream-callgrind-{}-{mode}-{n}.out",
        std::process::id()
    ));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["work", mode, &n.to_string()])
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "valgrind is not installed: the instruction-count check cannot run. \
                 Install it with `bash tests/install-deps.sh` (or `apt-get install valgrind`)"
                    .into(),
            )
        }
        Err(e) => return Err(format!("cannot start valgrind: {e}")),
    };
    let text = std::fs::read_to_string(&out);
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return Err(format!("valgrind on workload {mode} {n} failed: {status}"));
    }
    let text = text.map_err(|e| format!("reading {}: {e}", out.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no `summary:` line in callgrind's output for {mode} {n}"))
}

/// Instructions per record of `mode`, setup cancelled out.
fn per_record(mode: &str) -> Result<f64, String> {
    let small = count(mode, N)?;
    let large = count(mode, 2 * N)?;
    Ok(large.saturating_sub(small) as f64 / N as f64)
}

fn measure() -> Result<Value, String> {
    let publish = per_record("publish")?;
    let reserve = per_record("reserve")?;
    let try_next = per_record("try_next")? - publish;
    let receive = per_record("receive")? - publish;
    Ok(json!({
        "what": "instructions per record, 64-byte payloads (callgrind; see benches/callgrind/src/main.rs)",
        "publish_64": round1(publish),
        "reserve_commit_64": round1(reserve),
        "consume_try_next_64": round1(try_next),
        "consume_receive_64": round1(receive),
    }))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn check(now: &Value) -> Result<(), String> {
    let path = figures_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("reading the committed figures {}: {e}", path.display()))?;
    let committed: Value =
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let mut failures = Vec::new();
    for key in [
        "publish_64",
        "reserve_commit_64",
        "consume_try_next_64",
        "consume_receive_64",
    ] {
        let old = committed[key]
            .as_f64()
            .ok_or_else(|| format!("{} has no number `{key}`", path.display()))?;
        let new = now[key].as_f64().expect("measured");
        let ratio = new / old;
        println!("{key}: committed {old:.1}, now {new:.1} instructions ({ratio:.3}x)");
        if ratio > 1.0 + TOLERANCE {
            failures.push(format!(
                "{key} grew from {old:.1} to {new:.1} instructions per record ({:+.1}%, limit +{:.0}%)",
                (ratio - 1.0) * 100.0,
                TOLERANCE * 100.0
            ));
        } else if ratio < 1.0 - TOLERANCE {
            println!("  (fell by more than 10%: update the figures with `-- update`)");
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "instruction counts regressed:\n  {}\n(if intended, rerun with `-- update` and commit {})",
            failures.join("\n  "),
            path.display()
        ))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["work", mode, n] => match n.parse() {
            Ok(n) => work(mode, n),
            Err(e) => Err(format!("bad count {n}: {e}")),
        },
        ["measure"] => measure().map(|v| println!("{v:#}")),
        ["check"] | [] => measure().and_then(|v| check(&v)),
        ["update"] => measure().and_then(|v| {
            std::fs::write(figures_path(), format!("{v:#}\n"))
                .map_err(|e| format!("writing {}: {e}", figures_path().display()))
                .map(|()| println!("{v:#}"))
        }),
        _ => Err("usage: slipstream-callgrind [check | measure | update | work MODE N]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slipstream-callgrind: {e}");
            if e.starts_with("valgrind is not installed") {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
