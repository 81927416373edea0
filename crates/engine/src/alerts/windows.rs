//! Window rules: state and fleet thresholds judged on each window's final result (and each
//! revision of it by late readings), at the window's end in event time.
//!
//! A state with no readings in a window has no temperatures: temperature rules skip it (no data
//! is no verdict), while `messages` and `sensors` rules judge it as 0 once the state has reported
//! (or when the rule names it in `states`), so "a state went quiet" can fire and resolve.

use std::collections::BTreeMap;

use super::emit::{Emitter, Judged, KeyState};
use super::machine::Observation;
use super::rules::{Kind, Metric, Rule, Scope, Threshold};
use crate::reading::StateCode;
use crate::result::{StateResult, WindowResult};

/// Judges `result` under every window rule.
pub(super) fn judge(
    rules: &[Rule],
    keys: &mut BTreeMap<(u32, String), KeyState>,
    result: &WindowResult,
    emit: &mut Emitter<'_>,
) {
    for (index, rule) in rules.iter().enumerate() {
        let Kind::Threshold(threshold) = &rule.kind else { continue };
        let values = match threshold.scope {
            Scope::State => state_values(rule, threshold.metric, index as u32, keys, result),
            Scope::Fleet => fleet_value(rule, threshold.metric, result)
                .map(|v| ("fleet".to_owned(), v))
                .into_iter()
                .collect(),
            Scope::Sensor => continue,
        };
        // Keys are kept once seen (at most one per state and rule): their notification count
        // must never restart, it makes the idempotency keys.
        for (key, value) in values {
            let state = keys.entry((index as u32, key.clone())).or_default();
            judge_key(rule, threshold, &key, state, value, result, emit);
        }
    }
}

fn judge_key(
    rule: &Rule,
    t: &Threshold,
    key: &str,
    state: &mut KeyState,
    value: f64,
    result: &WindowResult,
    emit: &mut Emitter<'_>,
) {
    let obs = Observation {
        at: result.window_end,
        fires: t.op.holds(value, t.fire),
        holds: t.op.holds(value, t.clear),
        window_end: Some(result.window_end),
    };
    let judged = Judged { value, threshold: t.fire, window: Some((result.window_start, result.window_end)) };
    emit.step(rule, key, state, &obs, judged);
}

/// Each covered state's value, by code; quiet states with a live key judged as 0 for counts.
fn state_values(
    rule: &Rule,
    metric: Metric,
    index: u32,
    keys: &BTreeMap<(u32, String), KeyState>,
    result: &WindowResult,
) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    for state in &result.states {
        let Some(code) = StateCode::from_bytes(state.state.as_bytes()) else { continue };
        if let (true, Some(value)) = (rule.covers(code), state_metric(metric, state)) {
            values.insert(state.state.clone(), value);
        }
    }
    if matches!(metric, Metric::Messages | Metric::Sensors) {
        let quiet: Vec<String> = match rule.states {
            // A filtered rule watches its states even before they ever report.
            Some(_) => StateCode::all().filter(|c| rule.covers(*c)).map(|c| c.as_str().to_owned()).collect(),
            None => keys
                .range((index, String::new())..)
                .take_while(|((i, _), _)| *i == index)
                .map(|((_, k), _)| k.clone())
                .collect(),
        };
        for key in quiet {
            values.entry(key).or_insert(0.0);
        }
    }
    values
}

fn state_metric(metric: Metric, state: &StateResult) -> Option<f64> {
    Some(match metric {
        Metric::AvgTemperature => state.avg_temperature,
        Metric::MinTemperature => state.min_temperature,
        Metric::MaxTemperature => state.max_temperature,
        Metric::Messages => state.messages as f64,
        Metric::Sensors => state.sensors as f64,
        Metric::RejectedRatio | Metric::Late | Metric::Temperature => return None,
    })
}

/// The fleet's value (the filtered states together, when the rule has `states`).
fn fleet_value(rule: &Rule, metric: Metric, result: &WindowResult) -> Option<f64> {
    let states: Vec<&StateResult> = result
        .states
        .iter()
        .filter(|s| StateCode::from_bytes(s.state.as_bytes()).is_some_and(|c| rule.covers(c)))
        .collect();
    let messages: u64 = states.iter().map(|s| s.messages).sum();
    let temperatures = || states.iter().map(|s| (s.min_temperature, s.max_temperature));
    match metric {
        Metric::Messages => Some(messages as f64),
        Metric::Sensors if rule.states.is_none() => Some(result.sensors as f64),
        Metric::Sensors => Some(states.iter().map(|s| s.sensors).sum::<u64>() as f64),
        Metric::AvgTemperature if messages > 0 => {
            let sum: f64 = states.iter().map(|s| s.avg_temperature * s.messages as f64).sum();
            Some(sum / messages as f64)
        }
        Metric::MinTemperature => temperatures().map(|t| t.0).reduce(f64::min),
        Metric::MaxTemperature => temperatures().map(|t| t.1).reduce(f64::max),
        Metric::RejectedRatio => {
            let total = result.messages + result.rejected;
            (total > 0).then(|| result.rejected as f64 / total as f64)
        }
        Metric::Late => Some(result.rejected_by_reason.get("late").copied().unwrap_or(0) as f64),
        Metric::AvgTemperature | Metric::Temperature => None,
    }
}
