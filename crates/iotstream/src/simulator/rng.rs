//! The simulator's random numbers: `xoshiro256++`, with the conversions written out here so that the
//! stream for a given seed is fixed by this file alone, not by a library's choice of algorithm.

use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded generator with the three draws the seed's simulator uses.
pub(super) struct Rng(Xoshiro256PlusPlus);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias, under n/2⁶⁴, is far below anything a
    /// simulation could show).
    #[inline]
    pub(super) fn below(&mut self, n: u32) -> u32 {
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u32
    }

    /// Uniform in `[low, high)`, like Python's `random.uniform`.
    #[inline]
    pub(super) fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        low + (high - low) * unit
    }
}

/// A seed from the OS clock and process id, for runs that did not ask for one.
pub(super) fn entropy_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}
