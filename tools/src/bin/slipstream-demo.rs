//! `slipstream-demo`: a simulated node and `slipstream-tail` on a fresh ring, side by side.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    slipstream_tools::demo::main(slipstream_tools::demo::DemoCli::parse())
}
