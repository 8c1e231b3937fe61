//! `slipstream`: commands to inspect and monitor Slipstream rings
//! (`slipstream stat RING`, `slipstream exporter RING... --listen ADDR`).

use clap::{Parser, Subcommand};
use slipstream_tools::{cli, stat::StatArgs};

/// Inspect Slipstream rings. A ring is a bare name (a file under /dev/shm) or a path.
///
/// Related tools: slipstream-tail (follow a ring's events), slipstream-sim (a
/// simulated node that publishes into a ring), slipstream-demo.
#[derive(Parser)]
#[command(name = "slipstream", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a ring's header, producer, head, event rate and readers.
    Stat(StatArgs),
    /// List or remove a ring's named cursors.
    Readers(cli::ReadersArgs),
    /// Serve Prometheus metrics (/metrics) and a health check (/healthz) for rings.
    Exporter(slipstream_tools::exporter::ExporterArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Stat(args) => {
            cli::main_with("slipstream stat", || slipstream_tools::stat::run(args))
        }
        Command::Readers(args) => cli::main_with("slipstream readers", || cli::run_readers(args)),
        Command::Exporter(args) => cli::main_with("slipstream exporter", || {
            slipstream_tools::exporter::run(args)
        }),
    }
}
