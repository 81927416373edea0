//! The ordered part of parsing on several threads: input the workers have parsed (see
//! [`crate::parallel::Mode::Ordered`]) is counted here, reading by reading, in input order.
//!
//! Everything that depends on order happens here, exactly as when the driver parses itself
//! (`Driver::on_chunk`, `Driver::on_messages`): each partition's watermark and the lateness it
//! decides, window updates, the per-sensor table, rejection logs and dead letters, positions.
//! Only parsing, the expensive part, has moved, so the results are the same bytes whatever the
//! number of threads.

use iotstream_engine::{Reading, RejectReason};

use super::driver::Driver;
use crate::channel::{Item, Ordered, OrderedInput};
use crate::clock::wall_clock_now;

impl Driver {
    /// Counts a chunk or message batch parsed by a worker.
    pub(super) fn on_ordered(&mut self, ordered: &Ordered) {
        self.now = wall_clock_now();
        match &ordered.input {
            OrderedInput::Lines(chunk) => {
                let first = chunk.first_line;
                for (line_number, item) in (first..).zip(&ordered.items) {
                    if let Err(reason) = self.count_item(ordered, item, 0, line_number as i64) {
                        self.rejects.record(reason, &format_args!("line {line_number}"), ordered.line(item));
                    }
                }
                self.progress.read_lines(first + ordered.items.len() as u64);
                // As on one thread: a file or pipe hands over what it has, no backlog behind it.
                self.operator.on_caught_up(0);
            }
            OrderedInput::Messages(_) => {
                self.count_ordered_messages(ordered);
                if self.mutation.count_twice() {
                    self.count_ordered_messages(ordered);
                }
            }
        }
    }

    fn count_ordered_messages(&mut self, ordered: &Ordered) {
        let OrderedInput::Messages(batch) = &ordered.input else { return };
        for (item, (payload, meta)) in ordered.items.iter().zip(batch.iter()) {
            let partition = u32::try_from(meta.partition).unwrap_or(0);
            if let Err(reason) = self.count_item(ordered, item, partition, meta.offset) {
                self.reject_message(payload, reason, meta.partition, meta.offset);
            }
            self.progress.read_message(meta.partition, meta.offset);
        }
    }

    /// Counts one parsed line or message, as `Driver::count` does after parsing it.
    #[inline]
    fn count_item(
        &mut self,
        ordered: &Ordered,
        item: &Item,
        partition: u32,
        position: i64,
    ) -> Result<(), RejectReason> {
        let outcome = match &item.outcome {
            Ok(compact) => {
                let reading = compact.reading();
                if self.track_sensors {
                    self.sensors.update_with(&reading, || ordered.guid(item), self.now);
                }
                let counted = self.operator.on_reading(partition, position, &reading, self.now);
                if let (Ok(()), Some(alerts)) = (counted, &mut self.outputs.alerts) {
                    if alerts.wants_readings() {
                        // Sensor rules name sensors by guid: the text only they need.
                        let guid = ordered.guid(item);
                        alerts.on_reading(&Reading { guid: guid.as_str().into(), ..reading });
                    }
                }
                counted
            }
            Err(reason) => {
                self.operator.on_rejected(*reason);
                Err(*reason)
            }
        };
        self.tally(outcome)
    }
}
