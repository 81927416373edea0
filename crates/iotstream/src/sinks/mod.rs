//! Where results go: the traits every output implements ([`ResultSink`], [`RejectSink`],
//! [`Durable`]) and [`Outputs`], what a run writes to. The outputs themselves live with their
//! connectors (`crate::connectors`: files and stdout, Kafka, MQTT), the store (`crate::store`) and
//! the dashboard (`crate::dashboard`).
//!
//! Sinks are called from the pipeline's single loop in emission order. A sink returns only once the
//! result is handed to the OS (or the broker), because offsets are committed after sinks return.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use iotstream_engine::{RejectReason, StatsRecord, WindowResult};

use crate::channel::SensorQuery;

/// Where results and rejected messages go.
#[derive(Default)]
pub struct Outputs {
    /// Every result goes to each of these.
    pub sinks: Vec<Box<dyn ResultSink>>,
    /// Rejected messages of partitioned sources, if configured.
    pub dead_letters: Option<Box<dyn RejectSink>>,
    /// Bytes written to the result file, when results go to a file (checkpoints record it).
    pub written: Option<Arc<AtomicU64>>,
    /// Makes the result file durable, when results go to a file (before a checkpoint records its
    /// length).
    pub durable: Option<Box<dyn Durable>>,
    /// Lookups of sensors' last readings, if something (the dashboard) asks.
    pub sensor_queries: Option<tokio::sync::mpsc::Receiver<SensorQuery>>,
    /// Scale-out: the group's merge log, where this instance's shares go.
    pub shares: Option<Box<dyn ShareSink>>,
    /// Alert rules and their outputs (`--rules`).
    pub alerts: Option<crate::alerts::Alerting>,
}

/// A destination for results.
pub trait ResultSink: Send {
    /// Writes one result and flushes it.
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()>;

    /// Writes the results of one emission (several when input completes several windows at once),
    /// in order, returning once all are written; sinks that can write them together (a database
    /// transaction) do.
    fn write_results(&mut self, results: &[WindowResult]) -> io::Result<()> {
        results.iter().try_for_each(|result| self.write_result(result))
    }

    /// Writes a stats record (totals and live views); sinks without a place for them skip it.
    fn write_stats(&mut self, _stats: &StatsRecord) -> io::Result<()> {
        Ok(())
    }

    /// Takes the live status (a stats record every second while a dashboard is served); only live
    /// views keep it, files and topics do not.
    fn write_status(&mut self, _status: &StatsRecord) -> io::Result<()> {
        Ok(())
    }

    /// True for views of what happens now (the dashboard), which show global results on every
    /// instance of a scale-out group; false for outputs, which only the merging instance writes.
    fn is_live_view(&self) -> bool {
        false
    }
}

/// Scale-out: where an owner's shares, partition clocks and saved partition states go (the
/// group's merge log and state topic).
pub trait ShareSink: Send {
    /// Queues a partition's share of a completed window.
    fn share(&mut self, partition: u32, share: &iotstream_engine::WindowShare);
    /// Queues what an idle partition's open window holds.
    fn provisional(&mut self, partition: u32, share: &iotstream_engine::WindowShare);
    /// Queues the owned partitions' clocks (and their consumer lag) as of `at`.
    fn progress(
        &mut self,
        clocks: &[(u32, iotstream_engine::watermark::PartitionClock)],
        lag: &std::collections::BTreeMap<i32, i64>,
        at: i64,
    );
    /// Queues the mark that the global results up to log offset `through` are written.
    fn published(&mut self, through: i64);
    /// Saves a partition's state, covering its input before `next`, once every share queued
    /// before it is durable; returns once the state is.
    fn save_state(
        &mut self,
        partition: u32,
        next: i64,
        windows: &iotstream_engine::EventTimeWindows,
    ) -> anyhow::Result<()>;
    /// Returns once everything queued is durable.
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// A destination for rejected messages (a dead-letter topic).
pub trait RejectSink: Send {
    /// Queues one rejected message from `partition` at `offset`.
    fn reject(&mut self, payload: &[u8], reason: RejectReason, partition: i32, offset: i64);
    /// Returns once everything queued is durable (before the offsets are committed).
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// What makes written results durable: the result file's `fsync`.
pub trait Durable: Send {
    /// Returns once everything written so far survives an OS crash or a power cut.
    fn sync(&mut self) -> io::Result<()>;
}
