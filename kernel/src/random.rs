//! The kernel's random-number generator: ChaCha20, seeded from the entropy device.

use ember_frame::sync::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

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

/// Seeds the generator from the clocks when no entropy device did: weak, but every boot differs.
pub fn seed_if_unseeded() {
    let mut rng = RNG.lock();
    if rng.is_none() {
        log::warn!("random: no entropy device; seeding from the clocks (not for cryptography)");
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&ember_frame::time::wall_clock_ns().to_le_bytes());
        seed[8..16].copy_from_slice(&ember_frame::time::now_ns().to_le_bytes());
        *rng = Some(ChaCha20Rng::from_seed(seed));
    }
}
