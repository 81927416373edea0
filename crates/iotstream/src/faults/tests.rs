//! Each mutant breaks what it says, where it says, and only there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iotstream_engine::{EventTime, EventTimeConfig, OperatorConfig, RejectReason, WindowSpec};
use tokio::sync::mpsc;

use super::*;
use crate::channel::{Command, MessageBatch, SourceEvent};
use crate::checkpoint::{CheckpointStore, EngineState};
use crate::sinks::{RejectSink, SinkError};

fn faults(mutant: Mutant, output: Option<&Path>) -> Faults {
    let config = EventTimeConfig {
        window: WindowSpec::new(10_000_000, 10_000_000).unwrap(),
        max_delay: 1_000_000,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    };
    let operator = OperatorConfig::Windows { config, emit_every: None };
    Faults::new(&FaultArgs { fault_mutant: Some(mutant) }, output, &operator)
}

fn state(operator: &OperatorConfig, output_len: Option<u64>) -> EngineState {
    let mut operator = operator.build(EventTime(0));
    let reading = iotstream_engine::Parser::default()
        .parse(br#"{"guid":"g","state":"TX","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#)
        .unwrap();
    let _ = operator.on_reading(0, 0, &reading, EventTime(0));
    EngineState {
        input: "kafka:t".into(),
        positions: [(0, 1)].into(),
        operator,
        sensors: Default::default(),
        rejected: Default::default(),
        readings: 1,
        rejected_count: 0,
        results: 0,
        output_len,
        saved_at: EventTime(5),
        alerts: None,
        queries: None,
    }
}

#[test]
fn no_cut_back_resumes_at_the_files_length_not_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    std::fs::write(&output, b"0123456789").unwrap();
    let mutant = faults(Mutant::NoCutBack, Some(&output));
    let store = mutant.store(Box::new(CheckpointStore::open(&dir.path().join("s")).unwrap()));
    let operator = mutant.operator.unwrap();
    store.save(&mut state(&operator, Some(4)), false).unwrap();
    assert_eq!(store.load().unwrap().unwrap().output_len, Some(10));
}

#[test]
fn positions_without_state_save_a_blank_operator_until_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mutant = faults(Mutant::PositionsWithoutState, None);
    let store = mutant.store(Box::new(CheckpointStore::open(dir.path()).unwrap()));
    let operator = mutant.operator.unwrap();
    let mut saved = state(&operator, None);
    store.save(&mut saved, false).unwrap();
    assert_eq!(saved.operator.pinned_positions(), [(0, 0)].into(), "the real one is kept in memory");
    let loaded = store.load().unwrap().unwrap();
    assert_eq!((loaded.positions[&0], loaded.operator.pinned_positions().len()), (1, 0), "a blank operator");
    store.save(&mut saved, true).unwrap();
    assert_eq!(store.load().unwrap().unwrap().operator.pinned_positions(), [(0, 0)].into());
}

struct Letters(Arc<Mutex<Vec<i64>>>);

impl RejectSink for Letters {
    fn reject(&mut self, _: &[u8], _: RejectReason, _: Option<&str>, _: i32, offset: i64) {
        self.0.lock().unwrap().push(offset);
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn drop_dead_letter_drops_every_seventh() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut outputs =
        Outputs { dead_letters: Some(Box::new(Letters(Arc::clone(&sent)))), ..Outputs::default() };
    faults(Mutant::DropDeadLetter, None).outputs(&mut outputs);
    let letters = outputs.dead_letters.as_mut().unwrap();
    (1..=14).for_each(|offset| letters.reject(b"x", RejectReason::MalformedJson, None, 0, offset));
    assert_eq!(sent.lock().unwrap().len(), 12);
    assert!(!sent.lock().unwrap().contains(&7));
}

/// A source of message batches (partition 0, from offset `first` each), with its control channel.
fn source(batches: &[(i64, usize)]) -> (Source, std::sync::mpsc::Receiver<Command>) {
    let (tx, events) = mpsc::channel(16);
    for &(first, count) in batches {
        let mut batch = MessageBatch::default();
        (first..first + count as i64).for_each(|offset| batch.push(b"{}", 10, 0, offset));
        tx.try_send(SourceEvent::messages(batch)).unwrap();
    }
    let (control, commands) = std::sync::mpsc::channel();
    (Source { events, control: Some(control), thread: None }, commands)
}

fn offsets(event: Option<SourceEvent>) -> Vec<i64> {
    match event {
        Some(SourceEvent::Data(crate::channel::Data::Messages(batch))) => {
            batch.messages.iter().map(|m| m.offset).collect()
        }
        other => panic!("not messages: {other:?}"),
    }
}

#[test]
fn double_count_replay_hands_the_first_batch_over_twice_after_a_restore_only() {
    let mutant = faults(Mutant::DoubleCountReplay, None);
    let (fresh, _) = source(&[(0, 2), (2, 1)]);
    let mut fresh = mutant.source(fresh, false);
    assert_eq!(offsets(fresh.events.blocking_recv()), [0, 1]);
    assert_eq!(offsets(fresh.events.blocking_recv()), [2], "a run that resumes nothing is left alone");
    let (resumed, _) = source(&[(0, 2), (2, 1)]);
    let mut resumed = mutant.source(resumed, true);
    let got: Vec<Vec<i64>> = (0..3).map(|_| offsets(resumed.events.blocking_recv())).collect();
    assert_eq!(got, [vec![0, 1], vec![0, 1], vec![2]]);
}

#[test]
fn ack_before_write_commits_everything_read() {
    let (source, commands) = source(&[(0, 3)]);
    let mut broken = faults(Mutant::AckBeforeWrite, None).source(source, false);
    assert_eq!(offsets(broken.events.blocking_recv()), [0, 1, 2]);
    let control = broken.control.take().unwrap();
    control.send(Command::Commit(vec![(0, 0)])).unwrap();
    control.send(Command::Shutdown(vec![(0, 0)])).unwrap();
    let received = |timeout| commands.recv_timeout(timeout).unwrap();
    assert!(
        matches!(received(Duration::from_secs(5)), Command::Commit(p) if p == [(0, 3)]),
        "read, not written"
    );
    assert!(matches!(received(Duration::from_secs(5)), Command::Shutdown(p) if p == [(0, 0)]));
}

#[test]
fn the_mutant_names_are_those_scripts_faults_uses() {
    let named = <Mutant as clap::ValueEnum>::from_str("positions-without-state", false);
    assert_eq!(named, Ok(Mutant::PositionsWithoutState));
    let store = |dir: &Path| Box::new(CheckpointStore::open(dir).unwrap()) as Box<dyn StateStore>;
    let dir = tempfile::tempdir().unwrap();
    let real = Faults::none().store(store(dir.path()));
    assert!(real.load().unwrap().is_none(), "no mutant: the store as it is");
}

#[test]
fn mqtt_ack_on_receipt_reports_each_batch_checkpointed_as_it_arrives() {
    let (source, commands) = source(&[(0, 3), (3, 2)]);
    let mut broken = faults(Mutant::MqttAckOnReceipt, None).source(source, false);
    assert_eq!(offsets(broken.events.blocking_recv()), [0, 1, 2]);
    assert_eq!(offsets(broken.events.blocking_recv()), [3, 4]);
    let received = || commands.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(matches!(received(), Command::Checkpointed(p) if p == [(0, 3)]), "received, not checkpointed");
    assert!(matches!(received(), Command::Checkpointed(p) if p == [(0, 5)]));
}

/// A sink that writes only once `open` is set, keeping what it wrote.
struct Gated {
    open: Arc<Mutex<bool>>,
    written: Arc<Mutex<Vec<usize>>>,
}

impl crate::sinks::ResultSink for Gated {
    fn write(&mut self, emission: &crate::sinks::Emission<'_>) -> Result<(), SinkError> {
        while !*self.open.lock().unwrap() {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.written.lock().unwrap().push(emission.windows.len());
        Ok(())
    }
}

#[test]
fn store_ack_before_commit_reports_a_write_done_before_the_store_took_it() {
    let (open, written) = (Arc::new(Mutex::new(false)), Arc::new(Mutex::new(Vec::new())));
    let gated = Gated { open: Arc::clone(&open), written: Arc::clone(&written) };
    let mut outputs = Outputs { sinks: vec![Box::new(gated)], ..Outputs::default() };
    faults(Mutant::StoreAckBeforeCommit, None).store_sinks(&mut outputs, 0);
    outputs.sinks[0].write(&crate::sinks::Emission::of_windows(&[])).unwrap();
    assert!(written.lock().unwrap().is_empty(), "reported written while the store has not taken it");
    *open.lock().unwrap() = true;
    drop(outputs);
    assert_eq!(*written.lock().unwrap(), [0], "written in the end");
}

/// A sink keeping what it was given, a live view or an output.
struct Recording {
    live: bool,
    written: Arc<Mutex<Vec<usize>>>,
}

impl crate::sinks::ResultSink for Recording {
    fn write(&mut self, emission: &crate::sinks::Emission<'_>) -> Result<(), SinkError> {
        self.written.lock().unwrap().push(emission.windows.len());
        Ok(())
    }

    fn is_live_view(&self) -> bool {
        self.live
    }
}

#[test]
fn scale_out_mark_before_write_writes_outputs_long_after_reporting_them_done() {
    let (output, live) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let mut outputs = Outputs {
        sinks: vec![
            Box::new(Recording { live: false, written: Arc::clone(&output) }),
            Box::new(Recording { live: true, written: Arc::clone(&live) }),
        ],
        ..Outputs::default()
    };
    faults(Mutant::ScaleOutMarkBeforeWrite, None).outputs(&mut outputs);
    for sink in &mut outputs.sinks {
        sink.write(&crate::sinks::Emission::of_windows(&[])).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(output.lock().unwrap().is_empty(), "the output was written at once");
    assert_eq!(*live.lock().unwrap(), [0], "a live view is shown at once");
    drop(outputs);
    assert_eq!(*output.lock().unwrap(), [0], "a clean stop writes what was queued");
}
