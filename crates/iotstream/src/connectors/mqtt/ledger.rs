//! Which MQTT messages the pipeline has, under which position, and which to acknowledge.
//!
//! MQTT has no offsets: the source numbers messages as it hands them over (the position a
//! checkpoint records), and acknowledges a message (PUBACK) only once the pipeline says its effect
//! is safe. A broker sends an unacknowledged message again after a reconnection, marked as a
//! duplicate, and it must not be counted twice if the pipeline already has it. Packet ids are 16
//! bits and reused, so a message is recognised by its packet id *and* a hash of its topic and
//! payload, among the messages handed over recently (the broker can only send again what was in
//! flight, and at most 65,535 messages are).
//!
//! With a state directory the ledger is also a journal on disk, written before each hand-over
//! (and synced by the pipeline before each checkpoint, so that a checkpoint on disk always finds
//! the entries of what it counts): a run restarted from a checkpoint knows which redelivered
//! messages the checkpoint already counts (those below its position) and which it does not
//! (those above, handed over after it and lost with the crash: they are counted again, under new
//! positions).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Identities kept for recognising redeliveries: twice the most messages that can be in flight.
const KEEP: usize = 2 * 65_536;
/// Bytes per journal record: position (8), packet id (2), hash (8).
const RECORD: usize = 18;

/// One QoS 1 message handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    seq: u64,
    pkid: u16,
    hash: u64,
}

/// What to do with a message received.
#[derive(Debug, PartialEq, Eq)]
pub enum Receipt {
    /// New: hand it over at this position.
    New(u64),
    /// Sent again, and already handed over: drop it; acknowledge it now if `ack_now` (its
    /// position is already safe), else it is acknowledged with its original.
    Redelivered {
        /// Its position is below what has been acknowledged.
        ack_now: bool,
    },
}

/// Positions, identities and acknowledgements (see the module docs).
#[derive(Debug, Default)]
pub struct Ledger {
    /// The next position to hand out.
    next: u64,
    /// Everything below this has been acknowledged (or is safe and would be, if sent again).
    acked: u64,
    /// Recent QoS 1 messages, in position order.
    entries: VecDeque<Entry>,
    /// Identity → position, for the entries.
    known: HashMap<(u16, u64), u64>,
    /// With a state directory: where entries go before their messages are handed over.
    journal: Option<Journal>,
    /// Entries not yet in the journal.
    unwritten: Vec<Entry>,
}

impl Ledger {
    /// A ledger in memory, starting at position 0 (no state directory: nothing to resume).
    pub fn in_memory() -> Ledger {
        Ledger::default()
    }

    /// The ledger of a run with a state directory, resuming at `resume` (the checkpoint's
    /// position; 0 without one): what the journal says was handed over below it is counted;
    /// what was handed over above it was lost with the crash and is forgotten.
    pub fn journaled(path: PathBuf, resume: u64) -> io::Result<Ledger> {
        let mut entries: VecDeque<Entry> =
            read_journal(&path)?.into_iter().filter(|e| e.seq < resume).collect();
        while entries.len() > KEEP {
            entries.pop_front();
        }
        let journal = Journal::rewrite(path, &entries)?;
        let known = entries.iter().map(|e| ((e.pkid, e.hash), e.seq)).collect();
        Ok(Ledger {
            next: resume,
            acked: resume,
            entries,
            known,
            journal: Some(journal),
            unwritten: Vec::new(),
        })
    }

    /// A message arrives: new (and its position), or a redelivery of one handed over.
    pub fn receive(&mut self, pkid: u16, hash: u64, dup: bool, qos: u8) -> Receipt {
        if dup {
            if let Some(&seq) = self.known.get(&(pkid, hash)) {
                return Receipt::Redelivered { ack_now: seq < self.acked };
            }
        }
        let seq = self.next;
        self.next += 1;
        if qos > 0 {
            let entry = Entry { seq, pkid, hash };
            self.entries.push_back(entry);
            self.known.insert((pkid, hash), seq);
            if self.journal.is_some() {
                self.unwritten.push(entry);
            }
            self.trim();
        }
        Receipt::New(seq)
    }

    /// Writes the entries of messages about to be handed over to the journal (a process crash
    /// after the hand-over finds them; the checkpoint that counts them syncs the file first).
    pub fn before_hand_over(&mut self) -> io::Result<()> {
        if let Some(journal) = &mut self.journal {
            if !self.unwritten.is_empty() {
                journal.append(&self.unwritten)?;
                self.unwritten.clear();
            }
            if journal.records > 2 * KEEP {
                journal.compact(&self.entries)?;
            }
        }
        Ok(())
    }

    /// Everything below `position` is safe: the packet ids to acknowledge now (in order).
    pub fn safe_through(&mut self, position: u64) -> Vec<u16> {
        if position <= self.acked {
            return Vec::new();
        }
        let from = self.entries.partition_point(|e| e.seq < self.acked);
        let to = self.entries.partition_point(|e| e.seq < position);
        self.acked = position;
        let pkids = self.entries.range(from..to).map(|e| e.pkid).collect();
        self.trim();
        pkids
    }

    /// QoS 1 messages handed over and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.entries.len() - self.entries.partition_point(|e| e.seq < self.acked)
    }

    /// The next position.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Forgets the oldest acknowledged identities beyond [`KEEP`].
    fn trim(&mut self) {
        while self.entries.len() > KEEP && self.entries.front().is_some_and(|e| e.seq < self.acked) {
            if let Some(old) = self.entries.pop_front() {
                if self.known.get(&(old.pkid, old.hash)) == Some(&old.seq) {
                    self.known.remove(&(old.pkid, old.hash));
                }
            }
        }
    }
}

/// The journal file: fixed-size records appended, rewritten whole when it grows too long.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    file: File,
    records: usize,
}

impl Journal {
    /// Replaces the file with `entries` (through a temporary file and a rename).
    fn rewrite(path: PathBuf, entries: &VecDeque<Entry>) -> io::Result<Journal> {
        let temporary = path.with_extension("new");
        let mut file = File::create(&temporary)?;
        file.write_all(&encode(entries.iter()))?;
        file.sync_data()?;
        std::fs::rename(&temporary, &path)?;
        if let Some(dir) = path.parent() {
            // The rename itself must survive an OS crash.
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Journal { path, file, records: entries.len() })
    }

    fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        self.file.write_all(&encode(entries.iter()))?;
        self.records += entries.len();
        Ok(())
    }

    fn compact(&mut self, entries: &VecDeque<Entry>) -> io::Result<()> {
        *self = Journal::rewrite(self.path.clone(), entries)?;
        Ok(())
    }
}

fn encode<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in entries {
        bytes.extend_from_slice(&e.seq.to_le_bytes());
        bytes.extend_from_slice(&e.pkid.to_le_bytes());
        bytes.extend_from_slice(&e.hash.to_le_bytes());
    }
    bytes
}

/// The journal's whole records (a record torn by a crash is ignored: its message was never handed
/// over); none if there is no journal yet.
fn read_journal(path: &Path) -> io::Result<Vec<Entry>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| {
            let mut seq = [0; 8];
            let mut pkid = [0; 2];
            let mut hash = [0; 8];
            seq.copy_from_slice(&r[..8]);
            pkid.copy_from_slice(&r[8..10]);
            hash.copy_from_slice(&r[10..]);
            Entry {
                seq: u64::from_le_bytes(seq),
                pkid: u16::from_le_bytes(pkid),
                hash: u64::from_le_bytes(hash),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_new_messages_and_redeliveries_are_recognised() {
        let mut ledger = Ledger::in_memory();
        assert_eq!(ledger.receive(1, 11, false, 1), Receipt::New(0));
        assert_eq!(ledger.receive(2, 22, false, 1), Receipt::New(1));
        assert_eq!(ledger.receive(0, 33, false, 0), Receipt::New(2), "QoS 0 has a position, no ack");
        assert_eq!(ledger.unacked(), 2);
        assert_eq!(ledger.receive(1, 11, true, 1), Receipt::Redelivered { ack_now: false });
        assert_eq!(ledger.receive(1, 99, true, 1), Receipt::New(3), "same packet id, other message");
        assert_eq!(ledger.receive(2, 22, false, 1), Receipt::New(4), "not marked dup: a new message");
        assert_eq!(ledger.safe_through(2), vec![1, 2]);
        assert_eq!(ledger.safe_through(2), Vec::<u16>::new(), "acknowledged once");
        assert_eq!(ledger.receive(1, 11, true, 1), Receipt::Redelivered { ack_now: true });
        assert_eq!(ledger.safe_through(5), vec![1, 2]);
        assert_eq!(ledger.unacked(), 0);
    }

    #[test]
    fn a_restart_knows_what_its_checkpoint_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mqtt-ledger");
        let mut ledger = Ledger::journaled(path.clone(), 0).unwrap();
        for pkid in 1..=5 {
            ledger.receive(pkid, u64::from(pkid) * 10, false, 1);
        }
        ledger.before_hand_over().unwrap();
        // A torn record at the end (a crash while writing) is ignored.
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&[1, 2, 3]).unwrap();
        drop(ledger);
        // The checkpoint covers positions 0..3: messages 1–3 are counted, 4 and 5 are not.
        let mut ledger = Ledger::journaled(path.clone(), 3).unwrap();
        assert_eq!(ledger.receive(3, 30, true, 1), Receipt::Redelivered { ack_now: true });
        assert_eq!(ledger.receive(4, 40, true, 1), Receipt::New(3));
        assert_eq!(ledger.receive(5, 50, true, 1), Receipt::New(4));
        ledger.before_hand_over().unwrap();
        drop(ledger);
        let ledger = Ledger::journaled(path, 5).unwrap();
        assert_eq!(ledger.next(), 5);
        assert_eq!(ledger.entries.len(), 5, "positions 0..5, each once");
    }

    #[test]
    fn identities_are_bounded_but_unacknowledged_ones_kept() {
        let mut ledger = Ledger::in_memory();
        for i in 0..(KEEP as u64 + 10) {
            ledger.receive(i as u16, i, false, 1);
        }
        assert_eq!(ledger.entries.len(), KEEP + 10, "nothing acknowledged: all kept");
        ledger.safe_through(KEEP as u64);
        assert_eq!(ledger.entries.len(), KEEP);
        assert_eq!(ledger.known.len(), KEEP);
    }
}
