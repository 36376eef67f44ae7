//! The kernel's random-number generator: ChaCha20, seeded from the entropy device.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use spin::Mutex;

static RNG: Mutex<Option<ChaCha20Rng>> = Mutex::new(None);

/// Seeds (or reseeds) the generator.
pub fn seed(seed: [u8; 32]) {
    *RNG.lock() = Some(ChaCha20Rng::from_seed(seed));
}

/// Fills `buf` with random bytes; `false` (and `buf` untouched) when the generator has no seed yet.
pub fn fill(buf: &mut [u8]) -> bool {
    match RNG.lock().as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            true
        }
        None => false,
    }
}
