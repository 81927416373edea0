//! What the full scanner notes while it reads a message (where its values are), and the shape
//! learnt from it: the types of the fast path, whose reading lives in `shape.rs`.

/// Where the values of a message read by the full scanner are.
#[derive(Clone, Debug, Default)]
pub(super) struct Trace {
    /// Each value's start and end, its slot and whether it may be an object.
    pub(super) values: Vec<(u32, u32, Option<u16>, bool)>,
    /// Slots of wanted objects that were walked.
    pub(super) objects: Vec<u16>,
    /// The end of the top-level object.
    pub(super) end: usize,
    /// The scan finished and no key repeated: the shape may be learnt.
    pub(super) complete: bool,
}

impl Trace {
    pub(super) fn clear(&mut self) {
        self.values.clear();
        self.objects.clear();
        self.complete = false;
    }
}

/// A value in a shape: its slot, if wanted, and whether it may be an object.
pub(super) type Value = (Option<u16>, bool);

/// A learnt shape.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    /// The literal runs, back to back.
    pub(super) text: Vec<u8>,
    /// Each literal run's end in `text`, and the value after it (none after the last).
    pub(super) parts: Vec<(u32, Option<Value>)>,
    /// Slots of wanted objects the shape walks.
    pub(super) objects: Vec<u16>,
}
