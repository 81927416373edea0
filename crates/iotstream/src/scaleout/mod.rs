//! Scale-out (`analyze --kafka … --time event --scale-out`): N instances in one consumer group,
//! one exact answer.
//!
//! Kafka's consumer group splits the input partitions among the instances. Each instance keeps
//! the windows of the partitions it owns (one operator per partition, see
//! `iotstream_engine::operator::PartitionWindows`) and publishes, to the group's **merge log**
//! (topic `GROUP.merge`, one partition), each completed window's exact share and each partition's
//! clock. It saves each owned partition's state to the **state topic** (`GROUP.state`, one
//! partition per input partition) every checkpoint interval and whenever it gives a partition up,
//! so that whoever owns the partition next goes on from there, on whatever machine
//! ([`state`]). Every instance reads the whole merge log and computes the same global windows
//! from it ([`follower`], with `iotstream_engine::merge::Merger`); the instance that owns the merge
//! log's partition in a second consumer group (`GROUP.merge`) writes them to its sinks and
//! marks in the log how far it has written, so that another instance taking over writes exactly
//! the rest ([`log`]).

mod events;
pub mod follower;
mod hook;
pub mod log;
pub mod source;
pub mod state;

/// The group's merge log: shares, partition clocks and publication marks, in one order.
pub fn merge_topic(group: &str) -> String {
    format!("{group}.merge")
}

/// Where owners save each partition's state, one partition per input partition.
pub fn state_topic(group: &str) -> String {
    format!("{group}.state")
}

/// The consumer group whose single member owning the merge log writes the global results.
pub fn merger_group(group: &str) -> String {
    format!("{group}.merge")
}

/// This instance's name in the merge log and on the dashboard: host and process id.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

use std::time::Duration;

use anyhow::Context as _;
use iotstream_engine::EventTimeConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::cli::{AnalyzeArgs, TimeMode};
use crate::connectors::kafka::Connection;

/// Whether `--scale-out` is asked for, after checking that it goes with event time and without
/// what it replaces or cannot do yet.
pub fn requested(args: &AnalyzeArgs) -> Result<bool, String> {
    if !args.source.kafka.scale_out {
        return Ok(false);
    }
    let conflicts = [
        ("--time event", args.windows.time != TimeMode::Event),
        ("no --emit-every", args.windows.emit_every.is_some()),
        (
            "no --state-dir (partition states live in the group's topics)",
            args.checkpoints.state_dir.is_some(),
        ),
        ("no --once", args.source.once),
    ];
    let wrong: Vec<&str> = conflicts.iter().filter(|(_, bad)| *bad).map(|(what, _)| *what).collect();
    if !wrong.is_empty() {
        return Err(format!("--scale-out needs {}", wrong.join(", ")));
    }
    if args.alerts.rules.is_some() {
        return Err("--rules does not work with --scale-out yet".into());
    }
    Ok(true)
}

/// This instance's part in a group, as the run plan decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The consumer group (its topics are named after it).
    pub group: String,
    /// Window shape and watermark rules, the same on every instance.
    pub windows: EventTimeConfig,
}

/// This instance in its group: how its source is opened; its driver's hook is the other half.
pub struct Member {
    group: Group,
    /// Where the source's threads queue news for the hook.
    news: std::sync::mpsc::Sender<events::Event>,
}

impl Member {
    /// The Kafka source `source` names, as one instance of the group (see `source`).
    pub fn open_source(
        &self,
        source: &crate::connectors::SourceArgs,
        options: &crate::connectors::SourceOptions,
    ) -> anyhow::Result<crate::channel::Source> {
        source::open(&source.kafka, options, &self.group, &self.news)
    }
}

/// Opens the group's side of a run (`role`, with a Kafka input): finds the input's partitions,
/// creates the group's topics, and makes the driver's hook, which writes to the merge log.
pub fn open(
    role: Option<&Role>,
    kafka: Option<&crate::connectors::KafkaInput>,
) -> anyhow::Result<Option<(Member, Box<dyn crate::pipeline::DriverHook>)>> {
    let (Some(role), Some((connection, topic))) = (role, kafka) else { return Ok(None) };
    let group = Group::prepare(connection, topic, &role.group, role.windows)?;
    let log = log::ShareLog::new(connection, &group.merge_topic, &group.state_topic, &group.instance)?;
    let (news, queue) = std::sync::mpsc::channel();
    let hook = hook::Hook::new(Box::new(log), queue);
    Ok(Some((Member { group, news }, Box::new(hook))))
}

/// A scale-out group's topics and settings, as this instance finds them before it starts.
#[derive(Clone, Debug)]
pub struct Group {
    /// Partitions of the input topic.
    pub partitions: u32,
    /// The merge log.
    pub merge_topic: String,
    /// The partition states.
    pub state_topic: String,
    /// The merger election's consumer group.
    pub merger_group: String,
    /// This instance's name.
    pub instance: String,
    /// How windows are cut.
    pub windows: EventTimeConfig,
}

impl Group {
    /// Finds the input topic's partitions and creates the group's topics if they do not exist.
    pub fn prepare(
        connection: &Connection,
        topic: &str,
        group: &str,
        windows: EventTimeConfig,
    ) -> anyhow::Result<Group> {
        let partitions = partitions_of(connection, topic)?;
        let group_plan = Group {
            partitions,
            merge_topic: merge_topic(group),
            state_topic: state_topic(group),
            merger_group: merger_group(group),
            instance: instance_name(),
            windows,
        };
        connection.ensure_topic(&group_plan.merge_topic, 1)?;
        connection.ensure_topic(&group_plan.state_topic, i32::try_from(partitions)?)?;
        tracing::info!(partitions, merge_log = %group_plan.merge_topic, instance = %group_plan.instance, "scale-out");
        Ok(group_plan)
    }

    /// The topics of an existing group, creating nothing (`iotstream group`).
    pub fn describe(
        connection: &Connection,
        topic: &str,
        group: &str,
        windows: EventTimeConfig,
    ) -> anyhow::Result<Group> {
        Ok(Group {
            partitions: partitions_of(connection, topic)?,
            merge_topic: merge_topic(group),
            state_topic: state_topic(group),
            merger_group: merger_group(group),
            instance: instance_name(),
            windows,
        })
    }

    /// The merge log reader's settings.
    pub fn follower(&self, connection: &Connection) -> follower::FollowerConfig {
        follower::FollowerConfig {
            connection: connection.clone(),
            topic: self.merge_topic.clone(),
            merger_group: self.merger_group.clone(),
            partitions: self.partitions,
            windows: self.windows,
            instance: self.instance.clone(),
        }
    }
}

/// How many partitions `topic` has.
fn partitions_of(connection: &Connection, topic: &str) -> anyhow::Result<u32> {
    let consumer: BaseConsumer =
        connection.config(&[]).create().map_err(|e| connection.error("cannot create a Kafka client", &e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| connection.error("cannot read topic metadata", &e))?;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|&n| n > 0)
        .with_context(|| format!("topic {topic} does not exist (or has no partitions)"))?;
    Ok(u32::try_from(count)?)
}
