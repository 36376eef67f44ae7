//! Links the kernel image as a freestanding static ELF with ember's linker script. Only the `ember` binary gets
//! these flags, so host builds of the workspace stay normal.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=link.ld");
    for arg in [
        &format!("-T{dir}/link.ld"),
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=0x1000",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bin=ember={arg}");
    }
}
