//! What several commands share: a runtime to run a future on, the closing rate log line, and the
//! closed-stdout test `main` uses.

use std::io;
use std::time::Instant;

use anyhow::Context as _;

/// True if `error` is a closed stdout (`iotstream simulate | head`), which ends a run quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Runs `future` to its end on a runtime of its own.
pub fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Logs how many messages went out, how fast.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub fn report_rate(what: &str, messages: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let rate = messages as f64 / seconds.max(1e-9);
    tracing::info!(messages, seconds = format!("{seconds:.2}"), rate = format!("{rate:.0}/s"), "{what}");
}
