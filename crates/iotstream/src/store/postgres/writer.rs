//! Writing to PostgreSQL: a thread of its own with one connection, each emission two statements.

use std::collections::HashMap;
use std::sync::mpsc::RecvTimeoutError;
use std::time::SystemTime;

use iotstream_engine::alerts::Notification;
use iotstream_engine::{EventTime, WindowResult};
use tokio_postgres::{Client, Statement};

use super::{classify, to_system_time, Url, MIGRATION_LOCK, REQUEST_TIMEOUT};
use crate::signals::{Stop, Stopped, STOP_SLICE};
use crate::store::error::StoreError;
use crate::store::schema::{self, int, WindowRow};
use crate::store::tables::{quote, QueryTable, StoredResult};
use crate::store::writer::Writer;

mod queries;

const UPSERT_WINDOWS: &str = concat!(
    "
    INSERT INTO windows AS w (window_start, window_end, time, final, revision, messages, sensors,
        rejected, rejected_by_reason, late, avg_temperature, min_temperature, max_temperature,
        partitions)
    SELECT s, e, e, f, r, m, n, j, x::jsonb, l, a, lo, hi, p::integer[]
    FROM unnest($1::timestamptz[], $2::timestamptz[], $3::boolean[], $4::integer[], $5::bigint[],
                $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::float8[], $11::float8[],
                $12::float8[], $13::text[]) AS u(s, e, f, r, m, n, j, x, l, a, lo, hi, p)",
    crate::upsert_window_rule!()
);

const UPSERT_STATES: &str = concat!(
    "
    INSERT INTO window_states AS t (window_start, window_end, time, state, final, revision,
        messages, sensors, avg_temperature, min_temperature, max_temperature)
    SELECT s, e, e, st, f, r, m, n, a, lo, hi
    FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::boolean[], $5::integer[],
                $6::bigint[], $7::bigint[], $8::float8[], $9::float8[], $10::float8[])
         AS u(s, e, st, f, r, m, n, a, lo, hi)",
    crate::upsert_state_rule!()
);

/// One emission's rows, column by column, as `unnest` takes them.
#[derive(Default)]
struct Columns {
    start: Vec<SystemTime>,
    end: Vec<SystemTime>,
    is_final: Vec<bool>,
    revision: Vec<i32>,
    messages: Vec<i64>,
    sensors: Vec<i64>,
    rejected: Vec<i64>,
    reasons: Vec<String>,
    late: Vec<i64>,
    avg: Vec<Option<f64>>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    partitions: Vec<Option<String>>,
    states: StateColumns,
}

#[derive(Default)]
struct StateColumns {
    start: Vec<SystemTime>,
    end: Vec<SystemTime>,
    state: Vec<String>,
    is_final: Vec<bool>,
    revision: Vec<i32>,
    messages: Vec<i64>,
    sensors: Vec<i64>,
    avg: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Columns {
    fn of(results: &[&WindowResult]) -> Columns {
        let mut columns = Columns::default();
        for result in results {
            columns.push(result);
        }
        columns
    }

    fn push(&mut self, result: &WindowResult) {
        let (start, end) = (to_system_time(result.window_start), to_system_time(result.window_end));
        let revision = i32::try_from(result.revision).unwrap_or(i32::MAX);
        let row = WindowRow::of(result);
        self.start.push(start);
        self.end.push(end);
        self.is_final.push(result.is_final);
        self.revision.push(revision);
        self.messages.push(int(result.messages));
        self.sensors.push(int(result.sensors));
        self.rejected.push(int(result.rejected));
        self.reasons.push(row.reasons);
        self.late.push(row.late);
        self.avg.push(row.avg);
        self.min.push(row.min);
        self.max.push(row.max);
        self.partitions.push(result.partitions.as_ref().map(|p| array_literal(p)));
        for state in &result.states {
            let s = &mut self.states;
            s.start.push(start);
            s.end.push(end);
            s.state.push(state.state.clone());
            s.is_final.push(result.is_final);
            s.revision.push(revision);
            s.messages.push(int(state.messages));
            s.sensors.push(int(state.sensors));
            s.avg.push(state.avg_temperature);
            s.min.push(state.min_temperature);
            s.max.push(state.max_temperature);
        }
    }
}

/// `{0,1,2}`: an integer array as text (`unnest` cannot take an array of arrays).
fn array_literal(partitions: &[i32]) -> String {
    let items: Vec<String> = partitions.iter().map(i32::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// What the sink asks of the writing thread.
enum Request {
    Write(Box<Columns>),
    /// Rows before a time, from the seed's tables and these queries' tables.
    Prune(SystemTime, Vec<String>),
    Alerts(Vec<AlertRow>),
    Prepare(Vec<QueryTable>),
    Queries(Vec<StoredResult>),
}

/// One alert notification's columns.
struct AlertRow {
    time: SystemTime,
    rule: String,
    key: String,
    status: &'static str,
    severity: String,
    value: f64,
    threshold: f64,
    window_start: Option<SystemTime>,
    window_end: Option<SystemTime>,
    fingerprint: String,
    sequence: i64,
}

impl AlertRow {
    fn of(note: &Notification) -> AlertRow {
        let r = &note.record;
        AlertRow {
            time: to_system_time(r.at),
            rule: r.rule.clone(),
            key: r.key.clone(),
            status: r.status.as_str(),
            severity: r.severity.clone(),
            value: r.value,
            threshold: r.threshold,
            window_start: r.window_start.map(to_system_time),
            window_end: r.window_end.map(to_system_time),
            fingerprint: r.fingerprint.clone(),
            sequence: i64::try_from(note.sequence).unwrap_or(i64::MAX),
        }
    }
}

const INSERT_ALERT: &str = "
    INSERT INTO alerts (time, rule, key, status, severity, value, threshold, window_start, window_end,
        fingerprint, sequence)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (time, fingerprint, sequence) DO NOTHING";

struct Job {
    request: Request,
    reply: std::sync::mpsc::Sender<Result<u64, StoreError>>,
}

/// Writes results into one PostgreSQL database, from a thread of its own.
pub struct PostgresWriter {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// The SQL queries' tables (pruned with the rest).
    tables: Vec<String>,
    /// The run's stop: waiting for the database's answer gives way to it.
    stop: Stop,
}

impl PostgresWriter {
    /// Connects and brings the schema up to date (failing now if either fails), then serves. A
    /// stop asked for meanwhile (a database that does not answer, a migration waiting for another
    /// writer's lock) ends the wait at once: this is start-up.
    pub fn open(url: &Url, stop: &Stop) -> Result<PostgresWriter, StoreError> {
        let (jobs, requests) = tokio::sync::mpsc::unbounded_channel();
        let (ready, started) = std::sync::mpsc::channel();
        let url = url.clone();
        std::thread::Builder::new()
            .name("store-postgres".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match runtime {
                    Ok(runtime) => runtime.block_on(serve(url, requests, ready)),
                    Err(e) => {
                        drop(ready.send(Err(StoreError::Failed(format!("cannot start a runtime: {e}")))))
                    }
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the store's thread: {e}")))?;
        let writer = PostgresWriter { jobs, tables: Vec::new(), stop: stop.clone() };
        await_answer(&started, || stop.check())?.map(|()| writer)
    }

    /// Asks the writing thread, and waits for its answer until the stop is overdue: a request in
    /// flight (a connection attempt, a commit the server does not answer) then goes on alone,
    /// and what it commits, if anything, is upserted again by the next run's replay.
    fn ask(&self, request: Request) -> Result<u64, StoreError> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.jobs.send(Job { request, reply }).map_err(|_| stopped())?;
        await_answer(&answer, || self.stop.give_way())?
    }
}

/// The answer on `answer`, looking at `stop` (which says when to give way) in between.
fn await_answer<T>(
    answer: &std::sync::mpsc::Receiver<T>,
    stop: impl Fn() -> Result<(), Stopped>,
) -> Result<T, StoreError> {
    loop {
        match answer.recv_timeout(STOP_SLICE) {
            Ok(answered) => return Ok(answered),
            Err(RecvTimeoutError::Timeout) => stop()?,
            Err(RecvTimeoutError::Disconnected) => return Err(stopped()),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Failed("the store's thread stopped".into())
}

impl Writer for PostgresWriter {
    fn write(&mut self, results: &[&WindowResult]) -> Result<(), StoreError> {
        self.ask(Request::Write(Box::new(Columns::of(results)))).map(drop)
    }

    fn prune(&mut self, before: EventTime) -> Result<u64, StoreError> {
        self.ask(Request::Prune(to_system_time(before), self.tables.clone()))
    }

    fn write_alerts(&mut self, alerts: &[Notification]) -> Result<(), StoreError> {
        self.ask(Request::Alerts(alerts.iter().map(AlertRow::of).collect())).map(drop)
    }

    fn prepare_queries(&mut self, tables: &[QueryTable]) -> Result<(), StoreError> {
        self.ask(Request::Prepare(tables.to_vec()))?;
        self.tables = tables.iter().map(QueryTable::table).collect();
        Ok(())
    }

    fn write_queries(&mut self, results: &[StoredResult]) -> Result<(), StoreError> {
        self.ask(Request::Queries(results.to_vec())).map(drop)
    }
}

/// A connection with its statements prepared.
struct Session {
    client: Client,
    windows: Statement,
    states: Statement,
    /// Each SQL query's delete and upsert, prepared on first use.
    queries: HashMap<String, (Statement, Statement)>,
}

impl Session {
    async fn open(url: &Url) -> Result<Session, StoreError> {
        let client = url.connect().await?;
        let prepare = |e: tokio_postgres::Error| classify(&e, "cannot prepare the store's statements");
        let windows = client.prepare(UPSERT_WINDOWS).await.map_err(prepare)?;
        let states = client.prepare(UPSERT_STATES).await.map_err(prepare)?;
        Ok(Session { client, windows, states, queries: HashMap::new() })
    }

    async fn write_alerts(&mut self, rows: &[AlertRow]) -> Result<u64, tokio_postgres::Error> {
        let tx = self.client.transaction().await?;
        let insert = tx.prepare(INSERT_ALERT).await?;
        for r in rows {
            tx.execute(
                &insert,
                &[
                    &r.time,
                    &r.rule,
                    &r.key,
                    &r.status,
                    &r.severity,
                    &r.value,
                    &r.threshold,
                    &r.window_start,
                    &r.window_end,
                    &r.fingerprint,
                    &r.sequence,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn write(&mut self, columns: &Columns) -> Result<u64, tokio_postgres::Error> {
        let c = columns;
        let s = &columns.states;
        let tx = self.client.transaction().await?;
        tx.execute(
            &self.windows,
            &[
                &c.start,
                &c.end,
                &c.is_final,
                &c.revision,
                &c.messages,
                &c.sensors,
                &c.rejected,
                &c.reasons,
                &c.late,
                &c.avg,
                &c.min,
                &c.max,
                &c.partitions,
            ],
        )
        .await?;
        if !s.state.is_empty() {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
                &s.start,
                &s.end,
                &s.state,
                &s.is_final,
                &s.revision,
                &s.messages,
                &s.sensors,
                &s.avg,
                &s.min,
                &s.max,
            ];
            tx.execute(&self.states, &params).await?;
        }
        tx.commit().await?;
        Ok(c.start.len() as u64)
    }

    async fn prune(&mut self, before: SystemTime, tables: &[String]) -> Result<u64, tokio_postgres::Error> {
        let tx = self.client.transaction().await?;
        for table in tables {
            tx.execute(&format!("DELETE FROM {} WHERE time < $1", quote(table)), &[&before]).await?;
        }
        tx.execute("DELETE FROM window_states WHERE time < $1", &[&before]).await?;
        let windows = tx.execute("DELETE FROM windows WHERE time < $1", &[&before]).await?;
        tx.commit().await?;
        Ok(windows)
    }
}

/// The writing thread: connects, migrates, reports readiness, then answers requests until the
/// sink is dropped.
async fn serve(
    url: Url,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<Job>,
    ready: std::sync::mpsc::Sender<Result<(), StoreError>>,
) {
    let first = async {
        let mut client = url.connect().await?;
        migrate(&mut client).await?;
        Session::open(&url).await
    };
    let mut session = match first.await {
        Ok(session) => Some(session),
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Some(job) = requests.recv().await {
        let outcome = answer(&url, &mut session, &job.request).await;
        let _ = job.reply.send(outcome);
    }
}

/// Runs one request on the session (made again first if the last one failed); any failure drops
/// the session, so the next attempt starts on a fresh connection.
async fn answer(url: &Url, session: &mut Option<Session>, request: &Request) -> Result<u64, StoreError> {
    let mut current = match session.take() {
        Some(current) => current,
        None => Session::open(url).await?,
    };
    let work = async {
        let writing = |e: tokio_postgres::Error| classify(&e, "writing to the store failed");
        match request {
            Request::Write(columns) => current.write(columns).await.map_err(writing),
            Request::Prune(before, tables) => current.prune(*before, tables).await.map_err(writing),
            Request::Alerts(rows) => current.write_alerts(rows).await.map_err(writing),
            Request::Prepare(tables) => current.prepare_queries(tables).await,
            Request::Queries(results) => current.write_queries(results).await.map_err(writing),
        }
    };
    let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            Err(StoreError::Unavailable(format!("the store did not answer within {REQUEST_TIMEOUT:?}")))
        }
    };
    if outcome.is_ok() && !current.client.is_closed() {
        *session = Some(current);
    }
    outcome
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let fail = |e: tokio_postgres::Error| classify(&e, "cannot migrate the store's schema");
    let tx = client.transaction().await.map_err(fail)?;
    // Two processes starting at once: one migrates, the other waits and finds nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(fail)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS iotstream_schema (
             version integer PRIMARY KEY, description text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(fail)?;
    let version: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM iotstream_schema", &[])
        .await
        .map_err(fail)?
        .try_get(0)
        .map_err(fail)?;
    for migration in schema::pending(version).map_err(StoreError::Failed)? {
        tx.batch_execute(migration.postgres).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO iotstream_schema (version, description) VALUES ($1, $2)",
            &[&migration.version, &migration.description],
        )
        .await
        .map_err(fail)?;
        tracing::debug!(version = migration.version, "store schema migrated");
    }
    tx.commit().await.map_err(fail)
}

/// The database's writer (see [`PostgresWriter::open`]).
pub fn open_writer(url: &Url, stop: &Stop) -> Result<Box<dyn Writer>, StoreError> {
    Ok(Box::new(PostgresWriter::open(url, stop)?))
}
