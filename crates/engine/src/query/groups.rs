//! A query's window contents: its groups, each with its aggregates' states — the query's
//! implementation of [`Contents`], so that the engine's window machinery (slices, watermarks,
//! lateness, revisions, early results, shares, checkpoints) runs queries too.
//!
//! Groups are kept in the order they were first seen, with a hash index over their encoded
//! keys. With a group limit, a reading whose group is new when the limit is reached is refused
//! (`too_many_groups`) and no group is created: memory stays bounded whatever the data. Merging
//! (windows made of slices, scale-out shares) unites groups without a limit;
//! [`Groups::merge_limited`] merges a parsing thread's partial into a batch as if its readings
//! had come one by one, so the groups kept and the readings refused are those of one thread.

use std::fmt;

use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::operator::Contents;
use crate::query::agg::{Acc, Input, StateKind};
use crate::query::value::same_bytes;

/// One reading as a query's groups take it: its group's encoded key, and one input per
/// aggregate state.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The group key, encoded (see [`crate::query::value::encode_key`]).
    pub key: &'a [u8],
    /// Its hash.
    pub hash: u64,
    /// One input per state.
    pub inputs: &'a [Input],
    /// The kind of each state (to create a new group's).
    pub kinds: &'a [StateKind],
    /// At most this many groups (0: no limit).
    pub limit: u32,
}

/// One group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Its key, encoded.
    pub key: Box<[u8]>,
    /// Readings counted in it.
    pub rows: u64,
    /// Its aggregates' states.
    pub accs: Box<[Acc]>,
}

/// The groups of one window, slice or batch.
#[derive(Clone, Default)]
pub struct Groups {
    groups: Vec<Group>,
    /// Positions in `groups`, by key hash.
    index: HashTable<u32>,
}

impl Groups {
    /// The groups, in the order they were first seen.
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True without groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The position of the group with `key` and whether it is new: created with `accs` unless
    /// `limit` groups exist (0: no limit).
    #[inline]
    fn slot(
        &mut self,
        key: &[u8],
        hash: u64,
        accs: impl FnOnce() -> Box<[Acc]>,
        limit: u32,
    ) -> Option<(usize, bool)> {
        let groups = &self.groups;
        if let Some(&at) = self.index.find(hash, |&i| same_bytes(&groups[i as usize].key, key)) {
            return Some((at as usize, false));
        }
        if limit > 0 && self.groups.len() >= limit as usize {
            return None;
        }
        let at = self.groups.len();
        self.groups.push(Group { key: key.into(), rows: 0, accs: accs() });
        let groups = &self.groups;
        self.index.insert_unique(hash, at as u32, |&i| key_hash(&groups[i as usize].key));
        Some((at, true))
    }

    /// Merges `other` into these groups, creating groups only while fewer than `limit` exist
    /// (0: no limit); returns how many of `other`'s readings were refused for that.
    pub fn merge_limited(&mut self, other: &Groups, limit: u32) -> u64 {
        let mut refused = 0;
        for group in &other.groups {
            let accs = || group.accs.clone();
            match self.slot(&group.key, key_hash(&group.key), accs, limit) {
                // Created as a copy of the other's states.
                Some((at, true)) => self.groups[at].rows = group.rows,
                Some((at, false)) => {
                    let mine = &mut self.groups[at];
                    mine.rows += group.rows;
                    mine.accs.iter_mut().zip(group.accs.iter()).for_each(|(a, b)| a.merge(b));
                }
                None => refused += group.rows,
            }
        }
        refused
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        for (at, group) in self.groups.iter().enumerate() {
            let groups = &self.groups;
            self.index.insert_unique(key_hash(&group.key), at as u32, |&i| key_hash(&groups[i as usize].key));
        }
    }
}

/// The hash of an encoded key (XXH3: the same in every process, so nothing depends on a seed).
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl Contents for Groups {
    type Input<'a> = Row<'a>;
    /// False when the row's group could not be created (the limit).
    type Added = bool;
    type Late = ();
    type Carry = ();

    #[inline]
    fn add(&mut self, row: &Row<'_>) -> bool {
        let accs = || row.kinds.iter().map(|&k| Acc::new(k)).collect();
        let Some((at, _)) = self.slot(row.key, row.hash, accs, row.limit) else { return false };
        let group = &mut self.groups[at];
        group.rows += 1;
        for (acc, &input) in group.accs.iter_mut().zip(row.inputs) {
            acc.add(input);
        }
        true
    }

    fn merge(&mut self, other: &Groups) {
        self.merge_limited(other, 0);
    }

    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn count_late(_late: &mut (), _row: &Row<'_>) {}
}

/// Equal when they hold the same groups with the same states, in whatever order.
impl PartialEq for Groups {
    fn eq(&self, other: &Groups) -> bool {
        self.groups.len() == other.groups.len()
            && self.groups.iter().all(|group| {
                let hash = key_hash(&group.key);
                other.index.find(hash, |&i| other.groups[i as usize] == *group).is_some()
            })
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.groups).finish()
    }
}

/// Saved as the list of groups; the index is rebuilt on the way in.
impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.groups.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Groups, D::Error> {
        let mut groups = Groups { groups: Vec::deserialize(deserializer)?, index: HashTable::new() };
        groups.rebuild_index();
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(key: &'a [u8], inputs: &'a [Input], limit: u32) -> Row<'a> {
        Row { key, hash: key_hash(key), inputs, kinds: &[StateKind::Count, StateKind::Sum], limit }
    }

    fn feed(groups: &mut Groups, keys: &[&[u8]], limit: u32) -> u64 {
        let inputs = [Input::Present, Input::Num(1.5)];
        keys.iter().filter(|key| !groups.add(&row(key, &inputs, limit))).count() as u64
    }

    #[test]
    fn a_limit_refuses_new_groups_and_a_limited_merge_refuses_the_same_readings() {
        let keys: [&[u8]; 7] = [b"a", b"b", b"a", b"c", b"d", b"c", b"b"];
        let mut one_by_one = Groups::default();
        assert_eq!(feed(&mut one_by_one, &keys, 2), 3, "c, d, c refused");
        assert_eq!(one_by_one.len(), 2);
        for cut in 0..=keys.len() {
            let (mut first, mut second) = (Groups::default(), Groups::default());
            feed(&mut first, &keys[..cut], 0);
            feed(&mut second, &keys[cut..], 0);
            let mut merged = Groups::default();
            let refused = merged.merge_limited(&first, 2) + merged.merge_limited(&second, 2);
            assert_eq!((refused, &merged), (3, &one_by_one), "cut at {cut}");
        }
    }

    #[test]
    fn equality_ignores_order_and_the_index_survives_serde() {
        let (mut ab, mut ba) = (Groups::default(), Groups::default());
        feed(&mut ab, &[b"a", b"b"], 0);
        feed(&mut ba, &[b"b", b"a"], 0);
        assert_eq!(ab, ba);
        let bytes = postcard::to_stdvec(&ab).unwrap();
        let mut back: Groups = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, ab);
        feed(&mut back, &[b"a"], 2);
        assert_eq!(back.len(), 2, "found by the rebuilt index, not duplicated");
    }
}
