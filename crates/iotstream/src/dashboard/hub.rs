//! What the dashboard shows, shared between the pipeline (which publishes) and the HTTP handlers
//! (which read and subscribe): the latest status, the most recent results, and a broadcast of each
//! new one to every open event stream.
//!
//! Everything is kept as serialised JSON: a result is encoded once when it is published, however
//! many browsers are watching. Publishing never waits for a reader: a browser that falls behind
//! the broadcast skips events (and is told so) rather than holding up the engine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iotstream_engine::alerts::{AlertRecord, Status};
use iotstream_engine::live::LastReading;
use iotstream_engine::{StatsRecord, WindowResult};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::channel::SensorQuery;
use crate::store::Reader;

/// Results kept for `/api/windows` and for a page that has just opened.
pub const RECENT_RESULTS: usize = 500;
/// Status records kept for `/api/stats` (five minutes at one a second), so that a page opened late
/// still draws the throughput chart from the start of that span.
pub const RECENT_STATUS: usize = 300;
/// Alert transitions kept for `/api/alerts` and for a page that has just opened.
pub const RECENT_ALERTS: usize = 200;
/// Active alerts listed at most (a fleet-wide outage can fire one per sensor).
pub const ACTIVE_ALERTS: usize = 1_000;
/// Events a slow browser may fall behind before it skips some.
const BROADCAST_DEPTH: usize = 256;
/// Sensor lookups waiting for the engine at once; beyond this, lookups are refused (503).
const QUERY_DEPTH: usize = 64;
/// How long a lookup waits for the engine to answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// One server-sent event: its name (`window`, `stats`) and JSON payload.
#[derive(Clone, Debug)]
pub struct Event {
    /// SSE event name.
    pub kind: &'static str,
    /// JSON.
    pub data: Arc<str>,
}

/// Facts about the run that do not change while it runs, for the page header.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    /// iotstream's version.
    pub version: &'static str,
    /// Where readings come from (`simulator`, `file`, `kafka:TOPIC`).
    pub source: String,
    /// `processing` or `event`.
    pub time: &'static str,
    /// Window length in seconds.
    pub window_seconds: f64,
    /// Slide in seconds (event time; equal to the window for tumbling windows).
    pub slide_seconds: f64,
    /// True when results are stored and `/api/history` serves them.
    pub history: bool,
    /// The run's SQL queries (`--query`), whose rows go to the run's other outputs: the page's
    /// views are the seed's analyses', and say so. Absent without queries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
}

/// Why a sensor lookup got no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    /// Too many lookups are waiting, or the engine has stopped.
    #[error("the engine is busy or has stopped; try again")]
    Unavailable,
}

/// The shared state.
pub struct Hub {
    recent: Mutex<VecDeque<Arc<str>>>,
    status: Mutex<VecDeque<Arc<str>>>,
    events: broadcast::Sender<Event>,
    queries: mpsc::Sender<SensorQuery>,
    info: Arc<str>,
    subscribers: AtomicUsize,
    history: Option<Arc<dyn Reader>>,
    /// Alerts firing now, by fingerprint, as JSON.
    active: Mutex<BTreeMap<String, Arc<str>>>,
    /// The latest alert transitions, as JSON.
    transitions: Mutex<VecDeque<Arc<str>>>,
}

impl Hub {
    /// A hub for a run described by `info`, and the receiving end of sensor lookups, which the
    /// pipeline answers.
    pub fn new(info: &RunInfo) -> (Arc<Hub>, mpsc::Receiver<SensorQuery>) {
        Hub::with_history(info, None)
    }

    /// A hub whose history charts read `history` (the run's store).
    pub fn with_history(
        info: &RunInfo,
        history: Option<Arc<dyn Reader>>,
    ) -> (Arc<Hub>, mpsc::Receiver<SensorQuery>) {
        let (queries, receiver) = mpsc::channel(QUERY_DEPTH);
        let info = serde_json::to_string(info).unwrap_or_else(|_| "{}".into());
        let hub = Hub {
            recent: Mutex::new(VecDeque::with_capacity(RECENT_RESULTS)),
            status: Mutex::new(VecDeque::with_capacity(RECENT_STATUS)),
            events: broadcast::channel(BROADCAST_DEPTH).0,
            queries,
            info: info.into(),
            subscribers: AtomicUsize::new(0),
            history,
            active: Mutex::new(BTreeMap::new()),
            transitions: Mutex::new(VecDeque::with_capacity(RECENT_ALERTS)),
        };
        (Arc::new(hub), receiver)
    }

    /// Publishes a result: kept among the recent ones and sent to every open stream.
    pub fn publish_result(&self, result: &WindowResult) -> serde_json::Result<()> {
        let data: Arc<str> = serde_json::to_string(result)?.into();
        push_bounded(&self.recent, Arc::clone(&data), RECENT_RESULTS);
        // No receiver (no browser open) is not an error.
        let _ = self.events.send(Event { kind: "window", data });
        Ok(())
    }

    /// Publishes the live status (totals, watermark, sensors).
    pub fn publish_status(&self, stats: &StatsRecord) -> serde_json::Result<()> {
        let data: Arc<str> = serde_json::to_string(stats)?.into();
        push_bounded(&self.status, Arc::clone(&data), RECENT_STATUS);
        let _ = self.events.send(Event { kind: "stats", data });
        Ok(())
    }

    /// Publishes an alert notification: the active list updated, the transition kept, and sent to
    /// every open stream as an `alert` event.
    pub fn publish_alert(&self, record: &AlertRecord) -> serde_json::Result<()> {
        let data: Arc<str> = serde_json::to_string(record)?.into();
        {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            match record.status {
                Status::Firing
                    if active.len() < ACTIVE_ALERTS || active.contains_key(&record.fingerprint) =>
                {
                    active.insert(record.fingerprint.clone(), Arc::clone(&data));
                }
                Status::Firing => {}
                Status::Resolved => {
                    active.remove(&record.fingerprint);
                }
            }
        }
        push_bounded(&self.transitions, Arc::clone(&data), RECENT_ALERTS);
        let _ = self.events.send(Event { kind: "alert", data });
        Ok(())
    }

    /// Replaces the active alerts (after a restart from a checkpoint).
    pub fn set_active_alerts(&self, firing: &[AlertRecord]) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.clear();
        for record in firing.iter().take(ACTIVE_ALERTS) {
            if let Ok(data) = serde_json::to_string(record) {
                active.insert(record.fingerprint.clone(), data.into());
            }
        }
    }

    /// Alerts firing now, and the latest transitions (oldest first), as JSON documents.
    pub fn alerts(&self) -> (Vec<Arc<str>>, Vec<Arc<str>>) {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        (active, latest(&self.transitions, RECENT_ALERTS))
    }

    /// The latest `limit` results, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<Arc<str>> {
        latest(&self.recent, limit)
    }

    /// The latest `limit` status records, oldest first.
    pub fn recent_status(&self, limit: usize) -> Vec<Arc<str>> {
        latest(&self.status, limit)
    }

    /// The latest status, if one was published.
    pub fn status(&self) -> Option<Arc<str>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).back().cloned()
    }

    /// The store, when results are kept in one.
    pub fn history(&self) -> Option<&dyn Reader> {
        self.history.as_deref()
    }

    /// The run's description, as JSON.
    pub fn info(&self) -> Arc<str> {
        Arc::clone(&self.info)
    }

    /// A new event stream, counted until the returned guard is dropped.
    pub fn subscribe(self: &Arc<Self>) -> (broadcast::Receiver<Event>, Subscription) {
        self.subscribers.fetch_add(1, Ordering::SeqCst);
        (self.events.subscribe(), Subscription { hub: Arc::clone(self) })
    }

    /// Open event streams.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// Asks the engine for a sensor's last reading.
    pub async fn lookup(&self, guid: &str) -> Result<Option<LastReading>, LookupError> {
        let (reply, answer) = oneshot::channel();
        let query = SensorQuery { guid: guid.to_owned(), reply };
        self.queries.try_send(query).map_err(|_| LookupError::Unavailable)?;
        match tokio::time::timeout(QUERY_TIMEOUT, answer).await {
            Ok(Ok(found)) => Ok(found),
            _ => Err(LookupError::Unavailable),
        }
    }
}

fn push_bounded(queue: &Mutex<VecDeque<Arc<str>>>, item: Arc<str>, capacity: usize) {
    let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
    if queue.len() == capacity {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn latest(queue: &Mutex<VecDeque<Arc<str>>>, limit: usize) -> Vec<Arc<str>> {
    let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
    queue.iter().skip(queue.len().saturating_sub(limit)).cloned().collect()
}

/// Counts an open event stream; dropping it (the browser went away) uncounts it.
pub struct Subscription {
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}
