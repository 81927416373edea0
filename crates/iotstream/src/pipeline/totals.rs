//! What a run did, in totals: for the closing log line, the command's answer, and tests.

/// Totals over a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Readings counted in results.
    pub readings: u64,
    /// Rejected messages (late and future ones included).
    pub rejected: u64,
    /// Results emitted.
    pub results: u64,
}
