//! Queue overhead: empty jobs per second through the Redis Streams queue (a real
//! `redis-server` started on a loopback port) and through the in-process queue, each job
//! enqueued, leased, completed once.
//!
//!   cargo bench -p queue --bench queue_overhead -- [--jobs N] [--consumers C]

use std::sync::Arc;
use std::time::Instant;

use queue::redis_queue::RedisQueue;
use queue::{Job, MemoryQueue, Queue, QueueConfig};
use test_servers::RedisServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| -> anyhow::Result<usize> {
        match arguments
            .iter()
            .position(|a| a == name)
            .and_then(|i| arguments.get(i + 1))
        {
            Some(value) => Ok(value.parse()?),
            None => Ok(default),
        }
    };
    let (jobs, consumers) = (option("--jobs", 20_000)?, option("--consumers", 4)?);
    println!("{jobs} empty jobs, {consumers} concurrent consumers");

    let memory: Arc<dyn Queue> = Arc::new(MemoryQueue::new(QueueConfig::default()));
    measure("in-process queue", memory, jobs, consumers).await?;

    let server = RedisServer::start().await?;
    let redis: Arc<dyn Queue> = Arc::new(RedisQueue::connect(&server.url(), QueueConfig::default()).await?);
    measure("redis streams queue", redis, jobs, consumers).await?;
    Ok(())
}

async fn measure(name: &str, queue: Arc<dyn Queue>, jobs: usize, consumers: usize) -> anyhow::Result<()> {
    let batch: Vec<Job> = (0..jobs)
        .map(|index| Job {
            id: format!("job-{index:07}"),
            payload: serde_json::Value::Null,
        })
        .collect();
    let started = Instant::now();
    for chunk in batch.chunks(1_000) {
        queue.enqueue("bench", chunk.to_vec()).await?;
    }
    let enqueue_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for consumer in 0..consumers {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("consumer-{consumer}");
            let mut done = 0u64;
            while let Some(lease) = queue.lease("bench", &worker).await? {
                queue.complete(&lease).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut completed = 0;
    for task in tasks {
        completed += task.await??;
    }
    let work_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        completed as usize == jobs,
        "{name}: completed {completed} of {jobs} jobs"
    );
    println!(
        "{name}: enqueue {:.0} jobs/s, lease + complete {:.0} jobs/s",
        jobs as f64 / enqueue_seconds,
        jobs as f64 / work_seconds
    );
    Ok(())
}
