//! The dashboard in a build without the `http` feature: `--http` is refused when the run is
//! planned. The same names as `dashboard/mod.rs` where the plan uses them.

use std::net::SocketAddr;

/// Why the dashboard cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Asked for, without the feature.
    #[error("this build has no dashboard (the `http` feature); drop --http")]
    NotBuilt,
}

/// Refuses every `--http`.
pub fn check(_: SocketAddr, _: Option<&str>) -> Result<(), Error> {
    Err(Error::NotBuilt)
}
