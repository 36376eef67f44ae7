//! Links the shim as a freestanding static ELF at 0x40000 physical: between Firecracker's boot structures and
//! command line (below 0x30000) and ember at 1 MiB, in RAM whatever the VM's size.

include!("../freestanding-link.rs");

fn main() {
    link_freestanding("linux64-shim", Some("link.ld"));
}
