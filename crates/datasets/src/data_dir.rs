//! Finding the data directory: the `--data-dir` flag, else `NARFORMER_DATA`, else `data/`.

use crate::DatasetError;
use std::path::{Path, PathBuf};

/// Environment variable naming the data directory.
pub const DATA_ENV: &str = "NARFORMER_DATA";

/// The data directory the flag or environment names (else `data/`), without
/// checking that it exists: for commands that create it.
pub fn choose(flag: Option<&Path>) -> PathBuf {
    chosen(flag).0
}

/// Whether neither the flag nor the environment names a directory (so `data/` is used).
pub fn is_default(flag: Option<&Path>) -> bool {
    flag.is_none() && std::env::var_os(DATA_ENV).is_none()
}

fn chosen(flag: Option<&Path>) -> (PathBuf, &'static str) {
    match (flag, std::env::var_os(DATA_ENV)) {
        (Some(p), _) => (p.to_path_buf(), "from --data-dir"),
        (None, Some(env)) => (PathBuf::from(env), "from NARFORMER_DATA"),
        (None, None) => (
            PathBuf::from("data"),
            "the default; set --data-dir or NARFORMER_DATA",
        ),
    }
}

/// Resolves the data directory and checks that it exists.
pub fn resolve(flag: Option<&Path>) -> Result<PathBuf, DatasetError> {
    let (path, from) = chosen(flag);
    if !path.is_dir() {
        return Err(DatasetError::MissingDataDir {
            path,
            hint: format!(
                "{from}; `cargo xtask data` fetches the benchmark files into it (docs/DATA.md)"
            ),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_a_named_error() {
        let err = resolve(Some(Path::new("/no/such/narformer/dir"))).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/no/such/narformer/dir") && msg.contains("--data-dir"),
            "{msg}"
        );
    }
}
