//! `iotstream history`: stored results read back — a time range, optionally one state — as JSON
//! lines (the schema `analyze --format jsonl` writes, so a stored run reads back as its own
//! output), the seed's console blocks, or CSV with one line per window and state; with `--query`,
//! a SQL query's rows (`queries`).

use std::io::Write;

use anyhow::Context as _;
use iotstream_engine::WindowResult;

use crate::cli::{HistoryArgs, HistoryFormat};
use crate::connectors::file::console::ConsoleSink;
use crate::store::{self, Range, Target};

mod queries;

/// Windows read per query: a page of results, never the whole range, in memory.
const PAGE: usize = 1000;

/// Runs `iotstream history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    let target = target(args)?;
    let reader = target.open_reader()?;
    let range = Range { from: args.from, to: args.to, state: args.state };
    let out = crate::connectors::file::output::open_output(
        args.output.as_deref(),
        Default::default(),
        &Default::default(),
    )?
    .writer;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(query) = &args.query {
        return runtime.block_on(queries::print(&*reader, query, &range, args.format, out));
    }
    let mut printer = Printer::new(args.format, out)?;
    runtime.block_on(async {
        let mut after = None;
        loop {
            let page = reader.page(&range, after, PAGE).await?;
            for window in &page.windows {
                printer.print(window)?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return anyhow::Ok(()),
            }
        }
    })?;
    printer.finish()
}

/// `--store`, or the demo's file when it exists.
fn target(args: &HistoryArgs) -> anyhow::Result<Target> {
    if let Some(url) = &args.store {
        return url.parse()?.context("--store none: there is nothing to read");
    }
    let path = store::default_path().context("no --store given, and this build has no default store")?;
    anyhow::ensure!(
        path.exists(),
        "no history at {} yet (`iotstream` keeps it there); give --store to read another store",
        path.display()
    );
    store::default_target().context("this build has no default store")
}

/// Prints results in one format.
enum Printer {
    Jsonl(Box<dyn Write + Send>),
    Console(ConsoleSink),
    Csv(Box<dyn Write + Send>),
}

/// The CSV header: one line per window and state.
const CSV_HEADER: &str = "time,window_start,window_end,final,revision,state,messages,sensors,\
avg_temperature,min_temperature,max_temperature\n";

impl Printer {
    fn new(format: HistoryFormat, mut out: Box<dyn Write + Send>) -> anyhow::Result<Printer> {
        Ok(match format {
            HistoryFormat::Jsonl => Printer::Jsonl(out),
            HistoryFormat::Console => Printer::Console(ConsoleSink::new(out)),
            HistoryFormat::Csv => {
                out.write_all(CSV_HEADER.as_bytes())?;
                Printer::Csv(out)
            }
        })
    }

    fn print(&mut self, window: &WindowResult) -> anyhow::Result<()> {
        match self {
            Printer::Jsonl(out) => {
                serde_json::to_writer(&mut *out, window)?;
                out.write_all(b"\n")?;
            }
            Printer::Console(sink) => sink.write_result(window)?,
            Printer::Csv(out) => {
                for state in &window.states {
                    writeln!(
                        out,
                        "{end},{start},{end},{},{},{},{},{},{},{},{}",
                        window.is_final,
                        window.revision,
                        state.state,
                        state.messages,
                        state.sensors,
                        state.avg_temperature,
                        state.min_temperature,
                        state.max_temperature,
                        start = window.window_start,
                        end = window.window_end,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Printer::Jsonl(mut out) | Printer::Csv(mut out) => out.flush()?,
            Printer::Console(_) => {}
        }
        Ok(())
    }
}
