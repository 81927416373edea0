//! The sink's promises with a database in memory (retries, batches), and SQLite's upserts on a
//! real file: replays are idempotent and an older result never replaces a newer one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use iotstream_engine::result::WindowTag;
use iotstream_engine::StateResult;

use super::*;
use crate::sinks::{Emission, ResultSink as _};
use iotstream_engine::{EventTime, WindowResult};
use std::time::Duration;

/// A result as the engine makes them (states by average descending).
fn result(start: i64, is_final: bool, revision: u32, states: &[(&str, u64, f64)]) -> WindowResult {
    let mut result = WindowResult {
        record_type: WindowTag::Window,
        is_final,
        revision,
        window_start: EventTime(start * 1_000_000),
        window_end: EventTime((start + 60) * 1_000_000),
        messages: states.iter().map(|s| s.1).sum(),
        sensors: states.len() as u64,
        rejected: 1,
        rejected_by_reason: BTreeMap::from([("malformed_json".to_owned(), 1), ("late".to_owned(), 0)]),
        states: states
            .iter()
            .map(|&(state, messages, avg)| StateResult {
                state: state.to_owned(),
                messages,
                sensors: 1,
                avg_temperature: avg,
                min_temperature: avg - 1.0,
                max_temperature: avg + 1.0,
            })
            .collect(),
        partitions: None,
    };
    schema::sort_states(&mut result.states);
    result
}

/// A written result: its window start, final, revision.
type Written = (i64, bool, u32);

/// A database that fails as told, then records what it is given.
#[derive(Clone, Default)]
struct Flaky {
    failures: Arc<Mutex<Vec<StoreError>>>,
    written: Arc<Mutex<Vec<Vec<Written>>>>,
    attempts: Arc<Mutex<u32>>,
}

impl Writer for Flaky {
    fn write(&mut self, results: &[&WindowResult]) -> Result<(), StoreError> {
        *self.attempts.lock().unwrap() += 1;
        if let Some(error) = self.failures.lock().unwrap().pop() {
            return Err(error);
        }
        let batch = results.iter().map(|r| (r.window_start.0, r.is_final, r.revision)).collect();
        self.written.lock().unwrap().push(batch);
        Ok(())
    }

    fn prune(&mut self, _before: EventTime) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn write_alerts(&mut self, _alerts: &[iotstream_engine::alerts::Notification]) -> Result<(), StoreError> {
        Ok(())
    }

    fn prepare_queries(&mut self, _tables: &[super::tables::QueryTable]) -> Result<(), StoreError> {
        Ok(())
    }

    fn write_queries(&mut self, _results: &[super::tables::StoredResult]) -> Result<(), StoreError> {
        Ok(())
    }
}

fn quick() -> Backoff {
    Backoff { first: Duration::from_millis(1), max: Duration::from_millis(4), ..Backoff::default() }
}

#[test]
fn an_unavailable_database_is_waited_for_and_nothing_is_lost() {
    let flaky = Flaky::default();
    flaky.failures.lock().unwrap().extend((0..5).map(|_| StoreError::Unavailable("down".into())));
    let mut sink = StoreSink::new(Box::new(flaky.clone()), None, quick());
    sink.write(&Emission::of_windows(&[result(0, true, 0, &[("CA", 3, 60.0)])])).unwrap();
    assert_eq!(*flaky.attempts.lock().unwrap(), 6);
    assert_eq!(*flaky.written.lock().unwrap(), vec![vec![(0, true, 0)]]);
}

#[test]
fn a_wait_for_the_database_gives_way_to_a_stop() {
    let flaky = Flaky::default();
    flaky.failures.lock().unwrap().extend((0..1000).map(|_| StoreError::Unavailable("down".into())));
    let (trigger, stop) = crate::signals::Stop::manual();
    let backoff = Backoff { first: Duration::from_secs(60), stop, ..Backoff::default() };
    let mut sink = StoreSink::new(Box::new(flaky.clone()), None, backoff);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        trigger.send_replace(true);
    });
    let error = sink.write(&Emission::of_windows(&[result(0, true, 0, &[])])).unwrap_err();
    assert!(error.to_string().contains("stopped"), "{error}");
    assert!(flaky.written.lock().unwrap().is_empty(), "nothing written, so nothing acknowledged");
}

#[test]
fn other_errors_end_the_run_unacknowledged() {
    let flaky = Flaky::default();
    flaky.failures.lock().unwrap().push(StoreError::Failed("no such table".into()));
    let mut sink = StoreSink::new(Box::new(flaky.clone()), None, quick());
    let error = sink.write(&Emission::of_windows(&[result(0, true, 0, &[])])).unwrap_err();
    assert!(error.to_string().contains("no such table"), "{error}");
    assert!(flaky.written.lock().unwrap().is_empty());
}

#[test]
fn one_emission_is_one_batch_with_the_furthest_result_per_window() {
    let flaky = Flaky::default();
    let mut sink = StoreSink::new(Box::new(flaky.clone()), None, quick());
    let results = [
        result(0, false, 0, &[("CA", 1, 60.0)]),
        result(60, true, 0, &[("CA", 1, 60.0)]),
        result(0, true, 0, &[("CA", 2, 60.0)]),
        result(0, false, 0, &[("CA", 1, 60.0)]),
    ];
    sink.write(&Emission::of_windows(&results)).unwrap();
    assert_eq!(*flaky.written.lock().unwrap(), vec![vec![(0, true, 0), (60_000_000, true, 0)]]);
}

#[test]
fn retention_accepts_days_and_weeks() {
    assert_eq!(iotstream_engine::units::parse_positive_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    assert_eq!(iotstream_engine::units::parse_positive_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
    assert_eq!(iotstream_engine::units::parse_positive_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
    assert!(iotstream_engine::units::parse_positive_duration("0d").is_err());
    assert!(iotstream_engine::units::parse_positive_duration("soon").is_err());
}

#[test]
fn targets_are_checked_and_never_show_a_password() {
    assert!(StoreUrl::from_arg("none").unwrap().parse().unwrap().is_none());
    assert!(StoreUrl::from_arg("mysql://x").unwrap().parse().is_err());
    assert!(StoreUrl::from_arg("sqlite:").unwrap().parse().is_err());
    let url = StoreUrl::from_arg("postgres://ada:s3cret@db:5432/x").unwrap();
    assert!(!format!("{url:?}").contains("s3cret"));
    #[cfg(feature = "store-postgres")]
    assert_eq!(url.parse().unwrap().unwrap().to_string(), "postgres://ada@db:5432/x");
    #[cfg(feature = "store-sqlite")]
    assert_eq!(
        StoreUrl::from_arg("sqlite:///tmp/h.sqlite").unwrap().parse().unwrap().unwrap().to_string(),
        "sqlite:/tmp/h.sqlite"
    );
}

#[cfg(feature = "store-sqlite")]
mod sqlite {
    use super::*;
    use crate::store::sqlite::{SqliteReader, SqliteWriter};

    fn read_all(path: &std::path::Path, state: Option<&str>) -> Vec<WindowResult> {
        let state = state.and_then(|s| iotstream_engine::StateCode::from_bytes(s.as_bytes()));
        let range = Range { state, ..Range::default() };
        let mut windows = SqliteReader::open(path).unwrap().windows(&range, None, 100).unwrap();
        if state.is_some() {
            windows.retain(|w| !w.states.is_empty());
        }
        windows
    }

    #[test]
    fn replays_are_idempotent_and_older_results_never_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/h.sqlite");
        let mut writer = SqliteWriter::open(&path).unwrap();
        let partial = result(0, false, 0, &[("CA", 1, 50.0)]);
        let first = result(0, true, 0, &[("CA", 2, 55.0), ("TX", 1, 80.0)]);
        let revised = result(0, true, 1, &[("CA", 3, 56.0), ("TX", 1, 80.0)]);
        for step in [&partial, &first, &revised, &first, &partial, &revised] {
            writer.write(&[step]).unwrap();
        }
        let stored = read_all(&path, None);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0], revised, "the latest revision, whatever came after it");
        let texas = read_all(&path, Some("TX"));
        assert_eq!(texas[0].states.len(), 1);
        assert_eq!(texas[0].states[0].state, "TX");
        assert!(read_all(&path, Some("NY")).is_empty());

        // Opening again migrates nothing and keeps the rows.
        drop(writer);
        let mut writer = SqliteWriter::open(&path).unwrap();
        assert_eq!(read_all(&path, None), vec![revised.clone()]);
        assert_eq!(writer.prune(EventTime(61_000_000)).unwrap(), 1);
        assert!(read_all(&path, None).is_empty());
    }

    #[test]
    fn buckets_weigh_averages_by_readings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut writer = SqliteWriter::open(&path).unwrap();
        let a = result(0, true, 0, &[("CA", 1, 50.0), ("TX", 3, 70.0)]);
        let b = result(60, true, 0, &[("CA", 3, 60.0)]);
        writer.write(&[&a, &b]).unwrap();
        let reader = SqliteReader::open(&path).unwrap();
        let all = reader.buckets(&Range::default(), 3600).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].start, all[0].windows, all[0].messages), (0, 2, 7));
        let mean = all[0].avg_temperature.unwrap();
        assert!((mean - (50.0 + 3.0 * 70.0 + 3.0 * 60.0) / 7.0).abs() < 1e-9, "{mean}");
        let range = Range { state: iotstream_engine::StateCode::from_bytes(b"CA"), ..Range::default() };
        let california = reader.buckets(&range, 60).unwrap();
        assert_eq!(california.iter().map(|b| b.start).collect::<Vec<_>>(), vec![60, 120]);
        assert_eq!(california[1].avg_temperature, Some(60.0));
        assert_eq!((california[0].min_temperature, california[0].max_temperature), (Some(49.0), Some(51.0)));
    }

    #[test]
    fn a_store_from_a_newer_iotstream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        drop(SqliteWriter::open(&path).unwrap());
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute("INSERT INTO iotstream_schema VALUES (99, 'future', '')", []).unwrap();
        let error = SqliteWriter::open(&path).err().unwrap().to_string();
        assert!(error.contains("newer"), "{error}");
        assert!(SqliteReader::open(&path).is_err());
    }
}
