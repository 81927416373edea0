//! Parsing on several cores: chunks of lines are parsed and aggregated by a pool of worker
//! threads, and the pipeline merges their partial aggregates.
//!
//! This is exact because aggregates merge exactly in any order (see `iotstream_engine::aggregate`),
//! so it serves processing-time batches and `--once`, where arrival order within a batch does not
//! matter. Event time needs the order of readings within a partition, and stays on one thread.
//!
//! The dispatcher forwards everything that is not a chunk (end of input, failures) only after the
//! workers have finished every chunk sent before it, so nothing is counted after the end.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use iotstream_engine::lines::lines;
use iotstream_engine::{Aggregate, Parser, RejectReason};
use tokio::sync::mpsc;

use crate::sources::{Chunk, SourceEvent, SourceReceiver, CHANNEL_DEPTH};

/// Most rejected lines a worker reports in full per chunk (the rest are only counted), so that a
/// file of garbage does not turn into a copy of itself in memory.
const REPORTED_PER_CHUNK: usize = 16;

/// What a worker made of one chunk.
#[derive(Debug, Default)]
pub struct Partial {
    /// Everything counted, valid and rejected.
    pub aggregate: Aggregate,
    /// Valid readings.
    pub readings: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// Some rejected lines: line number, reason and the first 120 bytes.
    pub examples: Vec<(u64, RejectReason, Vec<u8>)>,
    /// Number of the line after the chunk.
    pub next_line: u64,
}

/// Parses one chunk into a partial aggregate.
pub fn parse_chunk(parser: &Parser, chunk: &Chunk) -> Partial {
    let mut partial = Partial { next_line: chunk.first_line, ..Partial::default() };
    for (line_number, line) in (chunk.first_line..).zip(lines(chunk.data())) {
        partial.next_line = line_number + 1;
        match parser.parse(line) {
            Ok(reading) => {
                partial.aggregate.add(&reading);
                partial.readings += 1;
            }
            Err(reason) => {
                partial.aggregate.reject(reason);
                partial.rejected += 1;
                if partial.examples.len() < REPORTED_PER_CHUNK {
                    partial.examples.push((line_number, reason, line[..line.len().min(120)].to_vec()));
                }
            }
        }
    }
    partial
}

/// Puts `threads` parsing workers between a line source and the pipeline: chunks come out as
/// [`SourceEvent::Parsed`] partial aggregates, everything else in order after them.
pub fn spawn(mut source: SourceReceiver, threads: usize, parser: Parser) -> SourceReceiver {
    let (out, events) = mpsc::channel(CHANNEL_DEPTH);
    let (work, queue) = std_mpsc::sync_channel::<Chunk>(threads * 2);
    let queue = Arc::new(Mutex::new(queue));
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let queue = Arc::clone(&queue);
            let out = out.clone();
            std::thread::Builder::new()
                .name(format!("parser-{i}"))
                .spawn(move || work_loop(&queue, &out, &parser))
                .expect("spawning a thread only fails when the OS is out of resources")
        })
        .collect();
    std::thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || {
            let mut last = None;
            while let Some(event) = source.blocking_recv() {
                match event {
                    SourceEvent::Chunk(chunk) => {
                        if work.send(chunk).is_err() {
                            return;
                        }
                    }
                    other => {
                        last = Some(other);
                        break;
                    }
                }
            }
            drop(work);
            for worker in workers {
                let _ = worker.join();
            }
            let _ = out.blocking_send(last.unwrap_or(SourceEvent::End));
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    events
}

fn work_loop(queue: &Mutex<std_mpsc::Receiver<Chunk>>, out: &mpsc::Sender<SourceEvent>, parser: &Parser) {
    loop {
        // Hold the lock only to take a chunk, not while parsing it.
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(chunk) = next else { return };
        let partial = parse_chunk(parser, &chunk);
        // Hands the buffer back to the reader's pool now, not after waiting for room to send.
        drop(chunk);
        if out.blocking_send(SourceEvent::Parsed(Box::new(partial))).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_count_what_the_lines_hold() {
        let line = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        let chunk = Chunk::from_vec(format!("{line}\nnope\n{line}\n").into_bytes(), 10);
        let partial = parse_chunk(&Parser::default(), &chunk);
        assert_eq!((partial.readings, partial.rejected), (2, 1));
        assert_eq!(partial.examples, [(11, RejectReason::MalformedJson, b"nope".to_vec())]);
        assert_eq!(partial.aggregate.messages(), 2);
    }

    #[test]
    fn the_pool_counts_everything_before_the_end() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let line = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        let (tx, rx) = mpsc::channel(4);
        let mut events = spawn(rx, 3, Parser::default());
        std::thread::spawn(move || {
            for i in 0..50 {
                let chunk = Chunk::from_vec(format!("{line}\n{line}\n").into_bytes(), i * 2 + 1);
                tx.blocking_send(SourceEvent::Chunk(chunk)).unwrap();
            }
            tx.blocking_send(SourceEvent::End).unwrap();
        });
        let readings = runtime.block_on(async {
            let mut readings = 0;
            loop {
                match events.recv().await {
                    Some(SourceEvent::Parsed(partial)) => readings += partial.readings,
                    Some(SourceEvent::End) => return readings,
                    other => panic!("{other:?}"),
                }
            }
        });
        assert_eq!(readings, 100);
    }
}
