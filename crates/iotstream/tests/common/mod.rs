//! Helpers shared by the integration tests that need a broker: a Tansu broker per test, the
//! binary, and the independent Python client.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Tansu broker on a free port, in its own data directory; killed on drop.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub storage: &'static str,
    pub address: String,
}

impl Broker {
    pub fn memory() -> Broker {
        Broker::start_new("memory://tansu/")
    }

    /// A durable broker (needed for restarts and for resuming from committed offsets).
    pub fn sqlite() -> Broker {
        Broker::start_new("sqlite://tansu.db")
    }

    pub fn start_new(storage: &'static str) -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = Broker { port, dir: tempfile::tempdir().unwrap(), storage, address: String::new() };
        broker.start();
        broker
    }

    pub fn script(&self, args: &[&str]) -> Output {
        Command::new(repo().join("scripts/kafka-broker.sh"))
            .args(args)
            .env("KAFKA_PORT", self.port.to_string())
            .env("TANSU_DATA_DIR", self.dir.path())
            .env("TANSU_STORAGE", self.storage)
            .output()
            .expect("scripts/kafka-broker.sh")
    }

    pub fn start(&mut self) {
        let out = self.script(&["start"]);
        assert!(out.status.success(), "broker did not start: {}", String::from_utf8_lossy(&out.stderr));
        self.address = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert_eq!(self.address, format!("127.0.0.1:{}", self.port));
    }

    pub fn kill(&self) {
        assert!(self.script(&["stop", "--kill"]).status.success());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.script(&["stop", "--kill"]);
    }
}

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iotstream"));
    cmd.env_remove("RUST_LOG").env("TZ", "UTC");
    cmd
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run iotstream");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn python(script: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka").join(script);
    let interpreter = std::env::var("IOTSTREAM_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(interpreter).arg(path).args(args).output().expect("python3");
    assert!(
        out.status.success(),
        "{script} failed (is confluent-kafka installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
