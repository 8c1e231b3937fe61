//! # slipstream-tools
//!
//! Command-line tools for Slipstream rings, each a thin `main` over a module
//! of this library:
//!
//! - `slipstream-tail RING` ([`tail`]): follows a ring like `tail -f`, one
//!   line per event, human-readable or JSON, with every lag and every change of
//!   the producer's life shown.
//! - `slipstream stat RING` ([`stat`]): the ring's header, producer, head,
//!   event rate and readers (named cursors) with their health ([`health`]),
//!   once, refreshed (`--watch`), or as a check (`--check`).
//! - `slipstream exporter RING...` ([`exporter`]): Prometheus metrics and a
//!   health endpoint over HTTP.
//! - `slipstream-sim RING` ([`sim`]): a simulated snarkOS node that finalizes
//!   blocks of realistic events into a ring through `slipstream-producer`.
//! - `slipstream-demo` ([`demo`]): runs the simulator and the tail side by side
//!   on a fresh ring for a few seconds, then cleans up.
//!
//! A ring is named like the producer and consumer crates name it: a bare name
//! (no `/`) is a file under `/dev/shm`, anything else is a path.
//!
//! Every tool prints errors as `PROGRAM: CONTEXT: ERROR` with the error's
//! causes, exits 1 on error, and exits `128 + signal` (130 for Ctrl-C) when
//! interrupted, except the simulator, which finishes its block and exits 0.

pub mod cli;
pub mod demo;
pub mod exporter;
pub mod health;
pub mod render;
pub mod sim;
pub mod stat;
pub mod tail;
mod tail_remote;
pub mod text;
