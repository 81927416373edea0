//! A Kafka broker behind TLS, and with SASL users if asked: Tansu (sqlite storage, in a directory
//! of its own) listening in plain text on one free port, and Debian's `stunnel4` on another,
//! terminating TLS with the test's certificate. Tansu advertises the TLS port, so that clients
//! come back through it after the bootstrap. Tansu's own TLS flags cannot be used (0.6.0 refuses
//! `--cert` with `--key`). SCRAM it does itself (`--authentication`, users kept in its sqlite
//! storage); PLAIN its build does not have, so for PLAIN `tests/kafka/sasl_plain.py` sits between
//! stunnel and Tansu and authenticates clients. Everything is killed on drop.

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
    plain_sasl: Option<Child>,
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
        SecureBroker::launch(certificate, key, users, None)
    }

    /// TLS with `certificate` and `key`, and SASL/PLAIN for one `user` with `password`.
    pub fn start_plain(certificate: &Path, key: &Path, user: &str, password: &str) -> SecureBroker {
        SecureBroker::launch(certificate, key, &[], Some((user, password)))
    }

    fn launch(
        certificate: &Path,
        key: &Path,
        users: &[(&str, &str)],
        plain: Option<(&str, &str)>,
    ) -> SecureBroker {
        let (plain_port, tls) = (free_port(), free_port());
        let mut broker = SecureBroker {
            address: format!("127.0.0.1:{tls}"),
            dir: tempfile::tempdir().unwrap(),
            plain: plain_port,
            tls,
            tansu: None,
            stunnel: None,
            plain_sasl: None,
        };
        if !users.is_empty() {
            // Users are made while the broker runs without authentication, and kept in its storage.
            broker.run_tansu(false);
            for (name, password) in users {
                let status = Command::new(tansu())
                    .args([
                        "user",
                        "create",
                        name,
                        password,
                        "--broker",
                        &format!("tcp://127.0.0.1:{plain_port}"),
                    ])
                    .current_dir(broker.dir.path())
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "tansu user create");
            }
            broker.stop_tansu();
        }
        broker.run_tansu(!users.is_empty());
        let front = match plain {
            Some((user, password)) => broker.run_plain_sasl(user, password),
            None => plain_port,
        };
        broker.run_stunnel(certificate, key, front);
        broker
    }

    /// `tests/kafka/sasl_plain.py` in front of Tansu; its port.
    fn run_plain_sasl(&mut self, user: &str, password: &str) -> u16 {
        let port = free_port();
        let child = super::python_script("kafka/sasl_plain.py")
            .args([&port.to_string(), &self.plain.to_string(), user, password])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3");
        self.plain_sasl = Some(child);
        wait_for_port(port);
        port
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

    /// TLS on the advertised port, in front of `connect`.
    fn run_stunnel(&mut self, certificate: &Path, key: &Path, connect: u16) {
        let config = self.dir.path().join("stunnel.conf");
        let settings = format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{}\nconnect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
            self.tls,
            connect,
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
        for child in [self.stunnel.take(), self.plain_sasl.take()].into_iter().flatten() {
            let mut child = child;
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
