// Shared by the build scripts of ember's freestanding binaries (the kernel, the linux64 shim, bench-init),
// which `include!` it: the link arguments that make a static ELF without libc or start files for the host
// target, given only to that binary so the rest of the workspace builds normally.

/// Emits the link arguments for binary `bin`, with the linker script `script` (relative to the crate) if any.
fn link_freestanding(bin: &str, script: Option<&str>) {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut args = vec![
        "-nostartfiles".to_string(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-Wl,--gc-sections".into(),
        "-Wl,--build-id=none".into(),
        "-Wl,-z,max-page-size=0x1000".into(),
        "-Wl,-z,noexecstack".into(),
    ];
    if let Some(script) = script {
        println!("cargo:rerun-if-changed={script}");
        args.push(format!("-T{dir}/{script}"));
    }
    for arg in args {
        println!("cargo:rustc-link-arg-bin={bin}={arg}");
    }
}
