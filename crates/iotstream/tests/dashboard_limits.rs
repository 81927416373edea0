//! The dashboard's limits, over real HTTP against the binary (README, "Security"; `dashboard/`):
//! at most 64 event streams at once (the 65th is turned away with 503 until one closes), and
//! request bodies capped at 1 KiB (a larger one is refused with 413, whatever the route or
//! method; the cap itself is accepted).

#![cfg(feature = "http")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use common::process::{wait_until, Process};
use common::{bin, get};

/// A demo with its dashboard, events every second, and a rate limit that the test stays under.
fn demo(dir: &std::path::Path) -> (Process, String) {
    let mut command = bin();
    command.args(["demo", "--http", "127.0.0.1:0", "--rate", "200", "--window", "1s", "--seed", "7"]);
    command.args(["--http-rate-limit", "1000"]);
    let demo = Process::start(command, dir, "demo");
    let addr = demo.dashboard();
    (demo, addr)
}

/// Opens `/api/events`: the status line and, once admitted, the stream kept open.
fn open_stream(addr: &str) -> (u16, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, reader)
}

/// The next lines of an answer (a refusal's headers and body; at most 20 lines, and no longer
/// than a second's wait for each: an admitted stream never ends).
fn rest(reader: &mut BufReader<TcpStream>) -> String {
    reader.get_ref().set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut text = String::new();
    for _ in 0..20 {
        match reader.read_line(&mut text) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    text
}

#[test]
fn at_most_64_event_streams_are_open_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, addr) = demo(dir.path());
    let mut open = Vec::new();
    for n in 1..=64 {
        let (status, mut stream) = open_stream(&addr);
        assert_eq!(status, 200, "stream {n} was turned away: {}", rest(&mut stream));
        // Admitted and streaming: its first event comes.
        let mut line = String::new();
        while !line.starts_with("event: ") {
            line.clear();
            assert!(stream.read_line(&mut line).unwrap() > 0, "stream {n} ended");
        }
        open.push(stream);
    }
    let (status, mut refused) = open_stream(&addr);
    let answer = rest(&mut refused);
    assert_eq!(status, 503, "the 65th stream: {answer}");
    assert!(answer.contains("too many open dashboards"), "{answer}");
    // Other routes still answer.
    assert_eq!(get(&addr, "/api/status", &[]).0, 200);
    // A browser that leaves makes room (the server notices at its next event, within a second).
    drop(open.pop());
    wait_until("room for another stream", Duration::from_secs(10), || {
        let (status, stream) = open_stream(&addr);
        let admitted = status == 200;
        if admitted {
            open.push(stream);
        }
        admitted
    });
    let (status, _) = open_stream(&addr);
    assert_eq!(status, 503, "64 open again");
}

/// Sends `METHOD PATH` with a body of `size` bytes (declared with Content-Length, or sent in
/// chunks); the answer's status.
fn with_body(addr: &str, method: &str, path: &str, size: usize, chunked: bool) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let length =
        if chunked { "Transfer-Encoding: chunked".to_owned() } else { format!("Content-Length: {size}") };
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{length}\r\n\r\n")
            .into_bytes();
    if chunked {
        for piece in vec![b'x'; size].chunks(300) {
            request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            request.extend_from_slice(piece);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend(std::iter::repeat_n(b'x', size));
    }
    // The server may answer and close before it has read everything: that is a refusal too.
    let _ = stream.write_all(&request);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn request_bodies_over_1_kib_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, addr) = demo(dir.path());
    let line = String::from_utf8(common::run(&["simulate", "1", "--seed", "7"]).stdout).unwrap();
    let guid = line.split('"').nth(3).unwrap().to_owned();
    let sensor = format!("/api/sensors/{guid}");
    wait_until("the sensor's first reading", Duration::from_secs(30), || get(&addr, &sensor, &[]).0 == 200);
    for path in ["/api/status", sensor.as_str(), "/api/windows?limit=2"] {
        assert_eq!(with_body(&addr, "GET", path, 1024, false), 200, "{path}: a body of 1 KiB is taken");
        assert_eq!(with_body(&addr, "GET", path, 1025, false), 413, "{path}: a body over 1 KiB");
        assert_eq!(with_body(&addr, "GET", path, 4096, true), 413, "{path}: chunks over 1 KiB");
        assert_eq!(with_body(&addr, "POST", path, 4096, false), 413, "{path}: a POST over 1 KiB");
    }
    // Nothing else changed: the same requests without a body answer as before.
    assert_eq!(get(&addr, &sensor, &[]).0, 200);
    assert_eq!(with_body(&addr, "POST", "/api/status", 10, false), 405, "only GET is served");
}
