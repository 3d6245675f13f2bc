//! A bounds-checked cursor over input bytes and small encoding helpers.
//!
//! All reads go through `get()` so no input can make the codec panic; a
//! short read becomes [`WireError::Truncated`].

use super::error::{Result, WireError};

/// Cursor over a byte slice; every read is checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated {
            what,
            needed: n,
            available: self.remaining(),
        })?;
        let out = self.buf.get(self.pos..end).ok_or(WireError::Truncated {
            what,
            needed: n,
            available: self.remaining(),
        })?;
        self.pos = end;
        Ok(out)
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
}

/// Converts a length to the 16-bit field that carries it.
pub(crate) fn len_u16(what: &'static str, length: usize) -> Result<u16> {
    u16::try_from(length).map_err(|_| WireError::TooLong { what, length })
}

/// Converts a length to a one-byte field.
pub(crate) fn len_u8(what: &'static str, length: usize) -> Result<u8> {
    u8::try_from(length).map_err(|_| WireError::TooLong { what, length })
}

/// Overwrites the big-endian u16 at `pos` of `out` (a length placeholder
/// written earlier by the encoder itself).
pub(crate) fn patch_u16(out: &mut [u8], pos: usize, value: u16) {
    if let Some(slot) = out.get_mut(pos..pos.saturating_add(2)) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}
