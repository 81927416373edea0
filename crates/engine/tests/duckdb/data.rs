//! Random multi-format readings: keys in any order, extra fields, missing and null fields,
//! three `payload.format`s with different `data` fields, an odd key name, escaped strings,
//! values of the wrong type, numbers too large to sum and too large for a double, and a few
//! messages no query can read (bad JSON, a bad event time).

/// A small deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

pub const SECOND: i64 = 1_000_000;
/// 2016-11-16T13:26:00Z.
pub const BASE: i64 = 1_479_302_760 * SECOND;

/// The lines for the engine, and those DuckDB reads (the engine rejects the others for every
/// query, as their JSON or event time is broken).
pub struct Data {
    pub engine: Vec<String>,
    pub duckdb: Vec<String>,
}

pub fn data(rng: &mut Rng, n: usize) -> Data {
    let mut data = Data { engine: Vec::new(), duckdb: Vec::new() };
    let mut t = BASE + rng.below(60) as i64 * SECOND;
    for _ in 0..n {
        t += rng.below(1_500_000) as i64;
        // Out of order by up to 2 s, within the 5 s the engine allows.
        let jittered = t - rng.below(2_000_000) as i64;
        let line = reading(rng, jittered);
        if rng.chance(1) {
            data.engine.push(line[..line.len() / 2].to_string());
        } else if rng.chance(1) {
            data.engine.push(line.replace("\"eventTime\"", "\"eventTime\":\"yesterday\",\"x\""));
        } else {
            data.engine.push(line.clone());
            data.duckdb.push(line);
        }
    }
    data
}

/// An event time as the simulator writes it (fraction only when there is one).
fn time_text(t: i64) -> String {
    iotstream_engine::EventTime(t).to_string()
}

fn reading(rng: &mut Rng, t: i64) -> String {
    let format = rng.pick(&["urn:temp", "urn:humidity", "urn:air"]);
    let mut data = match format {
        "urn:temp" => vec![("temperature", number(rng, -30.0, 110.0)), ("unit", text(rng, &["F", "C"]))],
        "urn:humidity" => vec![("humidity", number(rng, 0.0, 100.0)), ("ok", boolean(rng))],
        _ => vec![("co2-ppm", number(rng, 350.0, 2000.0)), ("level", level(rng))],
    };
    if format == "urn:air" && rng.chance(50) {
        data.push(("temperature", number(rng, -30.0, 110.0)));
    }
    let mut payload = vec![("format", format!("\"{format}\"")), ("data", object(rng, data))];
    if rng.chance(60) {
        payload.push(("battery", number(rng, 0.0, 100.0)));
    }
    let guid = rng.below(12);
    // Some guids escaped: the same value as the plain form.
    let guid = if rng.chance(10) {
        format!("\"dev-\\u003{}\"", guid % 10)
    } else {
        format!("\"dev-{}\"", guid % 10)
    };
    let mut top = vec![("guid", guid), ("state", state(rng)), ("eventTime", format!("\"{}\"", time_text(t)))];
    top.push(("payload", object(rng, payload)));
    if rng.chance(30) {
        top.push(("note", "{\"tags\":[1,\"a\",{\"b\":null}],\"x\":\"\\\"q\\\"\"}".to_string()));
    }
    object(rng, top)
}

/// An object with its members in a random order and random spacing; some members dropped.
fn object(rng: &mut Rng, mut members: Vec<(&str, String)>) -> String {
    for i in (1..members.len()).rev() {
        members.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let space = |rng: &mut Rng| if rng.chance(20) { " " } else { "" };
    let mut kept: Vec<String> = Vec::new();
    for (key, value) in members {
        if key == "eventTime" || key == "format" || !rng.chance(4) {
            kept.push(format!("{}\"{key}\"{}:{}{value}", space(rng), space(rng), space(rng)));
        }
    }
    format!("{{{}}}", kept.join(","))
}

fn number(rng: &mut Rng, low: f64, high: f64) -> String {
    match rng.below(100) {
        0..=2 => "null".into(),
        3 => "\"n/a\"".into(),
        4 => "1e20".into(),
        5 if rng.chance(30) => "1e400".into(),
        6 => "{\"v\":1}".into(),
        _ => {
            let tenths = (low * 10.0) as i64 + rng.below(((high - low) * 10.0) as u64) as i64;
            format!("{:.1}", tenths as f64 / 10.0)
        }
    }
}

fn text(rng: &mut Rng, options: &[&str]) -> String {
    if rng.chance(3) {
        return "7".into();
    }
    format!("\"{}\"", rng.pick(options))
}

fn boolean(rng: &mut Rng) -> String {
    rng.pick(&["true", "false", "true", "null", "\"yes\""]).into()
}

fn level(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => "[1]".into(),
        1 => "\"high\"".into(),
        _ => rng.below(4).to_string(),
    }
}

fn state(rng: &mut Rng) -> String {
    match rng.below(40) {
        0 => "null".into(),
        1 => "5".into(),
        2 => "{\"code\":\"CA\"}".into(),
        3 => "\"C\\u0041\"".into(),
        _ => format!("\"{}\"", rng.pick(&["CA", "NY", "TX", "WA", "Puerto Rico"])),
    }
}
