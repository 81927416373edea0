//! The webhook in a build without the `webhook` feature: `--alerts-webhook` is refused when the
//! alert outputs open.

use iotstream_engine::alerts::Notification;

use super::{AlertArgs, AlertSink, Error};
use crate::sinks::SinkError;

/// A webhook: none can start.
pub enum Webhook {}

impl Webhook {
    /// Refused: this build has no webhook support.
    pub fn start(_: &str, _: &AlertArgs, _: &crate::signals::Stop) -> Result<Webhook, Error> {
        Err(Error::NoWebhook)
    }
}

impl AlertSink for Webhook {
    fn deliver(&mut self, _: &[Notification]) -> Result<(), SinkError> {
        match *self {}
    }
}
