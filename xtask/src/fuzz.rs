//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the libFuzzer targets in `fuzz/` (cargo-fuzz, nightly Rust)
//! one after the other, each for N seconds, at the lowest CPU priority, and reports the inputs tried and the
//! findings of each. The harnesses themselves are `crates/fuzz`; their seed corpus `fuzz/corpus/<target>/`
//! is only read: what libFuzzer adds goes to `target/fuzz/corpus/<target>/`, crashing inputs to
//! `target/fuzz/artifacts/<target>/`, libFuzzer's output to `target/fuzz/logs/<target>.log`.

use crate::image;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Seconds per target when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 30;

/// What one target's run found.
struct Outcome {
    runs: Option<u64>,
    /// Wall-clock seconds it ran (less than asked when it stopped at a finding).
    seconds: u64,
    corpus: usize,
    findings: Vec<PathBuf>,
}

/// Runs the named target, or all of them.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--seconds takes a positive number")?;
            }
            t if !t.starts_with('-') && only.is_none() => only = Some(t.to_string()),
            _ => {
                return Err(format!(
                    "unknown argument {a}\nusage: cargo xtask fuzz [TARGET] [--seconds N]"
                ));
            }
        }
    }
    let root = image::workspace_root();
    let all = targets(&root)?;
    let chosen: Vec<String> = match only {
        Some(t) if all.contains(&t) => vec![t],
        Some(t) => return Err(format!("no fuzz target {t}; the targets are: {}", all.join(", "))),
        None => all,
    };
    ensure_tools()?;
    // No sanitizer: the crates are safe Rust (AddressSanitizer would find nothing and halve the speed); debug
    // assertions make an arithmetic overflow a finding.
    println!("== building the fuzz targets (cargo +nightly fuzz build, debug assertions on, no sanitizer)");
    let status = nightly(&root)
        .args(["fuzz", "build", "--debug-assertions", "--sanitizer", "none"])
        .status()
        .map_err(|e| format!("cannot run cargo +nightly fuzz: {e}"))?;
    if !status.success() {
        return Err("building the fuzz targets failed".into());
    }
    let mut found = 0;
    for t in &chosen {
        println!("== fuzz {t}: {seconds} s");
        let o = run_target(&root, t, seconds)?;
        let runs = o.runs.map_or("an unknown number of".to_string(), |r| r.to_string());
        println!(
            "fuzz {t}: {runs} inputs in {} s, corpus {} inputs, {} findings",
            o.seconds,
            o.corpus,
            o.findings.len()
        );
        for f in &o.findings {
            println!(
                "  finding: {} (replay: cargo +nightly fuzz run {t} {0}; once fixed, copy it into fuzz/corpus/{t}/)",
                f.display()
            );
        }
        found += o.findings.len();
    }
    println!("fuzz: {} targets, {found} findings", chosen.len());
    Ok(if found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The targets: the files of `fuzz/fuzz_targets/`, sorted.
fn targets(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// `nice -n 19 cargo +nightly` in the workspace root: the fuzzers share the machine.
fn nightly(root: &Path) -> Command {
    let mut c = Command::new("nice");
    c.args(["-n", "19", "cargo", "+nightly"]).current_dir(root);
    c
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Checks for nightly Rust, cargo-fuzz (installed when missing) and a C++ compiler, saying what is missing.
fn ensure_tools() -> Result<(), String> {
    if !succeeds("cargo", &["+nightly", "--version"]) {
        return Err(
            "cargo xtask fuzz needs a nightly Rust toolchain (libFuzzer's instrumentation is nightly-only): \
                    `rustup toolchain install nightly`, with `cargo` being rustup's. The kernel and `cargo xtask \
                    test` stay on stable; the corpus is replayed there by `cargo test -p ember-fuzz`."
                .into(),
        );
    }
    if !succeeds("cargo", &["+nightly", "fuzz", "--version"]) {
        println!("xtask: cargo-fuzz is missing; installing it with `cargo install cargo-fuzz`");
        let installed = Command::new("cargo")
            .args(["install", "cargo-fuzz"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed || !succeeds("cargo", &["+nightly", "fuzz", "--version"]) {
            return Err("cargo-fuzz is missing and `cargo install cargo-fuzz` did not provide it".into());
        }
    }
    if !succeeds("c++", &["--version"]) {
        return Err("libfuzzer-sys builds libFuzzer from C++ sources: install a C++ compiler (Debian: g++)".into());
    }
    Ok(())
}

/// Runs one target for `seconds` with the seed corpus and a scratch corpus under `target/fuzz/`.
fn run_target(root: &Path, target: &str, seconds: u64) -> Result<Outcome, String> {
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    let logs = work.join("logs");
    for d in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let before = files(&artifacts);
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log_path.display()))?;
    let seeds = root.join("fuzz/corpus").join(target);
    let mut artifact_prefix = artifacts.into_os_string();
    artifact_prefix.push("/");
    let started = std::time::Instant::now();
    let status = nightly(root)
        .args(["fuzz", "run", "--debug-assertions", "--sanitizer", "none", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(&artifact_prefix);
            a
        })
        .stdout(log)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run cargo +nightly fuzz run: {e}"))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let runs = text
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok());
    // Crashes, timeouts, memory blow-ups and leaks; not the "slow-unit" reports, which under `nice` on a busy
    // machine measure the machine.
    let findings: Vec<PathBuf> = files(Path::new(&artifact_prefix))
        .into_iter()
        .filter(|f| !before.contains(f))
        .filter(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            ["crash-", "timeout-", "oom-", "leak-"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .collect();
    if !status.success() && findings.is_empty() {
        return Err(format!(
            "fuzz target {target} failed without a finding; see {}",
            log_path.display()
        ));
    }
    Ok(Outcome {
        runs,
        seconds: started.elapsed().as_secs(),
        corpus: files(&corpus).len(),
        findings,
    })
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}
