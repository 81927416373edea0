//! Control loops of several instances over a real broker (Tansu, started by
//! `scripts/kafka-broker.sh`, memory storage): the group forms, a `kill`ed owner's and a `kill`ed
//! merger's partitions run again on the others within the lease timeout + 3 s, and the log holds
//! one assignment per membership change and one election per lost merger. `SCALE_KILLS=n` kills
//! n owners and n mergers (3 each by default); the failover times are printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::scaleout::ledger::Applied;

const PARTITIONS: usize = 6;
const TOPIC: &str = "g.control";

struct Broker {
    dir: tempfile::TempDir,
    port: u16,
}

impl Broker {
    fn script(&self, arg: &str) -> std::process::Output {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-broker.sh");
        Command::new(script)
            .arg(arg)
            .env("KAFKA_PORT", self.port.to_string())
            .env("TANSU_DATA_DIR", self.dir.path())
            .env("TANSU_STORAGE", "memory://tansu/")
            .output()
            .unwrap()
    }

    fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let broker = Broker { dir: tempfile::tempdir().unwrap(), port };
        let out = broker.script("start");
        assert!(out.status.success(), "broker: {}", String::from_utf8_lossy(&out.stderr));
        broker
    }

    fn connection(&self) -> Connection {
        Connection {
            brokers: format!("127.0.0.1:{}", self.port),
            options: Vec::new(),
            stop: Default::default(),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.script("stop");
    }
}

/// An instance: a thread stepping its loop every 100 ms; what it runs and whether it merges.
struct Member {
    name: String,
    running: Arc<Mutex<BTreeSet<u32>>>,
    merges: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(connection: &Connection, name: &str) -> Member {
        let log = ControlLog::open(connection, TOPIC, 0).unwrap();
        let mut control = ControlLoop::new(log, name, TIMING, PARTITIONS);
        let running = Arc::new(Mutex::new(BTreeSet::new()));
        let merges = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let (r, m, k) = (running.clone(), merges.clone(), killed.clone());
        let me = name.to_owned();
        let thread = std::thread::spawn(move || {
            while !k.load(Ordering::SeqCst) {
                let saved: BTreeMap<u32, i64> = BTreeMap::new();
                control.step(&saved).unwrap();
                *r.lock().unwrap() = control.running().clone();
                m.store(control.ledger().merges(&me), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Member { name: name.to_owned(), running, merges, killed, thread: Some(thread) }
    }

    /// Like `kill -9`: it stops writing at once and says nothing.
    fn kill(&mut self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// Every partition run by exactly one of `members`.
fn settled(members: &[Member]) -> bool {
    let mut all: Vec<u32> = members.iter().flat_map(|m| m.running.lock().unwrap().clone()).collect();
    all.sort_unstable();
    all == (0..PARTITIONS as u32).collect::<Vec<_>>()
        && members.iter().filter(|m| m.merges.load(Ordering::SeqCst)).count() == 1
}

fn wait_settled(members: &[Member], limit: Duration) -> Duration {
    let started = Instant::now();
    while !settled(members) {
        assert!(started.elapsed() < limit, "the group did not settle in {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Kills a member that runs partitions (the merger if `merger`, else one that is not) and
/// returns how long until the others run everything again.
fn kill_one(members: &mut Vec<Member>, merger: bool) -> Duration {
    let index = members
        .iter()
        .position(|m| m.merges.load(Ordering::SeqCst) == merger && !m.running.lock().unwrap().is_empty())
        .unwrap();
    let mut victim = members.remove(index);
    victim.kill();
    wait_settled(members, Duration::from_secs(30))
}

/// The log as an observer reads it: assignments and elections.
fn decisions(connection: &Connection) -> (Vec<crate::scaleout::records::Assignment>, usize) {
    let mut log = ControlLog::open(connection, TOPIC, 0).unwrap();
    let mut ledger = Ledger::starting(0);
    let (mut assignments, mut elections) = (Vec::new(), 0);
    loop {
        let (records, at_end) = log.read().unwrap();
        for (offset, entry) in records {
            for applied in ledger.apply(entry, offset, 0) {
                match applied {
                    Applied::Assigned => assignments.push(ledger.state().assignment.clone()),
                    Applied::Elected => elections += 1,
                    _ => {}
                }
            }
        }
        if at_end {
            return (assignments, elections);
        }
    }
}

#[test]
fn over_a_real_broker_failover_is_bounded_and_nothing_moves_without_a_membership_change() {
    let kills: usize = std::env::var("SCALE_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let broker = Broker::start();
    let connection = broker.connection();
    connection.ensure_topic(TOPIC, 1).unwrap();
    let mut members: Vec<Member> = (0..3).map(|i| Member::start(&connection, &format!("m{i}"))).collect();
    wait_settled(&members, Duration::from_secs(30));
    let mut times = BTreeMap::<bool, Vec<f64>>::new();
    for (round, name) in (0..2 * kills).zip(3..) {
        let merger = round % 2 == 1;
        let took = kill_one(&mut members, merger);
        times.entry(merger).or_default().push(took.as_secs_f64());
        assert!(took <= Duration::from_secs(9), "failover took {took:?}: more than the lease timeout + 3 s");
        members.push(Member::start(&connection, &format!("m{name}")));
        wait_settled(&members, Duration::from_secs(30));
        // Quiet for a while: nothing may move.
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!("failover after killing an owner (s): {:?}", times.get(&false));
    eprintln!("failover after killing the merger (s): {:?}", times.get(&true));
    for member in &mut members {
        member.kill();
    }
    let (assignments, elections) = decisions(&connection);
    assert_eq!(elections, 1 + kills, "one election at the start and one per killed merger");
    // Three starts (one assignment each, or fewer when they come together), then per round a kill
    // and a start: one assignment each.
    assert!(assignments.iter().all(|a| !a.changes.is_empty()));
    let after_start = assignments.iter().skip_while(|a| a.members.len() < 3).count() - 1;
    assert_eq!(
        after_start,
        2 * 2 * kills,
        "one assignment per kill and per start, none else: {assignments:#?}"
    );
    let names: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
    assert_eq!(assignments.last().map(|a| a.members.iter().cloned().collect::<BTreeSet<_>>()), Some(names));
}
