//! Links the kernel image as a freestanding static ELF with ember's linker script, and builds the vDSO (a
//! small shared object of assembly, `vdso/`) that the image carries for user space.

include!("../tools/freestanding-link.rs");

fn main() {
    link_freestanding("ember", Some("link.ld"));
    build_vdso();
}

/// Assembles and links `vdso/vdso.S` with `vdso/vdso.lds` into `$OUT_DIR/vdso.so` with the C compiler driver
/// that links the kernel.
fn build_vdso() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=vdso/vdso.S");
    println!("cargo:rerun-if-changed=vdso/vdso.lds");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(&cc)
        .args(["-shared", "-nostdlib", "-fPIC"])
        .arg(format!("-Wl,-T,{dir}/vdso/vdso.lds"))
        .args([
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--build-id=none",
            "-Wl,-z,max-page-size=4096",
            "-Wl,-z,noexecstack",
        ])
        .arg(format!("{dir}/vdso/vdso.S"))
        .arg("-o")
        .arg(format!("{out}/vdso.so"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc} to build the vDSO: {e}"));
    assert!(status.success(), "{cc} failed to build the vDSO");
}
