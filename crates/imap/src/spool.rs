//! A message kept in an anonymous temporary file instead of memory, so that a 25 MB or
//! 500 MB message costs a small buffer, not its size, on its way to the target.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// Bytes written to an unnamed temporary file (removed by the OS when dropped).
#[derive(Debug)]
pub struct Spool {
    file: File,
    len: u64,
    has_nul: bool,
}

/// Whether a message holds a NUL byte, which IMAP allows only in a literal8 (RFC 3516).
/// Every body is looked at, so with the vectorized search of `memchr`.
pub(crate) fn has_nul(bytes: &[u8]) -> bool {
    memchr::memchr(0, bytes).is_some()
}

/// Bytes read back from a spool per write to the socket.
pub(crate) const SPOOL_BLOCK: usize = 256 * 1024;

impl Spool {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile()?,
            len: 0,
            has_nul: false,
        })
    }

    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        self.has_nul = self.has_nul || has_nul(bytes);
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn has_nul(&self) -> bool {
        self.has_nul
    }

    /// Reads the whole content back, in blocks, calling `each` for every block.
    pub(crate) fn blocks(&self) -> std::io::Result<SpoolReader<'_>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            file,
            left: self.len,
            buf: vec![0; SPOOL_BLOCK],
        })
    }

    /// The first `max` bytes (or all, if shorter).
    pub fn read_head(&self, max: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max.min(self.len as usize));
        let mut reader = self.blocks()?;
        while out.len() < max
            && let Some(block) = reader.next_block()?
        {
            out.extend_from_slice(&block[..block.len().min(max - out.len())]);
        }
        Ok(out)
    }

    /// The whole content in memory (for comparisons in recovery; small messages).
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len as usize);
        let mut reader = self.blocks()?;
        while let Some(block) = reader.next_block()? {
            out.extend_from_slice(block);
        }
        Ok(out)
    }
}

pub(crate) struct SpoolReader<'a> {
    file: &'a File,
    left: u64,
    buf: Vec<u8>,
}

impl SpoolReader<'_> {
    pub(crate) fn next_block(&mut self) -> std::io::Result<Option<&[u8]>> {
        if self.left == 0 {
            return Ok(None);
        }
        let want = (self.left as usize).min(self.buf.len());
        self.file.read_exact(&mut self.buf[..want])?;
        self.left -= want as u64;
        Ok(Some(&self.buf[..want]))
    }
}

/// A message body for APPEND: in memory, or spooled to a file.
#[derive(Debug, Clone, Copy)]
pub enum MessageBody<'a> {
    Bytes(&'a [u8]),
    Spool(&'a Spool),
}

impl MessageBody<'_> {
    pub fn len(&self) -> u64 {
        match self {
            MessageBody::Bytes(b) => b.len() as u64,
            MessageBody::Spool(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn has_nul(&self) -> bool {
        match self {
            MessageBody::Bytes(b) => has_nul(b),
            MessageBody::Spool(s) => s.has_nul(),
        }
    }
}

impl<'a> From<&'a [u8]> for MessageBody<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        MessageBody::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for MessageBody<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        MessageBody::Bytes(bytes)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for MessageBody<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        MessageBody::Bytes(bytes)
    }
}

impl<'a> From<&'a Spool> for MessageBody<'a> {
    fn from(spool: &'a Spool) -> Self {
        MessageBody::Spool(spool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_gives_back_what_it_was_given() {
        let mut s = Spool::new().unwrap();
        let data: Vec<u8> = (0..(SPOOL_BLOCK * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        s.append(&data[..1000]).unwrap();
        s.append(&data[1000..]).unwrap();
        assert_eq!(s.len(), data.len() as u64);
        assert!(s.has_nul());
        assert_eq!(s.read_all().unwrap(), data);
        // Twice: reading rewinds.
        assert_eq!(s.read_all().unwrap(), data);
    }
}
