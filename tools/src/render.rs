//! How `slipstream-tail` shows events, lags and producer changes: one line
//! each, human-readable or JSON.
//!
//! Human lines (`seq  height:ordinal  kind  fields`):
//!
//! ```text
//!       41 ── block 7 begin
//!       42 7:1     mapping_update  credits.aleo/account key=3c9d12ab…(32 B) value=40420f0000000000
//!       43 7:2     mapping_removal token_registry.aleo/balances (whole mapping)
//!       44 7:3     staking_reward  staker=9a01…(32 B) validator=77f3…(32 B) reward=1200 new_stake=10000001200
//!       45 7:4     block           (123456 bytes) 0a1b2c3d4e5f6071…
//!       46 ── block 7 commit (4 events)
//! !! lagged: missed 1200..=3400 (2201 events)
//! ```
//!
//! JSON lines, one object each (binary fields in hex; names as text when
//! they are printable UTF-8, else in a `_hex` field):
//!
//! ```text
//! {"seq":42,"kind":"mapping_update","block_height":7,"ordinal":1,"program_id":"credits.aleo","mapping_name":"account","key":"3c9d…","value":"40420f0000000000"}
//! {"lagged":{"first_missed":1200,"last_missed":3400,"count":2201}}
//! {"producer":{"change":"died","pid":4242,"epoch":3}}
//! ```

use std::io::{self, Write};

use serde::Serialize;
use slipstream_consumer::{EventRef, Lag, ProducerChange};
use slipstream_event::UNKNOWN_COUNT;

use crate::text::{as_text, write_hex};

/// How human lines look.
#[derive(Clone, Copy, Debug)]
pub struct Human {
    /// Byte strings longer than this are cut, with their length shown (0: never cut).
    pub max_bytes: usize,
    /// ANSI colours.
    pub color: bool,
}

const BOLD_CYAN: &str = "\x1b[1;36m";
const BOLD_YELLOW: &str = "\x1b[1;33m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Bytes of a whole block shown in a human line.
const BLOCK_PREVIEW: usize = 8;

impl Human {
    fn paint(&self, out: &mut impl Write, code: &str) -> io::Result<()> {
        if self.color {
            out.write_all(code.as_bytes())?;
        }
        Ok(())
    }

    /// Writes one event's line.
    ///
    /// ```
    /// use slipstream_consumer::EventRef;
    /// use slipstream_tools::render::Human;
    /// let mut out = Vec::new();
    /// let ev = EventRef::Block { block_height: 7, ordinal: 4, block: &[0xab; 1000] };
    /// Human { max_bytes: 16, color: false }.event(&mut out, 45, &ev).unwrap();
    /// assert_eq!(String::from_utf8(out).unwrap(),
    ///            "      45 7:4     block           (1000 bytes) abababababababab…\n");
    /// ```
    pub fn event(&self, out: &mut impl Write, seq: u64, ev: &EventRef<'_>) -> io::Result<()> {
        match *ev {
            EventRef::BlockBegin {
                block_height,
                event_count,
            } => {
                write!(out, "{seq:>8} ")?;
                self.paint(out, BOLD_CYAN)?;
                write!(out, "── block {block_height} begin")?;
                if event_count != UNKNOWN_COUNT {
                    write!(out, " ({event_count} events)")?;
                }
                self.paint(out, RESET)?;
                return writeln!(out);
            }
            EventRef::BlockCommit {
                block_height,
                event_count,
            } => {
                write!(out, "{seq:>8} ")?;
                self.paint(out, BOLD_CYAN)?;
                write!(out, "── block {block_height} commit ({event_count} events)")?;
                self.paint(out, RESET)?;
                return writeln!(out);
            }
            _ => {}
        }
        write!(out, "{seq:>8} ")?;
        let at = format!("{}:{}", ev.block_height(), ev.ordinal());
        write!(out, "{at:<7} {:<15} ", ev.kind().name())?;
        match *ev {
            EventRef::MappingUpdate {
                program_id,
                mapping_name,
                key,
                value,
                ..
            } => {
                self.names(out, program_id, mapping_name)?;
                out.write_all(b" key=")?;
                self.bytes(out, key)?;
                out.write_all(b" value=")?;
                self.bytes(out, value)?;
            }
            EventRef::MappingRemoval {
                program_id,
                mapping_name,
                key,
                ..
            } => {
                self.names(out, program_id, mapping_name)?;
                match key {
                    Some(key) => {
                        out.write_all(b" key=")?;
                        self.bytes(out, key)?;
                    }
                    None => out.write_all(b" (whole mapping)")?,
                }
            }
            EventRef::StakingReward {
                staker,
                validator,
                reward,
                new_stake,
                ..
            } => {
                out.write_all(b"staker=")?;
                self.bytes(out, staker)?;
                out.write_all(b" validator=")?;
                self.bytes(out, validator)?;
                write!(out, " reward={reward} new_stake={new_stake}")?;
            }
            EventRef::Block { block, .. } => {
                write!(out, "({} bytes) ", block.len())?;
                let shown = match self.max_bytes {
                    0 => block.len(),
                    _ => block.len().min(BLOCK_PREVIEW),
                };
                write_hex(out, &block[..shown])?;
                if shown < block.len() {
                    out.write_all("…".as_bytes())?;
                }
            }
            EventRef::BlockBegin { .. } | EventRef::BlockCommit { .. } => unreachable!(),
        }
        writeln!(out)
    }

    fn names(&self, out: &mut impl Write, program: &[u8], mapping: &[u8]) -> io::Result<()> {
        self.name(out, program)?;
        out.write_all(b"/")?;
        self.name(out, mapping)
    }

    fn name(&self, out: &mut impl Write, name: &[u8]) -> io::Result<()> {
        match as_text(name) {
            Some(text) => out.write_all(text.as_bytes()),
            None => {
                out.write_all(b"0x")?;
                self.bytes(out, name)
            }
        }
    }

    fn bytes(&self, out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
        if self.max_bytes == 0 || bytes.len() <= self.max_bytes {
            return write_hex(out, bytes);
        }
        write_hex(out, &bytes[..self.max_bytes])?;
        self.paint(out, DIM)?;
        write!(out, "…({} B)", bytes.len())?;
        self.paint(out, RESET)
    }

    /// Writes a lag's line: `!! lagged: missed FIRST..=LAST (N events)`.
    pub fn lag(&self, out: &mut impl Write, lag: &Lag) -> io::Result<()> {
        self.paint(out, BOLD_YELLOW)?;
        write!(out, "{}", lag_text(lag))?;
        self.paint(out, RESET)?;
        writeln!(out)
    }

    /// Writes a producer change's line: `!! producer died (pid P, epoch E)`...
    pub fn producer(&self, out: &mut impl Write, change: &ProducerChange) -> io::Result<()> {
        self.paint(out, BOLD_YELLOW)?;
        write!(out, "{}", producer_text(change))?;
        self.paint(out, RESET)?;
        writeln!(out)
    }
}

/// A lag as a human line (no newline).
///
/// ```
/// let lag = slipstream_consumer::Lag { first_missed: 1200, last_missed: 3400 };
/// assert_eq!(slipstream_tools::render::lag_text(&lag), "!! lagged: missed 1200..=3400 (2201 events)");
/// ```
pub fn lag_text(lag: &Lag) -> String {
    format!(
        "!! lagged: missed {}..={} ({} event{})",
        lag.first_missed,
        lag.last_missed,
        lag.count(),
        if lag.count() == 1 { "" } else { "s" }
    )
}

/// A producer change as a human line (no newline).
pub fn producer_text(change: &ProducerChange) -> String {
    match *change {
        ProducerChange::Died { pid, epoch } => {
            format!("!! producer died (pid {pid}, epoch {epoch}); waiting for a new one")
        }
        ProducerChange::Closed { epoch } => {
            format!("!! producer closed the ring (epoch {epoch}); waiting for a new one")
        }
        ProducerChange::Restarted { pid, epoch } => {
            format!("!! producer restarted (pid {pid}, epoch {epoch})")
        }
    }
}

/// Writes JSON objects with their fields in a fixed order, without building a tree.
struct Obj<'w, W: Write> {
    out: &'w mut W,
    first: bool,
}

impl<'w, W: Write> Obj<'w, W> {
    fn new(out: &'w mut W) -> io::Result<Self> {
        out.write_all(b"{")?;
        Ok(Obj { out, first: true })
    }

    fn key(&mut self, key: &str) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.write_all(b":")
    }

    fn field(&mut self, key: &str, value: &impl Serialize) -> io::Result<()> {
        self.key(key)?;
        serde_json::to_writer(&mut *self.out, value)?;
        Ok(())
    }

    /// A byte string in hex; cut to `max` bytes (0: never), with `KEY_len` then.
    fn hex(&mut self, key: &str, bytes: &[u8], max: usize) -> io::Result<()> {
        let shown = if max == 0 {
            bytes.len()
        } else {
            bytes.len().min(max)
        };
        self.key(key)?;
        self.out.write_all(b"\"")?;
        write_hex(self.out, &bytes[..shown])?;
        self.out.write_all(b"\"")?;
        if shown < bytes.len() {
            self.field(&format!("{key}_len"), &bytes.len())?;
        }
        Ok(())
    }

    /// A name: as text when it is printable UTF-8, else hex in `KEY_hex`.
    fn name(&mut self, key: &str, bytes: &[u8], max: usize) -> io::Result<()> {
        match as_text(bytes) {
            Some(text) => self.field(key, &text),
            None => self.hex(&format!("{key}_hex"), bytes, max),
        }
    }

    fn end(self) -> io::Result<()> {
        self.out.write_all(b"}")
    }
}

/// Writes one event as a JSON line: `seq`, `kind`, `block_height`, `ordinal`,
/// then the kind's fields. Byte strings longer than `max_bytes` (unless 0)
/// are cut, and their length given in `FIELD_len`; a block's length is always
/// given in `block_len`.
///
/// ```
/// use slipstream_consumer::EventRef;
/// let mut out = Vec::new();
/// let ev = EventRef::MappingRemoval { block_height: 7, ordinal: 2,
///     program_id: b"credits.aleo", mapping_name: b"bonded", key: None };
/// slipstream_tools::render::json_event(&mut out, 42, &ev, 0).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(),
///     r#"{"seq":42,"kind":"mapping_removal","block_height":7,"ordinal":2,"program_id":"credits.aleo","mapping_name":"bonded","key":null}
/// "#);
/// ```
pub fn json_event(
    out: &mut impl Write,
    seq: u64,
    ev: &EventRef<'_>,
    max_bytes: usize,
) -> io::Result<()> {
    let mut o = Obj::new(out)?;
    o.field("seq", &seq)?;
    o.field("kind", &ev.kind().name())?;
    o.field("block_height", &ev.block_height())?;
    o.field("ordinal", &ev.ordinal())?;
    match *ev {
        EventRef::MappingUpdate {
            program_id,
            mapping_name,
            key,
            value,
            ..
        } => {
            o.name("program_id", program_id, max_bytes)?;
            o.name("mapping_name", mapping_name, max_bytes)?;
            o.hex("key", key, max_bytes)?;
            o.hex("value", value, max_bytes)?;
        }
        EventRef::MappingRemoval {
            program_id,
            mapping_name,
            key,
            ..
        } => {
            o.name("program_id", program_id, max_bytes)?;
            o.name("mapping_name", mapping_name, max_bytes)?;
            match key {
                Some(key) => o.hex("key", key, max_bytes)?,
                None => o.field("key", &())?,
            }
        }
        EventRef::StakingReward {
            staker,
            validator,
            reward,
            new_stake,
            ..
        } => {
            o.hex("staker", staker, max_bytes)?;
            o.hex("validator", validator, max_bytes)?;
            o.field("reward", &reward)?;
            o.field("new_stake", &new_stake)?;
        }
        EventRef::Block { block, .. } => {
            o.field("block_len", &block.len())?;
            let shown = if max_bytes == 0 {
                block.len()
            } else {
                block.len().min(max_bytes)
            };
            o.key("block")?;
            o.out.write_all(b"\"")?;
            write_hex(o.out, &block[..shown])?;
            o.out.write_all(b"\"")?;
        }
        EventRef::BlockBegin { event_count, .. } => {
            // 0xFFFFFFFF: the producer did not know the count when the block began.
            let count = (event_count != UNKNOWN_COUNT).then_some(event_count);
            o.field("event_count", &count)?;
        }
        EventRef::BlockCommit { event_count, .. } => o.field("event_count", &event_count)?,
    }
    o.end()?;
    out.write_all(b"\n")
}

/// Writes a lag as a JSON line: `{"lagged":{"first_missed":..,"last_missed":..,"count":..}}`.
///
/// ```
/// let mut out = Vec::new();
/// let lag = slipstream_consumer::Lag { first_missed: 5, last_missed: 9 };
/// slipstream_tools::render::json_lag(&mut out, &lag).unwrap();
/// assert_eq!(out, b"{\"lagged\":{\"first_missed\":5,\"last_missed\":9,\"count\":5}}\n");
/// ```
pub fn json_lag(out: &mut impl Write, lag: &Lag) -> io::Result<()> {
    writeln!(
        out,
        r#"{{"lagged":{{"first_missed":{},"last_missed":{},"count":{}}}}}"#,
        lag.first_missed,
        lag.last_missed,
        lag.count()
    )
}

/// Writes a producer change as a JSON line:
/// `{"producer":{"change":"died"|"closed"|"restarted","pid":..,"epoch":..}}`
/// (no `pid` for `closed`).
pub fn json_producer(out: &mut impl Write, change: &ProducerChange) -> io::Result<()> {
    match *change {
        ProducerChange::Died { pid, epoch } => writeln!(
            out,
            r#"{{"producer":{{"change":"died","pid":{pid},"epoch":{epoch}}}}}"#
        ),
        ProducerChange::Closed { epoch } => writeln!(
            out,
            r#"{{"producer":{{"change":"closed","epoch":{epoch}}}}}"#
        ),
        ProducerChange::Restarted { pid, epoch } => writeln!(
            out,
            r#"{{"producer":{{"change":"restarted","pid":{pid},"epoch":{epoch}}}}}"#
        ),
    }
}

/// Writes an event that did not decode as a JSON line:
/// `{"undecodable":{"seq":..,"kind":..,"error":".."}}`.
pub fn json_undecodable(out: &mut impl Write, seq: u64, kind: u16, error: &str) -> io::Result<()> {
    out.write_all(br#"{"undecodable":{"seq":"#)?;
    write!(out, r#"{seq},"kind":{kind},"error":"#)?;
    serde_json::to_writer(&mut *out, error)?;
    out.write_all(b"}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(ev: &EventRef<'_>) -> String {
        let mut out = Vec::new();
        Human {
            max_bytes: 4,
            color: false,
        }
        .event(&mut out, 7, ev)
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn json(ev: &EventRef<'_>, max: usize) -> serde_json::Value {
        let mut out = Vec::new();
        json_event(&mut out, 7, ev, max).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn human_lines() {
        let up = EventRef::MappingUpdate {
            block_height: 100,
            ordinal: 3,
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: &[1, 2, 3, 4, 5, 6],
            value: &[9, 8],
        };
        assert_eq!(
            human(&up),
            "       7 100:3   mapping_update  credits.aleo/account key=01020304…(6 B) value=0908\n"
        );
        let begin = EventRef::BlockBegin {
            block_height: 100,
            event_count: UNKNOWN_COUNT,
        };
        assert_eq!(human(&begin), "       7 ── block 100 begin\n");
        let commit = EventRef::BlockCommit {
            block_height: 100,
            event_count: 12,
        };
        assert_eq!(human(&commit), "       7 ── block 100 commit (12 events)\n");
        let rm = EventRef::MappingRemoval {
            block_height: 1,
            ordinal: 1,
            program_id: &[0xff],
            mapping_name: b"m",
            key: None,
        };
        assert!(
            human(&rm).ends_with("0xff/m (whole mapping)\n"),
            "{}",
            human(&rm)
        );
    }

    #[test]
    fn json_fields() {
        let sr = EventRef::StakingReward {
            block_height: 5,
            ordinal: 2,
            staker: &[0xaa; 32],
            validator: &[0xbb; 3],
            reward: u64::MAX,
            new_stake: 10,
        };
        let v = json(&sr, 0);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["kind"], "staking_reward");
        assert_eq!(v["staker"], "aa".repeat(32));
        assert_eq!(v["validator"], "bbbbbb");
        assert_eq!(v["reward"], u64::MAX);
        let v = json(&sr, 4);
        assert_eq!(v["staker"], "aaaaaaaa");
        assert_eq!(v["staker_len"], 32);
        assert!(v.get("validator_len").is_none());

        let bl = EventRef::Block {
            block_height: 5,
            ordinal: 3,
            block: &[1; 10],
        };
        let v = json(&bl, 2);
        assert_eq!(v["block_len"], 10);
        assert_eq!(v["block"], "0101");

        let rm = EventRef::MappingRemoval {
            block_height: 1,
            ordinal: 1,
            program_id: b"p\"q",
            mapping_name: &[0, 1],
            key: Some(b""),
        };
        let v = json(&rm, 0);
        assert_eq!(v["program_id"], "p\"q");
        assert_eq!(v["mapping_name_hex"], "0001");
        assert_eq!(v["key"], "");

        let begin = EventRef::BlockBegin {
            block_height: 1,
            event_count: UNKNOWN_COUNT,
        };
        assert!(json(&begin, 0)["event_count"].is_null());
    }

    #[test]
    fn json_meta_lines_parse() {
        let mut out = Vec::new();
        json_producer(&mut out, &ProducerChange::Died { pid: 3, epoch: 4 }).unwrap();
        json_producer(&mut out, &ProducerChange::Closed { epoch: 4 }).unwrap();
        json_undecodable(&mut out, 9, 77, "bad \"thing\"").unwrap();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).unwrap();
        }
    }
}
