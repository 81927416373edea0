//! Kafka: the consumer (`source`), the producers (`sink`: results, dead letters, readings), and
//! what every client shares, here: connection flags, librdkafka settings, secret redaction, waiting
//! for the broker, and topic creation; `context`: the one librdkafka client context (logging,
//! callbacks); `commits`: offset commits on their own thread.
//!
//! Users pass any librdkafka setting with `--kafka-option key=value` (TLS, SASL, timeouts). Values of
//! secret settings (passwords, keys, tokens) never reach a log line or an error message: they are
//! replaced by `***` wherever librdkafka might echo them back.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

mod commits;
mod consumption;
mod context;
mod poller;
pub mod sink;
pub mod source;

pub use consumption::{Assignment, StartFrom};
pub use context::{is_transient, Callbacks, Context, Logging};

use crate::signals::{Stop, Stopped};

/// What went wrong talking to Kafka (never with a secret in it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `--kafka`.
    #[error("--kafka BROKERS is required")]
    NoBrokers,
    /// No `--topic`.
    #[error("--topic is required with --kafka")]
    NoTopic,
    /// A broker address that is not `host:port`.
    #[error("{0:?} is not host:port")]
    BadBroker(String),
    /// The client refused or failed at something; the message has no secrets.
    #[error("{what}: {message}")]
    Client {
        /// What it was doing.
        what: &'static str,
        /// The client's error, secrets removed.
        message: String,
    },
    /// No broker answered in time.
    #[error(
        "cannot reach Kafka at {brokers} within {seconds} s ({message}): check --kafka, and that the broker is running"
    )]
    Unreachable {
        /// The brokers asked.
        brokers: String,
        /// How long.
        seconds: u64,
        /// The client's error, secrets removed.
        message: String,
    },
    /// A topic could not be created.
    #[error("cannot create topic {name}: {code}")]
    CreateTopic {
        /// The topic.
        name: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
    /// A topic to read does not exist.
    #[error("topic {0} does not exist (or has no partitions)")]
    NoSuchTopic(String),
    /// A thread or runtime of the client could not be started.
    #[error("cannot start {0}")]
    Start(&'static str, #[source] std::io::Error),
    /// A stop came while waiting for the broker.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// What runs beside a consumer (scale-out's merge log reader) failed to start.
    #[error(transparent)]
    Beside(Box<dyn std::error::Error + Send + Sync>),
}

/// The ids of the flags that name Kafka brokers (empty in a build without Kafka): what `simulate
/// --output` conflicts with and what `analyze`'s inputs are chosen among.
pub const BROKER_FLAGS: &[&str] = &["brokers"];

/// Connection options shared by every command that talks to Kafka.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Kafka")]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port[,host:port…]).
    #[arg(long = "kafka", value_name = "BROKERS")]
    pub brokers: Option<String>,
    /// The topic to read or write (Kafka; `simulate --mqtt` publishes to it too).
    #[arg(long)]
    pub topic: Option<String>,
    /// A librdkafka setting (repeatable), e.g. security.protocol=SASL_SSL. Secret values are never
    /// logged.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", requires = "brokers")]
    pub options: Vec<KafkaOption>,
}

impl KafkaArgs {
    /// The connection, its brokers' addresses checked (a typo fails at once, not after a timeout).
    pub fn connect(&self) -> Result<Connection, Error> {
        let connection = Connection::from_args(self).ok_or(Error::NoBrokers)?;
        check_brokers(&connection.brokers)?;
        Ok(connection)
    }

    /// The topic (`--topic`).
    pub fn topic(&self) -> Result<&str, Error> {
        self.topic.as_deref().ok_or(Error::NoTopic)
    }

    /// `--topic`, if given.
    pub fn named_topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }
}

/// `simulate --kafka`: where to publish, and the topic's partitions if it has to be created.
#[derive(Clone, Debug, clap::Args)]
pub struct KafkaPublishArgs {
    /// Kafka connection and its settings.
    #[command(flatten)]
    pub connection: KafkaArgs,
    /// Partitions of the topic if it has to be created.
    #[arg(long, default_value_t = 4, requires = "brokers", value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
}

impl KafkaPublishArgs {
    /// The connection, if `--kafka` was given.
    pub fn connection(&self) -> Option<Connection> {
        Connection::from_args(&self.connection)
    }

    /// `--topic`, if given.
    pub fn named_topic(&self) -> Option<&str> {
        self.connection.named_topic()
    }
}

/// One `key=value` librdkafka setting.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOption {
    /// The librdkafka property name.
    pub key: String,
    /// Its value (secret for some keys, see [`is_secret`]).
    pub value: String,
}

impl FromStr for KafkaOption {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
        let key = key.trim();
        if key.is_empty() {
            return Err("the key before '=' is empty".into());
        }
        Ok(KafkaOption { key: key.to_owned(), value: value.to_owned() })
    }
}

/// Prints `key=***` for secrets, so that options can be logged and shown in errors.
impl fmt::Debug for KafkaOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret(&self.key) {
            write!(f, "{}=***", self.key)
        } else {
            write!(f, "{}={}", self.key, self.value)
        }
    }
}

/// Settings whose values are credentials.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key", "token", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

/// Waiting for the broker goes in slices this long, checking for a stop in between.
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// How long a command waits for the brokers to answer before it says it cannot reach them.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// The Kafka connection and the topic read, when the input is Kafka (Kafka sinks and alerts need
/// both).
pub type Input = (Connection, String);

/// Connection settings: brokers, user options, and the logging context.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Bootstrap servers.
    pub brokers: String,
    /// User settings, applied last so that they win.
    pub options: Vec<KafkaOption>,
    /// The run's stop: producers waiting for the broker's acknowledgements give way to it.
    pub stop: Stop,
}

impl Connection {
    /// The connection named by `args`, if `--kafka` was given.
    pub fn from_args(args: &KafkaArgs) -> Option<Connection> {
        let brokers = args.brokers.clone()?;
        Some(Connection { brokers, options: args.options.clone(), stop: Stop::default() })
    }

    /// A librdkafka configuration: `defaults` first, then the user's options.
    pub fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", "iotstream");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for option in &self.options {
            config.set(&option.key, &option.value);
        }
        config.set_log_level(RDKafkaLogLevel::Warning);
        config
    }

    /// Asks the brokers for their metadata: an error naming them when none answers within
    /// [`REACH_TIMEOUT`], so that a wrong address or a broker that is down is said at once,
    /// not after a long client timeout.
    pub fn probe(&self, stop: &Stop) -> Result<(), Error> {
        tracing::debug!(options = ?self.options, "Kafka client settings");
        tracing::info!(brokers = %self.brokers, "asking Kafka for its metadata");
        let client: rdkafka::consumer::BaseConsumer<Context> = self
            .config(&[("group.id", "iotstream-probe")])
            .create_with_context(Context::quiet())
            .map_err(|e| self.error("cannot create a Kafka client", &e))?;
        match within(stop, REACH_TIMEOUT, |t| rdkafka::consumer::Consumer::fetch_metadata(&client, None, t))?
        {
            Ok(_) => Ok(()),
            Err(error) => Err(Error::Unreachable {
                brokers: self.brokers.clone(),
                seconds: REACH_TIMEOUT.as_secs(),
                message: self.redact(&error.to_string()),
            }),
        }
    }

    /// Removes every secret value from `text` (an error message that may quote configuration).
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for option in self.options.iter().filter(|o| is_secret(&o.key) && !o.value.is_empty()) {
            text = text.replace(&option.value, "***");
        }
        text
    }

    /// Turns a client error into a message without secrets.
    pub fn error(&self, what: &'static str, error: &KafkaError) -> Error {
        Error::Client { what, message: self.redact(&error.to_string()) }
    }

    /// Creates `topic` with `partitions` partitions unless it exists (Tansu does not auto-create).
    pub fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), Error> {
        let admin: AdminClient<DefaultClientContext> =
            self.config(&[]).create().map_err(|e| self.error("cannot create a Kafka admin client", &e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Start("an async runtime", e))?;
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = runtime
            .block_on(admin.create_topics([&new_topic], &options))
            .map_err(|e| self.error("cannot create topics", &e))?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic, partitions, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::debug!(topic, "topic exists")
                }
                Err((name, code)) => return Err(Error::CreateTopic { name, code }),
            }
        }
        Ok(())
    }
}

/// Calls the broker with `call(timeout)` in short slices until it answers, `total` has passed, or
/// a stop is asked for: a start-up against an unreachable broker can be stopped at once.
pub fn within<T>(
    stop: &Stop,
    total: Duration,
    mut call: impl FnMut(Duration) -> KafkaResult<T>,
) -> Result<KafkaResult<T>, Stopped> {
    let deadline = Instant::now() + total;
    loop {
        stop.check()?;
        let started = Instant::now();
        let slice = WAIT_SLICE.min(deadline.saturating_duration_since(started));
        match call(slice) {
            Err(error) if is_transient(&error) && Instant::now() < deadline => {
                // Some failures come at once (no broker to ask): wait out the slice all the same.
                std::thread::sleep(slice.saturating_sub(started.elapsed()));
            }
            outcome => return Ok(outcome),
        }
    }
}

/// Parses `host:port` lists early, to fail on typos before connecting.
pub fn check_brokers(brokers: &str) -> Result<(), Error> {
    for broker in brokers.split(',') {
        let (host, port) =
            broker.trim().rsplit_once(':').ok_or_else(|| Error::BadBroker(broker.to_owned()))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(Error::BadBroker(broker.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let option: KafkaOption = "sasl.password=hunter2".parse().unwrap();
        assert_eq!(format!("{option:?}"), "sasl.password=***");
        let plain: KafkaOption = "security.protocol=SASL_SSL".parse().unwrap();
        assert_eq!(format!("{plain:?}"), "security.protocol=SASL_SSL");
        let connection =
            Connection { brokers: "127.0.0.1:1".into(), options: vec![option, plain], stop: Stop::default() };
        assert_eq!(
            connection.redact("bad value \"hunter2\" for sasl.password"),
            "bad value \"***\" for sasl.password"
        );
        for key in ["ssl.key.password", "sasl.oauthbearer.client.secret", "ssl.keystore.password"] {
            assert!(is_secret(key), "{key}");
        }
        assert!(!is_secret("bootstrap.servers"));
    }

    #[test]
    fn options_parse() {
        assert!("novalue".parse::<KafkaOption>().is_err());
        assert!("=x".parse::<KafkaOption>().is_err());
        let o: KafkaOption = "a.b=c=d".parse().unwrap();
        assert_eq!((o.key.as_str(), o.value.as_str()), ("a.b", "c=d"));
        assert!(check_brokers("127.0.0.1:9092,localhost:19092").is_ok());
        assert!(check_brokers("localhost").is_err());
        assert!(check_brokers("localhost:x").is_err());
    }
}
