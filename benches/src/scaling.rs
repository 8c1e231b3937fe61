//! Scaling: one Slipstream producer process and 0, 1, 2, 4 or 8 consumer
//! processes, over rings from 64 KiB to 1 GiB.
//!
//! The parent creates the ring file and starts the producer (the usual
//! Slipstream child: a warm-up lap, then `ready`), then the consumers (this
//! binary again, role `consume`): each attaches, drains the warm-up lap,
//! says `ready`, and on `go` busy-polls with `Reader::receive`, checking every
//! record (sequence and content), until it has seen or been told it missed
//! every message; it then prints `result received=N lost=N end_ns=T` (`T` its
//! `CLOCK_MONOTONIC` reading at the last record). The
//! parent says `go` to every consumer, then to the producer. Publish cost =
//! the producer's own time / messages; each consumer's delivered rate =
//! records it received / the time from the parent's `go` to its last record.

use crate::common::{Verifier, Watchdog};
use crate::payload;
use crate::proc::{ChildArgs, ChildGuard, Control};
use crate::report::{fmt_rate, Summary};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use slipstream_ring::{Item, ReadError, Reader, SeekError, Start};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// One run of one cell.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleRun {
    /// Nanoseconds per publish, the producer's own clock.
    pub publish_ns: f64,
    /// Each consumer's delivered records per second.
    pub delivered: Vec<f64>,
    /// Each consumer's records lost to laps.
    pub lost: Vec<u64>,
    /// Times a consumer's reader gave up finding a resume position after a
    /// lap (`SeekError::Contended`) and tried again, over all consumers.
    pub contended: u64,
}

/// One cell: a ring size and a number of consumers, over its runs.
#[derive(Debug, Serialize)]
pub struct ScaleCell {
    /// Ring capacity, bytes.
    pub ring_bytes: u64,
    /// Consumer processes.
    pub consumers: usize,
    /// Messages per run.
    pub messages: u64,
    /// Each successful run.
    pub runs: Vec<ScaleRun>,
    /// Why the cell was skipped, or its runs failed.
    pub problems: Vec<String>,
}

impl ScaleCell {
    /// Publish cost over the runs, ns.
    pub fn publish(&self) -> Option<Summary> {
        Summary::of(&self.runs.iter().map(|r| r.publish_ns).collect::<Vec<_>>())
    }

    /// Every consumer's delivered rate in every run.
    pub fn delivered(&self) -> Option<Summary> {
        Summary::of(
            &self
                .runs
                .iter()
                .flat_map(|r| r.delivered.iter().copied())
                .collect::<Vec<_>>(),
        )
    }

    /// Records lost over all consumers and runs, and records sent to them.
    pub fn loss(&self) -> (u64, u64) {
        let lost = self.runs.iter().flat_map(|r| r.lost.iter()).sum();
        (
            lost,
            self.messages * (self.consumers * self.runs.len()) as u64,
        )
    }
}

/// Free bytes of the file system holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(dir).with_context(|| format!("statvfs {}", dir.display()))?;
    Ok(st.f_bavail * st.f_frsize)
}

/// One run: the producer and `consumers` consumer processes.
fn run_once(
    ring_bytes: u64,
    consumers: usize,
    size: usize,
    count: u64,
    timeout: Duration,
) -> Result<ScaleRun> {
    let path = crate::slip::empty_ring_file()?;
    let common = |mode: &str| {
        BTreeMap::from([
            ("transport", "slipstream".to_string()),
            ("mode", mode.to_string()),
            ("size", size.to_string()),
            ("count", count.to_string()),
            ("ring", ring_bytes.to_string()),
            ("path", path.path().display().to_string()),
            ("timeout", timeout.as_secs().to_string()),
        ])
    };
    let mut producer_args = common("tput");
    producer_args.insert("rate", "0".into());
    let mut producer = ChildGuard::spawn("slipstream producer", &producer_args)?;
    producer.expect("ready")?;
    let mut kids = Vec::new();
    for i in 0..consumers {
        let mut c = ChildGuard::spawn(&format!("slipstream consumer {i}"), &common("consume"))?;
        c.expect("ready")?;
        kids.push(c);
    }
    // Every rate is timed from here, by this process's clock (CLOCK_MONOTONIC
    // is one clock for every process): a consumer scheduled late after `go`
    // must not look fast.
    let t_go = payload::now_ns();
    for c in kids.iter_mut() {
        c.say("go")?;
    }
    producer.say("go")?;
    let mut run = ScaleRun {
        publish_ns: 0.0,
        delivered: Vec::new(),
        lost: Vec::new(),
        contended: 0,
    };
    for mut c in kids {
        let line = c.expect("result")?;
        let field = |k: &str| -> Result<u64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .ok_or_else(|| anyhow!("`{line}` has no {k}"))?
                .parse()
                .with_context(|| format!("parsing `{line}`"))
        };
        let (received, lost, end) = (field("received")?, field("lost")?, field("end_ns")?);
        let ns = end.saturating_sub(t_go);
        if received + lost != count {
            bail!("a consumer checked {received} and lost {lost} of {count}");
        }
        run.delivered.push(received as f64 * 1e9 / ns.max(1) as f64);
        run.lost.push(lost);
        run.contended += field("contended")?;
        c.finish()?;
    }
    let report = producer.finish()?;
    run.publish_ns = report.sender_ns as f64 / count as f64;
    Ok(run)
}

/// Child side: one consumer.
pub fn consumer_child(args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    let path = args.str("path")?.to_string();
    let size: usize = args.num("size")?;
    let count: u64 = args.num("count")?;
    let timeout = Duration::from_secs(args.num("timeout")?);
    let file = File::open(&path).with_context(|| format!("opening {path}"))?;
    let mut reader = Reader::attach(&file, Start::Oldest)
        .with_context(|| format!("attaching a reader to {path}"))?;
    // Drain the producer's warm-up lap (it is idle until `go`).
    let mut bad = None;
    while reader
        .receive(usize::MAX, |item| {
            if let Item::Record(r) = item {
                if r.kind != crate::slip::KIND_WARMUP && bad.is_none() {
                    bad = Some((r.seq, r.kind));
                }
            }
        })
        .context("reading the warm-up lap")?
        > 0
    {}
    if let Some((seq, kind)) = bad {
        bail!("warm-up record {seq} has kind {kind}");
    }
    let base = reader.next_seq();
    ctl.ready()?;
    let mut v = Verifier::new(size);
    let mut dog = Watchdog::new(timeout, "slipstream consumer");
    let t0 = payload::now_ns();
    let mut failed: Option<anyhow::Error> = None;
    let mut contended = 0u64;
    while v.next < count {
        let got = reader.receive(usize::MAX, |item| {
            if failed.is_none() {
                if let Err(e) = crate::slip::take_item(&mut v, item, base, count) {
                    failed = Some(e);
                }
            }
        });
        let n = match got {
            Ok(n) => n,
            // A consumer starved of CPU on a small ring can be lapped again
            // and again while it looks for where to resume: the reader says
            // so, and the next call tries again (and reports the lap). Counted.
            Err(ReadError::Seek(SeekError::Contended { .. })) if contended < 100_000 => {
                contended += 1;
                0
            }
            Err(e) => return Err(anyhow::Error::new(e).context("slipstream reader")),
        };
        if let Some(e) = failed.take() {
            return Err(e);
        }
        if n == 0 {
            dog.idle(|| Ok(()))?;
        }
    }
    let end = payload::now_ns();
    ctl.say(&format!(
        "result received={} lost={} end_ns={end} contended={contended}",
        v.verified, v.lost
    ))?;
    let ns = end - t0;
    ctl.done(ns)
}

/// Every cell, runs outermost.
pub fn run(
    rings: &[u64],
    consumers: &[usize],
    size: usize,
    count: u64,
    reps: usize,
    timeout: Duration,
) -> Vec<ScaleCell> {
    let mut cells: Vec<ScaleCell> = Vec::new();
    for &ring in rings {
        for &n in consumers {
            let mut cell = ScaleCell {
                ring_bytes: ring,
                consumers: n,
                messages: count,
                runs: Vec::new(),
                problems: Vec::new(),
            };
            match free_bytes(Path::new("/dev/shm")) {
                Ok(free) if free < ring + (ring >> 3) + (64 << 20) => cell.problems.push(format!(
                    "skipped: /dev/shm has {} MiB free, a {} ring needs {} MiB and a margin",
                    free >> 20,
                    fmt_size(ring as usize),
                    ring >> 20
                )),
                Ok(_) => {}
                Err(e) => cell.problems.push(format!("skipped: {e:#}")),
            }
            if let Ok(geo) = slipstream_ring::Layout::new(ring).geometry() {
                if (geo.layout.max_payload as usize) < size {
                    cell.problems.push(format!(
                        "skipped: a {} ring holds records of at most {} B",
                        fmt_size(ring as usize),
                        geo.layout.max_payload
                    ));
                }
            }
            cells.push(cell);
        }
    }
    for rep in 1..=reps {
        for cell in cells.iter_mut() {
            if cell.problems.iter().any(|p| p.starts_with("skipped")) {
                continue;
            }
            match run_once(cell.ring_bytes, cell.consumers, size, count, timeout) {
                Ok(r) => {
                    eprintln!(
                        "[scaling rep {rep}/{reps}] ring {} consumers {}: publish {:.1} ns, delivered {}",
                        fmt_size(cell.ring_bytes as usize),
                        cell.consumers,
                        r.publish_ns,
                        r.delivered
                            .iter()
                            .zip(&r.lost)
                            .map(|(d, l)| format!("{} (lost {l})", fmt_rate(*d)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    cell.runs.push(r);
                }
                Err(e) => {
                    eprintln!(
                        "[scaling rep {rep}/{reps}] ring {} consumers {}: FAILED: {e:#}",
                        fmt_size(cell.ring_bytes as usize),
                        cell.consumers
                    );
                    cell.problems.push(format!("rep {rep}: {e:#}"));
                }
            }
        }
    }
    for c in &cells {
        for p in &c.problems {
            eprintln!(
                "[scaling] ring {} consumers {}: {p}",
                fmt_size(c.ring_bytes as usize),
                c.consumers
            );
        }
    }
    cells
}

/// The cells as a Markdown table.
pub fn markdown(cells: &[ScaleCell], size: usize, reps: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n## Scaling (Slipstream, consumer processes and ring sizes)\n\nOne producer process publishing {} messages of {} B as fast as it can; N consumer processes busy-polling with `receive`, every record checked. Publish = the producer's time per message while the consumers poll; delivered = each consumer's records received per second (lapped records excluded); both the median over {reps} runs (and, for delivered, over every consumer) [min - max].\n",
        cells.first().map_or(0, |c| c.messages),
        size
    );
    let _ = writeln!(
        o,
        "| ring | consumers | publish ns/msg | range | producer msg/s | delivered per consumer | range | lost | note |\n|---:|---:|---:|---|---:|---:|---|---:|---|"
    );
    for c in cells {
        let mut notes = c.problems.clone();
        let contended: u64 = c.runs.iter().map(|r| r.contended).sum();
        if contended > 0 {
            notes.push(format!(
                "{contended} lap resyncs gave up (SeekError::Contended) and were retried"
            ));
        }
        let note = notes.join("; ").replace('|', "/");
        let Some(p) = c.publish() else {
            let _ = writeln!(
                o,
                "| {} | {} | - | | | | | | {note} |",
                fmt_size(c.ring_bytes as usize),
                c.consumers
            );
            continue;
        };
        let (d, dr) = match c.delivered() {
            Some(d) => (
                fmt_rate(d.median),
                format!("{} - {}", fmt_rate(d.min), fmt_rate(d.max)),
            ),
            None => ("-".into(), String::new()),
        };
        let (lost, sent) = c.loss();
        let lost = if sent == 0 {
            "-".into()
        } else if lost == 0 {
            "0".into()
        } else {
            format!("{:.1}%", 100.0 * lost as f64 / sent as f64)
        };
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {:.1} - {:.1} | {} | {d} | {dr} | {lost} | {note} |",
            fmt_size(c.ring_bytes as usize),
            c.consumers,
            p.median,
            p.min,
            p.max,
            fmt_rate(1e9 / p.median)
        );
    }
    o
}

/// Draws publish cost and per-consumer delivered rate against the ring size,
/// one line per consumer count, into a PNG at `path`.
pub fn plot(cells: &[ScaleCell], size: usize, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    // Text needs a font: an embedded one, so no system font is looked up.
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| anyhow!("the embedded DejaVu font did not load"))?;
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (left, right) = root.split_horizontally(700);
    panel(
        &left,
        cells,
        &format!("publish cost, {size} B (median of runs)"),
        "ns per publish",
        SeriesLabelPosition::UpperLeft,
        |c| c.publish().map(|s| s.median),
    )?;
    panel(
        &right,
        cells,
        "delivered per consumer (median, M msg/s; laps excluded)",
        "M msg/s",
        SeriesLabelPosition::LowerRight,
        |c| c.delivered().map(|s| s.median / 1e6),
    )?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    Ok(())
}

/// One panel: `value` of each cell (log scale) against log2 of its ring
/// size, one line per consumer count (counts without values are left out).
fn panel<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    cells: &[ScaleCell],
    title: &str,
    y_desc: &str,
    legend: plotters::prelude::SeriesLabelPosition,
    value: impl Fn(&ScaleCell) -> Option<f64>,
) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    let mut counts: Vec<usize> = cells.iter().map(|c| c.consumers).collect();
    counts.sort_unstable();
    counts.dedup();
    let log2 = |c: &ScaleCell| (c.ring_bytes as f64).log2();
    let lo = cells.iter().map(log2).fold(f64::INFINITY, f64::min) - 0.5;
    let hi = cells.iter().map(log2).fold(f64::NEG_INFINITY, f64::max) + 0.5;
    let ymax = cells.iter().filter_map(&value).fold(1.0f64, f64::max) * 1.5;
    let ymin = cells.iter().filter_map(&value).fold(ymax, f64::min) / 1.5;
    let ring_label = |x: &f64| {
        if (x - x.round()).abs() < 1e-9 && *x >= 0.0 {
            fmt_size(1usize << (x.round() as u32))
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, (ymin..ymax).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("ring size")
        .x_labels(((hi - lo) as usize).max(2))
        .y_desc(y_desc)
        .x_label_formatter(&ring_label)
        .draw()
        .map_err(err)?;
    for (i, &n) in counts.iter().enumerate() {
        let pts: Vec<(f64, f64)> = cells
            .iter()
            .filter(|c| c.consumers == n)
            .filter_map(|c| value(c).map(|y| (log2(c), y)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(format!("{n} consumers"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Parses a ring size with the grammar every Slipstream tool reads
/// ([`slipstream_units::parse_size`]: `64K`, `1M`, `16MiB`, `1gb`, a plain
/// byte count; all 1024-based), which must be a power of two.
///
/// # Errors
/// Not a size (the message names the text and the units accepted), or not a
/// power of two.
pub fn parse_size(s: &str) -> Result<u64> {
    let v = slipstream_units::parse_size(s).context("ring size")?;
    if !v.is_power_of_two() {
        bail!("ring size {s:?} is not a power of two");
    }
    Ok(v)
}

/// `64 KiB`, `16 MiB`, `1 GiB`.
pub fn fmt_size(b: usize) -> String {
    match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    /// The shared grammar, then the power-of-two check: what `--scaling-rings`
    /// always took (`64K`, `1M`, `1G`, bytes) and what other tools take.
    #[test]
    fn ring_sizes() {
        for (text, want) in [
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            ("1M", 1 << 20),
            ("16m", 16 << 20),
            ("1G", 1 << 30),
            ("4096", 4096),
            ("16MiB", 16 << 20),
            ("1 gb", 1 << 30),
            ("1T", 1 << 40),
        ] {
            assert_eq!(parse_size(text).unwrap(), want, "{text:?}");
        }
        let err = parse_size("3M").unwrap_err().to_string();
        assert!(err.contains("not a power of two"), "{err}");
        let err = format!("{:#}", parse_size("64Q").unwrap_err());
        assert!(err.contains(r#"unknown unit "Q""#), "{err}");
        // Used to wrap (to 0, "not a power of two"); now named as too large.
        let err = format!("{:#}", parse_size("17179869184G").unwrap_err());
        assert!(err.contains("too large a size"), "{err}");
    }
}
