//! MQTT in a build without the `mqtt` feature: the names the rest of the crate uses from
//! `mqtt/`, so that the feature is switched only where the module is declared. There is no MQTT
//! flag, so no input is ever MQTT and no MQTT output is ever asked for; a broker cannot exist.

use crate::channel::Source;
use crate::connectors::options::SourceOptions;
use crate::sinks::Outputs;

/// The ids of the flags that name an MQTT broker: none.
pub const BROKER_FLAGS: &[&str] = &[];

/// What goes wrong asking this build for MQTT.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// MQTT asked for.
    #[error("this build has no MQTT support; use --input")]
    NotBuilt,
}

/// An MQTT broker: none can exist.
#[derive(Clone, Debug)]
pub enum Broker {}

/// The broker and client id read: never.
pub type Input = (Broker, String);

/// No flags to publish to MQTT.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct MqttPublishArgs {}

impl MqttPublishArgs {
    /// No broker.
    pub fn broker(&self) -> Result<Option<Broker>, Error> {
        Ok(None)
    }
}

/// The subscription, absent.
pub mod source {
    use super::*;

    /// No flags to read MQTT.
    #[derive(Clone, Debug, Default, clap::Args)]
    pub struct MqttSourceArgs {}

    impl MqttSourceArgs {
        /// Nothing to check.
        pub fn check(&self) -> Result<(), String> {
            Ok(())
        }

        /// Nothing is read.
        pub fn name(&self) -> Option<String> {
            None
        }

        /// The input is never MQTT.
        pub fn given(&self) -> bool {
            false
        }

        /// The input is never MQTT.
        pub fn input(&self) -> Result<Option<Input>, Error> {
            Ok(None)
        }

        /// No files of its own.
        pub fn companions(&self, _dir: &std::path::Path) -> Vec<std::path::PathBuf> {
            Vec::new()
        }
    }

    /// Refused: this build cannot read MQTT.
    pub fn open(_: &MqttSourceArgs, _: &SourceOptions) -> Result<Source, Error> {
        Err(Error::NotBuilt)
    }
}

/// The dead-letter publisher, absent.
pub mod sink {
    use super::*;

    /// No MQTT outputs.
    #[derive(Clone, Debug, Default, clap::Args)]
    pub struct MqttSinkArgs {}

    /// Nothing to add.
    pub fn open(_: &MqttSinkArgs, _: Option<&Input>, _: &mut Outputs) -> Result<(), Error> {
        Ok(())
    }
}
