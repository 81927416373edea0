//! Scale-out on a real broker (Tansu, sqlite storage): a group of instances with `--scale-out`
//! whose membership changes under a paced producer, the broker and the merger killed
//! (`tests/scale_out/group.rs` says what and how it checks; the fault suite runs the same
//! scenario against the mutant that marks results written before it writes them).
//!
//! `SCALE_SEED=N` replays a schedule; every failure prints the seed and the schedule.

#![cfg(feature = "kafka")]

mod common;
#[path = "scale_out/group.rs"]
mod group;

#[test]
fn a_changing_group_gives_exactly_one_answer() {
    let _serial = common::serial();
    if let Err(failure) = group::changing_group(None) {
        panic!("{failure}");
    }
}
