//! The yardstick for `analyze --kafka`: a bare librdkafka consumer (same client settings, no
//! parsing, no engine) reading every partition of a topic to its end, reporting messages per
//! second. `bench/kafka.sh` runs it beside `iotstream analyze --kafka --once` on the same topic.
//!
//!     cargo run --release --example bare_consumer -- BROKERS TOPIC

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
        anyhow::bail!("usage: bare_consumer BROKERS TOPIC");
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
        tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut done = BTreeSet::new();
    while done.len() < partitions.len() {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                messages += 1;
                bytes += message.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                done.insert(p);
            }
            Some(Err(e)) => eprintln!("bare_consumer: {e}"),
            None => anyhow::bail!("no message for 10 s"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "bare_consumer messages={messages} bytes={bytes} seconds={seconds:.2} rate={:.0}/s",
        messages as f64 / seconds
    );
    Ok(())
}
