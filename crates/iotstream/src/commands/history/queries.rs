//! `iotstream history --query NAME`: a SQL query's stored rows, regrouped into the results they
//! were emitted as, printed as `analyze` printed them (JSON lines or console tables) or as CSV
//! (a header, then one line per row).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use iotstream_engine::query::{Cell, Emission};

use crate::cli::HistoryFormat;
use crate::store::tables::{QueryTable, ReadRow};
use crate::store::{Range, Reader};

/// Rows read per page: never the whole range in memory.
const PAGE: usize = 1000;

/// Prints query `name`'s rows in `range` to `out`.
pub async fn print(
    reader: &dyn Reader,
    name: &str,
    range: &Range,
    format: HistoryFormat,
    mut out: Box<dyn Write + Send>,
) -> anyhow::Result<()> {
    let table = reader.query_table(name).await?.with_context(|| {
        format!("the store has no results of query {name} (they are stored by `analyze --query {name}=SQL --store …`)")
    })?;
    if format == HistoryFormat::Csv {
        out.write_all(csv_header(&table).as_bytes())?;
    }
    let columns: Arc<[String]> = table.columns.iter().map(|c| c.name.clone()).collect();
    let mut current: Option<Emission> = None;
    let mut after = None;
    loop {
        let page = reader.query_rows(&table, range, after, PAGE).await?;
        for row in page.rows {
            let same = current.as_ref().is_some_and(|e| same_result(e, &row));
            if !same {
                if let Some(done) = current.take() {
                    write(&done, format, &mut out)?;
                }
                current = Some(empty(&table, &columns, &row));
            }
            if let Some(result) = current.as_mut() {
                result.rows.push(row.cells);
                result.keys.push(row.key);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if let Some(done) = current {
        write(&done, format, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// Whether `row` belongs to the result `result` holds (the same window, as far along).
fn same_result(result: &Emission, row: &ReadRow) -> bool {
    result.window_start == row.start
        && result.window_end == row.end
        && result.is_final == row.is_final
        && result.revision == row.revision
}

/// A result with `row`'s header and no rows yet.
fn empty(table: &QueryTable, columns: &Arc<[String]>, row: &ReadRow) -> Emission {
    Emission {
        query: Arc::from(table.query.as_str()),
        window_start: row.start,
        window_end: row.end,
        is_final: row.is_final,
        revision: row.revision,
        columns: Arc::clone(columns),
        rows: Vec::new(),
        keys: Vec::new(),
    }
}

fn write(result: &Emission, format: HistoryFormat, out: &mut Box<dyn Write + Send>) -> anyhow::Result<()> {
    match format {
        HistoryFormat::Jsonl => {
            let mut bytes = Vec::new();
            result.write_jsonl(&mut bytes);
            out.write_all(&bytes)?;
        }
        HistoryFormat::Console => writeln!(out, "{}", result.console_table())?,
        HistoryFormat::Csv => {
            for row in &result.rows {
                let cells = row.iter().map(csv_cell);
                let line: Vec<String> = [
                    result.window_end.to_string(),
                    result.window_start.to_string(),
                    result.window_end.to_string(),
                    result.is_final.to_string(),
                    result.revision.to_string(),
                ]
                .into_iter()
                .chain(cells)
                .collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
    }
    Ok(())
}

/// `time,window_start,window_end,final,revision,` then the query's columns.
fn csv_header(table: &QueryTable) -> String {
    let names = table.columns.iter().map(|c| csv_text(&c.name));
    let all: Vec<String> = ["time", "window_start", "window_end", "final", "revision"]
        .map(String::from)
        .into_iter()
        .chain(names)
        .collect();
    format!("{}\n", all.join(","))
}

/// A cell in CSV: NULL empty, text quoted when it must be.
fn csv_cell(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Str(s) => csv_text(s),
        other => other.to_string(),
    }
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_it_must() {
        assert_eq!(csv_text("CA"), "CA");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell(&Cell::Null), "");
        assert_eq!(csv_cell(&Cell::Double(1.5)), "1.5");
    }
}
