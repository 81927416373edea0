//! Results served over HTTP: hands each result and status to the dashboard's hub, which keeps the
//! recent ones and streams them to browsers as server-sent events (see `crate::dashboard`).

use std::io;
use std::sync::Arc;

use iotstream_engine::{StatsRecord, WindowResult};

use crate::dashboard::Hub;
use crate::sinks::ResultSink;

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
    fn write_result(&mut self, result: &WindowResult) -> io::Result<()> {
        self.hub.publish_result(result).map_err(io::Error::other)
    }

    fn write_stats(&mut self, stats: &StatsRecord) -> io::Result<()> {
        self.hub.publish_status(stats).map_err(io::Error::other)
    }

    fn write_status(&mut self, status: &StatsRecord) -> io::Result<()> {
        self.hub.publish_status(status).map_err(io::Error::other)
    }
}
