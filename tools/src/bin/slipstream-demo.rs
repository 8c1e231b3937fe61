//! `slipstream-demo`: a simulated node and `slipstream-tail` on a fresh ring, side by side.

use clap::Parser;

fn main() -> std::process::ExitCode {
    slipstream_tools::demo::main(slipstream_tools::demo::DemoCli::parse())
}
