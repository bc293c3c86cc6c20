//! The map job: stream one object (or a line-aligned byte range of it), parse and validate
//! every line, quarantine what fails with its reason, and append the good rows to the
//! fragment of their partition. Memory is bounded by `flush_bytes` and `max_line_bytes`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use shared::counters::Counters;
use shared::jobs::{FragmentRef, MapJob, MapOutcome, QuarantineRecord, RunLayout};
use shared::lines::{Compression, RangeLines};
use shared::raw::{parse_raw_line, QuarantineReason};
use storage::{get_json, put_json, ObjectStore, PutMode, StoreError};
use tokio_util::io::SyncIoBridge;
use tracing::{info, warn};

/// Fragments are read once by the partition job: favour speed over size.
const FRAGMENT_ZSTD_LEVEL: i32 = 1;

/// Output buffers of one map job, flushed as numbered chunks.
struct FragmentWriter {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Handle,
    layout: RunLayout,
    job_id: String,
    partition_buffers: Vec<Vec<u8>>,
    partition_rows: Vec<u64>,
    quarantine_buffer: Vec<u8>,
    buffered_bytes: u64,
    chunk: u32,
    fragments: Vec<FragmentRef>,
    quarantine_keys: Vec<String>,
}

impl FragmentWriter {
    fn put(&self, key: &str, plain: &[u8]) -> anyhow::Result<()> {
        let compressed =
            zstd::bulk::compress(plain, FRAGMENT_ZSTD_LEVEL).with_context(|| format!("compressing {key}"))?;
        self.runtime
            .block_on(self.store.put(key, Bytes::from(compressed), PutMode::Overwrite))
            .with_context(|| format!("writing {key}"))?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.partition_buffers.len() {
            if self.partition_buffers[partition].is_empty() {
                continue;
            }
            let key = self.layout.fragment(&self.job_id, partition as u32, self.chunk);
            self.put(&key, &self.partition_buffers[partition])?;
            self.fragments.push(FragmentRef {
                partition: partition as u32,
                key,
                rows: self.partition_rows[partition],
            });
            self.partition_buffers[partition].clear();
            self.partition_rows[partition] = 0;
        }
        if !self.quarantine_buffer.is_empty() {
            let key = quarantine_chunk_key(&self.layout, &self.job_id, self.quarantine_keys.len());
            self.put(&key, &self.quarantine_buffer)?;
            self.quarantine_buffer.clear();
            self.quarantine_keys.push(key);
        }
        self.chunk += 1;
        self.buffered_bytes = 0;
        Ok(())
    }
}

fn quarantine_chunk_key(layout: &RunLayout, job_id: &str, chunk: usize) -> String {
    let base = layout.quarantine(job_id);
    match chunk {
        0 => base,
        _ => base.replace(".jsonl.zst", &format!("-c{chunk:04}.jsonl.zst")),
    }
}

/// Runs a map job, or returns the recorded outcome if it already completed.
pub async fn run_map_job(store: Arc<dyn ObjectStore>, job: MapJob) -> anyhow::Result<MapOutcome> {
    let layout = RunLayout::new(&job.run_id);
    let marker_key = layout.map_marker(&job.job_id);
    if store.head(&marker_key).await?.is_some() {
        return Ok(get_json(store.as_ref(), &marker_key).await?);
    }
    let object_key = job.object.key.clone();
    match store.head(&object_key).await? {
        Some(current) if current.etag == job.object.etag && current.size == job.object.size => {}
        Some(_) => bail!("object {object_key} changed since the run was planned"),
        None => bail!("object {object_key} disappeared since the run was planned"),
    }
    let compression = Compression::from_key(&object_key);
    let read_from = job.start.saturating_sub(1);
    // A range's last line may run past its end, by at most one line.
    let read_to = job
        .end
        .map(|end| end.saturating_add(job.max_line_bytes + 1).min(job.object.size));
    let reader = store.get_range(&object_key, read_from, read_to).await?;
    let runtime = tokio::runtime::Handle::current();
    let writer = FragmentWriter {
        store: store.clone(),
        runtime: runtime.clone(),
        layout: layout.clone(),
        job_id: job.job_id.clone(),
        partition_buffers: vec![Vec::new(); job.partitions as usize],
        partition_rows: vec![0; job.partitions as usize],
        quarantine_buffer: Vec::new(),
        buffered_bytes: 0,
        chunk: 0,
        fragments: Vec::new(),
        quarantine_keys: Vec::new(),
    };
    let blocking_job = job.clone();
    let expected = read_to.unwrap_or(job.object.size).saturating_sub(read_from);
    let outcome = tokio::task::spawn_blocking(move || {
        let transport = TransportReader {
            inner: SyncIoBridge::new_with_handle(reader, runtime),
            received: 0,
            expected,
            failed: Arc::new(AtomicBool::new(false)),
        };
        let failed = transport.failed.clone();
        process_lines(transport, &failed, compression, &blocking_job, writer)
    })
    .await
    .context("map job task panicked")??;

    match put_json(store.as_ref(), &marker_key, &outcome, PutMode::CreateIfAbsent).await {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(outcome),
        Err(error) => Err(error.into()),
    }
}

/// The store's byte stream, watched: a read error, or an end before the bytes the range holds,
/// is a failure of the transport (the job fails and is retried), never a truncated object
/// (which is quarantined). Without this, a connection lost mid-stream would drop the rest of
/// the range's rows as if the object ended there.
struct TransportReader<R> {
    inner: R,
    received: u64,
    expected: u64,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for TransportReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buffer) {
            Ok(0) if !buffer.is_empty() && self.received < self.expected => {
                self.failed.store(true, Ordering::Relaxed);
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the store's stream ended after {} of {} bytes",
                        self.received, self.expected
                    ),
                ))
            }
            Ok(read) => {
                self.received += read as u64;
                Ok(read)
            }
            Err(error) => {
                self.failed.store(true, Ordering::Relaxed);
                Err(error)
            }
        }
    }
}

fn process_lines(
    reader: impl std::io::Read + Send,
    transport_failed: &AtomicBool,
    compression: Compression,
    job: &MapJob,
    mut writer: FragmentWriter,
) -> anyhow::Result<MapOutcome> {
    let object = job.object.key.as_str();
    let mut counters = Counters::default();
    let decoder = compression.decoder(reader);
    let mut truncated = None;
    let mut lines_read = 0;
    match decoder {
        Err(error) => truncated = Some((1, error)),
        Ok(decoder) => {
            let mut lines = RangeLines::new(decoder, job.start, job.end, job.max_line_bytes as usize);
            let mut buffer = Vec::new();
            loop {
                let info = match lines.next_line(&mut buffer) {
                    Ok(Some(info)) => info,
                    Ok(None) => break,
                    Err(error) => {
                        truncated = Some((lines.lines_read() + 1, error));
                        break;
                    }
                };
                counters.add("lines_read", 1);
                let rejection = if info.too_long {
                    Some((
                        QuarantineReason::LineTooLong,
                        format!(
                            "line of {} bytes exceeds the limit of {}",
                            info.length, job.max_line_bytes
                        ),
                    ))
                } else if buffer.iter().all(|byte| byte.is_ascii_whitespace()) {
                    counters.add("blank_lines", 1);
                    None
                } else {
                    match parse_raw_line(&buffer) {
                        Ok(parsed) => {
                            counters.add("rows_read", 1);
                            counters.add("lone_surrogates_dropped", parsed.lone_surrogates_dropped as u64);
                            let partition = parsed.partition(job.partitions) as usize;
                            let target = &mut writer.partition_buffers[partition];
                            let before = target.len();
                            serde_json::to_writer(&mut *target, &parsed.row)?;
                            target.push(b'\n');
                            writer.partition_rows[partition] += 1;
                            writer.buffered_bytes += (target.len() - before) as u64;
                            None
                        }
                        Err(rejection) => Some((rejection.reason, rejection.detail)),
                    }
                };
                if let Some((reason, detail)) = rejection {
                    info!(object, line_in_range = info.number_in_range, byte_offset = info.offset, range_start = job.start, reason = %reason, %detail, "row quarantined");
                    counters.add(&format!("quarantined.{reason}"), 1);
                    let record = QuarantineRecord {
                        object: object.to_string(),
                        range_start: job.start,
                        line_in_range: info.number_in_range,
                        byte_offset: info.offset,
                        byte_length: info.length,
                        reason: reason.to_string(),
                        detail,
                    };
                    let before = writer.quarantine_buffer.len();
                    serde_json::to_writer(&mut writer.quarantine_buffer, &record)?;
                    writer.quarantine_buffer.push(b'\n');
                    writer.buffered_bytes += (writer.quarantine_buffer.len() - before) as u64;
                }
                if writer.buffered_bytes >= job.flush_bytes {
                    writer.flush()?;
                }
            }
            lines_read = lines.lines_read();
        }
    }
    if let Some((line, error)) = truncated {
        if transport_failed.load(Ordering::Relaxed) {
            bail!("reading {object} failed at line {line} of the range: {error}");
        }
        let reason = QuarantineReason::TruncatedObject;
        warn!(object, line_in_range = line, reason = %reason, error = %error, "object could not be read to its end");
        counters.add(&format!("quarantined.{reason}"), 1);
        let record = QuarantineRecord {
            object: object.to_string(),
            range_start: job.start,
            line_in_range: line,
            byte_offset: 0,
            reason: reason.to_string(),
            byte_length: 0,
            detail: format!("reading stopped at line {line}: {error}"),
        };
        serde_json::to_writer(&mut writer.quarantine_buffer, &record)?;
        writer.quarantine_buffer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(MapOutcome {
        job_id: job.job_id.clone(),
        object: object.to_string(),
        start: job.start,
        lines: lines_read,
        counters,
        fragments: writer.fragments,
        quarantine_keys: writer.quarantine_keys,
    })
}
