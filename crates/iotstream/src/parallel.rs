//! Parsing on several cores: chunks of lines (files) and message batches (Kafka) are parsed and
//! aggregated by a pool of worker threads, and the pipeline merges their partial aggregates.
//!
//! This is exact because aggregates merge exactly in any order (see `iotstream_engine::aggregate`),
//! so it serves processing-time batches and `--once`, where arrival order within a batch does not
//! matter. Event time needs the order of readings within a partition, and stays on one thread.
//!
//! Results still come out **in input order**: the dispatcher queues a slot per event, in the
//! order the source sent them, and a collector thread hands the slots to the pipeline in that
//! order, waiting for a worker where a slot is still being parsed. So the pipeline sees exactly the
//! sequence a single thread would have produced, only faster: the positions it acknowledges (a
//! file's next line, a partition's next offset) never get ahead of input that is still being
//! parsed, a rebalance's revocation arrives after every batch polled before it, and the end of
//! input after everything before it.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use iotstream_engine::lines::lines;
use iotstream_engine::{Aggregate, Parser, RejectReason};
use tokio::sync::mpsc;

use crate::sources::{Chunk, MessageBatch, SourceEvent, SourceReceiver, CHANNEL_DEPTH};

/// Most rejected lines a worker reports in full per chunk (the rest are only counted), so that a
/// file of garbage does not turn into a copy of itself in memory.
const REPORTED_PER_CHUNK: usize = 16;

/// What a worker made of one chunk or message batch.
#[derive(Debug, Default)]
pub struct Partial {
    /// Everything counted, valid and rejected.
    pub aggregate: Aggregate,
    /// Valid readings.
    pub readings: u64,
    /// Rejected lines or messages.
    pub rejected: u64,
    /// Where the input came from, and what the pipeline must do about its rejections.
    pub covers: Covers,
}

/// The input a [`Partial`] covers.
#[derive(Debug)]
pub enum Covers {
    /// Lines of a file.
    Lines {
        /// Number of the line after the chunk.
        next_line: u64,
        /// Some rejected lines: line number, reason and the first 120 bytes.
        examples: Vec<(u64, RejectReason, Vec<u8>)>,
    },
    /// Messages of a partitioned source.
    Messages {
        /// Next offset per partition, after the batch (in the order partitions appeared).
        positions: Vec<(i32, i64)>,
        /// Every rejected message, whole (as kept by the source): each becomes a dead letter.
        rejects: Vec<RejectedMessage>,
    },
}

impl Default for Covers {
    fn default() -> Self {
        Covers::Lines { next_line: 1, examples: Vec::new() }
    }
}

/// A message the parser rejected, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedMessage {
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Why.
    pub reason: RejectReason,
    /// The payload (as kept by the source: cut to the parser's limit + 1 or the dead-letter size).
    pub payload: Vec<u8>,
}

/// Parses one chunk into a partial aggregate.
pub fn parse_chunk(parser: &Parser, chunk: &Chunk) -> Partial {
    let mut partial = Partial::default();
    let mut next_line = chunk.first_line;
    let mut examples = Vec::new();
    for (line_number, line) in (chunk.first_line..).zip(lines(chunk.data())) {
        next_line = line_number + 1;
        match parser.parse(line) {
            Ok(reading) => {
                partial.aggregate.add(&reading);
                partial.readings += 1;
            }
            Err(reason) => {
                partial.aggregate.reject(reason);
                partial.rejected += 1;
                if examples.len() < REPORTED_PER_CHUNK {
                    examples.push((line_number, reason, line[..line.len().min(120)].to_vec()));
                }
            }
        }
    }
    partial.covers = Covers::Lines { next_line, examples };
    partial
}

/// Parses one message batch into a partial aggregate; every rejected message is kept (it becomes a
/// dead letter).
pub fn parse_batch(parser: &Parser, batch: &MessageBatch) -> Partial {
    let mut partial = Partial::default();
    let mut positions: Vec<(i32, i64)> = Vec::new();
    let mut rejects = Vec::new();
    for (payload, meta) in batch.iter() {
        match parser.parse(payload) {
            Ok(reading) => {
                partial.aggregate.add(&reading);
                partial.readings += 1;
            }
            Err(reason) => {
                partial.aggregate.reject(reason);
                partial.rejected += 1;
                rejects.push(RejectedMessage {
                    partition: meta.partition,
                    offset: meta.offset,
                    reason,
                    payload: payload.to_vec(),
                });
            }
        }
        // A batch holds few partitions: a short list beats a map here.
        match positions.iter_mut().find(|(p, _)| *p == meta.partition) {
            Some((_, next)) => *next = meta.offset + 1,
            None => positions.push((meta.partition, meta.offset + 1)),
        }
    }
    partial.covers = Covers::Messages { positions, rejects };
    partial
}

/// Work for a parsing thread, and where its result goes.
enum Work {
    Lines(Chunk),
    Messages(MessageBatch),
}

/// One place in the output order: an event to forward as it is, or one being parsed.
enum Slot {
    Ready(SourceEvent),
    Parsing(std_mpsc::Receiver<Partial>),
}

/// Puts `threads` parsing workers between a source and the pipeline: chunks and message batches
/// come out as [`SourceEvent::Parsed`] partial aggregates, in input order, with every other event
/// (end of input, failures, assignments, revocations) in its place among them.
pub fn spawn(mut source: SourceReceiver, threads: usize, parser: Parser) -> SourceReceiver {
    let threads = threads.max(1);
    let (out, events) = mpsc::channel(CHANNEL_DEPTH);
    let (work, queue) = std_mpsc::sync_channel::<(Work, std_mpsc::SyncSender<Partial>)>(threads * 2);
    // Enough slots to keep every worker busy while the collector waits for the oldest one.
    let (slots, ordered) = std_mpsc::sync_channel::<Slot>(threads * 2 + CHANNEL_DEPTH);
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..threads {
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name(format!("parser-{i}"))
            .spawn(move || work_loop(&queue, &parser))
            .expect("spawning a thread only fails when the OS is out of resources");
    }
    std::thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || {
            while let Some(event) = source.blocking_recv() {
                let work_item = match event {
                    SourceEvent::Chunk(chunk) => Work::Lines(chunk),
                    SourceEvent::Messages(batch) => Work::Messages(batch),
                    other => {
                        let last = matches!(other, SourceEvent::End | SourceEvent::Failed(_));
                        if slots.send(Slot::Ready(other)).is_err() || last {
                            return;
                        }
                        continue;
                    }
                };
                // The reply channel has room for the one result, so a worker never waits on it.
                let (reply, result) = std_mpsc::sync_channel(1);
                if slots.send(Slot::Parsing(result)).is_err() || work.send((work_item, reply)).is_err() {
                    return;
                }
            }
            // The source went away without saying why: the collector ends the stream after the
            // slots before this, and the pipeline treats a closed stream as the end.
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            for slot in ordered {
                let event = match slot {
                    Slot::Ready(event) => event,
                    Slot::Parsing(result) => match result.recv() {
                        Ok(partial) => SourceEvent::Parsed(Box::new(partial)),
                        // A worker died (a bug): fail the run rather than report partial results.
                        Err(_) => SourceEvent::Failed("a parsing thread failed".into()),
                    },
                };
                let failed = matches!(event, SourceEvent::Failed(_));
                if out.blocking_send(event).is_err() || failed {
                    return;
                }
            }
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    events
}

fn work_loop(queue: &Mutex<std_mpsc::Receiver<(Work, std_mpsc::SyncSender<Partial>)>>, parser: &Parser) {
    loop {
        // Hold the lock only to take work, not while parsing it.
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((work, reply)) = next else { return };
        let partial = match &work {
            Work::Lines(chunk) => parse_chunk(parser, chunk),
            Work::Messages(batch) => parse_batch(parser, batch),
        };
        // Hands a chunk's buffer back to the reader's pool now, not after the collector took it.
        drop(work);
        // The collector may be gone (the run stopped); there is nothing to do about it then.
        let _ = reply.send(partial);
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
        let Covers::Lines { next_line, examples } = &partial.covers else { panic!("{partial:?}") };
        assert_eq!(*next_line, 13);
        assert_eq!(examples, &[(11, RejectReason::MalformedJson, b"nope".to_vec())]);
        assert_eq!(partial.aggregate.messages(), 2);
    }

    #[test]
    fn batches_keep_every_reject_and_the_next_offsets() {
        let line = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        let mut batch = MessageBatch::default();
        batch.push(line.as_bytes(), 1000, 0, 5);
        batch.push(b"bad", 1000, 1, 7);
        batch.push(line.as_bytes(), 1000, 0, 6);
        batch.push(b"{}", 1000, 2, 0);
        let partial = parse_batch(&Parser::default(), &batch);
        assert_eq!((partial.readings, partial.rejected), (2, 2));
        let Covers::Messages { positions, rejects } = &partial.covers else { panic!("{partial:?}") };
        assert_eq!(positions, &[(0, 7), (1, 8), (2, 1)]);
        let got: Vec<_> =
            rejects.iter().map(|r| (r.partition, r.offset, r.reason, r.payload.as_slice())).collect();
        assert_eq!(
            got,
            [(1, 7, RejectReason::MalformedJson, &b"bad"[..]), (2, 0, RejectReason::MissingField, b"{}")]
        );
    }

    #[test]
    fn output_keeps_the_input_order() {
        // Chunks of very different sizes finish out of order on the workers; the pipeline must still
        // see them (and the events between them) in the order the source sent them.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let line = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1}}}"#;
        let (tx, rx) = mpsc::channel(4);
        let mut events = spawn(rx, 3, Parser::default());
        std::thread::spawn(move || {
            let mut first = 1;
            for i in 0..60u64 {
                let n = if i % 3 == 0 { 2000 } else { 1 };
                let chunk = Chunk::from_vec(format!("{line}\n").repeat(n).into_bytes(), first);
                first += n as u64;
                tx.blocking_send(SourceEvent::Chunk(chunk)).unwrap();
                if i % 10 == 9 {
                    tx.blocking_send(SourceEvent::CaughtUp(i as i32)).unwrap();
                }
            }
            tx.blocking_send(SourceEvent::End).unwrap();
        });
        let seen = runtime.block_on(async {
            let mut seen = Vec::new();
            loop {
                match events.recv().await {
                    Some(SourceEvent::Parsed(partial)) => match partial.covers {
                        Covers::Lines { next_line, .. } => seen.push(next_line as i64),
                        other => panic!("{other:?}"),
                    },
                    Some(SourceEvent::CaughtUp(i)) => seen.push(-i64::from(i)),
                    Some(SourceEvent::End) => return seen,
                    other => panic!("{other:?}"),
                }
            }
        });
        let mut expected = Vec::new();
        let mut next = 1;
        for i in 0..60i64 {
            next += if i % 3 == 0 { 2000 } else { 1 };
            expected.push(next);
            if i % 10 == 9 {
                expected.push(-i);
            }
        }
        assert_eq!(seen, expected);
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
