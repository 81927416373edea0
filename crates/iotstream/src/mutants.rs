//! Deliberately broken engines, for the fault suite only: `analyze --fault-mutant NAME`, a flag
//! hidden from `--help` and refused in config files.
//!
//! A fault suite that passes is worth something only if it fails a broken engine. Each mutant
//! breaks one promise the README makes, in one place, and the suite (`tests/faults.rs`,
//! `scripts/faults --mutants`) must catch every one. A mutant acts only where its bug can (those
//! about resuming, only with `--state-dir`). Without the flag nothing here changes what the engine
//! does: every hook asks a [`Mutation`] that answers "no".

use std::path::Path;

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mutant {
    /// On resume, the result file is not cut back to its checkpointed length: results written
    /// after the last checkpoint are written again by the replay.
    NoCutBack,
    /// Input positions are acknowledged for commit as soon as they are read, before the results
    /// covering them are written (at most once, like auto-commit).
    AckBeforeWrite,
    /// Periodic checkpoints hold the positions but a blank operator, as if offsets were committed
    /// before processing: a crash loses the open windows. A clean stop still saves everything,
    /// so only a crash can expose it.
    PositionsWithoutState,
    /// Every 7th dead letter is silently not sent.
    DropDeadLetter,
    /// The first message batch after a restore is counted twice.
    DoubleCountReplay,
}

/// Every 7th dead letter is dropped by [`Mutant::DropDeadLetter`].
const DROP_EVERY: u64 = 7;

impl Mutant {
    /// The length a resumed result file is cut back to: the checkpoint's `recorded` length, or,
    /// for [`Mutant::NoCutBack`], whatever the file holds now (nothing is cut).
    pub fn resume_len(mutant: Option<Mutant>, output: Option<&Path>, recorded: Option<u64>) -> Option<u64> {
        match (mutant, output, recorded) {
            (Some(Mutant::NoCutBack), Some(path), Some(len)) => {
                Some(std::fs::metadata(path).map_or(len, |m| m.len().max(len)))
            }
            _ => recorded,
        }
    }
}

/// What a run's mutant, if any, remembers between the events it acts on.
#[derive(Debug, Default)]
pub struct Mutation {
    mutant: Option<Mutant>,
    /// Dead letters queued so far ([`Mutant::DropDeadLetter`]).
    dead_letters: u64,
    /// Restored from a checkpoint, and no message batch counted since.
    replay_starts: bool,
}

impl Mutation {
    /// The real engine (`None`) or a mutant.
    pub fn new(mutant: Option<Mutant>) -> Mutation {
        Mutation { mutant, ..Mutation::default() }
    }

    fn is(&self, mutant: Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    /// The run resumed from a checkpoint: what comes next is the replay.
    pub fn restored(&mut self) {
        self.replay_starts = true;
    }

    /// Whether to count the message batch at hand twice ([`Mutant::DoubleCountReplay`]: the
    /// first one after a restore).
    pub fn count_twice(&mut self) -> bool {
        std::mem::take(&mut self.replay_starts) && self.is(Mutant::DoubleCountReplay)
    }

    /// Whether to drop the dead letter at hand ([`Mutant::DropDeadLetter`]: every 7th).
    pub fn drop_dead_letter(&mut self) -> bool {
        if !self.is(Mutant::DropDeadLetter) {
            return false;
        }
        self.dead_letters += 1;
        self.dead_letters.is_multiple_of(DROP_EVERY)
    }

    /// Whether to acknowledge everything read, results written or not ([`Mutant::AckBeforeWrite`]).
    pub fn ack_unwritten(&self) -> bool {
        self.is(Mutant::AckBeforeWrite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_engine_is_never_mutated() {
        let mut real = Mutation::new(None);
        real.restored();
        assert!(!real.count_twice());
        assert!((0..100).all(|_| !real.drop_dead_letter()));
        assert!(!real.ack_unwritten());
        assert_eq!(Mutant::resume_len(None, Some(Path::new("/nonexistent")), Some(7)), Some(7));
    }

    #[test]
    fn each_mutant_acts_where_it_says() {
        let mut replay = Mutation::new(Some(Mutant::DoubleCountReplay));
        assert!(!replay.count_twice(), "only after a restore");
        replay.restored();
        assert!(replay.count_twice());
        assert!(!replay.count_twice(), "only the first batch");
        let mut drop = Mutation::new(Some(Mutant::DropDeadLetter));
        let dropped: Vec<u64> = (1..=21).filter(|_| drop.drop_dead_letter()).collect();
        assert_eq!(dropped.len(), 3);
        assert!(Mutation::new(Some(Mutant::AckBeforeWrite)).ack_unwritten());
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"0123456789").unwrap();
        assert_eq!(Mutant::resume_len(Some(Mutant::NoCutBack), Some(file.path()), Some(4)), Some(10));
        let named = <Mutant as clap::ValueEnum>::from_str("positions-without-state", false);
        assert_eq!(named, Ok(Mutant::PositionsWithoutState), "the name scripts/faults uses");
    }
}
