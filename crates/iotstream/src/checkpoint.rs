//! Checkpoints: the engine's whole state, saved atomically in a local embedded database (redb) in
//! `--state-dir`, so that a run resumes after a crash or a stop exactly where it was.
//!
//! A checkpoint holds the input positions, the operator (open windows, watermarks, the open
//! batch), the live views, the running totals, and how long the result file was. It is written
//! only between events, after everything emitted before it is durable, so restoring it and
//! replaying the input from its positions reproduces the same results: the result file is cut
//! back to its checkpointed length and the replay writes the same lines again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use iotstream_engine::aggregate::RejectCounts;
use iotstream_engine::live::SensorTable;
use iotstream_engine::state::{check_version, Snapshot, SNAPSHOT_VERSION};
use iotstream_engine::{EventTime, Operator};
use redb::{Database, ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const LATEST: &str = "latest";

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
}

/// The checkpoint database.
pub struct CheckpointStore {
    db: Database,
    path: PathBuf,
}

impl CheckpointStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<CheckpointStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create state directory {}", dir.display()))?;
        let path = dir.join("state.redb");
        let db = Database::create(&path)
            .with_context(|| format!("cannot open checkpoint store {}", path.display()))?;
        Ok(CheckpointStore { db, path })
    }

    /// The latest checkpoint, if any.
    pub fn load(&self) -> anyhow::Result<Option<EngineState>> {
        let read = self.db.begin_read().context("reading checkpoints")?;
        let table = match read.open_table(TABLE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e).context("reading checkpoints"),
        };
        let Some(bytes) = table.get(LATEST).context("reading checkpoints")? else { return Ok(None) };
        let snapshot: Snapshot<EngineState> = postcard::from_bytes(bytes.value())
            .with_context(|| format!("checkpoint in {} is unreadable", self.path.display()))?;
        check_version(snapshot.version)?;
        Ok(Some(snapshot.state))
    }

    /// Replaces the latest checkpoint atomically (and durably: redb syncs on commit).
    pub fn save(&self, state: &EngineState) -> anyhow::Result<()> {
        let bytes = postcard::to_stdvec(&Snapshot { version: SNAPSHOT_VERSION, state })
            .context("encoding the checkpoint")?;
        let write = self.db.begin_write().context("writing a checkpoint")?;
        {
            let mut table = write.open_table(TABLE).context("writing a checkpoint")?;
            table.insert(LATEST, bytes.as_slice()).context("writing a checkpoint")?;
        }
        write.commit().context("committing a checkpoint")?;
        Ok(())
    }
}

/// Refuses to resume a checkpoint taken on another input.
pub fn check_input(state: &EngineState, input: &str) -> anyhow::Result<()> {
    if state.input != input {
        bail!(
            "the state directory holds a checkpoint of {:?}, not {:?}; use another --state-dir or remove it",
            state.input,
            input
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert!(store.load().unwrap().is_none());
        let mut state = EngineState {
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
        store.save(&state).unwrap();
        state.readings = 8;
        store.save(&state).unwrap();
        drop(store);
        let loaded = CheckpointStore::open(dir.path()).unwrap().load().unwrap().unwrap();
        assert_eq!((loaded.readings, loaded.positions[&0], loaded.output_len), (8, 42, Some(100)));
        assert!(check_input(&loaded, "file:x").is_ok());
        assert!(check_input(&loaded, "file:y").is_err());
    }
}
