//! Windows: `tumble(interval)` / `hop(interval slide, interval size)` in `GROUP BY` (Arroyo's
//! form), and `tumble(readings, time, interval)` / `hop(readings, time, slide, size)` in
//! `FROM` (RisingWave's and Flink's). A query has at most one, on the run's time field.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::{field_path, stream_name, Binder, Bound};
use crate::query::error::{At, Problem};
use crate::query::interval::interval_micros;
use crate::query::plan::Window;
use crate::window::WindowSpec;

impl Binder<'_> {
    /// If `expr` is a window function call, the window, which becomes the query's (a second,
    /// different one is refused).
    pub(super) fn window_function(&mut self, expr: &ast::Expr, here: At) -> Bound<Option<Window>> {
        let ast::Expr::Function(f) = expr else { return Ok(None) };
        let name = f.name.to_string().to_ascii_lowercase();
        if name != "tumble" && name != "hop" {
            return Ok(None);
        }
        let FunctionArguments::List(list) = &f.args else {
            return Err(Problem::invalid(here, format!("{name} takes intervals in parentheses")));
        };
        let args: Vec<&ast::Expr> = list.args.iter().map(|a| unnamed(a, here)).collect::<Bound<_>>()?;
        let window = window_of(&name, &args, here)?;
        self.set_window(window, here)?;
        Ok(Some(window))
    }

    fn set_window(&mut self, window: Window, here: At) -> Bound<()> {
        match self.window {
            Some((held, _)) if held == window => Ok(()),
            Some(_) => Err(Problem::unsupported(here, "a second window")),
            None => {
                self.window = Some((window, here));
                Ok(())
            }
        }
    }

    /// `FROM tumble(readings, time, size)` / `FROM hop(readings, time, slide, size)`.
    pub(super) fn table_function(
        &mut self,
        name: &ast::ObjectName,
        args: &[FunctionArg],
        at: At,
    ) -> Bound<Window> {
        let function = name.to_string().to_ascii_lowercase();
        if function != "tumble" && function != "hop" {
            return Err(Problem::unsupported(at, format!("the table function {function}")));
        }
        let args: Vec<&ast::Expr> = args.iter().map(|a| unnamed(a, at)).collect::<Bound<_>>()?;
        let [table, time, intervals @ ..] = args.as_slice() else {
            return Err(Problem::invalid(at, format!("{function}(readings, time field, interval …)")));
        };
        let here = At::of(*table).unwrap_or(at);
        match table {
            ast::Expr::Identifier(ident) => stream_name(&ast::ObjectName::from(vec![ident.clone()]), here)?,
            _ => return Err(Problem::invalid(here, format!("{function}(…) reads the stream readings"))),
        }
        let here = At::of(*time).unwrap_or(at);
        let path =
            field_path(time).and_then(Result::ok).ok_or_else(|| Problem::invalid(here, "the time field"))?;
        match self.time_field {
            None => return Err(Problem::invalid(here, "windows are on event time: run with --time event")),
            Some(run) if *run != path => {
                return Err(Problem::invalid(
                    here,
                    format!("windows are on the run's time field {run} (--time-field), not {path}"),
                ));
            }
            Some(_) => {}
        }
        window_of(&function, intervals, at)
    }
}

fn unnamed(arg: &FunctionArg, here: At) -> Bound<&ast::Expr> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
        _ => Err(Problem::invalid(here, "window functions take plain arguments")),
    }
}

/// The window of `tumble(size)` or `hop(slide, size)`.
fn window_of(name: &str, intervals: &[&ast::Expr], here: At) -> Bound<Window> {
    let window = match (name, intervals) {
        ("tumble", [size]) => Window::Tumble { size: interval(size, here)? },
        ("hop", [slide, size]) => Window::Hop { slide: interval(slide, here)?, size: interval(size, here)? },
        ("tumble", _) => {
            return Err(Problem::invalid(here, "tumble takes one interval: tumble(interval '1 minute')"))
        }
        _ => {
            return Err(Problem::invalid(
                here,
                "hop takes two intervals: hop(interval 'SLIDE', interval 'SIZE')",
            ));
        }
    };
    if let Window::Hop { slide, size } = window {
        WindowSpec::new(size, slide).map_err(|e| Problem::invalid(here, e.to_string()))?;
        if slide == size {
            return Ok(Window::Tumble { size });
        }
    }
    Ok(window)
}

/// An interval literal in µs.
fn interval(expr: &ast::Expr, at: At) -> Bound<i64> {
    let here = At::of(expr).unwrap_or(at);
    let ast::Expr::Interval(interval) = expr else {
        return Err(Problem::invalid(
            here,
            format!("`{expr}` is not an interval: write interval '1 minute'"),
        ));
    };
    let text = match interval.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            ast::Value::Number(n, _) => n.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    if interval.last_field.is_some() || interval.fractional_seconds_precision.is_some() {
        return Err(Problem::unsupported(here, format!("the interval `{interval}`")));
    }
    let unit = interval.leading_field.as_ref().map(ToString::to_string);
    interval_micros(&text, unit.as_deref()).ok_or_else(|| {
        Problem::invalid(here, format!("`{interval}` is not a positive interval such as '10 seconds'"))
    })
}
