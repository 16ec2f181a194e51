//! Where a finished recording goes. This is the one place that decides it, used when a
//! recording finishes normally and again when crash recovery has measured a recording the
//! crash cut off: the KAZOO-compatible URL names the duration, so it can only be built once
//! the length is known.
//!
//! A `url` in the recording's rule wins; without one, the account's storage plan (chosen when
//! the recording started: [`plan_storage`]) sends it to an S3 bucket, as an upload whose URL
//! is `s3://<bucket>/<key>` (the uploader reads the handler from the metadata); with neither
//! it is kept locally.

use callrec_kazoo::recording::{
    encode_component, upload_request, Method, RecordingMetadata, UploadRequest, UploadState,
};
use callrec_kazoo::storage::StoragePlans;
use serde_json::Value;

/// What to do with a finished recording's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Upload it with this request, retrying until the receiver takes it.
    Upload(UploadRequest),
    /// Keep it on this node: its rule named no `url`.
    KeepLocal,
}

/// The disposition of a recording whose metadata is final (duration set).
pub fn disposition(metadata: &RecordingMetadata) -> Disposition {
    if let Some(r) = upload_request(metadata) {
        return Disposition::Upload(r);
    }
    match &metadata.storage {
        Some(object) => Disposition::Upload(UploadRequest {
            method: Method::Put,
            url: format!(
                "s3://{}/{}",
                object.bucket,
                object
                    .key
                    .split('/')
                    .map(encode_component)
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            content_type: metadata.format.content_type(),
        }),
        None => Disposition::KeepLocal,
    }
}

/// Chooses, when a recording starts, the object it goes to under its account's storage plan
/// (nothing when its rule names a `url` or the account has no plan).
pub fn plan_storage(metadata: &mut RecordingMetadata, plans: &StoragePlans) {
    metadata.storage = plans.target_for(metadata);
}

/// A recording recovered after a crash, its metadata completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The metadata with the measured duration and the upload state.
    pub metadata: RecordingMetadata,
    /// Where it goes.
    pub disposition: Disposition,
}

/// Completes the metadata of a recording that a crash cut off: `measured_ms` is the length of
/// its repaired audio file (when it could be measured). `None` when the sidecar's metadata is
/// not recording metadata (then the entry is left as it is).
pub fn recovered(metadata: &Value, measured_ms: Option<u64>) -> Option<Recovered> {
    let mut metadata: RecordingMetadata = serde_json::from_value(metadata.clone()).ok()?;
    if let Some(ms) = measured_ms {
        metadata.duration_ms = ms;
    }
    let disposition = disposition(&metadata);
    metadata.upload = match disposition {
        Disposition::Upload(_) => UploadState::Pending { attempts: 0 },
        Disposition::KeepLocal => UploadState::NoUrl,
    };
    Some(Recovered {
        metadata,
        disposition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_kazoo::storage::parse_storage;
    use serde_json::json;

    const H: &str = "403f90f67d1b71341f2ea6426eed3d90";

    fn meta(url: Option<&str>) -> RecordingMetadata {
        serde_json::from_value(json!({
            "id": "0123456789abcdef0123456789abcdef", "file_name": "x.wav",
            "call_id": "c 1@h", "cdr_id": "c", "interaction_id": "i", "origin": "o",
            "direction": "inbound", "from": "1001", "to": "1002", "caller_id_name": "",
            "caller_id_number": "", "callee_id_name": "", "callee_id_number": "",
            "owner_id": null, "endpoint_id": null, "account_id": "acc",
            "start_unix_secs": 0, "duration_ms": 1000, "format": "wav", "sample_rate": 8000,
            "channels": 2, "url": url, "method": "put",
            "upload": {"state": "pending", "attempts": 0}
        }))
        .expect("metadata")
    }

    fn plans() -> StoragePlans {
        let doc = parse_storage(&json!({
            "attachments": {H: {"handler": "s3", "settings": {
                "bucket": "rec", "key": "k", "secret": "s"}}},
            "plan": {"modb": {"types": {"call_recording": {"attachments": {"handler": H}}}}}
        }))
        .expect("valid");
        let mut p = StoragePlans::new();
        p.insert("acc", doc);
        p
    }

    #[test]
    fn a_plan_sends_a_recording_without_url_to_its_bucket_and_survives_recovery() {
        let mut m = meta(None);
        plan_storage(&mut m, &plans());
        let Disposition::Upload(req) = disposition(&m) else {
            panic!("planned recordings are uploaded")
        };
        assert_eq!(
            req.url,
            "s3://rec/acc/1970/01/01/call_recording_c%201%40h_0123456789abcdef0123456789abcdef.wav"
        );
        assert_eq!(req.content_type, "audio/wav");
        // After a crash the sidecar's metadata carries the object: same disposition.
        let r = recovered(&serde_json::to_value(&m).unwrap(), Some(500)).expect("recording");
        assert_eq!(r.disposition, Disposition::Upload(req));
        assert_eq!(r.metadata.storage, m.storage);
    }

    #[test]
    fn the_cluster_bucket_takes_what_no_url_and_no_plan_claims() {
        let cluster = callrec_kazoo::storage::S3Settings {
            bucket: "cluster".into(),
            host: Some("127.0.0.1".into()),
            port: Some(9000),
            scheme: callrec_kazoo::storage::Scheme::Http,
            region: "us-east-1".into(),
            key: "k".into(),
            secret: "s".into(),
            path: String::new(),
            object_name: callrec_kazoo::storage::DEFAULT_OBJECT_NAME.into(),
            vhost: false,
        };
        // No plan for the account: the cluster bucket, under the plan's default key.
        let mut only_cluster = StoragePlans::new();
        only_cluster.set_cluster(Some(cluster.clone()));
        let mut m = meta(None);
        plan_storage(&mut m, &only_cluster);
        let object = m.storage.clone().expect("cluster object");
        assert_eq!(object.handler, callrec_kazoo::storage::CLUSTER_HANDLER);
        assert_eq!(
            object.key,
            "acc/1970/01/01/call_recording_c 1@h_0123456789abcdef0123456789abcdef.wav"
        );
        assert_eq!(only_cluster.handler("acc", &object.handler), Some(&cluster));
        let Disposition::Upload(req) = disposition(&m) else {
            panic!("uploaded")
        };
        assert!(req.url.starts_with("s3://cluster/acc/"), "{}", req.url);
        // The account's plan wins over the cluster bucket; a url wins over both.
        let mut both = plans();
        both.set_cluster(Some(cluster));
        let mut m = meta(None);
        plan_storage(&mut m, &both);
        assert_eq!(m.storage.expect("plan").bucket, "rec");
        let mut m = meta(Some("http://receiver.test/r"));
        plan_storage(&mut m, &both);
        assert_eq!(m.storage, None);
    }

    #[test]
    fn a_url_in_the_rule_wins_over_the_plan_and_no_plan_keeps_it_local() {
        let mut m = meta(Some("http://receiver.test/r"));
        plan_storage(&mut m, &plans());
        assert_eq!(m.storage, None);
        let Disposition::Upload(req) = disposition(&m) else {
            panic!("uploaded")
        };
        assert!(req.url.starts_with("http://receiver.test/r/"));
        let mut m = meta(None);
        plan_storage(&mut m, &StoragePlans::new());
        assert_eq!(disposition(&m), Disposition::KeepLocal);
    }
}
