//! The checker: what the engine wrote against both oracles, the dead letters against the poison's
//! positions in the topic, and the positions runs resumed from against the input. Each check
//! returns what is wrong, if anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use iotstream_engine::WindowResult;
use serde_json::Value;

use crate::common::{agrees_with_python, python, Broker};
use crate::input::{Expected, Input};
use crate::scenario::{DEAD_LETTERS, TOPIC};

/// The checks' verdicts a mutant can be caught by (`must_catch` and `scripts/faults --mutants`
/// name the one each mutant must fail): words of the failure they begin.
pub mod reasons {
    /// A window twice in one result file.
    pub const TWICE: &str = "appears twice in";
    /// A final window with fewer readings than the uninterrupted run's: readings lost.
    pub const FEWER: &str = "counts fewer readings than the uninterrupted run's";
    /// A final window with more readings than the uninterrupted run's: readings counted twice.
    pub const MORE: &str = "counts more readings than the uninterrupted run's";
    /// A poison message with no dead letter.
    pub const LETTER_MISSING: &str = "no dead letter for";
}

/// A window record of a result file.
pub struct Window {
    /// Its JSON without `partitions` (which a Kafka run has and a file run has not).
    pub raw: String,
    pub result: WindowResult,
}

impl Window {
    fn start(&self) -> i64 {
        self.result.window_start.as_micros()
    }
}

/// Every window record (final or not) of a JSON-lines result file, in file order; an error if
/// any line is not a whole JSON record (a torn or garbled line), but for a torn last line if
/// `torn_tail` allows it.
pub fn windows(path: &Path, torn_tail: bool) -> Result<Vec<Window>, String> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        if !torn_tail {
            return Err(format!("{} ends in a torn line", path.display()));
        }
        text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    }
    let mut windows = Vec::new();
    for (number, line) in (1..).zip(text.lines()) {
        let record =
            parse(line).ok_or_else(|| format!("line {number} of {} is not a record", path.display()))?;
        windows.extend(record);
    }
    Ok(windows)
}

/// One line: `None` if it is not a JSON object, else the window it is, if it is one.
fn parse(line: &str) -> Option<Option<Window>> {
    let mut value: Value = serde_json::from_str(line).ok()?;
    let record = value.as_object_mut()?;
    if record.get("type").and_then(Value::as_str) != Some("window") {
        return Some(None);
    }
    record.remove("partitions");
    let raw = value.to_string();
    let result = serde_json::from_value(value).ok()?;
    Some(Some(Window { raw, result }))
}

/// The result files' windows against the oracles: with a state directory, exactly once;
/// without, at least once (a crash repeats windows, but never changes one).
pub fn results(outputs: &[PathBuf], state: bool, expected: &Expected) -> Result<(), String> {
    // Without a state directory nothing cuts back what a killed run was writing: its file may
    // end in a torn line (with one, the resumed run cuts it back, and the file must be whole).
    let files: Vec<(&PathBuf, Vec<Window>)> =
        outputs.iter().map(|p| windows(p, !state).map(|ws| (p, ws))).collect::<Result<_, _>>()?;
    for (path, windows) in &files {
        no_window_twice(path, windows)?;
    }
    let finals: Vec<&Window> = files.iter().flat_map(|(_, ws)| ws).filter(|w| w.result.is_final).collect();
    for window in &finals {
        equals_oracles(window, expected)?;
    }
    let seen: BTreeSet<i64> = finals.iter().map(|w| w.start()).collect();
    if let Some(missing) = expected.binary.keys().find(|start| !seen.contains(start)) {
        return Err(format!(
            "window {missing} was never emitted final ({} of {})",
            seen.len(),
            expected.binary.len()
        ));
    }
    if state && finals.len() != seen.len() {
        return Err(format!("{} final windows for {} windows", finals.len(), seen.len()));
    }
    if expected.python.len() != expected.binary.len() {
        return Err(format!(
            "the oracles disagree: {} windows and {}",
            expected.binary.len(),
            expected.python.len()
        ));
    }
    Ok(())
}

/// No window appears twice in one file, whether the copies are identical or not: a resumed run
/// cuts the file back to its checkpoint, and a run without one starts its file afresh.
fn no_window_twice(path: &Path, windows: &[Window]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    match windows.iter().find(|w| !seen.insert(w.start())) {
        Some(twice) => {
            Err(format!("window {} {} {}", twice.result.window_start, reasons::TWICE, path.display()))
        }
        None => Ok(()),
    }
}

/// A final window is the uninterrupted run's, byte for byte, and the Python oracle's.
fn equals_oracles(window: &Window, expected: &Expected) -> Result<(), String> {
    let at = window.result.window_start;
    let Some(raw) = expected.binary.get(&window.start()) else {
        return Err(format!("window {at} is not in the oracle"));
    };
    if raw != &window.raw {
        let messages =
            |raw: &str| serde_json::from_str::<Value>(raw).ok().and_then(|v| v["messages"].as_u64());
        let (got, want) = (messages(&window.raw), messages(raw));
        let verdict = match got.cmp(&want) {
            std::cmp::Ordering::Less => reasons::FEWER,
            std::cmp::Ordering::Greater => reasons::MORE,
            std::cmp::Ordering::Equal => "differs from the uninterrupted run's",
        };
        return Err(format!("window {at} {verdict}: {got:?} readings, the oracle has {want:?}"));
    }
    match expected.python.get(&window.start()) {
        Some(python) => agrees_with_python(&window.result, python),
        None => Err(format!("window {at} is not in the Python oracle")),
    }
}

/// A dead letter, or the message it is about: where it was read, and why it was rejected.
type Origin = (i32, i64, String);

/// The dead-letter topic holds a letter for every poison message in the topic read, by
/// partition and offset, with its reason, the message's exact bytes cut to the dead-letter cap
/// (`--dead-letter-max-bytes`, the default here) and `iotstream.truncated` saying whether they were
/// cut (repeats allowed after a crash: at least once), and nothing else.
pub fn dead_letters(broker: &Broker, input: &Input) -> Result<(), String> {
    let reasons: HashMap<String, &str> =
        input.poison.iter().map(|(bytes, reason)| (hex(bytes), *reason)).collect();
    let mut expected: BTreeMap<Origin, (String, &str)> = BTreeMap::new();
    for message in consume(broker, TOPIC) {
        let value = text(&message["value_hex"]);
        if let Some(reason) = reasons.get(&value) {
            let origin = (int(&message["partition"]), int(&message["offset"]), reason.to_string());
            let cut = value.len() > 2 * DEAD_LETTER_CAP;
            let kept = value[..value.len().min(2 * DEAD_LETTER_CAP)].to_owned();
            expected.insert(origin, (kept, if cut { "true" } else { "false" }));
        }
    }
    assert_eq!(expected.len(), input.injected, "the topic holds each poison message once");
    let mut got: BTreeSet<Origin> = BTreeSet::new();
    let mut letters = 0;
    for letter in consume(broker, DEAD_LETTERS) {
        let header = |name: &str| text(&letter["headers"][name]);
        let origin = (
            header("iotstream.source.partition").parse().unwrap_or(-1),
            header("iotstream.source.offset").parse().unwrap_or(-1),
            header("iotstream.reason"),
        );
        if let Some((bytes, cut)) = expected.get(&origin) {
            if *bytes != text(&letter["value_hex"]) {
                return Err(format!("the dead letter of {origin:?} does not carry the message's bytes"));
            }
            if *cut != header("iotstream.truncated") {
                return Err(format!(
                    "the dead letter of {origin:?} says truncated={}",
                    header("iotstream.truncated")
                ));
            }
        }
        got.insert(origin);
        letters += 1;
    }
    let missing: Vec<&Origin> = expected.keys().filter(|o| !got.contains(o)).collect();
    let unexpected: Vec<&Origin> = got.iter().filter(|o| !expected.contains_key(o)).collect();
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    let verdict = if missing.is_empty() { "unexpected dead letters" } else { reasons::LETTER_MISSING };
    Err(format!(
        "{verdict}: {letters} dead letters for {} poison messages; missing (partition, offset, \
         reason) {missing:?}, unexpected {unexpected:?}",
        expected.len()
    ))
}

/// The dead-letter cap of the scenarios' runs: `--dead-letter-max-bytes`' default.
const DEAD_LETTER_CAP: usize = iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;

/// `bytes` in lower-case hex, as the Python client prints a message's value (`value_hex`).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every message of `topic`, read by the independent Python client.
fn consume(broker: &Broker, topic: &str) -> Vec<Value> {
    let out = python("consume.py", &[&broker.address, topic]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("consume.py output"))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn int<T: TryFrom<i64> + Default>(value: &Value) -> T {
    value.as_i64().and_then(|v| T::try_from(v).ok()).unwrap_or_default()
}

/// The input position (messages, all partitions) a run logged it resumed from: the sum of its
/// `positions={P: OFFSET, ...}`.
pub fn resumed_from(log: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("resumed from checkpoint"))?;
    let positions = line.split("positions={").nth(1)?.split('}').next()?;
    Some(positions.split(", ").filter_map(|p| p.split(": ").nth(1)?.parse::<u64>().ok()).sum())
}

/// The faults that provably interrupted work: the next run started strictly inside the input
/// (some, not all, of it processed) and beyond where the previous run started (the run that
/// was interrupted had got on with it).
pub fn interrupted_work(resumed: &[Option<u64>], lines: u64) -> usize {
    let mut previous = 0;
    let mut counted = 0;
    for position in resumed.iter().flatten().copied() {
        if previous < position && position < lines {
            counted += 1;
        }
        previous = previous.max(position);
    }
    counted
}
