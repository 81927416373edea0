//! Plans from flags alone: no file, broker or port is touched.

use std::time::Duration;

use clap::Parser as _;
use iotstream_engine::OperatorConfig;

use super::*;
use crate::cli::{Cli, Command};
use crate::pipeline::Analysis;

fn analyze(args: &[&str]) -> AnalyzeArgs {
    let argv = ["iotstream", "analyze"].iter().chain(args);
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Some(Command::Analyze(args))) => args,
        other => panic!("not an analyze command line: {other:?}"),
    }
}

fn planned(args: &[&str]) -> Result<RunPlan, Problems> {
    RunPlan::analyze(&analyze(args), Ok(None))
}

#[test]
fn processing_time_over_a_file_is_the_seeds_batches_aggregated_on_every_thread() {
    let plan = planned(&["--input", "x.jsonl", "--once"]).unwrap();
    assert_eq!(*plan.settings.operator(), OperatorConfig::Batches { period: 3_000_000 });
    assert_eq!(plan.parsing.mode, parallel::Mode::Aggregate);
    assert_eq!(plan.settings.stats_every, None);
    assert_eq!(plan.input.checkpoint, "file:x.jsonl");
    assert!(plan.progress && plan.checkpoints.is_none() && plan.dashboard.is_none());
    assert_eq!(plan.parsing.keep_bytes, iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES + 1);
}

#[test]
fn event_time_keeps_readings_in_order_and_stats_every_three_seconds() {
    let plan = planned(&["--input", "-", "--time", "event", "--window", "10s", "--slide", "5s"]).unwrap();
    let OperatorConfig::Windows { config, emit_every: None } = *plan.settings.operator() else {
        panic!("windows: {:?}", plan.settings.operator());
    };
    assert_eq!((config.window.size(), config.window.slide()), (10_000_000, 5_000_000));
    assert_eq!(plan.parsing.mode, parallel::Mode::Ordered);
    assert_eq!(plan.settings.stats_every, Some(Duration::from_secs(3)));
    assert!(!plan.progress, "stdin, and results on stdout");
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "plans a dashboard: needs the `http` feature")]
fn live_views_need_readings_in_order_even_in_processing_time() {
    let plan = planned(&["--input", "-", "--stats-every", "1s"]).unwrap();
    assert_eq!(plan.parsing.mode, parallel::Mode::Ordered);
    let plan = planned(&["--input", "-", "--http", "127.0.0.1:0"]).unwrap();
    assert_eq!(plan.settings.status_every, Some(Duration::from_secs(1)), "the dashboard's status");
    assert_eq!(plan.parsing.mode, parallel::Mode::Ordered);
}

#[test]
fn sensor_rules_need_readings_one_by_one() {
    let rules = iotstream_engine::alerts::parse_rules(
        "[[alert]]\nid = \"hot\"\nkind = \"threshold\"\nscope = \"sensor\"\nmetric = \"temperature\"\nop = \">\"\nfire = 100\n",
    )
    .unwrap();
    let plan = RunPlan::analyze(&analyze(&["--input", "-", "--rules", "r.toml"]), Ok(Some(rules))).unwrap();
    assert_eq!(plan.parsing.mode, parallel::Mode::Ordered);
    assert_eq!(plan.alerts.map(|a| a.delay), Some(0), "processing time: no out-of-orderness");
}

#[test]
fn checkpoints_record_the_input_and_the_interval() {
    let plan = planned(&["--input", "in.jsonl", "--state-dir", "s", "--checkpoint-interval", "2s"]).unwrap();
    let checkpoints = plan.checkpoints.unwrap();
    assert_eq!((checkpoints.dir, checkpoints.interval), ("s".into(), Duration::from_secs(2)));
    assert!(checkpoints.companions.is_empty(), "a file keeps nothing beside the checkpoints");
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = planned(&["--input", "-", "--slide", "2s", "--http", "0.0.0.0:0"]).unwrap_err();
    assert_eq!(problems.0.len(), 2, "{problems}");
    assert!(problems.0[0].contains("--slide only applies with --time event"), "{problems}");
    assert!(problems.to_string().starts_with("2 problems:\n  - "), "{problems}");
    let rules = Err("rules file r.toml has 1 problem(s)".to_owned());
    let one = RunPlan::analyze(&analyze(&["--input", "-"]), rules).unwrap_err();
    assert_eq!(one.to_string(), "rules file r.toml has 1 problem(s)", "one problem is said alone");
}

#[cfg(feature = "kafka")]
#[test]
fn scale_out_cuts_shares_saved_every_checkpoint_interval() {
    let args = ["--kafka", "h:1", "--topic", "t", "--time", "event", "--scale-out", "--group", "g"];
    let plan = planned(&args).unwrap();
    assert!(matches!(plan.settings.operator(), OperatorConfig::Shares { .. }));
    assert_eq!(plan.settings.save_every, Some(Duration::from_secs(5)));
    assert_eq!(plan.scale_out.map(|r| r.group), Some("g".to_owned()));
    let refused = planned(&["--kafka", "h:1", "--topic", "t", "--scale-out", "--once"]).unwrap_err();
    assert_eq!(refused.0, ["--scale-out needs --time event, no --once"]);
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "plans a dashboard: needs the `http` feature")]
fn the_demo_reads_the_simulator_into_an_optional_store() {
    let args = DemoArgs::default();
    let plan = RunPlan::demo(&args, Ok(None), true).unwrap();
    assert!(matches!(plan.source, Source::Simulator { rate, .. } if rate == 2000.0));
    assert!(plan.dashboard.is_some_and(|d| d.optional), "iotstream alone: a taken port is a warning");
    assert!(plan.outputs.store.iter().all(|s| s.optional));
    assert!(plan.outputs.connectors.is_none());
}

fn demo(args: &[&str]) -> Result<RunPlan, Problems> {
    let argv = ["iotstream", "demo"].iter().chain(args);
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Some(Command::Demo(args))) => RunPlan::demo(&args, Ok(None), true),
        other => panic!("not a demo command line: {other:?}"),
    }
}

fn query_names(plan: &RunPlan) -> Vec<String> {
    match &plan.settings.analysis {
        Analysis::Queries { queries, .. } => queries.names(),
        Analysis::Seed { .. } => Vec::new(),
    }
}

#[test]
fn the_climate_demo_asks_its_example_questions_unless_given_its_own() {
    let examples: Vec<String> = CLIMATE_EXAMPLES.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(query_names(&demo(&["--profile", "climate"]).unwrap()), examples);
    let own = ["--profile", "climate", "--query", "n=SELECT count(*) AS n FROM readings"];
    assert_eq!(query_names(&demo(&own).unwrap()), ["n"]);
    assert!(query_names(&demo(&[]).unwrap()).is_empty(), "the seed's demo stays the seed's");
}
