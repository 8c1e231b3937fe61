//! Text for durations, shared by the plugin's configuration, the wake
//! policy's grammar ([`Wake`](crate::Wake)'s `FromStr`) and the tools.

use std::time::Duration;

/// Parses a duration such as `"200us"`, `"1ms"`, `"2s"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(slipstream_producer::parse_duration("200us"), Ok(Duration::from_micros(200)));
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    Ok(match unit.trim() {
        "ns" => Duration::from_nanos(n),
        "us" | "µs" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        other => {
            return Err(format!(
                "duration {s:?} has an unknown unit {other:?} (ns, us, ms, s)"
            ))
        }
    })
}
