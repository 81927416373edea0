//! Simulator tests: determinism, the seed's byte format, and the seed's model.

use std::collections::HashMap;

use iotstream_engine::{EventTime, Parser};

use super::*;

const FIXTURE_LINE: &str = r#"{"guid":"0-ZZZ12345678-78I","destination":"0-AAA12345678","state":"MT", "eventTime":"2026-11-27T19:43:20.413192Z", "payload":{"format":"urn:example:sensor:temp", "data":{"temperature":47.5}}}"#;

fn simulated(seed: u64, sensors: u32, count: u64) -> Vec<u8> {
    let config = SimulatorConfig {
        seed: Some(seed),
        sensors,
        profile: Profile::Seed,
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

/// Blanks out the values of a line, keeping every other byte: the line's "shape".
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_value = false;
    let mut after_colon = false;
    for c in line.chars() {
        if in_value {
            if c == '"' || c == '}' {
                in_value = false;
                out.push(c);
            }
            continue;
        }
        out.push(c);
        if after_colon && c != '{' {
            in_value = c == '"' || c.is_ascii_digit() || c == '-';
            if in_value && c != '"' {
                out.pop();
                out.push('#');
            }
        }
        after_colon = c == ':';
    }
    out
}

#[test]
fn same_seed_same_bytes() {
    assert_eq!(simulated(7, SEED_FLEET_SIZE, 2000), simulated(7, SEED_FLEET_SIZE, 2000));
    assert_ne!(simulated(7, SEED_FLEET_SIZE, 2000), simulated(8, SEED_FLEET_SIZE, 2000));
}

#[test]
fn lines_have_the_seeds_exact_shape() {
    let out = String::from_utf8(simulated(1, SEED_FLEET_SIZE, 3000)).unwrap();
    let expected = shape(FIXTURE_LINE);
    for line in out.lines() {
        assert_eq!(shape(line), expected, "{line}");
    }
    assert!(out.ends_with("}}}\n"));
    // The simulated clock: 1 ms apart, the first on a whole second, printed as isoformat does.
    let mut lines = out.lines();
    assert!(lines.next().unwrap().contains(r#""eventTime":"2016-11-16T13:26:39Z""#));
    assert!(lines.next().unwrap().contains(r#""eventTime":"2016-11-16T13:26:39.001000Z""#));
}

#[test]
fn follows_the_seeds_model() {
    let out = simulated(3, SEED_FLEET_SIZE, 20_000);
    let parser = Parser::default();
    let mut seen: HashMap<String, (iotstream_engine::StateCode, f64)> = HashMap::new();
    for line in iotstream_engine::lines::lines(&out) {
        let reading = parser.parse(line).expect("simulated lines are valid readings");
        let guid = reading.guid.to_string();
        let suffix = guid.strip_prefix("0-ZZZ12345678-").expect("seed guid scheme");
        let [d1, d2, letter] = suffix.as_bytes() else { panic!("{guid}") };
        assert!((b'0'..=b'8').contains(d1) && (b'0'..=b'8').contains(d2) && letter.is_ascii_uppercase());
        if let Some((state, previous)) = seen.get(&guid) {
            assert_eq!(*state, reading.state, "a sensor keeps its first state");
            // One step of at most 1.0, plus the rounding of both printed values.
            assert!((reading.temperature - previous).abs() <= 1.1 + 1e-9);
        }
        seen.insert(guid, (reading.state, reading.temperature));
    }
    assert!(seen.len() > 2000 && seen.len() <= SEED_FLEET_SIZE as usize);
}

/// The seed's table exactly as `iotsimulator.py` writes it, kept apart from fleet.rs so that a
/// misordered entry there is caught here.
const SEED_BASE_TEMPERATURES: &str =
    "'WA': 48.3, 'DE': 55.3, 'DC': 58.5, 'WI': 43.1, 'WV': 51.8, 'HI': 70.0, \
    'FL': 70.7, 'WY': 42.0, 'NH': 43.8, 'NJ': 52.7, 'NM': 53.4, 'TX': 64.8, 'LA': 66.4, 'NC': 59.0, \
    'ND': 40.4, 'NE': 48.8, 'TN': 57.6, 'NY': 45.4, 'PA': 48.8, 'CA': 59.4, 'NV': 49.9, 'VA': 55.1, \
    'CO': 45.1, 'AK': 26.6, 'AL': 62.8, 'AR': 60.4, 'VT': 42.9, 'IL': 51.8, 'GA': 63.5, 'IN': 51.7, \
    'IA': 47.8, 'OK': 59.6, 'AZ': 60.3, 'ID': 44.4, 'CT': 49.0, 'ME': 41.0, 'MD': 54.2, 'MA': 47.9, \
    'OH': 50.7, 'UT': 48.6, 'MO': 54.5, 'MN': 41.2, 'MI': 44.4, 'RI': 50.1, 'KS': 54.3, 'MT': 42.7, \
    'MS': 63.4, 'SC': 62.4, 'KY': 55.6, 'OR': 48.4, 'SD': 45.2";

#[test]
fn a_sensor_starts_within_five_degrees_of_its_states_average_plus_one_step() {
    let base: HashMap<&str, f64> = SEED_BASE_TEMPERATURES
        .split(',')
        .map(|pair| {
            let (code, t) = pair.split_once(':').unwrap();
            (code.trim().trim_matches('\''), t.trim().parse().unwrap())
        })
        .collect();
    assert_eq!(base.len(), 51);
    let out = simulated(11, SEED_FLEET_SIZE, 3000);
    let mut first_seen = std::collections::HashSet::new();
    let mut states_seen = std::collections::HashSet::new();
    for line in iotstream_engine::lines::lines(&out) {
        let reading = Parser::default().parse(line).unwrap();
        states_seen.insert(reading.state);
        if first_seen.insert(reading.sensor) {
            let expected = base[reading.state.as_str()];
            assert!((reading.temperature - expected).abs() <= 6.05, "{}", String::from_utf8_lossy(line));
        }
    }
    assert_eq!(states_seen.len(), 51, "every state is used");
}

#[test]
fn large_fleets_keep_a_recognisable_guid() {
    let mut guid = Vec::new();
    fleet::write_guid(&mut guid, 0);
    assert_eq!(guid, b"0-ZZZ12345678-00A");
    guid.clear();
    fleet::write_guid(&mut guid, SEED_FLEET_SIZE - 1);
    assert_eq!(guid, b"0-ZZZ12345678-88Z");
    guid.clear();
    fleet::write_guid(&mut guid, 999_999);
    assert_eq!(guid, b"0-ZZZ12346152-74N");
    let out = simulated(5, 1_000_000, 50_000);
    let distinct: std::collections::HashSet<_> =
        iotstream_engine::lines::lines(&out).map(|l| Parser::default().parse(l).unwrap().sensor).collect();
    assert!(distinct.len() > 45_000, "{}", distinct.len());
}

#[test]
fn disorder_reorders_the_same_readings_within_the_bound() {
    let start = EventTime::parse_rfc3339(b"2016-11-16T13:26:39Z").unwrap();
    let config = |disorder| SimulatorConfig {
        seed: Some(21),
        sensors: SEED_FLEET_SIZE,
        profile: Profile::Seed,
        clock: Clock::Simulated { start, interval_micros: 10_000 },
        disorder,
        count: Some(5000),
    };
    let make = |c: SimulatorConfig| {
        let mut out = Vec::new();
        Simulator::new(&c).fill(&mut out, 5000);
        out
    };
    let ordered = make(config(None));
    let bound = 2_000_000;
    let shuffled = make(config(Some(DisorderConfig { bound_micros: bound, late_ratio: 0.0 })));
    assert_ne!(ordered, shuffled);
    let mut a: Vec<&[u8]> = iotstream_engine::lines::lines(&ordered).collect();
    let mut b: Vec<&[u8]> = iotstream_engine::lines::lines(&shuffled).collect();
    // Never overtaken by a reading more than the bound younger.
    let parser = Parser::default();
    let mut latest = i64::MIN;
    for line in &b {
        let t = parser.parse(line).unwrap().event_time.as_micros();
        assert!(t > latest.saturating_sub(bound), "displaced beyond the bound");
        latest = latest.max(t);
    }
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same readings");
    let late = make(config(Some(DisorderConfig { bound_micros: bound, late_ratio: 0.05 })));
    let mut latest = i64::MIN;
    let mut beyond = 0;
    for line in iotstream_engine::lines::lines(&late) {
        let t = parser.parse(line).unwrap().event_time.as_micros();
        beyond += usize::from(t <= latest.saturating_sub(bound));
        latest = latest.max(t);
    }
    assert!((100..=400).contains(&beyond), "about 5% delayed beyond the bound: {beyond}");
}

/// The seed profile's bytes, pinned: the `climate` profile and any later one must leave them as
/// they are (checked against the build before profiles existed with `cmp`).
#[test]
fn the_seed_profile_is_unchanged_byte_for_byte() {
    let out = simulated(42, SEED_FLEET_SIZE, 20_000);
    assert_eq!(out.len(), SEED_PROFILE_20K_BYTES, "length");
    assert_eq!(xxhash_rust::xxh3::xxh3_64(&out), SEED_PROFILE_20K_XXH3, "digest");
}

const SEED_PROFILE_20K_BYTES: usize = 3_839_860;
const SEED_PROFILE_20K_XXH3: u64 = 6_304_864_910_462_657_392;

#[path = "climate_tests.rs"]
mod climate_tests;
