//! What one instance writes to the control partition next, decided from the ledger it has read
//! to the partition's end: its lease (every interval, and at once when what it runs changes or
//! it owes a release), a claim of the next term when the group has no merger, and, as the
//! merger, an assignment when the membership changed. The instance's control loop calls
//! [`Actor::due`] after each read to the end; the same function drives the simulated groups of
//! the tests, so what they prove is what runs.
//!
//! The actor remembers only what it wrote and has not read back yet (a claim, an assignment),
//! so that it does not write them twice while they travel; everything else is the ledger's.

use std::collections::{BTreeMap, BTreeSet};

use super::Ledger;
use crate::scaleout::records::{Control, Lease, Release};

/// The timing of the group (µs of the reader's monotonic clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often an instance leases.
    pub interval: i64,
    /// How long an instance may be silent before the merger expels it (or the others replace
    /// it as the merger).
    pub timeout: i64,
}

/// What an instance runs and has saved, as its control loop tells the actor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    /// The partitions it runs, each with the position its newest saved state covers.
    pub running: Vec<(u32, Option<i64>)>,
    /// The position of the state it saved last for each partition it ran (stopped ones too).
    pub saved: BTreeMap<u32, i64>,
}

/// One instance's side of the group: its name and what it wrote but has not read back.
#[derive(Clone, Debug)]
pub struct Actor {
    me: String,
    /// The term it claimed last.
    claimed: Option<u64>,
    /// The term and version of the assignment it wrote last.
    assigned: Option<(u64, u64)>,
    /// When it leased last (`None`: never).
    leased: Option<i64>,
    /// What its last lease said it runs.
    running: BTreeSet<u32>,
}

impl Actor {
    /// The actor of instance `me`.
    pub fn new(me: impl Into<String>) -> Actor {
        Actor { me: me.into(), claimed: None, assigned: None, leased: None, running: BTreeSet::new() }
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.me
    }

    /// The records to write now, in order, at time `now`, for an instance that runs what
    /// `holding` says, over `partitions` input partitions. The caller has read the control
    /// partition to its end and has already stopped (and saved) every partition the ledger says
    /// it no longer owns ([`Ledger::to_stop`]).
    pub fn due(
        &mut self,
        ledger: &Ledger,
        now: i64,
        timing: Timing,
        holding: &Holding,
        partitions: usize,
    ) -> Vec<Control> {
        if !ledger.based() {
            return Vec::new();
        }
        let mut due = Vec::new();
        if let Some(lease) = self.lease(ledger, now, timing, holding) {
            due.push(Control::Lease(lease));
        }
        let term = ledger.state().term;
        if ledger.merger_gone(&self.me, now, timing.timeout) && self.claimed != Some(term + 1) {
            self.claimed = Some(term + 1);
            due.push(Control::Claim { term: term + 1 });
        }
        if ledger.merges(&self.me) {
            let version = ledger.state().assignment.version;
            let pending = self.assigned.is_some_and(|(t, v)| t == term && v > version);
            let changes = ledger.changes(now, timing.timeout);
            if !pending && !changes.is_empty() {
                let next = ledger.next_assignment(changes, partitions);
                self.assigned = Some((term, next.version));
                due.push(Control::Assign(next));
            }
        }
        due
    }

    /// The lease, when one is due: an interval after the last, or at once when what it runs
    /// changed or it owes releases.
    fn lease(&mut self, ledger: &Ledger, now: i64, timing: Timing, holding: &Holding) -> Option<Lease> {
        let now_running: BTreeSet<u32> = holding.running.iter().map(|&(p, _)| p).collect();
        let mut released = ledger.owed(&self.me);
        for release in &mut released {
            release.saved = holding.saved.get(&release.partition).copied().or(release.saved);
        }
        let due = self.leased.is_none_or(|at| now.saturating_sub(at) >= timing.interval)
            || now_running != self.running
            || !released.is_empty();
        if !due {
            return None;
        }
        self.leased = Some(now);
        self.running = now_running;
        Some(Lease { at: now, leaving: false, owned: holding.running.clone(), released, merge: None })
    }

    /// The last lease of an instance that stops, having saved and released everything it ran.
    pub fn leaving(&self, now: i64, saved: &[(u32, Option<i64>)], version: u64) -> Control {
        let released =
            saved.iter().map(|&(partition, saved)| Release { partition, version, saved }).collect();
        Control::Lease(Lease { at: now, leaving: true, owned: Vec::new(), released, merge: None })
    }
}

impl Ledger {
    /// Partitions `me` must give up (save and release): it runs them but the latest assignment
    /// gives them to another, or `me` is no longer a member.
    pub fn to_stop(&self, me: &str, running: &BTreeSet<u32>) -> BTreeSet<u32> {
        let owned = self.owned_by(me);
        running.difference(&owned).copied().collect()
    }

    /// The releases `me` owes: partitions the latest assignment moved away from it, alive, that
    /// it has not released since (their new owner waits for them).
    pub fn owed(&self, me: &str) -> Vec<Release> {
        let state = &self.state;
        let slots = state.assignment.slots.iter().zip(0u32..);
        slots
            .filter(|(slot, partition)| {
                slot.from.as_deref() == Some(me) && !self.released_since(*partition, me, slot.since)
            })
            .map(|(slot, partition)| Release {
                partition,
                version: slot.since,
                saved: state.saved.get(&partition).copied(),
            })
            .collect()
    }
}
