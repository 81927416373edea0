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
//! from it ([`follower`], with `iotstream_engine::merge::Merger`); the instance elected in the
//! group's **control log** (topic `GROUP.control`, one partition: leases and claims of the
//! merger's term, decided in log order by every instance alike, see `control` and `ledger`)
//! writes them to its sinks and marks in the log how far it has written, so that another instance
//! taking over writes exactly the rest ([`log`]).
//!
//! Here: the flag checks and this instance's membership; `group`: the group's topics; `source`:
//! the decorated Kafka consumer; `hook`: the driver's part; `events`: what their threads tell it.

// The log-decided group (membership, ownership and the merger's election from a control log
// that every instance reads in one order). The merger's election runs on it; input partitions
// still come from the consumer group, so the parts for ownership, snapshots and epochs are used
// by their tests only so far.
#[allow(dead_code)]
mod balance;
#[allow(dead_code)]
mod control;
#[allow(dead_code, unused_imports)]
mod ledger;
#[allow(dead_code)]
mod merging;
#[allow(dead_code)]
mod records;

mod error;
mod events;
pub mod follower;
mod group;
mod hook;
pub mod log;
pub mod source;
pub mod state;

use iotstream_engine::EventTimeConfig;

pub use error::Error;
pub use group::Group;

use crate::cli::{AnalyzeArgs, TimeMode};

/// Whether `--scale-out` is asked for, after checking that it goes with event time and without
/// what it replaces or cannot do yet.
pub fn requested(args: &AnalyzeArgs) -> Result<bool, String> {
    if !args.source.kafka.scale_out {
        return Ok(false);
    }
    let conflicts = [
        ("--time event", args.windows.time() != TimeMode::Event),
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
    if !args.queries.queries.is_empty() {
        return Err("--query does not work with --scale-out yet: a group computes the seed's analyses".into());
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
    ) -> Result<crate::channel::Source, Error> {
        source::open(&source.kafka, options, &self.group, &self.news)
    }
}

/// A member of a group and its driver's hook.
pub type Joined = (Member, Box<dyn crate::pipeline::DriverHook>);

/// Opens the group's side of a run (`role`, with a Kafka input): finds the input's partitions,
/// creates the group's topics, and makes the driver's hook, which writes to the merge log.
pub fn open(
    role: Option<&Role>,
    kafka: Option<&crate::connectors::KafkaInput>,
) -> Result<Option<Joined>, Error> {
    let (Some(role), Some((connection, topic))) = (role, kafka) else { return Ok(None) };
    let group = Group::prepare(connection, topic, &role.group, role.windows)?;
    let log = log::ShareLog::new(connection, &group.merge_topic, &group.state_topic, &group.instance)?;
    let (news, queue) = std::sync::mpsc::channel();
    let hook = hook::Hook::new(Box::new(log), queue);
    Ok(Some((Member { group, news }, Box::new(hook))))
}
