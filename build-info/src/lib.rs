//! The code version the binaries report: the package version and the git commit they were
//! built from (`unknown` outside a checkout). Run fingerprints compare it between coordinator
//! and workers, and release manifests record it. It lives in this tiny crate because its build
//! script reruns on every commit: only the crates that name the version rebuild.

/// `wildchat-pipeline <version> (git <commit>)`.
pub fn code_version() -> String {
    format!(
        "wildchat-pipeline {} (git {})",
        env!("CARGO_PKG_VERSION"),
        option_env!("WILDCHAT_GIT_COMMIT").unwrap_or("unknown")
    )
}
