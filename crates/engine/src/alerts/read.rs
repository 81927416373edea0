//! Reading a rules file: it is walked key by key with the spans `toml` keeps, rather than
//! deserialised in one go, so that every problem in it is reported at once, each with its line: a
//! rules file with three mistakes is fixed in one edit, not three runs.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::rules::{
    metric_text, op_text, Anomaly, Flap, Kind, Metric, Op, Problem, Rule, RulesError, Scope, Threshold,
    METRICS,
};
use crate::reading::StateCode;

/// Reads and checks a rules file, reporting every problem at once.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RulesError> {
    let mut file = Reader { text, problems: Vec::new(), ids: Vec::new() };
    let rules = file.rules();
    match file.problems.is_empty() {
        true => Ok(rules),
        false => {
            file.problems.sort_by_key(|p| p.line);
            Err(RulesError(file.problems))
        }
    }
}

/// The file being read, and what is wrong with it so far.
struct Reader<'t> {
    text: &'t str,
    problems: Vec<Problem>,
    /// Every rule's id and header line, valid or not (for duplicates).
    ids: Vec<(String, usize)>,
}

type Entries<'i> = Vec<(Spanned<Cow<'i, str>>, Spanned<DeValue<'i>>)>;

impl<'t> Reader<'t> {
    fn line(&self, offset: usize) -> usize {
        self.text.get(..offset).map_or(0, |before| before.bytes().filter(|&b| b == b'\n').count() + 1)
    }

    fn problem(&mut self, offset: usize, message: impl Into<String>) {
        let line = self.line(offset);
        self.problems.push(Problem { line, message: message.into() });
    }

    fn rules(&mut self) -> Vec<Rule> {
        let (root, errors) = DeTable::parse_recoverable(self.text);
        for error in errors {
            let offset = error.span().map_or(0, |s| s.start);
            self.problem(offset, error.message().to_owned());
        }
        let mut rules: Vec<Rule> = Vec::new();
        for (key, value) in root.into_inner() {
            match (key.get_ref().as_ref(), value.get_ref()) {
                ("alert", DeValue::Array(tables)) => {
                    for table in tables {
                        let start = table.span().start;
                        match table.get_ref() {
                            DeValue::Table(t) => {
                                let entries: Entries<'_> = t.clone().into_iter().collect();
                                if let Some(rule) = self.rule(start, entries) {
                                    rules.push(rule);
                                }
                            }
                            _ => self.problem(start, "`alert` must be a list of tables: [[alert]]"),
                        }
                    }
                }
                ("alert", _) => self.problem(key.span().start, "`alert` must be a list of tables: [[alert]]"),
                (other, _) => self.problem(
                    key.span().start,
                    format!("unknown key `{other}` (rules go in [[alert]] tables)"),
                ),
            }
        }
        self.unique();
        rules
    }

    fn unique(&mut self) {
        for (i, (id, line)) in self.ids.iter().enumerate() {
            if let Some((_, first)) = self.ids[..i].iter().find(|(other, _)| other == id) {
                let message = format!("rule id `{id}` is used twice (first on line {first})");
                self.problems.push(Problem { line: *line, message });
            }
        }
    }

    /// One `[[alert]]` table, or `None` (with its problems recorded) if it is wrong.
    fn rule(&mut self, start: usize, entries: Entries<'_>) -> Option<Rule> {
        let header = self.line(start);
        let before = self.problems.len();
        let mut fields = Fields::default();
        for (key, value) in entries {
            let line = self.line(key.span().start);
            let name = key.get_ref().to_string();
            match Value::from_de(value.get_ref()) {
                Some(v) => fields.0.push(Field { name, line, value: v, used: false }),
                None => self.problems.push(Problem { line, message: format!("`{name}`: unsupported value") }),
            }
        }
        let mut check = RuleCheck { reader: self, fields: &mut fields, header };
        let rule = check.build();
        check.unknown_fields();
        (self.problems.len() == before).then_some(rule).flatten()
    }
}

/// A value as rules use them.
#[derive(Clone, Debug)]
enum Value {
    Text(String),
    Number(f64),
    Integer(i64),
    Bool,
    List(Vec<Value>),
}

impl Value {
    fn from_de(value: &DeValue<'_>) -> Option<Value> {
        Some(match value {
            DeValue::String(s) => Value::Text(s.to_string()),
            DeValue::Integer(i) => {
                Value::Integer(i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()?)
            }
            DeValue::Float(f) => Value::Number(f.as_str().replace('_', "").parse().ok()?),
            DeValue::Boolean(_) => Value::Bool,
            DeValue::Array(items) => {
                Value::List(items.iter().map(|v| Value::from_de(v.get_ref())).collect::<Option<_>>()?)
            }
            DeValue::Datetime(_) | DeValue::Table(_) => return None,
        })
    }

    fn describe(&self) -> &'static str {
        match self {
            Value::Text(_) => "a string",
            Value::Number(_) => "a number",
            Value::Integer(_) => "an integer",
            Value::Bool => "a boolean",
            Value::List(_) => "a list",
        }
    }
}

struct Field {
    name: String,
    line: usize,
    value: Value,
    used: bool,
}

#[derive(Default)]
struct Fields(Vec<Field>);

/// Builds one rule from its fields, recording every problem.
struct RuleCheck<'r, 't> {
    reader: &'r mut Reader<'t>,
    fields: &'r mut Fields,
    header: usize,
}

const KINDS: &str = "threshold, offline, anomaly or source_idle";

impl RuleCheck<'_, '_> {
    fn bad(&mut self, line: usize, message: String) {
        self.reader.problems.push(Problem { line, message });
    }

    /// The field `name`, marked as used.
    fn take(&mut self, name: &str) -> Option<(usize, Value)> {
        let field = self.fields.0.iter_mut().find(|f| f.name == name)?;
        field.used = true;
        Some((field.line, field.value.clone()))
    }

    fn text(&mut self, name: &str) -> Option<(usize, String)> {
        match self.take(name)? {
            (line, Value::Text(s)) => Some((line, s)),
            (line, other) => {
                self.bad(line, format!("`{name}` must be a string, not {}", other.describe()));
                None
            }
        }
    }

    fn number(&mut self, name: &str) -> Option<(usize, f64)> {
        match self.take(name)? {
            (line, Value::Number(n)) if n.is_finite() => Some((line, n)),
            (line, Value::Integer(i)) => Some((line, i as f64)),
            (line, other) => {
                self.bad(line, format!("`{name}` must be a finite number, not {}", other.describe()));
                None
            }
        }
    }

    fn count(&mut self, name: &str, min: u32) -> Option<u32> {
        match self.take(name)? {
            (line, Value::Integer(i)) => match u32::try_from(i) {
                Ok(n) if n >= min => Some(n),
                _ => {
                    self.bad(line, format!("`{name}` must be a whole number of at least {min}"));
                    None
                }
            },
            (line, other) => {
                self.bad(line, format!("`{name}` must be a whole number, not {}", other.describe()));
                None
            }
        }
    }

    fn duration(&mut self, name: &str) -> Option<i64> {
        let (line, text) = self.text(name)?;
        match parse_duration(&text) {
            Some(micros) => Some(micros),
            None => {
                self.bad(
                    line,
                    format!("`{name}` = \"{text}\" is not a duration like 500ms, 30s, 5m, 1h or 1d"),
                );
                None
            }
        }
    }

    fn required_duration(&mut self, name: &str, kind: &str) -> Option<i64> {
        let value = self.duration(name);
        self.required(value, name, kind)
    }

    fn required_number(&mut self, name: &str, kind: &str) -> Option<(usize, f64)> {
        let value = self.number(name);
        self.required(value, name, kind)
    }

    fn required<T>(&mut self, value: Option<T>, name: &str, kind: &str) -> Option<T> {
        if value.is_none() && !self.fields.0.iter().any(|f| f.name == name) {
            let header = self.header;
            self.bad(header, format!("a {kind} rule needs `{name}`"));
        }
        value
    }

    fn build(&mut self) -> Option<Rule> {
        let header = self.header;
        let id = self.text("id");
        if let Some((_, id)) = &id {
            self.reader.ids.push((id.clone(), header));
        }
        if id.is_none() && !self.fields.0.iter().any(|f| f.name == "id") {
            self.bad(header, "every [[alert]] needs an `id`".into());
        }
        if let Some((line, id)) = &id {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                self.bad(*line, format!("`id` = \"{id}\": use letters, digits, `_`, `-` and `.`"));
            }
        }
        let kind_name = self.text("kind");
        if kind_name.is_none() && !self.fields.0.iter().any(|f| f.name == "kind") {
            self.bad(header, format!("every [[alert]] needs a `kind` ({KINDS})"));
        }
        let kind = match &kind_name {
            Some((_, k)) if k == "threshold" => self.threshold(),
            Some((_, k)) if k == "offline" => {
                self.required_duration("after", "offline").map(|after| Kind::Offline { after })
            }
            Some((_, k)) if k == "anomaly" => self.anomaly(),
            Some((_, k)) if k == "source_idle" => {
                self.required_duration("after", "source_idle").map(|after| Kind::SourceIdle { after })
            }
            Some((line, other)) => {
                let line = *line;
                self.bad(line, format!("`kind` = \"{other}\" is not one of {KINDS}"));
                None
            }
            None => None,
        };
        let common = self.common(kind.as_ref());
        let (id, kind, (severity, states, for_count, keep_firing_for, repeat, flap)) = (id?, kind?, common?);
        Some(Rule {
            id: id.1,
            kind,
            severity,
            states,
            for_count,
            keep_firing_for,
            repeat,
            flap,
            line: header,
        })
    }

    #[allow(clippy::type_complexity)]
    fn common(
        &mut self,
        kind: Option<&Kind>,
    ) -> Option<(String, Option<u64>, u32, i64, Option<i64>, Option<Flap>)> {
        let severity = self.text("severity").map_or_else(|| "warning".to_owned(), |(_, s)| s);
        let states = self.states(kind);
        let for_line = self.fields.0.iter().find(|f| f.name == "for").map(|f| f.line);
        let for_count = self.count("for", 1).unwrap_or(1);
        if let (Some(line), Some(Kind::Offline { .. } | Kind::SourceIdle { .. })) = (for_line, kind) {
            self.bad(
                line,
                "`for` counts windows or readings: offline and source_idle rules have `after` instead".into(),
            );
        }
        let keep_firing_for = self.duration("keep_firing_for").unwrap_or(0);
        let repeat = self.duration("repeat");
        let flap = self.flap();
        Some((severity, states?, for_count, keep_firing_for, repeat, flap))
    }

    fn flap(&mut self) -> Option<Flap> {
        let window = self.duration("flap_window");
        let max = self.count("flap_max", 2);
        match (window, max) {
            (Some(window), Some(max)) => Some(Flap { window, max }),
            (None, None) => None,
            _ => {
                let header = self.header;
                self.bad(header, "flap suppression needs both `flap_window` and `flap_max`".into());
                None
            }
        }
    }

    /// The `states` filter: `Some(None)` for every state, `None` after a problem.
    fn states(&mut self, kind: Option<&Kind>) -> Option<Option<u64>> {
        let Some((line, value)) = self.take("states") else { return Some(None) };
        if let Some(Kind::SourceIdle { .. }) = kind {
            self.bad(line, "`states` does not apply to source_idle (it watches the whole input)".into());
            return None;
        }
        let Value::List(items) = value else {
            self.bad(line, "`states` must be a list of state codes, like [\"TX\", \"CA\"]".into());
            return None;
        };
        let mut mask = 0u64;
        let mut ok = true;
        for item in items {
            match item {
                Value::Text(code) => match StateCode::from_bytes(code.trim().to_ascii_uppercase().as_bytes())
                {
                    Some(state) => mask |= 1 << state.index(),
                    None => {
                        self.bad(line, format!("`states`: \"{code}\" is not one of the 51 state codes"));
                        ok = false;
                    }
                },
                other => {
                    self.bad(line, format!("`states` holds state codes, not {}", other.describe()));
                    ok = false;
                }
            }
        }
        ok.then_some(Some(mask))
    }

    fn threshold(&mut self) -> Option<Kind> {
        let scope = self.scope();
        let metric = self.metric();
        let op = self.op();
        let fire = self.required_number("fire", "threshold");
        let clear = self.number("clear");
        let (scope, metric, op, fire) = (scope?, metric?, op?, fire?.1);
        self.check_metric(scope, metric)?;
        let clear = match clear {
            None => fire,
            Some((line, clear)) => {
                let wrong_side = if op.upward() { clear > fire } else { clear < fire };
                if wrong_side {
                    let side = if op.upward() { "at or below" } else { "at or above" };
                    self.bad(
                        line,
                        format!(
                            "`clear` = {clear} must be {side} `fire` = {fire} for `op` = \"{}\"",
                            op_text(op)
                        ),
                    );
                    return None;
                }
                clear
            }
        };
        Some(Kind::Threshold(Threshold { scope, metric, op, fire, clear }))
    }

    fn check_metric(&mut self, scope: Scope, metric: Metric) -> Option<()> {
        let line = self.fields.0.iter().find(|f| f.name == "metric").map_or(self.header, |f| f.line);
        let allowed = match scope {
            Scope::Sensor => metric == Metric::Temperature,
            Scope::State => !matches!(metric, Metric::Temperature | Metric::RejectedRatio | Metric::Late),
            Scope::Fleet => metric != Metric::Temperature,
        };
        if !allowed {
            let hint = match scope {
                Scope::Sensor => "sensor scope judges readings: metric = \"temperature\"",
                Scope::State => {
                    "state scope: avg_temperature, min_temperature, max_temperature, messages or sensors"
                }
                Scope::Fleet => {
                    "fleet scope: avg/min/max_temperature, messages, sensors, rejected_ratio or late"
                }
            };
            self.bad(line, format!("metric \"{}\" does not fit this scope ({hint})", metric_text(metric)));
            return None;
        }
        let filtered = self.fields.0.iter().any(|f| f.name == "states");
        if filtered && matches!(metric, Metric::RejectedRatio | Metric::Late) {
            self.bad(
                line,
                "rejected_ratio and late belong to no state: they cannot be filtered by `states`".into(),
            );
            return None;
        }
        Some(())
    }

    fn scope(&mut self) -> Option<Scope> {
        let Some((line, text)) = self.text("scope") else {
            let header = self.header;
            if !self.fields.0.iter().any(|f| f.name == "scope") {
                self.bad(header, "a threshold rule needs `scope` (state, fleet or sensor)".into());
            }
            return None;
        };
        match text.as_str() {
            "state" => Some(Scope::State),
            "fleet" => Some(Scope::Fleet),
            "sensor" => Some(Scope::Sensor),
            other => {
                self.bad(line, format!("`scope` = \"{other}\" is not one of state, fleet or sensor"));
                None
            }
        }
    }

    fn metric(&mut self) -> Option<Metric> {
        let Some((line, text)) = self.text("metric") else {
            let header = self.header;
            if !self.fields.0.iter().any(|f| f.name == "metric") {
                self.bad(header, "a threshold rule needs `metric`".into());
            }
            return None;
        };
        let metric = METRICS.iter().find(|(name, _)| *name == text).map(|(_, m)| *m);
        if metric.is_none() {
            let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
            self.bad(line, format!("`metric` = \"{text}\" is not one of {}", names.join(", ")));
        }
        metric
    }

    fn op(&mut self) -> Option<Op> {
        let Some((line, text)) = self.text("op") else {
            let header = self.header;
            if !self.fields.0.iter().any(|f| f.name == "op") {
                self.bad(header, "a threshold rule needs `op` (>, >=, < or <=)".into());
            }
            return None;
        };
        let op = match text.as_str() {
            ">" => Some(Op::Gt),
            ">=" => Some(Op::Ge),
            "<" => Some(Op::Lt),
            "<=" => Some(Op::Le),
            _ => None,
        };
        if op.is_none() {
            self.bad(line, format!("`op` = \"{text}\" is not one of >, >=, < or <="));
        }
        op
    }

    fn anomaly(&mut self) -> Option<Kind> {
        if let Some((line, text)) = self.text("metric") {
            if text != "temperature" {
                self.bad(
                    line,
                    format!("anomaly rules watch readings: `metric` = \"temperature\", not \"{text}\""),
                );
            }
        }
        let z = self.required_number("z", "anomaly");
        let clear_z = self.number("clear_z");
        let alpha = self.number("alpha");
        let warmup = self.count("warmup", 2).unwrap_or(20);
        let z = match z {
            Some((line, z)) if z <= 0.0 => {
                self.bad(line, format!("`z` = {z} must be greater than 0"));
                None
            }
            other => other.map(|(_, z)| z),
        };
        let alpha = match alpha {
            Some((line, a)) if !(a > 0.0 && a <= 1.0) => {
                self.bad(line, format!("`alpha` = {a} must be in (0, 1]"));
                None
            }
            Some((_, a)) => Some(a),
            None => Some(0.1),
        };
        let clear_z = match (clear_z, z) {
            (Some((line, c)), Some(z)) if !(c > 0.0 && c <= z) => {
                self.bad(line, format!("`clear_z` = {c} must be greater than 0 and at most `z` = {z}"));
                None
            }
            (Some((_, c)), _) => Some(c),
            (None, z) => z,
        };
        Some(Kind::Anomaly(Anomaly { z: z?, clear_z: clear_z?, alpha: alpha?, warmup }))
    }

    /// Fields left unread are mistakes (a typo for a known key, or a key of another kind).
    fn unknown_fields(&mut self) {
        let unknown: Vec<(usize, String)> =
            self.fields.0.iter().filter(|f| !f.used).map(|f| (f.line, f.name.clone())).collect();
        for (line, name) in unknown {
            self.bad(line, format!("unknown or misplaced key `{name}` for this kind of rule"));
        }
    }
}

/// A rules file's duration in µs: the grammar of [`crate::units`] (`500ms`, `30s`, `5m`, `1h`,
/// `1d`, `1h 30m`), rounded to the microsecond, and greater than zero.
fn parse_duration(text: &str) -> Option<i64> {
    let micros = crate::units::parse_duration(text).ok().map(crate::units::micros_rounded)?;
    (micros > 0).then_some(micros)
}
