//! Alerts in the run: after each emission (and each piece of input, and each clock tick), the
//! rules judge the results just written, and their notifications are delivered before the
//! driver acknowledges the input behind them. Readings reach the rules one by one from
//! `Driver::count`, which is all the driver's own code knows of alerts.

use iotstream_engine::WindowResult;

use super::driver::Driver;
use crate::clock::wall_clock_now;

impl Driver {
    /// Judges `results` (just written to every sink) and delivers every alert notification
    /// waiting, the ones readings produced included.
    pub(super) fn deliver_alerts(&mut self, results: &[WindowResult]) -> anyhow::Result<()> {
        let Some(alerts) = &mut self.outputs.alerts else { return Ok(()) };
        let inputs = self.summary.readings + self.summary.rejected;
        alerts.deliver(results, inputs, wall_clock_now())
    }
}
