//! Reading the merge log: every instance follows it from the start and computes the same global
//! windows; the one the group's control log elects (`control::elect`: the first claim of a term in
//! log order, a new term when the merger's leases stop for 6 s or it leaves) writes them out.
//!
//! The merger is a function of the log, so followers and the merger agree on every result and
//! revision. What the merger has written is marked in the log (`Published`): each follower keeps
//! the results produced after the last mark, and an instance that becomes the merger reads the log
//! to its end, then writes exactly those. A merger that dies between writing and marking has its
//! last results written again, identical (at least once, keyed for compaction on the results
//! topic).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iotstream_engine::merge::{MergeRecord, Merger};
use iotstream_engine::{EventTime, EventTimeConfig, ScaleOutStatus, WindowResult};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::control;
use super::error::Error;
use super::events::{Event, MergeUpdate, Queue};
use super::log::{decode, Entry};
use super::merging::{partition_status, Reporter};
use crate::channel::Command;
use crate::connectors::kafka::{Connection, Context};

/// How long one poll of the log waits.
const POLL: Duration = Duration::from_millis(100);
/// How often the status goes to the pipeline when nothing else does.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How long a newly elected merger waits to read the log to its end before writing anyway.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);
/// A partition not reported for this long (three session timeouts) has lost its owner.
const ORPHANED: Duration = Duration::from_secs(18);

/// What the follower needs to know.
#[derive(Debug)]
pub struct FollowerConfig {
    /// Brokers and client options.
    pub connection: Connection,
    /// The merge log.
    pub topic: String,
    /// The prefix of the readers' group ids.
    pub merger_group: String,
    /// The control log, where the merger is elected.
    pub control_topic: String,
    /// Partitions of the input topic.
    pub partitions: u32,
    /// How windows are cut.
    pub windows: EventTimeConfig,
    /// This instance's name.
    pub instance: String,
}

/// Starts following the log on a thread of its own, queueing what it finds on `queue`.
pub fn spawn(
    config: FollowerConfig,
    queue: Queue,
    control: std::sync::mpsc::Sender<Command>,
) -> Result<JoinHandle<()>, Error> {
    let data = open_reader(&config)?;
    let leading = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    // No handle to join: on a clean stop it writes its last lease and ends by itself.
    drop(control::elect(
        &config.connection,
        &config.control_topic,
        &config.instance,
        Arc::clone(&leading),
        Arc::clone(&stopping),
    )?);
    let follower = Follower {
        merger: Merger::new(config.windows, config.partitions),
        partitions: config.partitions,
        instance: config.instance,
        data,
        stopping,
        leading,
        queue,
        next_offset: 0,
        caught_up: false,
        pending: Vec::new(),
        live: Vec::new(),
        owners: BTreeMap::new(),
        status_at: Instant::now(),
        control,
        started: Instant::now(),
        rejoined: None,
        elected: None,
    };
    std::thread::Builder::new().name("merge-log".into()).spawn(move || follower.run()).map_err(Error::Start)
}

/// A reader of the merge log from its start.
fn open_reader(config: &FollowerConfig) -> Result<BaseConsumer<Context>, Error> {
    let data: BaseConsumer<Context> = config
        .connection
        // Assigned, never subscribed: this reader joins no group, whatever its id.
        .config(&[
            ("group.id", &format!("{}.reader", config.merger_group)),
            ("enable.partition.eof", "true"),
            ("enable.auto.commit", "false"),
        ])
        .create_with_context(Context::default())
        .map_err(|e| config.connection.error("cannot create the merge log reader", &e))?;
    let mut assignment = TopicPartitionList::new();
    let unreadable = |e| Error::client("cannot read the merge log", e);
    assignment.add_partition_offset(&config.topic, 0, Offset::Beginning).map_err(unreadable)?;
    data.assign(&assignment).map_err(unreadable)?;
    Ok(data)
}

/// Who last reported a partition, and its lag.
#[derive(Clone, Debug, Default)]
struct Owner {
    instance: String,
    lag: Option<i64>,
    reported_at: i64,
}

struct Follower {
    merger: Merger,
    partitions: u32,
    instance: String,
    data: BaseConsumer<Context>,
    /// Tells the election's thread that this instance stops.
    stopping: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
    queue: Queue,
    /// The next log offset to read.
    next_offset: i64,
    /// Read to the log's end (as of the last end-of-partition event).
    caught_up: bool,
    /// Results produced after the last publication mark, with the offset that produced them.
    pending: Vec<(i64, WindowResult)>,
    /// Results not yet shown on this instance's live views, with the offset that produced them.
    live: Vec<(i64, WindowResult)>,
    owners: BTreeMap<u32, Owner>,
    status_at: Instant,
    /// The consumer's controls, to have the group rebalance when a partition is orphaned.
    control: std::sync::mpsc::Sender<Command>,
    started: Instant,
    /// When this instance last asked the group to rebalance.
    rejoined: Option<Instant>,
    /// While this instance is the merger: since when, and whether it may write yet.
    elected: Option<(Instant, bool)>,
}

impl Follower {
    fn run(mut self) {
        self.follow();
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn follow(&mut self) {
        while !self.queue.ring.is_closed() {
            match self.data.poll(POLL) {
                Some(Ok(message)) => {
                    let offset = message.offset();
                    match message.payload().and_then(decode) {
                        Some(entry) => self.on_entry(offset, entry),
                        None => tracing::warn!(offset, "unreadable merge log entry skipped"),
                    }
                    self.next_offset = offset + 1;
                    self.caught_up = false;
                }
                Some(Err(KafkaError::PartitionEOF(_))) => self.caught_up = true,
                Some(Err(error)) => self.data.context().logging.report(&error, "merge log"),
                None => {}
            }
            if !self.hand_over() {
                return;
            }
        }
    }

    fn on_entry(&mut self, offset: i64, entry: Entry) {
        match &entry.record {
            MergeRecord::Progress(progress) => {
                let owner =
                    Owner { instance: entry.instance.clone(), lag: entry.lag, reported_at: progress.at };
                self.owners.insert(progress.partition, owner);
            }
            MergeRecord::Published { through } => {
                self.pending.retain(|(produced_at, _)| produced_at > through);
            }
            MergeRecord::Share { .. }
            | MergeRecord::Provisional { .. }
            | MergeRecord::Early { .. }
            | MergeRecord::Tick { .. } => {}
        }
        let all: Vec<i32> = (0..self.partitions).filter_map(|p| i32::try_from(p).ok()).collect();
        for mut result in self.merger.on_record(&entry.record) {
            result.partitions = Some(all.clone());
            self.live.push((offset, result.clone()));
            self.pending.push((offset, result));
        }
    }

    /// True when this instance merges and may write: once it has read the log to its end after
    /// being elected (the marks of what its predecessor wrote are in by then), or waited
    /// [`TAKEOVER_WAIT`] for that end, which a busy log never shows (every fetch brings a record);
    /// writing before the last mark is read repeats results, identical, never loses one.
    fn may_write(&mut self) -> bool {
        if !self.leading.load(Ordering::SeqCst) {
            self.elected = None;
            return false;
        }
        let elected = *self.elected.get_or_insert_with(|| (Instant::now(), false));
        let ready = elected.1 || self.caught_up || elected.0.elapsed() >= TAKEOVER_WAIT;
        self.elected = Some((elected.0, ready));
        ready
    }

    /// Sends the pipeline what is new: results for the live views, and, when this instance
    /// merges (see [`Follower::may_write`]), the results to write. False once the pipeline is gone.
    fn hand_over(&mut self) -> bool {
        let merging = self.leading.load(Ordering::SeqCst);
        let writing = self.may_write();
        let publish = if writing { std::mem::take(&mut self.pending) } else { Vec::new() };
        let mut live = std::mem::take(&mut self.live);
        if merging {
            // The merger's views see the results it writes when they are written, not twice: those
            // still pending wait for that, in `live`; the ones a predecessor wrote (marked in the
            // log, no longer pending) are shown now.
            let (held, shown): (Vec<_>, Vec<_>) =
                live.into_iter().partition(|item| contains(&self.pending, item));
            self.live = held;
            live = shown.into_iter().filter(|item| !contains(&publish, item)).collect();
        }
        let live: Vec<WindowResult> = live.into_iter().map(|(_, result)| result).collect();
        let publish: Vec<WindowResult> = publish.into_iter().map(|(_, result)| result).collect();
        if publish.is_empty() && live.is_empty() && self.status_at.elapsed() < STATUS_EVERY {
            return true;
        }
        self.status_at = Instant::now();
        self.watch_owners();
        let through = (!publish.is_empty()).then_some(self.next_offset - 1);
        let update = MergeUpdate { live, publish, through, status: self.status(merging) };
        self.queue.send(Event::Merged(Box::new(update)))
    }

    /// A partition whose owner has not reported for a while, when others have, has lost its
    /// owner without the group noticing (a member killed, and a broker that evicts it without
    /// telling the others to rebalance): rejoining the group makes it hand the partitions out
    /// again. Judged on the owners' reported times, relative to the newest.
    fn watch_owners(&mut self) {
        let newest = self.owners.values().map(|o| o.reported_at).max().unwrap_or(i64::MIN);
        let orphaned: Vec<u32> = (0..self.partitions)
            .filter(|p| {
                self.owners
                    .get(p)
                    .is_none_or(|o| newest.saturating_sub(o.reported_at) > ORPHANED.as_micros() as i64)
            })
            .collect();
        let settled =
            self.started.elapsed() > ORPHANED && self.rejoined.is_none_or(|at| at.elapsed() > ORPHANED);
        if orphaned.is_empty() || !settled || newest == i64::MIN {
            return;
        }
        tracing::warn!(
            ?orphaned,
            "partitions without an owner for {ORPHANED:?}; rejoining the group to have them reassigned"
        );
        self.rejoined = Some(Instant::now());
        let _ = self.control.send(Command::Rejoin);
    }

    fn status(&self, merging: bool) -> ScaleOutStatus {
        status_of(
            &self.merger,
            &self.owners,
            self.partitions,
            self.instance.clone(),
            merging,
            self.next_offset,
        )
    }
}

/// True when `items` holds `item`: the same log offset, window and revision.
fn contains(items: &[(i64, WindowResult)], item: &(i64, WindowResult)) -> bool {
    let key = |(offset, r): &(i64, WindowResult)| (*offset, r.window_start, r.revision);
    items.iter().any(|other| key(other) == key(item))
}

/// A group as its merge log tells it (`iotstream group`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct GroupView {
    /// Partitions, owners, watermarks; `instance` and `merging` are meaningless here.
    #[serde(flatten)]
    pub status: ScaleOutStatus,
    /// The instance that last marked results as written, and up to which log offset.
    pub merger: Option<(String, i64)>,
    /// Results the log has produced past that mark (written by the next merger).
    pub unpublished: usize,
}

impl GroupView {
    /// A table for people.
    pub fn to_text(&self, group: &str, topic: &str) -> String {
        let s = &self.status;
        let time = |t: Option<EventTime>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
        let mut text = format!(
            "group {group}: topic {topic}, {} partitions; merge log read to offset {}\n",
            s.partitions.len(),
            s.log_offset
        );
        match &self.merger {
            Some((who, through)) => {
                text += &format!("merger: {who} (results written through offset {through})\n")
            }
            None => text += "merger: none has written results yet\n",
        }
        text += &format!(
            "global watermark: {}, {} windows held, {} results not yet written\n",
            time(s.watermark),
            s.open_windows,
            self.unpublished
        );
        text += &format!(
            "{:<9} {:<24} {:<28} {:>8} {:<5} {}\n",
            "partition", "owner", "watermark", "lag", "idle", "reported"
        );
        for p in &s.partitions {
            let lag = p.lag.map_or_else(|| "-".to_owned(), |l| l.to_string());
            let idle = if p.caught_up { "yes" } else { "no" };
            text += &format!(
                "{:<9} {:<24} {:<28} {:>8} {:<5} {}\n",
                p.partition,
                if p.owner.is_empty() { "-" } else { &p.owner },
                time(p.watermark),
                lag,
                idle,
                time((p.reported_at.as_micros() != 0).then_some(p.reported_at))
            );
        }
        text
    }
}

/// Reads the merge log once, to its end, as a follower would (no election, nothing sent).
pub fn read_to_end(config: FollowerConfig) -> Result<GroupView, Error> {
    let data = open_reader(&config)?;
    let mut merger = Merger::new(config.windows, config.partitions);
    let mut owners = BTreeMap::new();
    let mut merger_mark = None;
    let mut unpublished = 0usize;
    let mut next_offset = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Instant::now() >= deadline {
            let topic = config.topic.clone();
            return Err(Error::Silent { what: "merge log", topic, answer: "end", seconds: 60 });
        }
        match data.poll(POLL) {
            Some(Ok(message)) => {
                next_offset = message.offset() + 1;
                let Some(entry) = message.payload().and_then(decode) else { continue };
                match &entry.record {
                    MergeRecord::Progress(progress) => {
                        let owner = Owner {
                            instance: entry.instance.clone(),
                            lag: entry.lag,
                            reported_at: progress.at,
                        };
                        owners.insert(progress.partition, owner);
                    }
                    MergeRecord::Published { through } => {
                        merger_mark = Some((entry.instance.clone(), *through));
                        unpublished = 0;
                    }
                    MergeRecord::Share { .. }
                    | MergeRecord::Provisional { .. }
                    | MergeRecord::Early { .. }
                    | MergeRecord::Tick { .. } => {}
                }
                unpublished += merger.on_record(&entry.record).len();
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(error)) => data.context().logging.report(&error, "merge log"),
            None => {}
        }
    }
    let status = status_of(&merger, &owners, config.partitions, String::new(), false, next_offset);
    Ok(GroupView { status, merger: merger_mark, unpublished })
}

/// The group as `merger` and the owners' reports show it.
fn status_of(
    merger: &Merger,
    owners: &BTreeMap<u32, Owner>,
    partitions: u32,
    instance: String,
    merging: bool,
    log_offset: i64,
) -> ScaleOutStatus {
    let clocks = merger.partitions();
    let partitions = (0..partitions)
        .map(|partition| {
            let owner = owners.get(&partition).cloned().unwrap_or_default();
            let reporter = Reporter { instance: owner.instance, lag: owner.lag, at: owner.reported_at };
            partition_status(partition, clocks.get(&partition), merger.max_delay(), reporter)
        })
        .collect();
    ScaleOutStatus {
        instance,
        merging,
        watermark: merger.watermark(),
        open_windows: merger.open_windows() as u64,
        log_offset,
        partitions,
    }
}
