//! The group as its control partition tells it: a pure function of the records read, in their
//! order, so that every instance reaching the same offset holds the same state.
//!
//! - **The merger's term.** A claim of `term + 1` makes its writer the merger (the first such
//!   claim in log order wins; later ones for the same term change nothing). Every record that
//!   only the merger may write (assignments, rotations, publication marks, snapshots) carries
//!   its term and counts only if it is the current term's and comes from its merger: a merger
//!   that was paused past its lease and resumed is fenced by the log's order alone.
//! - **Ownership.** The merger writes an assignment (a version, the members, an owner per
//!   partition) when, and only when, the membership changes (`decide`). A partition that moves
//!   from a live owner waits for that owner's release (its state saved) before the new owner
//!   starts it; a partition of an instance that left or was expelled is free at once.
//! - **Epochs.** A rotation moves the log to a new topic; the merger carries the group's state
//!   into it as its first record, so an instance starting there reads a bounded log. Records read
//!   in a new epoch before its state (an instance that starts reading there) wait for it.
//!
//! Time here is the reader's own monotonic clock, passed in (µs): when a record was read, never
//! when it was written.

mod act;
mod decide;
#[cfg(test)]
mod simulate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use iotstream_engine::WindowResult;

use super::records::{Assignment, Control, ControlEntry, FileMark, Lease, Published};
pub use super::records::{GroupState, SnapshotAt};
pub use act::{Actor, Holding, Timing};

/// Results kept for instances that start reading (their dashboards show recent results).
pub const RECENT: usize = 500;

/// What reading one record changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// Nothing a reader acts on (a lease, a stale record).
    Nothing,
    /// A new term and its merger.
    Elected,
    /// The merger resigned.
    Resigned,
    /// A new assignment.
    Assigned,
    /// The log moved on to a new epoch.
    Rotated {
        /// The next epoch.
        next: u32,
    },
    /// The merger wrote these results (numbered up to `through`).
    Published {
        /// The last one's number.
        through: u64,
        /// The results.
        results: Vec<WindowResult>,
    },
    /// The group's state, carried into this epoch, is this reader's start.
    Based,
    /// A merge snapshot covering the data of epochs up to `covers`.
    Snapshot {
        /// The epoch covered.
        covers: u32,
    },
}

/// The group's state, and what the reader needs to know of the records it read.
#[derive(Debug, Default)]
pub struct Ledger {
    state: GroupState,
    /// When a record from each instance was last read (the reader's clock, µs).
    seen: BTreeMap<String, i64>,
    /// Has a start in its epoch: the first epoch, or a state carried into it, or it read the
    /// rotation into it.
    based: bool,
    /// Records read before the epoch's state, for a reader that starts there.
    waiting: Vec<(ControlEntry, i64)>,
    /// A state was read in the current epoch (a new merger writes one if not).
    state_in_epoch: bool,
}

impl Ledger {
    /// A reader starting in `epoch`: the first epoch is its own start; in any other, it waits for
    /// the state carried into it.
    pub fn starting(epoch: u32) -> Ledger {
        let state = GroupState { epoch, ..GroupState::default() };
        Ledger { state, based: epoch == 0, state_in_epoch: epoch == 0, ..Ledger::default() }
    }

    /// The state.
    pub fn state(&self) -> &GroupState {
        &self.state
    }

    /// True once the reader has a start in its epoch (see [`Ledger::starting`]).
    pub fn based(&self) -> bool {
        self.based
    }

    /// True when the current epoch has had its state carried into it.
    pub fn state_in_epoch(&self) -> bool {
        self.state_in_epoch
    }

    /// Takes the record `entry`, read at `offset` of the current epoch's control partition at
    /// the reader's time `now`.
    pub fn apply(&mut self, entry: ControlEntry, offset: i64, now: i64) -> Vec<Applied> {
        if let Control::State(_) = &entry.record {
            self.state_in_epoch = true;
        }
        if !self.based {
            return self.before_base(entry, offset, now);
        }
        self.seen.insert(entry.instance.clone(), now);
        vec![self.record(entry, offset)]
    }

    /// A record read before the epoch's state: kept, until the state comes; then all applied.
    fn before_base(&mut self, entry: ControlEntry, offset: i64, now: i64) -> Vec<Applied> {
        let ControlEntry { instance, record: Control::State(state) } = entry else {
            self.waiting.push((entry, offset));
            return Vec::new();
        };
        let epoch = self.state.epoch;
        self.state = GroupState { epoch, ..*state };
        self.based = true;
        // Everyone the state knows is alive as of now: the lease timeout runs from here.
        for name in self.state.leases.keys().chain(std::iter::once(&instance)) {
            self.seen.insert(name.clone(), now);
        }
        let mut applied = vec![Applied::Based];
        for (entry, offset) in std::mem::take(&mut self.waiting) {
            applied.extend(self.apply(entry, offset, now));
        }
        applied
    }

    /// True when `writer` is the merger of `term`, the current one.
    fn by_merger(&self, writer: &str, term: u64) -> bool {
        term == self.state.term && self.state.leader.as_deref() == Some(writer)
    }

    fn record(&mut self, entry: ControlEntry, offset: i64) -> Applied {
        let writer = entry.instance;
        match entry.record {
            Control::Lease(lease) => self.lease(writer, lease),
            Control::Claim { term } if term == self.state.term + 1 => {
                self.state.term = term;
                self.state.leader = Some(writer);
                Applied::Elected
            }
            Control::Resign { term } if self.by_merger(&writer, term) => {
                self.state.leader = None;
                Applied::Resigned
            }
            Control::Assign(assignment)
                if self.by_merger(&writer, assignment.term)
                    && assignment.version > self.state.assignment.version =>
            {
                self.assign(assignment)
            }
            Control::Rotate { term, next } if self.by_merger(&writer, term) && next > self.state.epoch => {
                let members = self.state.assignment.members.clone();
                self.state.drains.insert(self.state.epoch, members);
                self.state.epoch = next;
                self.state_in_epoch = false;
                Applied::Rotated { next }
            }
            Control::Published(published) if self.by_merger(&writer, published.term) => {
                self.published(published)
            }
            Control::Snapshot { term, covers, .. } if self.by_merger(&writer, term) => {
                let epoch = self.state.epoch;
                self.state.snapshot = Some(SnapshotAt { epoch, offset, covers });
                self.state.drains.retain(|&e, _| e > covers);
                Applied::Snapshot { covers }
            }
            _ => Applied::Nothing,
        }
    }

    fn lease(&mut self, writer: String, lease: Lease) -> Applied {
        for &(partition, saved) in &lease.owned {
            if let Some(saved) = saved {
                let known = self.state.saved.entry(partition).or_insert(saved);
                *known = (*known).max(saved);
            }
        }
        for release in &lease.released {
            if let Some(saved) = release.saved {
                let known = self.state.saved.entry(release.partition).or_insert(saved);
                *known = (*known).max(saved);
            }
            let newer = self
                .state
                .released
                .get(&release.partition)
                .is_none_or(|(by, held)| by != &writer || held.version < release.version);
            if newer {
                self.state.released.insert(release.partition, (writer.clone(), release.clone()));
            }
        }
        self.state.leases.insert(writer, lease);
        Applied::Nothing
    }

    fn assign(&mut self, assignment: Assignment) -> Applied {
        // Leases of instances that are no longer members go: one that is alive leases again and
        // joins anew.
        self.state.leases.retain(|name, _| assignment.members.contains(name));
        self.state.assignment = assignment;
        Applied::Assigned
    }

    fn published(&mut self, published: Published) -> Applied {
        if let Some(FileMark { key, len }) = published.file {
            self.state.files.insert(key, len);
        }
        if published.through < self.state.mark {
            return Applied::Nothing;
        }
        self.state.mark = published.through;
        for result in &published.results {
            if self.state.recent.len() == RECENT {
                self.state.recent.pop_front();
            }
            self.state.recent.push_back(result.clone());
        }
        Applied::Published { through: published.through, results: published.results }
    }

    /// The merger's own clock reading for everyone it has not heard from since it was elected:
    /// the lease timeout runs from `now` for them (an instance it has heard from keeps its time).
    pub fn grace(&mut self, now: i64) {
        let names: Vec<String> =
            self.state.assignment.members.iter().chain(self.state.leases.keys()).cloned().collect();
        for name in names {
            self.seen.entry(name).or_insert(now);
        }
    }
}
