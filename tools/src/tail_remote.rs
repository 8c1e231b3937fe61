//! `slipstream-tail --nats URL --stream NAME`: the same lines, read from a
//! JetStream stream that `slipstream-bridge` feeds, through the SDK's
//! `RemoteConsumer`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use slipstream_consumer::remote::RemoteConsumer;

use crate::cli;
use crate::tail::{exit_code, stdout_closed, write_failed, Printer, Stop, TailArgs};

/// How long one wait lasts before the loop looks at signals and timeouts.
const POLL: Duration = Duration::from_millis(150);

/// Runs the tail on a stream.
pub(crate) fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let url = args.nats.clone().context("--nats")?;
    let stream = args.stream.clone().context("--nats needs --stream NAME")?;
    let mut builder = RemoteConsumer::builder(&url, &stream)
        .start(args.from)
        .reset(args.reset);
    if let Some(name) = &args.name {
        builder = builder.name(name);
    }
    if !args.kinds.is_empty() {
        builder = builder.kinds(args.kinds.iter().flat_map(|set| set.iter()).collect());
    }
    for program in &args.programs {
        builder = builder.program(program);
    }
    for mapping in &args.mappings {
        builder = builder.mapping(mapping);
    }
    let mut consumer = builder.open().context("cannot read the stream")?;
    let mut printer = Printer::stdout(&args);
    let stop = follow(&mut consumer, &mut printer, &args)?;
    let flushed = printer.out.flush();
    drop(printer);
    if flushed.is_ok() {
        consumer.commit();
    }
    exit_code(stop, flushed)
}

fn follow<W: Write>(
    consumer: &mut RemoteConsumer,
    printer: &mut Printer<W>,
    args: &TailArgs,
) -> anyhow::Result<Stop> {
    let mut printed = 0u64;
    let mut last_activity = Instant::now();
    let stream = consumer.stream().to_string();
    loop {
        if let Some(sig) = cli::interrupted() {
            return Ok(Stop::Signal(sig));
        }
        if args.count.is_some_and(|n| printed >= n) {
            return Ok(Stop::Done);
        }
        if args.no_follow && consumer.caught_up() {
            return Ok(Stop::Done);
        }
        let got = consumer
            .next(POLL)
            .with_context(|| format!("read the stream {stream:?}"))?;
        match got {
            Some(item) => {
                if let Err(e) = printer.item(&item) {
                    return write_failed(e);
                }
                printed += matches!(item, slipstream_consumer::Item::Event(_)) as u64;
                last_activity = Instant::now();
            }
            None => {
                if let Err(e) = printer.out.flush() {
                    return write_failed(e);
                }
                consumer.commit();
                if args.timeout.is_some_and(|t| last_activity.elapsed() >= t) {
                    return Ok(Stop::Done);
                }
                if stdout_closed() {
                    return Ok(Stop::Pipe);
                }
            }
        }
    }
}
