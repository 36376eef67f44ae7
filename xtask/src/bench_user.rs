//! The user-space half of `cargo xtask bench`: `clients/c/bench.c` (static musl) run as `/init` on both kernels
//! from one initramfs, its `bench: op=...` lines parsed, and the table of operations with the Linux/ember ratio.

use crate::clients::{self, Initramfs, Libc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The line `bench.c` prints when every operation is done (then it powers off).
pub const DONE: &str = "bench: done";

/// The initramfs both kernels boot: `/init` is the benchmark, `/bench-init` the boot-time probe
/// (`rdinit=/bench-init`), plus `/dev/null` and `/dev/zero` (Linux mounts no devtmpfs on an initramfs root).
pub fn initramfs(dir: &Path, bench_init: &Path) -> Result<PathBuf, String> {
    let bench = clients::c_program(Libc::Musl, "bench")?;
    Initramfs::new("bench")
        .char_device("/dev/null", 1, 3)?
        .char_device("/dev/zero", 1, 5)?
        .file("/init", &bench)?
        .file("/bench-init", bench_init)?
        .write_in(dir)
}

/// The initramfs of the memory floor: busybox, whose shell runs `/init`, a script that prints `ok`.
pub fn floor_initramfs(dir: &Path) -> Result<PathBuf, String> {
    Initramfs::new("bench-floor")
        .busybox()?
        .script("/init", "#!/bin/sh\necho ok\n")?
        .write_in(dir)
}

/// One run of the benchmark: nanoseconds per operation, by name, in the order printed.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// `(operation, cycles, nanoseconds)`.
    pub ops: Vec<(String, f64, f64)>,
    /// The TSC frequency the program measured.
    pub tsc_hz: f64,
}

impl Run {
    /// Parses the console of a run; an error names what is missing.
    pub fn parse(console: &str) -> Result<Run, String> {
        if let Some(line) = console.lines().find(|l| l.contains("bench: error")) {
            return Err(format!("the benchmark failed: {}", line.trim()));
        }
        let mut run = Run::default();
        for line in console.lines() {
            let Some(rest) = line.trim().strip_prefix("bench: ") else {
                continue;
            };
            let fields: BTreeMap<&str, &str> = rest.split_whitespace().filter_map(|w| w.split_once('=')).collect();
            if let Some(hz) = fields.get("tsc_hz") {
                run.tsc_hz = hz.parse().map_err(|_| format!("bad line {line:?}"))?;
            }
            if let (Some(op), Some(cycles), Some(ns)) = (fields.get("op"), fields.get("cycles"), fields.get("ns")) {
                let number = |s: &str| s.parse::<f64>().map_err(|_| format!("bad line {line:?}"));
                run.ops.push((op.to_string(), number(cycles)?, number(ns)?));
            }
        }
        if run.ops.is_empty() || run.tsc_hz <= 0.0 {
            return Err("no `bench: op=` or `bench: tsc_hz=` lines".into());
        }
        Ok(run)
    }

    /// Nanoseconds of `op`.
    pub fn ns(&self, op: &str) -> Option<f64> {
        self.ops.iter().find(|(o, _, _)| o == op).map(|&(_, _, ns)| ns)
    }

    /// Nanoseconds of `op` from its TSC cycles at `hz` (under plain TCG the guest's TSC is the host's, whose
    /// frequency is known; a guest's clock may drift from it on a loaded host), or [`Run::ns`] without `hz`.
    pub fn ns_at(&self, op: &str, hz: Option<f64>) -> Option<f64> {
        match hz {
            Some(hz) => self
                .ops
                .iter()
                .find(|(o, _, _)| o == op)
                .map(|&(_, cycles, _)| cycles * 1e9 / hz),
            None => self.ns(op),
        }
    }

    /// The relative difference between this run and `other` per operation of both, largest first.
    pub fn deviations(&self, other: &Run) -> Vec<(f64, String)> {
        let mut d: Vec<(f64, String)> = self
            .ops
            .iter()
            .filter_map(|(op, _, a)| {
                let b = other.ns(op)?;
                Some(((a - b).abs() / a.max(b).max(f64::MIN_POSITIVE), op.clone()))
            })
            .collect();
        d.sort_by(|x, y| y.0.total_cmp(&x.0));
        d
    }

    /// The largest relative difference between this run and `other` over the operations of both, with its
    /// operation.
    pub fn max_deviation(&self, other: &Run) -> (f64, String) {
        self.deviations(other).into_iter().next().unwrap_or_default()
    }
}

/// The four runs of the table: -icount (first of two) and plain TCG, each kernel.
pub struct Table<'a> {
    /// ember under `-icount`.
    pub ember_icount: &'a Run,
    /// Linux under `-icount`.
    pub linux_icount: &'a Run,
    /// ember under plain TCG.
    pub ember_tcg: &'a Run,
    /// Linux under plain TCG.
    pub linux_tcg: &'a Run,
    /// The host's TSC frequency, for the plain TCG columns (else each run's own measurement).
    pub tcg_hz: Option<f64>,
}

/// A duration in nanoseconds, readable.
fn time(ns: Option<f64>) -> String {
    match ns {
        None => "–".into(),
        Some(ns) if ns < 10_000.0 => format!("{ns:.0} ns"),
        Some(ns) if ns < 10_000_000.0 => format!("{:.1} µs", ns / 1000.0),
        Some(ns) => format!("{:.2} ms", ns / 1e6),
    }
}

fn ratio(linux: Option<f64>, ember: Option<f64>) -> String {
    match (linux, ember) {
        (Some(l), Some(e)) if e > 0.0 => format!("{:.2}x", l / e),
        _ => "–".into(),
    }
}

impl Table<'_> {
    /// The markdown table, one line per operation.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| operation (median) | ember, -icount | Linux, -icount | Linux/ember | ember, TCG | Linux, TCG | \
             Linux/ember |\n|---|---|---|---|---|---|---|\n",
        );
        for (op, _, _) in &self.ember_icount.ops {
            let (ei, li) = (self.ember_icount.ns(op), self.linux_icount.ns(op));
            let (et, lt) = (
                self.ember_tcg.ns_at(op, self.tcg_hz),
                self.linux_tcg.ns_at(op, self.tcg_hz),
            );
            s.push_str(&format!(
                "| {op} | {} | {} | {} | {} | {} | {} |\n",
                time(ei),
                time(li),
                ratio(li, ei),
                time(et),
                time(lt),
                ratio(lt, et)
            ));
        }
        s
    }

    /// A JSON object: per operation, nanoseconds of each run.
    pub fn json(&self) -> String {
        let num = |v: Option<f64>| v.map_or("null".into(), |v| format!("{v:.1}"));
        let lines: Vec<String> = self
            .ember_icount
            .ops
            .iter()
            .map(|(op, _, _)| {
                format!(
                    "    \"{op}\": {{ \"ember_icount_ns\": {}, \"linux_icount_ns\": {}, \"ember_tcg_ns\": {}, \
                     \"linux_tcg_ns\": {} }}",
                    num(self.ember_icount.ns(op)),
                    num(self.linux_icount.ns(op)),
                    num(self.ember_tcg.ns_at(op, self.tcg_hz)),
                    num(self.linux_tcg.ns_at(op, self.tcg_hz))
                )
            })
            .collect();
        format!("{{\n{}\n  }}", lines.join(",\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "ember: ready\nbench: start tsc=5\nbench: tsc_hz=1000000000 method=clock_gettime\n\
        bench: op=getpid reps=51 batch=64 cycles=500.0 ns=500.0\n\
        bench: op=stat_tmpfs reps=51 batch=32 cycles=2000.0 ns=2000.0\nbench: done\n";

    #[test]
    fn parses_ops_and_frequency() {
        let run = Run::parse(CONSOLE).unwrap();
        assert_eq!(run.tsc_hz, 1e9);
        assert_eq!(run.ns("getpid"), Some(500.0));
        assert_eq!(run.ns("stat_tmpfs"), Some(2000.0));
        assert_eq!(run.ns("fork"), None);
    }

    #[test]
    fn an_error_line_fails_the_run() {
        let err = Run::parse("bench: error op=stat_tmpfs stat: No such file\n").unwrap_err();
        assert!(err.contains("op=stat_tmpfs"), "{err}");
        assert!(Run::parse("nothing\n").is_err());
    }

    #[test]
    fn deviation_is_relative_to_the_larger() {
        let a = Run::parse(CONSOLE).unwrap();
        let b = Run::parse(&CONSOLE.replace("ns=2000.0", "ns=2100.0")).unwrap();
        let (d, op) = a.max_deviation(&b);
        assert_eq!(op, "stat_tmpfs");
        assert!((d - 100.0 / 2100.0).abs() < 1e-9);
        assert_eq!(a.deviations(&b).len(), 2);
        assert_eq!(a.deviations(&b)[1], (0.0, "getpid".to_string()));
    }

    #[test]
    fn table_has_a_ratio_per_line() {
        let e = Run::parse(CONSOLE).unwrap();
        let l = Run::parse(&CONSOLE.replace("ns=500.0", "ns=1000.0")).unwrap();
        let t = Table {
            ember_icount: &e,
            linux_icount: &l,
            ember_tcg: &e,
            linux_tcg: &l,
            tcg_hz: Some(2e9),
        };
        let md = t.markdown();
        // Under TCG: 500 cycles at 2 GHz.
        assert!(
            md.contains("| getpid | 500 ns | 1000 ns | 2.00x | 250 ns | 250 ns | 1.00x |"),
            "{md}"
        );
        assert!(md.contains("| stat_tmpfs | 2000 ns | 2000 ns | 1.00x |"), "{md}");
    }
}
