//! Reading a bundle file, on a blocking thread: the header first (its format checked before
//! anything else), then the history (its digest checked, then the history checked whole),
//! then each blob, stored in the CAS as it streams (its digest checked while copying) or kept
//! in memory for an inline row. Any entry out of place, too large, unlisted, repeated or
//! missing is refused by name; nothing reaches the database from here.

use super::BundleError;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use wtb_core::bundle::{
    BLOB_PREFIX, BundleProblem, HEADER_ENTRY, HISTORY_ENTRY, Header, History, MAX_HEADER_BYTES,
    MAX_HISTORY_BYTES,
};
use wtb_core::model::{Digest, FileTree, TenantId};
use wtb_store::cas::{BlobStore, HashingReader};

/// A bundle read and checked, its large blobs already in the CAS.
pub(super) struct Read_ {
    pub(super) header: Header,
    pub(super) history: History,
    /// Each commit's whole tree, in commit order.
    pub(super) trees: Vec<FileTree>,
    /// Blobs small enough to store inline, by digest.
    pub(super) inline: BTreeMap<Digest, Vec<u8>>,
}

/// Where blobs go, and which stay inline.
pub(super) struct Sink {
    /// `None`: check only (every blob hashed, nothing stored).
    pub(super) cas: Option<Arc<dyn BlobStore>>,
    pub(super) tenant: TenantId,
    /// Blobs up to this size are kept for inline rows (components never are).
    pub(super) inline_max: u64,
}

/// Reads and checks the bundle at `path`.
pub(super) fn read(path: &Path, sink: &Sink) -> Result<Read_, BundleError> {
    let bad = |m: String| BundleError::Bad(BundleProblem::new(m));
    let file =
        std::fs::File::open(path).map_err(|source| BundleError::Open { path: path.to_owned(), source })?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let truncated = |e: std::io::Error| bad(format!("not a bundle, or truncated: {e}"));
    let mut entries = archive.entries().map_err(truncated)?;
    let header: Header = {
        let text = entry_bytes(entries.next(), HEADER_ENTRY, MAX_HEADER_BYTES)?;
        serde_json::from_slice(&text).map_err(|e| bad(format!("`{HEADER_ENTRY}`: {e}")))?
    };
    header.check().map_err(BundleError::Bad)?;
    let text = entry_bytes(entries.next(), HISTORY_ENTRY, MAX_HISTORY_BYTES)?;
    if Digest::of(&text) != header.history_digest {
        return Err(bad(format!(
            "`{HISTORY_ENTRY}` does not match its digest in the header (tampered or damaged)"
        )));
    }
    let history: History =
        serde_json::from_slice(&text).map_err(|e| bad(format!("`{HISTORY_ENTRY}`: {e}")))?;
    drop(text);
    let trees = history.check(&header).map_err(BundleError::Bad)?;
    let components = history.component_digests().map_err(BundleError::Bad)?;
    let mut inline = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let mut e = e.map_err(truncated)?;
        let name = entry_name(&e)?;
        let digest = name
            .strip_prefix(BLOB_PREFIX)
            .and_then(|h| h.parse::<Digest>().ok())
            .ok_or_else(|| bad(format!("unexpected entry `{name}`")))?;
        let Some(&size) = header.blobs.get(&digest) else {
            return Err(bad(format!("blob {digest} is not listed in the header")));
        };
        if e.header().entry_type() != tar::EntryType::Regular || e.size() != size {
            return Err(bad(format!("blob {digest}: {} bytes, the header lists {size}", e.size())));
        }
        if !seen.insert(digest) {
            return Err(bad(format!("blob {digest} appears twice")));
        }
        let tampered =
            |actual: Digest| bad(format!("blob {digest} does not match its digest (it hashes to {actual})"));
        if size <= sink.inline_max && !components.contains(&digest) {
            let mut bytes = Vec::with_capacity(size as usize);
            e.read_to_end(&mut bytes).map_err(truncated)?;
            let actual = Digest::of(&bytes);
            if actual != digest {
                return Err(tampered(actual));
            }
            inline.insert(digest, bytes);
        } else {
            // Hashed here as well as by the store, so a mismatch is named as the bundle's.
            let mut hasher = HashingReader::new(&mut e);
            let stored = match &sink.cas {
                Some(cas) => cas.put(sink.tenant, &digest, &mut hasher).map(|_| ()),
                None => Ok(()),
            };
            // What the store did not read (it had the object already) is hashed all the same.
            std::io::copy(&mut hasher, &mut std::io::sink()).map_err(truncated)?;
            let (actual, _) = hasher.finish();
            if actual != digest {
                return Err(tampered(actual));
            }
            stored.map_err(|e| bad(format!("blob {digest}: {e}")))?;
        }
    }
    if let Some(d) = header.blobs.keys().find(|d| !seen.contains(d)) {
        return Err(bad(format!("truncated: blob {d} is listed but missing")));
    }
    Ok(Read_ { header, history, trees, inline })
}

/// An entry's name, refused unless plain UTF-8.
fn entry_name<R: Read>(e: &tar::Entry<'_, R>) -> Result<String, BundleError> {
    let path = e.path().map_err(|e| BundleError::Bad(BundleProblem::new(format!("an entry name: {e}"))))?;
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| BundleError::Bad(BundleProblem::new(format!("entry `{}`: not UTF-8", path.display()))))
}

/// The whole of entry `want`, the next one (a regular file of at most `max` bytes).
fn entry_bytes<R: Read>(
    next: Option<std::io::Result<tar::Entry<'_, R>>>,
    want: &str,
    max: u64,
) -> Result<Vec<u8>, BundleError> {
    let bad = |m: String| BundleError::Bad(BundleProblem::new(m));
    let mut e = next
        .ok_or_else(|| bad(format!("truncated: no `{want}` entry")))?
        .map_err(|e| bad(format!("not a bundle, or truncated: {e}")))?;
    let name = entry_name(&e)?;
    if name != want || e.header().entry_type() != tar::EntryType::Regular {
        return Err(bad(format!("expected the entry `{want}`, found `{name}` (is this a bundle?)")));
    }
    if e.size() > max {
        return Err(bad(format!("`{want}` is {} bytes, over {max}", e.size())));
    }
    let mut bytes = Vec::with_capacity(e.size() as usize);
    e.read_to_end(&mut bytes).map_err(|e| bad(format!("`{want}`: truncated: {e}")))?;
    if bytes.len() as u64 != e.size() {
        return Err(bad(format!("`{want}`: truncated")));
    }
    Ok(bytes)
}
