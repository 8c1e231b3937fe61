//! What every tool shares: error reports, exit codes, signals, and the checks
//! that turn "cannot open this ring" into a message a person can act on.

use std::error::Error;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The first SIGINT or SIGTERM received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    if SIGNAL.swap(sig, Ordering::Relaxed) != 0 {
        // A second signal: the user insists, and the clean way out is stuck.
        // SAFETY: `_exit` is async-signal-safe; it skips destructors, which is
        // what a second Ctrl-C asks for.
        unsafe { nix::libc::_exit(128 + sig) };
    }
}

/// Installs handlers for SIGINT (Ctrl-C) and SIGTERM that only record the
/// signal, so that the tool's loop can stop cleanly (storing a named cursor,
/// committing an open block). A second signal ends the process at once.
///
/// SIGPIPE stays ignored (Rust's default): writing to a closed pipe returns
/// `BrokenPipe`, which the tools treat as "the reader has had enough".
pub fn install_signal_handlers() -> anyhow::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only swaps an atomic and may call `_exit`, both
        // async-signal-safe; it touches no lock and allocates nothing.
        unsafe { sigaction(sig, &action) }
            .with_context(|| format!("install a handler for {sig}"))?;
    }
    Ok(())
}

/// The signal that asked the process to stop, if one did.
pub fn interrupted() -> Option<i32> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        sig => Some(sig),
    }
}

/// The shell's exit code for death by `signal`: 128 + its number (130 for SIGINT).
pub fn signal_exit_code(signal: i32) -> ExitCode {
    ExitCode::from((128 + signal).clamp(0, 255) as u8)
}

/// Sleeps for `duration`, in short naps, returning early (with `false`) if a
/// signal asked the process to stop.
pub fn sleep_interruptibly(duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if interrupted().is_some() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// An error and its causes on one line: `outer: cause: root cause`.
///
/// A cause whose text the line already contains is left out: many errors
/// (`ring PATH: No such file or directory`) repeat their source's message.
///
/// ```
/// let e = anyhow::Error::new(std::io::Error::other("disk on fire")).context("save cursor");
/// assert_eq!(slipstream_tools::cli::error_chain(&e), "save cursor: disk on fire");
/// ```
pub fn error_chain(err: &anyhow::Error) -> String {
    join_chain(err.chain())
}

fn join_chain<'a>(chain: impl Iterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut line = String::new();
    for cause in chain {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Prints `program: error: causes` on stderr and returns exit code 1.
pub fn report(program: &str, err: &anyhow::Error) -> ExitCode {
    crate::say!("{program}: {}", error_chain(err));
    ExitCode::FAILURE
}

/// `eprintln!` that never panics: a tool whose stderr is a pipe its reader
/// closed (`slipstream-demo 2>&1 | head`) goes on, or stops with its own
/// exit code, instead of dying in the standard library's panic on the
/// failed write.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Runs a tool's body: its error (if any) is reported, and its exit code returned.
pub fn main_with(program: &str, body: impl FnOnce() -> anyhow::Result<ExitCode>) -> ExitCode {
    match body() {
        Ok(code) => code,
        Err(err) => report(program, &err),
    }
}

/// Checks that `path` looks like a ring file before a reader attaches to it,
/// so that the common mistakes get a plain message: no such file (with a hint
/// when a bare name was given), a directory, a device, no permission, or a
/// file that does not start with the ring magic. The ring crate still
/// validates everything when attaching; this only words the obvious cases.
pub fn check_ring_file(path: &Path, given: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hint = if given.as_os_str().to_string_lossy().contains('/') {
                String::new()
            } else {
                format!(
                    " (a bare name such as {:?} is a ring under {}; has its producer started?)",
                    given,
                    slipstream_consumer::SHM_DIR
                )
            };
            bail!("ring {} does not exist{hint}", path.display());
        }
        Err(e) => return Err(e).with_context(|| format!("ring {}", path.display())),
    };
    if meta.is_dir() {
        bail!("ring {}: is a directory, not a ring file", path.display());
    }
    if !meta.is_file() {
        bail!("ring {}: is not a regular file", path.display());
    }
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("ring {}: cannot open it for reading", path.display()))?;
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("ring {}: read", path.display())),
        }
    }
    let start = &magic[..got];
    if !slipstream_ring::layout::may_be_ring(start) {
        bail!(
            "ring {}: not a Slipstream ring (the file starts with {}, not \"SLIPSTRM\")",
            path.display(),
            crate::text::printable(start)
        );
    }
    Ok(())
}

/// List or remove a ring's named cursors (`RING.readers/NAME`).
///
/// A named consumer's cursor stays after it exits, so that it resumes where
/// it left off; nothing evicts it. `rm` removes the cursor of a consumer that
/// is gone for good (refused while a live consumer holds the name).
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  slipstream readers ls node-events
  slipstream readers rm node-events old-indexer")]
pub struct ReadersArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ReadersAction,
}

/// `slipstream readers` actions.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ReadersAction {
    /// List the named cursors: name, live, pid, next sequence number,
    /// lifetime delivered/missed/laps, last progress.
    Ls {
        /// The ring: a bare name (no `/`) is a file under /dev/shm; anything else is a path.
        #[arg(value_name = "RING")]
        ring: std::path::PathBuf,
    },
    /// Remove the cursor NAME (refused while a live consumer holds it).
    Rm {
        /// The ring.
        #[arg(value_name = "RING")]
        ring: std::path::PathBuf,
        /// The consumer's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Runs `slipstream readers`.
pub fn run_readers(args: ReadersArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    match args.action {
        ReadersAction::Ls { ring } => {
            let path = slipstream_consumer::resolve_ring_path(&ring);
            let cursors = slipstream_ring::read_slots(&path)
                .with_context(|| format!("ring {}: read the named cursors", path.display()))?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<24} {:<4} {:>8} {:>12} {:>12} {:>10} {:>6}  last progress",
                "name", "live", "pid", "next_seq", "delivered", "missed", "laps"
            )?;
            for c in cursors {
                let live = match c.live {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                };
                let progress = if c.last_progress_unix_ns == 0 {
                    "-".to_string()
                } else {
                    crate::text::utc(c.last_progress_unix_ns)
                };
                writeln!(
                    out,
                    "{:<24} {:<4} {:>8} {:>12} {:>12} {:>10} {:>6}  {progress}{}",
                    c.name,
                    live,
                    c.pid,
                    c.next_seq,
                    c.delivered,
                    c.missed,
                    c.laps,
                    c.problem.map(|p| format!("  ({p})")).unwrap_or_default()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ReadersAction::Rm { ring, name } => {
            let path = slipstream_consumer::resolve_ring_path(&ring);
            slipstream_ring::remove_slot(&path, &name)
                .with_context(|| format!("ring {}: remove the cursor {name:?}", path.display()))?;
            println!("removed cursor {name:?} of {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_skips_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io).context("ring /x: No such file");
        let e = e.context("attach");
        assert_eq!(error_chain(&e), "attach: ring /x: No such file");
    }

    #[test]
    fn exit_codes_for_signals() {
        assert_eq!(signal_exit_code(2), ExitCode::from(130));
        assert_eq!(signal_exit_code(15), ExitCode::from(143));
    }

    #[test]
    fn ring_checks_word_the_common_mistakes() {
        let dir = std::env::temp_dir();
        let err = check_ring_file(&dir, &dir).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let missing = dir.join(format!("no-such-ring-{}", std::process::id()));
        let err = check_ring_file(&missing, &missing).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        let text = dir.join(format!("not-a-ring-{}", std::process::id()));
        std::fs::write(&text, b"hello, world").unwrap();
        let err = check_ring_file(&text, &text).unwrap_err().to_string();
        std::fs::remove_file(&text).unwrap();
        assert!(err.contains("not a Slipstream ring"), "{err}");
        assert!(err.contains("hello, w"), "{err}");
    }
}
