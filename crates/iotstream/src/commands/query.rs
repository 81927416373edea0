//! `iotstream query check`: what a query reads and computes, or why it is refused.
//!
//! One SQL text (named `query`), or the queries of `--query` flags and of the config file's
//! `[[query]]` tables, planned together as a run would plan them (names used twice included).
//! Each plan is printed; any refusal is printed instead, as a run would print it, and the command
//! exits with status 2 (bad usage), so that scripts can check queries before deploying them.

use iotstream_engine::query::{FieldPath, Time};
use iotstream_engine::{EventTimeConfig, WindowSpec};

use crate::cli::{NamedQuery, QueryCheckArgs, TimeMode};
use crate::plan::check_queries;

/// A query refused: its message is printed as it is and the process exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Plans the queries `args` name (and `from_config`'s, when no SQL is given) and prints each plan.
pub fn check(args: &QueryCheckArgs, from_config: Vec<NamedQuery>) -> anyhow::Result<String> {
    let mut named: Vec<(String, String)> = match &args.sql {
        Some(sql) => vec![("query".to_owned(), sql.clone())],
        None => Vec::new(),
    };
    let given =
        if args.sql.is_none() && args.queries.is_empty() { from_config } else { args.queries.clone() };
    named.extend(given.into_iter().map(|q| (q.name, q.sql)));
    if named.is_empty() {
        return Err(Refused(
            "no query to check: give SQL, --query NAME=SQL, or a config file with [[query]] tables".into(),
        )
        .into());
    }
    let field = args.time_field.clone().unwrap_or_else(|| FieldPath::new(["eventTime"]));
    let time = match args.time {
        TimeMode::Processing => Time::Processing { period: 1 },
        TimeMode::Event => Time::Event { field, config: planning_windows()? },
    };
    let plans = check_queries(&named, &time).map_err(|problems| Refused(problems.join("\n")))?;
    Ok(plans.iter().map(|plan| format!("{plan}\n")).collect::<Vec<_>>().join("\n"))
}

/// Event-time settings for planning alone: a query's plan depends on the time field only.
fn planning_windows() -> anyhow::Result<EventTimeConfig> {
    Ok(EventTimeConfig {
        window: WindowSpec::tumbling(60_000_000).map_err(anyhow::Error::msg)?,
        max_delay: 0,
        allowed_lateness: 0,
        max_skew: None,
        idle_timeout: None,
    })
}
