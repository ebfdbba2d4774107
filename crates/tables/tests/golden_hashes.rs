//! Golden tests of every stored hash: the accuracy table's run directories
//! (config hashes), the latency table's protocol hash and the zoo table's job
//! hashes, for the quick and paper profiles. A stored run or job result is
//! reused only when its hash matches, so a change here means every stored
//! result of that table would be orphaned and retrained. Regenerate a golden
//! file deliberately with `UPDATE_GOLDEN=1` and say why in the commit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tables::{accuracy, latency, zoo};
use trainer::Profile;

const PROFILES: [Profile; 2] = [Profile::Quick, Profile::Paper];
const SEEDS: [u64; 3] = [0, 1, 2];
/// Settings of `latency_help.csv`, which the multi-setting model is sized for.
const LATENCY_SETTINGS: usize = 27;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`, or rewrites it under `UPDATE_GOLDEN=1`.
fn check(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .find(|(e, a)| e != a)
            .map_or_else(
                || "a line was added or removed".to_string(),
                |(e, a)| format!("expected {e:?}, got {a:?}"),
            );
        panic!(
            "{name}: stored hashes changed ({first}); every stored result keyed by them would be \
             orphaned"
        );
    }
}

#[test]
fn accuracy_run_directories_are_unchanged() {
    let mut text = String::new();
    for profile in PROFILES {
        for spec in accuracy::plan(profile, &SEEDS, Path::new("runs")) {
            writeln!(text, "{profile} {}", spec.dir.display()).unwrap();
        }
    }
    check("accuracy-runs.txt", &text);
}

#[test]
fn latency_protocol_hashes_are_unchanged() {
    let mut text = String::new();
    for profile in PROFILES {
        let protocol = latency::Protocol::for_profile(profile, LATENCY_SETTINGS);
        let (transfer, other) = (
            latency::Job::Help { seed: 0 },
            latency::Job::Multi { seed: 0 },
        );
        writeln!(
            text,
            "{profile} transfer {} others {}",
            latency::job_hash(&protocol, &transfer),
            latency::job_hash(&protocol, &other)
        )
        .unwrap();
    }
    check("latency-protocol.txt", &text);
}

#[test]
fn zoo_job_hashes_are_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/zoo");
    let mut text = String::new();
    for profile in PROFILES {
        let protocol = zoo::ZooProtocol::for_profile(profile);
        let sets = zoo::measured_sets(&dir, protocol.data_vocab()).expect("data/zoo loads");
        for job in zoo::plan(&sets, &SEEDS) {
            let data = zoo::data_of(&sets, &job).expect("planned platform");
            let hash = zoo::job_hash(&job, &protocol, data);
            writeln!(text, "{profile} {} {hash}", job.name()).unwrap();
        }
    }
    check("zoo-jobs.txt", &text);
}
