//! A Kafka broker behind TLS, and with SASL/SCRAM users if asked: Tansu (sqlite storage, in a
//! directory of its own) listening in plain text on one free port, and Debian's `stunnel4` on
//! another, terminating TLS with the test's certificate. Tansu advertises the TLS port, so that
//! clients come back through it after the bootstrap. Tansu's own TLS flags cannot be used (0.6.0
//! refuses `--cert` with `--key`) and its build has no SASL/PLAIN, but SCRAM it does
//! (`--authentication`, users kept in its sqlite storage). Everything is killed on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::free_port;

pub struct SecureBroker {
    /// Where clients connect (TLS).
    pub address: String,
    pub dir: tempfile::TempDir,
    plain: u16,
    tls: u16,
    tansu: Option<Child>,
    stunnel: Option<Child>,
}

/// Tansu's binary, as `scripts/kafka-broker.sh` installs it.
fn tansu() -> PathBuf {
    let out = Command::new(super::repo().join("scripts/kafka-broker.sh")).arg("path").output().unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

impl SecureBroker {
    /// TLS with `certificate` and `key` (PEM); with `users` (name, password), SASL/SCRAM is
    /// required of every client.
    pub fn start(certificate: &Path, key: &Path, users: &[(&str, &str)]) -> SecureBroker {
        let (plain, tls) = (free_port(), free_port());
        let mut broker = SecureBroker {
            address: format!("127.0.0.1:{tls}"),
            dir: tempfile::tempdir().unwrap(),
            plain,
            tls,
            tansu: None,
            stunnel: None,
        };
        if !users.is_empty() {
            // Users are made while the broker runs without authentication, and kept in its storage.
            broker.run_tansu(false);
            for (name, password) in users {
                let status = Command::new(tansu())
                    .args(["user", "create", name, password, "--broker", &format!("tcp://127.0.0.1:{plain}")])
                    .current_dir(broker.dir.path())
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "tansu user create");
            }
            broker.stop_tansu();
        }
        broker.run_tansu(!users.is_empty());
        broker.run_stunnel(certificate, key);
        broker
    }

    fn run_tansu(&mut self, authentication: bool) {
        let mut command = Command::new(tansu());
        command.arg("broker").args(["--listener-url", &format!("tcp://127.0.0.1:{}", self.plain)]);
        command.args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{}", self.tls)]);
        command.args(["--storage-engine", "sqlite://tansu.db"]);
        if authentication {
            command.arg("--authentication");
        }
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).unwrap();
        // The sqlite path is relative to the working directory (a Tansu defect): its own.
        command.current_dir(self.dir.path()).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(log);
        self.tansu = Some(command.spawn().expect("start tansu"));
        wait_for_port(self.plain);
    }

    fn stop_tansu(&mut self) {
        if let Some(mut child) = self.tansu.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn run_stunnel(&mut self, certificate: &Path, key: &Path) {
        let config = self.dir.path().join("stunnel.conf");
        let settings = format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{}\nconnect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
            self.tls,
            self.plain,
            certificate.display(),
            key.display()
        );
        std::fs::write(&config, settings).unwrap();
        let log = std::fs::File::create(self.dir.path().join("stunnel.log")).unwrap();
        let child = Command::new("stunnel4")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("stunnel4 (Debian's stunnel4 package; scripts/test installs it)");
        self.stunnel = Some(child);
        wait_for_port(self.tls);
    }

    /// What the broker has logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        self.stop_tansu();
        if let Some(mut child) = self.stunnel.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
