//! Real servers for tests: a `redis-server` and a `moto_server` (S3) started on free loopback
//! ports, each in its own temporary directory, and stopped by their own pid when dropped.
//! Used by this crate's tests and by the end-to-end tests; `infra/dev/setup.sh` installs both.
//! [`moderation`] serves an OpenAI-compatible moderation endpoint from a thread of the test.

pub mod moderation;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use storage::s3::{S3Options, S3Store};

const REDIS_BINARY: &str = "redis-server";
const MOTO_BINARY: &str = "moto_server";
const REDIS_READY_WITHIN: Duration = Duration::from_secs(15);
/// moto imports a large Python package before it listens.
const MOTO_READY_WITHIN: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A port picked as free can be taken by another test before the server binds it.
const START_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    #[error("{binary} not found on PATH: run infra/dev/setup.sh")]
    MissingBinary { binary: &'static str },
    #[error("cannot start {binary}: {reason}")]
    Start { binary: &'static str, reason: String },
    #[error("{binary} on port {port} {problem}; its log ends with: {log_tail}")]
    NotReady {
        binary: &'static str,
        port: u16,
        problem: String,
        log_tail: String,
    },
    #[error("test server setup failed: {0}")]
    Setup(String),
}

/// One started process, killed and reaped by pid on drop.
#[derive(Debug)]
struct ServerProcess {
    child: Child,
    log_path: PathBuf,
}

impl ServerProcess {
    fn spawn(binary: &'static str, args: &[&str], directory: &Path, log_name: &str) -> Result<Self, TestServerError> {
        let log_path = directory.join(log_name);
        let log = std::fs::File::create(&log_path).map_err(|error| TestServerError::Start {
            binary,
            reason: format!("cannot create log {}: {error}", log_path.display()),
        })?;
        let log_for_stderr = log.try_clone().map_err(|error| TestServerError::Start {
            binary,
            reason: format!("cannot share log {}: {error}", log_path.display()),
        })?;
        let spawned = Command::new(binary)
            .args(args)
            .current_dir(directory)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn();
        match spawned {
            Ok(child) => Ok(ServerProcess { child, log_path }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(TestServerError::MissingBinary { binary })
            }
            Err(error) => Err(TestServerError::Start {
                binary,
                reason: error.to_string(),
            }),
        }
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited with {status}")),
            Ok(None) => None,
            Err(error) => Some(format!("cannot be polled: {error}")),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            "(empty)".to_string()
        } else {
            tail
        }
    }

    fn stop(&mut self) {
        // Only this process, by its own pid; then reap it so no zombie or listener remains.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_loopback_port() -> Result<u16, TestServerError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|error| TestServerError::Setup(format!("no free loopback port: {error}")))?;
    let port = listener
        .local_addr()
        .map_err(|error| TestServerError::Setup(format!("no free loopback port: {error}")))?
        .port();
    Ok(port)
}

/// Sends `request` to the port and returns what came back, or `None` if nothing answered.
async fn probe(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(request).await.ok()?;
        let mut answer = vec![0u8; 64];
        let read = stream.read(&mut answer).await.ok()?;
        answer.truncate(read);
        Some(answer)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// Polls until `ready` accepts an answer, the process exits, or the deadline passes.
async fn wait_until_ready(
    process: &mut ServerProcess,
    binary: &'static str,
    port: u16,
    request: &[u8],
    within: Duration,
    ready: impl Fn(&[u8]) -> bool,
) -> Result<(), TestServerError> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(problem) = process.exited() {
            return Err(TestServerError::NotReady {
                binary,
                port,
                problem,
                log_tail: process.log_tail(),
            });
        }
        if let Some(answer) = probe(port, request).await {
            if ready(&answer) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(TestServerError::NotReady {
                binary,
                port,
                problem: format!("did not answer within {}s", within.as_secs()),
                log_tail: process.log_tail(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A throwaway `redis-server`: no persistence, loopback only.
#[derive(Debug)]
pub struct RedisServer {
    process: Option<ServerProcess>,
    port: u16,
    directory: tempfile::TempDir,
}

impl RedisServer {
    pub async fn start() -> Result<RedisServer, TestServerError> {
        let directory = tempfile::tempdir()
            .map_err(|error| TestServerError::Setup(format!("cannot create a temporary directory: {error}")))?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_loopback_port()?;
            match RedisServer::launch(directory.path(), port).await {
                Ok(process) => {
                    return Ok(RedisServer {
                        process: Some(process),
                        port,
                        directory,
                    })
                }
                Err(error @ TestServerError::MissingBinary { .. }) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| TestServerError::Setup("redis-server was never started".to_string())))
    }

    async fn launch(directory: &Path, port: u16) -> Result<ServerProcess, TestServerError> {
        let port_text = port.to_string();
        let directory_text = directory.display().to_string();
        let args = [
            "--port",
            port_text.as_str(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory_text.as_str(),
        ];
        let mut process = ServerProcess::spawn(REDIS_BINARY, &args, directory, "redis.log")?;
        wait_until_ready(
            &mut process,
            REDIS_BINARY,
            port,
            b"PING\r\n",
            REDIS_READY_WITHIN,
            |answer| answer.starts_with(b"+PONG"),
        )
        .await?;
        Ok(process)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server and starts a fresh one on the same port; all data is lost, and open
    /// connections see a drop.
    pub async fn restart(&mut self) -> Result<(), TestServerError> {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
        self.process = Some(RedisServer::launch(self.directory.path(), self.port).await?);
        Ok(())
    }
}

/// A throwaway `redis-server` that clients reach over TLS (`rediss://`), with a password, its
/// own certificate authority (made with the `openssl` command) and a server certificate for
/// 127.0.0.1. A plain-text port on loopback serves only the readiness probe.
#[derive(Debug)]
pub struct RedisTlsServer {
    _process: ServerProcess,
    tls_port: u16,
    password: String,
    directory: tempfile::TempDir,
}

impl RedisTlsServer {
    pub async fn start(password: &str) -> Result<RedisTlsServer, TestServerError> {
        let directory = tempfile::tempdir()
            .map_err(|error| TestServerError::Setup(format!("cannot create a temporary directory: {error}")))?;
        make_certificates(directory.path())?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let (plain_port, tls_port) = (free_loopback_port()?, free_loopback_port()?);
            if plain_port == tls_port {
                continue;
            }
            let path = |name: &str| directory.path().join(name).display().to_string();
            let (plain_text, tls_text, dir_text) = (plain_port.to_string(), tls_port.to_string(), path(""));
            let (cert, key, ca) = (path("server.crt"), path("server.key"), path("ca.crt"));
            let args = [
                "--port",
                plain_text.as_str(),
                "--tls-port",
                tls_text.as_str(),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                cert.as_str(),
                "--tls-key-file",
                key.as_str(),
                "--tls-ca-cert-file",
                ca.as_str(),
                "--tls-auth-clients",
                "no",
                "--requirepass",
                password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                dir_text.as_str(),
            ];
            let mut process = ServerProcess::spawn(REDIS_BINARY, &args, directory.path(), "redis.log")?;
            // Without the password the server answers NOAUTH: it is up.
            match wait_until_ready(
                &mut process,
                REDIS_BINARY,
                plain_port,
                b"PING\r\n",
                REDIS_READY_WITHIN,
                |answer| answer.starts_with(b"-NOAUTH") || answer.starts_with(b"+PONG"),
            )
            .await
            {
                Ok(()) => {
                    return Ok(RedisTlsServer {
                        _process: process,
                        tls_port,
                        password: password.to_string(),
                        directory,
                    })
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| TestServerError::Setup("redis-server (tls) was never started".to_string())))
    }

    /// `rediss://:PASSWORD@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://:{}@127.0.0.1:{}", self.password, self.tls_port)
    }

    /// The PEM file of the certificate authority that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.directory.path().join("ca.crt")
    }
}

/// A CA and a server certificate for 127.0.0.1, made with the `openssl` command.
fn make_certificates(directory: &Path) -> Result<(), TestServerError> {
    std::fs::write(directory.join("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        .map_err(|error| TestServerError::Setup(format!("writing san.cnf: {error}")))?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=wildchat-test-ca",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
        ],
    ];
    for step in steps {
        let output = std::process::Command::new("openssl")
            .args(step)
            .current_dir(directory)
            .output()
            .map_err(|error| {
                TestServerError::Setup(format!("running openssl (infra/dev/setup.sh installs it): {error}"))
            })?;
        if !output.status.success() {
            return Err(TestServerError::Setup(format!(
                "openssl {} failed: {}",
                step.join(" "),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
    }
    Ok(())
}

/// A throwaway `moto_server` speaking the S3 API, with dummy credentials.
#[derive(Debug)]
pub struct S3Server {
    _process: ServerProcess,
    port: u16,
    _directory: tempfile::TempDir,
}

impl S3Server {
    pub async fn start() -> Result<S3Server, TestServerError> {
        let directory = tempfile::tempdir()
            .map_err(|error| TestServerError::Setup(format!("cannot create a temporary directory: {error}")))?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_loopback_port()?;
            let port_text = port.to_string();
            let args = ["-H", "127.0.0.1", "-p", port_text.as_str()];
            let mut process = ServerProcess::spawn(MOTO_BINARY, &args, directory.path(), "moto.log")?;
            let ready = wait_until_ready(
                &mut process,
                MOTO_BINARY,
                port,
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                MOTO_READY_WITHIN,
                |answer| answer.starts_with(b"HTTP/1."),
            )
            .await;
            match ready {
                Ok(()) => {
                    return Ok(S3Server {
                        _process: process,
                        port,
                        _directory: directory,
                    })
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| TestServerError::Setup("moto_server was never started".to_string())))
    }

    /// `http://127.0.0.1:PORT`, the value `AWS_ENDPOINT_URL` would take.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An AWS configuration pointing at this server with dummy static credentials, so tests
    /// never touch the process environment or real AWS credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test-server"))
            .load()
            .await
    }

    /// Creates the bucket (if needed) and returns a store on `s3://bucket/prefix`.
    pub async fn store(&self, bucket: &str, prefix: &str, options: S3Options) -> Result<S3Store, TestServerError> {
        let sdk_config = self.sdk_config().await;
        let store = S3Store::from_sdk_config(&sdk_config, bucket, prefix, options);
        if let Err(error) = store.client().create_bucket().bucket(bucket).send().await {
            let already = error
                .as_service_error()
                .is_some_and(|service| service.is_bucket_already_owned_by_you() || service.is_bucket_already_exists());
            if !already {
                return Err(TestServerError::Setup(format!(
                    "cannot create bucket {bucket}: {}",
                    storage::s3::error_chain(&error)
                )));
            }
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_points_at_the_setup_script() {
        let directory = tempfile::tempdir().unwrap();
        let error = ServerProcess::spawn("wildchat-no-such-server", &[], directory.path(), "log").unwrap_err();
        assert!(matches!(error, TestServerError::MissingBinary { .. }));
        assert_eq!(
            error.to_string(),
            "wildchat-no-such-server not found on PATH: run infra/dev/setup.sh"
        );
    }
}
