//! Checkpoints: the engine's whole state, saved atomically in a local embedded database (redb) in
//! `--state-dir`, so that a run resumes after a crash or a stop exactly where it was.
//!
//! A checkpoint holds the input positions, the operator (open windows, watermarks, the open
//! batch), the live views, the running totals, and how long the result file was. It is written
//! only between events, after everything emitted before it is durable, so restoring it and
//! replaying the input from its positions reproduces the same results: the result file is cut
//! back to its checkpointed length and the replay writes the same lines again.
//!
//! Damage is survived where it can be: the store keeps two checkpoints, in two tables written in
//! turn, so that saving one never touches the other. Each record carries a generation (which of
//! the two is newer) and a checksum over it all; a record that fails its checksum is never used,
//! and the other one is, with a warning. A store that cannot be read at all is reported with
//! what to do about it. The directory is locked for the life of the process, so a second process
//! on the same state directory is refused instead of corrupting the first one's state.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::alerts::AlertsSnapshot;
use iotstream_engine::live::SensorTable;
use iotstream_engine::state::{
    check_version, check_windows_version, Snapshot, SnapshotError, SLICED_WINDOWS_SINCE, SNAPSHOT_VERSION,
};
use iotstream_engine::{EventTime, Operator};
use redb::{Database, ReadableDatabase as _, TableDefinition, TableHandle as _};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// Why the checkpoint store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The state directory cannot be made.
    #[error("cannot create state directory {}", .dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state directory cannot be locked.
    #[error("cannot lock the state directory {}", .dir.display())]
    Lock {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the state directory.
    #[error("the state directory {} is in use by another iotstream process{holder}; stop it, or use another --state-dir", .dir.display())]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// ` (process N)`, when the lock file says who.
        holder: String,
    },
    /// The store cannot be used: damaged, or unreadable.
    #[error(
        "the checkpoint store {} is damaged or unreadable ({why}). Remove it to start afresh \
         without a checkpoint (the result file is then written anew, and the input read from its \
         start, or for Kafka from the group's committed offsets), or use another --state-dir",
        .path.display()
    )]
    Damaged {
        /// The store's file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A checkpoint of another format than this build reads.
    #[error(transparent)]
    Format(#[from] SnapshotError),
    /// A checkpoint could not be encoded.
    #[error("encoding the checkpoint")]
    Encode(#[source] postcard::Error),
    /// A checkpoint could not be written.
    #[error("writing a checkpoint")]
    Write(#[source] redb::Error),
    /// A checkpoint could not be committed.
    #[error("committing a checkpoint")]
    Commit(#[source] redb::CommitError),
    /// The checkpoint is of another input than this run reads.
    #[error("the state directory holds a checkpoint of {found:?}, not {input:?}; use another --state-dir or remove it")]
    OtherInput {
        /// What the checkpoint read.
        found: String,
        /// What this run reads.
        input: String,
    },
}

/// Where a run's checkpoints go: the store, or (in the fault suite) a deliberately broken one
/// around it.
pub trait StateStore: Send {
    /// The newest good checkpoint, if any.
    fn load(&self) -> Result<Option<EngineState>, CheckpointError>;
    /// Saves `state` (lent mutably, so that a wrapper can change what is saved without a copy);
    /// `last`: the run's final checkpoint.
    fn save(&self, state: &mut EngineState, last: bool) -> Result<(), CheckpointError>;
}

impl StateStore for CheckpointStore {
    fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        CheckpointStore::load(self)
    }

    fn save(&self, state: &mut EngineState, _last: bool) -> Result<(), CheckpointError> {
        CheckpointStore::save(self, state)
    }
}

/// The two slots, one table each: a damaged page of one leaves the other readable.
const SLOTS: [TableDefinition<&str, &[u8]>; 2] =
    [TableDefinition::new("checkpoint-a"), TableDefinition::new("checkpoint-b")];
/// The key of the record in each slot.
const KEY: &str = "checkpoint";
/// Where builds before the slots kept their one checkpoint, without checksum: read if the slots
/// are empty, and removed by the next save.
const LEGACY: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const LEGACY_KEY: &str = "latest";

/// Everything a run needs to resume.
#[derive(Debug, Serialize, Deserialize)]
pub struct EngineState {
    /// What was being read ("file:…", "kafka:…"): a checkpoint resumes only the same input.
    pub input: String,
    /// Next position to read per partition (Kafka offset; line number for a file).
    pub positions: std::collections::BTreeMap<i32, i64>,
    /// The operator.
    pub operator: Operator,
    /// Live views.
    pub sensors: SensorTable,
    /// Rejections since start.
    pub rejected: RejectCounts,
    /// Readings counted since start.
    pub readings: u64,
    /// Rejected messages since start.
    pub rejected_count: u64,
    /// Results emitted since start.
    pub results: u64,
    /// Length of the result file when the checkpoint was taken (None when writing to stdout).
    pub output_len: Option<u64>,
    /// When it was taken (processing time).
    pub saved_at: EventTime,
    /// The alerts' state, the alerts file's length and the webhook's undelivered queue
    /// (`--rules`; snapshot format 2 on).
    pub alerts: Option<AlertsSnapshot>,
    /// The SQL queries' state (`--query`; snapshot format 3 on): the engine's saved queries,
    /// encoded, each with the fingerprint that a resumed run's queries must match. The seed's
    /// operator is idle (and saved blank) in such a run.
    pub queries: Option<Vec<u8>>,
}

/// [`EngineState`] as snapshot format 2 wrote it, before queries.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct EngineStateV2 {
    input: String,
    positions: std::collections::BTreeMap<i32, i64>,
    operator: Operator,
    sensors: SensorTable,
    rejected: RejectCounts,
    readings: u64,
    rejected_count: u64,
    results: u64,
    output_len: Option<u64>,
    saved_at: EventTime,
    alerts: Option<AlertsSnapshot>,
}

impl From<EngineStateV2> for EngineState {
    fn from(v2: EngineStateV2) -> EngineState {
        EngineState {
            input: v2.input,
            positions: v2.positions,
            operator: v2.operator,
            sensors: v2.sensors,
            rejected: v2.rejected,
            readings: v2.readings,
            rejected_count: v2.rejected_count,
            results: v2.results,
            output_len: v2.output_len,
            saved_at: v2.saved_at,
            alerts: v2.alerts,
            queries: None,
        }
    }
}

/// [`EngineState`] as snapshot format 1 wrote it, before alerts.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct EngineStateV1 {
    input: String,
    positions: std::collections::BTreeMap<i32, i64>,
    operator: Operator,
    sensors: SensorTable,
    rejected: RejectCounts,
    readings: u64,
    rejected_count: u64,
    results: u64,
    output_len: Option<u64>,
    saved_at: EventTime,
}

impl From<EngineStateV1> for EngineState {
    fn from(v1: EngineStateV1) -> EngineState {
        EngineState {
            input: v1.input,
            positions: v1.positions,
            operator: v1.operator,
            sensors: v1.sensors,
            rejected: v1.rejected,
            readings: v1.readings,
            rejected_count: v1.rejected_count,
            results: v1.results,
            output_len: v1.output_len,
            saved_at: v1.saved_at,
            alerts: None,
            queries: None,
        }
    }
}

/// Decodes a snapshot of any format this build reads: a newer one is refused, formats 1 and 2
/// are read in their own shapes.
fn decode_snapshot(bytes: &[u8]) -> Result<Result<EngineState, postcard::Error>, CheckpointError> {
    let version = match postcard::take_from_bytes::<u32>(bytes) {
        Ok((version, _)) => version,
        Err(error) => return Ok(Err(error)),
    };
    check_version(version)?;
    let decoded = match version {
        1 => postcard::from_bytes::<Snapshot<EngineStateV1>>(bytes).map(|s| s.state.into()),
        2 => postcard::from_bytes::<Snapshot<EngineStateV2>>(bytes).map(|s| s.state.into()),
        _ => postcard::from_bytes::<Snapshot<EngineState>>(bytes).map(|s| s.state),
    };
    match decoded {
        Ok(state) => {
            check_windows_version(version, holds_windows(&state))?;
            Ok(Ok(state))
        }
        Err(error) => {
            // Whole (the checksum matched) yet undecodable: an older build's window layout is
            // refused with what to do, not skipped as damage.
            refuse_old_windows(bytes)?;
            Ok(Err(error))
        }
    }
}

/// The checkpoint database.
pub struct CheckpointStore {
    db: Database,
    path: PathBuf,
    /// The state directory's lock, held as long as the store is open.
    _lock: File,
    /// Which slot holds the newest good checkpoint, once the slots have been read.
    newest: Mutex<Option<Newest>>,
}

/// The newest good checkpoint: in which slot, and its generation (`None`: there is none).
type Newest = Option<(usize, u64)>;

/// What one slot holds.
enum Record {
    Empty,
    Good {
        generation: u64,
        state: Box<EngineState>,
    },
    /// Present, but unreadable or failing its checksum: why.
    Damaged(String),
}

impl CheckpointStore {
    /// Opens (creating if needed) the store in `dir`, after locking the directory.
    pub fn open(dir: &Path) -> Result<CheckpointStore, CheckpointError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| CheckpointError::CreateDir { dir: dir.to_owned(), source })?;
        let lock = lock(dir)?;
        let path = dir.join("state.redb");
        let db = Database::create(&path).map_err(|e| damaged(&path, &e))?;
        Ok(CheckpointStore { db, path, _lock: lock, newest: Mutex::new(None) })
    }

    /// The newest good checkpoint, if any. If one of the two is damaged, the other is used, with
    /// a warning; if the store itself is unreadable, or every checkpoint in it damaged, the error
    /// says what to do.
    pub fn load(&self) -> Result<Option<EngineState>, CheckpointError> {
        let mut good = None;
        let mut problems = Vec::new();
        for (slot, table) in SLOTS.iter().enumerate() {
            match self.read_slot(*table)? {
                Record::Empty => {}
                Record::Damaged(why) => problems.push(format!("{}: {why}", table.name())),
                Record::Good { generation, state } => {
                    if good.as_ref().is_none_or(|(_, newest, _)| generation > *newest) {
                        good = Some((slot, generation, state));
                    }
                }
            }
        }
        let Some((slot, generation, state)) = good else {
            if !problems.is_empty() {
                return Err(damaged(&self.path, &problems.join("; ")));
            }
            *self.known() = Some(None);
            return self.read_legacy();
        };
        if !problems.is_empty() {
            tracing::warn!(
                file = %self.path.display(), problem = %problems.join("; "), saved_at = %state.saved_at,
                "one of the two checkpoints is damaged; resuming from the other one"
            );
        }
        *self.known() = Some(Some((slot, generation)));
        Ok(Some(*state))
    }

    /// Saves `state` atomically and durably (redb syncs on commit) into the slot that does not
    /// hold the newest good checkpoint, which therefore survives whatever happens to this save.
    pub fn save(&self, state: &EngineState) -> Result<(), CheckpointError> {
        let known = *self.known();
        let newest = match known {
            Some(newest) => newest,
            None => self.find_newest()?,
        };
        let (slot, generation) = match newest {
            Some((slot, generation)) => (1 - slot, generation + 1),
            None => (0, 1),
        };
        let record = encode(generation, state)?;
        let failed = |e: redb::Error| CheckpointError::Write(e);
        let write = self.db.begin_write().map_err(|e| failed(e.into()))?;
        {
            let mut table = write.open_table(SLOTS[slot]).map_err(|e| failed(e.into()))?;
            table.insert(KEY, record.as_slice()).map_err(|e| failed(e.into()))?;
        }
        write.delete_table(LEGACY).map_err(|e| failed(e.into()))?;
        write.commit().map_err(CheckpointError::Commit)?;
        *self.known() = Some(Some((slot, generation)));
        Ok(())
    }

    fn known(&self) -> MutexGuard<'_, Option<Newest>> {
        self.newest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the slots for their generations (a save before any load).
    fn find_newest(&self) -> Result<Newest, CheckpointError> {
        let _ = self.load()?;
        Ok(self.known().unwrap_or(None))
    }

    /// One slot's record, checked.
    fn read_slot(&self, table: TableDefinition<&str, &[u8]>) -> Result<Record, CheckpointError> {
        let read = self.db.begin_read().map_err(|e| damaged(&self.path, &e))?;
        let table = match read.open_table(table) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Record::Empty),
            Err(e) => return Ok(Record::Damaged(e.to_string())),
        };
        match table.get(KEY) {
            Ok(Some(bytes)) => decode(bytes.value()),
            Ok(None) => Ok(Record::Empty),
            Err(e) => Ok(Record::Damaged(e.to_string())),
        }
    }

    /// The one checkpoint of a store written before the slots, if there is one.
    fn read_legacy(&self) -> Result<Option<EngineState>, CheckpointError> {
        let read = self.db.begin_read().map_err(|e| damaged(&self.path, &e))?;
        let table = match read.open_table(LEGACY) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(damaged(&self.path, &e)),
        };
        let Some(bytes) = table.get(LEGACY_KEY).map_err(|e| damaged(&self.path, &e))? else {
            return Ok(None);
        };
        let state = decode_snapshot(bytes.value())?.map_err(|e| damaged(&self.path, &e))?;
        Ok(Some(state))
    }
}

/// A record for `state`: its checksum (XXH3 of the rest, 8 bytes), its generation (8 bytes, little
/// endian like the checksum), then the snapshot.
fn encode(generation: u64, state: &EngineState) -> Result<Vec<u8>, CheckpointError> {
    // The checksum's place, zero for now, then the generation: the snapshot goes after them.
    let header = [[0; 8], generation.to_le_bytes()].concat();
    let mut record = postcard::to_extend(&Snapshot { version: SNAPSHOT_VERSION, state }, header)
        .map_err(CheckpointError::Encode)?;
    let checksum = xxh3_64(&record[8..]);
    record[..8].copy_from_slice(&checksum.to_le_bytes());
    Ok(record)
}

/// Checks and decodes a record; an error only for a snapshot of a newer format (which must be
/// refused, not skipped).
fn decode(record: &[u8]) -> Result<Record, CheckpointError> {
    let Some((checksum, checked)) = record.split_first_chunk::<8>() else {
        return Ok(Record::Damaged(format!("{} bytes, too short", record.len())));
    };
    let Some((generation, snapshot)) = checked.split_first_chunk::<8>() else {
        return Ok(Record::Damaged(format!("{} bytes, too short", record.len())));
    };
    if xxh3_64(checked) != u64::from_le_bytes(*checksum) {
        return Ok(Record::Damaged("checksum mismatch".into()));
    }
    let state = match decode_snapshot(snapshot)? {
        Ok(state) => state,
        Err(e) => return Ok(Record::Damaged(format!("cannot decode: {e}"))),
    };
    Ok(Record::Good { generation: u64::from_le_bytes(*generation), state: Box::new(state) })
}

/// True when `state` holds event-time windows, whose layout changed in format
/// [`SLICED_WINDOWS_SINCE`].
fn holds_windows(state: &EngineState) -> bool {
    !matches!(state.operator, Operator::Batches(_))
}

/// The error for a snapshot of a format before [`SLICED_WINDOWS_SINCE`] that the current types
/// cannot decode: it held event-time windows (nothing else changed since).
fn refuse_old_windows(snapshot: &[u8]) -> Result<(), SnapshotError> {
    match postcard::take_from_bytes::<u32>(snapshot) {
        Ok((found, _)) if found < SLICED_WINDOWS_SINCE => Err(SnapshotError::OldWindows { found }),
        _ => Ok(()),
    }
}

/// The error for a store that cannot be used, with what to do about it.
fn damaged(path: &Path, error: &dyn std::fmt::Display) -> CheckpointError {
    CheckpointError::Damaged { path: path.to_owned(), why: error.to_string() }
}

/// Locks `dir` for this process (until it ends), writing the process id into the lock file so
/// that a second process can say who holds it.
fn lock(dir: &Path) -> Result<File, CheckpointError> {
    let path = dir.join("lock");
    let cannot = |source| CheckpointError::Lock { dir: dir.to_owned(), source };
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            return Err(CheckpointError::InUse { dir: dir.to_owned(), holder });
        }
        Err(TryLockError::Error(e)) => return Err(cannot(e)),
    }
    file.set_len(0).map_err(cannot)?;
    write!(file, "{}", std::process::id()).map_err(cannot)?;
    Ok(file)
}

/// Refuses to resume a checkpoint taken on another input.
pub fn check_input(state: &EngineState, input: &str) -> Result<(), CheckpointError> {
    if state.input != input {
        return Err(CheckpointError::OtherInput { found: state.input.clone(), input: input.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(readings: u64, input: &str) -> EngineState {
        EngineState {
            input: input.into(),
            positions: [(0, 42)].into(),
            operator: Operator::Batches(iotstream_engine::MicroBatches::new(EventTime(5))),
            sensors: SensorTable::default(),
            rejected: RejectCounts::default(),
            readings,
            rejected_count: 0,
            results: 1,
            output_len: Some(100),
            saved_at: EventTime(9),
            alerts: None,
            queries: None,
        }
    }

    /// A store in `dir` holding two checkpoints: 1 reading, then 2 (the newest).
    fn two_checkpoints(dir: &Path) {
        let store = CheckpointStore::open(dir).unwrap();
        store.save(&state(1, "file:older-checkpoint")).unwrap();
        store.save(&state(2, "file:newest-checkpoint")).unwrap();
    }

    /// Damages every copy of `marker` in the store's file; how many there were.
    fn corrupt(dir: &Path, marker: &[u8]) -> usize {
        let path = dir.join("state.redb");
        let mut bytes = std::fs::read(&path).unwrap();
        let starts: Vec<usize> =
            bytes.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).collect();
        for &i in &starts {
            bytes[i] ^= 0x20;
        }
        std::fs::write(&path, bytes).unwrap();
        starts.len()
    }

    fn load(dir: &Path) -> Result<Option<EngineState>, CheckpointError> {
        CheckpointStore::open(dir)?.load()
    }

    fn says_what_to_do(error: &CheckpointError, dir: &Path) {
        let message = error.to_string();
        let file = dir.join("state.redb").display().to_string();
        for words in [file.as_str(), "damaged", "Remove it", "another --state-dir"] {
            assert!(message.contains(words), "{words:?} missing from: {message}");
        }
    }

    #[test]
    fn saves_and_loads_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert!(store.load().unwrap().is_none());
        for readings in 1..=5 {
            store.save(&state(readings, "file:x")).unwrap();
        }
        drop(store);
        let loaded = load(dir.path()).unwrap().unwrap();
        assert_eq!((loaded.readings, loaded.positions[&0], loaded.output_len), (5, 42, Some(100)));
        assert!(check_input(&loaded, "file:x").is_ok());
        assert!(check_input(&loaded, "file:y").is_err());
    }

    #[test]
    fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        two_checkpoints(dir.path());
        assert_eq!(corrupt(dir.path(), b"newest-checkpoint"), 1);
        let store = CheckpointStore::open(dir.path()).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!((loaded.readings, loaded.input.as_str()), (1, "file:older-checkpoint"));
        // The next save replaces the damaged one and keeps the good one.
        store.save(&state(3, "file:x")).unwrap();
        drop(store);
        assert_eq!(load(dir.path()).unwrap().unwrap().readings, 3);
        assert_eq!(corrupt(dir.path(), b"older-checkpoint"), 1, "the previous checkpoint is still there");
    }

    #[test]
    fn every_checkpoint_damaged_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        two_checkpoints(dir.path());
        corrupt(dir.path(), b"newest-checkpoint");
        corrupt(dir.path(), b"older-checkpoint");
        let error = load(dir.path()).unwrap_err();
        says_what_to_do(&error, dir.path());
        assert!(format!("{error:#}").contains("checksum mismatch"), "{error:#}");
    }

    #[test]
    fn a_truncated_store_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        two_checkpoints(dir.path());
        let file = File::options().write(true).open(dir.path().join("state.redb")).unwrap();
        for len in [4096, 100] {
            file.set_len(len).unwrap();
            says_what_to_do(&load(dir.path()).unwrap_err(), dir.path());
        }
    }

    #[test]
    fn a_second_process_on_the_same_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = CheckpointStore::open(dir.path()).unwrap();
        let error = format!("{:#}", CheckpointStore::open(dir.path()).err().unwrap());
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(
            error.contains(&format!("in use by another iotstream process (process {})", std::process::id()))
        );
        drop(first);
        assert!(CheckpointStore::open(dir.path()).is_ok(), "free again once the first has gone");
    }

    #[test]
    fn a_checkpoint_of_format_1_is_read_without_alert_state() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = EngineStateV1 {
            input: "file:x".into(),
            positions: [(0, 42)].into(),
            operator: Operator::Batches(iotstream_engine::MicroBatches::new(EventTime(5))),
            sensors: SensorTable::default(),
            rejected: RejectCounts::default(),
            readings: 7,
            rejected_count: 0,
            results: 1,
            output_len: Some(100),
            saved_at: EventTime(9),
        };
        let snapshot = postcard::to_stdvec(&Snapshot { version: 1, state: &v1 }).unwrap();
        let header = [[0; 8], 1u64.to_le_bytes()].concat();
        let mut record = [header, snapshot].concat();
        let checksum = xxh3_64(&record[8..]);
        record[..8].copy_from_slice(&checksum.to_le_bytes());
        {
            let db = Database::create(dir.path().join("state.redb")).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(SLOTS[0]).unwrap().insert(KEY, record.as_slice()).unwrap();
            write.commit().unwrap();
        }
        let state = load(dir.path()).unwrap().unwrap();
        assert_eq!((state.readings, state.output_len, state.alerts.is_none()), (7, Some(100), true));
    }

    #[test]
    fn a_checkpoint_of_format_2_is_read_as_a_run_without_queries() {
        let v2 = EngineStateV2 {
            input: "file:x".into(),
            positions: [(0, 42)].into(),
            operator: Operator::Batches(iotstream_engine::MicroBatches::new(EventTime(5))),
            sensors: SensorTable::default(),
            rejected: RejectCounts::default(),
            readings: 7,
            rejected_count: 0,
            results: 1,
            output_len: Some(100),
            saved_at: EventTime(9),
            alerts: None,
        };
        let snapshot = postcard::to_stdvec(&Snapshot { version: 2, state: &v2 }).unwrap();
        let state = decode_snapshot(&snapshot).unwrap().unwrap();
        assert_eq!((state.readings, state.positions[&0], state.queries.is_none()), (7, 42, true));
    }

    #[test]
    fn a_checkpoint_of_a_newer_format_is_refused() {
        let snapshot =
            postcard::to_stdvec(&Snapshot { version: SNAPSHOT_VERSION + 1, state: &state(2, "file:x") })
                .unwrap();
        let error = decode_snapshot(&snapshot).unwrap_err().to_string();
        assert!(error.contains("newer than this build"), "{error}");
    }

    #[test]
    fn event_time_windows_from_before_slicing_are_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("state.redb")).unwrap();
            let window = iotstream_engine::WindowSpec::new(60_000_000, 1_000_000).unwrap();
            let config = iotstream_engine::EventTimeConfig {
                window,
                max_delay: 0,
                allowed_lateness: 0,
                max_skew: None,
                idle_timeout: None,
            };
            let mut old = state(7, "file:x");
            old.operator = Operator::Windows(iotstream_engine::EventTimeWindows::new(config));
            let bytes = postcard::to_stdvec(&Snapshot { version: 1, state: &old }).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(LEGACY).unwrap().insert(LEGACY_KEY, bytes.as_slice()).unwrap();
            write.commit().unwrap();
        }
        let store = CheckpointStore::open(dir.path()).unwrap();
        let error = format!("{:#}", store.load().unwrap_err());
        assert!(
            error.contains("before stream slicing") && error.contains("remove the state directory"),
            "{error}"
        );
    }

    #[test]
    fn a_store_of_an_earlier_build_is_read_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("state.redb")).unwrap();
            let bytes = postcard::to_stdvec(&Snapshot { version: 1, state: &state(7, "file:x") }).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(LEGACY).unwrap().insert(LEGACY_KEY, bytes.as_slice()).unwrap();
            write.commit().unwrap();
        }
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap().unwrap().readings, 7);
        store.save(&state(8, "file:x")).unwrap();
        assert_eq!(store.load().unwrap().unwrap().readings, 8);
        let read = store.db.begin_read().unwrap();
        assert!(read.open_table(LEGACY).is_err(), "the old table is gone");
    }
}
