//! What the group's log holds, and how it is framed.
//!
//! Each epoch of the log is one topic with two partitions (see `group`): the **control**
//! partition, which every instance reads (leases, claims of the merger's term, assignments,
//! publication marks with the results they cover, epoch rotations, the group's state carried into
//! each new epoch, and the merger's snapshots), and the **data** partition, which only the merger
//! reads (owners' shares and partition clocks). Records are postcard with a format version; a
//! record larger than [`PART_BYTES`] (a snapshot with many sensors) goes as several parts that
//! the reader puts back together, so that no message nears a broker's size limit.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use iotstream_engine::merge::MergeRecord;
use iotstream_engine::operator::Contents;
use iotstream_engine::{Aggregate, EventTime, PartitionStatus, WindowResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The format of the group's records; a reader refuses newer ones.
pub const LOG_FORMAT: u32 = 1;
/// The largest piece of a record in one message.
pub const PART_BYTES: usize = 256 * 1024;
/// Records being put back together at most (older unfinished ones are dropped).
const ASSEMBLING: usize = 16;

/// An instance's proof of life, and what it runs (written every second, and at once when what it
/// says changes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The writer's wall clock (µs since the epoch), for people.
    pub at: i64,
    /// The last lease of an instance that stops: it has released everything it owned.
    pub leaving: bool,
    /// Partitions it reads, each with the position its newest saved state covers.
    pub owned: Vec<(u32, Option<i64>)>,
    /// Partitions it gave up, recently.
    pub released: Vec<Release>,
    /// The merger's view of the merge, for every instance's status (from the merger only).
    pub merge: Option<MergeStatus>,
}

/// A partition given up by its owner, its state saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The input partition.
    pub partition: u32,
    /// The assignment version that took it away.
    pub version: u64,
    /// The position the saved state covers (`None`: it never had one).
    pub saved: Option<i64>,
}

/// The merge as the merger sees it, for the other instances' status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeStatus {
    /// The global watermark.
    pub watermark: Option<EventTime>,
    /// Global windows held.
    pub open_windows: u64,
    /// Each input partition's clock as its owner last reported it.
    pub partitions: Vec<PartitionStatus>,
}

/// Who owns one input partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Its owner (`None`: nobody, before the first assignment).
    pub owner: Option<String>,
    /// The assignment version that gave it to this owner.
    pub since: u64,
    /// The previous owner, still alive, that must release it (save its state) first.
    pub from: Option<String>,
}

/// A change of membership: the only reason for an assignment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Change {
    /// An instance's first lease.
    Joined(String),
    /// An instance stopped and said so.
    Left(String),
    /// An instance wrote no lease for the lease timeout (as the merger judged).
    Expelled(String),
}

/// Who owns which input partition, as the merger decided on a change of membership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The merger's term.
    pub term: u64,
    /// Grows by one with each assignment.
    pub version: u64,
    /// The members, sorted.
    pub members: Vec<String>,
    /// One per input partition.
    pub slots: Vec<Slot>,
    /// Why (never empty but for version 0).
    pub changes: Vec<Change>,
}

/// Results the merger has written to every output, and how long its result file is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// The merger's term.
    pub term: u64,
    /// The publication sequence number of the last result written (results are numbered from
    /// 1 in the order the merge produces them).
    pub through: u64,
    /// The results, numbered `through - len + 1 ..= through` (for the others' live views).
    pub results: Vec<WindowResult>,
    /// The merger's result file and its length after them.
    pub file: Option<FileMark>,
}

/// An instance's result file (`--output`) and a length of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    /// The host and the file's full path: the same file across restarts.
    pub key: String,
    /// Its length in bytes.
    pub len: u64,
}

/// One record of the control partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Control {
    /// An instance is alive.
    Lease(Lease),
    /// An instance claims the merger's role for `term` (the first claim of a term wins).
    Claim {
        /// One more than the current term.
        term: u64,
    },
    /// The merger stops: the next claim need not wait for its lease to expire.
    Resign {
        /// Its term.
        term: u64,
    },
    /// Who owns which partition from now on.
    Assign(Assignment),
    /// The log goes on in epoch `next`.
    Rotate {
        /// The merger's term.
        term: u64,
        /// The next epoch.
        next: u32,
    },
    /// Results written.
    Published(Published),
    /// The group's state, carried into a new epoch (for instances that start reading there).
    State(Box<GroupState>),
    /// The merge after every data record of epochs up to `covers` (encoded merge state).
    Snapshot {
        /// The merger's term.
        term: u64,
        /// The last epoch whose data it covers.
        covers: u32,
        /// The merge state (see `merging`).
        state: Vec<u8>,
    },
}

/// Where the newest merge snapshot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotAt {
    /// The epoch whose control partition holds it.
    pub epoch: u32,
    /// The offset of its first message there.
    pub offset: i64,
    /// The last epoch whose data it covers.
    pub covers: u32,
}

/// What the control partition has said, up to some offset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The epoch being written.
    pub epoch: u32,
    /// The merger's term.
    pub term: u64,
    /// The merger of the term (`None` after it resigned, or before the first claim).
    pub leader: Option<String>,
    /// The latest assignment.
    pub assignment: Assignment,
    /// Each instance's latest lease.
    pub leases: BTreeMap<String, Lease>,
    /// Each partition's latest release, and by whom.
    pub released: BTreeMap<u32, (String, Release)>,
    /// Each partition's newest saved state, as its owners reported (a position).
    pub saved: BTreeMap<u32, i64>,
    /// The publication sequence number of the last result written.
    pub mark: u64,
    /// Each merger's result file as it last marked it.
    pub files: BTreeMap<String, u64>,
    /// The latest results published.
    pub recent: VecDeque<WindowResult>,
    /// The newest merge snapshot.
    pub snapshot: Option<SnapshotAt>,
    /// Epochs whose data partition is not covered by a snapshot yet, with the instances that were
    /// members when the log moved on: each writes that it switched (or leaves the group) before the
    /// merger reads on in the next epoch.
    pub drains: BTreeMap<u32, Vec<String>>,
}

/// A control record and its writer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlEntry {
    /// The writing instance.
    pub instance: String,
    /// The record.
    pub record: Control,
}

/// One record of the data partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub enum Data<C: Contents = Aggregate> {
    /// An owner's share, clock or window contents, under an assignment version.
    Merge {
        /// The assignment version under which the writer owned the partition.
        version: u64,
        /// For a clock: messages behind the partition's end, as the owner's consumer saw.
        lag: Option<i64>,
        /// The record.
        record: MergeRecord<C>,
    },
    /// The writer writes nothing more to this epoch.
    Switched,
}

/// A data record and its writer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "C: Contents")]
pub struct DataEntry<C: Contents = Aggregate> {
    /// The writing instance.
    pub instance: String,
    /// The record.
    pub data: Data<C>,
}

/// A record as it travels: whole, or one of its parts.
#[derive(Serialize, Deserialize)]
enum Frame {
    Whole(Vec<u8>),
    Part { id: u64, index: u32, count: u32, bytes: Vec<u8> },
}

/// The format version and the record, as written.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    format: u32,
    record: T,
}

/// Why bytes read are not a record.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// Not postcard of a record.
    #[error("not a record: {0}")]
    Garbled(#[from] postcard::Error),
    /// Written by a newer build.
    #[error("format {0} is newer than this build's ({LOG_FORMAT})")]
    Newer(u32),
}

/// `record` as the messages to write, in order (one, unless it is large).
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<Vec<u8>>, postcard::Error> {
    let bytes = postcard::to_stdvec(&Versioned { format: LOG_FORMAT, record })?;
    if bytes.len() <= PART_BYTES {
        return Ok(vec![postcard::to_stdvec(&Frame::Whole(bytes))?]);
    }
    let id = part_id();
    let count = u32::try_from(bytes.len().div_ceil(PART_BYTES)).unwrap_or(u32::MAX);
    let chunks = bytes.chunks(PART_BYTES).zip(0u32..);
    chunks
        .map(|(chunk, index)| postcard::to_stdvec(&Frame::Part { id, index, count, bytes: chunk.to_vec() }))
        .collect()
}

/// An identifier for the parts of one record: unique enough across instances and time.
fn part_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A record's parts so far (one slot per part), and the offset of its first part.
type Pieces = (i64, Vec<Option<Vec<u8>>>);

/// Puts records back together from the messages of one partition.
#[derive(Default)]
pub struct Assembler {
    /// Each record's parts so far.
    parts: HashMap<u64, Pieces>,
    /// Ids in the order their first part came, to drop the oldest unfinished ones.
    order: Vec<u64>,
}

impl Assembler {
    /// The record the message `bytes` at `offset` completes, if any, with the offset of its
    /// first part (where to read it again); an error for bytes that are no record.
    pub fn take<T: DeserializeOwned>(
        &mut self,
        bytes: &[u8],
        offset: i64,
    ) -> Result<Option<(T, i64)>, Unreadable> {
        let (whole, first) = match postcard::from_bytes::<Frame>(bytes)? {
            Frame::Whole(bytes) => (bytes, offset),
            Frame::Part { id, index, count, bytes } => match self.part(id, index, count, bytes, offset) {
                Some(done) => done,
                None => return Ok(None),
            },
        };
        let versioned: Versioned<T> = match postcard::from_bytes(&whole) {
            Ok(versioned) => versioned,
            // A newer format may have changed the record: say which, not "garbled".
            Err(error) => match postcard::from_bytes::<u32>(&whole) {
                Ok(format) if format > LOG_FORMAT => return Err(Unreadable::Newer(format)),
                _ => return Err(error.into()),
            },
        };
        if versioned.format > LOG_FORMAT {
            return Err(Unreadable::Newer(versioned.format));
        }
        Ok(Some((versioned.record, first)))
    }

    /// Keeps a part; the whole record and its first offset once its last part is in.
    fn part(
        &mut self,
        id: u64,
        index: u32,
        count: u32,
        bytes: Vec<u8>,
        offset: i64,
    ) -> Option<(Vec<u8>, i64)> {
        let (index, count) = (index as usize, count as usize);
        if index >= count {
            return None;
        }
        if !self.parts.contains_key(&id) {
            if self.order.len() >= ASSEMBLING {
                let oldest = self.order.remove(0);
                self.parts.remove(&oldest);
            }
            self.order.push(id);
        }
        let (_, parts) = self.parts.entry(id).or_insert_with(|| (offset, vec![None; count]));
        if let Some(place) = parts.get_mut(index) {
            *place = Some(bytes);
        }
        if parts.iter().any(Option::is_none) {
            return None;
        }
        self.order.retain(|&other| other != id);
        let (first, parts) = self.parts.remove(&id)?;
        Some((parts.into_iter().flatten().flatten().collect(), first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_records_go_whole_and_large_ones_in_parts() {
        let small = ControlEntry { instance: "a".into(), record: Control::Claim { term: 3 } };
        let frames = encode(&small).unwrap();
        assert_eq!(frames.len(), 1);
        let mut assembler = Assembler::default();
        assert_eq!(assembler.take::<ControlEntry>(&frames[0], 4).unwrap(), Some((small.clone(), 4)));

        let state = vec![7u8; 3 * PART_BYTES + 10];
        let large =
            ControlEntry { instance: "a".into(), record: Control::Snapshot { term: 1, covers: 2, state } };
        let frames = encode(&large).unwrap();
        assert_eq!(frames.len(), 4);
        let other = encode(&small).unwrap();
        let mut got = Vec::new();
        // Other records between the parts, as other writers' records would be.
        let messages = frames.iter().take(2).chain(&other).chain(frames.iter().skip(2));
        for (frame, offset) in messages.zip(10..) {
            got.extend(assembler.take::<ControlEntry>(frame, offset).unwrap());
        }
        assert_eq!(got, vec![(small, 12), (large, 10)]);
    }

    #[test]
    fn garbage_and_newer_formats_are_refused() {
        let mut assembler = Assembler::default();
        assert!(matches!(assembler.take::<ControlEntry>(b"\xff\xff\xff", 0), Err(Unreadable::Garbled(_))));
        let newer = postcard::to_stdvec(&Versioned { format: LOG_FORMAT + 1, record: 5u8 }).unwrap();
        let frame = postcard::to_stdvec(&Frame::Whole(newer)).unwrap();
        assert!(matches!(assembler.take::<ControlEntry>(&frame, 0), Err(Unreadable::Newer(_))));
    }
}
