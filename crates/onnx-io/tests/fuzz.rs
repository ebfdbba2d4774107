//! The ONNX reader never panics, whatever the bytes: random strings, and real
//! fixtures truncated or with bytes overwritten. CI runs the default number of
//! cases; the long run is `PROPTEST_CASES=<n> cargo test --release -p onnx-io --test fuzz`
//! (see docs/ARCHITECTURE.md, "Bad input").

use onnx_io::{ImportOptions, import_bytes};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Read once, not per case.
fn fixtures() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx");
        ["resnet18", "vit_small", "squeezenet", "mobilenetv3"]
            .iter()
            .map(|f| std::fs::read(dir.join(format!("{f}.onnx"))).expect("fixture"))
            .collect()
    })
}

fn check(bytes: &[u8]) {
    // Ok or Err are both fine; a panic fails the property.
    let _ = import_bytes(bytes, Path::new("fuzz.onnx"), &ImportOptions::default());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn mutated_models_never_panic(
        which in 0usize..4,
        cut in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = fixtures()[which].clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        check(&bytes[..keep]);
        check(&bytes);
    }
}
