//! Consumer health, judged from two snapshots of a ring
//! ([`slipstream_ring::stats`]) taken a sampling window apart: what
//! `slipstream stat` shows, `slipstream stat --check` exits on, and
//! `slipstream exporter` serves.
//!
//! The rules, first match wins (the thresholds are flags, see [`HealthArgs`]):
//!
//! | state | when |
//! |---|---|
//! | `dead` | no live process holds the consumer's name (its lock is free), or its cursor belongs to a ring this one replaced |
//! | `unknown` | its cursor file cannot be read (another user's, mode 0600: run as that user, as root, or with `CAP_DAC_READ_SEARCH`) |
//! | `lapped` | it was lapped during the window (its lifetime `missed` grew), or the next event it will read is older than the oldest the ring retains (its next read reports a gap) |
//! | `stalled` | events wait for it (lag > 0) and it has not delivered or missed any for `--stall-after` (default 10s; its cursor's `last_progress`, else its claim time) |
//! | `slow` | its lag is at least `--slow-lag` events (default 1000) and grew during the window |
//! | `healthy` | anything else: caught up, or reading and keeping up |
//!
//! Only `healthy` is healthy.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use slipstream_producer::parse_duration;
use slipstream_ring::stats::RingStats;
use slipstream_ring::SlotInfo;

/// The thresholds of the health rules, as flags.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    /// A consumer with events waiting (lag > 0) that made no progress for
    /// this long is `stalled`, e.g. `10s`, `500ms`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub stall_after: Duration,

    /// A consumer whose lag is at least this many events and grew over the
    /// sampling window is `slow`.
    #[arg(long, value_name = "EVENTS", default_value_t = 1000)]
    pub slow_lag: u64,
}

impl Default for HealthArgs {
    fn default() -> Self {
        HealthArgs {
            stall_after: Duration::from_secs(10),
            slow_lag: 1000,
        }
    }
}

/// A consumer's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Caught up, or reading and keeping up.
    Healthy,
    /// Its lag is large and growing.
    Slow,
    /// Events wait for it and it makes no progress.
    Stalled,
    /// It was overrun by the producer: events were lost to it.
    Lapped,
    /// No live process holds its name.
    Dead,
    /// Its cursor cannot be read.
    Unknown,
}

impl State {
    /// Every state, in the order of the rules.
    pub const ALL: [State; 6] = [
        State::Healthy,
        State::Slow,
        State::Stalled,
        State::Lapped,
        State::Dead,
        State::Unknown,
    ];

    /// The state's name, as printed and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Slow => "slow",
            State::Stalled => "stalled",
            State::Lapped => "lapped",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The judgement of one consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Its state.
    pub state: State,
    /// Why, in words (empty when healthy and caught up).
    pub reason: String,
}

fn secs(d: Duration) -> String {
    crate::text::duration(d)
}

/// Judges `cursor` in the snapshot `now`, against the same cursor in the
/// snapshot `earlier` (a sampling window before), if there is one.
///
/// ```
/// # use slipstream_tools::health::{judge, HealthArgs, State};
/// # fn f(earlier: &slipstream_ring::stats::RingStats, now: &slipstream_ring::stats::RingStats) {
/// for c in &now.cursors {
///     let v = judge(Some(earlier), now, c, &HealthArgs::default());
///     if v.state != State::Healthy { println!("{}: {} ({})", c.name, v.state, v.reason); }
/// }
/// # }
/// ```
pub fn judge(
    earlier: Option<&RingStats>,
    now: &RingStats,
    cursor: &SlotInfo,
    t: &HealthArgs,
) -> Verdict {
    let v = |state, reason: String| Verdict { state, reason };
    if let Some(p) = &cursor.problem {
        return v(State::Unknown, format!("cursor unreadable: {p}"));
    }
    if !now.owns(cursor) {
        return v(
            State::Dead,
            "its cursor belongs to a ring this one replaced".into(),
        );
    }
    if cursor.live == Some(false) {
        return v(
            State::Dead,
            format!("no live process holds the name (last pid {})", cursor.pid),
        );
    }
    let before = earlier.and_then(|e| {
        e.cursors
            .iter()
            .find(|c| c.name == cursor.name && c.problem.is_none() && e.owns(c))
            .map(|c| (e, c))
    });
    let lag = now.lag(cursor);
    if let Some((e, b)) = before {
        if cursor.missed > b.missed {
            let window = Duration::from_nanos(now.read_unix_ns.saturating_sub(e.read_unix_ns));
            return v(
                State::Lapped,
                format!(
                    "lapped {} time(s) in the last {}, missing {} events",
                    cursor.laps.saturating_sub(b.laps).max(1),
                    secs(window),
                    cursor.missed - b.missed
                ),
            );
        }
    }
    if let Some(oldest) = now.oldest_seq {
        if cursor.next_seq != 0 && cursor.next_seq < oldest {
            return v(
                State::Lapped,
                format!(
                    "its next event {} was overwritten (the oldest retained is {oldest}): its next read reports {} missed",
                    cursor.next_seq,
                    oldest - cursor.next_seq
                ),
            );
        }
    }
    if lag > 0 {
        let since = if cursor.last_progress_unix_ns != 0 {
            cursor.last_progress_unix_ns
        } else {
            cursor.attached_unix_ns
        };
        let idle = Duration::from_nanos(now.read_unix_ns.saturating_sub(since));
        if idle >= t.stall_after {
            return v(
                State::Stalled,
                format!(
                    "no progress for {} while {lag} events wait (threshold {})",
                    secs(idle),
                    secs(t.stall_after)
                ),
            );
        }
    }
    if let Some((e, b)) = before {
        let lag_before = e.lag(b);
        if lag >= t.slow_lag && lag > lag_before {
            return v(
                State::Slow,
                format!(
                    "lag {lag} events, up {} over the last {} (threshold {})",
                    lag - lag_before,
                    secs(Duration::from_nanos(
                        now.read_unix_ns.saturating_sub(e.read_unix_ns)
                    )),
                    t.slow_lag
                ),
            );
        }
    }
    v(
        State::Healthy,
        if cursor.next_seq == 0 {
            "claimed, no cursor stored yet".into()
        } else if lag == 0 {
            "caught up".into()
        } else {
            format!("lag {lag} events")
        },
    )
}

/// Judges every cursor of `now`, by name.
pub fn judge_all(
    earlier: Option<&RingStats>,
    now: &RingStats,
    t: &HealthArgs,
) -> Vec<(String, Verdict)> {
    now.cursors
        .iter()
        .map(|c| (c.name.clone(), judge(earlier, now, c, t)))
        .collect()
}

/// The lines `--check` prints for the consumers it checks (`names`, or all if
/// empty), and whether every one of them is healthy. A name without a cursor
/// is unhealthy.
pub fn check(verdicts: &[(String, Verdict)], names: &[String]) -> (bool, Vec<String>) {
    let mut ok = true;
    let mut lines = Vec::new();
    let mut seen = 0;
    for (name, v) in verdicts {
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        seen += 1;
        if v.state != State::Healthy {
            ok = false;
            lines.push(format!("{name}: {}: {}", v.state, v.reason));
        }
    }
    for name in names {
        if !verdicts.iter().any(|(n, _)| n == name) {
            ok = false;
            lines.push(format!("{name}: no cursor by that name"));
        }
    }
    if ok {
        lines.push(format!("OK: {seen} consumer(s) healthy"));
    }
    (ok, lines)
}

/// How long [`History`] keeps samples.
pub const HISTORY: Duration = Duration::from_secs(60);

/// Each consumer's lag over the last minute, for `--watch`.
#[derive(Debug, Default)]
pub struct History {
    lags: HashMap<String, VecDeque<(u64, u64)>>,
}

impl History {
    /// Records the lag of every cursor in `now`, and forgets samples older
    /// than [`HISTORY`].
    pub fn record(&mut self, now: &RingStats) {
        let t = now.read_unix_ns;
        let horizon = t.saturating_sub(HISTORY.as_nanos() as u64);
        for c in &now.cursors {
            let q = self.lags.entry(c.name.clone()).or_default();
            q.push_back((t, now.lag(c)));
        }
        for q in self.lags.values_mut() {
            while q.front().is_some_and(|&(at, _)| at < horizon) {
                q.pop_front();
            }
        }
        self.lags.retain(|_, q| !q.is_empty());
    }

    /// The lags recorded for `name`, oldest first.
    pub fn lags(&self, name: &str) -> Vec<u64> {
        self.lags
            .get(name)
            .map(|q| q.iter().map(|&(_, l)| l).collect())
            .unwrap_or_default()
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` (oldest first) as a sparkline of at most `width` Unicode block
/// characters, the newest on the right: each character is the largest value
/// of its share of the samples, scaled to the largest value shown (all zero:
/// the lowest bar). Empty for no values.
///
/// ```
/// use slipstream_tools::health::sparkline;
/// assert_eq!(sparkline(&[0, 1, 2, 3, 4, 5, 6, 7], 8), "▁▂▃▄▅▆▇█");
/// assert_eq!(sparkline(&[0, 0, 0], 10), "▁▁▁");
/// assert_eq!(sparkline(&[9, 0, 0, 0], 2), "█▁");
/// ```
pub fn sparkline(values: &[u64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let n = values.len().min(width);
    let buckets: Vec<u64> = (0..n)
        .map(|i| {
            let (a, b) = (i * values.len() / n, (i + 1) * values.len() / n);
            values[a..b.max(a + 1)].iter().copied().max().unwrap_or(0)
        })
        .collect();
    let max = buckets.iter().copied().max().unwrap_or(0);
    buckets
        .iter()
        .map(|&v| {
            if max == 0 {
                BARS[0]
            } else {
                BARS[((v as u128 * (BARS.len() as u128 - 1) + max as u128 / 2) / max as u128)
                    as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_largest_and_keeps_the_newest_right() {
        assert_eq!(sparkline(&[], 10), "");
        assert_eq!(sparkline(&[5], 10), "█");
        // 120 samples into 4 characters: each is the max of 30.
        let mut v = vec![0u64; 120];
        v[119] = 100;
        v[40] = 50;
        assert_eq!(sparkline(&v, 4), "▁▅▁█");
        // A consumer falling behind: a rising line.
        let rising: Vec<u64> = (0..60).map(|i| i * 1000).collect();
        let s = sparkline(&rising, 60);
        assert_eq!(s.chars().count(), 60);
        assert_eq!(s.chars().next(), Some('▁'));
        assert_eq!(s.chars().last(), Some('█'));
        let chars: Vec<char> = s.chars().collect();
        let rank = |c: char| BARS.iter().position(|&b| b == c).unwrap();
        assert!(chars.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{s}");
        // Huge values do not overflow.
        assert_eq!(sparkline(&[u64::MAX, 0], 2), "█▁");
    }

    #[test]
    fn check_names_every_unhealthy_consumer_and_missing_names() {
        let v = |state, reason: &str| Verdict {
            state,
            reason: reason.into(),
        };
        let all = vec![
            ("a".to_string(), v(State::Healthy, "caught up")),
            ("b".to_string(), v(State::Stalled, "no progress for 11s")),
        ];
        let (ok, lines) = check(&all, &[]);
        assert!(!ok);
        assert_eq!(lines, ["b: stalled: no progress for 11s"]);
        let (ok, lines) = check(&all, &["a".into()]);
        assert!(ok, "{lines:?}");
        assert_eq!(lines, ["OK: 1 consumer(s) healthy"]);
        let (ok, lines) = check(&all, &["a".into(), "zz".into()]);
        assert!(!ok);
        assert_eq!(lines, ["zz: no cursor by that name"]);
    }
}
