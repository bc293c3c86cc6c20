//! The S3 store against a real S3-compatible server (`moto_server`): listing across pages,
//! ranged reads, conditional writes and their races, multipart uploads, copies and deletes.

use std::sync::Arc;

use bytes::Bytes;
use storage::s3::{S3Options, S3Store};
use storage::{ObjectStore, PutMode, StoreError};
use test_servers::S3Server;
use tokio::io::AsyncReadExt;

async fn start() -> S3Server {
    S3Server::start().await.expect("moto_server starts")
}

async fn open(server: &S3Server, prefix: &str) -> S3Store {
    server
        .store("pipeline", prefix, S3Options::default())
        .await
        .expect("bucket is created")
}

async fn read_range(store: &S3Store, key: &str, start: u64, end: Option<u64>) -> String {
    let mut reader = store.get_range(key, start, end).await.unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_get_and_list_across_pages_relative_to_the_prefix() {
    let server = start().await;
    let store = Arc::new(open(&server, "team/run-1").await);
    let outside = open(&server, "team/run-2").await;
    outside
        .put("raw/elsewhere.jsonl", Bytes::from_static(b"x"), PutMode::Overwrite)
        .await
        .unwrap();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for index in (writer..1100).step_by(16) {
                let key = format!("raw/part-{index:05}.jsonl");
                store
                    .put(&key, Bytes::from(format!("row {index}\n")), PutMode::Overwrite)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(joined) = writers.join_next().await {
        joined.unwrap();
    }
    store
        .put("rawer/other", Bytes::from_static(b"o"), PutMode::Overwrite)
        .await
        .unwrap();
    let listed = store.list("raw/").await.unwrap();
    assert_eq!(listed.len(), 1100, "more than one page of 1000 keys");
    let expected: Vec<String> = (0..1100).map(|index| format!("raw/part-{index:05}.jsonl")).collect();
    let keys: Vec<String> = listed.iter().map(|meta| meta.key.clone()).collect();
    assert_eq!(keys, expected, "sorted and relative to the store prefix");
    assert_eq!(listed[7].size, "row 7\n".len() as u64);
    assert!(listed[7].etag.starts_with('"'));
    assert_eq!(store.list("raw").await.unwrap().len(), 1101);
    assert_eq!(store.list("").await.unwrap().len(), 1101);
    assert_eq!(&store.get("raw/part-01099.jsonl").await.unwrap()[..], b"row 1099\n");
    let head = store.head("raw/part-00007.jsonl").await.unwrap().unwrap();
    assert_eq!(head, listed[7], "head and list agree");
    assert_eq!(store.describe(), "s3://pipeline/team/run-1/");
}

#[tokio::test]
async fn ranged_reads_stream_the_requested_bytes() {
    let server = start().await;
    let store = open(&server, "").await;
    store
        .put("raw/b.jsonl", Bytes::from_static(b"0123456789"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(read_range(&store, "raw/b.jsonl", 3, Some(6)).await, "345");
    assert_eq!(read_range(&store, "raw/b.jsonl", 7, None).await, "789");
    assert_eq!(read_range(&store, "raw/b.jsonl", 0, None).await, "0123456789");
    assert_eq!(read_range(&store, "raw/b.jsonl", 8, Some(50)).await, "89");
    assert_eq!(read_range(&store, "raw/b.jsonl", 4, Some(4)).await, "");
    assert_eq!(read_range(&store, "raw/b.jsonl", 10, None).await, "");
    assert!(matches!(
        store.get_range("raw/missing", 0, Some(4)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_range("raw/missing", 2, Some(2)).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn conditional_writes_follow_s3_semantics() {
    let server = start().await;
    let store = open(&server, "releases").await;
    let first = store
        .put("channels/main.json", Bytes::from_static(b"v1"), PutMode::CreateIfAbsent)
        .await
        .unwrap();
    let again = store
        .put("channels/main.json", Bytes::from_static(b"v2"), PutMode::CreateIfAbsent)
        .await;
    assert!(matches!(again, Err(StoreError::PreconditionFailed { .. })), "{again:?}");
    let second = store
        .put(
            "channels/main.json",
            Bytes::from_static(b"v2"),
            PutMode::ReplaceIfMatch(first.etag.clone()),
        )
        .await
        .unwrap();
    assert_ne!(first.etag, second.etag);
    let stale = store
        .put(
            "channels/main.json",
            Bytes::from_static(b"v3"),
            PutMode::ReplaceIfMatch(first.etag.clone()),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })), "{stale:?}");
    assert_eq!(&store.get("channels/main.json").await.unwrap()[..], b"v2");
    // The etag from head works too, quoted or bare.
    let current = store.head("channels/main.json").await.unwrap().unwrap();
    assert_eq!(current.etag, second.etag);
    let bare = current.etag.trim_matches('"').to_string();
    store
        .put(
            "channels/main.json",
            Bytes::from_static(b"v3"),
            PutMode::ReplaceIfMatch(bare),
        )
        .await
        .unwrap();
    let missing = store
        .put(
            "channels/none.json",
            Bytes::from_static(b"v1"),
            PutMode::ReplaceIfMatch(first.etag),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::PreconditionFailed { .. })),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_if_absent_writers_have_exactly_one_winner() {
    let server = start().await;
    let store = Arc::new(open(&server, "").await);
    for round in 0..10 {
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..8 {
            let store = store.clone();
            writers.spawn(async move {
                let body = Bytes::from(format!("writer {writer}"));
                match store
                    .put(&format!("created/{round}"), body, PutMode::CreateIfAbsent)
                    .await
                {
                    Ok(_) => Some(writer),
                    Err(StoreError::PreconditionFailed { .. }) => None,
                    Err(other) => panic!("unexpected error: {other}"),
                }
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = writers.join_next().await {
            winners.extend(joined.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored = store.get(&format!("created/{round}")).await.unwrap();
        assert_eq!(stored, Bytes::from(format!("writer {}", winners[0])));
    }
}

#[tokio::test]
async fn bodies_above_the_threshold_round_trip_through_multipart_upload() {
    let server = start().await;
    let options = S3Options {
        multipart_threshold: 1024 * 1024,
        ..S3Options::default()
    };
    let store = server.store("pipeline", "big", options).await.unwrap();
    // 12 MiB + 7 bytes: parts of 8, 4 MiB + 7 bytes, each part with distinct content.
    let body: Vec<u8> = (0..12 * 1024 * 1024 + 7)
        .map(|index: u32| (index % 251) as u8)
        .collect();
    let body = Bytes::from(body);
    let written = store
        .put(
            "releases/v1/full/part-00000.parquet",
            body.clone(),
            PutMode::CreateIfAbsent,
        )
        .await
        .unwrap();
    assert_eq!(written.size, body.len() as u64);
    assert!(written.etag.ends_with("-2\""), "a multipart etag: {}", written.etag);
    let head = store
        .head("releases/v1/full/part-00000.parquet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((head.size, &head.etag), (written.size, &written.etag));
    assert!(store.get("releases/v1/full/part-00000.parquet").await.unwrap() == body);
    let middle = 8 * 1024 * 1024 - 3;
    let mut reader = store
        .get_range("releases/v1/full/part-00000.parquet", middle, Some(middle + 6))
        .await
        .unwrap();
    let mut across_parts = Vec::new();
    reader.read_to_end(&mut across_parts).await.unwrap();
    assert_eq!(&across_parts[..], &body[middle as usize..middle as usize + 6]);
    let again = store
        .put(
            "releases/v1/full/part-00000.parquet",
            body.clone(),
            PutMode::CreateIfAbsent,
        )
        .await;
    assert!(matches!(again, Err(StoreError::PreconditionFailed { .. })), "{again:?}");
    let replaced = store
        .put(
            "releases/v1/full/part-00000.parquet",
            body.slice(1..),
            PutMode::ReplaceIfMatch(written.etag.clone()),
        )
        .await
        .unwrap();
    assert_eq!(replaced.size, body.len() as u64 - 1);
    let stale = store
        .put(
            "releases/v1/full/part-00000.parquet",
            body.clone(),
            PutMode::ReplaceIfMatch(written.etag),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })), "{stale:?}");
    let uploads = store
        .client()
        .list_multipart_uploads()
        .bucket("pipeline")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "no upload is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_multipart_creators_leave_one_whole_body_and_no_upload_behind() {
    let server = start().await;
    let options = S3Options {
        multipart_threshold: 1024 * 1024,
        part_size: 5 * 1024 * 1024,
        ..S3Options::default()
    };
    let store = Arc::new(server.store("pipeline", "race", options).await.unwrap());
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..3u8 {
        let store = store.clone();
        writers.spawn(async move {
            let body = Bytes::from(vec![writer; 6 * 1024 * 1024]);
            match store
                .put("releases/v1/manifest.json", body, PutMode::CreateIfAbsent)
                .await
            {
                Ok(_) => Some(writer),
                Err(StoreError::PreconditionFailed { .. }) => None,
                Err(other) => panic!("unexpected error: {other}"),
            }
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = writers.join_next().await {
        winners.extend(joined.unwrap());
    }
    // AWS S3 lets exactly one conditional CompleteMultipartUpload win. moto 5.2 checks
    // If-None-Match before assembling the parts without a lock, so racing completes can
    // all pass; what any server must keep is a whole body from one writer and no orphans.
    assert!(!winners.is_empty(), "somebody wins");
    let stored = store.get("releases/v1/manifest.json").await.unwrap();
    assert_eq!(stored.len(), 6 * 1024 * 1024);
    assert!(winners.iter().any(|&writer| stored.iter().all(|&byte| byte == writer)));
    let uploads = store
        .client()
        .list_multipart_uploads()
        .bucket("pipeline")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "losing uploads are aborted");
}

#[tokio::test]
async fn copy_delete_and_missing_objects() {
    let server = start().await;
    let store = open(&server, "prefix with space").await;
    let source = store
        .put(
            "runs/r1/out é+1.jsonl",
            Bytes::from_static(b"payload"),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let copied = store
        .copy("runs/r1/out é+1.jsonl", "releases/v2/out.jsonl", PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(copied.key, "releases/v2/out.jsonl");
    assert_eq!(copied.size, source.size);
    assert_eq!(
        copied.etag,
        store.head("releases/v2/out.jsonl").await.unwrap().unwrap().etag
    );
    assert_eq!(&store.get("releases/v2/out.jsonl").await.unwrap()[..], b"payload");
    let onto_existing = store
        .copy(
            "runs/r1/out é+1.jsonl",
            "releases/v2/out.jsonl",
            PutMode::CreateIfAbsent,
        )
        .await;
    assert!(
        matches!(onto_existing, Err(StoreError::PreconditionFailed { .. })),
        "{onto_existing:?}"
    );
    store
        .copy(
            "runs/r1/out é+1.jsonl",
            "releases/v3/out.jsonl",
            PutMode::CreateIfAbsent,
        )
        .await
        .unwrap();
    let from_missing = store
        .copy("runs/none", "releases/v4/out.jsonl", PutMode::Overwrite)
        .await;
    assert!(
        matches!(&from_missing, Err(StoreError::NotFound { key }) if key == "runs/none"),
        "{from_missing:?}"
    );

    store.delete("releases/v2/out.jsonl").await.unwrap();
    store.delete("releases/v2/out.jsonl").await.unwrap();
    assert!(store.head("releases/v2/out.jsonl").await.unwrap().is_none());
    let missing = store.get("releases/v2/out.jsonl").await;
    assert!(
        matches!(&missing, Err(StoreError::NotFound { key }) if key == "releases/v2/out.jsonl"),
        "{missing:?}"
    );
    assert!(matches!(
        store.put("../escape", Bytes::new(), PutMode::Overwrite).await,
        Err(StoreError::InvalidKey { .. })
    ));
    let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|meta| meta.key).collect();
    assert_eq!(keys, vec!["releases/v3/out.jsonl", "runs/r1/out é+1.jsonl"]);
}

#[tokio::test]
async fn errors_name_the_key_and_say_whether_to_retry() {
    let server = start().await;
    let sdk_config = server.sdk_config().await;
    let store = S3Store::from_sdk_config(&sdk_config, "no-such-bucket", "", S3Options::default());
    let error = store
        .put("a/b", Bytes::from_static(b"x"), PutMode::Overwrite)
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("a/b") && message.contains("bucket no-such-bucket does not exist"),
        "{message}"
    );
    let checked = store.check().await.unwrap_err().to_string();
    assert!(checked.contains("no-such-bucket"), "{checked}");

    let nothing_listens = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let unreachable = S3Store::from_sdk_config(
        &nothing_listens,
        "pipeline",
        "",
        S3Options {
            max_attempts: 2,
            ..S3Options::default()
        },
    );
    let error = unreachable.get("raw/a").await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("raw/a"), "{error}");
}
