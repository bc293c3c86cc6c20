//! The distributed object store: `crate::ObjectStore` on S3 or any S3-compatible
//! server through `aws-sdk-s3`. Conditional puts map to `If-None-Match: *` / `If-Match`, large
//! bodies go through multipart upload, and transient failures are retried by the SDK's
//! standard retry strategy (exponential backoff with jitter) before they surface here.

use std::time::Duration;

use crate::{validate_key, ByteStream, ObjectMeta, ObjectStore, PutMode, StoreError};
use async_trait::async_trait;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tracing::warn;

/// S3 refuses multipart parts below this size, except the last one.
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3 allows at most this many parts per upload.
const MAX_PARTS: usize = 10_000;
const DEFAULT_REGION: &str = "us-east-1";

/// Characters a `CopySource` header may carry unescaped: RFC 3986 unreserved plus `/`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Tuning that is not part of the AWS environment.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Bodies larger than this are uploaded in parts.
    pub multipart_threshold: usize,
    /// Size of each part but the last (raised to 5 MiB and to fit 10,000 parts).
    pub part_size: usize,
    /// Parts uploaded at once by one put.
    pub upload_concurrency: usize,
    /// Attempts per request, the first included, for throttling, 5xx, timeouts and connect errors.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    /// Whether CopyObject may carry `If-None-Match` / `If-Match` for the destination. Servers
    /// that ignore those headers would let a conditional copy overwrite silently, so `None`
    /// means: on AWS yes, on a custom endpoint (S3-compatible server) copy by get and
    /// conditional put instead.
    pub server_side_conditional_copy: Option<bool>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            upload_concurrency: 4,
            max_attempts: 5,
            connect_timeout: Duration::from_secs(10),
            server_side_conditional_copy: None,
        }
    }
}

/// Loads the standard AWS configuration chain (environment, profile, container and instance
/// roles; `AWS_ENDPOINT_URL` included) with this store's retry and timeout settings, falling
/// back to `us-east-1` when no region is configured.
pub async fn load_aws_config(options: &S3Options) -> SdkConfig {
    let region = RegionProviderChain::default_provider().or_else(Region::new(DEFAULT_REGION));
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(retry_config(options))
        .timeout_config(timeout_config(options))
        .load()
        .await
}

fn retry_config(options: &S3Options) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(options.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

fn timeout_config(options: &S3Options) -> TimeoutConfig {
    // Only the connect phase is bounded: a whole-request timeout would cut large transfers.
    TimeoutConfig::builder()
        .connect_timeout(options.connect_timeout)
        .build()
}

/// A bucket and key prefix as an object store. Keys passed in and returned are relative to
/// the prefix. Etags are returned quoted, as S3 sends them; `ReplaceIfMatch` accepts them
/// quoted or bare.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Empty or ending in `/`.
    prefix: String,
    options: S3Options,
    conditional_copy_on_server: bool,
}

impl S3Store {
    /// Opens `s3://bucket/prefix` with the standard AWS configuration and default options.
    pub async fn connect(bucket: &str, prefix: &str) -> S3Store {
        S3Store::connect_with(bucket, prefix, S3Options::default()).await
    }

    pub async fn connect_with(bucket: &str, prefix: &str, options: S3Options) -> S3Store {
        let sdk_config = load_aws_config(&options).await;
        S3Store::from_sdk_config(&sdk_config, bucket, prefix, options)
    }

    /// Builds the store from an already loaded configuration (tests pass one pointing at a
    /// local server). A configured endpoint URL selects path-style addressing, which
    /// S3-compatible servers expect.
    pub fn from_sdk_config(sdk_config: &SdkConfig, bucket: &str, prefix: &str, options: S3Options) -> S3Store {
        let custom_endpoint = sdk_config.endpoint_url().is_some()
            || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|value| !value.trim().is_empty());
        let mut builder = aws_sdk_s3::config::Builder::from(sdk_config)
            .retry_config(retry_config(&options))
            .timeout_config(timeout_config(&options));
        if custom_endpoint {
            // S3-compatible servers vary in their support for the newer default checksums.
            builder = builder
                .force_path_style(true)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let conditional_copy_on_server = options.server_side_conditional_copy.unwrap_or(!custom_endpoint);
        S3Store {
            client: Client::from_conf(builder.build()),
            bucket: bucket.to_string(),
            prefix: normalise_prefix(prefix),
            options,
            conditional_copy_on_server,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Checks that the bucket exists and the credentials reach it, for a clear error at start.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                let location = self.describe();
                match classify(&self.bucket, &location, "head bucket", error) {
                    StoreError::NotFound { .. } => Err(StoreError::Backend {
                        key: location,
                        message: format!("bucket {} does not exist", self.bucket),
                        retryable: false,
                    }),
                    other => Err(other),
                }
            }
        }
    }

    fn full_key(&self, key: &str) -> Result<String, StoreError> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    async fn put_single(&self, key: &str, full_key: &str, body: Bytes, mode: &PutMode) -> Result<String, StoreError> {
        let size = body.len();
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(full_key)
            .content_length(size as i64)
            .body(SdkByteStream::from(body));
        request = match mode {
            PutMode::Overwrite => request,
            PutMode::CreateIfAbsent => request.if_none_match("*"),
            PutMode::ReplaceIfMatch(etag) => request.if_match(quoted(etag)),
        };
        match request.send().await {
            Ok(output) => output.e_tag().map(quoted).ok_or_else(|| missing_etag(key, "put")),
            Err(error) => Err(conditional_put_error(&self.bucket, key, "put", mode, error)),
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        full_key: &str,
        body: Bytes,
        mode: &PutMode,
    ) -> Result<String, StoreError> {
        // Losing a conditional race after uploading every part wastes the upload; check first
        // (the conditional complete below still decides atomically).
        match mode {
            PutMode::Overwrite => {}
            PutMode::CreateIfAbsent => {
                if self.head(key).await?.is_some() {
                    return Err(StoreError::PreconditionFailed { key: key.to_string() });
                }
            }
            PutMode::ReplaceIfMatch(expected) => match self.head(key).await? {
                Some(current) if current.etag == quoted(expected) => {}
                _ => return Err(StoreError::PreconditionFailed { key: key.to_string() }),
            },
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full_key)
            .send()
            .await
            .map_err(|error| classify(&self.bucket, key, "create multipart upload", error))?;
        let Some(upload_id) = created.upload_id().map(str::to_string) else {
            return Err(StoreError::Backend {
                key: key.to_string(),
                message: "create multipart upload returned no upload id".to_string(),
                retryable: true,
            });
        };
        let result = self
            .upload_parts_and_complete(key, full_key, &upload_id, body, mode)
            .await;
        if result.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(full_key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(error) = aborted {
                warn!(object = %key, upload_id, error = %error_chain(&error), "multipart upload not aborted");
            }
        }
        result
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        full_key: &str,
        upload_id: &str,
        body: Bytes,
        mode: &PutMode,
    ) -> Result<String, StoreError> {
        let part_size = self
            .options
            .part_size
            .max(MIN_PART_SIZE)
            .max(body.len().div_ceil(MAX_PARTS));
        let mut in_flight = tokio::task::JoinSet::new();
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut part_number = 1;
        while offset < body.len() || !in_flight.is_empty() {
            let may_start = in_flight.len() < self.options.upload_concurrency.max(1);
            if offset < body.len() && may_start {
                let end = (offset + part_size).min(body.len());
                let chunk = body.slice(offset..end);
                let request = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .content_length(chunk.len() as i64)
                    .body(SdkByteStream::from(chunk));
                let this_part = part_number;
                in_flight.spawn(async move { (this_part, request.send().await) });
                offset = end;
                part_number += 1;
                continue;
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let (number, sent) = joined.map_err(|join_error| StoreError::Backend {
                key: key.to_string(),
                message: format!("upload of a part failed to run: {join_error}"),
                retryable: true,
            })?;
            let uploaded = sent.map_err(|error| classify(&self.bucket, key, "upload part", error))?;
            let Some(etag) = uploaded.e_tag() else {
                return Err(missing_etag(key, "upload part"));
            };
            parts.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
        }
        parts.sort_by_key(|part| part.part_number());
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full_key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        request = match mode {
            PutMode::Overwrite => request,
            PutMode::CreateIfAbsent => request.if_none_match("*"),
            PutMode::ReplaceIfMatch(etag) => request.if_match(quoted(etag)),
        };
        match request.send().await {
            Ok(output) => output
                .e_tag()
                .map(quoted)
                .ok_or_else(|| missing_etag(key, "complete multipart upload")),
            Err(error) => Err(conditional_put_error(
                &self.bucket,
                key,
                "complete multipart upload",
                mode,
                error,
            )),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut found = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(continuation.clone())
                .send()
                .await
                .map_err(|error| classify(&self.bucket, prefix, "list", error))?;
            for object in page.contents() {
                let Some(full_key) = object.key() else {
                    continue;
                };
                let Some(key) = full_key.strip_prefix(&self.prefix) else {
                    continue;
                };
                found.push(ObjectMeta {
                    key: key.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().map(quoted).unwrap_or_default(),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            let next = page.next_continuation_token().map(str::to_string);
            // A server that repeats or drops the token would otherwise loop forever.
            if next.is_none() || next == continuation {
                return Err(StoreError::Backend {
                    key: prefix.to_string(),
                    message: "list returned a truncated page without a new continuation token".to_string(),
                    retryable: false,
                });
            }
            continuation = next;
        }
        found.sort_by(|left, right| left.key.cmp(&right.key));
        Ok(found)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let full_key = self.full_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: output.content_length().unwrap_or(0).max(0) as u64,
                etag: output.e_tag().map(quoted).unwrap_or_default(),
            })),
            Err(error) => match classify(&self.bucket, key, "head", error) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let full_key = self.full_key(key)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|error| classify(&self.bucket, key, "get", error))?;
        let body = output.body.collect().await.map_err(|error| StoreError::Backend {
            key: key.to_string(),
            message: format!("reading the body failed: {}", error_chain(&error)),
            retryable: true,
        })?;
        Ok(body.into_bytes())
    }

    async fn get_range(&self, key: &str, start: u64, end: Option<u64>) -> Result<ByteStream, StoreError> {
        let full_key = self.full_key(key)?;
        let range = match end {
            Some(end) if end <= start => {
                // An empty range needs no body, but a missing object must still say so.
                if self.head(key).await?.is_none() {
                    return Err(StoreError::NotFound { key: key.to_string() });
                }
                return Ok(Box::new(tokio::io::empty()));
            }
            Some(end) => format!("bytes={start}-{}", end - 1),
            None => format!("bytes={start}-"),
        };
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .range(range)
            .send()
            .await;
        match sent {
            Ok(output) => Ok(Box::new(Box::pin(output.body.into_async_read()))),
            // 416: the range starts at or past the end; like a file read there, nothing comes back.
            Err(error) if http_status(&error) == Some(416) => Ok(Box::new(tokio::io::empty())),
            Err(error) => Err(classify(&self.bucket, key, "ranged get", error)),
        }
    }

    async fn put(&self, key: &str, body: Bytes, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        let full_key = self.full_key(key)?;
        let size = body.len() as u64;
        let etag = if body.len() > self.options.multipart_threshold {
            self.put_multipart(key, &full_key, body, &mode).await?
        } else {
            self.put_single(key, &full_key, body, &mode).await?
        };
        Ok(ObjectMeta {
            key: key.to_string(),
            size,
            etag,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full_key = self.full_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|error| classify(&self.bucket, key, "delete", error))?;
        Ok(())
    }

    /// Server-side copy (objects up to 5 GiB, the CopyObject limit). A conditional copy on a
    /// server not trusted with conditional CopyObject goes through get and a conditional put.
    async fn copy(&self, from: &str, to: &str, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        let full_from = self.full_key(from)?;
        let full_to = self.full_key(to)?;
        if mode != PutMode::Overwrite && !self.conditional_copy_on_server {
            let body = self.get(from).await?;
            return self.put(to, body, mode).await;
        }
        let Some(source) = self.head(from).await? else {
            return Err(StoreError::NotFound { key: from.to_string() });
        };
        let copy_source = format!("{}/{}", self.bucket, utf8_percent_encode(&full_from, COPY_SOURCE));
        let mut request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&full_to)
            .copy_source(copy_source);
        request = match &mode {
            PutMode::Overwrite => request,
            PutMode::CreateIfAbsent => request.if_none_match("*"),
            PutMode::ReplaceIfMatch(etag) => request.if_match(quoted(etag)),
        };
        let output = match request.send().await {
            Ok(output) => output,
            Err(error) => {
                return Err(match conditional_put_error(&self.bucket, to, "copy", &mode, error) {
                    // The destination of a plain copy cannot be missing: the source is.
                    StoreError::NotFound { .. } => StoreError::NotFound { key: from.to_string() },
                    other => other,
                });
            }
        };
        let etag = output
            .copy_object_result()
            .and_then(|result| result.e_tag())
            .map(quoted)
            .ok_or_else(|| missing_etag(to, "copy"))?;
        Ok(ObjectMeta {
            key: to.to_string(),
            size: source.size,
            etag,
        })
    }
}

/// `a/b`, `/a/b/` and `a/b/` all become `a/b/`; an empty prefix stays empty.
fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// The etag in the quoted form S3 uses in headers and listings.
fn quoted(etag: &str) -> String {
    if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

/// An error and its sources on one line, without the SDK's debug dump.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their source's message; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn missing_etag(key: &str, operation: &str) -> StoreError {
    StoreError::Backend {
        key: key.to_string(),
        message: format!("{operation} returned no etag"),
        retryable: false,
    }
}

fn http_status<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    error.raw_response().map(|response| response.status().as_u16())
}

/// A conditional write that finds a missing object (If-Match on nothing) lost its race too.
fn conditional_put_error<E>(
    bucket: &str,
    key: &str,
    operation: &str,
    mode: &PutMode,
    error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (classify(bucket, key, operation, error), mode) {
        (StoreError::NotFound { .. }, PutMode::ReplaceIfMatch(_)) => {
            StoreError::PreconditionFailed { key: key.to_string() }
        }
        (other, _) => other,
    }
}

/// Maps an SDK error to the store's error: 404 is `NotFound`, 412 and 409
/// ConditionalRequestConflict are `PreconditionFailed`, and throttling, 5xx, timeouts and
/// connection failures are retryable (the SDK has already retried them).
fn classify<E>(
    bucket: &str,
    key: &str,
    operation: &str,
    error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = http_status(&error);
    let code = error.code().map(str::to_string);
    if code.as_deref() == Some("NoSuchBucket") {
        return StoreError::Backend {
            key: key.to_string(),
            message: format!("s3 {operation} failed: bucket {bucket} does not exist"),
            retryable: false,
        };
    }
    if status == Some(404) || matches!(code.as_deref(), Some("NoSuchKey" | "NotFound")) {
        return StoreError::NotFound { key: key.to_string() };
    }
    if status == Some(412)
        || code.as_deref() == Some("PreconditionFailed")
        || (status == Some(409) && code.as_deref() == Some("ConditionalRequestConflict"))
    {
        return StoreError::PreconditionFailed { key: key.to_string() };
    }
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
        SdkError::ServiceError(_) => {
            matches!(status, Some(408 | 429 | 500..=599))
                || matches!(
                    code.as_deref(),
                    Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout" | "InternalError")
                )
        }
        _ => false,
    };
    let reason = match (&error, status, code.as_deref()) {
        (SdkError::ServiceError(_), Some(status), Some(code)) => {
            format!("http {status} {code}: {}", error.message().unwrap_or("no message"))
        }
        _ => error_chain(&error),
    };
    StoreError::Backend {
        key: key.to_string(),
        message: format!("s3 {operation} failed: {reason}"),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_etags_have_one_form() {
        assert_eq!(normalise_prefix(""), "");
        assert_eq!(normalise_prefix("/"), "");
        assert_eq!(normalise_prefix("a/b"), "a/b/");
        assert_eq!(normalise_prefix("/a/b/"), "a/b/");
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
        assert_eq!(quoted("\""), "\"\"\"");
    }
}
