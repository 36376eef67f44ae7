//! Links a freestanding static Linux executable: no libc, entry `_start`.

include!("../freestanding-link.rs");

fn main() {
    link_freestanding("bench-init", None);
}
