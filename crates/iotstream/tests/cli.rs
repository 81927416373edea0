//! CLI tests: run the built binary in a temporary directory and check its output exactly.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, run};
use iotstream_engine::WindowResult;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/golden/seed2016_10k").join(name)
}

fn jsonl_results(stdout: &[u8]) -> Vec<WindowResult> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a jsonl result"))
        .collect()
}

#[test]
fn once_over_the_fixture_equals_spark() {
    let input = golden("input.jsonl");
    let out = run(&["analyze", "--input", input.to_str().unwrap(), "--once", "--format", "jsonl"]);
    let results = jsonl_results(&out.stdout);
    assert_eq!(results.len(), 1, "--once emits exactly one result");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden("expected.json")).unwrap()).unwrap();
    let result = &results[0];
    assert_eq!(result.messages, expected["total_messages"].as_u64().unwrap());
    assert_eq!(result.sensors, expected["total_sensors"].as_u64().unwrap());
    assert_eq!(result.rejected, 0);
    let order: Vec<&str> = result.states.iter().map(|s| s.state.as_str()).collect();
    let expected_order: Vec<&str> =
        expected["avg_temp_by_state_order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(order, expected_order);
    for s in &result.states {
        let want = expected["avg_temp_by_state"][&s.state].as_f64().unwrap();
        assert!((s.avg_temperature - want).abs() / want <= 1e-9, "{}", s.state);
        assert_eq!(s.sensors, expected["sensors_by_state"][&s.state].as_u64().unwrap());
        assert!(s.min_temperature <= s.avg_temperature && s.avg_temperature <= s.max_temperature);
    }
    assert!(result.window_start <= result.window_end);
}

/// The console output is Spark's, line for line: the same lines in the same order, with only the
/// batch time and the last digits of averages (summation order) allowed to differ.
#[test]
fn console_output_is_the_seeds() {
    let input = golden("input.jsonl");
    let out = run(&["analyze", "--input", input.to_str().unwrap(), "--once"]);
    let ours = String::from_utf8(out.stdout).unwrap();
    let spark = std::fs::read_to_string(golden("spark_console.txt")).unwrap();
    let ours: Vec<&str> = ours.lines().collect();
    let spark: Vec<&str> = spark.lines().collect();
    assert_eq!(ours.len(), spark.len());
    for (a, b) in ours.iter().zip(&spark) {
        if b.starts_with("Time: ") {
            assert!(a.starts_with("Time: ") && a.len() == b.len(), "{a}");
        } else if let (Some(x), Some(y)) = (average(a), average(b)) {
            assert_eq!(a[..6], b[..6]);
            assert!((x - y).abs() / y <= 1e-9, "{a} vs {b}");
        } else {
            assert_eq!(a, b);
        }
    }
}

/// `('FL', 70.97612903225806)` → 70.976…; integers (sensor counts) are not averages.
fn average(line: &str) -> Option<f64> {
    let value = line.strip_prefix("('")?.get(6..)?.strip_suffix(')')?;
    value.contains('.').then(|| value.parse().ok()).flatten()
}

#[test]
fn garbage_is_counted_by_reason_and_the_run_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.txt");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"not json\n\n{\"guid\":1}\n[1]\n\xff\xfe\n{\"guid\":\"a\",\"state\":\"XX\",\"eventTime\":\"2016-11-16T13:26:39Z\",\"payload\":{\"data\":{\"temperature\":1}}}\n").unwrap();
    f.write_all(&vec![b'x'; 70_000]).unwrap();
    f.write_all(b"\n{\"guid\":\"a\",\"state\":\"CA\"").unwrap();
    drop(f);
    let out = run(&["analyze", "--input", path.to_str().unwrap(), "--once", "--format", "jsonl"]);
    let results = jsonl_results(&out.stdout);
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!((r.messages, r.sensors, r.rejected), (0, 0, 8));
    let reasons: Vec<(&str, u64)> =
        r.rejected_by_reason.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        reasons,
        [
            ("empty", 1),
            ("malformed_json", 2),
            ("not_object", 1),
            ("not_utf8", 1),
            ("too_large", 1),
            ("unknown_state", 1),
            ("wrong_type", 1)
        ]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rejected message"));
}

#[test]
fn missing_input_is_a_clear_error() {
    let out = bin().args(["analyze", "--input", "/nonexistent/readings.jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open input file /nonexistent/readings.jsonl"), "{stderr}");
    let out = bin().args(["analyze", "--input", "x", "--window", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "bad usage");
}

#[test]
fn simulate_is_reproducible_and_in_the_seeds_format() {
    let args = ["simulate", "500", "--seed", "42", "--start", "2016-11-16T13:26:39Z", "--interval", "250ms"];
    let a = run(&args).stdout;
    let b = run(&args).stdout;
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    assert_eq!(text.lines().count(), 500);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(r#"{"guid":"0-ZZZ12345678-"#), "{first}");
    assert!(first.contains(r#"","destination":"0-AAA12345678","state":""#));
    assert!(first.contains(r#"", "eventTime":"2016-11-16T13:26:39Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":"#));
    assert!(text.lines().nth(1).unwrap().contains(r#""eventTime":"2016-11-16T13:26:39.250000Z""#));
    // The default is one reading, as in the seed.
    assert_eq!(run(&["simulate"]).stdout.iter().filter(|&&b| b == b'\n').count(), 1);
}

/// The seed's own workflow: generate a file, then analyse it.
#[test]
fn seed_workflow_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("testdata.txt");
    let results = dir.path().join("results.jsonl");
    run(&["simulate", "10000", "--seed", "7", "--output", data.to_str().unwrap()]);
    run(&[
        "analyze",
        "--input",
        data.to_str().unwrap(),
        "--once",
        "--format",
        "jsonl",
        "--output",
        results.to_str().unwrap(),
    ]);
    let results = jsonl_results(&std::fs::read(results).unwrap());
    assert_eq!(results[0].messages, 10_000);
    assert_eq!(results[0].states.len(), 51);
    assert!(results[0].sensors > 2000 && results[0].sensors <= 2106);
}

/// A live pipeline: a paced simulator piped into analyze emits a result per window, and the
/// results add up to everything produced.
#[test]
fn live_pipe_emits_every_window() {
    let mut producer = bin()
        .args(["simulate", "3000", "--rate", "1000", "--seed", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let consumer = bin()
        .args(["analyze", "--input", "-", "--window", "1s", "--format", "jsonl"])
        .stdin(producer.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(producer.wait().unwrap().success());
    assert!(consumer.status.success());
    let results = jsonl_results(&consumer.stdout);
    assert!(results.len() >= 3, "{} results", results.len());
    assert_eq!(results.iter().map(|r| r.messages).sum::<u64>(), 3000);
    let busy = results.iter().filter(|r| r.messages > 0).count();
    assert!(busy >= 2, "readings arrived over several windows");
    for pair in results.windows(2) {
        assert_eq!(pair[0].window_end, pair[1].window_start, "batches tile time");
    }
}

/// The embedded default: prints every window and, on SIGTERM, the last partial one, then exits 0.
#[test]
fn demo_runs_until_stopped() {
    let child = bin()
        .args(["demo", "--window", "1s", "--rate", "500", "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2600));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results = jsonl_results(&out.stdout);
    assert!(results.len() >= 3, "two full windows and the partial one: {}", results.len());
    let total: u64 = results.iter().map(|r| r.messages).sum();
    assert!((800..=1500).contains(&total), "about 500/s for 2.6 s: {total}");
    assert!(results.last().unwrap().messages > 0, "the partial window is emitted");
}

#[test]
fn no_arguments_runs_the_demo_with_console_output() {
    let child = bin().stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("-------------------------------------------\nTime: "), "{text}");
    assert!(text.contains("Total number of messages: "));
    assert!(text.contains("Total number of sensors: "));
}

/// Secret Kafka settings never reach logs or errors, even at trace level and when the
/// configuration is rejected.
#[cfg(feature = "kafka")]
#[test]
fn kafka_secrets_are_never_printed() {
    let out = bin()
        .args(["analyze", "--kafka", "127.0.0.1:9", "--topic", "t", "--once", "-vv"])
        .args(["--kafka-option", "sasl.password=hunter2-secret", "--kafka-option", "no.such.property=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no.such.property"), "{stderr}");
    assert!(stderr.contains("sasl.password=***"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
}

/// Parsing on several threads gives exactly the answer of one thread (aggregates merge exactly),
/// rejections included.
#[test]
fn threads_do_not_change_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut data = std::fs::read(golden("input.jsonl")).unwrap();
    data.extend_from_slice(b"garbage\n\n[1]\n");
    data.extend(std::fs::read(golden("input.jsonl")).unwrap());
    std::fs::write(&path, data).unwrap();
    let answer = |threads: &str| {
        let out = run(&[
            "analyze",
            "--input",
            path.to_str().unwrap(),
            "--once",
            "--format",
            "jsonl",
            "--threads",
            threads,
        ]);
        let mut result = jsonl_results(&out.stdout).remove(0);
        result.window_start = iotstream_engine::EventTime(0);
        result.window_end = iotstream_engine::EventTime(0);
        result
    };
    let one = answer("1");
    assert_eq!(one.messages, 20_000);
    assert_eq!(one.rejected, 3);
    assert_eq!(answer("3"), one);
    assert_eq!(answer("0"), one);
}

/// Runs `iotstream ARGS` under a pseudo-terminal (`script`, from util-linux) and returns what the
/// terminal showed.
fn on_a_terminal(args: &[&str]) -> String {
    let command =
        std::iter::once(env!("CARGO_BIN_EXE_iotstream")).chain(args.iter().copied()).collect::<Vec<_>>();
    let out = Command::new("script")
        .args(["-qec", &command.join(" "), "/dev/null"])
        .env("TZ", "UTC")
        .output()
        .expect("script (util-linux) runs a command under a terminal");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_bars_show_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readings.jsonl");
    let file = file.to_str().unwrap();
    let shown = on_a_terminal(&["simulate", "200000", "--seed", "1", "--output", file]);
    assert!(shown.contains("/200,000 readings"), "{shown}");
    let shown = on_a_terminal(&["analyze", "--input", file, "--once", "--format", "jsonl"]);
    assert!(shown.contains("B/s"), "{shown}");
    // The result comes after the bar has cleared itself, intact.
    let at = shown.find("{\"type\":\"window\"").expect("the result line");
    let result: WindowResult = serde_json::from_str(shown[at..].lines().next().unwrap()).unwrap();
    assert_eq!(result.messages, 200_000);

    // Not a terminal: nothing but the data and the log.
    let out = bin().args(["simulate", "200000", "--output", file]).output().unwrap();
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().args(["-q", "analyze", "--input", file, "--once"]).output().unwrap();
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_problem_with_the_flags_is_reported_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("must-not-be-created.txt");
    let out = bin()
        .args(["analyze", "--input", "-", "--slide", "2s", "--http", "0.0.0.0:0", "--output"])
        .arg(&output)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(stderr.contains("--slide only applies with --time event"), "{stderr}");
    // A build without the dashboard says so instead.
    let http = if cfg!(feature = "http") { "--http-token" } else { "this build has no dashboard" };
    assert!(stderr.contains(http), "{stderr}");
    assert!(!output.exists(), "nothing was opened");
}

/// Waits until `done`, for at most `timeout`.
fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The child's stderr, line by line as it comes, and everything so far.
#[cfg(feature = "kafka")]
fn stderr_lines(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead as _;
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let logged = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = logged.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

/// SIGTERM while start-up waits for a broker that does not answer (metadata: up to 30 s) stops
/// the run at once and cleanly: exit 0, not death by the signal, and no checkpoint written.
#[cfg(feature = "kafka")]
#[test]
fn a_stop_during_start_up_is_prompt_and_clean() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let broker = format!("127.0.0.1:{port}"); // nobody listens there once the listener is dropped
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_flags = ["--state-dir", state.to_str().unwrap()];
    for extra in [&["--once"][..], &state_flags[..]] {
        let mut child = bin()
            .args(["analyze", "--kafka", &broker, "--topic", "t", "--format", "jsonl"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = stderr_lines(&mut child);
        wait_until("start-up asks the broker", Duration::from_secs(20), || {
            let log = log.lock().unwrap();
            log.contains("asking Kafka for its metadata") || log.contains("reading the topic's partitions")
        });
        std::thread::sleep(Duration::from_millis(500));
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let stopped = Instant::now();
        wait_until("the run has stopped", Duration::from_secs(10), || child.try_wait().unwrap().is_some());
        let status = child.wait().unwrap();
        let log = log.lock().unwrap().clone();
        assert!(
            stopped.elapsed() < Duration::from_secs(3),
            "{extra:?}: {:?} to stop\n{log}",
            stopped.elapsed()
        );
        assert_eq!(status.code(), Some(0), "{extra:?}: {status}\n{log}");
        assert!(log.contains("stopped during start-up"), "{log}");
    }
    let store = iotstream::checkpoint::CheckpointStore::open(&state).unwrap();
    assert!(store.load().unwrap().is_none(), "nothing was saved");
}

/// One process per state directory: a second one fails at once, naming the directory.
#[test]
fn a_second_run_on_the_same_state_directory_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let analyze = |output: &str| {
        let mut cmd = bin();
        cmd.args(["analyze", "--input", "-", "--format", "jsonl", "--state-dir", state.to_str().unwrap()])
            .args(["--output", dir.path().join(output).to_str().unwrap()]);
        cmd
    };
    let mut first = analyze("first.jsonl").stdin(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let pid = first.id().to_string();
    wait_until("the first run holds the directory", Duration::from_secs(20), || {
        std::fs::read_to_string(state.join("lock")).is_ok_and(|holder| holder == pid)
    });
    let started = Instant::now();
    let second = analyze("second.jsonl").stdin(Stdio::null()).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let expected = format!("{} is in use by another iotstream process (process {pid})", state.display());
    assert!(stderr.contains(&expected), "{stderr}");
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success(), "the first run goes on undisturbed");
}

/// A checkpoint store that cannot be read is reported with the file and what to do about it.
#[test]
fn a_damaged_checkpoint_store_is_reported_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let input = golden("input.jsonl");
    let output = dir.path().join("results.jsonl");
    let args = [
        "analyze",
        "--input",
        input.to_str().unwrap(),
        "--format",
        "jsonl",
        "--output",
        output.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    run(&args);
    let file = state.join("state.redb");
    std::fs::File::options().write(true).open(&file).unwrap().set_len(100).unwrap();
    let out = bin().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for words in [file.display().to_string().as_str(), "damaged", "Remove it", "another --state-dir"] {
        assert!(stderr.contains(words), "{words:?} missing: {stderr}");
    }
}

/// The fault suite's broken engines exist only in builds with the `fault-injection` feature: a
/// plain (release) build has no such flag, and the suite's build takes it.
#[test]
fn fault_mutants_exist_only_in_the_fault_suites_build() {
    let out =
        bin().args(["analyze", "--input", "-", "--once", "--fault-mutant", "no-cut-back"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "fault-injection") {
        assert!(!stderr.contains("unexpected argument"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
        assert!(stderr.contains("unexpected argument '--fault-mutant'"), "{stderr}");
    }
    let help = bin().args(["analyze", "--help"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("mutant"), "never in --help");
}
