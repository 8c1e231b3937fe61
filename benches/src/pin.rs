//! CPU pinning for the latency cells: the receiver (this process, or the
//! crossbeam receiving thread) on one allowed CPU, the sender on another.
//!
//! The plan starts from the CPUs this process may run on
//! (`sched_getaffinity`), not from the machine's count: a container or a
//! `taskset` may allow fewer. With fewer than two, nothing is pinned and the
//! plan says so.

use anyhow::{Context, Result};
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// Where the receiver and the sender of a latency cell run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The receiver's CPU, if pinned.
    pub receiver: Option<usize>,
    /// The sender's CPU, if pinned.
    pub sender: Option<usize>,
    /// What was done, for the report: "receiver on CPU 0, sender on CPU 1",
    /// or why nothing was pinned.
    pub said: String,
}

/// The CPUs this process may run on, in order.
pub fn allowed() -> Result<Vec<usize>> {
    let set = sched_getaffinity(None).context("sched_getaffinity")?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Plans the pinning: the first two allowed CPUs if `wanted` and there are two.
pub fn plan(wanted: bool) -> Plan {
    if !wanted {
        return Plan {
            receiver: None,
            sender: None,
            said: "not pinned: --pin off".into(),
        };
    }
    match allowed() {
        Ok(cpus) if cpus.len() >= 2 => Plan {
            receiver: Some(cpus[0]),
            sender: Some(cpus[1]),
            said: format!(
                "receiver pinned to CPU {}, sender to CPU {} (of the {} CPUs allowed: {:?}); a sender's helper threads (Slipstream's waker) share its CPU",
                cpus[0],
                cpus[1],
                cpus.len(),
                cpus
            ),
        },
        Ok(cpus) => Plan {
            receiver: None,
            sender: None,
            said: format!("not pinned: only {} CPUs allowed", cpus.len()),
        },
        Err(e) => Plan {
            receiver: None,
            sender: None,
            said: format!("not pinned: {e:#}"),
        },
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).with_context(|| format!("sched_setaffinity to CPU {cpu}"))
}

/// The calling thread's affinity before [`Restore::pin`], put back when dropped.
pub struct Restore(Option<CpuSet>);

impl Restore {
    /// Pins the calling thread to `cpu` (if any) until the guard drops.
    pub fn pin(cpu: Option<usize>) -> Result<Restore> {
        let Some(cpu) = cpu else {
            return Ok(Restore(None));
        };
        let before = sched_getaffinity(None).context("sched_getaffinity")?;
        pin_current(cpu)?;
        Ok(Restore(Some(before)))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(set) = &self.0 {
            let _ = sched_setaffinity(None, set);
        }
    }
}
