//! SQL queries over Kafka on a real broker (Tansu, as `tests/kafka.rs`): each row on
//! `--results-topic` as its jsonl line keyed by query, window and group, and a reading rejected
//! for one query alone dead-lettered with a header naming the query. Read back with an
//! independent client (Python's confluent-kafka).

#![cfg(feature = "kafka")]

mod common;

use serde_json::Value;

use common::{bin, python, run, serial, Broker};

#[test]
fn rows_go_to_the_results_topic_and_dead_letters_name_their_query() {
    let _serial = serial();
    let broker = Broker::memory();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.jsonl");
    let reading = |guid: &str, second: u32, temperature: &str| {
        format!(
            r#"{{"guid":"{guid}","destination":"d","state":"CA","eventTime":"2016-11-16T13:00:{second:02}Z","payload":{{"format":"f","data":{{"temperature":{temperature}}}}}}}"#
        )
    };
    let lines =
        [reading("a", 1, "50"), reading("b", 2, "\"hot\""), reading("a", 3, "70"), reading("c", 12, "60")];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    run(&["produce", "--kafka", &broker.address, "--topic", "q", "--input", input.to_str().unwrap()]);

    let out = bin()
        .args(["analyze", "--kafka", &broker.address, "--topic", "q", "--once", "--format", "jsonl"])
        .args(["--results-topic", "q-results", "--dead-letter-topic", "q-dlq"])
        .args(["--query", "t=SELECT guid, max(payload.data.temperature) AS t FROM readings GROUP BY tumble(interval '10 seconds'), guid"])
        .args(["--query", "n=SELECT count(*) AS n FROM readings GROUP BY tumble(interval '10 seconds')"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"query\":"))
        .map(str::to_owned)
        .collect();
    // t: a and c (b was rejected for t alone); n: both windows, b counted.
    assert_eq!(printed.len(), 4, "{printed:?}");

    let published = python("consume.py", &[&broker.address, "q-results"]);
    let mut published: Vec<(String, String)> = String::from_utf8(published.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["key"].as_str().unwrap().to_owned(), v["value"].as_str().unwrap().to_owned())
        })
        .collect();
    published.sort();
    let mut expected: Vec<(String, String)> = printed
        .iter()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            let group = match row.get("guid") {
                Some(guid) => format!("[{guid}]"),
                None => "[]".to_owned(),
            };
            let key = format!(
                "{}/{}/{}/{group}",
                row["query"].as_str().unwrap(),
                row["window_start"].as_str().unwrap(),
                row["window_end"].as_str().unwrap()
            );
            (key, line.clone())
        })
        .collect();
    expected.sort();
    assert_eq!(published, expected);

    let dead = python("consume.py", &[&broker.address, "q-dlq"]);
    let dead: Vec<Value> =
        String::from_utf8(dead.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["headers"]["iotstream.query"], "t");
    assert_eq!(dead[0]["headers"]["iotstream.reason"], "wrong_type");
    assert_eq!(dead[0]["value"], lines[1].as_str());
}
