//! Links the kernel image as a freestanding static ELF with ember's linker script.

include!("../tools/freestanding-link.rs");

fn main() {
    link_freestanding("ember", Some("link.ld"));
}
