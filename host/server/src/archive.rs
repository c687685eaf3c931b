//! A checkpoint's files as a tar archive, streamed: written on a blocking thread into a
//! bounded channel, so an archive of any size needs a few chunks of memory.

use std::io::Read as _;
use tokio::sync::mpsc;
use wtb_core::model::{CheckpointId, EntryKind};
use wtb_engine::executor::{ExecError, Executor};
use wtb_store::capture::BlobSource as _;

/// Chunks in flight between the archive writer and its reader.
const CHUNKS: usize = 8;

/// A `Write` that hands each buffer to the channel (and fails once the reader is gone, which
/// stops the writer).
struct ChannelWriter(mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(buf.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the archive's reader went away")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The workspace as it was at checkpoint `id`, as a (ustar/GNU) tar stream: files with their
/// modes, directories, symlinks. An unknown or another tenant's checkpoint fails before
/// anything is sent; a read error later ends the stream with that error.
pub(crate) async fn export_tar(
    exec: &Executor,
    id: CheckpointId,
) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>, ExecError> {
    let (_, tree) = exec.inspect().files(id).await?;
    let blobs = exec.stored_blobs(&tree).await?;
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        let write = move || -> std::io::Result<()> {
            let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(64 << 10, ChannelWriter(tx)));
            for (path, e) in &tree {
                let mut header = tar::Header::new_gnu();
                header.set_mode(e.mode & 0o7777);
                header.set_mtime(0);
                match (e.kind, e.digest) {
                    (EntryKind::Dir, _) => {
                        header.set_entry_type(tar::EntryType::Directory);
                        header.set_size(0);
                        tar.append_data(&mut header, format!("{path}/"), std::io::empty())?;
                    }
                    (EntryKind::File, Some(d)) => {
                        header.set_entry_type(tar::EntryType::Regular);
                        header.set_size(e.size);
                        tar.append_data(&mut header, path, blobs.open(&d)?.take(e.size))?;
                    }
                    (EntryKind::Symlink, Some(d)) => {
                        let mut target = String::new();
                        blobs.open(&d)?.read_to_string(&mut target)?;
                        header.set_entry_type(tar::EntryType::Symlink);
                        header.set_size(0);
                        tar.append_link(&mut header, path, target)?;
                    }
                    (kind, None) => {
                        return Err(std::io::Error::other(format!(
                            "`{path}`: a {} without content",
                            kind.as_str()
                        )));
                    }
                }
            }
            tar.into_inner()?.into_inner().map_err(|e| e.into_error())?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = errors.blocking_send(Err(e));
        }
    });
    Ok(rx)
}
