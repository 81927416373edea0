//! A Mosquitto broker of the test's own: Debian's binary, a config of its own on a free port of
//! 127.0.0.1, persistence in a temporary directory (so a restart keeps sessions and queued
//! messages), queues large enough that nothing is dropped while a subscriber is away, and no limit
//! on messages in flight (acknowledgements wait for checkpoints). Killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Debian's `mosquitto`, or `IOTSTREAM_MOSQUITTO`.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IOTSTREAM_MOSQUITTO") {
        return PathBuf::from(path);
    }
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("Mosquitto is not installed: scripts/test installs it (apt-get install mosquitto)")
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("allow_anonymous true\n", |_| {})
    }

    /// A broker that keeps nothing across a restart (no persistence): a restart loses every
    /// session and every message queued.
    pub fn start_forgetful() -> Mosquitto {
        Mosquitto::start_with("allow_anonymous true\npersistence false\n", |_| {})
    }

    /// TLS only (`certificate` and `key`, PEM), and one user with a password.
    pub fn start_tls(certificate: &Path, key: &Path, user: &str, password: &str) -> Mosquitto {
        let settings = format!(
            "allow_anonymous false\npassword_file PASSWORDS\ncertfile {}\nkeyfile {}\n",
            certificate.display(),
            key.display()
        );
        Mosquitto::start_with(&settings, |dir| {
            let file = dir.join("passwords");
            let status = Command::new("mosquitto_passwd")
                .args(["-b", "-c"])
                .arg(&file)
                .args([user, password])
                .stderr(Stdio::null())
                .status()
                .expect("mosquitto_passwd (Debian's mosquitto package)");
            assert!(status.success(), "mosquitto_passwd");
        })
    }

    /// A broker with `settings` for its listener (`PASSWORDS` stands for the password file that
    /// `setup` may write in the broker's directory, as `passwords`).
    fn start_with(settings: &str, setup: impl FnOnce(&Path)) -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let settings = settings.replace("PASSWORDS", &dir.path().join("passwords").display().to_string());
        let persistence = if settings.contains("persistence ") { "" } else { "persistence true\n" };
        let config = format!(
            "listener {port} 127.0.0.1\n\
             {settings}\
             {persistence}\
             persistence_location {}/\n\
             autosave_interval 1\n\
             max_queued_messages 1000000\n\
             max_inflight_messages 0\n\
             user root\n\
             log_dest file {}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type subscribe\n",
            dir.path().display(),
            dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let mut broker = Mosquitto { port, dir, child: None };
        broker.run();
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A clean restart: SIGTERM (the broker saves its sessions and queues), then the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Subscriptions made since the broker started, as its log has them: "CLIENT QOS FILTER".
    pub fn subscriptions(&self, client_id: &str) -> usize {
        let line = format!(": {client_id} 1 ");
        self.log().lines().filter(|l| l.contains(&line)).count()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
