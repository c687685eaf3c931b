//! Streaming SHA-256: files are hashed in fixed-size chunks, never buffered whole.
//! `sha2` picks the CPU's SHA extensions at run time where present.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use wtb_core::model::Digest;

/// Wraps a reader, hashing and counting everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    /// Starts hashing `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), len: 0 }
    }

    /// The digest and length of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_bytes(self.hasher.finalize().into()), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Hashes everything `r` yields.
pub fn hash_reader(r: impl Read) -> io::Result<(Digest, u64)> {
    let mut reader = HashingReader::new(r);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.finish())
}
