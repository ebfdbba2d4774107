//! Durable writes and JSON documents.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be read or written, naming it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl FileError {
    /// A closure that names `path` in an I/O error.
    pub fn io(path: &Path) -> impl Fn(std::io::Error) -> FileError + '_ {
        move |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole
/// new one, even across a crash or power loss: a temporary file in the same
/// directory (named by this process, so parallel writers do not collide), an
/// fsync, a rename over `path`, then an fsync of the directory (where the
/// platform allows opening one). Creates the directory when missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(FileError::io(dir))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(source) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    // The rename is durable once the directory entry is on disk.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

/// Writes `value` as pretty JSON with a final newline, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), FileError> {
    let mut json = serde_json::to_string_pretty(value).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    json.push('\n');
    write_atomic(path, json.as_bytes())
}

/// Reads a JSON document.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(FileError::io(path))?;
    serde_json::from_str(&text).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.json");
        write_json(&path, &vec![1, 2, 3]).unwrap();
        write_json(&path, &vec![4]).unwrap();
        let back: Vec<i32> = read_json(&path).unwrap();
        assert_eq!(back, vec![4]);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("x.json")],
            "no temporary left"
        );
        let err = read_json::<Vec<i32>>(&dir.path().join("missing.json")).unwrap_err();
        assert!(err.to_string().contains("missing.json"), "{err}");
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let err = read_json::<Vec<i32>>(&dir.path().join("bad.json")).unwrap_err();
        assert!(err.to_string().contains("bad.json: invalid JSON"), "{err}");
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inner")).unwrap();
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        let entries = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1, "the temporary file was removed");
    }
}
