//! Event-time windows of a result file, and the independent Python oracle's windows they must
//! equal (`tests/oracle/windows.py`).

use std::collections::BTreeMap;
use std::path::Path;

use iotstream_engine::WindowResult;
use serde_json::Value;

/// The final windows of a result file, by start: the record (without its partitions, which name
/// the input) and its parsed form. Panics if a window appears twice.
pub fn final_windows(path: &Path) -> BTreeMap<i64, (String, WindowResult)> {
    let mut windows = BTreeMap::new();
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    // Whole lines only: the engine may be writing the next one.
    text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    for line in text.lines() {
        let mut value: Value = serde_json::from_str(line).expect("whole JSON lines");
        if value["type"] != "window" || value["final"] != true {
            continue;
        }
        value.as_object_mut().unwrap().remove("partitions");
        let result: WindowResult = serde_json::from_value(value.clone()).unwrap();
        let start = result.window_start.as_micros();
        assert!(
            windows.insert(start, (value.to_string(), result)).is_none(),
            "window {start} twice in {path:?}"
        );
    }
    windows
}

/// The oracle's windows of `seconds` that event time closes once `readings` are all in (the last
/// reading's event time minus `max_delay_micros` is past their end).
pub fn closed_oracle_windows(readings: &Path, seconds: u64, max_delay_micros: i64) -> Vec<Value> {
    let text = std::fs::read_to_string(readings).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let last = iotstream_engine::EventTime::parse_rfc3339(last["eventTime"].as_str().unwrap().as_bytes())
        .unwrap()
        .as_micros();
    let watermark = last - max_delay_micros;
    super::python_oracle(readings, seconds)
        .into_iter()
        .filter(|w| w["window_end"].as_i64().unwrap() <= watermark)
        .collect()
}

/// Every window of `expected` (the oracle's) is in `output`, once, and agrees with it.
pub fn assert_equal_to_oracle(output: &Path, expected: &[Value]) {
    let ours = final_windows(output);
    for theirs in expected {
        let start = theirs["window_start"].as_i64().unwrap();
        let (_, window) =
            ours.get(&start).unwrap_or_else(|| panic!("window {start} missing from {output:?}"));
        super::agrees_with_python(window, theirs).unwrap();
    }
}
