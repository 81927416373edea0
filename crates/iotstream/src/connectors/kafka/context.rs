//! The one librdkafka client context every client of iotstream uses: client events and
//! librdkafka's own log lines through `tracing` (transient errors rate-limited), and the callbacks
//! a particular kind of client adds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Is this a broker hiccup the client recovers from by itself (broker down, connection lost,
/// timeouts), as opposed to a configuration or programming error?
pub fn is_transient(error: &KafkaError) -> bool {
    let code = match error {
        KafkaError::Global(code)
        | KafkaError::MessageConsumption(code)
        | KafkaError::MessageProduction(code)
        | KafkaError::ConsumerCommit(code)
        | KafkaError::MetadataFetch(code)
        | KafkaError::OffsetFetch(code) => *code,
        KafkaError::Transaction(e) => return e.is_retriable(),
        _ => return false,
    };
    matches!(
        code,
        RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::CoordinatorLoadInProgress
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::RebalanceInProgress
    )
}

/// Every Kafka client's context: its logging, and `callbacks`, what one kind of client does beyond
/// logging (a consumer's rebalances and statistics, a producer's deliveries, an election). The
/// librdkafka callbacks every client shares are implemented once, here.
#[derive(Default)]
pub struct Context<C = ()> {
    /// Client events and librdkafka's own log lines, through `tracing`.
    pub logging: Logging,
    /// What this kind of client does with its other callbacks.
    pub callbacks: C,
}

impl<C> Context<C> {
    /// A context logging as usual around `callbacks`.
    pub fn new(callbacks: C) -> Context<C> {
        Context { logging: Logging::default(), callbacks }
    }
}

impl Context {
    /// A context that logs nothing (a probe, whose caller reports the outcome).
    pub fn quiet() -> Context {
        Context { logging: Logging { quiet: true, ..Logging::default() }, callbacks: () }
    }
}

/// The callbacks' own state, as if it were the context's (`consumer.context().pending`).
impl<C> std::ops::Deref for Context<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.callbacks
    }
}

/// The callbacks a kind of client adds to logging; each has a default that does nothing.
pub trait Callbacks: Send + Sync + 'static {
    /// The client's periodic statistics (`statistics.interval.ms`).
    fn stats(&self, _statistics: rdkafka::Statistics) {}
}

/// A client that only logs.
impl Callbacks for () {}

impl<C: Callbacks> ClientContext for Context<C> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.logging.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.logging.report(&error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        self.callbacks.stats(statistics);
    }
}

/// A consumer that only logs (readers that assign partitions themselves, never rebalance).
impl rdkafka::consumer::ConsumerContext for Context {}

/// Logs client-level events through `tracing`: transient errors as rate-limited warnings (a broker
/// restart produces dozens), everything else as errors.
#[derive(Default)]
pub struct Logging {
    last_warning: Mutex<Option<Instant>>,
    /// Say nothing: the caller reports the outcome itself (a reachability probe).
    quiet: bool,
}

impl Logging {
    /// Logs a client error, rate-limiting the transient ones to one line per 5 seconds.
    pub fn report(&self, error: &KafkaError, reason: &str) {
        if self.quiet {
            return;
        }
        if let KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) = error {
            tracing::debug!(reason, "end of partition");
            return;
        }
        if !is_transient(error) {
            tracing::error!(%error, reason, "Kafka client error");
            return;
        }
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            *last = Some(Instant::now());
            tracing::warn!(%error, reason, "Kafka broker unavailable; retrying");
        }
    }

    /// librdkafka's own log lines. Connection failures ("FAIL") repeat many times a second while a
    /// broker is down and are already summarised by the rate-limited error report: debug level.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel as L;
        match level {
            _ if self.quiet => {}
            _ if facility == "FAIL" => tracing::debug!(facility, "librdkafka: {message}"),
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(facility, "librdkafka: {message}")
            }
            L::Warning => tracing::warn!(facility, "librdkafka: {message}"),
            L::Notice | L::Info => tracing::info!(facility, "librdkafka: {message}"),
            L::Debug => tracing::debug!(facility, "librdkafka: {message}"),
        }
    }
}
