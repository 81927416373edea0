//! The fault suite: real processes on 127.0.0.1 (a Tansu broker on sqlite, a paced producer, the
//! engine), faults on a seeded schedule, and every promise checked that can be:
//! - the final windows equal both an uninterrupted `--once` run of the binary over the same input
//!   and the independent Python oracle (`tests/oracle/windows.py`);
//! - a result file is whole JSON lines, and no window appears twice in one, identical or not; with
//!   `--state-dir` each appears exactly once, and without it a crash may repeat a window (in the
//!   next run's file) but never change it;
//! - the engine was running whenever it was killed, exits 0 on every SIGTERM and at the end, and
//!   survives every broker outage, processing input written after it;
//! - the faults interrupted real work: each lands just after the engine wrote a result, and the
//!   run after it resumes strictly inside the input, beyond where the previous run did (from the
//!   checkpoint it logs, or the committed offsets); the suite prints how many faults did, and
//!   requires most of them to;
//! - poison: the dead-letter topic holds a letter for exactly the poison's partitions and offsets,
//!   with its reason and bytes (repeats after a crash allowed: at least once).
//!
//! Beside them, scenarios of other suites that a mutant is named for, shared with them: the
//! alerts' and the webhook queue's `kill -9` (`tests/alerts/kills.rs`), MQTT's `kill -9`
//! (`tests/mqtt/kills.rs`), Kafka into a PostgreSQL outage (`tests/store_outages/kafka.rs`) and a
//! scale-out group whose merger is killed (`tests/scale_out/group.rs`).
//!
//! And the checker is checked: each of the engine's mutants (`--fault-mutant`, see
//! `src/faults/`, in builds with the `fault-injection` feature) must fail a short scenario (the
//! `mutant_*` tests, compiled only with that feature).
//!
//! Forms: quick by default (`cargo test`); `FAULTS_MEDIUM=1` (CI, in release mode: at least 10
//! faults per scenario); `FAULTS_LONG=1` (1M readings). `FAULTS_SEED=N` replays a schedule (every
//! failure prints it); `FAULTS_KEEP=1` keeps the files; `FAULTS_MUTANT=NAME` runs the scenarios
//! against a mutant, which must fail them (`scripts/faults --mutants`); `FAULTS_SKIP=1` skips the
//! suite (`scripts/test` runs it apart, in release mode).

#![cfg(feature = "kafka")]

#[path = "alerts/kills.rs"]
mod alert_kills;
#[path = "faults/check.rs"]
mod check;
mod common;
#[path = "faults/input.rs"]
mod input;
#[path = "mqtt/kills.rs"]
mod mqtt_kills;
#[path = "scale_out/group.rs"]
mod scale_group;
#[path = "faults/scenario.rs"]
mod scenario;
#[path = "store_outages/kafka.rs"]
mod store_outage;

use std::path::PathBuf;
use std::time::Instant;

use input::{Expected, Input};
use scenario::{Fault, Form, Lab, Scenario};

/// How a failure of the engine (rather than of the machinery) begins: `scripts/faults --mutants`
/// counts a mutant as caught only on a failure saying this.
const CAUGHT: &str = "the engine failed the fault suite";

/// Readings produced per second: about what the sqlite-backed broker takes in on this machine kind.
const RATE: u64 = 12_000;

fn seed() -> u64 {
    std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
    })
}

/// A scenario of `fault` in the current form, with a state directory.
fn scenario(name: &str, fault: Fault) -> Scenario {
    let form = Form::current();
    let (faults, must_count) = form.faults();
    // Engine faults at least 1.2 s apart: a restarted run has checkpointed progress by then.
    let pause = match (fault, form) {
        (Fault::KillBroker, _) => (0.5, 1.5),
        (_, Form::Long) => (2.0, 4.0),
        _ => (1.2, 2.4),
    };
    let name = name.to_owned();
    Scenario { name, fault, faults, must_count, pause, rate: RATE, state: true, poison: false, mutant: None }
}

/// `kill -9` without a state directory: at least once, from the group's committed offsets.
fn at_least_once() -> Scenario {
    // Each pause starts when the run after a kill has written a window, so that the next kill
    // lands while it is at work, with progress committed (every second).
    let kill = scenario("kill -9 without --state-dir", Fault::KillEngine);
    Scenario { pause: (2.0, 4.0), rate: 4_000, state: false, ..kill }
}

fn poison() -> Scenario {
    Scenario { poison: true, ..scenario("poison and kill -9", Fault::KillEngine) }
}

/// A short form of `scenario`, to catch a mutant: two faults.
#[cfg(feature = "fault-injection")]
fn short(scenario: Scenario) -> Scenario {
    Scenario { faults: 2, must_count: 1, ..scenario }
}

/// Runs `scenario` and checks everything; the error says what the engine did wrong. Panics if
/// the checks passed but too few faults interrupted work: then the run proved nothing.
fn verify(scenario: &Scenario) -> Result<(), String> {
    let seed = seed();
    let temp = tempfile::tempdir().unwrap();
    let dir = kept(temp, &scenario.name);
    let started = Instant::now();
    let input = Input::prepare(&dir, scenario.readings(), scenario.poison);
    let expected = Expected::of(&dir, &input);
    let mut lab = Lab::new(scenario, &dir);
    let outcome = lab.run(&input.produced, input.lines, seed).and_then(|evidence| {
        let checked = check::results(&evidence.outputs, scenario.state, &expected).and_then(|()| {
            if scenario.poison {
                check::dead_letters(&lab.broker, &input)
            } else {
                Ok(())
            }
        });
        checked.map_err(|e| format!("{e}\n(schedule {:?})", evidence.log)).map(|()| evidence)
    });
    let seconds = started.elapsed().as_secs();
    let name = &scenario.name;
    let evidence = match outcome {
        Ok(evidence) => evidence,
        Err(failure) => {
            eprintln!("{name}: seed {seed}, {seconds} s: FAILED: {failure}");
            return Err(format!("{name}: {failure}\n(replay with FAULTS_SEED={seed})"));
        }
    };
    let counted = check::interrupted_work(&evidence.resumed, input.lines);
    eprintln!(
        "{name}: seed {seed}, {seconds} s, {} windows: ok; {counted} of {} faults interrupted work \
         (the next run started at {:?} of {} messages); schedule {:?}",
        expected.binary.len(),
        scenario.faults,
        evidence.resumed,
        input.lines,
        evidence.log
    );
    assert!(
        counted >= scenario.must_count,
        "{name} proved nothing: {counted} faults interrupted work, at least {} must (seed {seed})",
        scenario.must_count
    );
    Ok(())
}

/// The run's directory: a temporary one, or with `FAULTS_KEEP=1` one kept for a look afterwards.
fn kept(temp: tempfile::TempDir, name: &str) -> Keep {
    if std::env::var("FAULTS_KEEP").is_ok_and(|v| v == "1") {
        let path = temp.keep();
        eprintln!("{name}: files kept in {}", path.display());
        return Keep { path, _temp: None };
    }
    Keep { path: temp.path().to_owned(), _temp: Some(temp) }
}

/// A directory, removed on drop unless kept.
struct Keep {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Keep {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

fn skipped() -> bool {
    let skip = std::env::var("FAULTS_SKIP").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("fault suite skipped (FAULTS_SKIP=1)");
    }
    skip
}

/// Each mutant, the check it must fail (its reason: a mutant failing another check was not
/// caught, since that check could be failing for a reason of its own), and the scenario its own
/// `mutant_*` test runs it against (`scripts/faults --mutants` tries that one first, then the
/// others: any of them may catch it, for its reason).
const MUST_CATCH: [(&str, &str, &str); 10] = [
    ("no-cut-back", check::reasons::TWICE, "engine_killed_at_random_gives_exactly_the_oracle"),
    (
        "ack-before-write",
        check::reasons::FEWER,
        "without_a_state_directory_a_crash_repeats_windows_but_never_changes_them",
    ),
    ("positions-without-state", check::reasons::FEWER, "engine_killed_at_random_gives_exactly_the_oracle"),
    (
        "drop-dead-letter",
        check::reasons::LETTER_MISSING,
        "poison_is_dead_lettered_exactly_and_the_rest_counted_exactly",
    ),
    (
        "double-count-replay",
        check::reasons::MORE,
        "engine_stopped_cleanly_again_and_again_gives_exactly_the_oracle",
    ),
    (
        "alerts-no-cutback",
        alert_kills::reasons::MORE_ALERTS,
        "alerts_killed_twice_give_the_uninterrupted_history",
    ),
    ("webhook-queue-dropped", alert_kills::reasons::FEWER_DELIVERED, "alerts_webhook_queue_survives_kill_9"),
    (
        "mqtt-ack-on-receipt",
        mqtt_kills::reasons::FEWER,
        "mqtt_engine_killed_twice_gives_the_uninterrupted_windows",
    ),
    (
        "store-ack-before-commit",
        store_outage::reasons::PAST_THE_STORE,
        "store_outage_commits_no_offset_past_what_postgresql_holds",
    ),
    (
        "scale-out-mark-before-write",
        scale_group::reasons::MISSING,
        "scale_out_group_with_its_merger_killed_gives_one_answer",
    ),
];

/// How `scripts/faults --mutants` tells a mutant caught for its reason.
const FOR_ITS_REASON: &str = "for the mutant's reason";

/// The reason `mutant` must be caught by.
fn reason_of(mutant: &str) -> &'static str {
    MUST_CATCH.iter().find(|(name, _, _)| *name == mutant).map_or_else(
        || panic!("no reason named for the mutant {mutant}: add it to MUST_CATCH"),
        |(_, reason, _)| *reason,
    )
}

/// `scenario` against the engine under test (the mutant `FAULTS_MUTANT` names, else the real
/// one) must pass. A mutant's failure says whether it failed the check that must catch it.
fn must_pass(scenario: Scenario) {
    let name = scenario.name.clone();
    must_pass_run(&name, |mutant| verify(&Scenario { mutant: mutant.map(str::to_owned), ..scenario }));
}

/// The same for a scenario of its own (`run`, given the mutant to run if any, says what the
/// engine did wrong).
fn must_pass_run(name: &str, run: impl FnOnce(Option<&str>) -> Result<(), String>) {
    if skipped() {
        return;
    }
    let _serial = common::serial();
    let mutant = std::env::var("FAULTS_MUTANT").ok().filter(|m| !m.is_empty());
    let Err(failure) = run(mutant.as_deref()) else { return };
    if !failure.starts_with(name) {
        eprintln!("{name}: FAILED: {failure}");
    }
    match &mutant {
        Some(mutant) if failure.contains(reason_of(mutant)) => {
            panic!("{CAUGHT} {FOR_ITS_REASON} ({}): {failure}", reason_of(mutant))
        }
        Some(mutant) => {
            panic!("{CAUGHT}, not for the {mutant} mutant's reason ({}): {failure}", reason_of(mutant))
        }
        None => panic!("{CAUGHT}: {failure}"),
    }
}

/// `scenario` against `mutant` must fail, and by the check named for it.
#[cfg(feature = "fault-injection")]
fn must_catch(scenario: Scenario, mutant: &str) {
    let name = format!("{} ({mutant})", scenario.name);
    must_catch_run(mutant, |mutant| verify(&Scenario { name, mutant: Some(mutant.to_owned()), ..scenario }));
}

/// The same for a scenario of its own (`run`, given the mutant to run).
#[cfg(feature = "fault-injection")]
fn must_catch_run(mutant: &str, run: impl FnOnce(&str) -> Result<(), String>) {
    if skipped() {
        return;
    }
    let _serial = common::serial();
    let reason = reason_of(mutant);
    match run(mutant) {
        Ok(()) => panic!("the {mutant} mutant passed the checks"),
        Err(failure) => {
            assert!(failure.contains(reason), "the {mutant} mutant was not caught by '{reason}': {failure}");
            eprintln!("{mutant}: caught {FOR_ITS_REASON} ({reason})");
        }
    }
}

/// The alerts' kill -9 scenario (`tests/alerts.rs`): the alerts file is the uninterrupted run's.
#[test]
fn alerts_killed_twice_give_the_uninterrupted_history() {
    must_pass_run("alerts kill -9", alert_kills::kill_9_and_restart);
}

/// The webhook's kill -9 scenario (`tests/alerts.rs`): what it had queued is delivered.
#[cfg(feature = "webhook")]
#[test]
fn alerts_webhook_queue_survives_kill_9() {
    must_pass_run("webhook queue kill -9", alert_kills::webhook_queue_survives_kill_9);
}

/// The MQTT kill -9 scenario (`tests/mqtt.rs`): the crashed engine's windows are the
/// uninterrupted one's.
#[cfg(feature = "mqtt")]
#[test]
fn mqtt_engine_killed_twice_gives_the_uninterrupted_windows() {
    must_pass_run("MQTT kill -9", mqtt_kills::kill_9_twice_while_publishing);
}

/// The store outage scenario (`tests/store_outages.rs`): Kafka offsets are not committed past
/// what PostgreSQL holds.
#[cfg(feature = "store-postgres")]
#[test]
fn store_outage_commits_no_offset_past_what_postgresql_holds() {
    if common::postgres::skip("the fault suite's PostgreSQL outage") {
        return;
    }
    must_pass_run("PostgreSQL outage", store_outage::kafka_offsets_within_the_store);
}

/// The scale-out scenario (`tests/scale_out.rs`): a changing group, its merger killed, gives the
/// oracle's windows once.
#[test]
fn scale_out_group_with_its_merger_killed_gives_one_answer() {
    must_pass_run("scale-out", scale_group::changing_group);
}

#[test]
fn engine_killed_at_random_gives_exactly_the_oracle() {
    must_pass(scenario("kill -9", Fault::KillEngine));
}

#[test]
fn engine_stopped_cleanly_again_and_again_gives_exactly_the_oracle() {
    must_pass(scenario("SIGTERM", Fault::StopEngine));
}

#[test]
fn broker_killed_again_and_again_the_engine_rides_it_out() {
    must_pass(scenario("broker kill -9", Fault::KillBroker));
}

#[test]
fn without_a_state_directory_a_crash_repeats_windows_but_never_changes_them() {
    must_pass(at_least_once());
}

#[test]
fn poison_is_dead_lettered_exactly_and_the_rest_counted_exactly() {
    must_pass(poison());
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_no_cut_back_is_caught() {
    must_catch(short(scenario("kill -9", Fault::KillEngine)), "no-cut-back");
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_ack_before_write_is_caught() {
    must_catch(short(at_least_once()), "ack-before-write");
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_drop_dead_letter_is_caught() {
    must_catch(short(poison()), "drop-dead-letter");
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_double_count_replay_is_caught() {
    must_catch(short(scenario("SIGTERM", Fault::StopEngine)), "double-count-replay");
}

/// Positions checkpointed without their state pass while nothing crashes, and fail once the
/// engine is killed: the kills are what catch it.
#[cfg(feature = "fault-injection")]
#[test]
fn mutant_positions_without_state_is_caught_by_the_kills() {
    if skipped() {
        return;
    }
    let mutant = "positions-without-state";
    let kill = short(scenario("kill -9", Fault::KillEngine));
    let name = format!("the same without kills ({mutant})");
    let calm = Scenario { name, fault: Fault::Calm, must_count: 0, ..kill.clone() };
    let outcome = {
        let _serial = common::serial();
        verify(&Scenario { mutant: Some(mutant.to_owned()), ..calm })
    };
    assert!(outcome.is_ok(), "without kills, the {mutant} mutant must pass: {outcome:?}");
    must_catch(kill, mutant);
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_alerts_no_cutback_is_caught() {
    must_catch_run("alerts-no-cutback", |mutant| alert_kills::kill_9_and_restart(Some(mutant)));
}

#[cfg(all(feature = "fault-injection", feature = "webhook"))]
#[test]
fn mutant_webhook_queue_dropped_is_caught() {
    must_catch_run("webhook-queue-dropped", |mutant| {
        alert_kills::webhook_queue_survives_kill_9(Some(mutant))
    });
}

#[cfg(all(feature = "fault-injection", feature = "mqtt"))]
#[test]
fn mutant_mqtt_ack_on_receipt_is_caught() {
    must_catch_run("mqtt-ack-on-receipt", |mutant| mqtt_kills::kill_9_twice_while_publishing(Some(mutant)));
}

#[cfg(all(feature = "fault-injection", feature = "store-postgres"))]
#[test]
fn mutant_store_ack_before_commit_is_caught() {
    if common::postgres::skip("the store-ack-before-commit mutant's PostgreSQL outage") {
        return;
    }
    must_catch_run("store-ack-before-commit", |mutant| {
        store_outage::kafka_offsets_within_the_store(Some(mutant))
    });
}

#[cfg(feature = "fault-injection")]
#[test]
fn mutant_scale_out_mark_before_write_is_caught() {
    must_catch_run("scale-out-mark-before-write", |mutant| scale_group::changing_group(Some(mutant)));
}
