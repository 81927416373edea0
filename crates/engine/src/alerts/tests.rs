//! Crafted inputs with known crossings, and replays that must repeat history.

use proptest::prelude::*;

use super::*;
use crate::parse::Parser;
use crate::result::{StateResult, WindowTag};

const S: i64 = 1_000_000;

fn rules(text: &str) -> Vec<Rule> {
    parse_rules(text).unwrap_or_else(|e| panic!("{e}"))
}

fn window(end_s: i64, states: &[(&str, f64)]) -> WindowResult {
    WindowResult {
        record_type: WindowTag::Window,
        is_final: true,
        revision: 0,
        window_start: EventTime((end_s - 10) * S),
        window_end: EventTime(end_s * S),
        messages: 10 * states.len() as u64,
        sensors: states.len() as u64,
        rejected: 0,
        rejected_by_reason: BTreeMap::new(),
        states: states
            .iter()
            .map(|(s, t)| StateResult {
                state: (*s).to_owned(),
                messages: 10,
                sensors: 1,
                avg_temperature: *t,
                min_temperature: *t,
                max_temperature: *t,
            })
            .collect(),
        partitions: None,
    }
}

fn reading_line(guid: &str, state: &str, t_s: i64, temperature: f64) -> String {
    let time = EventTime(t_s * S);
    format!(
        r#"{{"guid":"{guid}","state":"{state}","eventTime":"{time}","payload":{{"data":{{"temperature":{temperature}}}}}}}"#
    )
}

fn feed(alerts: &mut Alerts, guid: &str, state: &str, t_s: i64, temperature: f64) {
    let line = reading_line(guid, state, t_s, temperature);
    let reading = Parser::default().parse(line.as_bytes()).unwrap();
    alerts.on_reading(&reading);
}

fn statuses(notes: &[Notification]) -> Vec<(String, String, &'static str, i64)> {
    notes
        .iter()
        .map(|n| (n.record.rule.clone(), n.record.key.clone(), n.record.status.as_str(), n.record.at.0 / S))
        .collect()
}

const HOT: &str = r#"
[[alert]]
id = "hot"
kind = "threshold"
scope = "state"
metric = "avg_temperature"
op = ">"
fire = 95.0
clear = 92.0
severity = "critical"
states = ["TX", "CA"]
"#;

#[test]
fn the_issue_example_parses() {
    let text = format!(
        "{HOT}\nfor = 2\n\n[[alert]]\nid = \"offline\"\nkind = \"offline\"\nafter = \"30s\"\n\n\
         [[alert]]\nid = \"spike\"\nkind = \"anomaly\"\nmetric = \"temperature\"\nz = 6.0\nalpha = 0.1\nwarmup = 20\n"
    );
    let rules = rules(&text);
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].for_count, 2);
    assert_eq!(rules[0].line, 2);
    assert_eq!(rules[1].kind, Kind::Offline { after: 30 * S });
    assert_eq!(rules[2].kind, Kind::Anomaly(Anomaly { z: 6.0, clear_z: 6.0, alpha: 0.1, warmup: 20 }));
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = "[[alert]]\nid = \"a\"\nkind = \"threshold\"\nscope = \"county\"\nmetric = \"avg_temperature\"\nop = \"=\"\nfire = 1\n\n\
                [[alert]]\nid = \"a\"\nkind = \"offline\"\nafter = \"soon\"\nstates = [\"XX\"]\ncolour = 3\n\n\
                [[alert]]\nkind = \"anomaly\"\nid = \"z\"\nz = -1\nalpha = 2\n";
    let error = parse_rules(text).unwrap_err();
    let lines: Vec<usize> = error.0.iter().map(|p| p.line).collect();
    let text = error.to_string();
    assert_eq!(lines, vec![4, 6, 9, 12, 13, 14, 19, 20], "{text}");
    assert!(text.contains("line 4: `scope` = \"county\""), "{text}");
    assert!(text.contains("used twice (first on line 1)"), "{text}");
    assert!(text.contains("line 14: unknown or misplaced key `colour`"), "{text}");
}

#[test]
fn a_syntax_error_has_its_line() {
    let error = parse_rules("[[alert]]\nid = \"a\"\nkind = \n").unwrap_err();
    assert_eq!(error.0[0].line, 3, "{error}");
}

#[test]
fn clear_on_the_wrong_side_is_refused() {
    let text = HOT.replace("clear = 92.0", "clear = 97.0");
    let error = parse_rules(&text).unwrap_err();
    assert!(error.to_string().contains("`clear` = 97 must be at or below `fire` = 95"), "{error}");
}

#[test]
fn hysteresis_fires_once_and_never_resolves_between_94_and_96() {
    let mut alerts = Alerts::new(rules(HOT), 0);
    for i in 0..20 {
        let t = if i % 2 == 0 { 96.0 } else { 94.0 };
        alerts.on_result(&window(10 * (i + 1), &[("TX", t), ("NY", 99.0)]));
    }
    let notes = alerts.take();
    assert_eq!(statuses(&notes), vec![("hot".into(), "TX".into(), "firing", 10)]);
    let record = &notes[0].record;
    assert_eq!((record.value, record.threshold, record.severity.as_str()), (96.0, 95.0, "critical"));
    assert_eq!(record.window_start, Some(EventTime(0)));
    assert_eq!(record.fingerprint, fingerprint("hot", "TX"));
    alerts.on_result(&window(300, &[("TX", 92.0)]));
    assert_eq!(statuses(&alerts.take()), vec![("hot".into(), "TX".into(), "resolved", 300)]);
}

#[test]
fn without_clear_the_fire_threshold_resolves() {
    let mut alerts = Alerts::new(rules(&HOT.replace("clear = 92.0\n", "")), 0);
    alerts.on_result(&window(10, &[("TX", 96.0)]));
    alerts.on_result(&window(20, &[("TX", 94.0)]));
    assert_eq!(alerts.take().len(), 2);
}

#[test]
fn for_holds_back_a_single_hot_window() {
    let mut alerts = Alerts::new(rules(&format!("{HOT}for = 2\n")), 0);
    alerts.on_result(&window(10, &[("TX", 99.0)]));
    alerts.on_result(&window(20, &[("TX", 90.0)]));
    alerts.on_result(&window(30, &[("TX", 99.0)]));
    assert!(alerts.take().is_empty());
    alerts.on_result(&window(40, &[("TX", 99.0)]));
    assert_eq!(statuses(&alerts.take()), vec![("hot".into(), "TX".into(), "firing", 40)]);
}

#[test]
fn a_revision_replaces_its_window_verdict_and_early_results_are_skipped() {
    let mut alerts = Alerts::new(rules(&format!("{HOT}for = 2\n")), 0);
    alerts.on_result(&window(10, &[("TX", 99.0)]));
    let mut revised = window(10, &[("TX", 99.5)]);
    revised.revision = 1;
    alerts.on_result(&revised);
    let mut early = window(20, &[("TX", 99.0)]);
    early.is_final = false;
    alerts.on_result(&early);
    assert!(alerts.take().is_empty(), "one window is not two");
    alerts.on_result(&window(20, &[("TX", 99.0)]));
    assert_eq!(alerts.take().len(), 1);
}

#[test]
fn keep_firing_for_and_repeat() {
    let text = format!("{HOT}keep_firing_for = \"25s\"\nrepeat = \"20s\"\n");
    let mut alerts = Alerts::new(rules(&text), 0);
    for (end, t) in [(10, 99.0), (20, 99.0), (30, 99.0), (40, 50.0), (50, 50.0), (60, 50.0), (70, 50.0)] {
        alerts.on_result(&window(end, &[("TX", t)]));
    }
    let got = statuses(&alerts.take());
    let want: Vec<(String, String, &str, i64)> = vec![
        ("hot".into(), "TX".into(), "firing", 10),
        ("hot".into(), "TX".into(), "firing", 30),
        ("hot".into(), "TX".into(), "resolved", 70),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_flapping_key_is_held_firing() {
    let text = format!("{HOT}flap_window = \"100s\"\nflap_max = 2\n");
    let mut alerts = Alerts::new(rules(&text), 0);
    let temps =
        [99.0, 50.0, 99.0, 50.0, 99.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0];
    for (i, t) in temps.iter().enumerate() {
        alerts.on_result(&window(10 * (i as i64 + 1), &[("TX", *t)]));
    }
    let got: Vec<(&str, i64)> =
        alerts.take().iter().map(|n| (n.record.status.as_str(), n.record.at.0 / S)).collect();
    // Fired at 10 and 30: the second firing makes it flapping, so the hot window at 50 does not
    // notify again, and it resolves only after 100 s clear (from 60).
    assert_eq!(got, vec![("firing", 10), ("resolved", 20), ("firing", 30), ("resolved", 160)]);
}

#[test]
fn quiet_states_count_as_zero_messages() {
    let text = "[[alert]]\nid = \"quiet\"\nkind = \"threshold\"\nscope = \"state\"\nmetric = \"messages\"\nop = \"<\"\nfire = 1\nstates = [\"TX\"]\n";
    let mut alerts = Alerts::new(rules(text), 0);
    alerts.on_result(&window(10, &[("CA", 70.0)]));
    alerts.on_result(&window(20, &[("TX", 70.0)]));
    assert_eq!(
        statuses(&alerts.take()),
        vec![("quiet".into(), "TX".into(), "firing", 10), ("quiet".into(), "TX".into(), "resolved", 20)]
    );
}

#[test]
fn fleet_rules_see_the_whole_window() {
    let text = "[[alert]]\nid = \"fleet-hot\"\nkind = \"threshold\"\nscope = \"fleet\"\nmetric = \"max_temperature\"\nop = \">=\"\nfire = 100\n";
    let mut alerts = Alerts::new(rules(text), 0);
    alerts.on_result(&window(10, &[("CA", 70.0), ("TX", 100.0)]));
    assert_eq!(statuses(&alerts.take()), vec![("fleet-hot".into(), "fleet".into(), "firing", 10)]);
}

const OFFLINE: &str = "[[alert]]\nid = \"offline\"\nkind = \"offline\"\nafter = \"30s\"\n";

#[test]
fn offline_fires_once_and_clears_on_the_next_reading() {
    let mut alerts = Alerts::new(rules(OFFLINE), 0);
    feed(&mut alerts, "quiet", "TX", 0, 70.0);
    for t in 1..=100 {
        feed(&mut alerts, "busy", "CA", t, 70.0);
    }
    feed(&mut alerts, "quiet", "TX", 101, 70.0);
    let notes = alerts.take();
    assert_eq!(
        statuses(&notes),
        vec![
            ("offline".into(), "quiet".into(), "firing", 30),
            ("offline".into(), "quiet".into(), "resolved", 101)
        ]
    );
    assert_eq!(notes[1].record.value, 101.0, "the silence it ended");
    assert!(alerts.firing().is_empty());
}

#[test]
fn the_end_of_input_makes_nobody_offline() {
    let mut alerts = Alerts::new(rules(OFFLINE), 0);
    for t in 0..20 {
        feed(&mut alerts, "a", "TX", t, 70.0);
    }
    assert!(alerts.take().is_empty());
}

#[test]
fn offline_waits_for_the_allowed_delay() {
    let mut alerts = Alerts::new(rules(OFFLINE), 10 * S);
    feed(&mut alerts, "quiet", "TX", 0, 70.0);
    feed(&mut alerts, "busy", "TX", 35, 70.0);
    assert!(alerts.take().is_empty(), "the watermark is at 25 s");
    feed(&mut alerts, "busy", "TX", 40, 70.0);
    assert_eq!(alerts.take().len(), 1);
}

#[test]
fn sensor_thresholds_and_state_filters() {
    let text = "[[alert]]\nid = \"hot-sensor\"\nkind = \"threshold\"\nscope = \"sensor\"\nmetric = \"temperature\"\nop = \">\"\nfire = 100\nfor = 2\nstates = [\"TX\"]\n";
    let mut alerts = Alerts::new(rules(text), 0);
    for t in 0..3 {
        feed(&mut alerts, "ca", "CA", t, 120.0);
        feed(&mut alerts, "tx", "TX", t, 120.0);
    }
    feed(&mut alerts, "tx", "TX", 3, 80.0);
    assert_eq!(
        statuses(&alerts.take()),
        vec![
            ("hot-sensor".into(), "tx".into(), "firing", 1),
            ("hot-sensor".into(), "tx".into(), "resolved", 3)
        ]
    );
}

#[test]
fn anomaly_waits_for_warmup_then_flags_a_spike() {
    let text = "[[alert]]\nid = \"spike\"\nkind = \"anomaly\"\nz = 4.0\nalpha = 0.2\nwarmup = 5\n";
    let mut alerts = Alerts::new(rules(text), 0);
    for t in 0..10 {
        feed(&mut alerts, "s", "TX", t, 70.0 + (t % 2) as f64);
    }
    assert!(alerts.take().is_empty());
    feed(&mut alerts, "s", "TX", 10, 90.0);
    feed(&mut alerts, "s", "TX", 11, 70.5);
    let notes = alerts.take();
    assert_eq!(
        statuses(&notes),
        vec![("spike".into(), "s".into(), "firing", 10), ("spike".into(), "s".into(), "resolved", 11)]
    );
    assert!(notes[0].record.threshold > 71.0 && notes[0].record.threshold < 90.0);
}

#[test]
fn source_idle_runs_on_processing_time() {
    let text = "[[alert]]\nid = \"idle\"\nkind = \"source_idle\"\nafter = \"1m\"\n";
    let mut alerts = Alerts::new(rules(text), 0);
    alerts.on_clock(EventTime(30 * S), EventTime(0));
    alerts.on_clock(EventTime(61 * S), EventTime(0));
    alerts.on_clock(EventTime(62 * S), EventTime(62 * S));
    let got = statuses(&alerts.take());
    assert_eq!(
        got,
        vec![
            ("idle".into(), "source".into(), "firing", 61),
            ("idle".into(), "source".into(), "resolved", 62)
        ]
    );
}

#[test]
fn other_rules_restart_the_state_but_keep_the_sequence() {
    let mut alerts = Alerts::new(rules(HOT), 0);
    alerts.on_result(&window(10, &[("TX", 99.0)]));
    let state = alerts.take_state();
    let mut other = Alerts::new(rules(&HOT.replace("95.0", "96.0")), 0);
    assert_eq!(other.restore(state.clone()), Err(RestoreError::OtherRules));
    assert_eq!(other.sequence(), 1);
    let mut same = Alerts::new(rules(&format!("\n\n{HOT}")), 0);
    assert_eq!(same.restore(state), Ok(()), "moving rules in the file keeps their state");
    assert_eq!(same.firing().len(), 1);
}

/// Rules of every kind, for the replay property.
const ALL: &str = r#"
[[alert]]
id = "hot"
kind = "threshold"
scope = "sensor"
metric = "temperature"
op = ">"
fire = 80
clear = 75
for = 2

[[alert]]
id = "offline"
kind = "offline"
after = "20s"

[[alert]]
id = "spike"
kind = "anomaly"
z = 2.5
alpha = 0.3
warmup = 3
flap_window = "30s"
flap_max = 2
"#;

fn run(readings: &[(u8, i64, f64)], split: Option<usize>) -> Vec<Notification> {
    let mut alerts = Alerts::new(rules(ALL), 2 * S);
    let mut out = Vec::new();
    for (i, (sensor, t, temperature)) in readings.iter().enumerate() {
        if split == Some(i) {
            // A checkpoint and a restart: the state through postcard, as the binary saves it.
            let bytes = postcard::to_stdvec(&alerts.take_state()).unwrap();
            alerts = Alerts::new(rules(ALL), 2 * S);
            alerts.restore(postcard::from_bytes(&bytes).unwrap()).unwrap();
        }
        feed(&mut alerts, &format!("g{sensor}"), "TX", *t, *temperature);
        out.extend(alerts.take());
    }
    out
}

proptest! {
    #[test]
    fn a_restored_run_repeats_the_history_of_an_uninterrupted_one(
        steps in proptest::collection::vec((0u8..4, 0i64..15, 60.0f64..100.0), 1..200),
        split in any::<prop::sample::Index>(),
    ) {
        // Mostly increasing event times with some disorder, as sensors send them.
        let mut t = 0;
        let readings: Vec<(u8, i64, f64)> = steps.iter().map(|&(s, dt, x)| { t += dt; (s, t - dt / 2, x) }).collect();
        let whole = run(&readings, None);
        let split = split.index(readings.len());
        prop_assert_eq!(&run(&readings, Some(split)), &whole);
        // Per key, notifications alternate firing (repeats aside) and resolved, starting firing.
        let mut firing = std::collections::HashSet::new();
        for n in &whole {
            let id = (n.record.rule.clone(), n.record.key.clone());
            match n.record.status {
                Status::Firing => { firing.insert(id); }
                Status::Resolved => prop_assert!(firing.remove(&id), "resolved without firing"),
            }
        }
        // Each key numbers its notifications 1, 2, 3…: the idempotency keys never repeat.
        let mut next = std::collections::HashMap::new();
        for n in &whole {
            let count = next.entry(n.record.fingerprint.clone()).or_insert(0u64);
            *count += 1;
            prop_assert_eq!(n.sequence, *count);
        }
    }
}

#[test]
fn the_order_does_not_depend_on_where_the_input_was_cut() {
    // A state rule on windows of 10 s and a sensor rule that flips on every reading.
    let text = format!(
        "{HOT}\n[[alert]]\nid = \"flip\"\nkind = \"threshold\"\nscope = \"sensor\"\nmetric = \"temperature\"\nop = \">\"\nfire = 100\n"
    );
    let reading = |t: i64| (t, if t % 2 == 0 { 120.0 } else { 80.0 });
    let windows = [window(10, &[("TX", 99.0)]), window(20, &[("TX", 80.0)])];
    // The operator emits a window once the watermark (the latest event time, no delay) reaches its
    // end: after the reading at 10 s, or at 20 s, or later, depending on where a chunk ends.
    let run = |cuts: &[i64]| {
        let mut alerts = Alerts::new(rules(&text), 0);
        let mut out = Vec::new();
        let mut emitted = 0;
        for t in 0..25 {
            let (t, x) = reading(t);
            feed(&mut alerts, "g", "TX", t, x);
            if cuts.contains(&t) {
                while emitted < windows.len() && windows[emitted].window_end.0 <= t * S {
                    alerts.on_result(&windows[emitted]);
                    emitted += 1;
                }
                out.extend(alerts.take());
            }
        }
        out
    };
    let per_reading = run(&(0..25).collect::<Vec<_>>());
    assert_eq!(run(&[24]), per_reading);
    assert_eq!(run(&[13, 24]), per_reading);
    assert_eq!(run(&[10, 22, 24]), per_reading);
    let hot = per_reading.iter().position(|n| n.record.rule == "hot").unwrap();
    assert_eq!(per_reading[hot - 1].record.at, EventTime(10 * S), "after the reading that closed it");
}
