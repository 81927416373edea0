//! `iotstream produce`: JSON lines to a Kafka topic, one message per line, keyed by guid.

use std::io::{self, BufRead as _};
use std::time::Instant;

use anyhow::Context as _;
use iotstream_engine::Parser;

use crate::cli::kafka::ProduceArgs;
use crate::connectors::kafka::sink::Sender;

/// `iotstream produce`: one message per input line, keyed by guid where the line has one.
pub fn produce(args: &ProduceArgs) -> anyhow::Result<()> {
    let connection = args.kafka.connect()?;
    connection.probe(&crate::signals::Stop::default())?;
    let topic = args.kafka.topic()?;
    let mut reader =
        io::BufReader::with_capacity(1 << 20, crate::connectors::file::Input::from_arg(&args.input).open()?);
    connection.ensure_topic(topic, args.partitions)?;
    let sender = Sender::new(&connection, topic, false)?;
    let parser = Parser::new(usize::MAX);
    let started = Instant::now();
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).context("reading input failed")? > 0 {
        let message = line.strip_suffix(b"\n").unwrap_or(&line);
        let key = parser.parse(message).ok().map(|r| r.guid.into_string());
        sender.send(key.as_deref().map(str::as_bytes), message, None);
        line.clear();
    }
    sender.flush()?;
    report_rate("produced", sender.delivered(), started);
    Ok(())
}

/// Logs how many messages went out, how fast.
pub fn report_rate(what: &str, messages: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let rate = messages as f64 / seconds.max(1e-9);
    tracing::info!(messages, seconds = format!("{seconds:.2}"), rate = format!("{rate:.0}/s"), "{what}");
}
