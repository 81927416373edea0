//! Slices: the readings between two consecutive window boundaries, each reading in exactly one,
//! a window being the exact merge of the slices it spans; and [`Slices`], the read-only view of
//! them that [`super::Contents`] implementations combine windows from.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::window::WindowSpec;

/// Readings of one slice that count in the same windows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Part<C> {
    pub(super) contents: C,
    /// Every window holding this part has been marked changed (final and partial) since the part
    /// last changed: the next reading need not mark them again. Cleared when one of them is taken,
    /// so that a reading marks each window once per emission, not once per reading.
    pub(super) marked: bool,
}

/// The readings between two consecutive window boundaries: each reading updates exactly one slice,
/// and a window is the exact merge of the slices it spans.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Slice<C> {
    /// Readings counted in every window over the slice.
    pub(super) all: Part<C>,
    /// Readings counted only in the later windows over the slice, by the first window start they
    /// count in: their own partition's watermark had passed the earlier windows' closing while
    /// the overall watermark had not (sliding windows only, and rare).
    pub(super) later: Vec<(i64, Part<C>)>,
    /// Per partition, the position of the first reading not yet covered by a final emission of
    /// every window over the slice: input before it may be acknowledged, input from it on must be
    /// read again after a crash.
    pub(super) pending: BTreeMap<u32, i64>,
}

/// The slices of an event-time operator, as [`super::Contents::combine`] and carries read them.
pub struct Slices<'a, C> {
    pub(super) spec: WindowSpec,
    pub(super) slices: &'a BTreeMap<i64, Slice<C>>,
}

impl<C> Clone for Slices<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Slices<'_, C> {}

impl<'a, C> Slices<'a, C> {
    /// The window shape.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// The parts every window over a slice holds, for the slices starting in `[from, to)`.
    pub fn all(&self, from: i64, to: i64) -> impl Iterator<Item = &'a C> + 'a {
        self.range(from, to).map(|slice| &slice.all.contents)
    }

    /// The parts of the window starting at `start` held only by the later windows over their
    /// slices (readings late for earlier windows), in the slices the window spans.
    pub fn later(&self, start: i64) -> impl Iterator<Item = &'a C> + 'a {
        let later = move |slice: &'a Slice<C>| {
            slice.later.iter().filter(move |(from, _)| *from <= start).map(|(_, part)| &part.contents)
        };
        self.range(start, self.spec.end(start)).flat_map(later)
    }

    fn range(&self, from: i64, to: i64) -> impl Iterator<Item = &'a Slice<C>> + 'a {
        let bounds = (Bound::Included(from), Bound::Excluded(to.max(from)));
        self.slices.range(bounds).map(|(_, slice)| slice)
    }
}
