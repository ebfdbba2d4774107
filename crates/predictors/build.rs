//! Compiles every complete predictor directory under `data/predictors/` into
//! the crate (`$OUT_DIR/bundled.rs`): a directory with `card.json`,
//! `config.json`, `target.json`, `format.json` and `model.bpk` (and `prior.json`
//! for a residual predictor). With none
//! there the crate still builds, with no bundled predictor.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FILES: [&str; 5] = [
    "card.json",
    "config.json",
    "target.json",
    "format.json",
    "model.bpk",
];

/// The residual readout's prior, beside the files every predictor has.
const PRIOR: &str = "prior.json";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../../data/predictors");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let mut out = String::from("pub(crate) static BUNDLED: &[BundledFiles] = &[\n");
    for dir in dirs {
        if !FILES.iter().all(|f| dir.join(f).is_file()) {
            println!(
                "cargo:warning=data/predictors/{}: incomplete (needs {}), not bundled",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                FILES.join(", ")
            );
            continue;
        }
        let file = |name: &str| -> String {
            let path = dir.join(name);
            println!("cargo:rerun-if-changed={}", path.display());
            format!("{:?}", absolute(&path))
        };
        // A residual predictor's prior: optional, the loader says if one is missing.
        let prior = if dir.join(PRIOR).is_file() {
            format!("Some(include_str!({}))", file(PRIOR))
        } else {
            "None".to_string()
        };
        let _ = writeln!(
            out,
            "    BundledFiles {{ id: {:?}, card: include_str!({}), config: include_str!({}), \
             target: include_str!({}), format: include_str!({}), model: include_bytes!({}), \
             prior: {prior} }},",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            file("card.json"),
            file("config.json"),
            file("target.json"),
            file("format.json"),
            file("model.bpk"),
        );
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("bundled.rs");
    std::fs::write(&target, out).expect("OUT_DIR is writable");
}

fn absolute(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
