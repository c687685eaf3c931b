//! Captured stdout and stderr with a hard cap: the first write past the cap keeps what fits
//! and traps the guest, so a flood ends the attempt as `output_too_large` instead of being
//! silently cut (or turned into a panic by the guest's own print error).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamError, StreamResult};

/// The trap raised by the write that overflows.
#[derive(Debug, thiserror::Error)]
#[error("output limit exceeded")]
pub struct OutputTrap;

/// One capped output; clones share the buffer (every guest handle writes the same stream).
#[derive(Clone)]
pub struct CappedOutput {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
    overflowed: Arc<AtomicBool>,
}

impl CappedOutput {
    /// An empty output that holds at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self { buf: Arc::default(), cap, overflowed: Arc::default() }
    }

    /// What was written (at most the cap).
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a write went past the cap.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn cap(&self) -> usize {
        self.cap
    }

    fn append(&self, bytes: &[u8]) -> Result<(), OutputTrap> {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap - buf.len();
        if bytes.len() > room {
            buf.extend_from_slice(&bytes[..room]);
            self.overflowed.store(true, Ordering::Relaxed);
            return Err(OutputTrap);
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

/// Writes the guest may make at once; larger than any cap's remainder on purpose, so an
/// overflowing write reaches [`CappedOutput::append`] and traps rather than being told to wait.
const PERMIT: usize = 1 << 20;

#[wasmtime_wasi_io::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes).map_err(|t| StreamError::Trap(t.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(PERMIT)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(self.append(buf).map(|()| buf.len()).map_err(io::Error::other))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_fits_then_traps() {
        let mut out = CappedOutput::new(5);
        out.write(Bytes::from_static(b"abc")).unwrap();
        assert!(out.write(Bytes::from_static(b"defg")).is_err());
        assert_eq!((out.contents(), out.overflowed()), (b"abcde".to_vec(), true));
    }
}
