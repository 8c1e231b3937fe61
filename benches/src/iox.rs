//! iceoryx2 0.10 publish-subscribe between two processes: the child
//! publishes, the parent subscribes.
//!
//! The service carries `[u8]` slices of the run's message size. Safe overflow
//! is off and the publisher's back-pressure strategy is
//! `RetryUntilDelivered`, so that nothing is lost and every message can be
//! checked (with overflow on, a slow subscriber loses its oldest samples); the
//! subscriber's queue holds `--iox-queue` samples. The publisher writes each
//! message straight into its loaned shared-memory sample (zero copy), and the
//! subscriber checks it in place.
//!
//! A sleeping receiver uses iceoryx2's event messaging pattern, as its
//! examples do: the publisher's process also owns a notifier and notifies
//! after each send; the subscriber's process waits on a listener, then drains
//! its subscriber.

use crate::common::{
    end_of_run, send_loop, LatRecorder, LatRun, LatSpec, Pacing, RecvMode, TputRun, TputSpec,
    Verifier, Watchdog,
};
use crate::payload;
use crate::proc::{ChildArgs, ChildGuard, Control};
use anyhow::{anyhow, Context, Result};
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;
use std::collections::BTreeMap;
use std::time::Duration;

/// Samples the subscriber's queue holds before the publisher must wait, by
/// default. The publisher waits for room with `sched_yield`; when a third task
/// competes for a core, each yield can cost it a whole scheduler slice, and a
/// short queue then caps the rate at about one queue per slice (64 samples:
/// about 20 k msg/s measured here under a parallel test run).
pub const DEFAULT_QUEUE: usize = 1024;

type Svc = ipc::Service;

/// Makes a node of this process, with iceoryx2's signal handling off (so that
/// Ctrl-C ends the benchmark as usual) and its logging reduced to errors (unless IOX2_LOG_LEVEL says otherwise).
fn node() -> Result<Node<Svc>> {
    set_log_level_from_env_or(LogLevel::Error);
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Svc>()
        .map_err(|e| anyhow!("creating an iceoryx2 node: {e:?}"))
}

fn service(node: &Node<Svc>, name: &str, queue: usize) -> Result<PortFactory<Svc, [u8], ()>> {
    let sn: ServiceName = name
        .try_into()
        .map_err(|e| anyhow!("service name {name}: {e:?}"))?;
    node.service_builder(&sn)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(queue)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(|e| anyhow!("opening iceoryx2 service {name}: {e:?}"))
}

fn event_name(name: &str) -> String {
    format!("{name}/wake")
}

fn event(
    node: &Node<Svc>,
    name: &str,
) -> Result<iceoryx2::service::port_factory::event::PortFactory<Svc>> {
    let sn: ServiceName = name
        .try_into()
        .map_err(|e| anyhow!("service name {name}: {e:?}"))?;
    node.service_builder(&sn)
        .event()
        .open_or_create()
        .map_err(|e| anyhow!("opening iceoryx2 event service {name}: {e:?}"))
}

/// Removes what a killed child left behind, after the child is gone.
struct NodeGuard(Node<Svc>);

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let _ = self.0.try_cleanup_dead_nodes();
    }
}

fn spawn(
    mode: &str,
    size: usize,
    count: u64,
    queue: usize,
    extra: &[(&'static str, String)],
) -> Result<(String, ChildGuard)> {
    let name = crate::proc::unique("slipstream-bench");
    let mut args = BTreeMap::from([
        ("transport", "iceoryx2".to_string()),
        ("mode", mode.to_string()),
        ("size", size.to_string()),
        ("count", count.to_string()),
        ("service", name.clone()),
        ("queue", queue.to_string()),
    ]);
    args.extend(extra.iter().cloned());
    let mut child = ChildGuard::spawn("iceoryx2 publisher", &args)?;
    child.expect("ready")?;
    Ok((name, child))
}

/// Parent side of a throughput run.
pub fn throughput(spec: &TputSpec) -> Result<TputRun> {
    let node = NodeGuard(node()?);
    let (name, mut child) = spawn(
        "tput",
        spec.size,
        spec.count,
        spec.iox_queue,
        &[("rate", spec.rate.to_string())],
    )?;
    let svc = service(&node.0, &name, spec.iox_queue)?;
    let sub = svc
        .subscriber_builder()
        .buffer_size(spec.iox_queue)
        .create()
        .map_err(|e| anyhow!("creating the subscriber: {e:?}"))?;
    let mut v = Verifier::new(spec.size);
    let mut dog = Watchdog::new(spec.timeout, "iceoryx2 throughput");
    let t0 = payload::now_ns();
    child.say("go")?;
    while v.next < spec.count {
        match sub.receive().map_err(|e| anyhow!("receive: {e:?}"))? {
            Some(sample) => v.take(sample.payload())?,
            None => dog.idle(|| child.check().map(drop))?,
        }
    }
    end_of_run(t0, child, v)
}

/// Parent side of a latency run.
pub fn latency(spec: &LatSpec) -> Result<LatRun> {
    let node = NodeGuard(node()?);
    let (name, mut child) = spawn(
        "lat",
        spec.size,
        spec.total(),
        spec.iox_queue,
        &[
            spec.child_args(),
            vec![("notify", (spec.mode == RecvMode::Sleep).to_string())],
        ]
        .concat(),
    )?;
    let svc = service(&node.0, &name, spec.iox_queue)?;
    let sub = svc
        .subscriber_builder()
        .buffer_size(spec.iox_queue)
        .create()
        .map_err(|e| anyhow!("creating the subscriber: {e:?}"))?;
    let listener = match spec.mode {
        RecvMode::Sleep => Some(
            event(&node.0, &event_name(&name))?
                .listener_builder()
                .create()
                .map_err(|e| anyhow!("creating the listener: {e:?}"))?,
        ),
        RecvMode::Busy => None,
    };
    let mut rec = LatRecorder::new(spec);
    let mut dog = Watchdog::new(spec.timeout, "iceoryx2 latency");
    child.say("go")?;
    while rec.next < spec.total() {
        match sub.receive().map_err(|e| anyhow!("receive: {e:?}"))? {
            Some(sample) => rec.take(sample.payload(), payload::now_ns())?,
            None => match &listener {
                None => dog.idle(|| child.check().map(drop))?,
                Some(l) => {
                    let n = l
                        .timed_wait(|_| {}, Duration::from_millis(100))
                        .map_err(|e| anyhow!("listener wait: {e:?}"))?;
                    if n == 0 {
                        dog.check(|| child.check().map(drop))?;
                    }
                }
            },
        }
    }
    child.finish()?;
    Ok(rec.finish())
}

/// Child side: the publisher.
pub fn child(args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    let name = args.str("service")?.to_string();
    let size: usize = args.num("size")?;
    let count: u64 = args.num("count")?;
    let latency = args.str("mode")? == "lat";
    let queue: usize = args.num("queue")?;
    let node = node()?;
    let svc = service(&node, &name, queue)?;
    let publisher = svc
        .publisher_builder()
        .initial_max_slice_len(size)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(|e| anyhow!("creating the publisher: {e:?}"))?;
    let notifier = if latency && args.str("notify")? == "true" {
        Some(
            event(&node, &event_name(&name))?
                .notifier_builder()
                .create()
                .map_err(|e| anyhow!("creating the notifier: {e:?}"))?,
        )
    } else {
        None
    };
    ctl.ready()?;
    let send = |i: u64, stamped: bool| -> Result<()> {
        let mut s = publisher
            .loan_slice_uninit(size)
            .map_err(|e| anyhow!("loan: {e:?}"))?;
        let p = s.payload_mut();
        payload::fill_uninit(p, i);
        if stamped {
            payload::stamp_uninit(p, payload::now_ns());
        }
        // SAFETY: fill_uninit wrote every one of the `size` bytes of the payload.
        let s = unsafe { s.assume_init() };
        s.send().map_err(|e| anyhow!("send: {e:?}"))?;
        if let Some(n) = &notifier {
            n.notify().map_err(|e| anyhow!("notify: {e:?}"))?;
        }
        Ok(())
    };
    let ns = if latency {
        send_loop(count, Pacing::from_args(args)?, |i| send(i, true))?
    } else {
        send_loop(count, Pacing::from_args(args)?, |i| send(i, false)).context("publishing")?
    };
    ctl.done(ns)
}
