//! Results and alerts served over HTTP: hands each result, status and alert notification to the
//! dashboard's hub, which keeps the recent ones and streams them to browsers as server-sent events
//! (see `crate::dashboard`).
//!
//! Only the status (every second while the dashboard is on) feeds the page's totals and throughput
//! chart; stats records (`--stats-every`) are for files and topics. Taking both would put two
//! records a few microseconds apart into the history, and the rate between them would spike.

use std::sync::Arc;

use iotstream_engine::StatsRecord;

use iotstream_engine::alerts::{AlertRecord, Notification};

use super::Hub;
use crate::alerts::AlertSink;
use crate::sinks::{Emission, ResultSink, SinkError};

/// The dashboard's sink.
pub struct HttpSink {
    hub: Arc<Hub>,
}

impl HttpSink {
    /// Publishes to `hub`.
    pub fn new(hub: Arc<Hub>) -> HttpSink {
        HttpSink { hub }
    }
}

impl ResultSink for HttpSink {
    fn write(&mut self, emission: &Emission<'_>) -> Result<(), SinkError> {
        for result in emission.windows {
            self.hub.publish_result(result)?;
        }
        Ok(())
    }

    fn write_status(&mut self, status: &StatsRecord) -> Result<(), SinkError> {
        Ok(self.hub.publish_status(status)?)
    }

    fn is_live_view(&self) -> bool {
        true
    }
}

/// The dashboard's alert sink: active alerts and recent transitions, live over its event stream.
pub struct AlertsView {
    hub: Arc<Hub>,
}

impl AlertsView {
    /// Publishes to `hub`.
    pub fn new(hub: Arc<Hub>) -> AlertsView {
        AlertsView { hub }
    }
}

impl AlertSink for AlertsView {
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError> {
        for note in notes {
            self.hub.publish_alert(&note.record)?;
        }
        Ok(())
    }

    fn restored(&mut self, firing: &[AlertRecord]) {
        self.hub.set_active_alerts(firing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::RunInfo;

    #[test]
    fn only_the_status_feeds_the_dashboard() {
        let info = RunInfo {
            version: "test",
            source: "file".into(),
            time: "event",
            window_seconds: 1.0,
            slide_seconds: 1.0,
            history: false,
            queries: Vec::new(),
        };
        let (hub, _queries) = Hub::new(&info);
        let mut sink = HttpSink::new(Arc::clone(&hub));
        let stats: StatsRecord = serde_json::from_str(
            r#"{"at":"2016-11-16T13:26:39Z","readings":5,"rejected":0,"rejected_by_reason":{},"late_by_state":{},"open_windows":0,"sensors":1,"offline":0,"offline_by_state":{}}"#,
        )
        .unwrap();
        sink.write_stats(&stats).unwrap();
        assert!(hub.recent_status(10).is_empty());
        sink.write_status(&stats).unwrap();
        assert_eq!(hub.recent_status(10).len(), 1);
    }
}
