//! Child processes of a test: held by guards that kill (SIGKILL) and reap them
//! when dropped, so that a failing test leaves no process behind; every wait
//! bounded by a deadline, so that a hang is a failure that names the command,
//! not a test that never ends.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often the deadline loops look again.
const POLL: Duration = Duration::from_millis(10);

/// Waits for `child` to exit, at most `limit`: its status, or `None` if it is
/// still running at the deadline (the one deadline loop of the tests).
///
/// # Panics
///
/// If waiting for the child fails (it was reaped elsewhere).
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Waits until `cond` holds, at most `limit`.
///
/// # Panics
///
/// If it does not hold by then, naming `what`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(POLL);
    }
}

/// Runs `f` on another thread and waits at most `limit` for it.
///
/// # Panics
///
/// If `f` does not return within `limit` (naming `what`), and re-raises a
/// panic of `f`.
pub fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => {
                eprintln!("{what}: panicked");
                std::panic::resume_unwind(panic)
            }
            Ok(()) => unreachable!("the closure returned without sending"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not return within {limit:?}"),
    }
}

/// Makes the child of `cmd` die (SIGKILL) when the thread that spawns it
/// dies, so that a test binary killed before its guards' drops run leaves no
/// child behind.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec, and makes one prctl system
    // call (async-signal-safe: no allocation, no lock). The signal follows the
    // death of the spawning *thread*: spawn from a thread that outlives the
    // guard (a test's own thread does).
    unsafe {
        cmd.pre_exec(|| {
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            Ok(())
        })
    }
}

/// The state letters of `pid`'s threads in /proc (`R`, `S`, `T`, ...); empty
/// if the process is gone.
fn thread_states(pid: i32) -> Vec<char> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the command name, which is in parentheses.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .unwrap_or('?')
        })
        .collect()
}

/// Whether process `pid` is stopped (state `T` in /proc).
pub fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

/// Whether the main thread of `pid` is asleep on a futex (`/proc/PID/wchan`):
/// for a consumer, idle in its wait for the next event.
pub fn is_asleep_on_futex(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("futex"))
}

/// Whether every thread of `pid` is stopped (and it has one).
pub fn all_threads_stopped(pid: i32) -> bool {
    let states = thread_states(pid);
    !states.is_empty() && states.iter().all(|&s| s == 'T')
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Guards `child`.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard(Some(child))
    }

    /// Spawns `cmd` and guards the child.
    ///
    /// # Panics
    ///
    /// If it cannot be spawned.
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        ChildGuard::new(child)
    }

    /// The child.
    ///
    /// # Panics
    ///
    /// If it was taken out.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present")
    }

    /// The child's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.0.as_ref().expect("child present").id() as i32)
    }

    /// Sends `signal` to the child (an error, such as a child already gone,
    /// is ignored).
    pub fn signal(&self, signal: Signal) {
        let _ = nix::sys::signal::kill(self.pid(), signal);
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.child().try_wait().expect("try_wait").is_none()
    }

    /// Waits for the child to exit, at most `limit`.
    ///
    /// # Panics
    ///
    /// If it does not (the guard then kills it), naming `what`.
    pub fn wait_timeout(&mut self, limit: Duration, what: &str) -> ExitStatus {
        wait_deadline(self.child(), limit)
            .unwrap_or_else(|| panic!("{what} did not exit within {limit:?}"))
    }

    /// Takes the child out of the guard (to wait for its output).
    pub fn take(mut self) -> Child {
        self.0.take().expect("child present")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child whose stdout (line by line) and stderr are drained by threads, so
/// that it never blocks on a full pipe; killed and reaped if dropped.
pub struct Spawned {
    guard: ChildGuard,
    /// The lines of its stdout, as they come (what is taken from here is not
    /// in [`Output::stdout`]).
    pub lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    what: String,
}

impl Spawned {
    /// Spawns `cmd` with stdin from /dev/null and both outputs piped.
    ///
    /// # Panics
    ///
    /// If it cannot be spawned.
    pub fn spawn(cmd: Command) -> Spawned {
        let what = format!("{cmd:?}");
        Spawned::try_spawn(cmd).unwrap_or_else(|e| panic!("spawn {what}: {e}"))
    }

    /// [`spawn`](Self::spawn), returning the error (for a caller that says
    /// how to install a missing program).
    ///
    /// # Errors
    ///
    /// What spawning the program returned (`NotFound` for a missing one).
    pub fn try_spawn(mut cmd: Command) -> std::io::Result<Spawned> {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut line = Vec::new();
            loop {
                line.clear();
                match out.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                // Keep draining even if no one listens any more.
                let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = Vec::new();
            let _ = BufReader::new(err).read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Ok(Spawned {
            guard: ChildGuard::new(child),
            lines,
            stderr: Some(stderr),
            what,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.guard.pid().as_raw()
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: Signal) {
        self.guard.signal(signal);
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.guard.running()
    }

    /// Waits for the child to exit and collects the rest of its output.
    ///
    /// # Panics
    ///
    /// If it does not exit within `limit` (it is then killed): a hang.
    pub fn finish(mut self, limit: Duration) -> Output {
        let Some(status) = wait_deadline(self.guard.child(), limit) else {
            panic!("{} did not exit within {limit:?}: a hang", self.what)
        };
        let mut stdout = String::new();
        for line in self.lines.iter() {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        Output {
            what: std::mem::take(&mut self.what),
            status,
            stdout,
            stderr,
        }
    }
}

/// Runs a command to its end, within `limit`, collecting its output.
///
/// # Panics
///
/// If it cannot be spawned or does not exit in time.
pub fn run(cmd: Command, limit: Duration) -> Output {
    Spawned::spawn(cmd).finish(limit)
}

/// What a finished child printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The command line.
    pub what: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, each line ended by `\n` (invalid UTF-8 replaced).
    pub stdout: String,
    /// Its stderr (invalid UTF-8 replaced).
    pub stderr: String,
}

impl Output {
    /// The exit code, or -1 after a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Each line of stdout parsed as JSON.
    ///
    /// # Panics
    ///
    /// On a line that is not JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", self.what)))
            .collect()
    }

    /// No panic, no death by a signal (a crash, SIGBUS, SIGSEGV, abort).
    ///
    /// # Panics
    ///
    /// Otherwise, with its stderr.
    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "{} panicked:\n{}",
            self.what,
            self.stderr
        );
        assert!(
            self.status.code().is_some() && self.status.code() != Some(101),
            "{} crashed ({:?}):\n{}",
            self.what,
            self.status,
            self.stderr
        );
        self
    }

    /// Exit status 0, no panic.
    ///
    /// # Panics
    ///
    /// Otherwise, with its stdout and stderr.
    pub fn assert_success(&self) -> &Self {
        self.assert_no_panic();
        assert!(
            self.status.success(),
            "{}: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit status 1, and stderr names `path` and one of `reasons`.
    ///
    /// # Panics
    ///
    /// Otherwise.
    pub fn assert_refused(&self, path: &Path, reasons: &[&str]) -> &Self {
        self.assert_no_panic();
        assert_eq!(
            self.status.code(),
            Some(1),
            "{}: exit status (stderr: {})",
            self.what,
            self.stderr
        );
        let shown = path.display().to_string();
        assert!(
            self.stderr.contains(&shown),
            "{}: stderr does not name {shown}: {}",
            self.what,
            self.stderr
        );
        assert!(
            reasons.iter().any(|r| self.stderr.contains(r)),
            "{}: stderr names none of {reasons:?}: {}",
            self.what,
            self.stderr
        );
        self
    }

    /// Exit status 0 or 1; on 1, stderr names `path`.
    ///
    /// # Panics
    ///
    /// Otherwise.
    pub fn assert_ok_or_refused(&self, path: &Path) -> &Self {
        self.assert_no_panic();
        match self.status.code() {
            Some(0) => {}
            Some(1) => assert!(
                self.stderr.contains(&path.display().to_string()),
                "{}: the error does not name the ring {}: {}",
                self.what,
                path.display(),
                self.stderr
            ),
            other => panic!("{}: exit status {other:?}: {}", self.what, self.stderr),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_collects_both_outputs_and_the_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "printf 'a\\nb'; echo oops >&2; exit 3"]);
        let out = run(c, Duration::from_secs(30));
        assert_eq!(out.code(), 3);
        assert_eq!(out.stdout, "a\nb\n");
        assert_eq!(out.stderr, "oops\n");
        out.assert_no_panic();
    }

    #[test]
    #[should_panic(expected = "did not exit within")]
    fn a_hang_is_a_failure() {
        let mut c = Command::new("sleep");
        c.arg("30");
        run(c, Duration::from_millis(100));
    }

    #[test]
    fn a_guard_kills_its_child() {
        let g = ChildGuard::spawn(Command::new("sleep").arg("30"));
        let pid = g.pid();
        drop(g);
        // Reaped: the pid no longer names our child.
        assert!(nix::sys::wait::waitpid(pid, None).is_err());
    }
}
