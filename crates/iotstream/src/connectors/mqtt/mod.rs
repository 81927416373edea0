//! MQTT: the subscription (`source`, with `ledger`: positions and redeliveries, and `fields`: topic
//! fields), dead letters (`sink`), and what every MQTT client of iotstream shares: here, the broker
//! URL and its credentials, TLS, the protocol version; in `session`, one [`Session`] over rumqttc's
//! two clients (MQTT 3.1.1 and 5), so that the source, `simulate --mqtt` and the bridge are written
//! once.
//!
//! A password comes from the URL (`mqtt://user:password@host`) or from `IOTSTREAM_MQTT_PASSWORD`;
//! it never reaches a log line or an error message (the URL is always shown without it).
//!
//! Sessions are persistent (MQTT 3.1.1 `clean session` off, MQTT 5 `clean start` off with a
//! session that never expires) under a client id the user chooses: a random id would start a new,
//! empty session at every restart and the broker would keep nothing while iotstream is away.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

mod fields;
mod ledger;
mod session;
pub mod sink;
pub mod source;

pub use fields::{TopicFields, DEFAULT_VALUE_FIELD};
pub use ledger::{Ledger, Receipt};
pub use session::{Acks, Backoff, Broken, Closed, Incoming, Message, Publisher, Session};

use crate::percent::decode;

/// Environment variable with the broker password (when the URL has none).
pub const PASSWORD_ENV: &str = "IOTSTREAM_MQTT_PASSWORD";

/// What is wrong with the MQTT flags, or could not be done with the broker's settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A password without a user.
    #[error(
        "an MQTT password needs a user name: mqtt://USER@host (the password may stay in {PASSWORD_ENV})"
    )]
    PasswordWithoutUser,
    /// `--mqtt-ca` without TLS.
    #[error("--mqtt-ca needs an mqtts:// URL")]
    CaWithoutTls,
    /// The CA certificate cannot be read.
    #[error("cannot read {}", .0.display())]
    ReadCa(PathBuf, #[source] std::io::Error),
    /// No `--mqtt` where it is needed.
    #[error("--mqtt URL is required")]
    NoBroker,
    /// No `--mqtt-client-id` for a reader.
    #[error(
        "--mqtt-client-id is required: the broker keeps the session (and the messages not yet \
         processed) under a stable client id; a random one would lose them at every restart"
    )]
    NoClientId,
    /// An empty client id.
    #[error("--mqtt-client-id must not be empty")]
    EmptyClientId,
    /// The journal in the state directory cannot be used.
    #[error("cannot read or write the MQTT journal in {}", .0.display())]
    Journal(PathBuf, #[source] std::io::Error),
    /// A dead-letter topic with wildcards.
    #[error("--mqtt-dead-letter-topic must be a topic name, without wildcards")]
    DeadLetterTopic,
    /// A thread could not be started.
    #[error("cannot start {0}")]
    Start(&'static str, #[source] std::io::Error),
}

/// Connection flags shared by every command that talks to an MQTT broker.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "MQTT")]
pub struct MqttArgs {
    /// MQTT broker: `mqtt://[user[:password]@]host[:port]` (TLS: mqtts://, port 8883 by default).
    /// The password may come from IOTSTREAM_MQTT_PASSWORD instead; it is never logged.
    #[arg(id = "mqtt", long = "mqtt", value_name = "URL")]
    pub url: Option<BrokerUrl>,
    /// Client id: the broker keeps this client's session (subscriptions, messages not yet
    /// acknowledged) under it, so it must stay the same across restarts. Required for reading.
    #[arg(id = "mqtt_client_id", long = "mqtt-client-id", value_name = "ID", requires = "mqtt")]
    pub client_id: Option<String>,
    /// MQTT protocol version.
    #[arg(id = "mqtt_version", long = "mqtt-version", value_enum, default_value_t = Version::V5, requires = "mqtt")]
    pub version: Version,
    /// With mqtts://: trust this CA certificate (PEM) instead of the system's.
    #[arg(id = "mqtt_ca", long = "mqtt-ca", value_name = "FILE", requires = "mqtt")]
    pub ca: Option<PathBuf>,
}

/// MQTT protocol version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// MQTT 3.1.1.
    #[value(name = "3")]
    V3,
    /// MQTT 5.
    #[default]
    #[value(name = "5")]
    V5,
}

/// A broker address as given: `mqtt://` or `mqtts://`, host, port, and optional credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// TLS (`mqtts://`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (1883, or 8883 with TLS, when not given).
    pub port: u16,
    /// User name, if any.
    pub user: Option<String>,
    /// Password from the URL, if any (never shown).
    password: Option<String>,
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("mqtt://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("mqtts://") {
            (true, rest)
        } else {
            return Err("expected mqtt://host[:port] or mqtts://host[:port]".into());
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, address) = match rest.rsplit_once('@') {
            Some((userinfo, address)) => (Some(userinfo), address),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(decode(password).map_err(|e| e.to_string())?)),
                    None => (info, None),
                };
                (Some(decode(user).map_err(|e| e.to_string())?), password)
            }
            None => (None, None),
        };
        if address.contains('/') {
            return Err("a broker URL has no path: give topics with --mqtt-topic".into());
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match address.rsplit_once(':') {
            // An IPv6 address in brackets has colons of its own.
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse().map_err(|_| format!("bad port {port:?}"))?)
            }
            _ => (address, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        Ok(BrokerUrl { tls, host: host.to_owned(), port, user, password })
    }
}

/// Shown without the password, wherever it is printed.
impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.user {
            Some(user) => write!(f, "{scheme}://{user}@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The ids of the flags that name an MQTT broker (empty in a build without MQTT): what
/// `analyze`'s inputs are chosen among.
pub const BROKER_FLAGS: &[&str] = &["mqtt"];

/// `simulate --mqtt`: where and how to publish.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "MQTT")]
pub struct MqttPublishArgs {
    /// Broker, client id, version, TLS.
    #[command(flatten)]
    pub connection: MqttArgs,
    /// Topic to publish to (also --topic). With {state} and {guid} in it, e.g.
    /// 'sensors/{state}/{guid}', each reading goes to its sensor's topic as a small payload
    /// ({"temperature": …, "eventTime": …}), for `analyze --mqtt-topic-fields`.
    #[arg(id = "mqtt_topic", long = "mqtt-topic", value_name = "TOPIC", requires = "mqtt")]
    pub topic: Option<String>,
    /// Quality of service: 0 (at most once) or 1 (at least once, acknowledged by the broker).
    #[arg(long, default_value_t = 1, requires = "mqtt", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
}

/// A broker to connect to, as resolved from the flags.
#[derive(Clone, Debug)]
pub struct Broker {
    /// Where.
    pub url: BrokerUrl,
    /// Which protocol.
    pub version: Version,
    /// The password (from the URL or the environment).
    password: Option<String>,
    /// A CA certificate to trust (PEM), for TLS.
    ca: Option<Vec<u8>>,
}

/// The broker read and the client id reading it, when the input is MQTT (its sinks need both).
pub type Input = (Broker, String);

impl MqttPublishArgs {
    /// The broker published to, or `None` without `--mqtt`.
    pub fn broker(&self) -> Result<Option<Broker>, Error> {
        self.connection.broker()
    }
}

impl MqttArgs {
    /// The broker, with its password and CA certificate read, or `None` without `--mqtt`.
    pub fn broker(&self) -> Result<Option<Broker>, Error> {
        let Some(url) = &self.url else { return Ok(None) };
        let password = url.password.clone().or_else(|| std::env::var(PASSWORD_ENV).ok());
        if password.is_some() && url.user.is_none() {
            return Err(Error::PasswordWithoutUser);
        }
        let ca = match &self.ca {
            Some(_) if !url.tls => return Err(Error::CaWithoutTls),
            Some(path) => Some(std::fs::read(path).map_err(|e| Error::ReadCa(path.clone(), e))?),
            None => None,
        };
        Ok(Some(Broker { url: url.clone(), version: self.version, password, ca }))
    }

    /// The client id, which readers must give (see [`MqttArgs::client_id`]).
    pub fn required_client_id(&self) -> Result<&str, Error> {
        match self.client_id.as_deref() {
            None => Err(Error::NoClientId),
            Some("") => Err(Error::EmptyClientId),
            Some(id) => Ok(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_never_show_the_password() {
        let url: BrokerUrl = "mqtt://localhost".parse().unwrap();
        assert_eq!((url.tls, url.host.as_str(), url.port), (false, "localhost", 1883));
        let url: BrokerUrl = "mqtts://fleet:p%40ss:w@broker.example:9883/".parse().unwrap();
        assert_eq!((url.tls, url.port, url.user.as_deref()), (true, 9883, Some("fleet")));
        assert_eq!(url.password.as_deref(), Some("p@ss:w"));
        assert_eq!(url.to_string(), "mqtts://fleet@broker.example:9883");
        assert_eq!(format!("{url:?}"), "mqtts://fleet@broker.example:9883");
        let url: BrokerUrl = "mqtt://[::1]:1884".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 1884));
        for bad in ["tcp://host", "mqtt://", "mqtt://host:port", "mqtt://host/topic", "mqtt://u:%4@h"] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
    }
}
