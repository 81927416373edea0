//! Ctrl-C and SIGTERM, caught from the first moment of a run, so that a stop asked for at any time
//! is a clean stop.
//!
//! Start-up can block for a long time (the broker's metadata and committed offsets, up to 30 s
//! each) before the run loop exists. Were the handlers installed by the loop, SIGTERM in that time
//! would kill the process with its default action. So [`install`] puts them on a thread of their
//! own, before anything else happens, and they set a [`Stop`] that start-up checks between its
//! steps (and while it waits for the broker) and the run loop waits on.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The longest a [`Stop::sleep`] goes without looking at the stop.
pub const STOP_SLICE: Duration = Duration::from_millis(100);

/// Whether a stop has been asked for; clones share it.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<bool>);

/// A stop came before the run started; nothing was left half done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stopped during start-up")]
pub struct Stopped;

impl Stop {
    /// A stop asked for by hand (tests, and runs that need no signals), with its trigger.
    pub fn manual() -> (watch::Sender<bool>, Stop) {
        let (trigger, stop) = watch::channel(false);
        (trigger, Stop(stop))
    }

    /// True once a stop has been asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// [`Stopped`] if a stop has been asked for: start-up calls this between its steps.
    pub fn check(&self) -> Result<(), Stopped> {
        match self.is_requested() {
            true => Err(Stopped),
            false => Ok(()),
        }
    }

    /// Sleeps `duration` on this thread, or less: [`Stopped`] as soon as a stop is asked for
    /// (seen within [`STOP_SLICE`]). What waits on an outside system (a retry's backoff) waits
    /// here, so that it gives way to a stop.
    pub fn sleep(&self, duration: Duration) -> Result<(), Stopped> {
        let until = Instant::now() + duration;
        loop {
            self.check()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(STOP_SLICE));
        }
    }

    /// Resolves once a stop is asked for; never, if nothing can ask any more.
    pub async fn requested(&self) {
        let mut stop = self.0.clone();
        if stop.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Default for Stop {
    /// A stop that is never asked for.
    fn default() -> Stop {
        let (_, stop) = watch::channel(false);
        Stop(stop)
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
/// is blocked. It stays for the life of the process, and so do the handlers: a second signal
/// while the run is finishing is ignored, not fatal.
fn listen(trigger: watch::Sender<bool>, installed: std_mpsc::Sender<std::io::Result<()>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = installed.send(Err(error));
            return;
        }
    };
    runtime.block_on(async move {
        let signals = match Signals::register() {
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
        std::future::pending::<()>().await;
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
    async fn next(mut self) {
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
    fn a_sleep_gives_way_to_a_stop() {
        let (trigger, stop) = Stop::manual();
        assert_eq!(stop.sleep(Duration::from_millis(5)), Ok(()));
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            trigger.send_replace(true);
        });
        assert_eq!(stop.sleep(Duration::from_secs(60)), Err(Stopped));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
