//! Planned runs, their directories, and a runner that trains what is missing.
//!
//! A run lives in `<root>/<benchmark>-<size>/<model>/s<seed>-<hash>`, where
//! `<hash>` is the SHA-256 of the run's full `TrainingConfig` (so a changed
//! profile or hyper-parameter never reuses a stale run). A run is finished
//! when its directory holds `metrics.json` and a `config.json` equal to the
//! plan; the runner skips finished runs (unless forced), resumes interrupted
//! ones (the trainer's own snapshots) and trains the rest, `jobs` at a time.

use crate::TableError;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use trainer::run_dir::{CONFIG_FILE, METRICS_FILE};
use trainer::{Report, TrainingConfig};

/// Model fields that only whole-network models use, left out of a config's
/// canonical form at their default (0), so cell runs keep the hashes and
/// directories they had before these fields existed.
const WHOLE_NETWORK_FIELDS: [&str; 2] = ["d_static", "devices"];

/// A saved or planned config (as JSON) in the form that is compared.
fn canonical(mut config: serde_json::Value) -> serde_json::Value {
    if let Some(model) = config.get_mut("model").and_then(|m| m.as_object_mut()) {
        for key in WHOLE_NETWORK_FIELDS {
            if model.get(key).and_then(serde_json::Value::as_u64) == Some(0) {
                model.remove(key);
            }
        }
    }
    config
}

/// The first 12 hex digits of the SHA-256 of the config's JSON (fields in
/// struct order), without the whole-network fields when they are 0.
pub fn config_hash(config: &TrainingConfig) -> String {
    let mut json =
        crate::stored::without_new_defaults(serde_json::to_string(config).unwrap_or_default());
    if config.model.d_static == 0 && config.model.devices == 0 {
        // They are the model's last two fields.
        json = json.replacen(",\"d_static\":0,\"devices\":0", "", 1);
    }
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// One run of a table.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub config: TrainingConfig,
    pub dir: PathBuf,
}

impl RunSpec {
    pub fn new(root: &Path, config: TrainingConfig) -> Self {
        let dir = root
            .join(format!("{}-{}", config.benchmark, config.train_size))
            .join(config.model.architecture.as_str())
            .join(format!("s{}-{}", config.seed, config_hash(&config)));
        Self { config, dir }
    }

    /// The run's report, if it finished with exactly this config.
    pub fn finished(&self) -> Option<Report> {
        let saved: serde_json::Value = sysio::read_json(&self.dir.join(CONFIG_FILE)).ok()?;
        let (saved, planned) = (
            canonical(saved),
            canonical(serde_json::to_value(&self.config).ok()?),
        );
        if saved != planned {
            return None;
        }
        sysio::read_json(&self.dir.join(METRICS_FILE)).ok()
    }

    /// When this run was planned (started) and finished, from its files' times.
    pub fn trained_between(&self) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
        let modified = |name: &str| std::fs::metadata(self.dir.join(name)).ok()?.modified().ok();
        Some((modified(PLANNED_FILE)?, modified(METRICS_FILE)?))
    }

    /// A rough cost for ordering (longest first balances the workers).
    fn cost(&self) -> usize {
        self.config.epochs * self.config.train_size
    }

    fn label(&self) -> String {
        format!(
            "{} {} @{} seed {}",
            self.config.model.architecture,
            self.config.benchmark,
            self.config.train_size,
            self.config.seed
        )
    }
}

/// What became of one planned run.
#[derive(Debug)]
pub struct Outcome {
    pub spec: RunSpec,
    /// The report, or why the run failed (its log is `train.log` in the run dir).
    pub result: Result<Report, String>,
    /// True when a finished run was reused rather than trained.
    pub reused: bool,
}

/// Trains planned runs as `narformer train` child processes.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The `narformer` binary.
    pub exe: PathBuf,
    pub data_dir: PathBuf,
    /// Runs trained at once (each training process uses about one core).
    pub jobs: usize,
    /// Retrain finished runs instead of reusing them.
    pub force: bool,
    pub show_progress: bool,
}

const LOG_FILE: &str = "train.log";
const PLANNED_FILE: &str = "planned_config.json";

impl Runner {
    /// Runs every spec (reusing finished ones unless `force`); outcomes in the order of `specs`.
    pub fn run_all(&self, specs: &[RunSpec]) -> Result<Vec<Outcome>, TableError> {
        let mut outcomes: Vec<Option<Outcome>> = specs.iter().map(|_| None).collect();
        let mut todo = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            match spec.finished() {
                Some(report) if !self.force => {
                    outcomes[i] = Some(Outcome {
                        spec: spec.clone(),
                        result: Ok(report),
                        reused: true,
                    });
                }
                _ => {
                    if self.force && spec.dir.exists() {
                        std::fs::remove_dir_all(&spec.dir)
                            .map_err(|e| TableError::file(&spec.dir, e))?;
                    }
                    todo.push(i);
                }
            }
        }
        let reused = specs.len() - todo.len();
        todo.sort_by_key(|&i| std::cmp::Reverse(specs[i].cost()));
        let progress = self.progress_bar(todo.len() as u64);
        if reused > 0 {
            progress.suspend(|| {
                eprintln!("reusing {reused} finished runs; training {}", todo.len());
            });
        }
        let queue = Mutex::new(todo.into_iter().collect::<VecDeque<_>>());
        let done = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.max(1) {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some(i) = next else { break };
                        let spec = &specs[i];
                        progress.set_message(format!("training {}", spec.label()));
                        let result = self.train(spec);
                        let line = match &result {
                            Ok(r) => format!(
                                "{}: test tau {:.4} (validation {:.4}), {:.0} s",
                                spec.label(),
                                r.metrics.kendall_tau,
                                r.metrics.validation_kendall_tau,
                                r.train_seconds
                            ),
                            Err(e) => format!("{}: FAILED: {e}", spec.label()),
                        };
                        // `suspend` prints even when the bar is hidden (logs, --quiet).
                        progress.suspend(|| eprintln!("{line}"));
                        progress.inc(1);
                        if let Ok(mut done) = done.lock() {
                            done.push((i, result));
                        }
                    }
                });
            }
        });
        progress.finish_and_clear();
        for (i, result) in done.into_inner().unwrap_or_default() {
            outcomes[i] = Some(Outcome {
                spec: specs[i].clone(),
                result,
                reused: false,
            });
        }
        Ok(outcomes
            .into_iter()
            .zip(specs)
            .map(|(o, spec)| {
                o.unwrap_or_else(|| Outcome {
                    spec: spec.clone(),
                    result: Err("not run".to_string()),
                    reused: false,
                })
            })
            .collect())
    }

    /// Trains one run in a child process, its output going to `train.log`.
    fn train(&self, spec: &RunSpec) -> Result<Report, String> {
        let planned = spec.dir.join(PLANNED_FILE);
        sysio::write_json(&planned, &spec.config).map_err(|e| e.to_string())?;
        let log_path = spec.dir.join(LOG_FILE);
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let c = &spec.config;
        let status = Command::new(&self.exe)
            .arg("train")
            .arg("--config")
            .arg(&planned)
            .args(["--benchmark", &c.benchmark.to_string()])
            .args(["--train-size", &c.train_size.to_string()])
            .args(["--seed", &c.seed.to_string()])
            .arg("--run-dir")
            .arg(&spec.dir)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .status()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        if !status.success() {
            return Err(format!("{status}; see {}", log_path.display()));
        }
        spec.finished()
            .ok_or_else(|| format!("no matching metrics.json in {}", spec.dir.display()))
    }

    fn progress_bar(&self, len: u64) -> ProgressBar {
        sysio::progress_bar(len, "runs", self.show_progress)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cell_run_hashes_survive_the_whole_network_model_fields() {
        // The hash of this quick NB101 GNN run from before `d_static` and
        // `devices` existed (runs/accuracy-quick/nb101-100/gnn/s0-3902d1322a4b).
        let config = TrainingConfig::for_profile(
            trainer::Profile::Quick,
            trainer::Benchmark::Nb101,
            model::Architecture::Gnn,
            100,
            0,
        );
        assert_eq!(config_hash(&config), "3902d1322a4b");
    }

    use super::*;
    use model::Architecture;
    use trainer::{Benchmark, Profile};

    fn config(seed: u64) -> TrainingConfig {
        TrainingConfig::for_profile(
            Profile::Quick,
            Benchmark::Nb201,
            Architecture::Gnn,
            78,
            seed,
        )
    }

    #[test]
    fn the_key_names_every_part_and_changes_with_the_config() {
        let root = Path::new("runs");
        let a = RunSpec::new(root, config(0));
        let text = a.dir.display().to_string();
        assert!(text.starts_with("runs/nb201-78/gnn/s0-"), "{text}");
        let mut other = config(0);
        other.learning_rate *= 2.0;
        assert_ne!(RunSpec::new(root, other).dir, a.dir);
        assert_eq!(RunSpec::new(root, config(0)).dir, a.dir);
        assert_ne!(RunSpec::new(root, config(1)).dir, a.dir);
    }

    /// A runner whose "binary" cannot start: any run it tries fails.
    fn runner(force: bool) -> Runner {
        Runner {
            exe: PathBuf::from("/nonexistent/narformer"),
            data_dir: PathBuf::from("."),
            jobs: 2,
            force,
            show_progress: false,
        }
    }

    fn fake_finished_run(spec: &RunSpec) {
        sysio::write_json(&spec.dir.join(CONFIG_FILE), &spec.config).unwrap();
        let report = serde_json::json!({
            "benchmark": "nb201", "model": "gnn", "train_size": 78, "seed": spec.config.seed,
            "profile": "quick", "n_train": 78, "n_val": 200, "n_test": 15347,
            "metrics": {"kendall_tau": 0.5, "validation_kendall_tau": 0.6, "best_epoch": 10},
            "train_seconds": 1.0, "eval_seconds": 1.0, "parameters": 10,
            "run_dir": spec.dir, "history": []
        });
        sysio::write_json(&spec.dir.join(METRICS_FILE), &report).unwrap();
    }

    #[test]
    fn finished_runs_are_reused_and_the_rest_are_trained() {
        let root = tempfile::tempdir().unwrap();
        let done = RunSpec::new(root.path(), config(0));
        let missing = RunSpec::new(root.path(), config(1));
        fake_finished_run(&done);
        let outcomes = runner(false)
            .run_all(&[done.clone(), missing.clone()])
            .unwrap();
        assert!(outcomes[0].reused);
        assert_eq!(
            outcomes[0].result.as_ref().unwrap().metrics.kendall_tau,
            0.5
        );
        assert!(!outcomes[1].reused);
        let err = outcomes[1].result.as_ref().unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
    }

    #[test]
    fn a_run_with_another_config_is_not_finished_and_force_retrains() {
        let root = tempfile::tempdir().unwrap();
        let spec = RunSpec::new(root.path(), config(0));
        fake_finished_run(&spec);
        let mut changed = spec.clone();
        changed.config.epochs += 1; // same directory, different config.json
        assert!(changed.finished().is_none());
        assert!(spec.finished().is_some());
        let outcomes = runner(true).run_all(std::slice::from_ref(&spec)).unwrap();
        assert!(!outcomes[0].reused);
        assert!(outcomes[0].result.is_err());
        assert!(spec.finished().is_none(), "force removed the old run");
    }
}
