//! The rules that differ between batches and windows, through the one [`Operator`] API.

use super::*;
use crate::parse::Parser;
use crate::window::WindowSpec;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND; // 2016-11-16T13:26:30Z, a multiple of 10 s

fn line(guid: &str, t: i64, temperature: f64) -> String {
    format!(
        r#"{{"guid":"{guid}","state":"CA","eventTime":"{}","payload":{{"data":{{"temperature":{temperature}}}}}}}"#,
        EventTime(t)
    )
}

fn windows_config() -> OperatorConfig {
    let config = EventTimeConfig {
        window: WindowSpec::new(10 * SECOND, 10 * SECOND).unwrap(),
        max_delay: SECOND,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    };
    OperatorConfig::Windows { config, emit_every: Some(SECOND) }
}

fn batches_config() -> OperatorConfig {
    OperatorConfig::Batches { period: 3 * SECOND }
}

/// Feeds one reading at event time `t` from partition 0 at `position`.
fn feed(op: &mut Operator, t: i64, position: i64) -> Result<(), RejectReason> {
    let text = line("g1", t, 70.0);
    let reading = Parser::default().parse(text.as_bytes()).unwrap();
    op.on_reading(0, position, &reading, EventTime(BASE))
}

#[test]
fn batches_count_rejections_windows_do_not() {
    let mut batches = batches_config().build(EventTime(BASE));
    batches.on_rejected(RejectReason::MalformedJson);
    let result = batches.on_tick(EventTime(BASE + SECOND));
    assert_eq!((result.len(), result[0].rejected), (1, 1));

    let mut windows = windows_config().build(EventTime(BASE));
    windows.on_rejected(RejectReason::MalformedJson);
    feed(&mut windows, BASE + SECOND, 0).unwrap();
    let results = windows.on_end(EventTime(BASE), 0);
    assert_eq!((results.len(), results[0].rejected, results[0].messages), (1, 0, 1));
}

#[test]
fn a_run_emits_at_least_one_batch_but_no_empty_tail() {
    let mut op = batches_config().build(EventTime(BASE));
    assert_eq!(op.on_end(EventTime(BASE + SECOND), 0).len(), 1, "empty input still gives one result");
    let mut op = batches_config().build(EventTime(BASE));
    assert!(op.on_end(EventTime(BASE + SECOND), 3).is_empty(), "nothing since the last tick");
    assert!(op.on_stop(EventTime(BASE + SECOND), 3).is_empty());
    feed(&mut op, BASE, 0).unwrap();
    assert_eq!(op.on_stop(EventTime(BASE + SECOND), 3)[0].messages, 1);
}

#[test]
fn partials_go_to_batches_only() {
    let text = line("g1", BASE, 70.0);
    let mut partial = Aggregate::default();
    partial.add(&Parser::default().parse(text.as_bytes()).unwrap());
    let mut batches = batches_config().build(EventTime(BASE));
    batches.on_partial(&partial).unwrap();
    assert_eq!(batches.on_tick(EventTime(BASE))[0].messages, 1);
    let mut windows = windows_config().build(EventTime(BASE));
    assert_eq!(windows.on_partial(&partial), Err(OperatorError::PartialInEventTime));
    assert!(batches_config().takes_partials() && !windows_config().takes_partials());
}

#[test]
fn windows_close_on_input_batches_on_their_tick() {
    let mut batches = batches_config().build(EventTime(BASE));
    feed(&mut batches, BASE, 0).unwrap();
    assert!(batches.on_input(EventTime(BASE)).is_empty());

    let mut windows = windows_config().build(EventTime(BASE));
    feed(&mut windows, BASE + SECOND, 0).unwrap();
    assert!(windows.on_input(EventTime(BASE)).is_empty(), "the window is still open");
    // 12 s minus the 1 s delay passes the first window's end at +10 s.
    feed(&mut windows, BASE + 12 * SECOND, 1).unwrap();
    let closed = windows.on_input(EventTime(BASE));
    assert_eq!((closed.len(), closed[0].is_final, closed[0].messages), (1, true, 1));
}

#[test]
fn late_and_future_readings_are_rejected_with_their_reason() {
    let mut op = windows_config().build(EventTime(BASE));
    feed(&mut op, BASE + 25 * SECOND, 0).unwrap();
    assert_eq!(feed(&mut op, BASE + SECOND, 1), Err(RejectReason::Late));
    assert_eq!(op.live().late_by_state.iter().sum::<u64>(), 1);
    let skewed = EventTimeConfig { max_skew: Some(SECOND), ..windows_inner() };
    let mut op = OperatorConfig::Windows { config: skewed, emit_every: None }.build(EventTime(BASE));
    assert_eq!(feed(&mut op, BASE + 10 * SECOND, 0), Err(RejectReason::FutureTimestamp));
}

fn windows_inner() -> EventTimeConfig {
    match windows_config() {
        OperatorConfig::Windows { config, .. } => config,
        _ => unreachable!("built as windows"),
    }
}

#[test]
fn a_revoke_emits_the_open_batch_but_keeps_windows() {
    let mut batches = batches_config().build(EventTime(BASE));
    assert!(batches.on_revoke(EventTime(BASE), false, 0).is_empty(), "nothing to emit");
    feed(&mut batches, BASE, 0).unwrap();
    assert_eq!(batches.on_revoke(EventTime(BASE), false, 0)[0].messages, 1);

    let mut windows = windows_config().build(EventTime(BASE));
    feed(&mut windows, BASE, 7).unwrap();
    assert!(windows.on_revoke(EventTime(BASE), false, 0).is_empty());
    assert_eq!(windows.pinned_positions(), [(0, 7)].into(), "input in open windows stays pinned");
}

#[test]
fn a_stop_emits_partial_windows_and_an_end_final_ones() {
    let mut op = windows_config().build(EventTime(BASE));
    feed(&mut op, BASE + SECOND, 0).unwrap();
    let stopped = op.on_stop(EventTime(BASE), 0);
    assert_eq!((stopped.len(), stopped[0].is_final), (1, false));
    let ended = op.on_end(EventTime(BASE), 1);
    assert_eq!((ended.len(), ended[0].is_final), (1, true));
    assert!(op.pinned_positions().is_empty(), "everything emitted final");
}

#[test]
fn resumes_only_a_checkpoint_of_the_same_settings() {
    let now = EventTime(BASE);
    let windows = windows_config().build(now);
    let batches = batches_config().build(now);
    assert_eq!(windows.check_resumable(&windows_config().build(EventTime(0))), Ok(()));
    assert_eq!(batches.check_resumable(&batches_config().build(EventTime(0))), Ok(()));
    assert_eq!(windows.check_resumable(&batches), Err(OperatorError::OtherSettings));
    let other = EventTimeConfig { max_delay: 2 * SECOND, ..windows_inner() };
    let other = OperatorConfig::Windows { config: other, emit_every: None }.build(now);
    assert_eq!(windows.check_resumable(&other), Err(OperatorError::OtherSettings));
}

#[test]
fn a_snapshot_restores_the_same_windows() {
    let mut op = windows_config().build(EventTime(BASE));
    feed(&mut op, BASE + SECOND, 0).unwrap();
    feed(&mut op, BASE + 2 * SECOND, 1).unwrap();
    let bytes = postcard::to_stdvec(&op).unwrap();
    let mut restored: Operator = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(op.live(), restored.live());
    assert_eq!(op.pinned_positions(), restored.pinned_positions());
    assert_eq!(op.on_end(EventTime(BASE), 0), restored.on_end(EventTime(BASE), 0));
}

#[test]
fn configs_describe_their_clocks() {
    assert_eq!(batches_config().tick_period(), 3 * SECOND);
    assert_eq!(windows_config().tick_period(), SECOND);
    assert_eq!((batches_config().early_period(), windows_config().early_period()), (None, Some(SECOND)));
    assert_eq!(batches_config().describe(), ("processing", 3 * SECOND, 3 * SECOND));
    assert_eq!(windows_config().describe(), ("event", 10 * SECOND, 10 * SECOND));
    assert!(windows_config().is_event_time() && !batches_config().is_event_time());
}

#[test]
fn shares_complete_per_partition_and_wait_to_be_taken() {
    let inner = windows_inner();
    let mut op = OperatorConfig::Shares { config: inner }.build(EventTime(BASE));
    op.on_partitions(&[0, 1], EventTime(BASE));
    feed(&mut op, BASE + SECOND, 0).unwrap();
    // Partition 0 passes the first window's end; partition 1 has no readings: its watermark is
    // its own business, and holds nothing back here.
    feed(&mut op, BASE + 12 * SECOND, 1).unwrap();
    assert!(op.on_input(EventTime(BASE)).is_empty(), "shares, not results");
    let shares = op.shares().unwrap().take_shares();
    assert_eq!(shares.len(), 1);
    let (partition, share) = &shares[0];
    assert_eq!((*partition, share.start, share.revision, share.aggregate.messages()), (0, BASE, 0, 1));
    assert!(op.shares().unwrap().take_shares().is_empty(), "taken once");
    assert_eq!(op.pinned_positions(), [(0, 0), (1, 0)].into(), "nothing saved: nothing acknowledged");
    op.shares().unwrap().saved(0, 2);
    assert_eq!(op.pinned_positions()[&0], 2);
    assert!(batches_config().build(EventTime(BASE)).shares().is_none());
}

#[test]
fn an_owner_restored_from_saved_state_goes_on_exactly() {
    let inner = windows_inner();
    let config = OperatorConfig::Shares { config: inner };
    let mut first = config.build(EventTime(BASE));
    feed(&mut first, BASE + SECOND, 0).unwrap();
    let saved = postcard::to_stdvec(first.shares().unwrap().state(0).unwrap()).unwrap();
    feed(&mut first, BASE + 12 * SECOND, 1).unwrap();
    first.on_input(EventTime(BASE));
    let mut second = config.build(EventTime(BASE));
    second.shares().unwrap().restore(0, postcard::from_bytes(&saved).unwrap(), 1);
    feed(&mut second, BASE + 12 * SECOND, 1).unwrap();
    second.on_input(EventTime(BASE));
    assert_eq!(second.shares().unwrap().take_shares(), first.shares().unwrap().take_shares());
}
