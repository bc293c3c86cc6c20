//! The worker binary. The distributed job loop against Redis and S3 arrives with the
//! distributed runtime; today the embedded default runs the same loop inside the coordinator.

fn main() -> std::process::ExitCode {
    eprintln!("worker: the distributed worker (redis queue, s3 store) is not available yet; use `coordinator run --queue embedded`");
    std::process::ExitCode::from(2)
}
