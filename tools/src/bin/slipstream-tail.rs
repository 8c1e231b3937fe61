//! `slipstream-tail RING`: follows a Slipstream ring like `tail -f`.

use clap::Parser;
use slipstream_tools::{cli, tail::TailArgs};

#[derive(Parser)]
#[command(name = "slipstream-tail", version)]
struct Cli {
    #[command(flatten)]
    args: TailArgs,
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse().args;
    cli::main_with("slipstream-tail", || slipstream_tools::tail::run(args))
}
