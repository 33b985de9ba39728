//! Amazon S3 as the report destination (`aws-sdk-s3`), with the same keys as the local folder.
//!
//! Every request carries `ExpectedBucketOwner` when one is configured, so a report never lands
//! in a bucket that someone else owns, and the configured server-side encryption. A body up to
//! [`S3Options::multipart_threshold`] is one `PutObject`: S3 stores it whole or not at all.
//! A larger body is a multipart upload whose parts go up concurrently; if any part fails after
//! the SDK's retries, the upload is aborted, so no object and no orphaned parts are left.
//! Retries (with backoff, for 5xx, `SlowDown` and other throttling) are the SDK's standard
//! retry mode, configured on the client ([`client`]).
//!
//! Every body carries a CRC32 checksum that S3 verifies, so the SigV4 signature skips the
//! payload hash (`UNSIGNED-PAYLOAD`): hashing every report a second time cost about 10% of the
//! delivery time in `bench/s3.sh` and adds no integrity the checksum does not give.
//!
//! The pipeline is synchronous; this sink owns a tokio runtime handle and blocks on it. It must
//! therefore not be called from inside an async task (the Lambda front door runs the pipeline
//! in `spawn_blocking`).

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use tokio::runtime::Handle;

use super::{Sink, SinkError};
use crate::reports::encode::Body;

/// How the AWS clients are built (shared by the S3 sink and, later, the collector).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Region of the S3 client (default: the SDK's chain, e.g. `AWS_REGION`).
    pub region: Option<String>,
    /// Named profile of the shared config files.
    pub profile: Option<String>,
    /// Endpoint of an S3-compatible server instead of AWS (tests, emulators).
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`), which most emulators need.
    pub path_style: bool,
    /// Attempts per request, first try included (the SDK's standard retry mode).
    pub max_attempts: u32,
}

/// Builds an S3 client from the default credential chain and `opts`.
pub async fn client(opts: &AwsOptions) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &opts.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(opts.max_attempts.max(1));
    let conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(opts.path_style).retry_config(retry).build();
    Client::from_conf(conf)
}

/// Server-side encryption of the objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS (`aws:kms`), with the bucket's default key unless a key id is given.
    Kms { key_id: Option<String> },
}

/// What every object upload carries, and how large bodies are cut.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub expected_bucket_owner: Option<String>,
    pub sse: Option<Sse>,
    /// Bodies larger than this use a multipart upload.
    pub multipart_threshold: usize,
    /// Size of each multipart part but the last (S3's minimum is 5 MiB).
    pub part_size: usize,
    /// Parts of one object in flight at once.
    pub part_concurrency: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            expected_bucket_owner: None,
            sse: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            part_concurrency: 4,
        }
    }
}

/// Creates S3 sinks that share one client, runtime handle and options.
#[derive(Debug, Clone)]
pub struct S3Sinks {
    client: Client,
    runtime: Handle,
    options: Arc<S3Options>,
}

impl S3Sinks {
    pub fn new(client: Client, runtime: Handle, options: S3Options) -> Self {
        S3Sinks { client, runtime, options: Arc::new(options) }
    }

    /// A sink writing below `prefix` (may be empty) in `bucket`.
    pub fn bucket(&self, bucket: &str, prefix: &str) -> S3Bucket {
        S3Bucket {
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            options: self.options.clone(),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }
}

/// One bucket and key prefix as a [`Sink`].
#[derive(Debug, Clone)]
pub struct S3Bucket {
    client: Client,
    runtime: Handle,
    options: Arc<S3Options>,
    bucket: String,
    prefix: String,
}

/// `s3://bucket/prefix` → `("bucket", "prefix")`; `None` when `url` is not an S3 URL.
pub fn parse_url(url: &str) -> Option<Result<(String, String), String>> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    Some(if valid {
        Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
    } else {
        Err(format!("`{url}`: `{bucket}` is not an S3 bucket name (3 to 63 lower-case letters, digits, `-` and `.`)"))
    })
}

impl S3Bucket {
    fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) }
    }

    fn error<E>(&self, key: &str, operation: &str, e: SdkError<E, HttpResponse>) -> SinkError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        SinkError::S3 { location: self.location(key), message: format!("{operation}: {}", describe(e)) }
    }

    async fn put_one(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), SinkError> {
        let o = &self.options;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_expected_bucket_owner(o.expected_bucket_owner.clone())
            .set_server_side_encryption(sse_header(o))
            .set_ssekms_key_id(kms_key(o))
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| self.error(key, "PutObject", e))?;
        Ok(())
    }

    async fn put_multipart(&self, key: &str, body: &Body<'_>, content_type: &str) -> Result<(), SinkError> {
        let o = &self.options;
        let object_key = self.object_key(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&object_key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_expected_bucket_owner(o.expected_bucket_owner.clone())
            .set_server_side_encryption(sse_header(o))
            .set_ssekms_key_id(kms_key(o))
            .send()
            .await
            .map_err(|e| self.error(key, "CreateMultipartUpload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| SinkError::S3 {
                location: self.location(key),
                message: "CreateMultipartUpload returned no UploadId".into(),
            })?
            .to_string();
        match self.upload_parts(key, &object_key, &upload_id, body).await {
            Ok(parts) => {
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&object_key)
                    .upload_id(&upload_id)
                    .set_expected_bucket_owner(o.expected_bucket_owner.clone())
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
                    .map_err(|e| self.error(key, "CompleteMultipartUpload", e));
                if let Err(e) = done {
                    self.abort(key, &object_key, &upload_id).await;
                    return Err(e);
                }
                Ok(())
            }
            Err(e) => {
                self.abort(key, &object_key, &upload_id).await;
                Err(e)
            }
        }
    }

    /// Uploads the body in parts, at most `part_concurrency` at a time, in part-number order.
    async fn upload_parts(
        &self,
        key: &str,
        object_key: &str,
        upload_id: &str,
        body: &Body<'_>,
    ) -> Result<Vec<CompletedPart>, SinkError> {
        let o = &self.options;
        let mut tasks = tokio::task::JoinSet::new();
        let mut done: Vec<CompletedPart> = Vec::new();
        let mut first_error: Option<SinkError> = None;
        for (i, part) in parts(body, o.part_size.max(5 * 1024 * 1024)).enumerate() {
            while tasks.len() >= o.part_concurrency.max(1) {
                collect(tasks.join_next().await, &mut done, &mut first_error);
            }
            if first_error.is_some() {
                break;
            }
            let number = i as i32 + 1;
            let request = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(object_key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .set_expected_bucket_owner(o.expected_bucket_owner.clone())
                .body(ByteStream::from(part));
            let me = self.clone();
            let key = key.to_string();
            tasks.spawn(async move {
                let out = request
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .map_err(|e| me.error(&key, &format!("UploadPart {number}"), e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                    .build())
            });
        }
        while let Some(r) = tasks.join_next().await {
            collect(Some(r), &mut done, &mut first_error);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        done.sort_by_key(|p| p.part_number());
        Ok(done)
    }

    async fn abort(&self, key: &str, object_key: &str, upload_id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(object_key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.options.expected_bucket_owner.clone())
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::error!(
                location = %self.location(key),
                upload_id,
                "could not abort the multipart upload; its parts stay until a lifecycle rule removes them: {}",
                DisplayErrorContext(e)
            );
        }
    }
}

/// An SDK error in one line: S3's error code, message and HTTP status for a service error,
/// else the error's full chain (timeouts, connection failures).
fn describe<E>(e: SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                _ => format!("HTTP {status}: {}", crate::problem::DisplayChain(err)),
            }
        }
        _ => crate::problem::DisplayChain(&e).to_string(),
    }
}

type PartResult = Result<CompletedPart, SinkError>;

fn collect(
    joined: Option<Result<PartResult, tokio::task::JoinError>>,
    done: &mut Vec<CompletedPart>,
    first_error: &mut Option<SinkError>,
) {
    let result = match joined {
        None => return,
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(SinkError::S3 { location: String::new(), message: format!("upload task failed: {e}") }),
    };
    match result {
        Ok(p) => done.push(p),
        Err(e) => {
            first_error.get_or_insert(e);
        }
    }
}

/// The body cut into owned buffers of `size` bytes (the last one shorter).
fn parts<'a>(body: &'a Body<'a>, size: usize) -> impl Iterator<Item = Vec<u8>> + 'a {
    let mut slices = body.slices.iter().copied();
    let mut rest: &[u8] = &[];
    std::iter::from_fn(move || {
        let mut part = Vec::with_capacity(size);
        while part.len() < size {
            if rest.is_empty() {
                match slices.next() {
                    Some(s) => rest = s,
                    None => break,
                }
                continue;
            }
            let take = rest.len().min(size - part.len());
            part.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        (!part.is_empty()).then_some(part)
    })
}

fn sse_header(o: &S3Options) -> Option<ServerSideEncryption> {
    match o.sse {
        None => None,
        Some(Sse::Aes256) => Some(ServerSideEncryption::Aes256),
        Some(Sse::Kms { .. }) => Some(ServerSideEncryption::AwsKms),
    }
}

fn kms_key(o: &S3Options) -> Option<String> {
    match &o.sse {
        Some(Sse::Kms { key_id }) => key_id.clone(),
        _ => None,
    }
}

/// Reading back what was written (the shard parts that `merge` reads).
impl S3Bucket {
    /// The object at `key`, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        self.runtime.block_on(async {
            let got = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .set_expected_bucket_owner(self.options.expected_bucket_owner.clone())
                .send()
                .await;
            match got {
                Ok(o) => o.body.collect().await.map(|b| Some(b.to_vec())).map_err(|e| SinkError::S3 {
                    location: self.location(key),
                    message: format!("GetObject: reading the body: {e}"),
                }),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(self.error(key, "GetObject", e)),
            }
        })
    }

    /// Every key below `prefix` (relative to the bucket's prefix), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        Ok(self.list_sizes(prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Every key below `prefix` (relative to the bucket's prefix) with its size, sorted.
    pub fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>, SinkError> {
        self.runtime.block_on(async {
            let full = self.object_key(prefix);
            let strip = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
            let mut keys = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_expected_bucket_owner(self.options.expected_bucket_owner.clone())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.error(prefix, "ListObjectsV2", e))?;
                keys.extend(page.contents().iter().filter_map(|o| {
                    let k = o.key()?;
                    Some((k[strip.min(k.len())..].to_string(), o.size().unwrap_or_default().max(0) as u64))
                }));
            }
            keys.sort();
            Ok(keys)
        })
    }

    /// Deletes the object at `key` (no error when there is none).
    pub fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.runtime.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .set_expected_bucket_owner(self.options.expected_bucket_owner.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error(key, "DeleteObject", e))
        })
    }
}

impl Sink for S3Bucket {
    fn put(&self, key: &str, body: &Body<'_>, content_type: &str) -> Result<(), SinkError> {
        if body.len() > self.options.multipart_threshold {
            self.runtime.block_on(self.put_multipart(key, body, content_type))
        } else {
            self.runtime.block_on(self.put_one(key, body.to_vec(), content_type))
        }
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(key))
    }

    fn root(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{}/", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cut_across_slices() {
        let a = vec![1u8; 7];
        let b = vec![2u8; 5];
        let body = Body { slices: vec![&a, &b], rows: 0 };
        let cut: Vec<Vec<u8>> = parts(&body, 4).collect();
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 4]);
        assert_eq!(cut.concat(), [a.clone(), b.clone()].concat());
        let cut: Vec<Vec<u8>> = parts(&body, 5).collect();
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 5, 2]);
    }

    #[test]
    fn s3_urls() {
        assert_eq!(parse_url("s3://my-bucket/a/b/"), Some(Ok(("my-bucket".into(), "a/b".into()))));
        assert_eq!(parse_url("s3://my-bucket"), Some(Ok(("my-bucket".into(), String::new()))));
        assert_eq!(parse_url("reports"), None);
        let err = parse_url("s3://My_Bucket/x").unwrap().unwrap_err();
        assert!(err.contains("`My_Bucket` is not an S3 bucket name"), "{err}");
    }
}
