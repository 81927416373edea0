//! The `climate` profile: reproducible, in the seed's envelope, each sensor keeping its state and
//! format, measurements walking in small steps, the odd field missing or null.

use std::collections::HashMap;

use iotstream_engine::EventTime;
use serde_json::Value;

use super::super::*;

fn climate(seed: u64, sensors: u32, count: u64) -> Vec<u8> {
    let config = SimulatorConfig {
        seed: Some(seed),
        sensors,
        profile: Profile::Climate,
        clock: Clock::Simulated {
            start: EventTime::parse_rfc3339(b"2016-11-16T13:26:39Z").unwrap(),
            interval_micros: 1_000,
        },
        disorder: None,
        count: Some(count),
    };
    let mut out = Vec::new();
    Simulator::new(&config).fill(&mut out, count);
    out
}

/// Each line as JSON, checked to have the seed's envelope.
fn readings(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).unwrap();
    text.lines()
        .map(|line| {
            assert!(line.starts_with(r#"{"guid":"0-ZZZ12345678-"#), "{line}");
            assert!(line.contains(r#"","destination":"0-AAA12345678","state":""#), "{line}");
            assert!(line.contains(r#"", "payload":{"format":"urn:example:sensor:"#), "{line}");
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_and_another_fleet_than_the_seeds() {
    assert_eq!(climate(7, SEED_FLEET_SIZE, 3000), climate(7, SEED_FLEET_SIZE, 3000));
    assert_ne!(climate(7, SEED_FLEET_SIZE, 3000), climate(8, SEED_FLEET_SIZE, 3000));
    assert_ne!(climate(7, SEED_FLEET_SIZE, 3000), super::simulated(7, SEED_FLEET_SIZE, 3000));
}

/// What a format must carry under `payload.data` (missing or null ones aside).
fn fields_of(format: &str) -> &'static [&'static str] {
    match format {
        "urn:example:sensor:temp" => &["temperature"],
        "urn:example:sensor:humidity" => &["humidity"],
        "urn:example:sensor:climate" => &["temperature", "humidity", "pressure", "battery"],
        other => panic!("unknown format {other}"),
    }
}

/// Largest change between two readings of one sensor, plus the rounding of both printed values.
fn max_step(field: &str) -> f64 {
    match field {
        "temperature" => 1.1,
        "humidity" => 1.6,
        "pressure" => 0.6,
        _ => 1.0,
    }
}

#[derive(Default)]
struct Tally {
    formats: HashMap<String, usize>,
    climate: usize,
    missing: usize,
    null: usize,
    low_battery: usize,
}

#[test]
fn sensors_keep_state_and_format_and_walk_in_small_steps() {
    let mut last: HashMap<String, (Value, Value, HashMap<String, f64>)> = HashMap::new();
    let mut tally = Tally::default();
    for reading in readings(&climate(3, 500, 60_000)) {
        let guid = reading["guid"].as_str().unwrap().to_owned();
        let format = reading["payload"]["format"].as_str().unwrap().to_owned();
        let data = reading["payload"]["data"].as_object().unwrap();
        let expected = fields_of(&format);
        assert!(data.keys().all(|k| expected.contains(&k.as_str())), "{reading}");
        *tally.formats.entry(format.clone()).or_default() += 1;
        if format.ends_with("climate") {
            tally.climate += 1;
            tally.missing += usize::from(data.len() < 4);
            tally.null += data.values().filter(|v| v.is_null()).count();
            tally.low_battery +=
                usize::from(data.get("battery").and_then(Value::as_f64).is_some_and(|b| b < 20.0));
        } else {
            assert_eq!(data.len(), 1, "single-measurement sensors never leave it out: {reading}");
        }
        let values: HashMap<String, f64> =
            data.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect();
        if let Some((state, was_format, previous)) = last.get(&guid) {
            assert_eq!(state, &reading["state"], "a sensor keeps its state");
            assert_eq!(was_format, &reading["payload"]["format"], "a sensor keeps its format");
            for (field, value) in &values {
                let Some(before) = previous.get(field) else { continue };
                assert!((value - before).abs() <= max_step(field) + 1e-9, "{field}: {before} → {value}");
                if field == "battery" {
                    assert!(value <= before, "batteries only drain");
                }
            }
        }
        // Only the previous reading's values: a field it left out has moved more than one step.
        last.insert(guid, (reading["state"].clone(), reading["payload"]["format"].clone(), values));
    }
    check_mix(&tally);
}

fn check_mix(tally: &Tally) {
    let share = |f: &str| tally.formats[f] as f64 / 60_000.0;
    assert!((0.3..0.5).contains(&share("urn:example:sensor:temp")), "{:?}", tally.formats);
    assert!((0.2..0.4).contains(&share("urn:example:sensor:humidity")), "{:?}", tally.formats);
    assert!((0.2..0.4).contains(&share("urn:example:sensor:climate")), "{:?}", tally.formats);
    let ratio = |n: usize| n as f64 / tally.climate as f64;
    assert!((0.01..0.03).contains(&ratio(tally.missing)), "missing {}", tally.missing);
    assert!((0.005..0.02).contains(&ratio(tally.null)), "null {}", tally.null);
    assert!(tally.low_battery > 0, "some batteries run low");
}

#[test]
fn measurements_are_plausible_and_written_as_devices_do() {
    let out = climate(5, SEED_FLEET_SIZE, 20_000);
    let text = String::from_utf8(out.clone()).unwrap();
    for reading in readings(&out) {
        let data = &reading["payload"]["data"];
        if let Some(h) = data["humidity"].as_f64() {
            assert!((0.0..=100.0).contains(&h), "{reading}");
        }
        if let Some(b) = data.get("battery").filter(|b| !b.is_null()) {
            assert!(b.is_u64() && b.as_u64().unwrap() <= 100, "a whole percentage: {reading}");
        }
        if let Some(p) = data["pressure"].as_f64() {
            assert!((900.0..1100.0).contains(&p), "{reading}");
        }
    }
    assert!(text.contains(r#""data":{"temperature":"#) && text.contains(r#", "humidity":"#), "loose spacing");
    assert!(text.contains(r#":null"#), "null fields are written as null");
}
