//! `cargo xtask parity`: the backend parity tests (`tests/backend_parity.rs`,
//! in the cli package) with the GPU backends compiled in. Sets up what each
//! backend needs: a Vulkan driver for `wgpu` (Mesa's software lavapipe on a
//! machine without a GPU) and a CPU LibTorch 2.9.0, taken from the PyPI torch
//! wheel, for `tch`.

use crate::{cargo, run_command, wheel, workspace_root};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Args)]
pub struct ParityArgs {
    /// Backends to compare with flex.
    #[arg(long, value_delimiter = ',', default_values = ["wgpu", "tch"], value_parser = ["wgpu", "tch"])]
    pub backends: Vec<String>,
    /// Install Mesa's software Vulkan driver with apt-get when no Vulkan driver
    /// is installed (needs root; CI does this).
    #[arg(long)]
    pub install_vulkan: bool,
    /// Cargo profile to build the tests with. `parity` (the default) optimises
    /// nothing, which builds the GPU stacks several times faster than `release`.
    #[arg(long, default_value = "parity")]
    pub profile: String,
}

/// LibTorch version that burn 0.22.1's tch backend builds against.
const TORCH_VERSION: &str = "2.9.0";

/// Debian's packages for Vulkan on the CPU (lavapipe) and the loader.
const VULKAN_PACKAGES: [&str; 2] = ["mesa-vulkan-drivers", "libvulkan1"];

/// Arguments of the test binary: one test at a time (lavapipe already uses
/// every core), output shown.
pub const TEST_ARGS: [&str; 4] = ["--", "--nocapture", "--test-threads", "1"];

/// What the set-up made: the LibTorch directory, when `tch` is tested.
#[derive(Debug, Clone)]
pub struct Prepared {
    libtorch: Option<PathBuf>,
}

/// Installs what the backends need (Vulkan with `install_vulkan`, LibTorch),
/// running each command through `run`.
pub fn prepare(args: &ParityArgs, run: &dyn Fn(Command) -> Result<()>) -> Result<Prepared> {
    if args.backends.iter().any(|b| b == "wgpu") {
        ensure_vulkan(args.install_vulkan, run)?;
    }
    let libtorch = if args.backends.iter().any(|b| b == "tch") {
        Some(libtorch_cpu(run)?)
    } else {
        None
    };
    Ok(Prepared { libtorch })
}

/// `cargo test` of the parity test with the backends compiled in, building
/// into `target_dir`. The test lives in the cli package, so this one build
/// also gives the `narformer` binary with the same backends (integration tests
/// build the package's binaries): CI needs no second build to keep it from rotting.
pub fn test_command(args: &ParityArgs, prepared: &Prepared, target_dir: &Path) -> Command {
    let mut test = cargo();
    test.args(["test", "--profile", &args.profile, "--package", "cli"])
        .arg("--features")
        .arg(args.backends.join(","))
        .args(["--test", "backend_parity"])
        .env("CARGO_TARGET_DIR", target_dir);
    if args.backends.iter().any(|b| b == "wgpu") {
        if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
            // Autotune times each candidate kernel on the driver; on lavapipe the
            // default level doubles the run, and parity holds for any kernel.
            test.env("CUBECL_AUTOTUNE_LEVEL", "minimal");
        }
        if std::env::var_os("GALLIVM_PERF").is_none() {
            // Most of the run is lavapipe compiling each new kernel with LLVM;
            // without its optimisation passes the test took 431 s instead of
            // 1,000 s (cold shader cache, 2 cores), with the same numbers.
            test.env("GALLIVM_PERF", "nopt");
        }
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            // Silences a harmless warning of the Vulkan loader.
            test.env("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
    }
    if let Some(libtorch) = &prepared.libtorch {
        with_libtorch(&mut test, libtorch);
    }
    test
}

pub fn run(args: &ParityArgs) -> Result<()> {
    let prepared = prepare(args, &run_command)?;
    let mut test = test_command(args, &prepared, &workspace_root().join("target"));
    test.args(TEST_ARGS);
    run_command(test)
}

/// Environment for building and running with the `tch` feature against the
/// LibTorch directory `libtorch` (laid out as LibTorch's own archive:
/// `include/`, `lib/`).
fn with_libtorch(cmd: &mut Command, libtorch: &Path) {
    let mut library_path = vec![libtorch.join("lib")];
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        library_path.extend(std::env::split_paths(&old));
    }
    cmd.env("LIBTORCH", libtorch)
        // Would make torch-sys ask Python instead of reading LIBTORCH.
        .env_remove("LIBTORCH_USE_PYTORCH");
    if let Ok(joined) = std::env::join_paths(library_path) {
        cmd.env("LD_LIBRARY_PATH", joined);
    }
}

/// Whether a Vulkan driver (an ICD manifest) is installed.
fn vulkan_installed() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "json"))
}

/// Without a Vulkan driver wgpu panics at its first reduction: install lavapipe
/// when allowed, else say how.
fn ensure_vulkan(install: bool, run: &dyn Fn(Command) -> Result<()>) -> Result<()> {
    if vulkan_installed() {
        return Ok(());
    }
    let command = format!(
        "apt-get install -y --no-install-recommends {}",
        VULKAN_PACKAGES.join(" ")
    );
    if !install {
        bail!(
            "no Vulkan driver is installed (no ICD manifest under /usr/share/vulkan/icd.d): \
             run `{command}` (or pass --install-vulkan)"
        );
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let install_packages = || {
        let mut cmd = apt(&["install", "-y", "--no-install-recommends"]);
        cmd.args(VULKAN_PACKAGES);
        run(cmd)
    };
    if install_packages().is_err() {
        // A fresh machine's package lists may be missing or stale.
        run(apt(&["update"]))?;
        install_packages()?;
    }
    if !vulkan_installed() {
        bail!("`{command}` ran but no Vulkan driver manifest appeared");
    }
    Ok(())
}

/// Besides torch itself (the CUDA build, the only Linux wheel on PyPI), the
/// wheels of the two small CUDA runtime libraries that `libtorch_cpu.so` is
/// linked against, at the versions torch 2.9.0 pins.
const CUDA_RUNTIME_WHEELS: [&str; 2] = [
    "nvidia-cuda-runtime-cu12==12.8.90",
    "nvidia-cuda-cupti-cu12==12.8.90",
];

/// Copies LibTorch's headers and CPU libraries out of the wheels (argv: wheel
/// directory, output directory).
const EXTRACT_LIBTORCH: &str = r#"
import pathlib, shutil, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
libs = {"torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1",
        "nvidia/cuda_runtime/lib/libcudart.so.12", "nvidia/cuda_cupti/lib/libcupti.so.12"}
found = set()
for wheel in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.startswith("torch/include/") and not name.endswith("/"):
                dest = out / "include" / name[len("torch/include/"):]
            elif name in libs:
                dest = out / "lib" / pathlib.PurePosixPath(name).name
                found.add(name)
            else:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
missing = libs - found
if missing:
    sys.exit("not in the wheels: " + ", ".join(sorted(missing)))
"#;

/// A CPU-only LibTorch 2.9.0 under target/, made once from the PyPI wheels:
/// about 0.5 GB on disk, where `pip install torch` takes 6.7 GB with its CUDA
/// packages (more than CI's disk had left). `libtorch.so` is a link to
/// `libtorch_cpu.so`: in the CUDA wheel it only joins the CPU and CUDA halves,
/// and torch-sys links CUDA only when `libtorch_cuda.so` is present.
fn libtorch_cpu(run: &dyn Fn(Command) -> Result<()>) -> Result<PathBuf> {
    let mut requirements = vec![format!("torch=={TORCH_VERSION}")];
    requirements.extend(CUDA_RUNTIME_WHEELS.iter().map(|w| w.to_string()));
    let unpack = wheel::Unpack {
        dir_name: format!("libtorch-{TORCH_VERSION}-cpu"),
        requirements,
        script: EXTRACT_LIBTORCH,
    };
    wheel::unpack_once(&unpack, run, |dir| {
        std::os::unix::fs::symlink("libtorch_cpu.so", dir.join("lib/libtorch.so"))
            .context("cannot link libtorch.so")?;
        // torch-sys checks this file against the version it expects.
        std::fs::write(dir.join("build-version"), TORCH_VERSION)
            .context("cannot write build-version")
    })
}
