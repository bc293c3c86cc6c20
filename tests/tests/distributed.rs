//! End-to-end runs of the real binaries as a distributed job: a real `redis-server` as the
//! queue, a real S3-compatible server (`moto_server`) as the store, one coordinator process
//! and several `worker run` processes, all on loopback. Each scenario checks the release
//! against the generator's ground truth and, byte for byte, against the embedded run of the
//! same input; the fault scenarios kill workers, the coordinator and Redis on the way.
//!
//! The scenarios run one at a time (they share two cores; lease timings stay meaningful).
//! A longer chaos run is one command (see the README):
//! `WILDCHAT_CHAOS_KILLS=40 WILDCHAT_CHAOS_CONVERSATIONS=12000 cargo test -p e2e-tests --test distributed workers_killed -- --nocapture`

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use e2e_tests::cluster::{metric_sum, Cluster, ProcessGuard, Worker};
use e2e_tests::proxy::{FaultProxy, Faults};
use e2e_tests::{
    assert_release_matches_truth, coordinator, generated_store, read_json, read_manifest, shard_digests, TEST_SALT_HEX,
};
use rand::{Rng, SeedableRng};

static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const PARTITIONS: &str = "6";
const MAP_BYTES: &str = "2000000";
/// Longest any one coordinator run may take before the test fails (and kills everything).
const RUN_LIMIT: Duration = Duration::from_secs(300);
const WORKER_READY_LIMIT: Duration = Duration::from_secs(120);

/// A cluster with generated input uploaded to its bucket, and the local copy holding the
/// ground truth and the embedded reference release.
struct Scenario {
    cluster: Cluster,
    _local_dir: tempfile::TempDir,
    local: PathBuf,
}

impl Scenario {
    fn new(conversations: u64, seed: u64) -> Scenario {
        let cluster = Cluster::start();
        let (local_dir, local) = generated_store(conversations, seed, Some(3));
        cluster.upload(&local, "raw");
        Scenario {
            cluster,
            _local_dir: local_dir,
            local,
        }
    }

    fn run_args(&self) -> Vec<&'static str> {
        vec!["--partitions", PARTITIONS, "--map-bytes", MAP_BYTES, "--log", "info"]
    }

    /// The embedded run of the same input: the release the distributed one must equal.
    fn embedded_reference(&self, version: &str) -> serde_json::Value {
        let store = self.local.to_str().expect("a utf-8 path");
        coordinator(&[
            "run",
            "--store",
            store,
            "--version",
            version,
            "--partitions",
            PARTITIONS,
            "--map-bytes",
            MAP_BYTES,
            "--workers",
            "2",
            "--quiet",
        ]);
        read_manifest(&self.local, version)
    }

    fn start_workers(&mut self, count: usize) -> Vec<Worker> {
        let endpoint = self.cluster.s3.endpoint();
        self.start_workers_via(count, &endpoint)
    }

    /// Workers that reach S3 at `endpoint`.
    fn start_workers_via(&mut self, count: usize, endpoint: &str) -> Vec<Worker> {
        let mut workers: Vec<Worker> = (0..count)
            .map(|_| self.cluster.spawn_worker_with_s3_endpoint(endpoint))
            .collect();
        for worker in &mut workers {
            assert!(
                worker.wait_ready(WORKER_READY_LIMIT),
                "{} did not become ready:\n{}",
                worker.process.name,
                worker.process.stderr_tail(20)
            );
        }
        workers
    }

    /// Downloads the distributed release and checks it against the truth and the reference.
    fn check_release(&self, version: &str, reference_version: &str) -> e2e_tests::PyarrowReport {
        let download = tempfile::tempdir().expect("a temporary directory");
        self.cluster.download(&format!("releases/{version}/"), download.path());
        let release_dir = download.path().join("releases").join(version);
        let manifest = read_json(&release_dir.join("manifest.json"));
        let reference = self.embedded_reference(reference_version);
        assert_eq!(
            shard_digests(&manifest),
            shard_digests(&reference),
            "the distributed release differs from the embedded one"
        );
        for shard in manifest["variants"]["full"]["shards"].as_array().expect("shards") {
            let key = shard["key"].as_str().expect("a shard key");
            let twin = key.replace(
                &format!("releases/{version}/"),
                &format!("releases/{reference_version}/"),
            );
            assert_eq!(
                std::fs::read(download.path().join(key)).expect("a downloaded shard"),
                std::fs::read(self.local.join(&twin)).expect("a reference shard"),
                "shard {key} differs byte for byte"
            );
        }
        assert_eq!(
            manifest["counters"], reference["counters"],
            "counters are not double counted"
        );
        assert_release_matches_truth(&release_dir, &self.local)
    }

    fn map_markers(&self, run: &str) -> usize {
        self.cluster.count_keys(&format!("runs/{run}/map/"), "/_SUCCESS.json")
    }

    fn map_jobs(&self, run: &str) -> usize {
        let plan: serde_json::Value = self.cluster.runtime.block_on(async {
            let body = storage::ObjectStore::get(&self.cluster.store, &format!("runs/{run}/plan.json"))
                .await
                .expect("the plan exists");
            serde_json::from_slice(&body).expect("the plan is json")
        });
        plan["map_jobs"].as_array().expect("map jobs").len()
    }

    fn status(&self, run: &str) -> String {
        let output = self
            .cluster
            .coordinator_command()
            .args(["status", run, "--store", &self.cluster.store_uri()])
            .args(["--queue", &self.cluster.queue_uri()])
            .output()
            .expect("running coordinator status");
        assert!(
            output.status.success(),
            "coordinator status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Waits for the coordinator to succeed; on failure or timeout shows its and the workers' logs.
fn wait_success(coordinator: &mut ProcessGuard, workers: &[Worker]) -> String {
    let status = coordinator.wait_for(RUN_LIMIT);
    let worker_logs = || {
        workers
            .iter()
            .map(|worker| format!("--- {}\n{}", worker.process.name, worker.process.stderr_tail(15)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match status {
        Some(status) if status.success() => coordinator.stdout(),
        Some(status) => panic!(
            "coordinator failed with {status}\n{}\n{}",
            coordinator.stderr_tail(40),
            worker_logs()
        ),
        None => {
            coordinator.kill();
            panic!(
                "coordinator did not finish within {}s\n{}\n{}",
                RUN_LIMIT.as_secs(),
                coordinator.stderr_tail(40),
                worker_logs()
            )
        }
    }
}

/// Waits until `ready` holds, checking every 50 ms, for at most `limit`.
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn jobs_done(workers: &[Worker]) -> f64 {
    workers
        .iter()
        .map(|worker| metric_sum(&worker.metrics().unwrap_or_default(), "wildchat_worker_jobs_done_total"))
        .sum()
}

fn summary_number(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .and_then(|line| line.split_whitespace().last())
        .map(|value| value.replace(',', ""))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("the summary has no {label:?} row:\n{summary}"))
}

#[test]
fn three_worker_processes_over_redis_and_s3_give_the_embedded_release() {
    let _serial = one_at_a_time();
    let conversations: u64 = std::env::var("WILDCHAT_E2E_CONVERSATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let mut scenario = Scenario::new(conversations, 21);
    let mut workers = scenario.start_workers(3);
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "d1", &scenario.run_args());
    let stdout = wait_success(&mut coordinator, &workers);
    assert_eq!(
        last_line_of(&stdout),
        format!("{}/releases/d1", scenario.cluster.store_uri())
    );
    let progress = coordinator.stderr();
    assert!(
        progress.contains("map: jobs")
            && progress.contains("analyse: jobs")
            && progress.contains("finalise: jobs")
            && progress.contains("dead letters 0"),
        "progress lines on stderr:\n{progress}"
    );

    // Workers report over HTTP; together they recorded every job exactly once.
    let map_jobs = scenario.map_jobs("d1");
    let partitions: usize = PARTITIONS.parse().expect("a number");
    // One analyse and one finalise job per partition.
    assert_eq!(jobs_done(&workers) as usize, map_jobs + 2 * partitions);
    let metrics = workers[0].metrics().expect("worker 0 serves /metrics");
    for name in [
        "wildchat_worker_jobs_done_total",
        "wildchat_worker_rows_total",
        "wildchat_worker_job_duration_seconds_bucket",
        "wildchat_worker_queue_lag_seconds_count",
        "wildchat_worker_jobs_in_progress",
    ] {
        assert!(metrics.contains(name), "missing {name}:\n{metrics}");
    }
    assert!(metrics.lines().all(|line| !line.contains(TEST_SALT_HEX)));

    // Another shell sees the committed run, from the store and the queue.
    let status = scenario.status("d1");
    assert!(status.contains("committed"), "{status}");
    for queue in ["map", "analyse", "finalise"] {
        assert!(
            status
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{queue} ")) && line.contains("queue  waiting")),
            "no {queue} queue line:\n{status}"
        );
    }

    // SIGTERM: each worker finishes and exits 0.
    for worker in &mut workers {
        worker.process.terminate();
    }
    for worker in &mut workers {
        let status = worker.process.wait_for(Duration::from_secs(30));
        assert!(
            status.is_some_and(|status| status.success()),
            "{} did not stop cleanly on SIGTERM ({status:?}):\n{}",
            worker.process.name,
            worker.process.stderr_tail(10)
        );
        let logs = worker.process.stderr();
        assert!(logs.contains("worker stopped"), "{logs}");
        assert!(!logs.contains(TEST_SALT_HEX), "the salt reached a worker log");
        for line in logs.lines().filter(|line| !line.trim().is_empty()) {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|error| panic!("worker log line is not json ({error}): {line}"));
        }
    }

    scenario.check_release("d1", "embedded-d1");

    // Store-wide, on S3: nothing outside raw/ holds a raw IP, a device fingerprint or the salt.
    let (ips, fingerprints) = e2e_tests::raw_secrets(&scenario.local);
    assert!(ips.len() > 100 && fingerprints.len() > 10);
    let copy = tempfile::tempdir().expect("a temporary directory");
    for prefix in ["runs/", "releases/", "cache/", "claims/", "channels/"] {
        scenario.cluster.download(prefix, copy.path());
    }
    assert!(
        copy.path().join("runs/d1/plan.json").is_file(),
        "the scan sees the run's objects"
    );
    assert!(
        !copy.path().join("runs/d1/map").exists(),
        "map fragments outlived the run"
    );
    let found = e2e_tests::private_data_outside_raw(copy.path(), &ips, &fingerprints, TEST_SALT_HEX);
    assert!(found.is_empty(), "private data outside raw/: {found:?}");
}

fn last_line_of(stdout: &str) -> String {
    stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

#[test]
fn workers_killed_at_random_moments_lose_and_duplicate_nothing() {
    let _serial = one_at_a_time();
    let kills_wanted: usize = std::env::var("WILDCHAT_CHAOS_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(12);
    let conversations: u64 = std::env::var("WILDCHAT_CHAOS_CONVERSATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5000);
    let seed: u64 = std::env::var("WILDCHAT_CHAOS_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("chaos: seed {seed} (WILDCHAT_CHAOS_SEED reproduces the kill schedule)");
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);

    let mut scenario = Scenario::new(conversations, 22);
    let mut workers = scenario.start_workers(3);
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "chaos", &scenario.run_args());
    let mut kills = 0;
    let deadline = Instant::now() + RUN_LIMIT;
    while kills < kills_wanted && coordinator.try_status().is_none() && Instant::now() < deadline {
        // A random moment while a worker holds a job: pick one of the busy workers, or any
        // worker when none is busy for a while. Replacements start without waiting, so kills
        // also land while a worker is still loading its resources.
        let mut busy = Vec::new();
        wait_until(Duration::from_secs(5), || {
            busy = (0..workers.len())
                .filter(|slot| {
                    workers[*slot]
                        .metrics()
                        .is_some_and(|metrics| metric_sum(&metrics, "wildchat_worker_jobs_in_progress") >= 1.0)
                })
                .collect();
            !busy.is_empty()
        });
        let slot = if busy.is_empty() {
            random.random_range(0..workers.len())
        } else {
            busy[random.random_range(0..busy.len())]
        };
        std::thread::sleep(Duration::from_millis(random.random_range(0..80)));
        workers[slot].process.kill();
        kills += 1;
        workers[slot] = scenario.cluster.spawn_worker();
    }
    let last_kill = Instant::now();
    let stdout = wait_success(&mut coordinator, &workers);
    let margin = last_kill.elapsed();
    assert!(
        kills >= kills_wanted,
        "the run finished after {kills} of {kills_wanted} kills; make the input larger"
    );
    let retries = summary_number(&stdout, "job retries (queue)");
    let report = scenario.check_release("chaos", "embedded-chaos");
    eprintln!(
        "chaos: {kills} worker kills survived, {retries} job retries, {} conversations, rows lost 0, duplicated 0; the run went on {:.1}s after the last kill",
        report.rows,
        margin.as_secs_f64()
    );
    assert!(retries >= 1, "no kill landed mid-job:\n{stdout}");
}

#[test]
fn a_killed_coordinator_resumes_the_run_without_redoing_finished_jobs() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(3000, 23);
    let workers = scenario.start_workers(3);
    let mut first = scenario
        .cluster
        .spawn_coordinator("coordinator-1", "resumed", &scenario.run_args());
    assert!(
        wait_until(RUN_LIMIT, || scenario.map_markers("resumed") >= 2
            || first.try_status().is_some()),
        "no map job finished"
    );
    first.kill();
    let finished_before = scenario.map_markers("resumed");
    let map_jobs = scenario.map_jobs("resumed");
    assert!(
        finished_before < map_jobs,
        "the map phase finished before the coordinator was killed; make the input larger"
    );

    // The killed coordinator's announcement is still in Redis; another shell sees it.
    let status = scenario.status("resumed");
    assert!(status.contains("run resumed (version resumed): phase map"), "{status}");
    assert!(status.contains("map jobs"), "{status}");

    let mut second = scenario
        .cluster
        .spawn_coordinator("coordinator-2", "resumed", &scenario.run_args());
    let stdout = wait_success(&mut second, &workers);
    assert!(stdout.contains("resumed"), "{stdout}");
    let log = second.stderr();
    let already_done = log
        .lines()
        .find(|line| line.contains("phase started") && (line.contains("phase=\"map\"") || line.contains("phase=map")))
        .and_then(|line| line.split("already_done=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no map phase start in the log:\n{log}"));
    assert!(
        already_done >= finished_before,
        "the restarted coordinator found {already_done} finished map jobs, fewer than the {finished_before} before"
    );
    // Every job was recorded exactly once across both coordinators.
    let partitions: usize = PARTITIONS.parse().expect("a number");
    // One analyse and one finalise job per partition.
    assert_eq!(jobs_done(&workers) as usize, map_jobs + 2 * partitions);
    scenario.check_release("resumed", "embedded-resumed");
}

#[test]
fn a_redis_restart_that_loses_the_queue_is_rebuilt_from_the_store() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(3000, 24);
    let workers = scenario.start_workers(3);
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "rebuilt", &scenario.run_args());
    assert!(
        wait_until(RUN_LIMIT, || scenario.map_markers("rebuilt") >= 2
            || coordinator.try_status().is_some()),
        "no map job finished"
    );
    scenario.cluster.restart_redis();
    let finished_at_restart = scenario.map_markers("rebuilt");
    assert!(
        finished_at_restart < scenario.map_jobs("rebuilt"),
        "the map phase finished before Redis restarted; make the input larger"
    );
    let stdout = wait_success(&mut coordinator, &workers);
    assert!(
        summary_number(&stdout, "jobs re-enqueued (lost)") >= 1,
        "the lost jobs were enqueued again:\n{stdout}"
    );
    scenario.check_release("rebuilt", "embedded-rebuilt");
}

#[test]
fn a_dead_lettered_job_fails_the_run_naming_the_job_and_its_error() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(300, 25);
    let mut coordinator =
        scenario
            .cluster
            .spawn_coordinator("coordinator", "doomed", &["--partitions", "2", "--log", "info"]);
    assert!(
        wait_until(Duration::from_secs(60), || scenario
            .cluster
            .count_keys("runs/doomed/", "plan.json")
            == 1),
        "the run was never planned:\n{}",
        coordinator.stderr_tail(20)
    );
    // The planned input disappears: its map job fails on every attempt.
    let victim = scenario.cluster.runtime.block_on(async {
        let store = &scenario.cluster.store;
        let inputs = storage::ObjectStore::list(store, "raw/").await.expect("listing raw/");
        let victim = inputs.first().expect("an input object").key.clone();
        storage::ObjectStore::delete(store, &victim)
            .await
            .expect("deleting an input");
        victim
    });
    std::fs::write(
        &scenario.cluster.worker_config,
        "max_attempts = 2\nlease_timeout_ms = 2000\nidle_poll_ms = 100\ndiscover_ms = 250\nlog_format = \"json\"\n",
    )
    .expect("writing the worker config");
    let _workers = scenario.start_workers(1);
    let status = coordinator.wait_for(RUN_LIMIT);
    assert!(
        status.is_some_and(|status| !status.success()),
        "the run must fail: {status:?}"
    );
    let message = coordinator.stderr();
    assert!(message.contains("dead-lettered"), "{message}");
    assert!(message.contains("map job o00000-b000000000000"), "{message}");
    assert!(message.contains("after 2 attempts"), "{message}");
    assert!(
        message.contains(&victim),
        "the last error names the missing object:\n{message}"
    );
    assert_eq!(
        scenario.cluster.count_keys("releases/doomed/", "manifest.json"),
        0,
        "nothing was committed"
    );
}

#[test]
fn s3_connections_dropped_and_delayed_between_workers_and_the_store_change_nothing() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(3000, 23);
    let proxy = FaultProxy::start(
        scenario.cluster.s3_address(),
        Faults {
            drop: 0.08,
            delay_share: 0.2,
            delay: Duration::from_millis(300),
            seed: 23,
        },
    );
    let workers = scenario.start_workers_via(3, &proxy.endpoint());
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "proxied", &scenario.run_args());
    wait_success(&mut coordinator, &workers);
    assert!(proxy.dropped() > 0, "the proxy dropped no connection");
    assert!(proxy.delayed() > 0, "the proxy delayed no connection");
    eprintln!(
        "proxy: {} connections, {} dropped, {} delayed",
        proxy.stats.connections.load(std::sync::atomic::Ordering::Relaxed),
        proxy.dropped(),
        proxy.delayed()
    );
    scenario.check_release("proxied", "embedded-proxied");
}

/// SIGSTOP / SIGCONT by pid.
fn signal(process: &ProcessGuard, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), process.pid().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{name} {}", process.pid());
}

#[test]
fn two_workers_given_the_same_job_commit_it_once() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(5000, 29);
    let mut workers = scenario.start_workers(2);
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "twice", &scenario.run_args());
    // Freeze worker 0 in the middle of a job past its lease: worker 1 reclaims the job and runs
    // it too; then worker 0 wakes up and finishes its copy. Tried until it happens mid-job.
    let duplicated = [
        "lease lost while working",
        "already completed by another worker",
        "completion not recorded",
    ];
    let mut happened = false;
    for _ in 0..6 {
        let busy = wait_until(Duration::from_secs(60), || {
            coordinator.try_status().is_some()
                || workers[0]
                    .metrics()
                    .is_some_and(|metrics| metric_sum(&metrics, "wildchat_worker_jobs_in_progress") >= 1.0)
        });
        if !busy || coordinator.try_status().is_some() {
            break;
        }
        signal(&workers[0].process, "STOP");
        std::thread::sleep(Duration::from_millis(2000 + 3000));
        signal(&workers[0].process, "CONT");
        happened = wait_until(Duration::from_secs(20), || {
            let logs = workers[0].process.stderr();
            duplicated.iter().any(|message| logs.contains(message))
        });
        if happened {
            break;
        }
    }
    wait_success(&mut coordinator, &workers);
    assert!(
        happened,
        "worker 0 was never caught holding a job that worker 1 then ran:\n{}",
        workers[0].process.stderr_tail(30)
    );
    // The same shards, counters and conversations as the embedded run: nothing twice.
    scenario.check_release("twice", "embedded-twice");
    workers.clear();
}

#[test]
fn analyse_jobs_routed_to_gpu_go_only_to_workers_with_the_gpu_capability() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(400, 41);
    let endpoint = scenario.cluster.s3.endpoint();
    let mut workers = vec![
        scenario.cluster.spawn_worker_with_env(&endpoint, &[]),
        // The capability only routes: this "gpu" worker scores on the CPU like the others.
        scenario
            .cluster
            .spawn_worker_with_env(&endpoint, &[("WILDCHAT__CAPABILITIES", "gpu")]),
    ];
    for worker in &mut workers {
        assert!(
            worker.wait_ready(WORKER_READY_LIMIT),
            "{}",
            worker.process.stderr_tail(20)
        );
    }
    let mut args = scenario.run_args();
    args.extend(["--analyse-on", "gpu"]);
    let mut coordinator = scenario.cluster.spawn_coordinator("coordinator", "routed", &args);
    wait_success(&mut coordinator, &workers);
    let kinds = |worker: &Worker, kind: &str| {
        metric_sum(
            &worker.metrics().unwrap_or_default(),
            &format!("wildchat_worker_jobs_done_total{{kind=\"{kind}\"}}"),
        )
    };
    let partitions: f64 = PARTITIONS.parse().expect("a number");
    assert_eq!(
        kinds(&workers[0], "partition"),
        0.0,
        "the cpu worker took no analyse job"
    );
    assert_eq!(
        kinds(&workers[1], "partition"),
        partitions,
        "the gpu worker took every analyse job"
    );
    assert_eq!(kinds(&workers[1], "map") + kinds(&workers[1], "finalise"), 0.0);
    assert_eq!(kinds(&workers[0], "finalise"), partitions);
    scenario.check_release("routed", "embedded-routed");
}

/// A fleet, not a run: two runs at once share the same worker processes (which are told no run
/// id), and `coordinator fleet` reports the work by pool over both runs: the backlog the
/// autoscaler reads is every outstanding job of the pool, whichever run it belongs to.
#[test]
fn two_runs_share_one_fleet_and_the_fleet_endpoint_counts_both() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(3_000, 23);
    let port = e2e_tests::cluster::free_port();
    let mut fleet_command = scenario.cluster.coordinator_command();
    fleet_command
        .args(["fleet", "--queue", &scenario.cluster.queue_uri()])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--interval-secs", "1"]);
    let mut fleet = ProcessGuard::spawn("fleet", fleet_command, scenario.cluster.directory.path());
    let pool = |name: &str| -> Option<serde_json::Value> {
        match e2e_tests::cluster::http_get(port, &format!("/pools/{name}")) {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    };
    assert!(
        wait_until(Duration::from_secs(60), || pool("cpu").is_some()),
        "the fleet endpoint did not come up:\n{}",
        fleet.stderr_tail(20)
    );
    assert_eq!(pool("cpu").unwrap()["backlog"], 0);

    // Both coordinators plan and enqueue before any worker exists: the work waits, counted.
    let mut first = scenario
        .cluster
        .spawn_coordinator("coordinator-f1", "f1", &scenario.run_args());
    let mut second = scenario
        .cluster
        .spawn_coordinator("coordinator-f2", "f2", &scenario.run_args());
    let plans_written = wait_until(Duration::from_secs(120), || {
        scenario.cluster.count_keys("runs/f1/", "plan.json") == 1
            && scenario.cluster.count_keys("runs/f2/", "plan.json") == 1
    });
    assert!(
        plans_written,
        "the runs were not planned:\n{}\n{}",
        first.stderr_tail(20),
        second.stderr_tail(20)
    );
    let expected = (scenario.map_jobs("f1") + scenario.map_jobs("f2")) as u64;
    let counted = wait_until(Duration::from_secs(60), || {
        pool("cpu").is_some_and(|cpu| cpu["backlog"] == expected && cpu["runs"] == 2)
    });
    assert!(
        counted,
        "cpu pool {:?}, expected a backlog of {expected} over 2 runs",
        pool("cpu")
    );
    assert_eq!(pool("gpu").unwrap()["backlog"], 0, "no run routes work to the gpu pool");
    let (status, metrics) = e2e_tests::cluster::http_get(port, "/metrics").expect("the fleet serves /metrics");
    assert_eq!(status, 200);
    for run in ["f1", "f2"] {
        assert!(
            metrics.contains(&format!(
                "wildchat_coordinator_run_phase{{phase=\"map\",run=\"{run}\",version=\"{run}\"}} 1"
            )),
            "{metrics}"
        );
    }
    assert!(metrics.contains(&format!(
        "wildchat_coordinator_pool_backlog_jobs{{pool=\"cpu\"}} {expected}"
    )));
    assert!(!metrics.contains(TEST_SALT_HEX));

    // Two workers, no run id given: they serve both runs to the end.
    let workers = scenario.start_workers(2);
    wait_success(&mut first, &workers);
    wait_success(&mut second, &workers);
    assert!(
        wait_until(Duration::from_secs(30), || pool("cpu")
            .is_some_and(|cpu| cpu["backlog"] == 0 && cpu["runs"] == 0)),
        "the backlog did not return to zero: {:?}",
        pool("cpu")
    );

    // Same input, same settings: both releases equal the embedded run of it.
    scenario.check_release("f1", "embedded-f1");
    let download = tempfile::tempdir().expect("a temporary directory");
    scenario.cluster.download("releases/f2/manifest.json", download.path());
    let second_manifest = read_json(&download.path().join("releases/f2/manifest.json"));
    let reference = read_manifest(&scenario.local, "embedded-f1");
    assert_eq!(shard_digests(&second_manifest), shard_digests(&reference));

    fleet.terminate();
    let status = fleet.wait_for(Duration::from_secs(10));
    assert!(
        status.is_some_and(|status| status.success()),
        "coordinator fleet did not stop cleanly on SIGTERM ({status:?}):\n{}",
        fleet.stderr_tail(10)
    );
}

/// The run fingerprint: a worker started with another salt, and one without the run's GeoIP
/// database, leave the run alone (saying so in their logs and metrics, and through
/// `coordinator status` and the coordinator's progress line) instead of mixing their output
/// into the release; a matching worker then produces exactly the clean release.
#[test]
fn workers_with_another_salt_or_without_the_geoip_database_leave_the_run_alone() {
    let _serial = one_at_a_time();
    let mut scenario = Scenario::new(400, 47);
    let endpoint = scenario.cluster.s3.endpoint();
    let other_salt = "5a".repeat(16);
    // A data directory without GeoIP databases; ONNX Runtime still found where set-up put it.
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .expect("HOME is set");
    let ort = std::env::var("ORT_DYLIB_PATH").unwrap_or_else(|_| {
        data_home
            .join("wildchat/onnxruntime/libonnxruntime.so.1.31.1")
            .display()
            .to_string()
    });
    let empty_data_home = tempfile::tempdir().expect("a temporary directory");
    let empty = empty_data_home.path().to_str().expect("a utf-8 path").to_string();
    let mut odd = vec![
        scenario
            .cluster
            .spawn_worker_with_env(&endpoint, &[("WILDCHAT__IP_SALT", other_salt.as_str())]),
        scenario.cluster.spawn_worker_with_env(
            &endpoint,
            &[("XDG_DATA_HOME", empty.as_str()), ("ORT_DYLIB_PATH", ort.as_str())],
        ),
    ];
    for worker in &mut odd {
        assert!(
            worker.wait_ready(WORKER_READY_LIMIT),
            "{}",
            worker.process.stderr_tail(20)
        );
    }
    let mut coordinator = scenario
        .cluster
        .spawn_coordinator("coordinator", "fingerprinted", &scenario.run_args());
    let mismatch_of = |worker: &Worker, component: &str| {
        metric_sum(
            &worker.metrics().unwrap_or_default(),
            &format!("wildchat_worker_run_mismatch{{component=\"{component}\",run=\"fingerprinted\"}}"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(120), || mismatch_of(&odd[0], "salt") == 1.0
            && mismatch_of(&odd[1], "geoip") == 1.0),
        "the odd workers did not report their mismatch:\n{}\n{}\n{}",
        odd[0].process.stderr_tail(10),
        odd[1].process.stderr_tail(10),
        coordinator.stderr_tail(10)
    );
    assert_eq!(
        mismatch_of(&odd[0], "geoip"),
        0.0,
        "only the salt differs for the first"
    );
    assert_eq!(
        mismatch_of(&odd[1], "salt"),
        0.0,
        "only the GeoIP databases differ for the second"
    );
    let status = scenario.status("fingerprinted");
    assert!(status.contains("mismatched workers: 2"), "{status}");
    assert!(status.contains("mismatched worker w1: salt"), "{status}");
    assert!(status.contains("mismatched worker w2: geoip"), "{status}");
    // Map jobs depend on the code alone, so the odd workers do those; no analyse job (salt,
    // GeoIP, models) and, with another salt, no finalise job (the PII hash key) runs on them:
    // those jobs wait for a matching worker.
    let map_jobs = scenario.map_jobs("fingerprinted") as f64;
    let kind_done = |worker: &Worker, kind: &str| {
        metric_sum(
            &worker.metrics().unwrap_or_default(),
            &format!("wildchat_worker_jobs_done_total{{kind=\"{kind}\"}}"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(120), || odd
            .iter()
            .map(|worker| kind_done(worker, "map"))
            .sum::<f64>()
            == map_jobs),
        "the odd workers did not do the map jobs:\n{}",
        coordinator.stderr_tail(10)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(coordinator.try_status().is_none(), "{}", coordinator.stderr_tail(20));
    let analysed_or_finalised = |workers: &[Worker]| -> f64 {
        workers
            .iter()
            .map(|worker| kind_done(worker, "partition") + kind_done(worker, "finalise"))
            .sum()
    };
    assert_eq!(
        analysed_or_finalised(&odd),
        0.0,
        "a mismatched worker analysed a partition"
    );

    // A worker configured like the coordinator does the rest.
    let good = scenario.start_workers(1);
    wait_success(&mut coordinator, &good);
    let partitions: f64 = PARTITIONS.parse().expect("a number");
    assert_eq!(
        kind_done(&good[0], "partition"),
        partitions,
        "the matching worker analysed every partition"
    );
    assert_eq!(kind_done(&odd[0], "partition") + kind_done(&odd[0], "finalise"), 0.0);
    assert_eq!(kind_done(&odd[1], "partition"), 0.0);
    scenario.check_release("fingerprinted", "embedded-fingerprinted");

    // Visible in the odd workers' logs (component names and public descriptions, no salt) and
    // in the coordinator's progress lines.
    let salt_log = odd[0].process.stderr();
    assert!(salt_log.contains("run fingerprint mismatch"), "{salt_log}");
    assert!(salt_log.contains("\"components\":\"salt\""), "{salt_log}");
    let geoip_log = odd[1].process.stderr();
    assert!(geoip_log.contains("\"components\":\"geoip\""), "{geoip_log}");
    assert!(geoip_log.contains("this worker none"), "{geoip_log}");
    for log in [&salt_log, &geoip_log, &coordinator.stderr()] {
        assert!(
            !log.contains(&other_salt) && !log.contains(TEST_SALT_HEX),
            "a salt was logged"
        );
    }
    let progress = coordinator.stderr();
    assert!(progress.contains("mismatched workers 2 (geoip, salt)"), "{progress}");

    // The manifest records the fingerprint every worker matched.
    let download = tempfile::tempdir().expect("a temporary directory");
    scenario
        .cluster
        .download("releases/fingerprinted/manifest.json", download.path());
    let manifest = read_json(&download.path().join("releases/fingerprinted/manifest.json"));
    let fingerprint = &manifest["fingerprint"];
    assert_eq!(
        fingerprint["salt_key_id"].as_str().map(str::len),
        Some(16),
        "{fingerprint}"
    );
    assert!(
        fingerprint["geoip"][0]["sha256"]
            .as_str()
            .is_some_and(|digest| digest.len() == 64),
        "{fingerprint}"
    );
    assert!(fingerprint["toxicity"]["model"]
        .as_str()
        .is_some_and(|model| model.starts_with("routed:")));
    assert_eq!(
        fingerprint["toxicity"]["routes"].as_array().map(Vec::len),
        Some(2),
        "the default routes English and falls back to the multilingual model: {fingerprint}"
    );
    assert_eq!(
        fingerprint["toxicity"]["quality"]["model"], fingerprint["toxicity"]["model"],
        "the default model's development-data quality, measured for it, goes into the manifest (and the card)"
    );
    assert!(fingerprint["toxicity"]["quality"]["rows"]
        .as_array()
        .is_some_and(|rows| rows
            .iter()
            .any(|row| row["language"] == "de" && row["roc_auc"].is_f64())));
    assert_eq!(fingerprint["moderation"], "none");
    assert_eq!(fingerprint["pii_policy"]["policy"], "reference");
    odd.clear();
}
