//! The blob store on S3-compatible object storage ([`ObjectCas`]), through the `object_store`
//! crate: the same keys as [`super::LocalCas`] under a bucket prefix
//! (`<prefix>/<tenant>/objects/ab/cdef…`), so processes on any machine share one store.
//!
//! Objects are content-addressed, so writing one twice writes the same bytes: a put is
//! "create if absent" (`If-None-Match: *`), and an overwrite is harmless. The orphan rule
//! weighs an object's last modification against the grace period, so a put that finds an
//! object older than half the grace period uploads it again, which refreshes it (S3 has no
//! cheaper way to touch an object).

use super::{BlobStore, PutOutcome, StoredObject};
use futures_util::StreamExt as _;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use sha2::Digest as _;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wtb_core::clock::Clock;
use wtb_core::model::{Digest, TenantId, Timestamp};

/// Contents up to this size are one `PUT`; larger ones a multipart upload of parts this big.
const PART_BYTES: usize = 16 << 20;

/// Blob store on an object store.
pub struct ObjectCas {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    /// `s3://bucket/prefix`, for messages.
    url: String,
    /// A present object older than this is uploaded again by a put (see the module doc).
    refresh_after: Duration,
    /// The time objects' ages are measured against.
    clock: Arc<dyn Clock>,
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for ObjectCas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCas").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Where an object store is and how to reach it (`[blobs]` in `wtb.toml`); credentials come
/// from the environment as the AWS tools read them (`AWS_ACCESS_KEY_ID`, …).
#[derive(Clone, Debug, Default)]
pub struct ObjectStoreOptions {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// An S3-compatible server's endpoint (`http://127.0.0.1:9000`); unset: AWS's.
    pub endpoint: Option<String>,
    /// The region; unset: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allow `http://` endpoints (a local test server).
    pub allow_http: bool,
    /// An access key pair given by the embedding program (tests); unset: the environment's.
    pub credentials: Option<(String, String)>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => other(e),
    }
}

impl ObjectCas {
    /// Connects to the store and checks that the bucket answers (a listing of the prefix),
    /// so a wrong URL, endpoint or credential fails at start. Must run on a tokio runtime;
    /// later calls block on it from blocking threads.
    pub async fn open(
        options: &ObjectStoreOptions,
        refresh_after: Duration,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(options.url.clone());
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        if let Some(region) = &options.region {
            builder = builder.with_region(region.clone());
        }
        if options.allow_http {
            builder = builder.with_allow_http(true);
        }
        if let Some((key, secret)) = &options.credentials {
            builder = builder.with_access_key_id(key.clone()).with_secret_access_key(secret.clone());
        }
        let store = builder.build().map_err(other)?;
        let prefix = options
            .url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, p)| Key::from(p.trim_matches('/')))
            .unwrap_or_default();
        let cas = Self {
            store: Arc::new(store),
            prefix,
            url: options.url.trim_end_matches('/').to_owned(),
            refresh_after,
            clock,
            rt: tokio::runtime::Handle::current(),
        };
        cas.store.list_with_delimiter(Some(&cas.prefix)).await.map_err(other)?;
        Ok(cas)
    }

    fn key(&self, tenant: TenantId, digest: &Digest) -> Key {
        let hex = digest.to_hex();
        let mut key = self.prefix.clone();
        for part in [tenant.to_string(), "objects".into(), hex[..2].to_owned(), hex[2..].to_owned()] {
            key = key.child(part);
        }
        key
    }

    /// Uploads what `src` yields under `key`, checking it hashes to `digest` before the
    /// object becomes visible (a mismatch stores nothing). `mode` applies to one-part uploads.
    async fn upload(
        &self,
        key: &Key,
        digest: &Digest,
        src: &mut dyn Read,
        mode: PutMode,
    ) -> io::Result<PutOutcome> {
        let mut hasher = sha2::Sha256::new();
        let mut first = read_part(src, &mut hasher)?;
        if first.len() < PART_BYTES {
            check(hasher, digest)?;
            let opts = PutOptions { mode, ..PutOptions::default() };
            return match self.store.put_opts(key, PutPayload::from(std::mem::take(&mut first)), opts).await {
                Ok(_) => Ok(PutOutcome::Written),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyPresent),
                Err(e) => Err(other(e)),
            };
        }
        let mut upload = self.store.put_multipart(key).await.map_err(other)?;
        let mut part = first;
        loop {
            let last = part.len() < PART_BYTES;
            if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                let _ = upload.abort().await;
                return Err(other(e));
            }
            if last {
                break;
            }
            part = read_part(src, &mut hasher)?;
        }
        if let Err(e) = check(hasher, digest) {
            let _ = upload.abort().await;
            return Err(e);
        }
        upload.complete().await.map_err(other)?;
        Ok(PutOutcome::Written)
    }
}

/// Up to [`PART_BYTES`] more bytes of `src`, hashed as they are read.
fn read_part(src: &mut dyn Read, hasher: &mut sha2::Sha256) -> io::Result<Vec<u8>> {
    let mut part = Vec::new();
    src.take(PART_BYTES as u64).read_to_end(&mut part)?;
    hasher.update(&part);
    Ok(part)
}

fn check(hasher: sha2::Sha256, digest: &Digest) -> io::Result<()> {
    let found = Digest::from_bytes(hasher.finalize().into());
    if found != *digest {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("content hashes to {found}, not {digest}"),
        ));
    }
    Ok(())
}

impl BlobStore for ObjectCas {
    fn put(&self, tenant: TenantId, digest: &Digest, src: &mut dyn Read) -> io::Result<PutOutcome> {
        let key = self.key(tenant, digest);
        self.rt.block_on(async {
            match self.store.head(&key).await {
                Ok(meta) => {
                    let age =
                        self.clock.now().micros_since(Timestamp::from(SystemTime::from(meta.last_modified)));
                    if Duration::from_micros(age) > self.refresh_after {
                        self.upload(&key, digest, src, PutMode::Overwrite).await?;
                    }
                    Ok(PutOutcome::AlreadyPresent)
                }
                Err(object_store::Error::NotFound { .. }) => {
                    self.upload(&key, digest, src, PutMode::Create).await
                }
                Err(e) => Err(other(e)),
            }
        })
    }

    fn open(&self, tenant: TenantId, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        let key = self.key(tenant, digest);
        let bytes = self.rt.block_on(async {
            self.store.get(&key).await.map_err(io_error)?.bytes().await.map_err(io_error)
        })?;
        Ok(Box::new(io::Cursor::new(bytes)))
    }

    fn list_objects(&self, tenant: TenantId) -> io::Result<Vec<StoredObject>> {
        let dir = self.prefix.child(tenant.to_string()).child("objects");
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut listing = self.store.list(Some(&dir));
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(other)?;
                let parts: Vec<_> = meta.location.parts().collect();
                let [.., a, b] = parts.as_slice() else { continue };
                // Anything else under the prefix is not ours to weigh.
                let Ok(digest) = format!("{}{}", a.as_ref(), b.as_ref()).parse::<Digest>() else { continue };
                out.push(StoredObject { digest, size: meta.size, modified: meta.last_modified.into() });
            }
            Ok(out)
        })
    }

    fn remove_if_stale(&self, tenant: TenantId, digest: &Digest, cutoff: SystemTime) -> io::Result<bool> {
        let key = self.key(tenant, digest);
        self.rt.block_on(async {
            match self.store.head(&key).await {
                Ok(meta) if SystemTime::from(meta.last_modified) < cutoff => {
                    self.store.delete(&key).await.map_err(other)?;
                    Ok(true)
                }
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(other(e)),
            }
        })
    }

    /// Incomplete multipart uploads are invisible objects the store keeps until aborted; an
    /// `AbortIncompleteMultipartUpload` lifecycle rule on the bucket removes them (README).
    fn clean_incomplete(&self, _tenant: TenantId, _cutoff: SystemTime, _dry_run: bool) -> io::Result<usize> {
        Ok(0)
    }

    fn locate(&self, tenant: TenantId, digest: &Digest) -> String {
        let hex = digest.to_hex();
        format!("{}/{tenant}/objects/{}/{}", self.url, &hex[..2], &hex[2..])
    }
}
