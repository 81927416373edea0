//! The yardstick for `analyze --kafka`: a bare librdkafka consumer (same client settings, no
//! parsing, no engine) reading every partition of a topic to its end, reporting messages per
//! second. `bench/kafka.sh` runs it beside `iotstream analyze --kafka --once` on the same topic.
//!
//!     cargo run --release --example bare_consumer -- BROKERS TOPIC
//!
//! With `--live COUNT` it starts at the end of every partition instead and stops after COUNT
//! messages: the yardstick for a live topic (`bench/live.sh --kafka`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(brokers), Some(topic)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: bare_consumer BROKERS TOPIC [--live COUNT]");
    };
    let live: Option<u64> = match (args.next().as_deref(), args.next()) {
        (Some("--live"), Some(count)) => Some(count.parse()?),
        _ => None,
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "bare-consumer")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .set("queued.min.messages", "100000")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(30))?;
    let partitions: BTreeSet<i32> =
        metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(&topic, p, if live.is_some() { Offset::End } else { Offset::Beginning })?;
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut done = BTreeSet::new();
    let finished = |messages: u64, done: &BTreeSet<i32>| match live {
        Some(count) => messages >= count,
        None => done.len() >= partitions.len(),
    };
    while !finished(messages, &done) {
        match consumer.poll(Duration::from_secs(if live.is_some() { 60 } else { 10 })) {
            Some(Ok(message)) => {
                messages += 1;
                bytes += message.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                done.insert(p);
            }
            Some(Err(e)) => eprintln!("bare_consumer: {e}"),
            None => anyhow::bail!("no message for a long time"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "bare_consumer messages={messages} bytes={bytes} seconds={seconds:.2} rate={:.0}/s",
        messages as f64 / seconds
    );
    Ok(())
}
