//! Choosing a burn device by name at run time; the crate features decide which are compiled in.

use burn::backend::DispatchDevice;
use burn::prelude::Device;

use crate::error::{BiomeError, Result};

/// Device names compiled into this build, in order of preference for the default.
pub fn available_devices() -> Vec<&'static str> {
    let mut names = vec![];
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu-base") {
        names.push("wgpu");
    }
    names
}

/// The default device name: the first compiled-in CPU backend, else wgpu.
pub fn default_device_name() -> &'static str {
    available_devices().first().copied().unwrap_or("none")
}

/// The (non-autodiff) device for `name`: `flex`, `ndarray` or `wgpu`.
pub fn device_from_name(name: &str) -> Result<Device> {
    let unknown = || BiomeError::Device {
        name: name.to_string(),
        available: available_devices().join(", "),
    };
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        // burn deprecates ndarray in favour of flex; the design card still names it, so it stays
        // available as an opt-in feature.
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu-base")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        _ => Err(unknown()),
    }
}

/// The name [`device_from_name`] reads for `device`'s backend (`"other"` for a backend this
/// build cannot name).
pub fn device_name(device: &Device) -> &'static str {
    match device.clone().inner().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => "flex",
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => "ndarray",
        #[cfg(feature = "wgpu-base")]
        DispatchDevice::Cube(_) => "wgpu",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_device_lists_the_compiled_ones() {
        let err = device_from_name("tpu").unwrap_err().to_string();
        assert!(err.contains("tpu"), "{err}");
        for name in available_devices() {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn default_device_is_available() {
        assert!(device_from_name(default_device_name()).is_ok());
    }

    #[test]
    fn every_compiled_device_names_itself() {
        for name in available_devices() {
            let device = device_from_name(name).unwrap();
            assert_eq!(device_name(&device), name);
            assert_eq!(device_name(&device.autodiff()), name);
        }
    }
}
