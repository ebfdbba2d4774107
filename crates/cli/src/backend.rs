//! The one place that picks a compute backend, from the `--backend` flag and
//! the cargo features compiled in. Library crates never name a backend.

use anyhow::{Result, bail};
use burn::prelude::Device;

/// Backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "tch") {
        names.push("tch");
    }
    names
}

/// The device for `name`. Built explicitly: `Device::default()` would pick
/// whichever backend feature unification happened to enable first.
pub fn select_device(name: &str) -> Result<Device> {
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        "ndarray" => {
            #[allow(deprecated)]
            let device = Device::ndarray();
            Ok(device)
        }
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "tch")]
        "tch" => {
            #[allow(deprecated)]
            let device = Device::libtorch();
            Ok(device)
        }
        other => bail!(
            "backend {other:?} is not compiled in (available: {}; rebuild with --features {other})",
            compiled_backends().join(", ")
        ),
    }
}
