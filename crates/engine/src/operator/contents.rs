//! What a window holds, as a trait: the window machinery (batches, event-time windows, scale-out
//! owners, the merger) is generic over it, so every kind of answer gets slicing, watermarks,
//! lateness, revisions, early results, shares and checkpoints from one implementation.
//!
//! The seed's [`Aggregate`](crate::Aggregate) is one implementation; a query's group map
//! ([`crate::query`]) is another. An implementation says how one input is added, how two
//! contents merge (exactly: merging must give the same contents in any order and grouping, which
//! is what makes answers independent of chunking, threads and crash points), and whether it holds
//! anything. Optional hooks let a kind keep state across the emissions of sliding windows (the
//! seed's carried distinct count) without the machinery knowing about it; by default there is
//! none and a window is simply the merge of its slices.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::slices::Slices;
use crate::window::WindowSpec;

/// The contents of one window (or of one slice of windows, or of one processing-time batch).
pub trait Contents: Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned {
    /// One input, as the operator counts it (the seed: a reading; a query: an evaluated row).
    type Input<'a>;
    /// What [`Contents::add`] reports (the seed: the states new to the reading's sensor; a
    /// query: whether the row's group could be created).
    type Added: Copy;
    /// Inputs that came too late for every window, as an operator counts them (the seed: by
    /// state); saved with the operator.
    type Late: Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned;
    /// State kept across the emissions of sliding windows (never saved: rebuilt from the slices).
    type Carry: Clone + Debug + Default;

    /// Counts one input.
    fn add(&mut self, input: &Self::Input<'_>) -> Self::Added;

    /// Adds everything in `other`, exactly as if its inputs had been added here.
    fn merge(&mut self, other: &Self);

    /// True when nothing has been counted.
    fn is_empty(&self) -> bool;

    /// Counts an input that is late for every window it belongs to.
    fn count_late(late: &mut Self::Late, input: &Self::Input<'_>);

    /// `input` (which `add` answered with `added`) went into the part of the slice starting at
    /// `slice` that every window over the slice holds: a carry covering that slice must see it.
    #[inline]
    fn carry_added(
        _carry: &mut Self::Carry,
        _spec: WindowSpec,
        _slice: i64,
        _input: &Self::Input<'_>,
        _added: Self::Added,
    ) {
    }

    /// The contents of the window starting at `start`, from the slices it spans. By default the
    /// merge of every part the window holds.
    fn combine(slices: Slices<'_, Self>, _carry: &mut Self::Carry, start: i64) -> Self {
        let end = slices.spec().end(start);
        let mut parts = slices.all(start, end).chain(slices.later(start));
        let mut combined = parts.next().cloned().unwrap_or_default();
        parts.for_each(|part| combined.merge(part));
        combined
    }

    /// The slices before `first_kept` have been forgotten.
    #[inline]
    fn carry_forget(_carry: &mut Self::Carry, _first_kept: i64) {}
}
