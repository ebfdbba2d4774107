//! `cargo xtask parity`: the backend parity tests
//! (`crates/trainer/tests/backend_parity.rs`) with the GPU backends compiled in.
//! Sets up what each backend needs at run time: a Vulkan driver for `wgpu`
//! (Mesa's software lavapipe on a machine without a GPU) and LibTorch 2.9.0
//! from the PyPI torch wheel for `tch`.

use crate::{cargo, run_command, workspace_root};
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

pub fn run(args: &ParityArgs) -> Result<()> {
    let mut test = cargo();
    test.args(["test", "--profile", &args.profile, "--package", "trainer"])
        .arg("--features")
        .arg(args.backends.join(","))
        .args(["--test", "backend_parity", "--", "--nocapture"])
        // One test at a time: lavapipe already uses every core.
        .args(["--test-threads", "1"]);
    if args.backends.iter().any(|b| b == "wgpu") {
        ensure_vulkan(args.install_vulkan)?;
        if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
            // Autotune times each candidate kernel on the driver; on lavapipe the
            // default level doubles the run, and parity holds for any kernel.
            test.env("CUBECL_AUTOTUNE_LEVEL", "minimal");
        }
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            // Silences a harmless warning of the Vulkan loader.
            test.env("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
    }
    if args.backends.iter().any(|b| b == "tch") {
        let venv = torch_venv()?;
        with_libtorch(&mut test, &venv)?;
    }
    run_command(test)
}

/// Environment for building and running with the `tch` feature against the
/// venv's LibTorch.
pub fn with_libtorch(cmd: &mut Command, venv: &Path) -> Result<()> {
    let lib = torch_lib(venv)?;
    let mut library_path = vec![lib];
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        library_path.extend(std::env::split_paths(&old));
    }
    cmd.env("LIBTORCH_USE_PYTORCH", "1")
        .env("VIRTUAL_ENV", venv)
        .env("PATH", prepend_path(&venv.join("bin"))?)
        .env(
            "LD_LIBRARY_PATH",
            std::env::join_paths(library_path).context("LD_LIBRARY_PATH")?,
        );
    Ok(())
}

/// `<venv>/lib/python3.X/site-packages/torch/lib`, where LibTorch's shared
/// libraries are.
fn torch_lib(venv: &Path) -> Result<PathBuf> {
    let lib = venv.join("lib");
    let entries =
        std::fs::read_dir(&lib).with_context(|| format!("cannot list {}", lib.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("site-packages/torch/lib");
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    bail!("no site-packages/torch/lib under {}", lib.display())
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
fn ensure_vulkan(install: bool) -> Result<()> {
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
        run_command(cmd)
    };
    if install_packages().is_err() {
        // A fresh machine's package lists may be missing or stale.
        run_command(apt(&["update"]))?;
        install_packages()?;
    }
    if !vulkan_installed() {
        bail!("`{command}` ran but no Vulkan driver manifest appeared");
    }
    Ok(())
}

/// A virtualenv with the PyPI torch wheel (the LibTorch the tch build script
/// links against), created once under target/.
pub fn torch_venv() -> Result<PathBuf> {
    let venv = workspace_root().join("target/torch-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args([
            "-c",
            &format!(
                "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '{TORCH_VERSION}')"
            ),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ready {
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run_command(create)?;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", &format!("torch=={TORCH_VERSION}")]);
        run_command(install)?;
    }
    Ok(venv)
}

fn prepend_path(dir: &Path) -> Result<std::ffi::OsString> {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let mut parts = vec![dir.to_path_buf()];
    parts.extend(std::env::split_paths(&old));
    std::env::join_paths(parts).context("PATH")
}
