//! The mutants' wrappers: each takes something the run opened and gives back the same thing,
//! broken in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotstream_engine::query::Emission as QueryEmission;
use iotstream_engine::{OperatorConfig, RejectReason, WindowResult};
use tokio::sync::mpsc;

use crate::channel::{
    Command, Covers, Data, Ordered, OrderedInput, Positions, Source, SourceEvent, SourceReceiver,
    CHANNEL_DEPTH,
};
use crate::checkpoint::{CheckpointError, EngineState, StateStore};
use crate::sinks::{Emission, RejectSink, ResultSink, SinkError};

/// [`super::Mutant::DropDeadLetter`] drops every 7th dead letter.
const DROP_EVERY: u64 = 7;

/// [`super::Mutant::NoCutBack`]: a resumed run finds the result file as long as it is now, so
/// that nothing written after the checkpoint is cut.
pub struct NoCutBack {
    pub store: Box<dyn StateStore>,
    pub output: PathBuf,
}

impl StateStore for NoCutBack {
    fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        let mut state = self.store.load()?;
        if let Some(state) = &mut state {
            let now = std::fs::metadata(&self.output).map(|m| m.len()).ok();
            state.output_len = state.output_len.map(|recorded| now.map_or(recorded, |now| now.max(recorded)));
        }
        Ok(state)
    }

    fn save(&self, state: &mut EngineState, last: bool) -> Result<(), CheckpointError> {
        self.store.save(state, last)
    }
}

/// [`super::Mutant::PositionsWithoutState`]: periodic checkpoints save a blank operator beside
/// the real positions; the last one, at a clean stop, saves everything.
pub struct PositionsWithoutState {
    pub store: Box<dyn StateStore>,
    pub operator: OperatorConfig,
}

impl StateStore for PositionsWithoutState {
    fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        self.store.load()
    }

    fn save(&self, state: &mut EngineState, last: bool) -> Result<(), CheckpointError> {
        if last {
            return self.store.save(state, last);
        }
        let real = std::mem::replace(&mut state.operator, self.operator.build(state.saved_at));
        let saved = self.store.save(state, last);
        state.operator = real;
        saved
    }
}

/// [`super::Mutant::AlertsNoCutback`]: a resumed run finds the alerts file as long as it is
/// now, so that no notification written after the checkpoint is cut.
pub struct AlertsNoCutback {
    pub store: Box<dyn StateStore>,
    pub output: PathBuf,
}

impl StateStore for AlertsNoCutback {
    fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        let mut state = self.store.load()?;
        if let Some(alerts) = state.as_mut().and_then(|s| s.alerts.as_mut()) {
            let now = std::fs::metadata(&self.output).map(|m| m.len()).ok();
            alerts.output_len =
                alerts.output_len.map(|recorded| now.map_or(recorded, |now| now.max(recorded)));
        }
        Ok(state)
    }

    fn save(&self, state: &mut EngineState, last: bool) -> Result<(), CheckpointError> {
        self.store.save(state, last)
    }
}

/// [`super::Mutant::WebhookQueueDropped`]: checkpoints save the alerts' state without the
/// webhook's undelivered notifications.
pub struct WebhookQueueDropped {
    pub store: Box<dyn StateStore>,
}

impl StateStore for WebhookQueueDropped {
    fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        self.store.load()
    }

    fn save(&self, state: &mut EngineState, last: bool) -> Result<(), CheckpointError> {
        let queued = state.alerts.as_mut().map(|alerts| std::mem::take(&mut alerts.undelivered));
        let saved = self.store.save(state, last);
        if let (Some(alerts), Some(queued)) = (state.alerts.as_mut(), queued) {
            alerts.undelivered = queued;
        }
        saved
    }
}

/// [`super::Mutant::StoreAckBeforeCommit`] and [`super::Mutant::ScaleOutMarkBeforeWrite`]: each
/// emission is reported written at once and handed to a thread that writes it through the sink
/// `delay` later (waiting out an outage there): whatever waits for a write to be done (offsets,
/// checkpoints, the merge log's publication marks) runs ahead of what the sink holds.
pub struct WrittenLater {
    queue: Option<std_mpsc::Sender<Queued>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Set on a clean stop: what is queued is written at once.
    hurry: Arc<AtomicBool>,
    /// How long after it is reported done each write is made.
    delay: Duration,
}

/// An emission [`WrittenLater`] holds, and when it is due.
type Queued = (Instant, Vec<WindowResult>, Vec<QueryEmission>);

impl WrittenLater {
    pub fn new(mut inner: Box<dyn ResultSink>, delay: Duration) -> WrittenLater {
        let (queue, queued) = std_mpsc::channel::<Queued>();
        let hurry = Arc::new(AtomicBool::new(false));
        let hurried = Arc::clone(&hurry);
        let writer = std::thread::spawn(move || {
            for (due, windows, queries) in queued {
                while Instant::now() < due && !hurried.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if let Err(error) = inner.write(&Emission { windows: &windows, queries: &queries }) {
                    tracing::warn!(%error, "a write reported done before it was made failed");
                }
            }
        });
        WrittenLater { queue: Some(queue), writer: Some(writer), hurry, delay }
    }
}

impl ResultSink for WrittenLater {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        if let Some(queue) = &self.queue {
            let _ = queue.send((
                Instant::now() + self.delay,
                emission.windows.to_vec(),
                emission.queries.to_vec(),
            ));
        }
        Ok(())
    }
}

impl Drop for WrittenLater {
    /// The writes queued go on to the end at once (a clean stop waits for them).
    fn drop(&mut self) {
        self.hurry.store(true, Ordering::Relaxed);
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// [`super::Mutant::DropDeadLetter`]: every 7th dead letter is not sent.
pub struct DropEvery7th {
    pub inner: Box<dyn RejectSink>,
    pub seen: u64,
}

impl RejectSink for DropEvery7th {
    fn reject(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        query: Option<&str>,
        partition: i32,
        offset: i64,
    ) {
        self.seen += 1;
        if !self.seen.is_multiple_of(DROP_EVERY) {
            self.inner.reject(payload, reason, query, partition, offset);
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

/// [`super::Mutant::AckBeforeWrite`]: every commit the pipeline asks for covers everything read
/// so far (as the events pass on their way to it), written or not.
pub fn acknowledge_on_read(source: Source) -> Source {
    let Some(control) = source.control else { return source };
    let read: Arc<Mutex<BTreeMap<i32, i64>>> = Arc::default();
    let seen = Arc::clone(&read);
    let events = forward(source.events, move |event, out| {
        note_positions(&event, &mut seen.lock().unwrap_or_else(|p| p.into_inner()));
        out.blocking_send(event).is_ok()
    });
    let (commands, rewritten) = std_mpsc::channel::<Command>();
    std::thread::spawn(move || {
        for command in rewritten {
            let command = match command {
                Command::Commit(_) => Command::Commit(
                    read.lock().unwrap_or_else(|p| p.into_inner()).clone().into_iter().collect(),
                ),
                other => other,
            };
            if control.send(command).is_err() {
                return;
            }
        }
    });
    Source { events, control: Some(commands), thread: source.thread }
}

/// [`super::Mutant::MqttAckOnReceipt`]: every message batch is reported checkpointed to its
/// source as soon as it arrives (an MQTT source then acknowledges it: a PUBACK on receipt).
pub fn checkpointed_on_receipt(source: Source) -> Source {
    let Some(control) = source.control.clone() else { return source };
    let mut read = BTreeMap::new();
    let events = forward(source.events, move |event, out| {
        let before = read.clone();
        note_positions(&event, &mut read);
        if out.blocking_send(event).is_err() {
            return false;
        }
        read == before || control.send(Command::Checkpointed(read.clone().into_iter().collect())).is_ok()
    });
    Source { events, ..source }
}

/// Where `event`'s messages end, per partition, into `read`.
fn note_positions(event: &SourceEvent, read: &mut BTreeMap<i32, i64>) {
    let mut note = |positions: Positions| read.extend(positions);
    match event {
        SourceEvent::Data(Data::Messages(batch)) => {
            note(ends(batch.messages.iter().map(|m| (m.partition, m.offset))))
        }
        SourceEvent::Data(Data::Ordered(ordered)) => {
            if let OrderedInput::Messages(batch) = &ordered.input {
                note(ends(batch.messages.iter().map(|m| (m.partition, m.offset))));
            }
        }
        SourceEvent::Data(Data::Parsed(partial)) => {
            if let Covers::Messages { positions, .. } = &partial.covers {
                note(positions.clone());
            }
        }
        _ => {}
    }
}

/// The next offset after the last message of each partition.
fn ends(messages: impl Iterator<Item = (i32, i64)>) -> Positions {
    let mut next = BTreeMap::new();
    for (partition, offset) in messages {
        next.insert(partition, offset + 1);
    }
    next.into_iter().collect()
}

/// [`super::Mutant::DoubleCountReplay`]: the first message batch after a restore arrives twice.
pub fn count_first_batch_twice(source: Source) -> Source {
    let mut first = true;
    let events = forward(source.events, move |event, out| {
        if first {
            if let Some(copy) = duplicate(&event) {
                first = false;
                if out.blocking_send(copy).is_err() {
                    return false;
                }
            }
        }
        out.blocking_send(event).is_ok()
    });
    Source { events, ..source }
}

/// A copy of a message batch, as read or as parsed.
fn duplicate(event: &SourceEvent) -> Option<SourceEvent> {
    match event {
        SourceEvent::Data(Data::Messages(batch)) => Some(SourceEvent::messages(batch.clone())),
        SourceEvent::Data(Data::Ordered(ordered)) => match &ordered.input {
            OrderedInput::Messages(batch) => Some(SourceEvent::Data(Data::Ordered(Box::new(Ordered {
                input: OrderedInput::Messages(batch.clone()),
                items: ordered.items.clone(),
                guids: ordered.guids.clone(),
            })))),
            OrderedInput::Lines(_) => None,
        },
        _ => None,
    }
}

/// Passes every event of `events` through `pass` (which sends it on, or not) on a thread of its
/// own; `pass` says false once the pipeline has gone.
fn forward(
    mut events: SourceReceiver,
    mut pass: impl FnMut(SourceEvent, &mpsc::Sender<SourceEvent>) -> bool + Send + 'static,
) -> SourceReceiver {
    let (out, forwarded) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::spawn(move || {
        while let Some(event) = events.blocking_recv() {
            if !pass(event, &out) {
                return;
            }
        }
    });
    forwarded
}
