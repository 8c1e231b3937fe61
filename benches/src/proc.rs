//! Child processes and temporary files, cleaned up on every exit path.
//!
//! The benchmark re-executes its own binary with a hidden first argument
//! ([`CHILD_ROLE`]) to get a second process. Parent and child talk over the
//! child's standard input and output, one line at a time:
//!
//! 1. the child sets up its end of the transport and prints `ready`;
//! 2. the parent attaches its end and writes `go`;
//! 3. the child sends every message, then prints `done sender_ns=N`;
//! 4. the parent, once it has received everything, writes `exit` (or closes
//!    the pipe), and the child drops its end and exits.
//!
//! [`ChildGuard`] kills and reaps the child if it is dropped before that ends
//! (an error or a panic in the parent); [`TempPath`] removes a file or
//! directory when dropped. The child also asks the kernel to kill it if the
//! parent dies (`PR_SET_PDEATHSIG`).

use anyhow::{anyhow, bail, Context, Result};
use slipstream_testkit::process::wait_deadline;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The hidden first argument that makes the binary play a child's role.
pub const CHILD_ROLE: &str = "__slipstream-bench-child";

/// A child process running one sender role.
pub struct ChildGuard {
    label: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// What a child reported when it finished sending.
#[derive(Debug, Clone, Copy)]
pub struct ChildReport {
    /// Nanoseconds from `go` to the last message sent, by the child's clock.
    pub sender_ns: u64,
}

impl ChildGuard {
    /// Starts this binary in the child role with `key=value` arguments.
    pub fn spawn(label: &str, args: &BTreeMap<&str, String>) -> Result<ChildGuard> {
        let exe = std::env::current_exe().context("finding this binary to re-execute it")?;
        let mut cmd = Command::new(&exe);
        cmd.arg(CHILD_ROLE)
            .arg(format!("parent={}", std::process::id()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in args {
            cmd.arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the {label} child ({})", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        Ok(ChildGuard {
            label: label.to_string(),
            child: Some(child),
            stdin,
            stdout,
        })
    }

    /// Reads the next control line from the child; it must start with `word`.
    pub fn expect(&mut self, word: &str) -> Result<String> {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .with_context(|| format!("reading from the {} child", self.label))?;
        if n == 0 {
            let status = self.wait_briefly();
            bail!(
                "the {} child closed its output before saying `{word}` ({})",
                self.label,
                describe_status(status)
            );
        }
        let line = line.trim_end().to_string();
        if line.split_whitespace().next() != Some(word) {
            bail!("the {} child said `{line}`, expected `{word}`", self.label);
        }
        Ok(line)
    }

    /// Writes a control line to the child.
    pub fn say(&mut self, word: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the {} child's input is closed", self.label))?;
        writeln!(stdin, "{word}")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("telling the {} child `{word}`", self.label))
    }

    /// `Ok(true)` while the child runs, `Ok(false)` if it exited successfully,
    /// an error if it died or failed.
    pub fn check(&mut self) -> Result<bool> {
        let child = self.child.as_mut().expect("child present until finish");
        match child.try_wait().context("polling the child")? {
            None => Ok(true),
            Some(s) if s.success() => Ok(false),
            Some(s) => bail!(
                "the {} child failed: {}",
                self.label,
                describe_status(Some(s))
            ),
        }
    }

    /// Reads `done`, tells the child to exit, and reaps it.
    pub fn finish(mut self) -> Result<ChildReport> {
        let line = self.expect("done")?;
        let sender_ns = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("sender_ns="))
            .ok_or_else(|| anyhow!("`{line}` has no sender_ns"))?
            .parse()
            .with_context(|| format!("parsing `{line}`"))?;
        let _ = self.say("exit");
        self.stdin = None;
        let mut child = self.child.take().expect("child present until finish");
        match wait_deadline(&mut child, Duration::from_secs(10)) {
            Some(status) if status.success() => Ok(ChildReport { sender_ns }),
            Some(status) => bail!(
                "the {} child failed after sending: {}",
                self.label,
                describe_status(Some(status))
            ),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the {} child did not exit within 10 s of `exit`; killed",
                    self.label
                )
            }
        }
    }

    fn wait_briefly(&mut self) -> Option<ExitStatus> {
        wait_deadline(self.child.as_mut()?, Duration::from_secs(1))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            // Still running (or not yet reaped) here means something went wrong
            // in the parent: do not leave a spinning sender behind.
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn describe_status(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "still running".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("{s}"),
        },
    }
}

/// A file or directory removed when dropped.
pub struct TempPath(PathBuf);

impl TempPath {
    /// Takes charge of `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> TempPath {
        TempPath(path)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
        // A ring's sidecar files (lock, wake file, readers directory), if any.
        slipstream_ring::sidecar::remove_all(&self.0);
    }
}

/// A unique name for one run's files: the parent's pid and a counter.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The child's side of the control protocol.
pub struct Control {
    stdin: std::io::StdinLock<'static>,
    stdout: std::io::Stdout,
}

impl Control {
    /// Takes the process's standard input and output.
    pub fn new() -> Control {
        Control {
            stdin: std::io::stdin().lock(),
            stdout: std::io::stdout(),
        }
    }

    /// Prints a control line.
    pub fn say(&mut self, line: &str) -> Result<()> {
        let mut out = self.stdout.lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("writing to the parent")
    }

    /// Waits for a control line from the parent; `Ok(None)` if it closed the pipe.
    pub fn hear(&mut self) -> Result<Option<String>> {
        let mut line = String::new();
        if self
            .stdin
            .read_line(&mut line)
            .context("reading from the parent")?
            == 0
        {
            return Ok(None);
        }
        Ok(Some(line.trim_end().to_string()))
    }

    /// Says `ready` and waits for `go`.
    pub fn ready(&mut self) -> Result<()> {
        self.say("ready")?;
        match self.hear()? {
            Some(l) if l == "go" => Ok(()),
            Some(l) => bail!("expected `go` from the parent, got `{l}`"),
            None => bail!("the parent went away before `go`"),
        }
    }

    /// Says `done` and waits for `exit` (or the end of input).
    pub fn done(&mut self, sender_ns: u64) -> Result<()> {
        self.say(&format!("done sender_ns={sender_ns}"))?;
        while let Some(l) = self.hear()? {
            if l == "exit" {
                break;
            }
        }
        Ok(())
    }
}

/// The child's arguments: `key=value` pairs.
pub struct ChildArgs(BTreeMap<String, String>);

impl ChildArgs {
    /// Parses `key=value` arguments.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<ChildArgs> {
        let mut map = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| anyhow!("child argument `{a}` is not key=value"))?;
            map.insert(k.to_string(), v.to_string());
        }
        Ok(ChildArgs(map))
    }

    /// A string argument.
    pub fn str(&self, key: &str) -> Result<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("child argument `{key}` missing"))
    }

    /// A numeric argument.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        self.str(key)?
            .parse()
            .with_context(|| format!("child argument `{key}`"))
    }
}

/// Makes the kernel kill this (child) process when its parent dies, so that a
/// killed benchmark never leaves a spinning sender behind.
pub fn die_with_parent(parent_pid: u32) -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .context("prctl(PR_SET_PDEATHSIG)")?;
    // The parent may have died before the prctl: then we were re-parented.
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if ppid != Some(parent_pid) {
        bail!("the parent ({parent_pid}) is gone");
    }
    Ok(())
}
