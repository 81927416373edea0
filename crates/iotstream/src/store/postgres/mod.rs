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
//!
//! Here: the URL and what both sides share; `writer`: the writing thread; `reader`: the pool.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod reader;
mod writer;

use iotstream_engine::EventTime;
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};

pub use reader::open_reader;
pub use writer::open_writer;

use super::error::StoreError;

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
