//! Replays the seed corpus: every file under `fuzz/corpus/<target>/` goes through that target's harness, on
//! stable Rust, so that CI checks every input libFuzzer ever needed to keep without running libFuzzer.

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_corpus_input_passes_its_harness() {
    let mut failures = Vec::new();
    for &(name, harness) in ember_fuzz::TARGETS {
        let dir = corpus_dir().join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no corpus for target {name} at {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "the corpus of {name} is empty");
        for f in files {
            let data = std::fs::read(&f).expect("corpus file");
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                failures.push(f.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "corpus inputs that fail their harness: {failures:#?}"
    );
}

#[test]
fn every_corpus_directory_is_a_target() {
    for entry in std::fs::read_dir(corpus_dir()).expect("fuzz/corpus") {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            ember_fuzz::TARGETS.iter().any(|t| t.0 == name),
            "fuzz/corpus/{name} names no target"
        );
    }
}
