//! What Slipstream's tests share, in one place.
//!
//! - [`rng`]: SplitMix64, the seeded generator of every randomised test (and
//!   of `slipstream-sim`), with the per-test seed rule.
//! - [`process`]: child processes held by guards that kill and reap them when
//!   dropped, every wait bounded by a deadline, pipes drained by threads.
//! - [`tools`]: where the workspace's binaries are, and command lines for
//!   `slipstream-sim`, `slipstream-tail` and `slipstream stat`.
//! - [`fuzz`]: replays a fuzz target's committed corpus through its body.
//! - [`server`]: temporary directories, and PostgreSQL and NATS servers of a
//!   test's own, stopped and removed even when the test fails.
//!
//! It depends on nothing of the project, so that `slipstream-ring` at the
//! bottom of the graph can dev-depend on it as well as the crates above.

pub mod fuzz;
pub mod process;
pub mod rng;
pub mod server;
pub mod tools;
