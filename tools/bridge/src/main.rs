//! `slipstream-bridge`: see the crate documentation.

use clap::Parser;

#[derive(Parser)]
#[command(name = "slipstream-bridge", version)]
struct Cli {
    #[command(flatten)]
    args: slipstream_bridge::BridgeArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    slipstream_tools::cli::main_with("slipstream-bridge", || slipstream_bridge::run(cli.args))
}
