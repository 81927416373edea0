//! The engine behind counting, at each moment of a run: the seed's operator, or the run's SQL
//! queries (the operator then stays idle). The driver asks here, never which one it is, and
//! gets [`Results`]: what the moment completed, for the emitting part to write.

use std::collections::BTreeMap;

use iotstream_engine::query::Emission as QueryEmission;
use iotstream_engine::{EventTime, WindowResult};

use super::counting::Counting;

/// What the engine completed at one moment: the seed's windows (or batches), or the queries'
/// windows (or batches), each query's one emission per window.
#[derive(Debug, Default)]
pub struct Results {
    /// The seed's results.
    pub windows: Vec<WindowResult>,
    /// The queries' results.
    pub queries: Vec<QueryEmission>,
}

impl Results {
    /// True when nothing was completed.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.queries.is_empty()
    }

    /// How many results: windows, or query windows.
    pub fn len(&self) -> usize {
        self.windows.len() + self.queries.len()
    }
}

impl From<Vec<WindowResult>> for Results {
    fn from(windows: Vec<WindowResult>) -> Results {
        Results { windows, queries: Vec::new() }
    }
}

impl From<Vec<QueryEmission>> for Results {
    fn from(queries: Vec<QueryEmission>) -> Results {
        Results { windows: Vec::new(), queries }
    }
}

impl Counting {
    /// A piece of input has been counted: what it completes (event time closes windows at once).
    pub fn on_input(&mut self, now: EventTime) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_input(now).into(),
            None => self.operator.on_input(now).into(),
        }
    }

    /// The clock ticked: batches close, event time advances (idleness).
    pub fn on_tick(&mut self, now: EventTime) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_tick(now).into(),
            None => self.operator.on_tick(now).into(),
        }
    }

    /// Partial results of open windows (`--emit-every`).
    pub fn on_early(&mut self) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_early().into(),
            None => self.operator.on_early().into(),
        }
    }

    /// The input is complete: every window final, the open batch's tail; `emitted` results so far.
    pub fn on_end(&mut self, now: EventTime, emitted: u64) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_end(now).into(),
            None => self.operator.on_end(now, emitted).into(),
        }
    }

    /// A clean stop without a checkpoint: what is open, as partial results.
    pub fn on_stop(&mut self, now: EventTime, emitted: u64) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_stop(now).into(),
            None => self.operator.on_stop(now, emitted).into(),
        }
    }

    /// Partitions are taken away (`everything` this run held): what must be emitted first.
    pub fn on_revoke(&mut self, now: EventTime, everything: bool, emitted: u64) -> Results {
        match &mut self.queries {
            Some(queries) => queries.set.on_revoke(now, everything).into(),
            None => self.operator.on_revoke(now, everything, emitted).into(),
        }
    }

    /// After a revoke's positions were handed back.
    pub fn after_revoke(&mut self, everything: bool) {
        match &mut self.queries {
            Some(queries) => queries.set.after_revoke(everything),
            None => self.operator.after_revoke(everything),
        }
    }

    /// Partitions assigned at `now` hold event time back until they deliver.
    pub fn on_partitions(&mut self, partitions: &[u32], now: EventTime) {
        match &mut self.queries {
            Some(queries) => queries.set.on_partitions(partitions, now),
            None => self.operator.on_partitions(partitions, now),
        }
    }

    /// The source has nothing more for `partition` for now.
    pub fn on_caught_up(&mut self, partition: u32) {
        match &mut self.queries {
            Some(queries) => queries.set.on_caught_up(partition),
            None => self.operator.on_caught_up(partition),
        }
    }

    /// Per partition, the first position still needed after a crash (not to be acknowledged).
    pub fn pinned_positions(&self) -> BTreeMap<u32, i64> {
        match &self.queries {
            Some(queries) => queries.set.pinned_positions(),
            None => self.operator.pinned_positions(),
        }
    }
}
