//! The one stored-result format of the tables whose jobs run in worker
//! processes (latency, zoo): `<root>/<job name>.json` holding the job, the hash
//! of what it ran under, its own time and its result. A stored result is reused
//! only when its job and hash match, so an interrupted table picks up where it
//! stopped and a changed protocol never mixes with old results.

use crate::worker::WorkerJob;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a job leaves on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored<J, R> {
    /// The hash of the protocol (or the job's part of it) the job ran under.
    /// Results stored before the format was shared named it `protocol`.
    #[serde(alias = "protocol")]
    pub hash: String,
    pub job: J,
    /// The job's own time.
    pub seconds: f64,
    /// (`results` in zoo results stored before the format was shared.)
    #[serde(alias = "results")]
    pub result: R,
}

/// The first 12 hex digits of the SHA-256 of a value's JSON.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    let json = without_new_defaults(serde_json::to_string(value).unwrap_or_default());
    Sha256::digest(json.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `json` as it serialised before model fields added later with a default
/// existed (`"readout":"sum"`, the model's last field): a config that leaves
/// them at their default hashes as it always did, so no stored result is
/// orphaned by a field it does not use.
pub(crate) fn without_new_defaults(json: String) -> String {
    json.replace(",\"readout\":\"sum\"", "")
}

pub(crate) fn path_of(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{name}.json"))
}

/// The stored result of `job`, if it finished under `hash`.
pub fn finished<J, R>(root: &Path, job: &J, hash: &str) -> Option<Stored<J, R>>
where
    J: WorkerJob + PartialEq + DeserializeOwned,
    R: DeserializeOwned,
{
    let stored: Stored<J, R> = sysio::read_json(&path_of(root, &job.name())).ok()?;
    (stored.hash == hash && &stored.job == job).then_some(stored)
}

/// Writes `stored` atomically where [`finished`] finds it.
pub(crate) fn store<J: WorkerJob + Serialize, R: Serialize>(
    root: &Path,
    stored: &Stored<J, R>,
) -> Result<(), sysio::FileError> {
    sysio::write_json(&path_of(root, &stored.job.name()), stored)
}

/// From the first to the last result stored: a table's training wall time even
/// when it was made in several sessions of the command.
pub fn stored_wall_seconds(root: &Path, names: &[String]) -> Option<f64> {
    let times: Vec<std::time::SystemTime> = names
        .iter()
        .filter_map(|name| std::fs::metadata(path_of(root, name)).ok()?.modified().ok())
        .collect();
    let (first, last) = (times.iter().min()?, times.iter().max()?);
    last.duration_since(*first).ok().map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Job(u32);

    impl WorkerJob for Job {
        fn name(&self) -> String {
            format!("job-{}", self.0)
        }
        fn cost(&self) -> u32 {
            1
        }
    }

    #[test]
    fn a_result_is_reused_only_under_its_hash_and_old_field_names_load() {
        let dir = tempfile::tempdir().unwrap();
        let stored = Stored {
            hash: "abc".into(),
            job: Job(1),
            seconds: 2.0,
            result: vec![1.5],
        };
        store(dir.path(), &stored).unwrap();
        let back: Stored<Job, Vec<f64>> = finished(dir.path(), &Job(1), "abc").unwrap();
        assert_eq!(back.result, vec![1.5]);
        assert!(finished::<Job, Vec<f64>>(dir.path(), &Job(1), "abd").is_none());
        assert!(finished::<Job, Vec<f64>>(dir.path(), &Job(2), "abc").is_none());
        // The latency table's old `protocol`/`result` and the zoo's old `hash`/`results`.
        for old in [
            r#"{"protocol":"h","job":3,"seconds":1.0,"result":[2.0]}"#,
            r#"{"hash":"h","job":3,"seconds":1.0,"results":[2.0]}"#,
        ] {
            std::fs::write(dir.path().join("job-3.json"), old).unwrap();
            let back: Stored<Job, Vec<f64>> = finished(dir.path(), &Job(3), "h").unwrap();
            assert_eq!(back.result, vec![2.0]);
        }
    }
}
