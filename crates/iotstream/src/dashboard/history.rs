//! `/api/history?from=&to=&state=`: stored results over a time range, for the page's history
//! charts, downsampled by the database into at most [`MAX_POINTS`] buckets so that a week of
//! 1-second windows costs the browser no more than fifteen minutes of them.
//!
//! `from` and `to` are RFC 3339 (default: the last fifteen minutes); `state` picks one state's rows
//! instead of the windows' overall values. The answer is one column per series, as charts take
//! them: `time` (each bucket's start, Unix seconds), `windows`, `messages`, and the average,
//! minimum and maximum temperature.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iotstream_engine::{EventTime, StateCode};
use serde::{Deserialize, Serialize};

use super::api::{json, AppState};
use crate::clock::wall_clock_now;
use crate::store::{Bucket, Range};

/// The most buckets one answer has.
pub const MAX_POINTS: i64 = 600;
/// The range when none is asked for.
const DEFAULT_SPAN: i64 = 15 * 60 * 1_000_000;
/// The longest range asked for at once (about 13 months).
const MAX_SPAN: i64 = 400 * 86_400 * 1_000_000;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    state: Option<String>,
}

/// The answer: the range, the bucket length, and one array per series.
#[derive(Debug, Default, Serialize)]
struct Series {
    from: EventTime,
    to: EventTime,
    step: i64,
    state: Option<&'static str>,
    time: Vec<i64>,
    windows: Vec<u64>,
    messages: Vec<u64>,
    avg_temperature: Vec<Option<f64>>,
    min_temperature: Vec<Option<f64>>,
    max_temperature: Vec<Option<f64>>,
}

impl Series {
    fn of(range: &Range, step: i64, buckets: &[Bucket]) -> Series {
        let (from, to) = range.bounds();
        let mut series =
            Series { from, to, step, state: range.state.map(StateCode::as_str), ..Series::default() };
        for bucket in buckets {
            series.time.push(bucket.start);
            series.windows.push(bucket.windows);
            series.messages.push(bucket.messages);
            series.avg_temperature.push(bucket.avg_temperature);
            series.min_temperature.push(bucket.min_temperature);
            series.max_temperature.push(bucket.max_temperature);
        }
        series
    }
}

/// The handler.
pub async fn history(State(state): State<AppState>, Query(query): Query<HistoryQuery>) -> Response {
    let Some(reader) = state.hub.history() else {
        return (StatusCode::NOT_FOUND, "this run stores no results (see --store)\n").into_response();
    };
    let range = match range(&query, wall_clock_now()) {
        Ok(range) => range,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let step = step(&range);
    match reader.buckets(&range, step).await {
        Ok(buckets) => match serde_json::to_string(&Series::of(&range, step, &buckets)) {
            Ok(body) => json(body),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Err(error) => {
            tracing::warn!(%error, "a history query failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the store could not be read; try again\n").into_response()
        }
    }
}

/// The range asked for, checked.
fn range(query: &HistoryQuery, now: EventTime) -> Result<Range, String> {
    let time = |name: &str, text: &Option<String>| -> Result<Option<EventTime>, String> {
        text.as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| EventTime::parse_rfc3339(t.as_bytes()).ok_or(format!("{name} is not an RFC 3339 time")))
            .transpose()
    };
    let to = time("to", &query.to)?.unwrap_or(now);
    let from = time("from", &query.from)?.unwrap_or(EventTime(to.as_micros() - DEFAULT_SPAN));
    let span = to.as_micros().saturating_sub(from.as_micros());
    if span <= 0 {
        return Err("from must be before to".into());
    }
    if span > MAX_SPAN {
        return Err("the range is longer than 400 days".into());
    }
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(code) => Some(StateCode::from_bytes(code.as_bytes()).ok_or("state is not one of the 51 codes")?),
        None => None,
    };
    Ok(Range { from: Some(from), to: Some(to), state })
}

/// Whole seconds per bucket: at most [`MAX_POINTS`] of them over the range.
fn step(range: &Range) -> i64 {
    let (from, to) = range.bounds();
    let seconds = (to.as_micros() - from.as_micros() + 999_999) / 1_000_000;
    ((seconds + MAX_POINTS - 1) / MAX_POINTS).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>, state: Option<&str>) -> HistoryQuery {
        HistoryQuery { from: from.map(Into::into), to: to.map(Into::into), state: state.map(Into::into) }
    }

    #[test]
    fn ranges_default_to_fifteen_minutes_and_are_checked() {
        let now = EventTime::parse_rfc3339(b"2026-11-27T12:00:00Z").unwrap();
        let range = range(&query(None, None, None), now).unwrap();
        assert_eq!(range.bounds(), (EventTime(now.0 - DEFAULT_SPAN), now));
        assert_eq!(step(&range), 2, "900 s in at most 600 buckets");
        let week = range_of("2026-11-20T12:00:00Z", "2026-11-27T12:00:00Z");
        assert_eq!(step(&week), 1008);
        assert!(super::range(&query(Some("2026-11-27T13:00:00Z"), None, None), now).is_err());
        assert!(super::range(&query(Some("yesterday"), None, None), now).is_err());
        assert!(super::range(&query(None, None, Some("ZZ")), now).is_err());
        assert_eq!(
            super::range(&query(None, None, Some("CA")), now).unwrap().state.map(StateCode::as_str),
            Some("CA")
        );
    }

    fn range_of(from: &str, to: &str) -> Range {
        super::range(&query(Some(from), Some(to), None), EventTime(0)).unwrap()
    }
}
