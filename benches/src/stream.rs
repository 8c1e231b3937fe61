//! Byte streams between two processes: a Unix domain stream socket (buffered,
//! or one `write(2)` per message) and a named pipe (buffered).
//!
//! Messages have a fixed size per run, so they are sent back to back with no
//! framing. A latency sender writes (and flushes) each message on its own; a
//! busy-polling latency receiver sets its end non-blocking and spins on
//! `EAGAIN`, a sleeping one blocks in `read(2)`.

use crate::common::{
    end_of_run, send_loop, LatRecorder, LatRun, LatSpec, Pacing, RecvMode, TputRun, TputSpec,
    Transport, Verifier,
};
use crate::payload;
use crate::proc::{ChildArgs, ChildGuard, Control, TempPath};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Buffer size of the buffered writers and readers.
const BUF: usize = 1 << 20;
/// Pipe buffer size asked for with `F_SETPIPE_SZ` (the default maximum for a user).
const PIPE_BUF: usize = 1 << 20;

/// The parent's end of a stream.
enum End {
    Socket(UnixStream),
    Pipe(File),
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            End::Socket(s) => s.read(buf),
            End::Pipe(f) => f.read(buf),
        }
    }
}

impl End {
    fn set_nonblocking(&self, on: bool) -> Result<()> {
        match self {
            End::Socket(s) => s.set_nonblocking(on).context("setting O_NONBLOCK"),
            End::Pipe(f) => {
                let flags = if on {
                    rustix::fs::OFlags::NONBLOCK
                } else {
                    rustix::fs::OFlags::empty()
                };
                rustix::fs::fcntl_setfl(f, flags).context("fcntl(F_SETFL)")
            }
        }
    }
}

/// Sets up the parent's end and starts the sending child; returns once the
/// child is connected and waiting for `go`.
fn start(
    t: Transport,
    dir: &Path,
    mode: &str,
    size: usize,
    count: u64,
    extra: &[(&'static str, String)],
) -> Result<(TempPath, ChildGuard, End)> {
    let path = TempPath::new(dir.join(crate::proc::unique(t.name())));
    let mut args = BTreeMap::from([
        ("transport", t.name().to_string()),
        ("mode", mode.to_string()),
        ("size", size.to_string()),
        ("count", count.to_string()),
        ("path", path.path().display().to_string()),
    ]);
    args.extend(extra.iter().cloned());
    let label = format!("{} sender", t.name());
    match t {
        Transport::UdsBuf | Transport::UdsWrite => {
            let listener = UnixListener::bind(path.path())
                .with_context(|| format!("binding {}", path.path().display()))?;
            let mut child = ChildGuard::spawn(&label, &args)?;
            // The child says `ready` once connected: accept does not block.
            child.expect("ready")?;
            let (stream, _) = listener.accept().context("accepting the sender")?;
            Ok((path, child, End::Socket(stream)))
        }
        Transport::Pipe => {
            rustix::fs::mkfifoat(
                rustix::fs::CWD,
                path.path(),
                rustix::fs::Mode::from_raw_mode(0o600),
            )
            .with_context(|| format!("mkfifo {}", path.path().display()))?;
            // Non-blocking, so that this open does not wait for the writer
            // (and the child's open for writing does not wait for us).
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(path.path())
                .with_context(|| format!("opening {} for reading", path.path().display()))?;
            // Best effort: the default is 64 KiB.
            let _ = rustix::pipe::fcntl_setpipe_size(&file, PIPE_BUF);
            let end = End::Pipe(file);
            end.set_nonblocking(false)?;
            let mut child = ChildGuard::spawn(&label, &args)?;
            child.expect("ready")?;
            Ok((path, child, end))
        }
        _ => unreachable!("not a stream transport: {t:?}"),
    }
}

fn eof_error(e: std::io::Error, child: &mut ChildGuard, got: u64) -> anyhow::Error {
    let status = match child.check() {
        Ok(_) => String::new(),
        Err(e) => format!(" ({e:#})"),
    };
    anyhow::Error::new(e).context(format!("reading message {got}{status}"))
}

/// Parent side of a throughput run.
pub fn throughput(t: Transport, dir: &Path, spec: &TputSpec) -> Result<TputRun> {
    let (_path, mut child, end) = start(
        t,
        dir,
        "tput",
        spec.size,
        spec.count,
        &[("rate", spec.rate.to_string())],
    )?;
    let mut input = BufReader::with_capacity(BUF, end);
    let mut msg = vec![0u8; spec.size];
    let mut v = Verifier::new(spec.size);
    let t0 = payload::now_ns();
    child.say("go")?;
    while v.next < spec.count {
        if let Err(e) = input.read_exact(&mut msg) {
            return Err(eof_error(e, &mut child, v.next));
        }
        v.take(&msg)?;
    }
    end_of_run(t0, child, v)
}

/// Parent side of a latency run.
pub fn latency(t: Transport, dir: &Path, spec: &LatSpec) -> Result<LatRun> {
    let (_path, mut child, mut end) =
        start(t, dir, "lat", spec.size, spec.total(), &spec.child_args())?;
    end.set_nonblocking(spec.mode == RecvMode::Busy)?;
    let mut msg = vec![0u8; spec.size];
    let mut rec = LatRecorder::new(spec);
    let mut dog = crate::common::Watchdog::new(spec.timeout, "stream latency");
    child.say("go")?;
    while rec.next < spec.total() {
        let mut have = 0;
        while have < msg.len() {
            match end.read(&mut msg[have..]) {
                Ok(0) => {
                    let e = std::io::Error::from(ErrorKind::UnexpectedEof);
                    return Err(eof_error(e, &mut child, rec.next));
                }
                Ok(n) => have += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    dog.idle(|| child.check().map(drop))?
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(eof_error(e, &mut child, rec.next)),
            }
        }
        rec.take(&msg, payload::now_ns())?;
    }
    child.finish()?;
    Ok(rec.finish())
}

/// Child side: the sender.
pub fn child(t: Transport, args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    let path = args.str("path")?.to_string();
    match t {
        Transport::UdsBuf => {
            let s = UnixStream::connect(&path).with_context(|| format!("connecting to {path}"))?;
            send(BufWriter::with_capacity(BUF, s), args, ctl)
        }
        Transport::UdsWrite => {
            let s = UnixStream::connect(&path).with_context(|| format!("connecting to {path}"))?;
            send(s, args, ctl)
        }
        Transport::Pipe => {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {path} for writing"))?;
            send(BufWriter::with_capacity(BUF, f), args, ctl)
        }
        _ => bail!("not a stream transport: {t:?}"),
    }
}

fn send<W: Write>(mut w: W, args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    let size: usize = args.num("size")?;
    let count: u64 = args.num("count")?;
    let latency = args.str("mode")? == "lat";
    let mut msg = vec![0u8; size];
    ctl.ready()?;
    let ns = if latency {
        send_loop(count, Pacing::from_args(args)?, |i| {
            payload::fill(&mut msg, i);
            payload::stamp(&mut msg, payload::now_ns());
            w.write_all(&msg)?;
            w.flush()?;
            Ok(())
        })?
    } else {
        let ns = send_loop(count, Pacing::from_args(args)?, |i| {
            payload::fill(&mut msg, i);
            w.write_all(&msg)?;
            Ok(())
        })?;
        let t = payload::now_ns();
        w.flush().context("flushing")?;
        ns + (payload::now_ns() - t)
    };
    drop(w);
    ctl.done(ns)
}
