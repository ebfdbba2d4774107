//! `cargo xtask ort`: the ONNX Runtime shared library that `narformer
//! measure --engine ort` opens, unpacked once from the pinned PyPI wheel into
//! `target/onnxruntime-<version>/` (no Python is needed after that).

use crate::{run_command, wheel};
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;

/// Copies the library out of the wheel (argv: wheel directory, output directory).
const EXTRACT_LIBRARY: &str = r#"
import pathlib, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
found = 0
for wheel in sorted(wheels.glob("onnxruntime-*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = pathlib.PurePosixPath(info.filename)
            if name.parent.as_posix() == "onnxruntime/capi" and name.name.startswith("libonnxruntime"):
                out.mkdir(parents=True, exist_ok=True)
                (out / name.name).write_bytes(z.read(info))
                found += 1
if found == 0:
    sys.exit("no libonnxruntime in the wheel")
"#;

/// The library file, unpacked unless it is there.
pub fn library(run: &dyn Fn(Command) -> Result<()>) -> Result<PathBuf> {
    let unpack = wheel::Unpack {
        dir_name: sysio::onnxruntime::dir_name(),
        requirements: vec![format!("onnxruntime=={}", sysio::onnxruntime::VERSION)],
        script: EXTRACT_LIBRARY,
    };
    let dir = wheel::unpack_once(&unpack, run, |dir| {
        let file = dir.join(sysio::onnxruntime::file_name());
        anyhow::ensure!(file.is_file(), "the wheel has no {}", file.display());
        Ok(())
    })?;
    Ok(dir.join(sysio::onnxruntime::file_name()))
}

pub fn run() -> Result<()> {
    let file = library(&run_command)?;
    println!("{}", file.display());
    Ok(())
}
