//! `slipstream-sim RING`: a simulated snarkOS node publishing into a Slipstream ring.

use clap::Parser;
use slipstream_tools::{cli, sim::SimArgs};

#[derive(Parser)]
#[command(name = "slipstream-sim", version)]
struct Cli {
    #[command(flatten)]
    args: SimArgs,
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse().args;
    cli::main_with("slipstream-sim", || slipstream_tools::sim::run(args))
}
