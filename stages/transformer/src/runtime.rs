//! The ONNX Runtime library and the process's one environment. The library is loaded at run
//! time (`load-dynamic`) from `ORT_DYLIB_PATH`, or from where `infra/dev/setup.sh` installs the
//! PyPI wheel's `libonnxruntime.so.1.31.1`. CUDA is used only when asked for, and a CUDA that
//! cannot be registered is an error: CPU is never a silent fallback.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

use crate::{Device, Error, Result};

/// The environment variable naming the ONNX Runtime library.
pub const LIBRARY_ENV: &str = "ORT_DYLIB_PATH";
/// The library file the set-up installs (from the PyPI wheel `onnxruntime==1.31.1`).
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// Where `infra/dev/setup.sh` installs the library: `$XDG_DATA_HOME/wildchat/onnxruntime`.
pub fn default_library_directory() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data_home.join("wildchat/onnxruntime"))
}

/// The library this process loads: `ORT_DYLIB_PATH`, else the set-up's default location.
pub fn library_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV).filter(|path| !path.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    default_library_directory()
        .map(|directory| directory.join(LIBRARY_FILE))
        .ok_or_else(|| {
            Error::Runtime("neither ORT_DYLIB_PATH nor HOME is set: cannot find the ONNX Runtime library".to_string())
        })
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, created on first use.
pub fn environment() -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = library_path().map_err(|error| format!("{error:#}"))?;
            if !path.is_file() {
                return Err(format!(
                    "the ONNX Runtime library {} does not exist: run `infra/dev/setup.sh` (it installs \
                     {LIBRARY_FILE} from the PyPI wheel onnxruntime==1.31.1) or set {LIBRARY_ENV}",
                    path.display()
                ));
            }
            let builder = ort::init_from(&path)
                .map_err(|error| format!("cannot load the ONNX Runtime library {}: {error}", path.display()))?;
            builder
                .with_name("wildchat")
                .build()
                .map_err(|error| format!("cannot start ONNX Runtime from {}: {error}", path.display()))
        })
        .as_ref()
        .map_err(|message| Error::Runtime(message.clone()))
}

/// Builds a session for `model` (ONNX bytes) on `device` with `threads` intra-op threads.
/// `name` names the model in errors.
pub fn session(name: &str, model: &[u8], device: Device, threads: usize) -> Result<Session> {
    // Builder errors carry the builder and are neither Send nor Sync: turn them into text here.
    fn text<E: std::fmt::Display>(error: E) -> String {
        error.to_string()
    }
    let environment = environment()?;
    let mut builder = Session::builder(environment)
        .map_err(text)
        .and_then(|builder| builder.with_intra_threads(threads.max(1)).map_err(text))
        .and_then(|builder| builder.with_inter_threads(1).map_err(text))
        .map_err(|error| Error::Runtime(format!("cannot configure an ONNX Runtime session for {name}: {error}")))?;
    if let Device::Cuda(device_id) = device {
        let provider = ort::ep::CUDA::default()
            .with_device_id(device_id as i32)
            .build()
            .error_on_failure();
        builder = builder.with_execution_providers([provider]).map_err(|error| {
            Error::Runtime(format!(
                "--device cuda: the CUDA execution provider cannot be registered ({error}). It needs \
                 {LIBRARY_ENV} to point at libonnxruntime.so.1.31.1 from the PyPI wheel onnxruntime-gpu==1.31.1 \
                 (with libonnxruntime_providers_cuda.so beside it) and the CUDA 13 and cuDNN 9 libraries on \
                 LD_LIBRARY_PATH"
            ))
        })?;
    }
    let session = builder
        .commit_from_memory(model)
        .map_err(|error| Error::Runtime(format!("cannot load the ONNX model {name}: {error}")))?;
    Ok(session)
}

/// Refuses CUDA device numbers that cannot be right before any library is touched.
pub fn check_device(device: Device) -> Result<()> {
    if let Device::Cuda(id) = device {
        if id > 64 {
            return Err(Error::Runtime(format!("--device cuda:{id}: no such device number")));
        }
    }
    Ok(())
}
