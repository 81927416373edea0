//! The scale-out scenario, shared by `tests/scale_out.rs` and the fault suite (`tests/faults.rs`,
//! which runs it against the `scale-out-mark-before-write` mutant): a 6-partition topic read by a
//! group of instances with `--scale-out` while a paced producer writes it, and the group's
//! membership changing under it: three instances, one `kill -9`ed, one added, one stopped with
//! SIGTERM, the broker `kill -9`ed and restarted, then the merging instance `kill -9`ed while input
//! is still coming. The global results every instance wrote, the results topic and every live
//! dashboard must hold each window once per revision (never two different contents for one
//! revision), and their latest revisions must equal the independent Python oracle's windows over
//! the same readings, and a single process's. The scenario returns what the group did wrong, its
//! failure beginning with one of [`reasons`] when it is one a mutant is named for.
//!
//! `SCALE_SEED=N` replays a schedule; every failure prints the seed and the schedule;
//! `SCALE_KEEP=1` keeps the instances' logs and outputs of a run that passed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, bin, run, Broker};
use iotstream_engine::WindowResult;
use serde_json::Value;

/// The verdicts a mutant can be caught by (`tests/faults.rs`, `MUST_CATCH`).
pub mod reasons {
    /// Windows the oracle finds in the topic are missing from every instance's global results.
    pub const MISSING: &str = "windows the oracle finds are missing from the group's results";
}

const READINGS: u64 = 80_000;
/// Slow enough that the producer is still writing when the merger is killed (about 100 s for the
/// readings, a 10 s window closing about every 12.5 s; the schedule before that kill takes 10 to
/// 40 s, then until the merger's output holds a window): the kill lands on live work.
const RATE: &str = "800";
const WINDOW_FLAGS: [&str; 8] =
    ["--time", "event", "--window", "10s", "--max-delay", "1s", "--idle-timeout", "3s"];

fn seed() -> u64 {
    std::env::var("SCALE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
    })
}

fn simulate_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["simulate", &READINGS.to_string(), "--seed", "4242", "--start", "2016-11-16T13:00:00Z"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(["--interval", "1ms"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// One instance of the group, its results and log in `dir/NAME.*`.
struct Instance {
    name: String,
    child: Child,
    log: PathBuf,
    output: PathBuf,
}

impl Instance {
    /// Starts the instance `name`, the engine `mutant` names if any.
    fn start(broker: &Broker, dir: &Path, name: &str, mutant: Option<&str>) -> Instance {
        let (log, output) = (dir.join(format!("{name}.log")), dir.join(format!("{name}.jsonl")));
        let mut command = bin();
        command
            .args([
                "analyze",
                "--kafka",
                &broker.address,
                "--topic",
                "readings",
                "--group",
                "fleet",
                "--scale-out",
            ])
            .args(WINDOW_FLAGS)
            .args(["--checkpoint-interval", "1s", "--results-topic", "global", "--format", "jsonl"])
            .args(["--http", "127.0.0.1:0"])
            .args(["--output", output.to_str().unwrap()]);
        if let Some(mutant) = mutant {
            command.args(["--fault-mutant", mutant]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("instance");
        Instance { name: name.to_owned(), child, log, output }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where its dashboard listens, once it has said so.
    fn dashboard(&self) -> Option<String> {
        let log = self.log();
        let rest = log.split("dashboard on http://").nth(1)?;
        Some(rest.split('/').next()?.to_owned())
    }

    /// True while this instance writes the global results.
    fn merging(&self) -> bool {
        let log = self.log();
        log.rfind("now merges").is_some_and(|at| log.rfind("no longer merges").is_none_or(|no| no < at))
    }

    fn signal(&self, name: &str) {
        let _ = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
    }
}

/// Every window record in `text` (JSON lines), as (raw JSON without `partitions`, parsed).
fn windows_in(text: &str) -> Vec<(String, WindowResult)> {
    text.lines()
        .filter(|l| l.contains(r#""type":"window""#))
        .map(|l| {
            let mut value: Value = serde_json::from_str(l).expect("json");
            value.as_object_mut().unwrap().remove("partitions");
            (value.to_string(), serde_json::from_value(value).expect("window"))
        })
        .collect()
}

/// The latest revision of each window, by start.
fn latest(windows: &[(String, WindowResult)]) -> BTreeMap<i64, WindowResult> {
    let mut latest: BTreeMap<i64, WindowResult> = BTreeMap::new();
    for (_, w) in windows {
        let start = w.window_start.as_micros();
        if latest.get(&start).is_none_or(|held| held.revision <= w.revision) {
            latest.insert(start, w.clone());
        }
    }
    latest
}

/// Two records of one window and revision with different contents, if any.
fn contradiction(windows: &[(String, WindowResult)]) -> Option<String> {
    let mut seen: BTreeMap<(i64, u32), &str> = BTreeMap::new();
    for (raw, w) in windows {
        match seen.insert((w.window_start.as_micros(), w.revision), raw) {
            Some(earlier) if earlier != raw => return Some(format!("{earlier}\n  vs\n{raw}")),
            _ => {}
        }
    }
    None
}

/// The oracle: Python's own Kafka client reads the topic (a producer retrying through the broker's
/// restart may have written a reading twice: the topic, not the producer's intent, is the input),
/// and Python counts its readings in 10 s windows: (start µs → messages, sensors).
fn oracle(broker: &Broker, dir: &Path) -> BTreeMap<i64, (u64, u64)> {
    let input = dir.join("readings.jsonl");
    let consumed = common::python("consume.py", &[&broker.address, "readings"]).stdout;
    let values: Vec<String> = String::from_utf8(consumed)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["value"].as_str().map(str::to_owned))
        .collect();
    std::fs::write(&input, values.join("\n") + "\n").unwrap();
    common::python_oracle(&input, 10)
        .into_iter()
        .map(|v| {
            (
                v["window_start"].as_i64().unwrap(),
                (v["messages"].as_u64().unwrap(), v["sensors"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// A single process over the same topic, without scale-out: the final windows it computes.
fn single_process(broker: &Broker, dir: &Path) -> BTreeMap<i64, WindowResult> {
    let output = dir.join("single.jsonl");
    let mut args = vec!["analyze", "--kafka", &broker.address, "--topic", "readings", "--group", "single"];
    args.extend(WINDOW_FLAGS);
    args.extend(["--once", "--format", "jsonl", "--output", output.to_str().unwrap()]);
    run(&args);
    latest(&windows_in(&std::fs::read_to_string(output).unwrap()))
}

fn counts(windows: &BTreeMap<i64, WindowResult>) -> BTreeMap<i64, (u64, u64)> {
    windows.iter().map(|(&start, w)| (start, (w.messages, w.sensors))).collect()
}

/// Waits until `instance`'s output holds a window (the merger has written results, and marked
/// them in the log right after), for at most 60 s; true if it did.
fn wait_for_written(instance: &Instance) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !windows_in(&std::fs::read_to_string(&instance.output).unwrap_or_default()).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// Waits until the instances' files hold every reading in their latest windows, or `limit`.
fn wait_complete(instances: &[Instance], limit: Duration) -> Vec<(String, WindowResult)> {
    let deadline = Instant::now() + limit;
    loop {
        let all: Vec<(String, WindowResult)> = instances
            .iter()
            .flat_map(|i| windows_in(&std::fs::read_to_string(&i.output).unwrap_or_default()))
            .collect();
        let total: u64 = latest(&all).values().map(|w| w.messages).sum();
        if total >= READINGS || Instant::now() >= deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `Err(failure)` unless the check holds.
fn ensure(holds: bool, failure: impl FnOnce() -> String) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(failure())
    }
}

/// The scenario, every instance the engine `mutant` names if any: `Err` says what the group did
/// wrong (the schedule and where the logs are kept included).
pub fn changing_group(mutant: Option<&str>) -> Result<(), String> {
    let seed = seed();
    let mut pause = {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            Duration::from_millis(1500 + (state >> 33) % 2000)
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite();
    // The topic first (no readings): instances look up its partitions when they start.
    run(&["simulate", "0", "--kafka", &broker.address, "--topic", "readings", "--partitions", "6"]);
    let mut schedule = vec![format!("seed {seed}")];
    let mut instances = vec![
        Instance::start(&broker, dir.path(), "a", mutant),
        Instance::start(&broker, dir.path(), "b", mutant),
        Instance::start(&broker, dir.path(), "c", mutant),
    ];
    let producer_args = simulate_args(&["--kafka", &broker.address, "--topic", "readings", "--rate", RATE]);
    let mut producer = bin().args(&producer_args).stderr(Stdio::null()).spawn().expect("producer");
    let started = Instant::now();
    let step = |schedule: &mut Vec<String>, what: String| {
        schedule.push(format!("{:5.1}s {what}", started.elapsed().as_secs_f64()))
    };

    std::thread::sleep(pause());
    instances[1].signal("KILL");
    step(&mut schedule, "kill -9 b".into());
    std::thread::sleep(pause());
    instances.push(Instance::start(&broker, dir.path(), "d", mutant));
    step(&mut schedule, "start d".into());
    std::thread::sleep(pause());
    instances[2].signal("TERM");
    step(&mut schedule, "SIGTERM c".into());
    std::thread::sleep(pause());
    broker.kill();
    step(&mut schedule, "kill -9 the broker".into());
    std::thread::sleep(Duration::from_secs(2));
    broker.start();
    step(&mut schedule, "broker back".into());
    std::thread::sleep(pause());
    // The merger among the live instances (after a kill, the election waits for the session
    // timeout).
    let deadline = Instant::now() + Duration::from_secs(30);
    let merger = loop {
        let found = instances.iter().position(|i| i.merging() && i.name != "b" && i.name != "c");
        if found.is_some() || Instant::now() >= deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut killed = None;
    let mut marked = false;
    match merger {
        Some(m) => {
            // The kill lands on a merger that has written results, and so marked them in the log:
            // whatever it had marked must not be lost. (A merger that marks before it writes has
            // marked more than its output holds by then.)
            marked = wait_for_written(&instances[m]);
            step(&mut schedule, format!("{} has written results: {marked}", instances[m].name));
            let producing = producer.try_wait().expect("producer").is_none();
            instances[m].signal("KILL");
            step(
                &mut schedule,
                format!("kill -9 the merger, {} (producing: {producing})", instances[m].name),
            );
            killed = Some((instances[m].name.clone(), instances[m].output.clone(), producing));
            instances.push(Instance::start(&broker, dir.path(), "e", mutant));
            step(&mut schedule, "start e".into());
        }
        None => step(&mut schedule, "no merger found to kill".into()),
    }
    assert!(producer.wait().expect("producer").success());
    step(&mut schedule, "producer done".into());

    let results = wait_complete(&instances, Duration::from_secs(120));
    step(&mut schedule, "results complete (or timed out)".into());
    // Every live instance's dashboard shows the global windows and the group's partitions.
    let mut dashboards = Vec::new();
    for instance in instances.iter_mut() {
        if !matches!(instance.child.try_wait(), Ok(None)) {
            continue;
        }
        let Some(addr) = instance.dashboard() else { continue };
        // Each instance follows the merge log at its own pace: give it a moment to catch up.
        let deadline = Instant::now() + Duration::from_secs(20);
        let shown = loop {
            let body = common::get(&addr, "/api/windows?limit=500", &[]).1;
            let values: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
            let shown =
                latest(&windows_in(&values.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")));
            if shown.values().map(|w| w.messages).sum::<u64>() >= READINGS || Instant::now() >= deadline {
                break shown;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let status: Value =
            serde_json::from_str(&common::get(&addr, "/api/status", &[]).1).unwrap_or_default();
        dashboards.push((instance.name.clone(), shown, status));
    }
    for instance in instances.iter_mut() {
        if instance.child.try_wait().unwrap().is_none() {
            instance.signal("TERM");
        }
    }
    // What `iotstream group` says of it, read from the merge log.
    let mut group_args = vec!["group", "--kafka", &broker.address, "--topic", "readings", "--group", "fleet"];
    group_args.extend(WINDOW_FLAGS);
    let described = String::from_utf8(run(&group_args).stdout).unwrap();
    let statuses: Vec<String> = instances
        .iter_mut()
        .map(|i| format!("{}: {:?}", i.name, common::wait_timeout(&mut i.child, Duration::from_secs(30))))
        .collect();
    let context = format!(
        "schedule:\n  {}\nexits: {statuses:?}\nlogs in {}",
        schedule.join("\n  "),
        dir.path().display()
    );
    let dir = dir.keep();

    ensure(merger.is_some(), || format!("no instance became the merger\n{context}"))?;
    // The merger's kill landed on live work, and another instance took over: windows after the
    // last one the killed merger wrote are in the results, and another instance merged.
    let (killed, killed_output, producing) =
        killed.ok_or_else(|| format!("the merger was not killed\n{context}"))?;
    ensure(producing, || format!("the producer had finished when the merger was killed\n{context}"))?;
    ensure(marked, || format!("the merger was killed before it had written results\n{context}"))?;
    let killed_last = windows_in(&std::fs::read_to_string(&killed_output).unwrap_or_default())
        .iter()
        .map(|(_, w)| w.window_start.as_micros())
        .max()
        .unwrap_or(0);
    let after = latest(&results).range(killed_last + 1..).count();
    ensure(after > 0, || {
        format!("no window after the killed merger's last ({killed_last}) was written\n{context}")
    })?;
    let took_over: Vec<&str> = instances
        .iter()
        .filter(|i| i.name != killed && i.log().contains("now merges"))
        .map(|i| i.name.as_str())
        .collect();
    ensure(!took_over.is_empty(), || {
        format!("no other instance merged after {killed} was killed\n{context}")
    })?;
    ensure(described.contains("group fleet: topic readings, 6 partitions"), || described.clone())?;
    ensure(!described.contains("merger: none"), || format!("a merger has written results: {described}"))?;
    let partition_lines = described.lines().filter(|l| l.starts_with(char::is_numeric)).count();
    ensure(partition_lines == 6, || format!("{partition_lines} partitions described: {described}"))?;
    if let Some(different) = contradiction(&results) {
        return Err(format!("a window twice with different contents:\n{different}\n{context}"));
    }
    let global = latest(&results);
    let expected = oracle(&broker, &dir);
    let missing: Vec<i64> = expected.keys().filter(|start| !global.contains_key(start)).copied().collect();
    ensure(missing.is_empty(), || {
        format!(
            "{}: {} of {} (starts in µs {missing:?})\n{context}",
            reasons::MISSING,
            missing.len(),
            expected.len()
        )
    })?;
    ensure(counts(&global) == expected, || {
        format!(
            "the group's windows differ from the oracle's:\n  group  {:?}\n  oracle {expected:?}\n{context}",
            counts(&global)
        )
    })?;
    ensure(!dashboards.is_empty(), || format!("no live dashboard\n{context}"))?;
    for (name, shown, status) in &dashboards {
        ensure(counts(shown) == counts(&global), || {
            format!("{name}'s dashboard shows other windows\n{context}")
        })?;
        ensure(shown == &global, || format!("{name}'s dashboard shows other contents\n{context}"))?;
        let partitions = status["scale_out"]["partitions"].as_array().cloned().unwrap_or_default();
        ensure(partitions.len() == 6, || format!("{name}'s status: {status}\n{context}"))?;
        ensure(partitions.iter().all(|p| p["owner"].as_str().is_some_and(|o| !o.is_empty())), || {
            format!("{name}'s status names a partition without an owner: {status}\n{context}")
        })?;
    }
    let single = single_process(&broker, &dir);
    ensure(counts(&global) == counts(&single), || {
        format!("the group's windows differ from one process's\n{context}")
    })?;
    ensure(global == single, || {
        format!("the group's windows differ from one process's in their contents\n{context}")
    })?;
    let topic = windows_in(
        &String::from_utf8(common::python("consume.py", &[&broker.address, "global"]).stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["value"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    ensure(contradiction(&topic).is_none(), || format!("the results topic contradicts itself\n{context}"))?;
    ensure(counts(&latest(&topic)) == counts(&global), || {
        format!("the results topic's latest windows differ\n{context}")
    })?;
    ensure(latest(&topic) == global, || format!("the results topic's latest contents differ\n{context}"))?;
    if std::env::var_os("SCALE_KEEP").is_some() {
        eprintln!("kept: {context}");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
