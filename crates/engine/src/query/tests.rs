//! Queries end to end: rows and their JSON form, rejections per query, the watermark, group
//! limits, partials, and answers that do not depend on chunking, order or restarts.

use proptest::prelude::*;

use super::*;
use crate::operator::EventTimeConfig;
use crate::parse::RejectReason;
use crate::reading::EventTime;
use crate::window::WindowSpec;

const SECOND: i64 = 1_000_000;
const BASE: i64 = 1_479_302_760 * SECOND; // 2016-11-16T13:26:00Z, a whole minute

fn event_settings(max_delay: i64, lateness: i64, max_groups: u32) -> Settings {
    let config = EventTimeConfig {
        window: WindowSpec::tumbling(60 * SECOND).unwrap(),
        max_delay,
        allowed_lateness: lateness,
        max_skew: None,
        idle_timeout: None,
    };
    Settings {
        time: Time::Event { field: FieldPath::new(["eventTime"]), config },
        max_groups,
        max_line_bytes: 4096,
    }
}

fn queries(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect()
}

fn line(t: i64, state: &str, format: &str, data: &str) -> String {
    format!(
        r#"{{"guid":"g-{state}","state":"{state}","eventTime":"{}","payload":{{"format":"{format}","data":{{{data}}}}}}}"#,
        EventTime(t)
    )
}

/// Feeds `lines` (each `(partition, text)`) in order, calling `on_input` after every `chunk`
/// lines; returns the emissions and every per-query rejection.
fn feed(set: &mut QuerySet, lines: &[String], chunk: usize) -> (Vec<Emission>, Vec<(usize, RejectReason)>) {
    let mut records = set.records();
    let (mut out, mut rejected) = (Vec::new(), Vec::new());
    for (i, text) in lines.iter().enumerate() {
        records.clear();
        match records.push(set.extractor(), text.as_bytes()) {
            Ok(at) => match set.on_record(0, i as i64, &records.get(at, text.as_bytes()), EventTime(BASE)) {
                Ok(per_query) => rejected.extend_from_slice(per_query),
                Err(reason) => rejected.push((usize::MAX, reason)),
            },
            Err(reason) => rejected.push((usize::MAX, reason)),
        }
        if (i + 1) % chunk == 0 {
            out.extend(set.on_input(EventTime(BASE)));
        }
    }
    (out, rejected)
}

fn jsonl(emissions: &[Emission]) -> String {
    let mut out = Vec::new();
    emissions.iter().for_each(|e| e.write_jsonl(&mut out));
    String::from_utf8(out).unwrap()
}

#[test]
fn rows_come_out_as_the_issue_says() {
    let q = queries(&[(
        "temps",
        "SELECT state, avg(payload.data.temperature) AS avg_t, count(*) AS n, \
         approx_percentile(payload.data.temperature, 0.5) AS p50 FROM readings \
         GROUP BY tumble(interval '1 minute'), state",
    )]);
    let mut set = QuerySet::new(&q, event_settings(0, 0, 0)).unwrap();
    let lines = [
        line(BASE + SECOND, "CA", "temp", r#""temperature":70.5"#),
        line(BASE + 2 * SECOND, "AK", "temp", r#""temperature":-3"#),
        line(BASE + 3 * SECOND, "CA", "temp", r#""temperature":71.5"#),
        r#"{"state":null,"eventTime":"2016-11-16T13:26:04Z"}"#.to_string(),
    ];
    let (mut out, rejected) = feed(&mut set, &lines, 1);
    out.extend(set.on_end(EventTime(BASE)));
    assert!(rejected.is_empty(), "{rejected:?}");
    let expected = [
        r#"{"query":"temps","window_start":"2016-11-16T13:26:00Z","window_end":"2016-11-16T13:27:00Z","final":true,"revision":0,"state":null,"avg_t":null,"n":1,"p50":null}"#,
        r#"{"query":"temps","window_start":"2016-11-16T13:26:00Z","window_end":"2016-11-16T13:27:00Z","final":true,"revision":0,"state":"AK","avg_t":-3.0,"n":1,"p50":-3.0155440414507773}"#,
        r#"{"query":"temps","window_start":"2016-11-16T13:26:00Z","window_end":"2016-11-16T13:27:00Z","final":true,"revision":0,"state":"CA","avg_t":71.0,"n":2,"p50":70.49645390070921}"#,
    ];
    assert_eq!(jsonl(&out), expected.join("\n") + "\n");
    let table = out[0].console_table();
    assert!(
        table.starts_with("query temps: 2016-11-16T13:26:00Z .. 2016-11-16T13:27:00Z (final)\n"),
        "{table}"
    );
    assert!(table.contains("state | avg_t | n | p50\n"), "{table}");
    assert!(table.contains("CA    | 71    | 2 | 70.49645390070921"), "{table}");
}

#[test]
fn a_wrong_type_rejects_the_reading_for_that_query_only() {
    let q = queries(&[
        (
            "sums",
            "SELECT sum(payload.data.temperature) AS s FROM readings GROUP BY tumble(interval '1 minute')",
        ),
        ("counts", "SELECT count(*) AS n FROM readings GROUP BY tumble(interval '1 minute')"),
        (
            "states",
            "SELECT count(*) AS n FROM readings WHERE state = 'CA' GROUP BY tumble(interval '1 minute')",
        ),
    ]);
    let mut set = QuerySet::new(&q, event_settings(0, 0, 0)).unwrap();
    let lines = [
        line(BASE, "CA", "temp", r#""temperature":"hot""#),
        line(BASE, "CA", "temp", r#""temperature":1e30"#),
        r#"{"state":5,"eventTime":"2016-11-16T13:26:00Z"}"#.to_string(),
        r#"{"state":"CA","eventTime":"2016-11-16T13:26:00Z","eventTime":"x"}"#.to_string(),
        r#"{"state":"CA"}"#.to_string(),
    ];
    let (_, rejected) = feed(&mut set, &lines, 10);
    let expected = [
        (0, RejectReason::WrongType),
        (0, RejectReason::OutOfRange),
        (2, RejectReason::WrongType),
        (usize::MAX, RejectReason::DuplicateField),
        (usize::MAX, RejectReason::MissingField),
    ];
    assert_eq!(rejected, expected);
    let live = set.live();
    assert_eq!((live[1].counts.counted, live[0].counts.counted, live[2].counts.counted), (3, 1, 2));
    assert_eq!(live[0].counts.rejected_for(RejectReason::OutOfRange), 1);
}

#[test]
fn readings_a_filter_leaves_out_still_move_the_watermark() {
    let q = queries(&[("humid", "SELECT count(*) AS n FROM readings WHERE payload.format = 'humidity' GROUP BY tumble(interval '1 minute')")]);
    let mut set = QuerySet::new(&q, event_settings(5 * SECOND, 0, 0)).unwrap();
    let lines = [
        line(BASE + SECOND, "CA", "humidity", r#""h":40"#),
        line(BASE + 66 * SECOND, "CA", "temp", r#""temperature":1"#),
    ];
    let (out, _) = feed(&mut set, &lines, 1);
    assert_eq!(out.len(), 1, "the temperature reading closed the humidity window");
    assert_eq!(out[0].rows, [vec![Cell::Int(1)]]);
    assert_eq!(set.watermark(), Some(EventTime(BASE + 61 * SECOND)));
}

#[test]
fn late_readings_revise_within_the_lateness_and_are_late_after() {
    let q = queries(&[("n", "SELECT count(*) AS n FROM readings GROUP BY tumble(interval '1 minute')")]);
    let mut set = QuerySet::new(&q, event_settings(0, 30 * SECOND, 0)).unwrap();
    let lines = [
        line(BASE + SECOND, "CA", "t", ""),
        line(BASE + 70 * SECOND, "CA", "t", ""),
        line(BASE + 2 * SECOND, "CA", "t", ""),
        line(BASE + 100 * SECOND, "CA", "t", ""),
        line(BASE + 3 * SECOND, "CA", "t", ""),
    ];
    let (out, rejected) = feed(&mut set, &lines, 1);
    let revisions: Vec<(u32, Vec<Vec<Cell>>)> = out.iter().map(|e| (e.revision, e.rows.clone())).collect();
    assert_eq!(revisions, [(0, vec![vec![Cell::Int(1)]]), (1, vec![vec![Cell::Int(2)]])]);
    assert_eq!(rejected, [(0, RejectReason::Late)]);
}

#[test]
fn a_group_limit_refuses_new_groups_and_counts_their_readings() {
    let q = queries(&[(
        "by_state",
        "SELECT state, count(*) AS n FROM readings GROUP BY tumble(interval '1 minute'), state",
    )]);
    let mut set = QuerySet::new(&q, event_settings(0, 0, 2)).unwrap();
    let lines: Vec<String> =
        ["CA", "NY", "CA", "TX", "TX", "NY"].iter().map(|s| line(BASE, s, "t", "")).collect();
    let (_, rejected) = feed(&mut set, &lines, 10);
    assert_eq!(rejected, [(0, RejectReason::TooManyGroups), (0, RejectReason::TooManyGroups)]);
    assert_eq!(set.live()[0].groups_open, 2);
    let out = set.on_end(EventTime(BASE));
    assert_eq!(out[0].rows.len(), 2);
}

#[test]
fn processing_time_batches_and_their_partials() {
    let q = queries(&[
        ("all", "SELECT count(*) AS n, avg(payload.data.temperature) AS t FROM readings"),
        ("by_state", "SELECT state, count(*) AS n FROM readings GROUP BY state HAVING count(*) > 1"),
    ]);
    let settings =
        Settings { time: Time::Processing { period: 3 * SECOND }, max_groups: 2, max_line_bytes: 4096 };
    let mut one = QuerySet::new(&q, settings.clone()).unwrap();
    one.start(EventTime(BASE));
    let first = one.on_tick(EventTime(BASE + 3 * SECOND));
    assert_eq!(first[0].rows, [vec![Cell::Int(0), Cell::Null]], "SQL over an empty batch: one row");
    assert!(first[1].rows.is_empty());
    let lines: Vec<String> = ["CA", "NY", "CA", "TX", "NY", "CA"]
        .iter()
        .map(|s| line(BASE, s, "t", r#""temperature":2.5"#))
        .collect();
    feed(&mut one, &lines, 100);
    let whole = one.on_tick(EventTime(BASE + 6 * SECOND));
    // The same lines on "threads": partials of uneven pieces, merged in input order.
    let mut merged = QuerySet::new(&q, settings).unwrap();
    merged.start(EventTime(BASE + 3 * SECOND));
    for piece in [&lines[..1], &lines[1..4], &lines[4..]] {
        let mut partial = merged.compiled().partial();
        let mut records = merged.records();
        for text in piece {
            let at = records.push(merged.extractor(), text.as_bytes()).unwrap();
            merged.compiled().count_partial(&mut partial, &records.get(at, text.as_bytes()));
        }
        merged.on_partial(&partial);
    }
    assert_eq!(merged.on_tick(EventTime(BASE + 6 * SECOND)), whole);
    assert_eq!(
        whole[1].rows,
        [vec![Cell::Str("CA".into()), Cell::Int(3)], vec![Cell::Str("NY".into()), Cell::Int(2)]]
    );
    let (merged_counts, one_counts) = (&merged.live()[1].counts, &one.live()[1].counts);
    assert_eq!(merged_counts.counted, one_counts.counted);
    assert_eq!(merged_counts.rejected, one_counts.rejected);
    assert_eq!(merged_counts.rejected_for(RejectReason::TooManyGroups), 1, "TX");
}

#[test]
fn checkpoints_for_other_queries_are_refused_naming_the_query() {
    let settings = event_settings(0, 0, 0);
    let a = ("a", "SELECT count(*) AS n FROM readings GROUP BY tumble(interval '1 minute')");
    let b = ("b", "SELECT max(payload.x) AS m FROM readings GROUP BY tumble(interval '1 minute')");
    let saved = QuerySet::new(&queries(&[a, b]), settings.clone()).unwrap().fingerprints();
    let check = |list: &[(&str, &str)], settings: &Settings| {
        QuerySet::new(&queries(list), settings.clone())
            .unwrap()
            .check_resumable(&saved)
            .map_err(|e| e.to_string())
    };
    let respaced = ("b", "select   max(payload.x) as m\nfrom readings GROUP BY tumble(INTERVAL '1 minute')");
    assert_eq!(check(&[b, a], &settings), Ok(()), "order does not matter");
    assert_eq!(check(&[a, respaced], &settings), Ok(()), "nor spacing and keyword case");
    let changed = ("b", "SELECT min(payload.x) AS m FROM readings GROUP BY tumble(interval '1 minute')");
    assert_eq!(
        check(&[a, changed], &settings),
        Err("the checkpoint was written for other queries: query b changed since the checkpoint (its SQL, window or group settings); run with the checkpoint's queries, or use another --state-dir".into())
    );
    assert!(check(&[a], &settings).unwrap_err().contains("query b is in the checkpoint but not in this run"));
    let c = ("c", "SELECT count(*) AS n FROM readings GROUP BY tumble(interval '1 minute')");
    assert!(check(&[a, b, c], &settings).unwrap_err().contains("query c is new"));
    assert!(check(&[a, b], &event_settings(SECOND, 0, 0)).unwrap_err().contains("query a changed"));
    assert!(check(&[a, b], &event_settings(0, 0, 5)).unwrap_err().contains("query a changed"));
}

const QUERIES: [(&str, &str); 4] = [
    ("by_state", "SELECT state, avg(payload.data.temperature) AS t, stddev(payload.data.temperature) AS sd FROM readings GROUP BY tumble(interval '1 minute'), state"),
    ("sliding", "SELECT count(DISTINCT guid) AS sensors, approx_percentile(payload.data.temperature, 0.9) AS p90 FROM readings GROUP BY hop(interval '20 seconds', interval '1 minute')"),
    ("hot", "SELECT state, max(payload.data.temperature) - min(payload.data.temperature) AS spread FROM readings WHERE payload.data.temperature > 50 GROUP BY state HAVING count(*) >= 2"),
    ("formats", "SELECT payload.format, count(payload.data.temperature) AS n FROM readings GROUP BY payload.format ORDER BY n DESC"),
];

/// Readings in event-time order over a few minutes, then shuffled within `delay`.
fn disordered(delay: i64) -> impl Strategy<Value = Vec<String>> {
    let reading = (0..240i64, 0..4usize, 0..3usize, -20.0f64..100.0, 0..delay);
    prop::collection::vec(reading, 1..120).prop_map(|readings| {
        let states = ["CA", "NY", "TX", "AK"];
        let formats = ["temp", "temp2", "humidity"];
        let mut keyed: Vec<(i64, String)> = readings
            .iter()
            .map(|&(s, st, f, temp, jitter)| {
                let t = BASE + s * SECOND;
                let data = if f == 2 { format!(r#""h":{temp}"#) } else { format!(r#""temperature":{temp}"#) };
                (t + jitter, line(t, states[st], formats[f], &data))
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        keyed.into_iter().map(|(_, l)| l).collect()
    })
}

/// Each window's last final emission (its latest revision), per query, as rows.
fn finals(mut emissions: Vec<Emission>) -> Vec<(String, EventTime, Vec<Vec<Cell>>)> {
    emissions.retain(|e| e.is_final);
    emissions.sort_by(|a, b| {
        (&*a.query, a.window_start, a.revision).cmp(&(&*b.query, b.window_start, b.revision))
    });
    let mut last: Vec<(String, EventTime, Vec<Vec<Cell>>)> = Vec::new();
    for e in emissions {
        match last.last_mut() {
            Some((query, start, rows)) if **query == *e.query && *start == e.window_start => *rows = e.rows,
            _ => last.push((e.query.to_string(), e.window_start, e.rows)),
        }
    }
    last
}

/// Queries for processing-time batches (no windows of their own).
const BATCH_QUERIES: [(&str, &str); 3] = [
    ("by_state", "SELECT state, avg(payload.data.temperature) AS t, stddev(payload.data.temperature) AS sd, count(DISTINCT guid) AS n, approx_percentile(payload.data.temperature, 0.5) AS p FROM readings GROUP BY state"),
    ("formats", "SELECT payload.format, count(*) AS n FROM readings WHERE payload.data.temperature > 50 GROUP BY payload.format HAVING count(*) > 1"),
    ("all", "SELECT count(*) AS n, max(payload.data.temperature) - min(payload.data.temperature) AS spread FROM readings"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn answers_do_not_depend_on_chunking_order_or_restarts(
        lines in disordered(7 * SECOND),
        chunk in 1..20usize,
        kill in any::<prop::sample::Index>(),
    ) {
        // Out of order by up to 7 s: 3 s of delay, then 4 s of allowed lateness (revisions).
        let settings = event_settings(3 * SECOND, 4 * SECOND, 0);
        let q = queries(&QUERIES);
        // The reference: the same readings sorted by event time, in one piece.
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| l[l.find("eventTime").unwrap()..].to_string());
        let mut reference = QuerySet::new(&q, settings.clone()).unwrap();
        let (mut expected, rejected) = feed(&mut reference, &sorted, sorted.len());
        prop_assert!(rejected.is_empty());
        expected.extend(reference.on_end(EventTime(BASE)));
        // Disordered, in chunks, killed and restored from a snapshot at a random point.
        let cut = kill.index(lines.len() + 1);
        let mut first = QuerySet::new(&q, settings.clone()).unwrap();
        let (mut got, rejected) = feed(&mut first, &lines[..cut], chunk);
        prop_assert!(rejected.is_empty(), "nothing is late within the allowed lateness");
        let bytes = postcard::to_stdvec(&first.saved()).unwrap();
        let mut second = QuerySet::new(&q, settings).unwrap();
        second.restore(postcard::from_bytes(&bytes).unwrap()).unwrap();
        let mut rest = set_offset(&mut second, &lines[cut..], chunk, cut);
        got.append(&mut rest);
        got.extend(second.on_end(EventTime(BASE)));
        prop_assert_eq!(finals(got), finals(expected));
    }

    #[test]
    fn partials_merged_in_input_order_give_one_threads_batches(
        lines in disordered(SECOND),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        max_groups in 0..4u32,
    ) {
        let settings = Settings { time: Time::Processing { period: 3 * SECOND }, max_groups, max_line_bytes: 4096 };
        let q = queries(&BATCH_QUERIES);
        let mut one = QuerySet::new(&q, settings.clone()).unwrap();
        one.start(EventTime(BASE));
        feed(&mut one, &lines, lines.len());
        let expected = one.on_tick(EventTime(BASE + 3 * SECOND));
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(lines.len() + 1)).collect();
        bounds.extend([0, lines.len()]);
        bounds.sort_unstable();
        let mut merged = QuerySet::new(&q, settings).unwrap();
        merged.start(EventTime(BASE));
        for piece in bounds.windows(2) {
            let mut partial = merged.compiled().partial();
            let mut records = merged.records();
            for text in &lines[piece[0]..piece[1]] {
                let at = records.push(merged.extractor(), text.as_bytes()).unwrap();
                merged.compiled().count_partial(&mut partial, &records.get(at, text.as_bytes()));
            }
            merged.on_partial(&partial);
        }
        prop_assert_eq!(merged.on_tick(EventTime(BASE + 3 * SECOND)), expected);
        for (a, b) in merged.live().iter().zip(one.live()) {
            prop_assert_eq!((a.counts.counted, &a.counts.rejected), (b.counts.counted, &b.counts.rejected));
        }
    }
}

/// [`feed`], numbering positions from `offset`.
fn set_offset(set: &mut QuerySet, lines: &[String], chunk: usize, offset: usize) -> Vec<Emission> {
    let mut records = set.records();
    let mut out = Vec::new();
    for (i, text) in lines.iter().enumerate() {
        records.clear();
        let at = records.push(set.extractor(), text.as_bytes()).unwrap();
        let _ = set.on_record(0, (offset + i) as i64, &records.get(at, text.as_bytes()), EventTime(BASE));
        if (i + 1) % chunk == 0 {
            out.extend(set.on_input(EventTime(BASE)));
        }
    }
    out
}
