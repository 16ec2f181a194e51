//! Uploads to an account's S3 bucket (its storage plan; `callrec_kazoo::storage`).
//!
//! The spool entry's target URL is `s3://<bucket>/<key>` and its metadata names the handler
//! ([`StoredObject`]); the handler's endpoint and credentials are read from the account's
//! storage document as it is when the attempt starts, so fixing wrong credentials through the
//! API takes effect on the next retry. Everything else is the HTTP uploader's: the same spool
//! states, backoff and give-up window; an attempt that fails for any reason (store down, 403
//! wrong credentials, a cut connection) is retried, with the store's answer in `last_error`.
//!
//! - Client: `object_store`'s S3 store (Signature V4, path-style requests unless the handler
//!   asks for `vhost`), its own retries off (the spool's backoff governs).
//! - Files up to [`SINGLE_PUT_MAX`] go in one PUT; larger ones as a multipart upload of
//!   [`PART_SIZE`] parts read from disk as they are sent ([`PARTS_IN_FLIGHT`] at once), so a
//!   100 MB recording never sits in memory. A failed multipart upload is aborted.
//! - Object metadata (`x-amz-meta-*`): call_id, interaction_id, origin, direction, from, to,
//!   duration_ms, recording_id (non-ASCII bytes percent-encoded).
//! - The secret is only handed to the signer: never logged, never in `last_error`.

use std::sync::Arc;
use std::time::Duration;

use callrec_kazoo::recording::{LegDirection, RecordingMetadata};
use callrec_kazoo::storage::{S3Settings, StoragePlans};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt;

use super::{UploadConfig, UploadError};
use crate::spool::{Spool, SpoolRecord};

/// Files up to this size are sent in one PUT (read into memory).
pub const SINGLE_PUT_MAX: u64 = 8 * 1024 * 1024;
/// Part size of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts sent at once.
pub const PARTS_IN_FLIGHT: usize = 2;
/// How much of the file is read at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// Whether a spool target is an S3 object.
pub fn is_s3_target(url: &str) -> bool {
    url.starts_with("s3://")
}

/// A header-safe metadata value: visible ASCII kept, everything else percent-encoded.
fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn attributes(meta: &RecordingMetadata, content_type: &str, duration_ms: u64) -> Attributes {
    let mut a = Attributes::new();
    a.insert(
        Attribute::ContentType,
        AttributeValue::from(content_type.to_owned()),
    );
    let direction = match meta.direction {
        LegDirection::Inbound => "inbound",
        LegDirection::Outbound => "outbound",
    };
    let fields: [(&'static str, String); 8] = [
        ("call_id", meta.call_id.clone()),
        ("interaction_id", meta.interaction_id.clone()),
        ("origin", meta.origin.clone()),
        ("direction", direction.to_owned()),
        ("from", meta.from.clone()),
        ("to", meta.to.clone()),
        ("duration_ms", duration_ms.to_string()),
        ("recording_id", meta.id.clone()),
    ];
    for (k, v) in fields {
        a.insert(
            Attribute::Metadata(k.into()),
            AttributeValue::from(header_safe(&v)),
        );
    }
    a
}

/// The S3 client of one handler.
fn client(s3: &S3Settings, cfg: &UploadConfig) -> Result<impl ObjectStore, UploadError> {
    let mut options = ClientOptions::new()
        .with_timeout(cfg.request_timeout)
        .with_connect_timeout(cfg.connect_timeout.min(cfg.request_timeout));
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| UploadError::CaFile {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        for cert in
            object_store::Certificate::from_pem_bundle(&pem).map_err(|e| UploadError::CaFile {
                path: path.clone(),
                problem: e.to_string(),
            })?
        {
            options = options.with_root_certificate(cert);
        }
    }
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.key)
        .with_secret_access_key(&s3.secret)
        .with_virtual_hosted_style_request(s3.vhost)
        .with_retry(RetryConfig {
            max_retries: 0,
            retry_timeout: Duration::from_secs(1),
            ..RetryConfig::default()
        })
        .with_client_options(options);
    if let Some(endpoint) = s3.endpoint() {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    builder
        .build()
        .map_err(|e| UploadError::S3(format!("S3 client: {e}")))
}

/// A client for reading objects of `s3`'s bucket (the API serving a recording another node
/// uploaded), with the uploader's timeouts and CA settings.
pub fn reader(s3: &S3Settings, cfg: &UploadConfig) -> Result<Box<dyn ObjectStore>, UploadError> {
    Ok(Box::new(client(s3, cfg)?))
}

/// The store's answer in a line (no secret), for a reply or a log line.
pub fn describe_error(e: &object_store::Error) -> String {
    describe(e)
}

/// Sends `record`'s audio to its bucket. Returns 200 once the object is stored.
pub(super) async fn send(
    plans: &Arc<StoragePlans>,
    spool: &Spool,
    record: &SpoolRecord,
    cfg: &UploadConfig,
) -> Result<u16, UploadError> {
    let meta: RecordingMetadata = serde_json::from_value(record.metadata.clone())
        .map_err(|_| UploadError::BadTarget("the recording's metadata is unreadable".into()))?;
    let Some(object) = meta.storage.clone() else {
        return Err(UploadError::BadTarget(
            "the recording's metadata names no storage object".into(),
        ));
    };
    let account = meta.account_id.as_deref().unwrap_or_default();
    let Some(settings) = plans.handler(account, &object.handler) else {
        // The plan may come back (or be fixed): retried like any failure.
        return Err(UploadError::S3(format!(
            "storage handler {} is not in the account's storage document",
            object.handler
        )));
    };
    let mut s3 = settings.clone();
    s3.bucket = object.bucket.clone();
    let path = ObjectPath::parse(&object.key)
        .map_err(|_| UploadError::BadTarget(format!("invalid object key {:?}", object.key)))?;
    let store = client(&s3, cfg)?;
    let audio = spool.audio_path(record);
    let mut file = tokio::fs::File::open(&audio)
        .await
        .map_err(UploadError::File)?;
    let len = file.metadata().await.map_err(UploadError::File)?.len();
    let attrs = attributes(
        &meta,
        &record.content_type,
        record.duration_ms.unwrap_or(meta.duration_ms),
    );
    let fail = |e: object_store::Error| UploadError::S3(describe(&e));
    if len <= SINGLE_PUT_MAX {
        let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut body)
            .await
            .map_err(UploadError::File)?;
        let opts = PutOptions {
            attributes: attrs,
            ..PutOptions::default()
        };
        store
            .put_opts(&path, PutPayload::from(body), opts)
            .await
            .map_err(fail)?;
        return Ok(200);
    }
    let opts = PutMultipartOptions {
        attributes: attrs,
        ..PutMultipartOptions::default()
    };
    let upload = store.put_multipart_opts(&path, opts).await.map_err(fail)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(fail(e));
        }
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(UploadError::File(e));
            }
        };
        if n == 0 {
            break;
        }
        writer.write(&buf[..n]);
    }
    writer.finish().await.map_err(fail)?;
    Ok(200)
}

/// The store's answer in a line for `last_error` (the status and S3's error code; no secret
/// is ever part of an error).
fn describe(e: &object_store::Error) -> String {
    let text = e.to_string();
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 400 {
        let mut cut = 400;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    format!("S3: {line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_are_header_safe() {
        assert_eq!(header_safe("sip:1001@a.test"), "sip:1001@a.test");
        assert_eq!(header_safe("José\n"), "Jos%C3%A9%0A");
        assert_eq!(header_safe("100%"), "100%25");
    }
}
