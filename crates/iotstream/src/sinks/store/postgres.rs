//! The store in PostgreSQL: tokio-postgres, a deadpool pool for readers, TLS through the system's
//! OpenSSL (native-tls).
//!
//! Writing happens on a thread of its own, with a small current-thread runtime: the pipeline
//! drives its sinks synchronously from inside its own runtime, where blocking on another async
//! client is not allowed, and a plain thread that owns one connection is the simplest thing that
//! works — the sink sends it a batch and waits for the commit (as the Kafka sinks wait for
//! acknowledgements). One connection is enough for one writer; it is dropped on any error and made
//! again on the next attempt, so an outage heals by itself. Each emission is one statement per
//! table (`INSERT … SELECT FROM unnest($1::timestamptz[], …)`), so a batch of hundreds of rows is
//! two round trips.
//!
//! TLS follows libpq's `sslmode`: `disable`; `prefer` (the default: TLS when the server offers it)
//! and `require` encrypt without checking the certificate; `verify-ca` checks it against the
//! system's roots or `sslrootcert=FILE`; `verify-full` checks the host name too. The password comes
//! from the URL or `PGPASSWORD`; the URL is shown as `postgres://USER@HOST:PORT/DB`, never whole.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use iotstream_engine::alerts::Notification;
use iotstream_engine::result::WindowTag;
use iotstream_engine::{EventTime, StateCode, StateResult, WindowResult};
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, Row, Statement};

use super::history::{attach_states, Bucket, Range, WindowKey};
use super::schema::{self, count, int, WindowRow};
use super::{StoreError, Writer};

/// Give up connecting after this long (the attempt is retried with backoff).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that has not committed after this long is abandoned with its connection and retried
/// (idempotent: a commit that happened anyway is upserted again with the same values).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Readers' connections.
const POOL_SIZE: usize = 4;
/// The advisory lock that serialises migrations between processes.
const MIGRATION_LOCK: i64 = 0x696f_7473_7472_6d31; // "iotstrm1"

/// A parsed `postgres://` URL.
#[derive(Clone)]
pub struct Url {
    config: Config,
    verify: Verify,
    root_certificate: Option<PathBuf>,
    shown: String,
}

/// How much of the server's certificate is checked (libpq's `sslmode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    Nothing,
    Chain,
    ChainAndHost,
}

impl Url {
    /// Parses `text`; the password falls back to `PGPASSWORD`. Errors never quote the URL.
    pub fn parse(text: &str) -> Result<Url, StoreError> {
        let invalid = |why: String| StoreError::Failed(format!("--store: not a PostgreSQL URL: {why}"));
        let (base, query) = text.split_once('?').unwrap_or((text, ""));
        let mut kept = Vec::new();
        let (mut mode, mut verify, mut root_certificate) = (SslMode::Prefer, Verify::Nothing, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    (mode, verify) = ssl_mode(value).ok_or_else(|| {
                        invalid("sslmode must be disable, prefer, require, verify-ca or verify-full".into())
                    })?
                }
                "sslrootcert" => {
                    // A value with a malformed escape is taken as written.
                    let path = crate::percent::decode(value).unwrap_or_else(|_| value.to_owned());
                    root_certificate = Some(PathBuf::from(path));
                }
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut config = Config::from_str(&url).map_err(|e| invalid(e.to_string()))?;
        if config.get_user().is_none() {
            return Err(invalid("it needs a user: postgres://USER@HOST:PORT/DB".into()));
        }
        if config.get_password().is_none() {
            if let Some(password) = std::env::var_os("PGPASSWORD") {
                config.password(password.as_encoded_bytes());
            }
        }
        config.ssl_mode(mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("iotstream");
        let shown = shown(&config);
        Ok(Url { config, verify, root_certificate, shown })
    }

    /// The TLS connector this URL asks for.
    fn tls(&self) -> Result<MakeTlsConnector, StoreError> {
        let mut builder = native_tls::TlsConnector::builder();
        builder.danger_accept_invalid_certs(self.verify == Verify::Nothing);
        builder.danger_accept_invalid_hostnames(self.verify != Verify::ChainAndHost);
        if let Some(path) = &self.root_certificate {
            let pem = std::fs::read(path).map_err(|e| {
                StoreError::Failed(format!("cannot read sslrootcert {}: {e}", path.display()))
            })?;
            let certificate = native_tls::Certificate::from_pem(&pem)
                .map_err(|e| StoreError::Failed(format!("sslrootcert {}: {e}", path.display())))?;
            builder.add_root_certificate(certificate);
        }
        let connector = builder.build().map_err(|e| StoreError::Failed(format!("TLS: {e}")))?;
        Ok(MakeTlsConnector::new(connector))
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls()?)
            .await
            .map_err(|e| classify(&e, &format!("cannot connect to {self}")))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "the store's connection ended");
            }
        });
        Ok(client)
    }
}

/// The URL without its password (and without parameters).
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

fn ssl_mode(value: &str) -> Option<(SslMode, Verify)> {
    Some(match value {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::ChainAndHost),
        _ => return None,
    })
}

fn shown(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}

/// True if `error` may pass: the connection, the server restarting, resources, conflicts.
fn is_transient(error: &tokio_postgres::Error) -> bool {
    let Some(code) = error.code() else { return true }; // I/O, a closed connection, a timeout
    ["08", "40", "53", "57", "58"].iter().any(|class| code.code().starts_with(class))
        || [SqlState::READ_ONLY_SQL_TRANSACTION, SqlState::LOCK_NOT_AVAILABLE].contains(code)
}

fn classify(error: &tokio_postgres::Error, doing: &str) -> StoreError {
    let message = format!("{doing}: {error}");
    if is_transient(error) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Failed(message)
    }
}

fn to_system_time(time: EventTime) -> SystemTime {
    let micros = time.as_micros();
    match u64::try_from(micros) {
        Ok(after) => UNIX_EPOCH + Duration::from_micros(after),
        Err(_) => UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs()),
    }
}

fn from_system_time(time: SystemTime) -> EventTime {
    let micros = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    };
    EventTime(micros)
}

// ---- writing -------------------------------------------------------------------------------

const UPSERT_WINDOWS: &str = "
    INSERT INTO windows AS w (window_start, window_end, time, final, revision, messages, sensors,
        rejected, rejected_by_reason, late, avg_temperature, min_temperature, max_temperature,
        partitions)
    SELECT s, e, e, f, r, m, n, j, x::jsonb, l, a, lo, hi, p::integer[]
    FROM unnest($1::timestamptz[], $2::timestamptz[], $3::boolean[], $4::integer[], $5::bigint[],
                $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::float8[], $11::float8[],
                $12::float8[], $13::text[]) AS u(s, e, f, r, m, n, j, x, l, a, lo, hi, p)
    ON CONFLICT (time, window_start) DO UPDATE SET
        final = excluded.final, revision = excluded.revision, messages = excluded.messages,
        sensors = excluded.sensors, rejected = excluded.rejected,
        rejected_by_reason = excluded.rejected_by_reason, late = excluded.late,
        avg_temperature = excluded.avg_temperature, min_temperature = excluded.min_temperature,
        max_temperature = excluded.max_temperature, partitions = excluded.partitions
    WHERE (excluded.final, excluded.revision, excluded.messages) >= (w.final, w.revision, w.messages)";

const UPSERT_STATES: &str = "
    INSERT INTO window_states AS t (window_start, window_end, time, state, final, revision,
        messages, sensors, avg_temperature, min_temperature, max_temperature)
    SELECT s, e, e, st, f, r, m, n, a, lo, hi
    FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::boolean[], $5::integer[],
                $6::bigint[], $7::bigint[], $8::float8[], $9::float8[], $10::float8[])
         AS u(s, e, st, f, r, m, n, a, lo, hi)
    ON CONFLICT (time, window_start, state) DO UPDATE SET
        final = excluded.final, revision = excluded.revision, messages = excluded.messages,
        sensors = excluded.sensors, avg_temperature = excluded.avg_temperature,
        min_temperature = excluded.min_temperature, max_temperature = excluded.max_temperature
    WHERE (excluded.final, excluded.revision, excluded.messages) >= (t.final, t.revision, t.messages)";

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
    Prune(SystemTime),
    Alerts(Vec<AlertRow>),
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
}

impl PostgresWriter {
    /// Connects and brings the schema up to date (failing now if either fails), then serves.
    pub fn open(url: &Url) -> Result<PostgresWriter, StoreError> {
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
        let writer = PostgresWriter { jobs };
        started.recv().map_err(|_| stopped())?.map(|()| writer)
    }

    fn ask(&self, request: Request) -> Result<u64, StoreError> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.jobs.send(Job { request, reply }).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
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
        self.ask(Request::Prune(to_system_time(before)))
    }

    fn write_alerts(&mut self, alerts: &[Notification]) -> Result<(), StoreError> {
        self.ask(Request::Alerts(alerts.iter().map(AlertRow::of).collect())).map(drop)
    }
}

/// A connection with its statements prepared.
struct Session {
    client: Client,
    windows: Statement,
    states: Statement,
}

impl Session {
    async fn open(url: &Url) -> Result<Session, StoreError> {
        let client = url.connect().await?;
        let prepare = |e: tokio_postgres::Error| classify(&e, "cannot prepare the store's statements");
        let windows = client.prepare(UPSERT_WINDOWS).await.map_err(prepare)?;
        let states = client.prepare(UPSERT_STATES).await.map_err(prepare)?;
        Ok(Session { client, windows, states })
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

    async fn prune(&mut self, before: SystemTime) -> Result<u64, tokio_postgres::Error> {
        let tx = self.client.transaction().await?;
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
        match request {
            Request::Write(columns) => current.write(columns).await,
            Request::Prune(before) => current.prune(*before).await,
            Request::Alerts(rows) => current.write_alerts(rows).await,
        }
    };
    let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(error)) => Err(classify(&error, "writing to the store failed")),
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

// ---- reading -------------------------------------------------------------------------------

/// Reads one PostgreSQL store through a small pool. Connections are made on first use, on the
/// runtime that uses them (the dashboard's, or `iotstream history`'s).
pub struct PostgresReader {
    pool: Pool,
}

impl PostgresReader {
    /// A pool for `url` (no connection yet).
    pub fn new(url: &Url) -> Result<PostgresReader, StoreError> {
        let config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = Manager::from_config(url.config.clone(), url.tls()?, config);
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(REQUEST_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Failed(format!("cannot build the connection pool: {e}")))?;
        Ok(PostgresReader { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => classify(&e, "cannot connect to the store"),
            other => StoreError::Unavailable(format!("cannot connect to the store: {other}")),
        })
    }

    /// Up to `limit` windows after `after`, with their states.
    pub async fn windows(
        &self,
        range: &Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Result<Vec<WindowResult>, StoreError> {
        let client = self.client().await?;
        check_version(&client).await?;
        let (from, to) = range.bounds();
        // With no page before, a key just before `from` (every window in range comes after it).
        let after = after.unwrap_or(WindowKey { time: EventTime(from.as_micros() - 1), start: from });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let read = |e: tokio_postgres::Error| classify(&e, "reading the store failed");
        let rows = client
            .query(
                "SELECT window_start, window_end, final, revision, messages, sensors, rejected,
                        rejected_by_reason::text, partitions
                 FROM windows
                 WHERE time >= $1 AND time <= $2 AND (time, window_start) > ($3, $4)
                 ORDER BY time, window_start LIMIT $5",
                &[
                    &to_system_time(from),
                    &to_system_time(to),
                    &to_system_time(after.time),
                    &to_system_time(after.start),
                    &limit,
                ],
            )
            .await
            .map_err(read)?;
        let mut windows = rows.iter().map(window).collect::<Result<Vec<_>, _>>()?;
        let (Some(first), Some(last)) = (windows.first(), windows.last()) else { return Ok(windows) };
        let span = (to_system_time(first.window_end), to_system_time(last.window_end));
        let state = range.state.map(StateCode::as_str);
        let rows = client
            .query(
                "SELECT time, window_start, state, messages, sensors, avg_temperature, min_temperature,
                        max_temperature
                 FROM window_states
                 WHERE time >= $1 AND time <= $2 AND ($3::text IS NULL OR state = $3)
                 ORDER BY time, window_start",
                &[&span.0, &span.1, &state],
            )
            .await
            .map_err(read)?;
        let states = rows.iter().map(state_row).collect::<Result<Vec<_>, _>>()?;
        attach_states(&mut windows, states);
        Ok(windows)
    }

    /// `range` in buckets of `step` seconds.
    pub async fn buckets(&self, range: &Range, step: i64) -> Result<Vec<Bucket>, StoreError> {
        let client = self.client().await?;
        let (from, to) = range.bounds();
        let (table, state_filter) = match range.state {
            Some(_) => ("window_states", "state = $4"),
            None => ("windows", "$4::text IS NULL"),
        };
        let sql = format!(
            "SELECT (floor(extract(epoch FROM time) / $3::bigint) * $3::bigint)::bigint AS bucket,
                    count(*), sum(messages)::bigint,
                    sum(avg_temperature * messages) / nullif(sum(messages), 0)::float8,
                    min(min_temperature), max(max_temperature)
             FROM {table}
             WHERE time >= $1 AND time <= $2 AND {state_filter}
             GROUP BY bucket ORDER BY bucket"
        );
        let state = range.state.map(StateCode::as_str);
        let rows = client
            .query(&sql, &[&to_system_time(from), &to_system_time(to), &step.max(1), &state])
            .await
            .map_err(|e| classify(&e, "reading the store failed"))?;
        rows.iter()
            .map(bucket)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| classify(&e, "reading the store failed"))
    }
}

async fn check_version(client: &Client) -> Result<(), StoreError> {
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM iotstream_schema", &[]).await.map_err(
        |e| match e.code() {
            Some(&SqlState::UNDEFINED_TABLE) => {
                StoreError::Failed("this database has no iotstream store".into())
            }
            _ => classify(&e, "reading the store failed"),
        },
    )?;
    schema::check_readable(row.try_get(0).map_err(|e| classify(&e, "reading the store failed"))?)
}

fn window(row: &Row) -> Result<WindowResult, StoreError> {
    let bad = |e: tokio_postgres::Error| classify(&e, "reading a window failed");
    let reasons: String = row.try_get(7).map_err(bad)?;
    let partitions: Option<Vec<i32>> = row.try_get(8).map_err(bad)?;
    Ok(WindowResult {
        record_type: WindowTag::Window,
        is_final: row.try_get(2).map_err(bad)?,
        revision: u32::try_from(row.try_get::<_, i32>(3).map_err(bad)?).unwrap_or(0),
        window_start: from_system_time(row.try_get(0).map_err(bad)?),
        window_end: from_system_time(row.try_get(1).map_err(bad)?),
        messages: count(row.try_get(4).map_err(bad)?),
        sensors: count(row.try_get(5).map_err(bad)?),
        rejected: count(row.try_get(6).map_err(bad)?),
        rejected_by_reason: serde_json::from_str(&reasons)
            .map_err(|e| StoreError::Failed(format!("a window's rejected_by_reason: {e}")))?,
        states: Vec::new(),
        partitions,
    })
}

fn state_row(row: &Row) -> Result<(WindowKey, StateResult), StoreError> {
    let bad = |e: tokio_postgres::Error| classify(&e, "reading a state failed");
    let key = WindowKey {
        time: from_system_time(row.try_get(0).map_err(bad)?),
        start: from_system_time(row.try_get(1).map_err(bad)?),
    };
    let state = StateResult {
        state: row.try_get(2).map_err(bad)?,
        messages: count(row.try_get(3).map_err(bad)?),
        sensors: count(row.try_get(4).map_err(bad)?),
        avg_temperature: row.try_get(5).map_err(bad)?,
        min_temperature: row.try_get(6).map_err(bad)?,
        max_temperature: row.try_get(7).map_err(bad)?,
    };
    Ok((key, state))
}

fn bucket(row: &Row) -> Result<Bucket, tokio_postgres::Error> {
    Ok(Bucket {
        start: row.try_get(0)?,
        windows: count(row.try_get(1)?),
        messages: count(row.try_get::<_, Option<i64>>(2)?.unwrap_or(0)),
        avg_temperature: row.try_get(3)?,
        min_temperature: row.try_get(4)?,
        max_temperature: row.try_get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_no_password_and_take_libpq_ssl_modes() {
        let url = Url::parse(
            "postgres://ada:s3cret@db.example:6543/metrics?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url.to_string(), "postgres://ada@db.example:6543/metrics");
        assert_eq!(url.verify, Verify::ChainAndHost);
        assert_eq!(url.root_certificate, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(url.config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(
            Url::parse("postgresql://ada@localhost/x?sslmode=require").unwrap().verify,
            Verify::Nothing
        );
        let error = Url::parse("postgres://ada:s3cret@db.example:notaport/x").err().unwrap().to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(Url::parse("postgres://db.example/x").is_err(), "a user is required");
        assert!(Url::parse("postgres://ada@h/x?sslmode=sometimes").is_err());
    }

    #[test]
    fn times_round_trip() {
        for micros in [0, 1, -1, 1_479_302_799_250_000, -62_135_596_800_000_000] {
            assert_eq!(from_system_time(to_system_time(EventTime(micros))), EventTime(micros));
        }
    }
}
