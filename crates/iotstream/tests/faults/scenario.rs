//! Running a scenario: the input, a broker, a paced producer, the engine's runs, and faults on a
//! seeded schedule. What the engine must never do while it runs (be dead when killed, fail a clean
//! stop, die in a broker outage, stop making progress) is an `Err` at once; what it wrote is
//! returned as [`Evidence`] for the checks.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::check;
use crate::common::{bin, python, run, Broker};

/// The topic read, and the dead-letter topic.
pub const TOPIC: &str = "faults";
pub const DEAD_LETTERS: &str = "faults-dlq";
/// The engine's consumer group (the default).
const GROUP: &str = "iotstream";
/// Window length, seconds.
pub const WINDOW_SECONDS: u64 = 10;
/// How the engine cuts windows, in every run and in the oracle run.
pub const WINDOW_FLAGS: [&str; 6] = ["--time", "event", "--window", "10s", "--max-delay", "1s"];
/// Lets `produce` send the multi-megabyte poison message.
const BIG_MESSAGES: &str = "message.max.bytes=10000000";
/// Readings produced per part between broker outages: 200 s of event time, 20 windows.
const BROKER_PART: u64 = 20_000;
/// How long a clean stop, the final run and progress after an outage may take.
const PATIENCE: Duration = Duration::from_secs(180);
/// Without a state directory, the run after a kill starts this long after it: once the killed
/// member's session (6 s) has expired. Tansu gives a member that joins while a killed one's
/// session is live an empty assignment, sometimes, and then never rebalances when that session
/// expires; the run would wait for partitions for ever.
const SESSION_EXPIRY: Duration = Duration::from_secs(8);

/// How much of everything: quick by default (`cargo test`), `FAULTS_MEDIUM=1` (CI, release mode),
/// `FAULTS_LONG=1` (`scripts/faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Quick,
    Medium,
    Long,
}

impl Form {
    pub fn current() -> Form {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        match (set("FAULTS_LONG"), set("FAULTS_MEDIUM")) {
            (true, _) => Form::Long,
            (false, true) => Form::Medium,
            (false, false) => Form::Quick,
        }
    }

    /// Faults per scenario, and how many of them must provably interrupt work.
    pub fn faults(self) -> (usize, usize) {
        match self {
            Form::Quick => (3, 2),
            Form::Medium => (12, 10),
            Form::Long => (20, 16),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` the engine while the input is produced, and start it again at once.
    KillEngine,
    /// SIGTERM the engine while the input is produced, and start it again at once.
    StopEngine,
    /// `kill -9` the broker for a second, then restart it; the input is produced in parts, one
    /// after each outage, so that each part proves the engine went on after it.
    KillBroker,
    /// Nothing: the schedule of engine faults runs, with one run of the engine throughout (to
    /// show that a mutant fails because of the faults; only the mutants' tests use it).
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    Calm,
}

/// One scenario of the suite.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub fault: Fault,
    /// How many faults.
    pub faults: usize,
    /// How many of them must provably interrupt work (the resumed position strictly inside the
    /// input and beyond the previous one; every broker outage followed by progress).
    pub must_count: usize,
    /// Seconds between faults, drawn uniformly from this range (without a state directory,
    /// counted from when the restarted run has written a window).
    pub pause: (f64, f64),
    /// Readings produced per second while faults happen.
    pub rate: u64,
    /// With `--state-dir` (exact results) or without (at least once, from committed offsets).
    pub state: bool,
    /// Poison of every rejection reason mixed into the input, dead-lettered.
    pub poison: bool,
    /// A deliberately broken engine (`--fault-mutant`).
    pub mutant: Option<String>,
}

impl Scenario {
    /// Enough readings that the input is still being produced at the last engine fault (the
    /// pauses and restarts add up to less than the production time; what is left after the last
    /// fault is then produced at once); for broker outages, a part per outage and one before.
    pub fn readings(&self) -> u64 {
        let runs = self.faults as u64 + 1;
        match self.fault {
            Fault::KillBroker => runs * BROKER_PART,
            Fault::KillEngine | Fault::StopEngine | Fault::Calm => {
                let restart = if self.state { 0.0 } else { SESSION_EXPIRY.as_secs_f64() + 2.0 };
                (self.rate as f64 * (self.pause.1 + restart)) as u64 * runs
            }
        }
    }
}

/// A small deterministic generator for the fault schedule (splitmix64).
pub struct Schedule(pub u64);

impl Schedule {
    fn next_secs(&mut self, (low, high): (f64, f64)) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        low + (high - low) * (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the engine left behind.
pub struct Evidence {
    /// What happened when.
    pub log: Vec<String>,
    /// The result files, in the order they were written: one with a state directory, one per
    /// run without (each run starts its file afresh).
    pub outputs: Vec<PathBuf>,
    /// Per fault, the input position (messages, all partitions) the next run started from, if
    /// it started from a checkpoint or committed offsets. For broker outages, the position is
    /// that of the part produced after the outage, which the engine was seen to process.
    pub resumed: Vec<Option<u64>>,
}

/// The engine under test, killed when dropped (a failed check must not leave it running).
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Everything a scenario runs on.
pub struct Lab<'a> {
    scenario: &'a Scenario,
    dir: &'a Path,
    pub broker: Broker,
    runs: usize,
    started: Instant,
    log: Vec<String>,
    outputs: Vec<PathBuf>,
}

impl<'a> Lab<'a> {
    /// A durable broker with the topic created (4 partitions), ready for the engine.
    pub fn new(scenario: &'a Scenario, dir: &'a Path) -> Lab<'a> {
        // Durable storage throughout: Tansu's memory engine skips messages when a consumer
        // resumes from an offset inside a batch (a known defect), which would fail every crash.
        let broker = Broker::sqlite();
        let address = broker.address.clone();
        run(&["produce", "--kafka", &address, "--topic", TOPIC, "--input", "/dev/null", "--partitions", "4"]);
        Lab { scenario, dir, broker, runs: 0, started: Instant::now(), log: Vec::new(), outputs: Vec::new() }
    }

    /// Runs the scenario's faults over `input` (`lines` lines, produced as they happen).
    pub fn run(&mut self, input: &Path, lines: u64, seed: u64) -> Result<Evidence, String> {
        let known = match self.scenario.fault {
            Fault::KillEngine | Fault::StopEngine | Fault::Calm => self.engine_faults(input, seed),
            Fault::KillBroker => self.broker_faults(input, lines, seed),
        };
        match known {
            Ok(known) => Ok(Evidence {
                resumed: self.resumed_positions(known),
                log: self.log.clone(),
                outputs: self.outputs.clone(),
            }),
            Err(failure) => Err(format!("{failure}\n(schedule {:?})", self.log)),
        }
    }

    fn note(&mut self, what: impl std::fmt::Display) {
        self.log.push(format!("{:.1}s: {what}", self.started.elapsed().as_secs_f64()));
    }

    /// Starts a run of the engine; each run logs to a file of its own (`engine-N.log`).
    fn engine(&mut self, once: bool) -> Engine {
        self.runs += 1;
        let scenario = self.scenario;
        let output = match scenario.state {
            true => self.dir.join("results.jsonl"),
            false => self.dir.join(format!("results-{}.jsonl", self.runs)),
        };
        if !self.outputs.contains(&output) {
            self.outputs.push(output.clone());
        }
        let mut cmd = bin();
        cmd.args(["analyze", "--kafka", &self.broker.address, "--topic", TOPIC, "--format", "jsonl"])
            .args(WINDOW_FLAGS)
            .arg("--output")
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log_path(self.runs)).expect("engine log"));
        if scenario.state {
            let state = self.dir.join("state");
            cmd.arg("--state-dir").arg(state).args(["--checkpoint-interval", "500ms"]);
        }
        if scenario.poison {
            cmd.args(["--dead-letter-topic", DEAD_LETTERS]);
        }
        if let Some(mutant) = &scenario.mutant {
            cmd.args(["--fault-mutant", mutant]);
        }
        if once {
            cmd.arg("--once");
        }
        Engine(cmd.spawn().expect("engine"))
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.join(format!("engine-{run}.log"))
    }

    /// The last lines run `run` logged, for an error message.
    fn tail(&self, run: usize) -> String {
        let log = std::fs::read_to_string(self.log_path(run)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// kill -9 (or SIGTERM) the engine after each pause, just after it wrote a result, and start
    /// it again; then a clean stop once all input is written, and the final run. Without a state
    /// directory, the group's committed offsets after each fault are where the next run starts,
    /// and each pause begins once that run is at work.
    fn engine_faults(&mut self, input: &Path, seed: u64) -> Result<Vec<Option<u64>>, String> {
        let scenario = self.scenario;
        let producer = Producer::paced(&self.broker, input, scenario.rate, scenario.poison);
        let mut schedule = Schedule(seed);
        let mut engine = self.engine(false);
        let mut committed = Vec::new();
        for _ in 0..scenario.faults {
            std::thread::sleep(Duration::from_secs_f64(schedule.next_secs(scenario.pause)));
            self.await_write();
            match scenario.fault {
                Fault::KillEngine => {
                    self.note("kill -9 engine");
                    self.kill(&mut engine)?;
                }
                Fault::StopEngine => {
                    self.note("SIGTERM engine");
                    self.stop(&mut engine)?;
                }
                Fault::KillBroker | Fault::Calm => {
                    self.note("no fault");
                    continue;
                }
            }
            if !scenario.state {
                committed.push(Some(self.committed()));
                std::thread::sleep(SESSION_EXPIRY);
            }
            engine = self.engine(false);
            if !scenario.state {
                self.await_first_window(&mut engine)?;
            }
        }
        self.note("the faults are over: the rest of the input at once");
        producer.finish();
        self.note("input written; SIGTERM engine");
        self.stop(&mut engine)?;
        self.final_run()?;
        Ok(committed)
    }

    /// Outages of the broker while the engine runs, each followed by a part of the input that
    /// the engine must be seen to process; then a clean stop and the final run.
    fn broker_faults(&mut self, input: &Path, lines: u64, seed: u64) -> Result<Vec<Option<u64>>, String> {
        let scenario = self.scenario;
        let parts = split(input, lines, scenario.faults + 1, self.dir);
        // Each part is written while the broker is up: a producer whose broker dies re-sends
        // unacknowledged batches (idempotent producers are not proven on Tansu), and those
        // duplicates would be the producer's, not the engine's, to answer for.
        Producer::all_at_once(&self.broker, &parts[0].path);
        let mut schedule = Schedule(seed);
        let mut engine = self.engine(false);
        let mut reached = Vec::new();
        for (outage, part) in parts.iter().enumerate().skip(1) {
            std::thread::sleep(Duration::from_secs_f64(schedule.next_secs(scenario.pause)));
            self.note("kill -9 broker");
            self.broker.kill();
            std::thread::sleep(Duration::from_secs(1));
            self.broker.start();
            self.note("broker back");
            if let Ok(Some(status)) = engine.0.try_wait() {
                return Err(format!("the engine died in broker outage {outage}: {status}\n{}", self.tail(1)));
            }
            Producer::all_at_once(&self.broker, &part.path);
            self.await_window(&mut engine, part.progress_mark)?;
            self.note(format!("the engine processed part {outage}, written after the outage"));
            reached.push(Some(part.first_line));
        }
        self.note("SIGTERM engine");
        self.stop(&mut engine)?;
        self.final_run()?;
        Ok(reached)
    }

    /// Waits (a few seconds at most) until the engine writes to its result file: a fault then
    /// lands when the most is at stake, with output that no checkpoint covers yet (polled every
    /// 2 ms, while checkpoints are 500 ms apart).
    fn await_write(&self) {
        let Some(output) = self.outputs.last() else { return };
        let len = || std::fs::metadata(output).map_or(0, |m| m.len());
        let before = len();
        let deadline = Instant::now() + Duration::from_secs(5);
        while len() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until a restarted run, with a result file of its own, has written a window to it
    /// (stats records come without input).
    fn await_first_window(&mut self, engine: &mut Engine) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        let output = self.outputs.last().cloned().unwrap_or_default();
        while check::windows(&output, true).unwrap_or_default().is_empty() {
            if let Ok(Some(status)) = engine.0.try_wait() {
                return Err(format!("a restarted run died: {status}\n{}", self.tail(self.runs)));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "a restarted run wrote nothing within {PATIENCE:?}\n{}",
                    self.tail(self.runs)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.note("the restarted run is at work");
        Ok(())
    }

    /// Waits until the result file holds a final window starting at or after `mark` (µs), while
    /// the engine stays alive.
    fn await_window(&self, engine: &mut Engine, mark: i64) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        let output = &self.outputs[0];
        loop {
            // Whole lines only: the engine may be writing the next one.
            let windows = check::windows(output, true).unwrap_or_default();
            if windows.iter().any(|w| w.result.is_final && w.result.window_start.as_micros() >= mark) {
                return Ok(());
            }
            if let Ok(Some(status)) = engine.0.try_wait() {
                return Err(format!("the engine died after a broker outage: {status}\n{}", self.tail(1)));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no progress within {PATIENCE:?} after a broker outage\n{}",
                    self.tail(1)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// kill -9: the engine must still be running to be killed by it.
    fn kill(&self, engine: &mut Engine) -> Result<(), String> {
        signal(&engine.0, "KILL");
        let status = engine.0.wait().expect("engine");
        match status.signal() {
            Some(9) => Ok(()),
            _ => {
                Err(format!("the engine had already exited ({status}) when killed\n{}", self.tail(self.runs)))
            }
        }
    }

    /// SIGTERM: a clean stop, exit status 0.
    fn stop(&self, engine: &mut Engine) -> Result<(), String> {
        signal(&engine.0, "TERM");
        let status = wait(&mut engine.0, PATIENCE);
        match status {
            Some(status) if status.success() => Ok(()),
            other => Err(format!("a clean stop failed: {other:?}\n{}", self.tail(self.runs))),
        }
    }

    /// The last run, `--once`: reads what is left, emits the rest, exits 0.
    fn final_run(&mut self) -> Result<(), String> {
        self.note("final --once run");
        let mut engine = self.engine(true);
        match wait(&mut engine.0, PATIENCE) {
            Some(status) if status.success() => Ok(()),
            other => Err(format!("the final run failed: {other:?}\n{}", self.tail(self.runs))),
        }
    }

    /// The position (all partitions) the group has committed, read by the independent client.
    fn committed(&self) -> u64 {
        let out = python("committed.py", &[&self.broker.address, TOPIC, GROUP]);
        let offsets: Value = serde_json::from_slice(&out.stdout).expect("committed.py output");
        offsets.as_object().map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
    }

    /// Where each run after a fault started: the checkpoint it logged it resumed from (with a
    /// state directory), else `known` (committed offsets, or the parts after broker outages).
    fn resumed_positions(&self, known: Vec<Option<u64>>) -> Vec<Option<u64>> {
        if !self.scenario.state || matches!(self.scenario.fault, Fault::KillBroker | Fault::Calm) {
            return known;
        }
        // Run 1 is the first; run N + 1 is the one after fault N.
        (1..=self.scenario.faults)
            .map(|fault| {
                let log = std::fs::read_to_string(self.log_path(fault + 1)).unwrap_or_default();
                check::resumed_from(&log)
            })
            .collect()
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
}

/// Waits for `child` to exit, at most `patience`; kills it after that (and returns `None`).
fn wait(child: &mut Child, patience: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A part of the input, produced after a broker outage.
struct Part {
    path: PathBuf,
    /// Its first line's position in the whole input.
    first_line: u64,
    /// The first window wholly inside the part: seeing it emitted proves the part was read.
    progress_mark: i64,
}

/// Splits `input` (`lines` valid readings in event-time order) into `count` files.
fn split(input: &Path, lines: u64, count: usize, dir: &Path) -> Vec<Part> {
    let text = std::fs::read_to_string(input).expect("input");
    let all: Vec<&str> = text.lines().collect();
    let size = (lines as usize).div_ceil(count);
    let window = WINDOW_SECONDS as i64 * 1_000_000;
    all.chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let path = dir.join(format!("part-{i}.jsonl"));
            std::fs::write(&path, chunk.join("\n") + "\n").expect("part");
            let first: Value = serde_json::from_str(chunk[0]).expect("a reading");
            let time =
                iotstream_engine::EventTime::parse_rfc3339(first["eventTime"].as_str().unwrap().as_bytes());
            let micros = time.expect("eventTime").as_micros();
            Part { path, first_line: (i * size) as u64, progress_mark: (micros / window + 1) * window }
        })
        .collect()
}

/// `iotstream produce`, fed lines of a file on its stdin at a steady rate; killed when dropped.
struct Producer {
    child: Child,
    feeder: Option<JoinHandle<()>>,
    /// Set once the faults are over: the rest of the input is written at once.
    hurry: Arc<AtomicBool>,
}

impl Producer {
    /// Produces `input` at `rate` lines a second.
    fn paced(broker: &Broker, input: &Path, rate: u64, big: bool) -> Producer {
        let mut cmd = bin();
        cmd.args(["produce", "--kafka", &broker.address, "--topic", TOPIC, "--input", "-"]);
        if big {
            cmd.args(["--kafka-option", BIG_MESSAGES]);
        }
        let mut child = cmd.stdin(Stdio::piped()).stderr(Stdio::null()).spawn().expect("producer");
        let stdin = child.stdin.take().expect("stdin");
        let data = std::fs::read(input).expect("input");
        let hurry = Arc::new(AtomicBool::new(false));
        let hurried = Arc::clone(&hurry);
        let feeder = std::thread::spawn(move || feed(stdin, &data, rate, &hurried));
        Producer { child, feeder: Some(feeder), hurry }
    }

    /// Produces all of `input` and returns once the broker has it.
    fn all_at_once(broker: &Broker, input: &Path) {
        let path = input.to_str().expect("a UTF-8 path");
        run(&["produce", "--kafka", &broker.address, "--topic", TOPIC, "--input", path]);
    }

    /// Writes the rest of the input at once, and waits until the broker has all of it.
    fn finish(mut self) {
        self.hurry.store(true, Ordering::Relaxed);
        if let Some(feeder) = self.feeder.take() {
            feeder.join().expect("feeder");
        }
        let status = self.child.wait().expect("producer");
        assert!(status.success(), "the producer failed: {status}");
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the lines of `data` to `stdin`, `rate` a second (all that is left once `hurry` is
/// set), then closes it (the end of input).
fn feed(mut stdin: ChildStdin, data: &[u8], rate: u64, hurry: &AtomicBool) {
    let started = Instant::now();
    let mut lines = data.split_inclusive(|&b| b == b'\n');
    let mut sent = 0u64;
    loop {
        let due = match hurry.load(Ordering::Relaxed) {
            true => u64::MAX,
            false => (started.elapsed().as_secs_f64() * rate as f64) as u64,
        };
        while sent < due {
            let Some(line) = lines.next() else { return };
            if stdin.write_all(line).is_err() {
                return; // the producer died; `finish` reports it
            }
            sent += 1;
        }
        if stdin.flush().is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
