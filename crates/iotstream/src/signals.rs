//! Ctrl-C and SIGTERM, caught from the first moment of a run, so that a stop asked for at any time
//! is a clean stop.
//!
//! Start-up can block for a long time (the broker's metadata and committed offsets, up to 30 s
//! each) before the run loop exists. Were the handlers installed by the loop, SIGTERM in that time
//! would kill the process with its default action. So [`install`] puts them on a thread of their
//! own, before anything else happens, and they set a [`Stop`] that start-up checks between its
//! steps (and while it waits for the broker) and the run loop waits on.
//!
//! Once a stop is asked for, every wait on an outside system (the store, a broker, the webhook's
//! receiver, an MQTT broker) has [`STOP_GRACE`] to end as it would, so that a clean stop still
//! writes what it can; then it gives way ([`Stop::overdue`]), and the run ends at once without
//! acknowledging or checkpointing what was not written, exactly as after a `kill -9`. A second
//! Ctrl-C or SIGTERM ends the process at once, whatever it is doing.

use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The longest a [`Stop::sleep`] goes without looking at the stop.
pub const STOP_SLICE: Duration = Duration::from_millis(100);

/// How long, after a stop is asked for, a wait on an outside system may go on before it gives
/// way: short enough that the process is gone within 2 s of the signal, long enough for a healthy
/// store or broker to take the last results of a clean stop.
pub const STOP_GRACE: Duration = Duration::from_millis(1000);

/// The exit status after a second stop request: 128 + SIGINT, as shells report an interrupt.
const EXIT_SECOND_STOP: i32 = 130;

/// Whether a stop has been asked for, and since when; clones share it.
#[derive(Clone, Debug)]
pub struct Stop {
    asked: watch::Receiver<bool>,
    /// When a clone first saw the request (within [`STOP_SLICE`] of it: every wait looks at
    /// least that often).
    since: Arc<OnceLock<Instant>>,
}

/// A stop came before the run started; nothing was left half done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stopped during start-up")]
pub struct Stopped;

impl Stop {
    /// A stop asked for by hand (tests, and runs that need no signals), with its trigger.
    pub fn manual() -> (watch::Sender<bool>, Stop) {
        let (trigger, asked) = watch::channel(false);
        (trigger, Stop { asked, since: Arc::default() })
    }

    /// True once a stop has been asked for.
    pub fn is_requested(&self) -> bool {
        let asked = *self.asked.borrow();
        if asked {
            self.since.get_or_init(Instant::now);
        }
        asked
    }

    /// True once a stop was asked for more than [`STOP_GRACE`] ago: a wait on an outside system
    /// gives way then.
    pub fn overdue(&self) -> bool {
        self.is_requested() && self.since.get().is_some_and(|since| since.elapsed() >= STOP_GRACE)
    }

    /// How long a wait may still go on: until [`STOP_GRACE`] after the stop, or `patience` when
    /// no stop has been asked for.
    pub fn patience(&self, patience: Duration) -> Duration {
        match self.is_requested().then(|| self.since.get()).flatten() {
            Some(since) => STOP_GRACE.saturating_sub(since.elapsed()).min(patience),
            None => patience,
        }
    }

    /// [`Stopped`] once the stop is [`overdue`](Stop::overdue): what waits on an outside system
    /// during a run calls this between its attempts.
    pub fn give_way(&self) -> Result<(), Stopped> {
        match self.overdue() {
            true => Err(Stopped),
            false => Ok(()),
        }
    }

    /// [`Stopped`] if a stop has been asked for: start-up calls this between its steps.
    pub fn check(&self) -> Result<(), Stopped> {
        match self.is_requested() {
            true => Err(Stopped),
            false => Ok(()),
        }
    }

    /// Sleeps `duration` on this thread, or less: [`Stopped`] once the stop is overdue (seen
    /// within [`STOP_SLICE`]). What waits on an outside system (a retry's backoff) waits here, so
    /// that it gives way to a stop.
    pub fn sleep(&self, duration: Duration) -> Result<(), Stopped> {
        let until = Instant::now() + duration;
        loop {
            self.give_way()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(STOP_SLICE));
        }
    }

    /// Resolves once a stop is asked for; never, if nothing can ask any more.
    pub async fn requested(&self) {
        let mut asked = self.asked.clone();
        if asked.wait_for(|asked| *asked).await.is_err() {
            std::future::pending::<()>().await;
        }
        self.is_requested();
    }
}

impl Default for Stop {
    /// A stop that is never asked for.
    fn default() -> Stop {
        Stop::manual().1
    }
}

/// Why the handlers could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The signal thread could not be started.
    #[error("cannot start the signal thread")]
    Thread(#[source] std::io::Error),
    /// The signal thread ended before it said whether it could listen.
    #[error("the signal thread ended")]
    Ended,
    /// The handlers could not be registered.
    #[error("cannot install handlers for Ctrl-C and SIGTERM")]
    Install(#[source] std::io::Error),
}

/// Installs the handlers for Ctrl-C and SIGTERM, from which on neither kills the process: they ask
/// for a stop instead. Returns once the handlers are in place.
pub fn install() -> Result<Stop, SignalError> {
    let (trigger, stop) = Stop::manual();
    let (installed, ready) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || listen(trigger, installed))
        .map_err(SignalError::Thread)?;
    ready.recv().map_err(|_| SignalError::Ended)?.map_err(SignalError::Install)?;
    Ok(stop)
}

/// The signal thread: a small runtime of its own, so that signals are seen while the main thread
/// is blocked. It stays for the life of the process, and so do the handlers: the first signal asks
/// for a stop; a second one ends the process at once (nothing more is written or acknowledged:
/// the next run reads again what was not, as after a `kill -9`).
fn listen(trigger: watch::Sender<bool>, installed: std_mpsc::Sender<std::io::Result<()>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = installed.send(Err(error));
            return;
        }
    };
    runtime.block_on(async move {
        let mut signals = match Signals::register() {
            Ok(signals) => signals,
            Err(error) => {
                let _ = installed.send(Err(error));
                return;
            }
        };
        let _ = installed.send(Ok(()));
        signals.next().await;
        tracing::info!("stop requested");
        trigger.send_replace(true);
        signals.next().await;
        tracing::warn!(
            "second stop request: exiting at once; what was not written or acknowledged is read again by the next run"
        );
        std::process::exit(EXIT_SECOND_STOP);
    });
}

/// The registered handlers.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers now (tokio's `ctrl_c` would register only when first polled).
    fn register() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_seen_by_every_clone_at_once_and_later() {
        let (trigger, stop) = Stop::manual();
        let clone = stop.clone();
        assert_eq!(stop.check(), Ok(()));
        trigger.send_replace(true);
        assert_eq!(clone.check(), Err(Stopped));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(stop.requested());
        assert!(!Stop::default().is_requested());
    }

    #[test]
    fn a_sleep_gives_way_to_a_stop_once_its_grace_is_over() {
        let (trigger, stop) = Stop::manual();
        assert_eq!(stop.sleep(Duration::from_millis(5)), Ok(()));
        assert_eq!(stop.patience(Duration::from_secs(9)), Duration::from_secs(9), "no stop: all of it");
        let asked = Arc::new(OnceLock::new());
        let when = Arc::clone(&asked);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            when.get_or_init(Instant::now);
            trigger.send_replace(true);
        });
        assert_eq!(stop.sleep(Duration::from_secs(60)), Err(Stopped));
        let waited = asked.get().unwrap().elapsed();
        assert!(waited >= STOP_GRACE && waited < STOP_GRACE + 6 * STOP_SLICE, "{waited:?}");
        assert!(stop.overdue() && stop.give_way().is_err());
        assert_eq!(stop.patience(Duration::from_secs(9)), Duration::ZERO);
    }

    #[test]
    fn a_wait_started_after_a_stop_has_what_is_left_of_the_grace() {
        let (trigger, stop) = Stop::manual();
        trigger.send_replace(true);
        assert!(stop.is_requested() && !stop.overdue(), "the grace has just begun");
        let left = stop.patience(Duration::from_secs(60));
        assert!(left <= STOP_GRACE && left > STOP_GRACE / 2, "{left:?}");
        assert_eq!(stop.patience(Duration::from_millis(3)), Duration::from_millis(3));
        assert_eq!(stop.give_way(), Ok(()));
    }
}
