//! `open_store` by URI. S3 settings come from the standard AWS environment here, so this test
//! binary holds a single test: it may set process environment variables without racing others.

use bytes::Bytes;
use storage::open_store;
use storage::s3::S3Options;
use storage::PutMode;
use test_servers::S3Server;

#[tokio::test]
async fn open_store_reads_the_uri_and_the_aws_environment() {
    let directory = tempfile::tempdir().unwrap();
    let local = open_store(&directory.path().display().to_string()).await.unwrap();
    local
        .put("a/b", Bytes::from_static(b"local"), PutMode::Overwrite)
        .await
        .unwrap();
    let by_file_uri = open_store(&format!("file://{}", directory.path().display()))
        .await
        .unwrap();
    assert_eq!(&by_file_uri.get("a/b").await.unwrap()[..], b"local");
    assert!(open_store("gs://bucket")
        .await
        .unwrap_err()
        .contains("unsupported store uri"));

    let server = S3Server::start().await.expect("moto_server starts");
    server.store("released", "", S3Options::default()).await.unwrap();
    // Dummy credentials and an endpoint, and nothing from this machine's own AWS set-up.
    let settings = [
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_CONFIG_FILE", directory.path().join("none").display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            directory.path().join("none").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    for (name, value) in settings {
        std::env::set_var(name, value);
    }
    for name in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
    ] {
        std::env::remove_var(name);
    }
    let store = open_store("s3://released/data/v1/").await.unwrap();
    assert_eq!(store.describe(), "s3://released/data/v1/");
    store
        .put("manifest.json", Bytes::from_static(b"{}"), PutMode::CreateIfAbsent)
        .await
        .unwrap();
    let raw = server.store("released", "", S3Options::default()).await.unwrap();
    assert_eq!(
        &storage::ObjectStore::get(&raw, "data/v1/manifest.json").await.unwrap()[..],
        b"{}"
    );
    let missing = open_store("s3://no-such-bucket/x").await.unwrap_err();
    assert!(missing.contains("no-such-bucket"), "{missing}");
}
