//! `slipstream-demo`: a simulated node and a tail on a fresh ring, side by side.
//!
//! The demo runs itself twice more as child processes (hidden `sim` and
//! `tail` roles, the same code as `slipstream-sim` and `slipstream-tail`), so
//! that `cargo run --bin slipstream-demo` needs no other binary built: the
//! producer and the consumer really are two processes sharing the ring.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slipstream_producer::parse_duration;

use crate::cli;
use crate::sim::SimArgs;
use crate::tail::TailArgs;
use crate::text::Range;

/// The environment variable that tells a child role which process is its demo.
const PARENT_ENV: &str = "SLIPSTREAM_DEMO_PARENT";

/// Watch Slipstream work: a simulated snarkOS node publishes blocks into a
/// fresh ring while `slipstream-tail` follows it in another process.
///
/// Runs for --duration (or until Ctrl-C), then shows `slipstream stat` of the
/// ring, stops the tail, and removes the ring: it leaves no process and no
/// file behind.
#[derive(Parser, Debug)]
#[command(
    name = "slipstream-demo",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct DemoCli {
    /// A role the demo runs itself in (internal).
    #[command(subcommand)]
    pub role: Option<Role>,
    /// The demo's own options.
    #[command(flatten)]
    pub args: DemoArgs,
}

/// The roles a demo's child processes play.
#[derive(Subcommand, Debug)]
pub enum Role {
    /// The simulated node (as `slipstream-sim`).
    #[command(hide = true)]
    Sim(SimArgs),
    /// The tail (as `slipstream-tail`).
    #[command(hide = true)]
    Tail(TailArgs),
}

/// Options of the demo.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// How long the simulated node publishes, e.g. `15s`, `500ms`.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Blocks per second the simulated node finalizes.
    #[arg(long, value_name = "BLOCKS_PER_SEC", default_value_t = 3.0)]
    pub rate: f64,

    /// Events per block, `N` or `MIN..MAX` (kept small so that the lines can be read).
    #[arg(long, value_name = "N|MIN..MAX", default_value = "4..12")]
    pub events_per_block: Range,

    /// Show the events as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the demo, or one of its roles.
pub fn main(cli_args: DemoCli) -> ExitCode {
    match cli_args.role {
        Some(Role::Sim(args)) => {
            follow_parent();
            cli::main_with("slipstream-sim", || crate::sim::run(args))
        }
        Some(Role::Tail(args)) => {
            follow_parent();
            cli::main_with("slipstream-tail", || crate::tail::run(args))
        }
        None => cli::main_with("slipstream-demo", || run(cli_args.args)),
    }
}

/// A child role dies with its demo, even if the demo is killed outright.
fn follow_parent() {
    let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    // The demo may have died before the line above took effect.
    if nix::unistd::getppid() != Pid::from_raw(parent) {
        std::process::exit(1);
    }
}

/// Kills the children and removes the ring when the demo ends, however it ends.
struct Cleanup {
    ring: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Cleanup {
    /// Asks every child still running to stop (SIGTERM: the tail stores its
    /// cursor, the simulator commits its block), then kills the stubborn ones.
    fn stop_children(&mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop_children();
        match std::fs::remove_file(&self.ring) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => crate::say!(
                "slipstream-demo: could not remove {}: {e}",
                self.ring.display()
            ),
        }
        // The ring's sidecars (lock, wake file, named cursors).
        slipstream_ring::sidecar::remove_all(&self.ring);
    }
}

fn child(exe: &Path, role: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg(role)
        .args(args)
        .env(PARENT_ENV, std::process::id().to_string())
        .stdin(Stdio::null());
    cmd
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    cli::install_signal_handlers()?;
    let exe = std::env::current_exe().context("find the path of this program")?;
    let ring = PathBuf::from(format!(
        "{}/slipstream-demo-{}",
        slipstream_consumer::SHM_DIR,
        std::process::id()
    ));
    let ring_arg = ring.display().to_string();
    let mut cleanup = Cleanup {
        ring: ring.clone(),
        children: Vec::new(),
    };
    println!(
        "slipstream-demo: a simulated node finalizes {} blocks/s into the ring {} for {};\n\
         slipstream-tail follows it in another process (Ctrl-C stops early; everything is cleaned up).\n",
        args.rate,
        ring.display(),
        crate::text::duration(args.duration)
    );

    let sim_args: Vec<String> = vec![
        ring_arg.clone(),
        "--rate".into(),
        args.rate.to_string(),
        "--duration".into(),
        format!("{}ms", args.duration.as_millis()),
        "--events-per-block".into(),
        args.events_per_block.to_string(),
        "--stakers".into(),
        "1..3".into(),
        "--block-size".into(),
        "16KiB..128KiB".into(),
        "--capacity".into(),
        "16MiB".into(),
        "--max-event".into(),
        "1MiB".into(),
        "--report-every".into(),
        "5s".into(),
        "--recreate".into(),
    ];
    let sim = child(&exe, "sim", &sim_args)
        .spawn()
        .context("start the simulated node")?;
    cleanup.children.push(("simulated node", sim));

    let mut tail_args: Vec<String> = vec![
        ring_arg.clone(),
        "--from".into(),
        "oldest".into(),
        "--name".into(),
        "demo-tail".into(),
        "--wait".into(),
        "5s".into(),
        "--max-bytes".into(),
        "8".into(),
    ];
    if args.json {
        tail_args.extend(["--json".into(), "--max-bytes".into(), "16".into()]);
    }
    let tail = child(&exe, "tail", &tail_args)
        .spawn()
        .context("start the tail")?;
    cleanup.children.push(("tail", tail));

    // Until the node is done (or a signal, or a child failing).
    loop {
        if let Some(sig) = cli::interrupted() {
            return Ok(cli::signal_exit_code(sig));
        }
        for (what, child) in &mut cleanup.children {
            if let Some(status) = child.try_wait().context("wait for a child")? {
                if *what == "tail" {
                    if status.success() {
                        // Its reader went away (`slipstream-demo | head`):
                        // nobody is watching, so the demo stops too.
                        return Ok(ExitCode::SUCCESS);
                    }
                    bail!("the tail stopped early ({status})");
                }
                if !status.success() {
                    bail!("the {what} failed ({status})");
                }
            }
        }
        if matches!(cleanup.children[0].1.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the tail print the last block and notice that the producer closed.
    if !cli::sleep_interruptibly(Duration::from_millis(800)) {
        return Ok(cli::signal_exit_code(cli::interrupted().unwrap_or(2)));
    }
    let stat = crate::stat::snapshot(&ring, Duration::ZERO)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n── slipstream stat {} ──", ring.display())?;
    crate::stat::write_human(&mut out, &stat)?;
    writeln!(out, "\nslipstream-demo: done; removing {}", ring.display())?;
    out.flush()?;
    drop(out);
    drop(cleanup);
    Ok(ExitCode::SUCCESS)
}
