//! The Redis queue against a real `redis-server`: the same behaviours `MemoryQueue`'s tests
//! pin down, plus concurrent consumers, reconnects and opening by URI.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue::open_queue;
use queue::redis_queue::RedisQueue;
use queue::{Completion, FailureOutcome, Job, Queue, QueueConfig, QueueError, RunAnnouncement};
use test_servers::RedisServer;

/// Long enough that a loaded two-core machine does not expire leases by accident.
const LEASE: Duration = Duration::from_millis(500);

fn job(id: &str) -> Job {
    Job {
        id: id.to_string(),
        payload: serde_json::json!({"n": id, "nested": {"list": [1, 2, 3]}}),
    }
}

async fn start() -> RedisServer {
    RedisServer::start().await.expect("redis-server starts")
}

async fn queue(server: &RedisServer, max_attempts: u32) -> RedisQueue {
    RedisQueue::connect(
        &server.url(),
        QueueConfig {
            lease_timeout: LEASE,
            max_attempts,
        },
    )
    .await
    .expect("redis queue connects")
}

#[tokio::test]
async fn jobs_are_delivered_once_and_completion_is_recorded_once() {
    let server = start().await;
    let queue = queue(&server, 3).await;
    queue.enqueue("map", vec![job("a"), job("b"), job("a")]).await.unwrap();
    let first = queue.lease("map", "w1").await.unwrap().unwrap();
    let second = queue.lease("map", "w2").await.unwrap().unwrap();
    assert_ne!(first.job.id, second.job.id);
    assert_eq!(first.job, job(&first.job.id), "payload round-trips");
    assert_eq!(first.attempt, 1);
    assert!(queue.lease("map", "w3").await.unwrap().is_none());
    let stats = queue.stats("map").await.unwrap();
    assert_eq!((stats.waiting, stats.leased, stats.completed), (0, 2, 0));
    assert_eq!(queue.complete(&first).await.unwrap(), Completion::Recorded);
    assert_eq!(queue.complete(&first).await.unwrap(), Completion::AlreadyComplete);
    queue.enqueue("map", vec![job(&first.job.id)]).await.unwrap();
    let stats = queue.stats("map").await.unwrap();
    assert_eq!((stats.waiting, stats.leased, stats.completed), (0, 1, 1));
    assert!(
        queue.lease("other", "w1").await.unwrap().is_none(),
        "queues are separate"
    );
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_and_the_late_worker_cannot_commit_twice() {
    let server = start().await;
    let queue = queue(&server, 3).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let slow = queue.lease("map", "slow").await.unwrap().unwrap();
    assert!(
        queue.lease("map", "fast").await.unwrap().is_none(),
        "a live lease is not reclaimed"
    );
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let fast = queue.lease("map", "fast").await.unwrap().unwrap();
    assert_eq!(fast.job.id, "a");
    assert_eq!(fast.attempt, 2);
    assert!(!queue.heartbeat(&slow).await.unwrap());
    assert!(queue.heartbeat(&fast).await.unwrap());
    assert_eq!(queue.complete(&fast).await.unwrap(), Completion::Recorded);
    assert_eq!(queue.complete(&slow).await.unwrap(), Completion::AlreadyComplete);
    assert!(!queue.heartbeat(&fast).await.unwrap(), "a completed job holds no lease");
    let stats = queue.stats("map").await.unwrap();
    assert_eq!(stats.retries, 1);
    assert_eq!((stats.waiting, stats.leased, stats.completed), (0, 0, 1));
}

#[tokio::test]
async fn the_same_worker_name_cannot_revive_its_own_reclaimed_lease() {
    let server = start().await;
    let queue = queue(&server, 3).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let before_restart = queue.lease("map", "pod-1").await.unwrap().unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let after_restart = queue.lease("map", "pod-1").await.unwrap().unwrap();
    assert_eq!(after_restart.token, before_restart.token, "the same stream entry");
    assert!(!queue.heartbeat(&before_restart).await.unwrap());
    assert_eq!(
        queue.fail(&before_restart, "stale").await.unwrap(),
        FailureOutcome::WillRetry { attempt: 2 }
    );
    assert!(
        queue.heartbeat(&after_restart).await.unwrap(),
        "the stale failure changed nothing"
    );
    assert_eq!(queue.stats("map").await.unwrap().leased, 1);
}

#[tokio::test]
async fn heartbeats_keep_a_lease_alive() {
    let server = start().await;
    let queue = queue(&server, 3).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let lease = queue.lease("map", "w").await.unwrap().unwrap();
    for _ in 0..6 {
        tokio::time::sleep(LEASE / 3).await;
        assert!(queue.heartbeat(&lease).await.unwrap());
    }
    assert!(queue.lease("map", "other").await.unwrap().is_none());
    assert_eq!(queue.complete(&lease).await.unwrap(), Completion::Recorded);
    assert_eq!(queue.stats("map").await.unwrap().retries, 0);
}

#[tokio::test]
async fn failures_retry_then_dead_letter_with_the_last_error() {
    let server = start().await;
    let queue = queue(&server, 2).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let first = queue.lease("map", "w").await.unwrap().unwrap();
    assert_eq!(
        queue.fail(&first, "boom 1").await.unwrap(),
        FailureOutcome::WillRetry { attempt: 2 }
    );
    // Available again at once, not only after the lease timeout.
    let second = queue.lease("map", "w").await.unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(second.job, job("a"));
    assert_eq!(
        queue.fail(&second, "boom 2").await.unwrap(),
        FailureOutcome::DeadLettered
    );
    assert!(queue.lease("map", "w").await.unwrap().is_none());
    let dead = queue.dead_letters("map").await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job_id, "a");
    assert_eq!(dead[0].last_error, "boom 2");
    assert_eq!(dead[0].attempts, 2);
    let stats = queue.stats("map").await.unwrap();
    assert_eq!((stats.waiting, stats.leased, stats.dead, stats.retries), (0, 0, 1, 1));
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    assert!(
        queue.lease("map", "w").await.unwrap().is_none(),
        "a dead job is not revived by enqueue"
    );
}

#[tokio::test]
async fn a_lease_that_expires_on_its_last_attempt_is_dead_lettered() {
    let server = start().await;
    let queue = queue(&server, 2).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let first = queue.lease("map", "w1").await.unwrap().unwrap();
    queue.fail(&first, "out of memory").await.unwrap();
    let second = queue.lease("map", "w2").await.unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    assert!(queue.lease("map", "w3").await.unwrap().is_none());
    let dead = queue.dead_letters("map").await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].attempts, dead[0].last_error.as_str()), (2, "out of memory"));
    assert_eq!(queue.fail(&second, "late").await.unwrap(), FailureOutcome::DeadLettered);
    // A late success still counts once, and the job leaves the dead letters.
    assert_eq!(queue.complete(&second).await.unwrap(), Completion::Recorded);
    assert!(queue.dead_letters("map").await.unwrap().is_empty());
    let stats = queue.stats("map").await.unwrap();
    assert_eq!((stats.completed, stats.dead), (1, 0));
}

#[tokio::test]
async fn an_expired_lease_without_a_failure_is_dead_lettered_as_expired() {
    let server = start().await;
    let queue = queue(&server, 1).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let _abandoned = queue.lease("map", "w1").await.unwrap().unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    assert!(queue.lease("map", "w2").await.unwrap().is_none());
    let dead = queue.dead_letters("map").await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].attempts, dead[0].last_error.as_str()), (1, "lease expired"));
}

#[tokio::test]
async fn enqueue_is_idempotent_across_planner_runs() {
    let server = start().await;
    let queue = queue(&server, 3).await;
    let plan: Vec<Job> = (0..1200).map(|index| job(&format!("job-{index:04}"))).collect();
    queue.enqueue("map", plan.clone()).await.unwrap();
    queue.enqueue("map", plan.clone()).await.unwrap();
    assert_eq!(queue.stats("map").await.unwrap().waiting, 1200);
    let lease = queue.lease("map", "w").await.unwrap().unwrap();
    assert_eq!(lease.job.id, "job-0000", "first in, first out");
    queue.complete(&lease).await.unwrap();
    queue.enqueue("map", plan).await.unwrap();
    let stats = queue.stats("map").await.unwrap();
    assert_eq!((stats.waiting, stats.leased, stats.completed), (1199, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumers_complete_every_job_exactly_once() {
    let server = start().await;
    let jobs = 300;
    let setup = queue(&server, 5).await;
    setup
        .enqueue("map", (0..jobs).map(|index| job(&format!("j{index}"))).collect())
        .await
        .unwrap();
    let mut workers = Vec::new();
    for worker in 0..8 {
        // Separate connections, as separate worker processes would have.
        let queue = Arc::new(queue(&server, 5).await);
        workers.push(tokio::spawn(async move {
            let name = format!("worker-{worker}");
            let mut recorded = Vec::new();
            let mut step = 0u32;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                step += 1;
                let Some(lease) = queue.lease("map", &name).await.unwrap() else {
                    let stats = queue.stats("map").await.unwrap();
                    if stats.waiting == 0 && stats.leased == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                match (worker + step) % 13 {
                    // A crashed worker: the lease expires and is reclaimed.
                    0 => continue,
                    // A transient failure: retried at once.
                    1 => {
                        queue.fail(&lease, "transient").await.unwrap();
                    }
                    _ => {
                        if queue.complete(&lease).await.unwrap() == Completion::Recorded {
                            recorded.push(lease.job.id.clone());
                        }
                    }
                }
            }
            recorded
        }));
    }
    let mut times_recorded: HashMap<String, u32> = HashMap::new();
    for worker in workers {
        for job_id in worker.await.unwrap() {
            *times_recorded.entry(job_id).or_default() += 1;
        }
    }
    let stats = setup.stats("map").await.unwrap();
    let dead = setup.dead_letters("map").await.unwrap();
    assert_eq!(
        times_recorded.len() + dead.len(),
        jobs,
        "every job is completed or dead-lettered: {stats:?}"
    );
    assert!(
        times_recorded.values().all(|&count| count == 1),
        "no job completes twice"
    );
    assert_eq!(stats.completed as usize, times_recorded.len());
    assert_eq!((stats.waiting, stats.leased), (0, 0));
    assert!(stats.retries > 0, "the test exercised retries");
}

#[tokio::test]
async fn a_restarted_server_fails_one_call_then_the_queue_works_again() {
    let mut server = start().await;
    let queue = queue(&server, 3).await;
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    server.restart().await.expect("redis-server restarts");
    let mut failures = 0;
    let mut answered = None;
    for _ in 0..50 {
        match queue.lease("map", "w").await {
            Ok(lease) => {
                answered = Some(lease);
                break;
            }
            Err(QueueError::Backend { retryable, message }) => {
                assert!(retryable, "a dropped connection is retryable: {message}");
                failures += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(failures <= 3, "{failures} calls failed across one reconnect");
    assert!(
        answered.expect("the queue answers again").is_none(),
        "the restart lost the data"
    );
    queue.enqueue("map", vec![job("b")]).await.unwrap();
    assert_eq!(queue.lease("map", "w").await.unwrap().unwrap().job.id, "b");
}

#[tokio::test]
async fn open_queue_picks_the_backend_from_the_uri() {
    let server = start().await;
    let config = QueueConfig {
        lease_timeout: LEASE,
        max_attempts: 2,
    };
    let plain = server.url();
    let database_three = format!("{}/3", server.url());
    for uri in ["", "memory", "embedded", plain.as_str(), database_three.as_str()] {
        let queue = open_queue(uri, config.clone()).await.unwrap();
        queue.enqueue("map", vec![job("a")]).await.unwrap();
        assert_eq!(queue.lease("map", "w").await.unwrap().unwrap().job.id, "a", "{uri}");
    }
    let unreachable = open_queue("redis://user:hunter2@127.0.0.1:1/0", config.clone())
        .await
        .unwrap_err();
    assert!(unreachable.contains("redis://127.0.0.1:1/0"), "{unreachable}");
    assert!(!unreachable.contains("hunter2"), "{unreachable}");
    assert!(open_queue("amqp://x", config)
        .await
        .unwrap_err()
        .contains("unsupported queue uri"));
}

#[tokio::test]
async fn announced_runs_are_shared_between_clients_until_withdrawn() {
    let server = start().await;
    let coordinator = queue(&server, 3).await;
    let worker = queue(&server, 3).await;
    let run = |run_id: &str, done: u64| RunAnnouncement {
        run_id: run_id.to_string(),
        version: format!("{run_id}-v"),
        store: "s3://bucket/prefix/".to_string(),
        queues: vec![format!("{run_id}/partition"), format!("{run_id}/map")],
        phase: "map".to_string(),
        jobs_done: done,
        jobs_total: 9,
        updated_ms: 1_700_000_000_000,
        fingerprint: None,
    };
    assert!(worker.active_runs().await.unwrap().is_empty());
    coordinator.announce_run(&run("r2", 0)).await.unwrap();
    coordinator.announce_run(&run("r1", 0)).await.unwrap();
    coordinator.announce_run(&run("r2", 5)).await.unwrap();
    assert_eq!(worker.active_runs().await.unwrap(), vec![run("r1", 0), run("r2", 5)]);

    // A worker's mismatch reports: one per worker (the latest wins), read by another client,
    // gone with the run.
    let report = |run_id: &str, worker: &str, component: &str| queue::MismatchReport {
        run_id: run_id.to_string(),
        worker: worker.to_string(),
        components: vec![component.to_string()],
        updated_ms: 1_700_000_000_000,
    };
    worker.report_mismatch(&report("r1", "w-b", "salt")).await.unwrap();
    worker.report_mismatch(&report("r1", "w-a", "salt")).await.unwrap();
    worker.report_mismatch(&report("r1", "w-a", "geoip")).await.unwrap();
    worker.report_mismatch(&report("r2", "w-a", "salt")).await.unwrap();
    assert_eq!(
        coordinator.mismatches("r1").await.unwrap(),
        vec![report("r1", "w-a", "geoip"), report("r1", "w-b", "salt")]
    );
    coordinator.withdraw_run("r1").await.unwrap();
    assert_eq!(worker.active_runs().await.unwrap(), vec![run("r2", 5)]);
    assert!(coordinator.mismatches("r1").await.unwrap().is_empty());
    assert_eq!(coordinator.mismatches("r2").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tls_queue_with_a_password_works_and_checks_the_server_certificate() {
    use queue::redis_queue::RedisQueueOptions;
    use test_servers::RedisTlsServer;

    let server = RedisTlsServer::start("s3cret-pass")
        .await
        .expect("redis-server with tls starts");
    let config = QueueConfig {
        lease_timeout: LEASE,
        max_attempts: 2,
    };
    let trusted = RedisQueueOptions {
        tls_ca_file: Some(server.ca_file()),
        ..RedisQueueOptions::default()
    };
    let queue = RedisQueue::connect_with(&server.url(), config.clone(), trusted.clone())
        .await
        .expect("a rediss:// connection with the private CA");
    queue.enqueue("map", vec![job("a")]).await.unwrap();
    let lease = queue.lease("map", "w").await.unwrap().unwrap();
    assert_eq!(lease.job.id, "a");
    assert!(matches!(queue.complete(&lease).await.unwrap(), Completion::Recorded));

    // A certificate the client does not trust: refused, and the password stays out of the error.
    let error = RedisQueue::connect_with(&server.url(), config.clone(), RedisQueueOptions::default())
        .await
        .expect_err("an untrusted certificate is refused");
    let message = error.to_string();
    assert!(!message.contains("s3cret-pass"), "{message}");
    assert!(message.contains("rediss://127.0.0.1"), "{message}");

    // A wrong password: refused.
    let wrong = server.url().replace("s3cret-pass", "wrong");
    let error = RedisQueue::connect_with(&wrong, config, trusted)
        .await
        .expect_err("a wrong password is refused");
    assert!(!error.to_string().contains("wrong@"), "{error}");
}
