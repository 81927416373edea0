//! Helpers shared by the integration tests that need a broker: a Tansu broker per test, the
//! binary, and the independent Python client; `postgres`: a PostgreSQL server per test.
#![allow(dead_code)]

pub mod mosquitto;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod secure_kafka;
pub mod windows;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotstream_engine::WindowResult;
use serde_json::Value;

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
    // The demo keeps its history in the user's data directory: never the real one in a test.
    let data_home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-data");
    cmd.env_remove("RUST_LOG").env_remove("PGPASSWORD").env("TZ", "UTC").env("XDG_DATA_HOME", data_home);
    cmd
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run iotstream");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The tests' Python (`IOTSTREAM_PYTHON`, the virtualenv `scripts/test` makes, else `python3`).
pub fn python_interpreter() -> String {
    std::env::var("IOTSTREAM_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The tests' Python running `tests/SCRIPT` (a path below `tests/`).
pub fn python_script(script: &str) -> Command {
    let mut command = Command::new(python_interpreter());
    command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script));
    command
}

pub fn python(script: &str, args: &[&str]) -> Output {
    let out = python_script(&format!("kafka/{script}")).args(args).output().expect("python3");
    assert!(
        out.status.success(),
        "{script} failed (is confluent-kafka installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The independent oracle, `tests/oracle/windows.py`: tumbling windows of `seconds` over the
/// readings in `path` (all valid), one JSON object per window, in window order.
pub fn python_oracle(path: &Path, seconds: u64) -> Vec<Value> {
    python_oracle_with(path, &[seconds.to_string()])
}

/// The oracle with its own arguments after the file (`WINDOW_SECONDS [--slide S] [--max-delay D
/// [--allowed-lateness L]]`): one JSON value per line.
pub fn python_oracle_with<S: AsRef<std::ffi::OsStr>>(path: &Path, args: &[S]) -> Vec<Value> {
    let out = python_script("oracle/windows.py").arg(path).args(args).output().expect("python3");
    assert!(out.status.success(), "the oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Whether `ours` is the Python oracle's window `theirs`: the same bounds, counts and per-state
/// statistics; means agree to 1e-9 (the oracle sums floats in input order, the engine exactly).
pub fn agrees_with_python(ours: &WindowResult, theirs: &Value) -> Result<(), String> {
    let int = |v: &Value| v.as_i64().unwrap_or(i64::MIN);
    let count = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    let at = ours.window_start;
    let differ = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Err(format!("window {at}: {what} {a:?}, the Python oracle has {b:?}"))
    };
    let bounds = (ours.window_start.as_micros(), ours.window_end.as_micros());
    let expected = (int(&theirs["window_start"]), int(&theirs["window_end"]));
    if bounds != expected {
        return differ("bounds", &bounds, &expected);
    }
    let totals = (ours.messages, ours.sensors);
    let expected = (count(&theirs["messages"]), count(&theirs["sensors"]));
    if totals != expected {
        return differ("messages and sensors", &totals, &expected);
    }
    let states = theirs["states"].as_object().map_or(0, |s| s.len());
    if ours.states.len() != states {
        return differ("states", &ours.states.len(), &states);
    }
    for s in &ours.states {
        let t = &theirs["states"][&s.state];
        let stats = (s.messages, s.sensors, s.min_temperature, s.max_temperature);
        let expected = (count(&t["messages"]), count(&t["sensors"]), t["min"].as_f64(), t["max"].as_f64());
        if (stats.0, stats.1, Some(stats.2), Some(stats.3)) != expected {
            return differ(&format!("{}: messages, sensors, min, max", s.state), &stats, &expected);
        }
        let mean = t["sum"].as_f64().unwrap_or(f64::NAN) / s.messages as f64;
        if (s.avg_temperature - mean).abs() > 1e-9 * mean.abs() {
            return differ(&format!("{}: mean", s.state), &s.avg_temperature, &mean);
        }
    }
    Ok(())
}

/// A running `iotstream` with its dashboard; killed on drop.
pub struct Served {
    pub child: Child,
    pub addr: String,
    /// Everything it has logged so far.
    pub log: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `iotstream ARGS` and waits for its "dashboard on http://ADDR/" log line.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child = bin()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start iotstream");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let logged = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            logged.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("dashboard on http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(20)).expect("the dashboard did not start");
    Served { child, addr, log }
}

/// A plain HTTP/1.1 GET: status and body.
pub fn get(addr: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Polls `path` until `done` accepts the body.
pub fn wait_for(addr: &str, path: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, path, &[]);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never became ready: {status} {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the sample `name` (with its labels) in Prometheus text.
pub fn counter(metrics: &str, name: &str) -> f64 {
    metrics.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// The lines `stream` (a child's stdout or stderr) writes, as they come, on a thread of their own.
pub fn lines_of(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for `child` at most `timeout`; `None` (and the child killed) if it did not exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by `openssl`: `NAME.crt` and `NAME.key` in `dir`.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (certificate, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let status = Command::new("openssl")
        .args(["req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl");
    (certificate, key)
}

/// The window lines of a jsonl output.
pub fn window_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.contains(r#""type":"window""#)).map(str::to_owned).collect()
}

/// The window lines an uninterrupted `analyze --once` over `input` with `flags` prints.
pub fn reference(input: &Path, flags: &[&str]) -> Vec<String> {
    let out = run(&[&["analyze", "--input", input.to_str().unwrap(), "--once"][..], flags].concat());
    window_lines(&String::from_utf8_lossy(&out.stdout))
}

/// `iotstream history` of `store` (jsonl; a PostgreSQL store's password from the test server's).
pub fn history(store: &str) -> Vec<String> {
    let out =
        bin().args(["history", "--store", store]).env("PGPASSWORD", postgres::PASSWORD).output().unwrap();
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// A result line without the input partitions it covers (a topic's results name theirs, a
/// file's have none), as a comparable string.
pub fn without_partitions(line: &str) -> String {
    let mut value: Value = serde_json::from_str(line).expect("a JSON result");
    value.as_object_mut().expect("an object").remove("partitions");
    value.to_string()
}
