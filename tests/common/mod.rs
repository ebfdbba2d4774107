//! What the binary's tests share: running `narformer` and checking how it ended.

use std::path::Path;
use std::process::{Command, Output};

pub fn narformer(args: &[&str]) -> Output {
    narformer_calibrated(args, Path::new("/nonexistent/narformer-calibration"))
}

/// `narformer` with its calibrations in `calibration_dir` (the other tests
/// point it nowhere, so no calibration of the machine running them applies).
pub fn narformer_calibrated(args: &[&str], calibration_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_narformer"))
        .args(args)
        .env_remove("NARFORMER_DATA")
        .env("NARFORMER_CALIBRATION_DIR", calibration_dir)
        .output()
        .unwrap()
}

/// Stdout of a run that must have succeeded (else fails with its stderr).
pub fn success_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
}
