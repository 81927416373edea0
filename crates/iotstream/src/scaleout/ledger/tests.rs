//! The ledger's rules on hand-written control logs.

use super::*;
use crate::scaleout::records::{Change, Release};

const TIMEOUT: i64 = 6_000_000;

fn entry(instance: &str, record: Control) -> ControlEntry {
    ControlEntry { instance: instance.into(), record }
}

fn lease(owned: &[u32]) -> Control {
    Control::Lease(Lease { owned: owned.iter().map(|&p| (p, None)).collect(), ..Lease::default() })
}

/// Applies `records` in order at time 0, offsets from 0.
fn read(ledger: &mut Ledger, records: Vec<ControlEntry>) -> Vec<Applied> {
    records.into_iter().zip(0..).flat_map(|(e, offset)| ledger.apply(e, offset, 0)).collect()
}

/// A group of `members` with `a` as the merger of term 1 and the assignment it would write.
fn group(members: &[&str]) -> Ledger {
    let mut ledger = Ledger::starting(0);
    let mut log = vec![entry("a", Control::Claim { term: 1 })];
    log.extend(members.iter().map(|m| entry(m, lease(&[]))));
    read(&mut ledger, log);
    let assignment = ledger.next_assignment(ledger.changes(0, TIMEOUT), 6);
    read(&mut ledger, vec![entry("a", Control::Assign(assignment))]);
    ledger
}

#[test]
fn the_first_claim_of_a_term_wins_and_a_deposed_mergers_records_count_for_nothing() {
    let mut ledger = group(&["a", "b"]);
    assert_eq!(ledger.state().assignment.members, ["a", "b"]);
    let applied = read(
        &mut ledger,
        vec![entry("b", Control::Claim { term: 2 }), entry("a", Control::Claim { term: 2 })],
    );
    assert_eq!(applied, [Applied::Elected, Applied::Nothing]);
    assert!(ledger.merges("b"));
    // a, paused past its lease, writes as if it still merged: fenced by the log's order.
    let stale = Assignment { term: 1, version: 9, ..ledger.state().assignment.clone() };
    let published = Published { term: 1, through: 50, results: Vec::new(), file: None };
    let applied = read(
        &mut ledger,
        vec![
            entry("a", Control::Assign(stale)),
            entry("a", Control::Published(published)),
            entry("a", Control::Rotate { term: 1, next: 4 }),
        ],
    );
    assert_eq!(applied, [Applied::Nothing, Applied::Nothing, Applied::Nothing]);
    assert_eq!((ledger.state().assignment.version, ledger.state().mark, ledger.state().epoch), (1, 0, 0));
}

#[test]
fn assignments_change_only_with_the_membership() {
    let mut ledger = group(&["a", "b", "c"]);
    assert!(ledger.changes(0, TIMEOUT).is_empty(), "nobody came or went");
    // c stops cleanly; b falls silent; d comes.
    let leaving = Lease { leaving: true, ..Lease::default() };
    ledger.apply(entry("c", Control::Lease(leaving)), 10, 1_000_000);
    ledger.apply(entry("a", lease(&[])), 11, 7_000_000);
    ledger.apply(entry("d", lease(&[])), 12, 7_000_000);
    let changes = ledger.changes(7_000_000, TIMEOUT);
    assert_eq!(
        changes,
        [Change::Expelled("b".into()), Change::Left("c".into()), Change::Joined("d".into())],
        "b's last word was at 0, 7 s ago"
    );
    let next = ledger.next_assignment(changes, 6);
    assert_eq!(next.members, ["a", "d"]);
    assert!(next.slots.iter().all(|s| s.from.is_none()), "the partitions of b and c are free at once");
}

#[test]
fn a_partition_moving_from_a_live_owner_waits_for_its_release() {
    let mut ledger = group(&["a"]);
    assert_eq!(ledger.runnable("a").len(), 6);
    read(&mut ledger, vec![entry("b", lease(&[]))]);
    let next = ledger.next_assignment(ledger.changes(0, TIMEOUT), 6);
    let moving: Vec<u32> = (0..6).filter(|&p| next.slots[p as usize].owner.as_deref() == Some("b")).collect();
    assert_eq!(moving.len(), 3);
    assert!(next
        .slots
        .iter()
        .filter(|s| s.owner.as_deref() == Some("b"))
        .all(|s| s.from.as_deref() == Some("a")));
    read(&mut ledger, vec![entry("a", Control::Assign(next))]);
    assert!(ledger.runnable("b").is_empty(), "a has not released them yet");
    assert_eq!(ledger.runnable("a").len(), 3);
    let released =
        moving.iter().map(|&partition| Release { partition, version: 2, saved: Some(40) }).collect();
    read(&mut ledger, vec![entry("a", Control::Lease(Lease { released, ..Lease::default() }))]);
    assert_eq!(ledger.runnable("b").into_iter().collect::<Vec<_>>(), moving);
    assert_eq!(ledger.known_saved(moving[0]), Some(40));
}

#[test]
fn an_instance_starting_in_a_later_epoch_waits_for_the_state_carried_into_it() {
    let old = group(&["a", "b"]);
    let mut carried = old.state().clone();
    carried.epoch = 3;
    let mut joiner = Ledger::starting(3);
    assert!(!joiner.based());
    // b's lease and a claim landed before the state (the merger died after the rotation).
    let applied = read(
        &mut joiner,
        vec![
            entry("b", lease(&[1])),
            entry("b", Control::Claim { term: 2 }),
            entry("b", Control::State(Box::new(carried))),
        ],
    );
    assert_eq!(applied, [Applied::Based, Applied::Nothing, Applied::Elected]);
    assert!(joiner.merges("b"));
    assert_eq!(joiner.state().assignment.members, ["a", "b"]);
}

#[test]
fn rotations_leave_their_epoch_to_drain_until_a_snapshot_covers_it() {
    let mut ledger = group(&["a", "b"]);
    let applied = read(&mut ledger, vec![entry("a", Control::Rotate { term: 1, next: 1 })]);
    assert_eq!(applied, [Applied::Rotated { next: 1 }]);
    assert_eq!(ledger.state().drains.get(&0), Some(&vec!["a".to_string(), "b".to_string()]));
    assert!(!ledger.state_in_epoch(), "a new merger writes the state if the old one did not");
    let snapshot = Control::Snapshot { term: 1, covers: 0, state: Vec::new() };
    let applied = ledger.apply(entry("a", snapshot), 17, 0);
    assert_eq!(applied, [Applied::Snapshot { covers: 0 }]);
    assert!(ledger.state().drains.is_empty());
    assert_eq!(ledger.state().snapshot, Some(SnapshotAt { epoch: 1, offset: 17, covers: 0 }));
}

#[test]
fn the_merger_is_gone_when_silent_leaving_or_resigned() {
    let mut ledger = group(&["a", "b"]);
    assert!(!ledger.merger_gone("b", TIMEOUT, TIMEOUT));
    assert!(ledger.merger_gone("b", TIMEOUT + 1, TIMEOUT));
    assert!(!ledger.merger_gone("a", TIMEOUT + 1, TIMEOUT), "not to itself");
    read(&mut ledger, vec![entry("a", Control::Resign { term: 1 })]);
    assert!(ledger.merger_gone("b", 0, TIMEOUT));
}

#[test]
fn a_merger_back_from_a_pause_does_not_expel_itself() {
    let mut ledger = group(&["a", "b"]);
    ledger.apply(entry("b", lease(&[])), 10, 9_000_000);
    // a read nothing for 9 s (paused): b spoke just now, a's own last word looks old.
    assert!(ledger.changes(9_000_000, TIMEOUT).is_empty(), "the judge is alive");
}
