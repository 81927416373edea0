//! The driver's promises, without threads or ports: sinks, dead letters and acknowledgements are
//! recorded in one journal, in the order they happen.

use std::io;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use iotstream_engine::{EventTime, EventTimeConfig, OperatorConfig, RejectReason, WindowSpec};

use super::*;
use crate::channel::{
    Command, Control, MessageBatch, Positions, Revoke, SourceError, SourceEvent, Telemetry,
};
use crate::checkpoint::CheckpointStore;
use crate::clock::wall_clock_now;
use crate::sinks::{Emission, RejectSink, ResultSink, SinkError};

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND; // 2016-11-16T13:26:30Z

/// What the driver did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// A result: messages, rejected, final, partitions.
    Result {
        messages: u64,
        rejected: u64,
        is_final: bool,
        partitions: Option<Vec<i32>>,
    },
    Stats {
        readings: u64,
        consumer_lag: Option<u64>,
    },
    DeadLetter {
        partition: i32,
        offset: i64,
        reason: RejectReason,
    },
    DeadLettersFlushed,
    /// The result file was synced.
    Synced,
    Commit(Positions),
    /// A checkpoint holding everything before these positions was saved.
    Checkpointed(Positions),
    Shutdown(Positions),
}

#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<Entry>>>);

impl Journal {
    fn push(&self, entry: Entry) {
        self.0.lock().unwrap().push(entry);
    }

    /// Everything recorded since the last call.
    fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct MemorySink {
    journal: Journal,
    fail: bool,
}

impl ResultSink for MemorySink {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        if self.fail {
            return Err(io::Error::other("disk full").into());
        }
        for result in emission.windows {
            self.journal.push(Entry::Result {
                messages: result.messages,
                rejected: result.rejected,
                is_final: result.is_final,
                partitions: result.partitions.clone(),
            });
        }
        Ok(())
    }

    fn write_stats(&mut self, stats: &iotstream_engine::StatsRecord) -> Result<(), SinkError> {
        self.journal.push(Entry::Stats { readings: stats.readings, consumer_lag: stats.consumer_lag });
        Ok(())
    }
}

/// Dead letters: each queued one is journaled, and a flush that made queued ones durable.
struct MemoryDeadLetters {
    journal: Journal,
    queued: usize,
}

impl RejectSink for MemoryDeadLetters {
    fn reject(
        &mut self,
        _payload: &[u8],
        reason: RejectReason,
        _: Option<&str>,
        partition: i32,
        offset: i64,
    ) {
        self.journal.push(Entry::DeadLetter { partition, offset, reason });
        self.queued += 1;
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if std::mem::take(&mut self.queued) > 0 {
            self.journal.push(Entry::DeadLettersFlushed);
        }
        Ok(())
    }
}

struct Recorder(Journal);

impl Acknowledge for Recorder {
    fn acknowledge(&mut self, command: Command) {
        self.0.push(match command {
            Command::Commit(positions) => Entry::Commit(positions),
            Command::Shutdown(positions) => Entry::Shutdown(positions),
            Command::Checkpointed(positions) => Entry::Checkpointed(positions),
            Command::Rejoin => panic!("the driver never asks to rejoin"),
        });
    }
}

/// The driver as the run loop drives it: each call at the wall clock's time.
trait Now {
    fn on_event_now(&mut self, event: Option<SourceEvent>) -> Result<Flow, RunError>;
    fn on_tick_now(&mut self, tick: Tick) -> Result<(), RunError>;
    fn finish_now(self, ended: bool) -> Result<RunSummary, RunError>;
}

impl Now for Driver {
    fn on_event_now(&mut self, event: Option<SourceEvent>) -> Result<Flow, RunError> {
        self.on_event(event, wall_clock_now())
    }

    fn on_tick_now(&mut self, tick: Tick) -> Result<(), RunError> {
        self.on_tick(tick, wall_clock_now())
    }

    fn finish_now(mut self, ended: bool) -> Result<RunSummary, RunError> {
        self.finish(ended, wall_clock_now())
    }
}

fn batches() -> Settings {
    Settings {
        analysis: Analysis::Seed { operator: OperatorConfig::Batches { period: 3 * SECOND } },
        once: false,
        max_line_bytes: 1024,
        stats_every: None,
        offline_after: Duration::from_secs(60),
        status_every: None,
        save_every: None,
    }
}

fn windows() -> Settings {
    let config = EventTimeConfig {
        window: WindowSpec::new(10 * SECOND, 10 * SECOND).unwrap(),
        max_delay: SECOND,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    };
    let operator = OperatorConfig::Windows { config, emit_every: None };
    Settings { analysis: Analysis::Seed { operator }, ..batches() }
}

/// A driver whose sink, dead letters and acknowledgements all go to one journal.
fn new_driver(options: Settings, journal: &Journal, checkpointing: Option<Checkpointing>) -> Driver {
    driver_with(options, journal, checkpointing, false, None)
}

fn driver_with(
    options: Settings,
    journal: &Journal,
    checkpointing: Option<Checkpointing>,
    failing_sink: bool,
    durable: Option<Box<dyn crate::sinks::Durable>>,
) -> Driver {
    let outputs = Outputs {
        sinks: vec![Box::new(MemorySink { journal: journal.clone(), fail: failing_sink })],
        dead_letters: Some(Box::new(MemoryDeadLetters { journal: journal.clone(), queued: 0 })),
        durable,
        ..Outputs::default()
    };
    let acks = Some(Box::new(Recorder(journal.clone())) as Box<dyn Acknowledge>);
    Driver::new(&options, outputs, Computing::default(), acks, checkpointing, None, wall_clock_now()).unwrap()
}

fn reading(t: i64) -> String {
    format!(
        r#"{{"guid":"g{t}","state":"TX","eventTime":"{}","payload":{{"data":{{"temperature":70.5}}}}}}"#,
        EventTime(t)
    )
}

/// Messages on `partition` from `first_offset` on.
fn messages(partition: i32, first_offset: i64, payloads: &[String]) -> Option<SourceEvent> {
    let mut batch = MessageBatch::default();
    for (offset, payload) in (first_offset..).zip(payloads) {
        batch.push(payload.as_bytes(), usize::MAX, partition, offset);
    }
    Some(SourceEvent::messages(batch))
}

fn result(messages: u64, rejected: u64, is_final: bool, partitions: &[i32]) -> Entry {
    Entry::Result { messages, rejected, is_final, partitions: Some(partitions.to_vec()) }
}

#[test]
fn a_result_is_written_before_the_positions_it_covers_are_acknowledged() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    let flow = driver.on_event_now(messages(0, 0, &[reading(BASE), reading(BASE), reading(BASE)])).unwrap();
    assert_eq!(flow, Flow::Continue);
    assert_eq!(journal.take(), vec![], "nothing is acknowledged before a result covers it");
    driver.on_tick_now(Tick::Operator).unwrap();
    assert_eq!(journal.take(), vec![result(3, 0, true, &[0]), Entry::Commit(vec![(0, 3)])]);
}

#[test]
fn dead_letters_are_durable_before_the_result_that_counts_them() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    driver.on_event_now(messages(1, 5, &["{nope".to_owned(), reading(BASE)])).unwrap();
    driver.on_tick_now(Tick::Operator).unwrap();
    let dead = Entry::DeadLetter { partition: 1, offset: 5, reason: RejectReason::MalformedJson };
    let expected =
        vec![dead, Entry::DeadLettersFlushed, result(1, 1, true, &[1]), Entry::Commit(vec![(1, 7)])];
    assert_eq!(journal.take(), expected);
}

#[test]
fn a_failing_sink_stops_acknowledgements() {
    let journal = Journal::default();
    let mut driver = driver_with(batches(), &journal, None, true, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    let error = driver.on_tick_now(Tick::Operator).unwrap_err();
    assert!(format!("{error:#}").contains("disk full"), "{error:#}");
    assert!(!journal.take().iter().any(|e| matches!(e, Entry::Commit(_))), "nothing acknowledged");
    assert!(driver.finish_now(true).is_err(), "the end cannot be written either");
    assert!(!journal.take().iter().any(|e| matches!(e, Entry::Shutdown(_))), "no final positions");
}

#[test]
fn a_revoke_emits_the_open_batch_and_releases_the_partitions() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE), reading(BASE)])).unwrap();
    driver.on_event_now(messages(1, 0, &[reading(BASE)])).unwrap();
    let (reply, released) = std_mpsc::sync_channel(1);
    driver
        .on_event_now(Some(SourceEvent::Control(Control::Revoke(Revoke { partitions: vec![0], reply }))))
        .unwrap();
    assert_eq!(released.try_recv().unwrap(), vec![(0, 2)]);
    assert_eq!(journal.take(), vec![result(3, 0, true, &[0, 1])]);
    driver.on_event_now(messages(1, 1, &[reading(BASE)])).unwrap();
    driver.on_tick_now(Tick::Operator).unwrap();
    assert_eq!(journal.take(), vec![result(1, 0, true, &[1]), Entry::Commit(vec![(1, 2)])], "0 is gone");
}

#[test]
fn event_time_acknowledges_only_input_in_emitted_windows() {
    let journal = Journal::default();
    let mut driver = new_driver(windows(), &journal, None);
    // Two readings in [BASE, BASE+10s), then one at +12 s: the watermark (12 s - 1 s) closes it.
    driver.on_event_now(messages(0, 0, &[reading(BASE + SECOND), reading(BASE + 2 * SECOND)])).unwrap();
    driver.on_tick_now(Tick::Operator).unwrap();
    assert_eq!(journal.take(), vec![Entry::Commit(vec![(0, 0)])], "the open window pins offset 0");
    driver.on_event_now(messages(0, 2, &[reading(BASE + 12 * SECOND)])).unwrap();
    assert_eq!(journal.take(), vec![result(2, 0, true, &[0])], "closed as soon as the input completes it");
    driver.on_tick_now(Tick::Operator).unwrap();
    assert_eq!(journal.take(), vec![Entry::Commit(vec![(0, 2)])], "offset 2 is in the next, open window");
    assert_eq!(driver.finish_now(true).unwrap().results, 2);
    assert_eq!(journal.take(), vec![result(1, 0, true, &[0]), Entry::Shutdown(vec![(0, 3)])]);
}

#[test]
fn a_stop_without_a_state_directory_emits_what_is_open() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    let summary = driver.finish_now(false).unwrap();
    assert_eq!(summary, RunSummary { readings: 1, rejected: 0, results: 1 });
    assert_eq!(journal.take(), vec![result(1, 0, true, &[0]), Entry::Shutdown(vec![(0, 1)])]);

    let mut driver = new_driver(windows(), &journal, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    driver.finish_now(false).unwrap();
    let partial = result(1, 0, false, &[0]);
    assert_eq!(
        journal.take(),
        vec![partial, Entry::Shutdown(vec![(0, 0)])],
        "partial, and nothing committed"
    );
}

fn checkpointing(dir: &std::path::Path) -> Checkpointing {
    let store = CheckpointStore::open(dir).unwrap();
    let resume = store.load().unwrap();
    Checkpointing {
        store: Box::new(store),
        interval: Duration::from_secs(5),
        input: "kafka:t".into(),
        resume,
        companions: Vec::new(),
    }
}

#[test]
fn a_stop_with_a_state_directory_saves_what_is_open_and_the_restart_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    let mut first = new_driver(batches(), &journal, Some(checkpointing(dir.path())));
    first.on_event_now(messages(0, 0, &[reading(BASE), reading(BASE)])).unwrap();
    first.finish_now(false).unwrap();
    // Nothing emitted early: the open batch is in the checkpoint, which the source is told.
    assert_eq!(journal.take(), vec![Entry::Checkpointed(vec![(0, 2)]), Entry::Shutdown(vec![(0, 2)])]);
    let saved = CheckpointStore::open(dir.path()).unwrap().load().unwrap().unwrap();
    assert_eq!((saved.readings, saved.positions.get(&0)), (2, Some(&2)));

    let mut second = new_driver(batches(), &journal, Some(checkpointing(dir.path())));
    second.on_event_now(messages(0, 2, &[reading(BASE)])).unwrap();
    let summary = second.finish_now(true).unwrap();
    assert_eq!(summary, RunSummary { readings: 3, rejected: 0, results: 1 });
    let expected =
        vec![result(3, 0, true, &[0]), Entry::Checkpointed(vec![(0, 3)]), Entry::Shutdown(vec![(0, 3)])];
    assert_eq!(journal.take(), expected);
}

/// A source whose messages cannot be read again once acknowledged (MQTT) asks for a checkpoint
/// when many wait: it is saved at once, open batch included, and the source is told.
#[test]
fn a_checkpoint_asked_for_is_saved_at_once_and_the_source_told() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, Some(checkpointing(dir.path())));
    driver.on_event_now(messages(0, 0, &[reading(BASE), reading(BASE)])).unwrap();
    driver.on_event_now(Some(SourceEvent::Control(Control::CheckpointWanted))).unwrap();
    assert_eq!(journal.take(), vec![Entry::Checkpointed(vec![(0, 2)]), Entry::Commit(vec![(0, 2)])]);
    drop(driver);
    let saved = CheckpointStore::open(dir.path()).unwrap().load().unwrap().unwrap();
    assert_eq!(saved.positions.get(&0), Some(&2));
}

#[test]
fn a_checkpoint_of_other_window_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    new_driver(batches(), &journal, Some(checkpointing(dir.path()))).finish_now(true).unwrap();
    let outputs = Outputs::default();
    let refused = Driver::new(
        &windows(),
        outputs,
        Computing::default(),
        None,
        Some(checkpointing(dir.path())),
        None,
        wall_clock_now(),
    );
    assert!(format!("{:#}", refused.err().unwrap()).contains("other window settings"));
}

#[test]
fn the_end_of_input_and_a_failed_source_end_the_run() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    assert_eq!(driver.on_event_now(Some(SourceEvent::end())).unwrap(), Flow::End);
    assert_eq!(driver.on_event_now(None).unwrap(), Flow::End);
    let gone = SourceError::Read(io::Error::other("broker gone"));
    let failed = driver.on_event_now(Some(SourceEvent::Control(Control::Failed(gone))));
    assert!(format!("{:#}", failed.unwrap_err()).contains("broker gone"));
}

#[test]
fn stats_carry_the_consumer_lag_the_source_reported() {
    let journal = Journal::default();
    let mut driver =
        new_driver(Settings { stats_every: Some(Duration::from_secs(1)), ..batches() }, &journal, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    driver.on_tick_now(Tick::Stats).unwrap();
    driver.on_event_now(Some(SourceEvent::Telemetry(Telemetry::Lag(vec![(0, 5), (1, 7)])))).unwrap();
    driver.on_event_now(Some(SourceEvent::Telemetry(Telemetry::Lag(vec![(1, 2)])))).unwrap();
    driver.on_tick_now(Tick::Stats).unwrap();
    let stats = journal.take();
    let expected = vec![
        Entry::Stats { readings: 1, consumer_lag: None },
        Entry::Stats { readings: 1, consumer_lag: Some(7) },
    ];
    assert_eq!(stats, expected);
}

#[test]
fn sensor_lookups_are_answered_from_the_last_readings() {
    let journal = Journal::default();
    let options = Settings { status_every: Some(Duration::from_secs(1)), ..batches() };
    let mut driver = new_driver(options, &journal, None);
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    let (reply, answer) = tokio::sync::oneshot::channel();
    driver.answer(crate::channel::SensorQuery { guid: format!("g{BASE}"), reply });
    let last = answer.blocking_recv().unwrap().expect("the sensor has reported");
    assert_eq!((last.temperature, last.event_time), (70.5, EventTime(BASE)));
    let (reply, answer) = tokio::sync::oneshot::channel();
    driver.answer(crate::channel::SensorQuery { guid: "nobody".into(), reply });
    assert_eq!(answer.blocking_recv().unwrap(), None);
}

/// The result file's sync, journaled (or failing, like a disk that has gone).
struct MemoryDurable {
    journal: Journal,
    fail: bool,
}

impl crate::sinks::Durable for MemoryDurable {
    fn sync(&mut self) -> io::Result<()> {
        if self.fail {
            return Err(io::Error::other("I/O error"));
        }
        self.journal.push(Entry::Synced);
        Ok(())
    }
}

#[test]
fn the_result_file_is_synced_before_a_checkpoint_records_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    let durable = MemoryDurable { journal: journal.clone(), fail: false };
    let mut driver =
        driver_with(batches(), &journal, Some(checkpointing(dir.path())), false, Some(Box::new(durable)));
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    driver.on_tick_now(Tick::Operator).unwrap();
    journal.take();
    driver.on_tick_now(Tick::Checkpoint).unwrap();
    assert_eq!(
        journal.take(),
        vec![Entry::Synced, Entry::Checkpointed(vec![(0, 1)]), Entry::Commit(vec![(0, 1)])]
    );

    // A sync that fails stops the checkpoint: had it been saved first, it would be there now.
    let dir = tempfile::tempdir().unwrap();
    let durable = MemoryDurable { journal: journal.clone(), fail: true };
    let mut driver =
        driver_with(batches(), &journal, Some(checkpointing(dir.path())), false, Some(Box::new(durable)));
    driver.on_event_now(messages(0, 0, &[reading(BASE)])).unwrap();
    driver.on_tick_now(Tick::Operator).unwrap();
    let error = driver.on_tick_now(Tick::Checkpoint).unwrap_err();
    assert!(format!("{error:#}").contains("cannot sync the result file"), "{error:#}");
    drop(driver);
    assert!(CheckpointStore::open(dir.path()).unwrap().load().unwrap().is_none(), "no checkpoint saved");
}

#[test]
fn a_torn_last_line_is_cut_back_and_the_replay_writes_it_whole() {
    use crate::connectors::file::output::{open_stream, Format, OutputArgs, Start};
    let dir = tempfile::tempdir().unwrap();
    let (path, state) = (dir.path().join("results.jsonl"), dir.path().join("state"));
    let args = OutputArgs { format: Format::Jsonl, output: Some(path.clone()) };
    let driver = |start: Start| {
        let outputs = open_stream(&args, start, &Default::default()).unwrap();
        let acks = Some(Box::new(Recorder(Journal::default())) as Box<dyn Acknowledge>);
        Driver::new(
            &windows(),
            outputs,
            Computing::default(),
            acks,
            Some(checkpointing(&state)),
            None,
            wall_clock_now(),
        )
        .unwrap()
    };
    // The window [0 s, 10 s) closes and is checkpointed; then [10 s, 20 s) is written, and the
    // process dies: the file is longer than the checkpoint says, and its last line is torn.
    let mut first = driver(Start::Afresh);
    first.on_event_now(messages(0, 0, &[reading(BASE + SECOND), reading(BASE + 2 * SECOND)])).unwrap();
    first.on_event_now(messages(0, 2, &[reading(BASE + 12 * SECOND)])).unwrap();
    first.on_tick_now(Tick::Checkpoint).unwrap();
    let replayed = [reading(BASE + 13 * SECOND), reading(BASE + 25 * SECOND)];
    first.on_event_now(messages(0, 3, &replayed)).unwrap();
    drop(first);
    let whole = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    assert_eq!(lines.len(), 2, "{whole}");
    let checkpointed = lines[0].len() + 1;
    let torn = checkpointed + lines[1].len() / 2;
    std::fs::File::options().write(true).open(&path).unwrap().set_len(torn as u64).unwrap();

    let resume_len = CheckpointStore::open(&state).unwrap().load().unwrap().unwrap().output_len;
    assert_eq!(resume_len, Some(checkpointed as u64));
    let mut second = driver(Start::Resume(resume_len));
    second.on_event_now(messages(0, 3, &replayed)).unwrap();
    drop(second);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole, "cut back, and the torn line rewritten whole");
}

#[test]
fn data_lost_to_retention_is_carried_in_stats_records() {
    let journal = Journal::default();
    let mut driver = new_driver(batches(), &journal, None);
    let json = |driver: &Driver| serde_json::to_value(driver.stats(wall_clock_now())).unwrap();
    assert!(json(&driver).get("data_lost").is_none(), "absent while nothing is lost");
    driver.on_event_now(Some(SourceEvent::Telemetry(Telemetry::DataLoss(vec![(1, 40), (3, 2)])))).unwrap();
    assert_eq!(driver.stats(wall_clock_now()).data_lost, 42);
    assert_eq!(json(&driver)["data_lost"], 42);
}

/// A sink that takes the first `takes` emissions, then gives way to a stop (as the store does when
/// a stop comes while the database is away).
struct GivesWay {
    journal: Journal,
    takes: usize,
}

impl ResultSink for GivesWay {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        if self.takes == 0 {
            return Err(SinkError::Stopped("the store"));
        }
        self.takes -= 1;
        MemorySink { journal: self.journal.clone(), fail: false }.write(emission)
    }
}

/// A checkpoint store that counts what it is asked to save, and has nothing to resume.
struct CountedSaves(Arc<Mutex<usize>>);

impl crate::checkpoint::StateStore for CountedSaves {
    fn load(&self) -> Result<Option<crate::checkpoint::EngineState>, crate::checkpoint::CheckpointError> {
        Ok(None)
    }

    fn save(
        &self,
        _: &mut crate::checkpoint::EngineState,
        _: bool,
    ) -> Result<(), crate::checkpoint::CheckpointError> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

#[test]
fn a_run_whose_output_gives_way_to_a_stop_acknowledges_and_checkpoints_nothing_more() {
    let saves = Arc::new(Mutex::new(0));
    let journal = Journal::default();
    let (tx, events) = tokio::sync::mpsc::channel(16);
    let (control, commands) = std_mpsc::channel();
    // Window [0 s, 10 s) closes at offset 2 and is written; [10 s, 20 s) closes at offset 4, and
    // its write gives way.
    for (offset, t) in [(0, 1), (1, 2), (2, 12), (3, 13), (4, 25)] {
        tx.try_send(messages(0, offset, &[reading(BASE + t * SECOND)]).unwrap()).unwrap();
    }
    let sink = GivesWay { journal: journal.clone(), takes: 1 };
    let parts = Parts {
        source: crate::channel::Source { events, control: Some(control), thread: None },
        outputs: Outputs { sinks: vec![Box::new(sink)], ..Outputs::default() },
        computing: crate::pipeline::Computing::default(),
        sensor_queries: None,
        checkpointing: Some(Checkpointing {
            store: Box::new(CountedSaves(Arc::clone(&saves))),
            interval: Duration::from_secs(3600),
            input: "kafka:t".into(),
            resume: None,
            companions: Vec::new(),
        }),
        hook: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let error = runtime.block_on(run(parts, windows(), crate::signals::Stop::default())).unwrap_err();
    assert_eq!(error.stopped_waiting_for(), Some("the store"), "{error:#}");
    assert_eq!(journal.take().len(), 1, "the first window only");
    let acknowledged: Vec<Command> = commands.try_iter().collect();
    let last = acknowledged.iter().rev().find_map(|c| match c {
        Command::Commit(positions) | Command::Shutdown(positions) => Some(positions.clone()),
        _ => None,
    });
    assert!(last.is_none_or(|p| p == [(0, 2)]), "nothing past the written window: {acknowledged:?}");
    assert!(!acknowledged.iter().any(|c| matches!(c, Command::Shutdown(_))), "{acknowledged:?}");
    assert_eq!(*saves.lock().unwrap(), 0, "no checkpoint");
    drop(tx);
}
