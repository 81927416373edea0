//! Config files: settings become flags, the command line wins, and every problem is reported.

use std::time::Duration;

use super::*;
use crate::cli::{Command, TimeMode};

fn argv(words: &[&str]) -> Vec<OsString> {
    std::iter::once("iotstream").chain(words.iter().copied()).map(OsString::from).collect()
}

fn with_file(text: &str, words: &[&str]) -> Result<Invocation, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iotstream.toml");
    std::fs::write(&path, text).unwrap();
    let mut all = vec!["--config", path.to_str().unwrap()];
    all.extend_from_slice(words);
    parse(argv(&all))
}

fn problems(result: Result<Invocation, ConfigError>) -> Vec<String> {
    match result {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn settings_apply_and_flags_win() {
    let file = r#"
        window = "10s"            # top level: every subcommand with --window
        [analyze]
        time = "event"
        max_delay = "2s"          # underscores work too
        once = true
        input = "readings.jsonl"
        http-rate-limit = 20
        [demo]
        rate = 500.5
    "#;
    let Invocation { cli, embedded } = with_file(file, &["analyze", "--window", "4s"]).unwrap();
    assert!(!embedded);
    let Some(Command::Analyze(args)) = cli.command else { panic!("analyze") };
    assert_eq!(args.windows.window, Duration::from_secs(4), "the flag wins");
    assert_eq!(args.windows.time, Some(TimeMode::Event));
    assert_eq!(args.windows.max_delay, Duration::from_secs(2));
    assert!(args.source.once);
    assert_eq!(args.source.input.as_deref(), Some(Path::new("readings.jsonl")));
    assert_eq!(args.http.http_rate_limit, 20);

    let Some(Command::Demo(demo)) = with_file(file, &["demo"]).unwrap().cli.command else { panic!("demo") };
    assert_eq!((demo.rate, demo.windows.window), (500.5, Duration::from_secs(10)));
    assert_eq!(demo.http.http, None, "`iotstream demo` serves no dashboard unless asked");
}

#[test]
fn no_subcommand_is_the_demo_with_its_dashboard() {
    let invocation = with_file("[demo]\nrate = 100\n", &[]).unwrap();
    assert!(invocation.embedded);
    let Some(Command::Demo(demo)) = invocation.cli.command else { panic!("demo") };
    assert_eq!(demo.rate, 100.0);
    // A build without the dashboard runs the demo on the console.
    let dashboard = cfg!(feature = "http").then(|| DEFAULT_HTTP.parse().unwrap());
    assert_eq!(demo.http.http, dashboard);
    let Some(Command::Demo(demo)) =
        with_file("[demo]\nhttp = \"127.0.0.1:9999\"\n", &[]).unwrap().cli.command
    else {
        panic!("demo")
    };
    assert_eq!(demo.http.http, Some("127.0.0.1:9999".parse().unwrap()), "the file overrides the default");
    // And without a file at all.
    let invocation = parse(argv(&["-q"])).unwrap();
    assert!(invocation.embedded && matches!(invocation.cli.command, Some(Command::Demo(_))));
}

#[cfg(feature = "kafka")]
#[test]
fn lists_are_repeated_flags() {
    let file = "[analyze]\nkafka = \"127.0.0.1:9092\"\ntopic = \"t\"\nkafka-option = [\"a=1\", \"b=2\"]\n";
    let cli = with_file(file, &["analyze", "--kafka-option", "c=3"]).unwrap().cli;
    let Some(Command::Analyze(args)) = cli.command else { panic!("analyze") };
    let keys: Vec<&str> = args.source.kafka.connection.options.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let file = r#"
        windw = "3s"
        [analyze]
        window = "soon"
        time = "wall"
        once = "yes"
        max-line-bytes = [1, 2]
        threds = 2
        fault-mutant = "no-cut-back"
        [simulate]
        sensors = 0
        [nonsense]
        x = 1
    "#;
    let found = problems(with_file(file, &["analyze", "--input", "x"]));
    let expect = [
        "windw: unknown setting (did you mean `window`?)",
        "[analyze] window = \"soon\": not a duration",
        "[analyze] time = \"wall\": must be one of processing, event",
        "[analyze] once: expected true or false, found string",
        "[analyze] max-line-bytes: takes one value, not a list",
        "[analyze] threds: unknown setting (did you mean `threads`?)",
        "[analyze] fault-mutant: unknown setting",
        "[simulate] sensors = 0: 0 is not in 1..",
        "unknown section [nonsense]",
    ];
    for expected in expect {
        assert!(found.iter().any(|p| p.starts_with(expected)), "missing {expected:?} in {found:#?}");
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn unreadable_files_say_why() {
    let error = with_file("[analyze\n", &["analyze"]).unwrap_err().to_string();
    assert!(error.starts_with("cannot read config file") && error.contains("line 1"), "{error}");
    let error = parse(argv(&["--config", "/nonexistent/iotstream.toml", "demo"])).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/iotstream.toml"), "{error}");
}

#[test]
fn config_may_follow_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[analyze]\nthreads = 3\n").unwrap();
    let cli = parse(argv(&["analyze", "-i", "-", "--config", path.to_str().unwrap()])).unwrap().cli;
    let Some(Command::Analyze(args)) = cli.command else { panic!("analyze") };
    assert_eq!(args.source.threads, 3);
}

#[test]
fn the_generated_file_is_valid_and_its_defaults_are_the_flags_defaults() {
    let text = generate();
    for section in ["[simulate]", "[analyze]", "[demo]"] {
        assert!(text.contains(section), "{section}");
    }
    assert!(text.contains("# max-delay = \"5s\""), "{text}");
    assert!(!text.contains("fault-"), "hidden switches stay hidden");
    // Uncomment every setting that has a default: still valid, and the same as no file.
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(setting) if is_setting(setting) && !setting.contains("(no default)") => setting,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut with = with_file(&uncommented, &["analyze", "--input", "-"]).unwrap().cli;
    // The one difference allowed: the run knows which file it read.
    assert!(with.config.take().is_some());
    let without = parse(argv(&["analyze", "--input", "-"])).unwrap().cli;
    assert_eq!(format!("{with:?}"), format!("{without:?}"));
}

/// `key = value` with a flag-like key (help text may contain " = " too).
fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
}

#[test]
fn suggestions_use_edit_distance() {
    assert_eq!(distance("window", "windw"), 1);
    assert_eq!(distance("threads", "threds"), 1);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("kitten", "sitting"), 3);
}
