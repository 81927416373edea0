//! The merger's rules, on hand-made logs.

use super::*;
use crate::parse::Parser;
use crate::window::WindowSpec;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_790 * SECOND; // 2016-11-16T13:26:30Z, a multiple of 10 s

fn config(lateness: i64, idle: Option<i64>) -> EventTimeConfig {
    EventTimeConfig {
        window: WindowSpec::new(10 * SECOND, 10 * SECOND).unwrap(),
        max_delay: 0,
        allowed_lateness: lateness,
        max_skew: None,
        idle_timeout: idle,
    }
}

/// A share of the window at `BASE` with `readings` readings of `guid`.
fn share(guid: &str, readings: usize, revision: u32) -> WindowShare {
    let text = format!(
        r#"{{"guid":"{guid}","state":"CA","eventTime":"{}","payload":{{"data":{{"temperature":70}}}}}}"#,
        EventTime(BASE + SECOND)
    );
    let mut aggregate = Aggregate::default();
    for _ in 0..readings {
        aggregate.add(&Parser::default().parse(text.as_bytes()).unwrap());
    }
    WindowShare { start: BASE, end: BASE + 10 * SECOND, revision, aggregate }
}

fn progress(partition: u32, max_event_time: i64, at: i64, caught_up: bool) -> PartitionProgress {
    let clock = PartitionClock { max_event_time, last_active: at, caught_up };
    PartitionProgress { partition, clock, at }
}

#[test]
fn a_window_is_final_once_every_partition_has_passed_it() {
    let mut merger = Merger::new(config(0, None), 2);
    assert!(merger.on_share(0, &share("a", 2, 0)).is_empty());
    assert!(merger.on_progress(&progress(0, BASE + 11 * SECOND, 0, false)).is_empty(), "1 has not reported");
    assert!(merger.on_share(1, &share("b", 3, 0)).is_empty());
    let results = merger.on_progress(&progress(1, BASE + 12 * SECOND, 0, false));
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].messages, results[0].sensors, results[0].revision), (5, 2, 0));
    assert_eq!(merger.watermark(), Some(EventTime(BASE + 11 * SECOND)));
}

#[test]
fn replayed_shares_change_nothing_and_contradictions_are_counted() {
    let mut merger = Merger::new(config(5 * SECOND, None), 1);
    merger.on_share(0, &share("a", 2, 0));
    assert_eq!(merger.on_progress(&progress(0, BASE + 10 * SECOND, 0, false)).len(), 1);
    assert!(merger.on_share(0, &share("a", 2, 0)).is_empty(), "the same share again: a replay");
    assert_eq!((merger.replayed(), merger.conflicts()), (1, 0));
    assert!(merger.on_share(0, &share("a", 9, 0)).is_empty(), "the same revision, other contents");
    assert_eq!(merger.conflicts(), 1);
    let revised = merger.on_share(0, &share("a", 3, 1));
    assert_eq!((revised.len(), revised[0].revision, revised[0].messages), (1, 1, 3), "a late update");
    assert!(merger.on_share(0, &share("a", 2, 0)).is_empty(), "an older revision never wins");
}

#[test]
fn shares_of_windows_past_the_lateness_are_counted_not_merged() {
    let mut merger = Merger::new(config(0, None), 1);
    merger.on_progress(&progress(0, BASE + 30 * SECOND, 0, false));
    assert!(merger.on_share(0, &share("a", 1, 0)).is_empty());
    assert_eq!((merger.late_shares(), merger.open_windows()), (1, 0));
}

#[test]
fn idle_partitions_stop_holding_it_on_the_owners_clock() {
    let mut merger = Merger::new(config(0, Some(5 * SECOND)), 2);
    merger.on_share(0, &share("a", 1, 0));
    merger.on_progress(&progress(1, i64::MIN, 100 * SECOND, true));
    assert!(merger.on_progress(&progress(0, BASE + 12 * SECOND, 101 * SECOND, false)).is_empty());
    // Partition 1 has been caught up and silent since 100 s: idle once an owner reports 105 s.
    let results = merger.on_progress(&progress(0, BASE + 12 * SECOND, 105 * SECOND, false));
    assert_eq!(results.len(), 1, "partition 1 is idle");
}

#[test]
fn a_partition_that_never_reported_holds_the_watermark() {
    let mut merger = Merger::new(config(0, Some(SECOND)), 2);
    merger.on_share(0, &share("a", 1, 0));
    assert!(merger.on_progress(&progress(0, BASE + 60 * SECOND, 1000 * SECOND, true)).is_empty());
    assert_eq!(merger.watermark(), None);
}

#[test]
fn records_round_trip() {
    let record = MergeRecord::Share { partition: 3, share: share("a", 2, 1) };
    let bytes = postcard::to_stdvec(&record).unwrap();
    assert_eq!(postcard::from_bytes::<MergeRecord>(&bytes).unwrap(), record);
}

#[test]
fn idleness_closes_a_window_with_what_idle_partitions_hold() {
    let mut merger = Merger::new(config(5 * SECOND, Some(2 * SECOND)), 2);
    merger.on_share(0, &share("a", 2, 0));
    merger.on_progress(&progress(0, BASE + 11 * SECOND, 100 * SECOND, false));
    // Partition 1's window is still open on its own clock; it went quiet holding one reading.
    assert!(merger.on_provisional(1, &share("b", 1, 0)).is_empty());
    let quiet =
        PartitionClock { max_event_time: BASE + 3 * SECOND, last_active: 100 * SECOND, caught_up: true };
    let closed = merger.on_progress(&PartitionProgress { partition: 1, clock: quiet, at: 102 * SECOND });
    assert_eq!((closed.len(), closed[0].messages), (1, 3), "idle: its provisional contents count");
    assert!(merger.on_share(1, &share("b", 1, 0)).is_empty(), "its own share, as held: nothing new");
    let revised = merger.on_share(1, &share("b", 2, 1));
    assert_eq!((revised[0].revision, revised[0].messages), (1, 4), "more readings came: a revision");
    assert!(merger.on_provisional(1, &share("b", 9, 0)).is_empty(), "a share replaces provisional contents");
}

#[test]
fn early_results_come_on_the_logs_clock_and_never_count_as_final() {
    let mut merger = Merger::new(config(0, None), 2).with_early(Some(5 * SECOND));
    assert!(merger.on_record(&MergeRecord::Early { partition: 0, share: share("a", 2, 0) }).is_empty());
    merger.on_record(&MergeRecord::Early { partition: 1, share: share("b", 1, 0) });
    let early = merger.on_progress(&progress(0, BASE + 5 * SECOND, 100 * SECOND, false));
    assert_eq!(early.len(), 1, "the log's clock reached a multiple of 5 s");
    assert_eq!((early[0].is_final, early[0].messages, early[0].revision), (false, 3, 0));
    assert!(merger.on_progress(&progress(0, BASE + 6 * SECOND, 101 * SECOND, false)).is_empty(), "not due");
    merger.on_record(&MergeRecord::Early { partition: 0, share: share("a", 4, 0) });
    assert!(merger.on_progress(&progress(1, BASE + 6 * SECOND, 104 * SECOND, false)).is_empty());
    let again = merger.on_progress(&progress(1, BASE + 7 * SECOND, 105 * SECOND, false));
    assert_eq!((again.len(), again[0].messages), (1, 5), "changed contents, due again");
    // The final result counts the shares alone.
    merger.on_share(0, &share("a", 1, 0));
    merger.on_share(1, &share("b", 1, 0));
    merger.on_progress(&progress(0, BASE + 20 * SECOND, 106 * SECOND, false));
    let last = merger.on_progress(&progress(1, BASE + 20 * SECOND, 106 * SECOND, false));
    let finals: Vec<&WindowResult> = last.iter().filter(|r| r.is_final).collect();
    assert_eq!((finals.len(), finals[0].messages), (1, 2));
}

#[test]
fn ticks_move_the_clock_when_every_partition_is_idle() {
    let mut merger = Merger::new(config(0, Some(2 * SECOND)), 2);
    merger.on_share(0, &share("a", 1, 0));
    merger.on_progress(&progress(0, BASE + 3 * SECOND, 100 * SECOND, true));
    merger.on_progress(&progress(1, BASE + 2 * SECOND, 100 * SECOND, true));
    assert!(merger.all_idle());
    assert!(
        merger.on_record(&MergeRecord::Tick { at: 102 * SECOND }).is_empty(),
        "idle, the window still open"
    );
    let closed = merger.on_record(&MergeRecord::Tick { at: 110 * SECOND });
    assert_eq!(closed.len(), 1, "every partition idle: the watermark follows the log's clock");
    assert_eq!(merger.now(), 110 * SECOND);
}

#[test]
fn a_merger_taken_from_a_snapshot_goes_on_as_the_original() {
    let mut merger = Merger::new(config(5 * SECOND, Some(2 * SECOND)), 2).with_early(Some(SECOND));
    merger.on_share(0, &share("a", 2, 0));
    merger.on_record(&MergeRecord::Early { partition: 1, share: share("b", 1, 0) });
    let bytes = postcard::to_stdvec(&merger).unwrap();
    let mut copy: Merger = postcard::from_bytes(&bytes).unwrap();
    let rest = [
        MergeRecord::Progress(progress(0, BASE + 11 * SECOND, 100 * SECOND, false)),
        MergeRecord::Share { partition: 1, share: share("b", 2, 0) },
        MergeRecord::Progress(progress(1, BASE + 12 * SECOND, 101 * SECOND, false)),
        MergeRecord::Share { partition: 1, share: share("b", 3, 1) },
    ];
    for record in &rest {
        assert_eq!(merger.on_record(record), copy.on_record(record));
    }
}
