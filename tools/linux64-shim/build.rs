//! Links the shim as a freestanding static ELF at 8 MiB physical (out of the way of ember at 1 MiB and of
//! Firecracker's boot structures below 1 MiB).

include!("../freestanding-link.rs");

fn main() {
    link_freestanding("linux64-shim", Some("link.ld"));
}
