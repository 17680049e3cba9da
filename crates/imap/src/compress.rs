//! COMPRESS=DEFLATE (RFC 4978): after the server's OK, both directions of the
//! connection are one raw DEFLATE stream each; every write is sync-flushed so that a
//! command is never left waiting in the compressor.
//!
//! The compressed bytes read are counted, so that the connection can hold what they
//! inflate to against [`Limits::max_inflate_ratio`](crate::Limits::max_inflate_ratio):
//! a deflate bomb fails as a limit, early, instead of being chewed through.

use std::io::Cursor;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_compression::tokio::bufread::DeflateDecoder;
use async_compression::tokio::write::DeflateEncoder;
use imap_types::{command::CommandBody, extensions::compress::CompressionAlgorithm};
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, BufReader, Chain, ReadBuf, ReadHalf, WriteHalf,
};
use tracing::debug;

use crate::{
    connection::{AsyncStream, Connection},
    error::ImapError,
    limits::Limits,
    session::Session,
};

type Plain = Box<dyn AsyncStream>;
/// What the server sent: the compressed bytes already read, then the socket.
type Incoming = BufReader<Counted<Chain<Cursor<Vec<u8>>, ReadHalf<Plain>>>>;

/// A reader that counts the bytes it gives.
pub(crate) struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

/// A connection's stream with DEFLATE on both directions.
pub(crate) struct Deflated {
    reader: DeflateDecoder<Incoming>,
    writer: DeflateEncoder<WriteHalf<Plain>>,
}

impl Deflated {
    /// `already_read`: compressed bytes the server sent right after its OK that were
    /// read before the switch. Also returns the count of compressed bytes read.
    fn new(stream: Plain, already_read: Vec<u8>) -> (Self, Arc<AtomicU64>) {
        let (read, write) = tokio::io::split(stream);
        let count = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: Cursor::new(already_read).chain(read),
            count: count.clone(),
        };
        let deflated = Self {
            reader: DeflateDecoder::new(BufReader::new(counted)),
            writer: DeflateEncoder::new(write),
        };
        (deflated, count)
    }
}

impl AsyncRead for Deflated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deflated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    /// A sync flush of the compressor (Z_SYNC_FLUSH), then of the socket.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

impl Session {
    /// Turns on COMPRESS=DEFLATE when the server offers it; returns whether it is on.
    /// Worth it on slow links; on loopback it only costs CPU on both sides.
    pub async fn compress(&mut self) -> Result<bool, ImapError> {
        if !self.caps.has("COMPRESS=DEFLATE") {
            return Ok(false);
        }
        self.run(
            "COMPRESS",
            CommandBody::Compress {
                algorithm: CompressionAlgorithm::Deflate,
            },
        )
        .await?;
        let placeholder: Plain = Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let (limits, server) = (self.conn.limits().clone(), self.conn.server().to_string());
        let plain = std::mem::replace(
            &mut self.conn,
            Connection::new(placeholder, 0, Limits::default(), String::new()),
        );
        let (stream, already_read, next_tag) = plain.into_parts();
        let (deflated, compressed) = Deflated::new(stream, already_read);
        self.conn = Connection::new(Box::new(deflated), next_tag, limits, server);
        self.conn.count_inflation(compressed);
        debug!("COMPRESS=DEFLATE active");
        Ok(true)
    }
}
