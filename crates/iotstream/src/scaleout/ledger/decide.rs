//! What the ledger's state decides: the membership changes the merger writes an assignment for,
//! the assignment itself, when an owner may start a partition, and when the merger is gone.

use std::collections::BTreeSet;

use super::Ledger;
use crate::scaleout::balance::balance;
use crate::scaleout::records::{Assignment, Change, Slot};

impl Ledger {
    /// The membership changes at the reader's time `now` (the merger's judgement): members that
    /// left (their last lease says so) or wrote nothing for `timeout` µs, and instances leasing
    /// that are not members yet. Empty when nothing changed: then there is nothing to assign.
    pub fn changes(&self, now: i64, timeout: i64) -> Vec<Change> {
        let state = &self.state;
        let silent = |name: &String| self.seen.get(name).is_none_or(|&at| now.saturating_sub(at) > timeout);
        let mut changes = Vec::new();
        for member in &state.assignment.members {
            if state.leases.get(member).is_some_and(|l| l.leaving) {
                changes.push(Change::Left(member.clone()));
            } else if silent(member) && state.leader.as_ref() != Some(member) {
                // The merger judges, so it is alive: after a pause of its own, everyone's last
                // word (its own too) looks old until it has read on.
                changes.push(Change::Expelled(member.clone()));
            }
        }
        for (name, lease) in &state.leases {
            if !state.assignment.members.contains(name) && !lease.leaving && !silent(name) {
                changes.push(Change::Joined(name.clone()));
            }
        }
        changes
    }

    /// The next assignment after `changes`, for the merger of the current term, over
    /// `partitions` input partitions: an even split that moves as few partitions as it can. A
    /// partition leaving a member that stays waits for that member's release.
    pub fn next_assignment(&self, changes: Vec<Change>, partitions: usize) -> Assignment {
        let previous = &self.state.assignment;
        let gone: BTreeSet<&String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Left(name) | Change::Expelled(name) => Some(name),
                Change::Joined(_) => None,
            })
            .collect();
        let mut members: BTreeSet<String> =
            previous.members.iter().filter(|m| !gone.contains(m)).cloned().collect();
        members.extend(changes.iter().filter_map(|c| match c {
            Change::Joined(name) => Some(name.clone()),
            _ => None,
        }));
        let members: Vec<String> = members.into_iter().collect();
        let mut slots = previous.slots.clone();
        slots.resize(partitions, Slot::default());
        let owners: Vec<Option<String>> =
            slots.iter().map(|s| s.owner.clone().filter(|o| members.contains(o))).collect();
        let version = previous.version + 1;
        let slots = balance(partitions, &members, &owners)
            .into_iter()
            .zip(slots)
            .map(|(owner, old)| {
                let alive = |name: &String| members.contains(name);
                if owner == old.owner {
                    Slot { from: old.from.filter(alive), ..old }
                } else {
                    Slot { owner, since: version, from: old.owner.filter(alive) }
                }
            })
            .collect();
        Assignment { term: self.state.term, version, members, slots, changes }
    }

    /// Partitions `me` owns in the latest assignment.
    pub fn owned_by(&self, me: &str) -> BTreeSet<u32> {
        let slots = self.state.assignment.slots.iter().zip(0u32..);
        slots.filter(|(slot, _)| slot.owner.as_deref() == Some(me)).map(|(_, p)| p).collect()
    }

    /// Partitions `me` owns and may start: nobody must release them first, or their previous
    /// owner has released them since they moved.
    pub fn runnable(&self, me: &str) -> BTreeSet<u32> {
        let state = &self.state;
        let slots = state.assignment.slots.iter().zip(0u32..);
        slots
            .filter(|(slot, partition)| {
                slot.owner.as_deref() == Some(me)
                    && slot.from.as_ref().is_none_or(|from| self.released_since(*partition, from, slot.since))
            })
            .map(|(_, p)| p)
            .collect()
    }

    /// True when `by` has released `partition` under assignment version `since` or a later one.
    pub(super) fn released_since(&self, partition: u32, by: &str, since: u64) -> bool {
        let released = self.state.released.get(&partition);
        released.is_some_and(|(who, release)| who == by && release.version >= since)
    }

    /// True when `me` is a member in the latest assignment.
    pub fn is_member(&self, me: &str) -> bool {
        self.state.assignment.members.iter().any(|m| m == me)
    }

    /// True when the group has no merger that `me` could wait for: none elected, the merger
    /// resigned or left, or nothing read from it for `timeout` µs.
    pub fn merger_gone(&self, me: &str, now: i64, timeout: i64) -> bool {
        let state = &self.state;
        match &state.leader {
            None => true,
            Some(leader) if leader == me => false,
            Some(leader) => {
                state.leases.get(leader).is_some_and(|l| l.leaving)
                    || self.seen.get(leader).is_none_or(|&at| now.saturating_sub(at) > timeout)
            }
        }
    }

    /// True when `me` is the current term's merger.
    pub fn merges(&self, me: &str) -> bool {
        self.state.leader.as_deref() == Some(me)
    }

    /// The newest saved state of `partition` that its owners reported, if any (a position).
    pub fn known_saved(&self, partition: u32) -> Option<i64> {
        self.state.saved.get(&partition).copied()
    }
}
