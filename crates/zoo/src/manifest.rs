//! A generated zoo on disk: `zoo.json` (which models, from which seed, what
//! each is) and, optionally, their ONNX files under `onnx/`.

use crate::{Family, ModelId, generate};
use graph_ir::graph_cost;
use onnx_io::{ExportError, Weights, write_file};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest's file name in a zoo directory.
pub const MANIFEST: &str = "zoo.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub seed: u64,
    pub models: Vec<Entry>,
}

/// One model of a manifest, with what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub family: Family,
    pub index: usize,
    pub description: String,
    pub nodes: usize,
    pub flops: u64,
    pub params: u64,
    /// The ONNX file, relative to the zoo directory.
    pub onnx: PathBuf,
}

impl Entry {
    /// The entry of model `id`, generated to count what it costs.
    pub fn of(id: ModelId) -> Entry {
        let model = generate(id);
        let cost = graph_cost(&model.graph);
        let name = id.name();
        Entry {
            onnx: PathBuf::from("onnx").join(format!("{name}.onnx")),
            name,
            family: id.family,
            index: id.index,
            description: model.description,
            nodes: model.graph.len(),
            flops: cost.flops,
            params: cost.params,
        }
    }

    pub fn id(&self, seed: u64) -> ModelId {
        ModelId {
            family: self.family,
            index: self.index,
            seed,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a zoo manifest: {source}")]
    Parse {
        file: PathBuf,
        source: serde_json::Error,
    },
    #[error("{model}: {source}")]
    Export { model: String, source: ExportError },
    #[error(transparent)]
    Write(#[from] sysio::FileError),
}

impl Manifest {
    /// Models `0..per_family` of each family, families interleaved.
    pub fn new(families: &[Family], per_family: usize, seed: u64) -> Manifest {
        let mut models = Vec::with_capacity(families.len() * per_family);
        for index in 0..per_family {
            for &family in families {
                models.push(Entry::of(ModelId {
                    family,
                    index,
                    seed,
                }));
            }
        }
        Manifest { seed, models }
    }

    /// `n` models of this manifest drawn without replacement by `seed`, in
    /// the manifest's order (all of them when it has no more than `n`): the
    /// same models, so a second measurement of them can be compared.
    pub fn sample(&self, n: usize, seed: u64) -> Manifest {
        use rand::SeedableRng;
        let mut picked = rand::seq::index::sample(
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            self.models.len(),
            n.min(self.models.len()),
        )
        .into_vec();
        picked.sort_unstable();
        Manifest {
            seed: self.seed,
            models: picked.into_iter().map(|i| self.models[i].clone()).collect(),
        }
    }

    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let file = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
            file: file.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Parse { file, source })
    }

    /// Writes `zoo.json` (atomically) and, with `weights`, every model's ONNX file.
    pub fn write(
        &self,
        dir: &Path,
        weights: Option<Weights>,
        mut progress: impl FnMut(&Entry),
    ) -> Result<(), ManifestError> {
        let io = |file: &Path| {
            let file = file.to_path_buf();
            move |source| ManifestError::Io { file, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if let Some(weights) = weights {
            std::fs::create_dir_all(dir.join("onnx")).map_err(io(dir))?;
            for entry in &self.models {
                let model = generate(entry.id(self.seed));
                let weights = match weights {
                    Weights::Random { seed } => Weights::Random {
                        seed: seed ^ entry.index as u64,
                    },
                    stripped => stripped,
                };
                write_file(&model.graph, weights, &dir.join(&entry.onnx)).map_err(|source| {
                    ManifestError::Export {
                        model: entry.name.clone(),
                        source,
                    }
                })?;
                progress(entry);
            }
        }
        Ok(sysio::write_json(&dir.join(MANIFEST), self)?)
    }
}
