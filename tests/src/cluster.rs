//! A distributed deployment for end-to-end tests: a real `redis-server` and an S3-compatible
//! `moto_server` on loopback ports, the bucket the store lives in, and coordinator and worker
//! processes started against them. Every process is stopped by its own pid when its guard is
//! dropped, so a failing test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use storage::s3::{S3Options, S3Store};
use storage::{ObjectStore, PutMode};
use test_servers::{RedisServer, S3Server};

use crate::{binary, TEST_SALT_HEX};

/// A child process killed (SIGKILL) and reaped when dropped, unless it already exited.
#[derive(Debug)]
pub struct ProcessGuard {
    child: Child,
    pub name: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

impl ProcessGuard {
    /// Starts `command` with stdout and stderr captured in files of `directory`.
    pub fn spawn(name: &str, mut command: Command, directory: &Path) -> ProcessGuard {
        let stdout_path = directory.join(format!("{name}.stdout"));
        let stderr_path = directory.join(format!("{name}.stderr"));
        let stdout = std::fs::File::create(&stdout_path).expect("creating a stdout file");
        let stderr = std::fs::File::create(&stderr_path).expect("creating a stderr file");
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        ProcessGuard {
            child,
            name: name.to_string(),
            stdout_path,
            stderr_path,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("polling a child process");
        }
        self.status
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, by this process's own pid, and reap it.
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// SIGTERM (a graceful stop request), by pid.
    pub fn terminate(&mut self) {
        if self.try_status().is_none() {
            let sent = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status()
                .expect("running kill");
            assert!(sent.success(), "kill -TERM {} failed", self.pid());
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last lines of stderr, for assertion messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = self.stderr();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("reading the bound port").port()
}

/// `GET path` on a loopback port; `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())?;
    Some((status, body))
}

/// The sum of every sample of a metric whose line starts with `selector` (a name, optionally
/// with its opening label brace).
pub fn metric_sum(exposition: &str, selector: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && line.starts_with(selector))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A worker process with its metrics port.
#[derive(Debug)]
pub struct Worker {
    pub process: ProcessGuard,
    pub port: u16,
}

impl Worker {
    pub fn metrics(&self) -> Option<String> {
        match http_get(self.port, "/metrics") {
            Some((200, body)) => Some(body),
            _ => None,
        }
    }

    /// Waits until `/healthz` answers 200 (the worker loaded its resources and serves jobs).
    pub fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.process.try_status().is_some() {
                return false;
            }
            if matches!(http_get(self.port, "/healthz"), Some((200, _))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// Worker settings the tests use: short leases so a killed worker's job is retried quickly,
/// and enough attempts that repeated kills never dead-letter a job.
pub const TEST_WORKER_CONFIG: &str = r#"
lease_timeout_ms = 2000
heartbeat_ms = 300
max_attempts = 40
idle_poll_ms = 100
discover_ms = 250
queue_stats_ms = 500
log = "info"
log_format = "json"
"#;

/// Redis, an S3 server with a bucket, and the processes of one test.
pub struct Cluster {
    pub runtime: tokio::runtime::Runtime,
    pub redis: RedisServer,
    pub s3: S3Server,
    pub store: S3Store,
    pub bucket: String,
    pub prefix: String,
    pub directory: tempfile::TempDir,
    pub worker_config: PathBuf,
    started_workers: usize,
}

impl Cluster {
    pub fn start() -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (redis, s3) = runtime.block_on(async {
            let (redis, s3) = tokio::join!(RedisServer::start(), S3Server::start());
            (
                redis.expect("redis-server starts (infra/dev/setup.sh installs it)"),
                s3.expect("moto_server starts (infra/dev/setup.sh installs it)"),
            )
        });
        let bucket = "wildchat-e2e".to_string();
        let prefix = "store".to_string();
        let store = runtime
            .block_on(s3.store(&bucket, &prefix, S3Options::default()))
            .expect("creating the bucket");
        let directory = tempfile::tempdir().expect("a temporary directory");
        let worker_config = directory.path().join("worker.toml");
        std::fs::write(&worker_config, TEST_WORKER_CONFIG).expect("writing the worker config");
        Cluster {
            runtime,
            redis,
            s3,
            store,
            bucket,
            prefix,
            directory,
            worker_config,
            started_workers: 0,
        }
    }

    pub fn store_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    pub fn queue_uri(&self) -> String {
        self.redis.url()
    }

    /// The AWS environment of a process talking to the test S3 server, plus the test salt.
    pub fn apply_env(&self, command: &mut Command) {
        command
            .env("AWS_ENDPOINT_URL", self.s3.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("WILDCHAT__IP_SALT", TEST_SALT_HEX);
    }

    pub fn coordinator_command(&self) -> Command {
        let mut command = Command::new(binary("coordinator"));
        self.apply_env(&mut command);
        command
    }

    /// Starts `coordinator run` against the cluster with `extra` arguments, in the background.
    pub fn spawn_coordinator(&self, name: &str, version: &str, extra: &[&str]) -> ProcessGuard {
        let mut command = self.coordinator_command();
        command
            .args(["run", "--store", &self.store_uri(), "--queue", &self.queue_uri()])
            .args(["--version", version, "--progress-secs", "1"])
            .args(extra);
        ProcessGuard::spawn(name, command, self.directory.path())
    }

    /// Starts one `worker run` process serving every announced run; it is not waited for.
    pub fn spawn_worker(&mut self) -> Worker {
        let endpoint = self.s3.endpoint();
        self.spawn_worker_with_s3_endpoint(&endpoint)
    }

    /// As [`Cluster::spawn_worker`], reaching S3 at `endpoint` (a proxy in front of the server).
    pub fn spawn_worker_with_s3_endpoint(&mut self, endpoint: &str) -> Worker {
        self.spawn_worker_with_env(endpoint, &[])
    }

    /// As [`Cluster::spawn_worker_with_s3_endpoint`], with extra environment variables.
    pub fn spawn_worker_with_env(&mut self, endpoint: &str, env: &[(&str, &str)]) -> Worker {
        self.started_workers += 1;
        let port = free_port();
        let mut command = Command::new(binary("worker"));
        self.apply_env(&mut command);
        command.env("AWS_ENDPOINT_URL", endpoint);
        command.envs(env.iter().copied());
        command
            .arg("run")
            .arg("--config")
            .arg(&self.worker_config)
            .args(["--store", &self.store_uri(), "--queue", &self.queue_uri()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--name", &format!("w{}", self.started_workers)]);
        let name = format!("worker-{}", self.started_workers);
        Worker {
            process: ProcessGuard::spawn(&name, command, self.directory.path()),
            port,
        }
    }

    /// Copies every file under `local_root/sub` to the same keys in the bucket.
    pub fn upload(&self, local_root: &Path, sub: &str) {
        let mut files = Vec::new();
        collect_files(&local_root.join(sub), &mut files);
        self.runtime.block_on(async {
            for path in files {
                let key = path
                    .strip_prefix(local_root)
                    .expect("a file under the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let body = bytes::Bytes::from(std::fs::read(&path).expect("reading a local file"));
                // Test set-up, not the code under test: moto_server under load now and then
                // answers a part upload with an empty error body, so an upload is tried again.
                for attempt in 1..=5 {
                    match self.store.put(&key, body.clone(), PutMode::Overwrite).await {
                        Ok(_) => break,
                        Err(error) if attempt < 5 => {
                            eprintln!("uploading {key}, attempt {attempt}: {error}; trying again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(error) => panic!("uploading {key}: {error}"),
                    }
                }
            }
        });
    }

    /// Copies every object under `prefix` into `local_root`, keeping the keys as paths.
    pub fn download(&self, prefix: &str, local_root: &Path) {
        self.runtime.block_on(async {
            for object in self.store.list(prefix).await.expect("listing the bucket") {
                let body = self
                    .store
                    .get(&object.key)
                    .await
                    .unwrap_or_else(|error| panic!("downloading {}: {error}", object.key));
                let path = local_root.join(&object.key);
                std::fs::create_dir_all(path.parent().expect("a key has a parent")).expect("creating a directory");
                std::fs::write(&path, &body).expect("writing a downloaded object");
            }
        });
    }

    /// Keys under `prefix` that end with `suffix`.
    pub fn count_keys(&self, prefix: &str, suffix: &str) -> usize {
        self.runtime
            .block_on(self.store.list(prefix))
            .map(|objects| objects.iter().filter(|object| object.key.ends_with(suffix)).count())
            .unwrap_or(0)
    }

    /// The S3 server's socket address (for a proxy in front of it).
    pub fn s3_address(&self) -> std::net::SocketAddr {
        let endpoint = self.s3.endpoint();
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("an endpoint with a port");
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    pub fn restart_redis(&mut self) {
        self.runtime
            .block_on(self.redis.restart())
            .expect("redis-server restarts");
    }
}

fn collect_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(directory).unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
    files.sort();
}
