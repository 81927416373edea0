//! Offset commits, off the consumer's thread and retried.
//!
//! librdkafka reports nothing back for an asynchronous manual commit (it only logs a failure), so
//! commits are synchronous, on a thread of their own: the consumer keeps polling (and the pipeline
//! keeps running) however long a commit takes. A failed commit is counted
//! (`iotstream_commit_failures_total`) and retried after a growing pause, a bounded number of
//! times. A newer commit supersedes one waiting for its retry: positions only move forward, so
//! committing the newest ones covers the older.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::channel::Positions;
use crate::instruments;

/// How failed commits are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The pause after the first failure; each further failure doubles it.
    pub first: Duration,
    /// The longest pause.
    pub cap: Duration,
    /// Attempts at one commit, the first included.
    pub attempts: u32,
}

impl RetryPolicy {
    /// Six attempts over about six seconds: a broker restart is ridden out, and the pipeline
    /// acknowledges again within seconds anyway.
    pub const DEFAULT: RetryPolicy =
        RetryPolicy { first: Duration::from_millis(200), cap: Duration::from_secs(5), attempts: 6 };

    /// The pause after the `failed`-th failed attempt at a commit (1 for the first), or `None`
    /// once the attempts are used up.
    pub fn backoff(&self, failed: u32) -> Option<Duration> {
        if failed == 0 || failed >= self.attempts {
            return None;
        }
        let factor = 1u32.checked_shl(failed - 1).unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(self.cap))
    }
}

/// What the consumer's thread and the committing thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The newest positions not yet handed to a commit.
    next: Option<Positions>,
    /// No more positions will come: commit what is queued, then end.
    closing: bool,
    /// The committing thread has ended.
    done: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next positions to commit; `None` once closing with nothing queued.
    fn next(&self) -> Option<Positions> {
        let mut state = self.lock();
        loop {
            if let Some(positions) = state.next.take() {
                return Some(positions);
            }
            if state.closing {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits `pause` unless newer positions come first; those, if they do.
    fn newer_within(&self, pause: Duration) -> Option<Positions> {
        let deadline = Instant::now() + pause;
        let mut state = self.lock();
        loop {
            if let Some(positions) = state.next.take() {
                return Some(positions);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Commits positions on a thread of its own, with retries.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the committing thread; `commit` makes one synchronous attempt and says whether it
    /// succeeded (it logs its own errors).
    pub fn spawn(
        policy: RetryPolicy,
        mut commit: impl FnMut(&Positions) -> bool + Send + 'static,
    ) -> std::io::Result<Committer> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("kafka-commit".into()).spawn(move || {
                while let Some(positions) = shared.next() {
                    commit_with_retries(&shared, &policy, positions, &mut commit);
                }
                shared.lock().done = true;
                shared.changed.notify_all();
            })?
        };
        Ok(Committer { shared, thread: Some(thread) })
    }

    /// Queues `positions` for commit, replacing any still waiting.
    pub fn commit(&self, positions: Positions) {
        if positions.is_empty() {
            return;
        }
        self.shared.lock().next = Some(positions);
        self.shared.changed.notify_all();
    }

    /// Commits `positions` last and ends, waiting at most `grace` for it (a broker that is gone
    /// must not hold up the end of a run).
    pub fn finish(mut self, positions: Positions, grace: Duration) {
        self.commit(positions);
        let deadline = Instant::now() + grace;
        let mut state = self.shared.lock();
        state.closing = true;
        self.shared.changed.notify_all();
        while !state.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("the final offset commit did not finish in time; not waiting for it");
                return;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(state);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Committer {
    /// Lets the thread end once it has committed what is queued (and with it, its hold on the
    /// consumer, which closes when the last holder lets go).
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
    }
}

/// Commits `positions`, retrying failures as `policy` says, and switching to newer positions
/// whenever they come during a pause.
fn commit_with_retries(
    shared: &Shared,
    policy: &RetryPolicy,
    mut positions: Positions,
    commit: &mut impl FnMut(&Positions) -> bool,
) {
    let mut failed = 0;
    while !commit(&positions) {
        failed += 1;
        instruments::record_commit_failure();
        let Some(pause) = policy.backoff(failed) else {
            tracing::warn!(
                attempts = failed,
                ?positions,
                "giving up on an offset commit; the next one covers it"
            );
            return;
        };
        if let Some(newer) = shared.newer_within(pause) {
            positions = newer;
            failed = 0;
        }
    }
    tracing::debug!(?positions, "committed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const QUICK: RetryPolicy =
        RetryPolicy { first: Duration::from_millis(5), cap: Duration::from_millis(20), attempts: 4 };

    #[test]
    fn pauses_double_up_to_the_cap_and_attempts_are_bounded() {
        let policy = RetryPolicy::DEFAULT;
        let pauses: Vec<Option<Duration>> = (1..=6).map(|n| policy.backoff(n)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(pauses, vec![ms(200), ms(400), ms(800), ms(1600), ms(3200), None]);
        let capped = RetryPolicy { attempts: 40, ..policy };
        assert_eq!(capped.backoff(39), Some(Duration::from_secs(5)), "never more than the cap");
        assert_eq!(policy.backoff(0), None);
    }

    /// A committer whose attempts fail while `failing` says so, reporting each attempt.
    fn committer(
        mut failing: impl FnMut(&Positions) -> bool + Send + 'static,
    ) -> (Committer, mpsc::Receiver<Positions>) {
        let (tx, attempts) = mpsc::channel();
        let committer = Committer::spawn(QUICK, move |positions| {
            let _ = tx.send(positions.clone());
            !failing(positions)
        })
        .unwrap();
        (committer, attempts)
    }

    #[test]
    fn a_failed_commit_is_retried_until_it_succeeds() {
        let mut left = 2;
        let (committer, attempts) = committer(move |_| {
            left -= 1;
            left >= 0
        });
        committer.commit(vec![(0, 10)]);
        committer.finish(vec![], Duration::from_secs(5));
        let tried: Vec<Positions> = attempts.try_iter().collect();
        assert_eq!(tried, vec![vec![(0, 10)]; 3], "two failures, then the commit");
    }

    #[test]
    fn retries_are_bounded() {
        let (committer, attempts) = committer(|_| true);
        committer.commit(vec![(0, 10)]);
        for _ in 0..4 {
            attempts.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        assert!(
            attempts.recv_timeout(Duration::from_millis(200)).is_err(),
            "four attempts, then it gives up"
        );
        drop(committer);
    }

    #[test]
    fn newer_positions_supersede_a_commit_waiting_for_its_retry() {
        // Offset 10 always fails; once 20 is queued, it is committed instead and 10 never again.
        let (committer, attempts) = committer(|positions| positions == &vec![(0, 10)]);
        committer.commit(vec![(0, 10)]);
        let first = attempts.recv_timeout(Duration::from_secs(5)).unwrap();
        committer.commit(vec![(0, 20)]);
        committer.finish(vec![], Duration::from_secs(5));
        let tried: Vec<Positions> = std::iter::once(first).chain(attempts.try_iter()).collect();
        assert_eq!(tried.last(), Some(&vec![(0, 20)]));
        let after_first_20 = tried.iter().skip_while(|p| p != &&vec![(0, 20)]).count();
        assert_eq!(after_first_20, 1, "20 committed once, 10 not retried after it: {tried:?}");
    }

    #[test]
    fn finishing_waits_only_so_long_for_a_commit_that_hangs() {
        let (committer, _attempts) = committer(|_| {
            std::thread::sleep(Duration::from_secs(3));
            false
        });
        let started = Instant::now();
        committer.finish(vec![(0, 1)], Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
