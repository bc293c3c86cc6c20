//! The distributed queue: `crate::Queue` on Redis Streams with one consumer group per
//! queue. Every state change runs as one Lua script, so a lease, a failure or a completion is
//! atomic against any number of workers and coordinators talking to the same Redis.
//!
//! Keys of queue `q` (all share the `{q}` hash tag, so a Redis Cluster keeps them in one slot):
//! - `P:{q}:jobs`       stream of runnable entries (`job_id`, `payload`, `prior` attempts); a
//!   leased job is an entry in the group's pending list, owned by the worker's consumer
//! - `P:{q}:known`      set of every job id ever enqueued, so re-enqueueing is a no-op
//! - `P:{q}:done`       hash job id -> entry id, written once with HSETNX: the completion record
//! - `P:{q}:dead`       dead-letter stream (`job_id`, `attempts`, `last_error`, `payload`)
//! - `P:{q}:dead_index` hash job id -> dead-letter entry id
//! - `P:{q}:entries`    hash job id -> its live stream entry id
//! - `P:{q}:errors`     hash job id -> the last error reported for it
//! - `P:{q}:stats`      hash of counters: `waiting` (entries not yet delivered) and `retries`
//!
//! Runs workers should serve live in one hash, `P:runs` (run id -> the coordinator's latest
//! [`RunAnnouncement`] as JSON), rewritten on every watch tick.
//!
//! A failed attempt is acknowledged and re-added as a new entry carrying the attempts used so
//! far in `prior`, so it is runnable at once; an entry whose lease expired is reclaimed with
//! XAUTOCLAIM, which raises its delivery count. The attempt number of a delivery is therefore
//! `prior + delivery count`, and the pair (entry id, attempt) identifies one lease: a worker
//! whose lease was reclaimed no longer matches it.

use std::time::Duration;

use crate::{
    Completion, DeadLetter, FailureOutcome, Job, Lease, MismatchReport, Queue, QueueConfig, QueueError, QueueStats,
    RunAnnouncement,
};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tracing::warn;

/// Where the queue lives in Redis and how patient the connection is.
#[derive(Debug, Clone)]
pub struct RedisQueueOptions {
    /// First component of every key (`wildchat:{queue}:jobs`).
    pub key_prefix: String,
    /// The consumer group all workers of a queue join.
    pub group: String,
    pub connection_timeout: Duration,
    /// A lease scans the pending list inside one script; leave room for large fleets.
    pub response_timeout: Duration,
    /// Upper bound on XAUTOCLAIM calls (each scans up to ten pending entries) per lease.
    pub max_reclaim_rounds: u32,
    /// `rediss://` only: a PEM file of the certificate authority that signed the server's
    /// certificate (a private CA); without it the system's trusted roots apply.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for RedisQueueOptions {
    fn default() -> Self {
        RedisQueueOptions {
            key_prefix: "wildchat".to_string(),
            group: "workers".to_string(),
            connection_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            max_reclaim_rounds: 100_000,
            tls_ca_file: None,
        }
    }
}

/// Jobs per enqueue script call: large enough to be quick, small enough not to stall Redis.
const ENQUEUE_BATCH: usize = 500;

/// Definitions every script starts with. Keys are always passed in this order.
const PRELUDE: &str = r#"
local jobs, known, done, dead, dead_index, entries, errors, stats =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local group = ARGV[1]

local function fields_of(flat)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return fields
end

local function entry_fields(id)
  local found = redis.call('XRANGE', jobs, id, id)
  if #found == 0 then return nil end
  return fields_of(found[1][2])
end

-- The owner and delivery count of a pending entry, or nil when nobody holds it.
local function pending_of(id)
  local found = redis.call('XPENDING', jobs, group, id, id, 1)
  if #found == 0 then return nil, 0 end
  return found[1][2], tonumber(found[1][4])
end

-- Acknowledges and deletes an entry; one that was never delivered leaves the waiting count.
local function retire(id)
  local acked = redis.call('XACK', jobs, group, id)
  local deleted = redis.call('XDEL', jobs, id)
  if deleted == 1 and acked == 0 then redis.call('HINCRBY', stats, 'waiting', -1) end
end

local function bury(job_id, attempts, last_error, payload)
  local dead_id = redis.call('XADD', dead, '*', 'job_id', job_id, 'attempts', attempts,
    'last_error', last_error, 'payload', payload)
  redis.call('HSET', dead_index, job_id, dead_id)
  redis.call('HDEL', entries, job_id)
end
"#;

/// ARGV: group, then job id and payload pairs. Returns how many jobs were new.
const ENQUEUE: &str = r#"
redis.pcall('XGROUP', 'CREATE', jobs, group, '0', 'MKSTREAM')
local added = 0
for i = 2, #ARGV, 2 do
  local job_id = ARGV[i]
  if redis.call('SADD', known, job_id) == 1 then
    local id = redis.call('XADD', jobs, '*', 'job_id', job_id, 'payload', ARGV[i + 1], 'prior', 0)
    redis.call('HSET', entries, job_id, id)
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', stats, 'waiting', added) end
return added
"#;

/// ARGV: group, consumer, lease timeout in ms, max attempts, max reclaim rounds.
/// Returns nil or {entry id, job id, payload, attempt}.
const LEASE: &str = r#"
if redis.call('EXISTS', jobs) == 0 then return false end
local consumer, min_idle, max_attempts = ARGV[2], ARGV[3], tonumber(ARGV[4])

-- Hands out an entry just delivered to this consumer, or settles it and returns nil.
local function offer(id, flat, reclaimed)
  local fields = fields_of(flat)
  local job_id = fields['job_id']
  if redis.call('HEXISTS', done, job_id) == 1 then
    redis.call('XACK', jobs, group, id)
    redis.call('XDEL', jobs, id)
    return nil
  end
  local _, deliveries = pending_of(id)
  local attempt = tonumber(fields['prior']) + deliveries
  if attempt > max_attempts then
    local last_error = redis.call('HGET', errors, job_id) or 'lease expired'
    bury(job_id, attempt - 1, last_error, fields['payload'])
    redis.call('XACK', jobs, group, id)
    redis.call('XDEL', jobs, id)
    return nil
  end
  if reclaimed then
    redis.call('HINCRBY', stats, 'retries', 1)
    redis.call('HSETNX', errors, job_id, 'lease expired')
  end
  return {id, job_id, fields['payload'], attempt}
end

local cursor = '0-0'
for _ = 1, tonumber(ARGV[5]) do
  local reply = redis.call('XAUTOCLAIM', jobs, group, consumer, min_idle, cursor, 'COUNT', 1)
  cursor = reply[1]
  for _, entry in ipairs(reply[2]) do
    if entry[2] then
      local offered = offer(entry[1], entry[2], true)
      if offered then return offered end
    end
  end
  if cursor == '0-0' then break end
end
-- Bounded: each round skips one entry of a job completed while it waited.
for _ = 1, 1000 do
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', jobs, '>')
  if not reply then return false end
  local entry = reply[1][2][1]
  redis.call('HINCRBY', stats, 'waiting', -1)
  local offered = offer(entry[1], entry[2], false)
  if offered then return offered end
end
return false
"#;

/// ARGV: group, entry id, attempt. Returns 1 when the lease is still held (and refreshed).
const HEARTBEAT: &str = r#"
if redis.call('EXISTS', jobs) == 0 then return 0 end
local id, attempt = ARGV[2], tonumber(ARGV[3])
local owner, deliveries = pending_of(id)
if not owner then return 0 end
local fields = entry_fields(id)
if not fields or tonumber(fields['prior']) + deliveries ~= attempt then return 0 end
if redis.call('HEXISTS', done, fields['job_id']) == 1 then return 0 end
-- JUSTID: resets the idle time without counting a delivery.
redis.call('XCLAIM', jobs, group, owner, 0, id, 'JUSTID')
return 1
"#;

/// ARGV: group, job id, entry id. Returns 1 when this call recorded the completion.
const COMPLETE: &str = r#"
local job_id, id = ARGV[2], ARGV[3]
if redis.call('HSETNX', done, job_id, id) == 0 then
  retire(id)
  return 0
end
retire(id)
local current = redis.call('HGET', entries, job_id)
if current and current ~= id then retire(current) end
redis.call('HDEL', entries, job_id)
redis.call('HDEL', errors, job_id)
local dead_id = redis.call('HGET', dead_index, job_id)
if dead_id then
  redis.call('XDEL', dead, dead_id)
  redis.call('HDEL', dead_index, job_id)
end
return 1
"#;

/// ARGV: group, job id, entry id, attempt, error, max attempts.
/// Returns {'retry', next attempt} or {'dead', attempts}.
const FAIL: &str = r#"
local job_id, id, attempt, message = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max_attempts = tonumber(ARGV[6])
if redis.call('HEXISTS', done, job_id) == 0 then redis.call('HSET', errors, job_id, message) end
local fields = nil
if redis.call('EXISTS', jobs) == 1 then
  local owner, deliveries = pending_of(id)
  if owner then
    local candidate = entry_fields(id)
    if candidate and tonumber(candidate['prior']) + deliveries == attempt then fields = candidate end
  end
end
if not fields then
  -- The lease was reclaimed: whoever holds the job now retries or buries it.
  if redis.call('HEXISTS', dead_index, job_id) == 1 then return {'dead', attempt} end
  return {'retry', attempt + 1}
end
redis.call('XACK', jobs, group, id)
redis.call('XDEL', jobs, id)
if attempt >= max_attempts then
  bury(job_id, attempt, message, fields['payload'])
  return {'dead', attempt}
end
local next_id = redis.call('XADD', jobs, '*', 'job_id', job_id, 'payload', fields['payload'], 'prior', attempt)
redis.call('HSET', entries, job_id, next_id)
redis.call('HINCRBY', stats, 'waiting', 1)
redis.call('HINCRBY', stats, 'retries', 1)
return {'retry', attempt + 1}
"#;

/// ARGV: group. Returns {waiting, leased, completed, dead, retries}.
const STATS: &str = r#"
local leased = 0
if redis.call('EXISTS', jobs) == 1 then leased = redis.call('XPENDING', jobs, group)[1] end
local waiting = tonumber(redis.call('HGET', stats, 'waiting') or '0')
local retries = tonumber(redis.call('HGET', stats, 'retries') or '0')
return {waiting, leased, redis.call('HLEN', done), redis.call('HLEN', dead_index), retries}
"#;

/// ARGV: group. Returns {{job id, attempts, last error}, ...} for jobs that are still dead.
const DEAD_LETTERS: &str = r#"
local out = {}
for _, entry in ipairs(redis.call('XRANGE', dead, '-', '+')) do
  local fields = fields_of(entry[2])
  if redis.call('HGET', dead_index, fields['job_id']) == entry[1] then
    table.insert(out, {fields['job_id'], tonumber(fields['attempts']), fields['last_error']})
  end
end
return out
"#;

#[derive(Debug)]
struct Scripts {
    enqueue: Script,
    lease: Script,
    heartbeat: Script,
    complete: Script,
    fail: Script,
    stats: Script,
    dead_letters: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            enqueue: with_prelude(ENQUEUE),
            lease: with_prelude(LEASE),
            heartbeat: with_prelude(HEARTBEAT),
            complete: with_prelude(COMPLETE),
            fail: with_prelude(FAIL),
            stats: with_prelude(STATS),
            dead_letters: with_prelude(DEAD_LETTERS),
        }
    }
}

/// A queue on Redis Streams. Cheap to share: the connection manager multiplexes one
/// connection and reconnects on its own after a drop (the call in flight fails once).
pub struct RedisQueue {
    connection: ConnectionManager,
    config: QueueConfig,
    options: RedisQueueOptions,
    scripts: Scripts,
    /// The URL without credentials, for messages.
    location: String,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisQueue")
            .field("location", &self.location)
            .field("config", &self.config)
            .field("options", &self.options)
            .finish()
    }
}

impl RedisQueue {
    /// Connects to `redis://[user:password@]host:port[/db]` with the default options.
    pub async fn connect(url: &str, config: QueueConfig) -> Result<RedisQueue, QueueError> {
        RedisQueue::connect_with(url, config, RedisQueueOptions::default()).await
    }

    pub async fn connect_with(
        url: &str,
        config: QueueConfig,
        options: RedisQueueOptions,
    ) -> Result<RedisQueue, QueueError> {
        let location = redact_url(url);
        let invalid = |error: redis::RedisError| QueueError::Backend {
            message: format!("invalid redis url {location}: {error}"),
            retryable: false,
        };
        let client = match (&options.tls_ca_file, url.starts_with("rediss://")) {
            (Some(ca_file), true) => {
                let root_cert = std::fs::read(ca_file).map_err(|error| QueueError::Backend {
                    message: format!("cannot read the redis CA file {}: {error}", ca_file.display()),
                    retryable: false,
                })?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url, certificates).map_err(invalid)?
            }
            _ => redis::Client::open(url).map_err(invalid)?,
        };
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let mut connection = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(|error| backend_error(&format!("cannot connect to {location}"), &error))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|error| backend_error(&format!("redis at {location} does not answer ping"), &error))?;
        Ok(RedisQueue {
            connection,
            config,
            options,
            scripts: Scripts::new(),
            location,
        })
    }

    /// The server this queue talks to, without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn runs_key(&self) -> String {
        format!("{}:runs", self.options.key_prefix)
    }

    /// Hash of a run's mismatch reports, one field per worker.
    fn mismatches_key(&self, run_id: &str) -> String {
        format!("{}:mismatches:{run_id}", self.options.key_prefix)
    }

    /// Runs one plain command. Not repeated here: retries are the caller's, with the one
    /// retry policy (`shared::retry::Backoff`), applied once.
    async fn run_command<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
        operation: &str,
    ) -> Result<T, QueueError> {
        let mut connection = self.connection.clone();
        command
            .query_async(&mut connection)
            .await
            .map_err(|error| backend_error(&format!("redis {operation} failed"), &error))
    }

    fn key(&self, queue: &str, name: &str) -> String {
        format!("{}:{{{queue}}}:{name}", self.options.key_prefix)
    }

    /// The keys of a queue in the order the scripts' prelude names them.
    fn keys(&self, queue: &str) -> [String; 8] {
        [
            "jobs",
            "known",
            "done",
            "dead",
            "dead_index",
            "entries",
            "errors",
            "stats",
        ]
        .map(|name| self.key(queue, name))
    }

    async fn run_script<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        queue: &str,
        args: &[String],
        operation: &str,
    ) -> Result<T, QueueError> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys(queue) {
            invocation.key(key);
        }
        invocation.arg(&self.options.group);
        for arg in args {
            invocation.arg(arg);
        }
        let mut connection = self.connection.clone();
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| backend_error(&format!("redis {operation} on queue {queue} failed"), &error))
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, queue: &str, jobs: Vec<Job>) -> Result<(), QueueError> {
        for batch in jobs.chunks(ENQUEUE_BATCH) {
            let mut args = Vec::with_capacity(batch.len() * 2);
            for job in batch {
                let payload = serde_json::to_string(&job.payload).map_err(|error| QueueError::Backend {
                    message: format!("cannot encode the payload of job {}: {error}", job.id),
                    retryable: false,
                })?;
                args.push(job.id.clone());
                args.push(payload);
            }
            // Safe for the caller to repeat: the known-id set makes a second run of the same
            // batch a no-op.
            self.run_script::<u64>(&self.scripts.enqueue, queue, &args, "enqueue")
                .await?;
        }
        Ok(())
    }

    async fn lease(&self, queue: &str, worker: &str) -> Result<Option<Lease>, QueueError> {
        let args = [
            worker.to_string(),
            self.config.lease_timeout.as_millis().to_string(),
            self.config.max_attempts.to_string(),
            self.options.max_reclaim_rounds.to_string(),
        ];
        // Not repeated here: a lease whose reply was lost is held until it expires, and the
        // caller decides whether to ask again.
        let leased: Option<(String, String, String, u32)> =
            self.run_script(&self.scripts.lease, queue, &args, "lease").await?;
        let Some((entry_id, job_id, payload, attempt)) = leased else {
            return Ok(None);
        };
        let payload = serde_json::from_str(&payload).map_err(|error| QueueError::Backend {
            message: format!("job {job_id} in queue {queue} has an invalid payload: {error}"),
            retryable: false,
        })?;
        Ok(Some(Lease {
            queue: queue.to_string(),
            job: Job { id: job_id, payload },
            attempt,
            token: entry_id,
        }))
    }

    async fn heartbeat(&self, lease: &Lease) -> Result<bool, QueueError> {
        let args = [lease.token.clone(), lease.attempt.to_string()];
        let held: i64 = self
            .run_script(&self.scripts.heartbeat, &lease.queue, &args, "heartbeat")
            .await?;
        Ok(held == 1)
    }

    async fn complete(&self, lease: &Lease) -> Result<Completion, QueueError> {
        let args = [lease.job.id.clone(), lease.token.clone()];
        // Not repeated here: a repeat after a lost reply would read as `AlreadyComplete`.
        let recorded: i64 = self
            .run_script(&self.scripts.complete, &lease.queue, &args, "complete")
            .await?;
        Ok(if recorded == 1 {
            Completion::Recorded
        } else {
            Completion::AlreadyComplete
        })
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<FailureOutcome, QueueError> {
        let args = [
            lease.job.id.clone(),
            lease.token.clone(),
            lease.attempt.to_string(),
            error.to_string(),
            self.config.max_attempts.to_string(),
        ];
        let (outcome, attempt): (String, u32) =
            self.run_script(&self.scripts.fail, &lease.queue, &args, "fail").await?;
        match outcome.as_str() {
            "dead" => Ok(FailureOutcome::DeadLettered),
            "retry" => Ok(FailureOutcome::WillRetry { attempt }),
            other => Err(QueueError::Backend {
                message: format!("redis fail on queue {} returned unknown outcome {other:?}", lease.queue),
                retryable: false,
            }),
        }
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let (waiting, leased, completed, dead, retries): (u64, u64, u64, u64, u64) =
            self.run_script(&self.scripts.stats, queue, &[], "stats").await?;
        Ok(QueueStats {
            waiting,
            leased,
            completed,
            dead,
            retries,
        })
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, QueueError> {
        let rows: Vec<(String, u32, String)> = self
            .run_script(&self.scripts.dead_letters, queue, &[], "dead letters")
            .await?;
        let mut letters: Vec<DeadLetter> = rows
            .into_iter()
            .map(|(job_id, attempts, last_error)| DeadLetter {
                job_id,
                attempts,
                last_error,
            })
            .collect();
        letters.sort_by(|left, right| left.job_id.cmp(&right.job_id));
        Ok(letters)
    }

    async fn announce_run(&self, run: &RunAnnouncement) -> Result<(), QueueError> {
        let state = serde_json::to_string(run).map_err(|error| QueueError::Backend {
            message: format!("cannot encode the state of run {}: {error}", run.run_id),
            retryable: false,
        })?;
        let mut command = redis::cmd("HSET");
        command.arg(self.runs_key()).arg(&run.run_id).arg(state);
        let _: i64 = self.run_command(&command, "announce run").await?;
        Ok(())
    }

    async fn withdraw_run(&self, run_id: &str) -> Result<(), QueueError> {
        let mut command = redis::cmd("HDEL");
        command.arg(self.runs_key()).arg(run_id);
        let _: i64 = self.run_command(&command, "withdraw run").await?;
        let mut command = redis::cmd("DEL");
        command.arg(self.mismatches_key(run_id));
        let _: i64 = self.run_command(&command, "forget mismatch reports").await?;
        Ok(())
    }

    async fn active_runs(&self) -> Result<Vec<RunAnnouncement>, QueueError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.runs_key());
        let entries: Vec<(String, String)> = self.run_command(&command, "list runs").await?;
        let mut runs = Vec::with_capacity(entries.len());
        for (run_id, state) in entries {
            match serde_json::from_str::<RunAnnouncement>(&state) {
                Ok(run) => runs.push(run),
                // One unreadable entry (another version's format) must not hide the others.
                Err(error) => warn!(run = %run_id, error = %error, "ignoring an unreadable run announcement"),
            }
        }
        runs.sort_by(|left, right| left.run_id.cmp(&right.run_id));
        Ok(runs)
    }

    async fn report_mismatch(&self, report: &MismatchReport) -> Result<(), QueueError> {
        let body = serde_json::to_string(report).map_err(|error| QueueError::Backend {
            message: format!("cannot encode a mismatch report of run {}: {error}", report.run_id),
            retryable: false,
        })?;
        let key = self.mismatches_key(&report.run_id);
        let mut command = redis::cmd("HSET");
        command.arg(&key).arg(&report.worker).arg(body);
        let _: i64 = self.run_command(&command, "report mismatch").await?;
        // A run whose coordinator died is never withdrawn: its reports go by themselves.
        let mut command = redis::cmd("EXPIRE");
        command.arg(&key).arg(MISMATCH_KEY_TTL_SECONDS);
        let _: i64 = self.run_command(&command, "expire mismatch reports").await?;
        Ok(())
    }

    async fn mismatches(&self, run_id: &str) -> Result<Vec<MismatchReport>, QueueError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.mismatches_key(run_id));
        let entries: Vec<(String, String)> = self.run_command(&command, "list mismatch reports").await?;
        let mut reports: Vec<MismatchReport> = entries
            .into_iter()
            .filter_map(|(worker, body)| match serde_json::from_str(&body) {
                Ok(report) => Some(report),
                Err(error) => {
                    warn!(run = %run_id, worker = %worker, error = %error, "ignoring an unreadable mismatch report");
                    None
                }
            })
            .collect();
        reports.sort_by(|left, right| left.worker.cmp(&right.worker));
        Ok(reports)
    }
}

/// A run's mismatch reports outlive the latest one by this much when nobody withdraws the run.
const MISMATCH_KEY_TTL_SECONDS: u64 = 24 * 3600;

/// Connection trouble is worth retrying; a script or protocol error is not.
fn backend_error(context: &str, error: &RedisError) -> QueueError {
    let retryable = error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.retry_method(),
            redis::RetryMethod::Reconnect | redis::RetryMethod::RetryImmediately | redis::RetryMethod::WaitAndRetry
        );
    QueueError::Backend {
        message: format!("{context}: {error}"),
        retryable,
    }
}

/// A Redis URL with any user name and password removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{}{path}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(redact_url("redis://user:secret@cache:6379/2"), "redis://cache:6379/2");
        assert_eq!(redact_url("redis://:secret@cache:6379"), "redis://cache:6379");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_url("memory"), "memory");
    }
}
