//! The kernel's random-number generator: ChaCha20, seeded from the entropy device, and reseeded with the VM
//! generation ID whenever that changes: Firecracker gives every VM restored from a snapshot a new one, so
//! clones of one snapshot, which resume with the same generator state, draw different numbers (as Linux's
//! `vmgenid` driver makes its generator do).

use ember_frame::sync::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// The generator and the VM generation ID it last took in.
struct State {
    rng: ChaCha20Rng,
    generation: Option<[u8; 16]>,
}

static RNG: Mutex<Option<State>> = Mutex::new(None);

/// Seeds (or reseeds) the generator.
pub fn seed(seed: [u8; 32]) {
    *RNG.lock() = Some(State {
        rng: ChaCha20Rng::from_seed(seed),
        generation: None,
    });
}

/// Fills `buf` with random bytes; `false` (and `buf` untouched) when the generator has no seed yet.
pub fn fill(buf: &mut [u8]) -> bool {
    let generation = ember_frame::irq::vm_generation_id();
    match RNG.lock().as_mut() {
        Some(st) => {
            if generation.is_some() && generation != st.generation {
                take_in(st, generation);
            }
            st.rng.fill_bytes(buf);
            true
        }
        None => false,
    }
}

/// Reseeds from the generator's own output with a new VM generation ID mixed in.
fn take_in(st: &mut State, generation: Option<[u8; 16]>) {
    let mut seed = [0u8; 32];
    st.rng.fill_bytes(&mut seed);
    for (s, g) in seed.iter_mut().zip(generation.iter().flatten()) {
        *s ^= g;
    }
    st.rng = ChaCha20Rng::from_seed(seed);
    if st.generation.is_some() {
        log::info!("random: the VM generation ID changed (restored from a snapshot); reseeded");
    }
    st.generation = generation;
}

/// Seeds the generator from the clocks when no entropy device did: weak, but every boot differs.
pub fn seed_if_unseeded() {
    let mut rng = RNG.lock();
    if rng.is_none() {
        log::warn!("random: no entropy device; seeding from the clocks (not for cryptography)");
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&ember_frame::time::wall_clock_ns().to_le_bytes());
        seed[8..16].copy_from_slice(&ember_frame::time::now_ns().to_le_bytes());
        *rng = Some(State {
            rng: ChaCha20Rng::from_seed(seed),
            generation: None,
        });
    }
}
