//! The compiled set of wanted fields: every query's field paths (and the time field) in one
//! trie, each path's end numbered with the slot its value fills in a record.

use std::fmt;

use crate::parse::DEFAULT_MAX_LINE_BYTES;

/// A field by its path of keys: `payload.data.temperature` is `["payload", "data",
/// "temperature"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// A path from its keys.
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> FieldPath {
        FieldPath(keys.into_iter().map(Into::into).collect())
    }

    /// The last key: the name a group key's column gets.
    pub fn last(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }
}

impl fmt::Display for FieldPath {
    /// As SQL would write it: keys that are not plain identifiers in double quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain {
                f.write_str(key)?;
            } else {
                write!(f, "\"{}\"", key.replace('"', "\"\""))?;
            }
        }
        Ok(())
    }
}

/// What one message holds for one field, without borrows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slot {
    /// Absent, or on a path through a value that is not an object: NULL.
    Missing,
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (infinite if it overflows a double, as `1e400` does).
    Num(f64),
    /// A string without escapes: its bytes' start and length in the message.
    Str(u32, u32),
    /// A string with escapes, decoded: start and length in [`super::Records`]' own text.
    Owned(u32, u32),
    /// An object.
    Object,
    /// An array.
    Array,
    /// The field, or an object on its path, appears more than once in its object.
    Duplicate,
    /// A string whose escapes are no Unicode text (a lone surrogate, `"\udfff"`): valid JSON
    /// that no string value can hold, `malformed_json` for the queries that read it.
    BadString,
}

/// A trie node: one key of some wanted path.
#[derive(Clone, Debug, Default)]
pub(super) struct Node {
    /// The slot of the path ending here, if one does.
    pub(super) slot: Option<u16>,
    /// Keys below, with their nodes.
    pub(super) children: Vec<(Box<[u8]>, u16)>,
    /// The slots of this node and every node below it: a contiguous range (assigned depth
    /// first), all of them duplicate when this key repeats.
    pub(super) slots: std::ops::Range<u16>,
}

/// The compiled set of wanted fields; shared by every thread that parses.
#[derive(Clone, Debug)]
pub struct Extractor {
    pub(super) nodes: Vec<Node>,
    pub(super) width: usize,
    pub(super) time: Option<u16>,
    pub(super) max_line_bytes: usize,
}

impl Extractor {
    /// An extractor for `paths` (and the event time at `time`, if given), refusing messages
    /// longer than `max_line_bytes`. Returns it with the slot of each path, in order.
    pub fn new(
        paths: &[FieldPath],
        time: Option<&FieldPath>,
        max_line_bytes: usize,
    ) -> (Extractor, Vec<usize>) {
        let mut nodes = vec![Node::default()];
        let mut ends = Vec::new();
        for path in paths.iter().chain(time) {
            let mut at = 0;
            for key in &path.0 {
                let found = nodes[at].children.iter().find(|(k, _)| **k == *key.as_bytes()).map(|c| c.1);
                at = match found {
                    Some(child) => child as usize,
                    None => {
                        nodes.push(Node::default());
                        let child = (nodes.len() - 1) as u16;
                        nodes[at].children.push((key.as_bytes().into(), child));
                        child as usize
                    }
                };
            }
            ends.push(at);
        }
        let mut next = 0;
        number_slots(&mut nodes, 0, &ends, &mut next);
        let slot_of = |end: usize| nodes[end].slot.map_or(0, usize::from);
        let slots: Vec<usize> = ends[..paths.len()].iter().map(|&end| slot_of(end)).collect();
        let time = time.map(|_| slot_of(ends[paths.len()]) as u16);
        (Extractor { nodes, width: next as usize, time, max_line_bytes }, slots)
    }

    /// Slots per message.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The size limit.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor::new(&[], None, DEFAULT_MAX_LINE_BYTES).0
    }
}

/// Gives every node that ends a path a slot, depth first, so that each node's slots and its
/// descendants' are one range.
fn number_slots(nodes: &mut [Node], at: usize, ends: &[usize], next: &mut u16) {
    let first = *next;
    if ends.contains(&at) && at != 0 {
        nodes[at].slot = Some(*next);
        *next += 1;
    }
    let children: Vec<u16> = nodes[at].children.iter().map(|c| c.1).collect();
    for child in children {
        number_slots(nodes, child as usize, ends, next);
    }
    nodes[at].slots = first..*next;
}
