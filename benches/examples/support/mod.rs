//! What the examples share: the harness's own pinning and clock (its
//! `src/pin.rs` and `src/payload.rs`, not copies of them), and how they pin
//! and summarise.
#![allow(dead_code)] // each example uses a part

#[path = "../../src/payload.rs"]
pub mod payload;
#[path = "../../src/pin.rs"]
pub mod pin;

/// Pins the calling thread to `cpu` (if the plan has one); on failure says
/// so and runs unpinned.
pub fn pin_or_warn(cpu: Option<usize>) {
    if let Some(Err(e)) = cpu.map(pin::pin_current) {
        eprintln!("{e:#} (running unpinned)");
    }
}

/// The median of `v` with its smallest and largest value.
///
/// # Panics
///
/// If `v` is empty.
pub fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
