//! A group's topics, named after it, and what this instance finds of them before it starts.

use std::time::Duration;

use iotstream_engine::EventTimeConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use super::error::Error;
use super::follower;
use crate::connectors::kafka::{self, Connection};

/// The group's merge log: shares, partition clocks and publication marks, in one order.
pub fn merge_topic(group: &str) -> String {
    format!("{group}.merge")
}

/// Where owners save each partition's state, one partition per input partition.
pub fn state_topic(group: &str) -> String {
    format!("{group}.state")
}

/// The prefix of the group's readers' client ids (they join no consumer group).
pub fn merger_group(group: &str) -> String {
    format!("{group}.merge")
}

/// The group's control log (one partition): leases and the merger's terms, in one order.
pub fn control_topic(group: &str) -> String {
    format!("{group}.control")
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

/// A scale-out group's topics and settings, as this instance finds them before it starts.
#[derive(Clone, Debug)]
pub struct Group {
    /// Partitions of the input topic.
    pub partitions: u32,
    /// The merge log.
    pub merge_topic: String,
    /// The partition states.
    pub state_topic: String,
    /// The prefix of the readers' group ids.
    pub merger_group: String,
    /// The control log.
    pub control_topic: String,
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
    ) -> Result<Group, Error> {
        let partitions = partitions_of(connection, topic)?;
        let group_plan = Group {
            partitions,
            merge_topic: merge_topic(group),
            state_topic: state_topic(group),
            merger_group: merger_group(group),
            control_topic: control_topic(group),
            instance: instance_name(),
            windows,
        };
        connection.ensure_topic(&group_plan.merge_topic, 1)?;
        connection.ensure_topic(&group_plan.control_topic, 1)?;
        let count = i32::try_from(partitions).map_err(|_| Error::TooManyPartitions(topic.to_owned()))?;
        connection.ensure_topic(&group_plan.state_topic, count)?;
        tracing::info!(partitions, merge_log = %group_plan.merge_topic, instance = %group_plan.instance, "scale-out");
        Ok(group_plan)
    }

    /// The topics of an existing group, creating nothing (`iotstream group`).
    pub fn describe(
        connection: &Connection,
        topic: &str,
        group: &str,
        windows: EventTimeConfig,
    ) -> Result<Group, Error> {
        Ok(Group {
            partitions: partitions_of(connection, topic)?,
            merge_topic: merge_topic(group),
            state_topic: state_topic(group),
            merger_group: merger_group(group),
            control_topic: control_topic(group),
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
            control_topic: self.control_topic.clone(),
            partitions: self.partitions,
            windows: self.windows,
            instance: self.instance.clone(),
        }
    }
}

/// How many partitions `topic` has.
fn partitions_of(connection: &Connection, topic: &str) -> Result<u32, Error> {
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
        .ok_or_else(|| kafka::Error::NoSuchTopic(topic.to_owned()))?;
    u32::try_from(count).map_err(|_| Error::TooManyPartitions(topic.to_owned()))
}
