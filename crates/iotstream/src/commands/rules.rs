//! `iotstream rules check FILE`: reads a rules file and reports every problem at once, with its
//! line, or what the rules will do.

use std::fmt::Write as _;
use std::path::Path;

use iotstream_engine::alerts::{metric_text, op_text, Kind, Rule, Scope};

/// Checks `path`; the summary printed when it is fine.
pub fn check(path: &Path) -> anyhow::Result<String> {
    let rules = crate::alerts::read_rules(path)?;
    let mut out = format!("{}: {} rule(s), all fine\n", path.display(), rules.len());
    for rule in &rules {
        let _ = writeln!(out, "  {} ({}, line {}): {}", rule.id, rule.severity, rule.line, describe(rule));
    }
    Ok(out)
}

fn describe(rule: &Rule) -> String {
    let micros = |m: i64| format!("{}s", m as f64 / 1e6);
    match &rule.kind {
        Kind::Threshold(t) => {
            let scope = match t.scope {
                Scope::State => "each state's",
                Scope::Fleet => "the fleet's",
                Scope::Sensor => "each sensor's",
            };
            let (metric, op) = (metric_text(t.metric), op_text(t.op));
            format!(
                "{scope} {metric} {op} {}, {} in a row (firing until no longer {op} {})",
                t.fire, rule.for_count, t.clear
            )
        }
        Kind::Offline { after } => format!("a sensor silent for {} of event time", micros(*after)),
        Kind::Anomaly(a) => format!(
            "a reading beyond {} EW standard deviations (alpha {}, after {} readings)",
            a.z, a.alpha, a.warmup
        ),
        Kind::SourceIdle { after } => format!("no input for {} of processing time", micros(*after)),
    }
}
