//! Compiled components, cached in memory and on disk.
//!
//! The disk key is the component's SHA-256 plus the engine's compatibility hash (wasmtime
//! version, target and settings), so a second `wtb run` deserializes instead of compiling, and
//! an upgraded wasmtime never loads an artifact it did not produce.

use cap_std::fs::Dir;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;
use wtb_core::model::Digest;

/// How often each cache layer answered; for tests and `wtb bench`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled by Cranelift.
    pub compiled: u64,
    /// Components loaded from the disk cache.
    pub disk_hits: u64,
    /// Components found already loaded in this process.
    pub memory_hits: u64,
}

/// The two-level cache.
pub struct ComponentCache {
    dir: Dir,
    compat: String,
    loaded: Mutex<HashMap<Digest, Component>>,
    compiled: AtomicU64,
    disk_hits: AtomicU64,
    memory_hits: AtomicU64,
}

impl ComponentCache {
    /// A cache storing artifacts in `dir`.
    pub fn new(engine: &Engine, dir: Dir) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Self {
            dir,
            compat: format!("{:016x}", h.finish()),
            loaded: Mutex::new(HashMap::new()),
            compiled: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
        }
    }

    /// The component with `digest`, compiling `bytes` only if no cache layer has it.
    /// Blocking (compilation, file I/O): call from `spawn_blocking`.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        digest: Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        if let Some(c) = self.loaded.lock().map_err(|_| poisoned())?.get(&digest) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(c.clone());
        }
        let name = format!("{}-{}.cwasm", digest.to_hex(), self.compat);
        let component = match self.load_artifact(engine, &name) {
            Some(c) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                c
            }
            None => {
                let c = Component::new(engine, bytes)?;
                self.compiled.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.store_artifact(&c, &name) {
                    tracing::warn!("could not cache compiled component {name}: {e}");
                }
                c
            }
        };
        self.loaded.lock().map_err(|_| poisoned())?.insert(digest, component.clone());
        Ok(component)
    }

    fn load_artifact(&self, engine: &Engine, name: &str) -> Option<Component> {
        let bytes = self.dir.read(name).ok()?;
        // SAFETY: the cache directory is WTB's own; every artifact in it was produced by
        // `Component::serialize` of an engine with the same compatibility hash (part of the
        // name), and written by temp-file-and-rename, so it is never seen half-written.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("ignoring unusable cached component {name}: {e}");
                None
            }
        }
    }

    fn store_artifact(&self, component: &Component, name: &str) -> anyhow::Result<()> {
        let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        // Unique per process and per write: executors sharing a cache dir (within one process
        // or across several) may store the same artifact at once.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = format!("{name}.tmp.{}.{}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed));
        let mut f = self.dir.create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        self.dir.rename(&tmp, &self.dir, name)?;
        Ok(())
    }
}

fn poisoned() -> wasmtime::Error {
    wasmtime::Error::msg("component cache lock poisoned")
}
