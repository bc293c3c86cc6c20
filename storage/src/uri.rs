//! Store URIs: a directory path, `file:///path`, or `s3://bucket/prefix`. Opening one is
//! `crate::open_store`, which holds both backends.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUri {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

pub fn parse_store_uri(uri: &str) -> Result<StoreUri, String> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("store uri {uri:?} names no bucket"));
        }
        let prefix = prefix.trim_matches('/');
        return Ok(StoreUri::S3 {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        });
    }
    if let Some(path) = uri.strip_prefix("file://") {
        if path.is_empty() {
            return Err(format!("store uri {uri:?} names no path"));
        }
        return Ok(StoreUri::Local(PathBuf::from(path)));
    }
    if uri.contains("://") {
        return Err(format!(
            "unsupported store uri {uri:?}: use a directory, file:///path or s3://bucket/prefix"
        ));
    }
    if uri.is_empty() {
        return Err("empty store uri".to_string());
    }
    Ok(StoreUri::Local(PathBuf::from(uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse_store_uri("data/x").unwrap(), StoreUri::Local("data/x".into()));
        assert_eq!(
            parse_store_uri("file:///srv/wildchat-store").unwrap(),
            StoreUri::Local("/srv/wildchat-store".into())
        );
        assert_eq!(
            parse_store_uri("s3://bucket/a/b/").unwrap(),
            StoreUri::S3 {
                bucket: "bucket".into(),
                prefix: "a/b/".into()
            }
        );
        assert_eq!(
            parse_store_uri("s3://bucket").unwrap(),
            StoreUri::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert!(parse_store_uri("gs://x").is_err());
        assert!(parse_store_uri("s3:///x").is_err());
    }
}
