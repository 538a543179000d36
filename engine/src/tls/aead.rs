//! Record protection: opens (decrypts and authenticates) TLS 1.2 and
//! TLS 1.3 AEAD records in place, one [`Decrypter`] per direction.
//!
//! Per record (RFC 8446 §5.2-5.3; RFC 5246 §6.2.3.3, RFC 5288, RFC 7905):
//! - TLS 1.3, and TLS 1.2 ChaCha20-Poly1305: nonce = 12-byte IV XOR the
//!   sequence number (big-endian, right-aligned).
//! - TLS 1.2 AES-GCM: nonce = 4-byte salt || 8-byte explicit nonce, the
//!   first 8 bytes of the record's payload.
//! - AAD: TLS 1.3, the record header; TLS 1.2, seq (8) || type || version
//!   || plaintext length (2).
//! - The tag is the payload's last 16 bytes. TLS 1.3's plaintext ends
//!   with the real content type, then zero padding.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

use super::schedule::TrafficKeys;
use super::suite::{Aead, CipherSuite};

const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM's explicit nonce, carried in each record.
const EXPLICIT_NONCE_LEN: usize = 8;

/// Which record layer the keys belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

/// Why a record could not be opened, or a decrypter not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Payload shorter than the explicit nonce, tag and (TLS 1.3) content
    /// type it must hold.
    #[error("record payload of {len} bytes is too short (at least {min})")]
    TooShort { len: usize, min: usize },
    /// The header's length field differs from the payload given.
    #[error("record header says {header} bytes, payload has {payload}")]
    LengthMismatch { header: usize, payload: usize },
    /// Authentication failed: wrong keys, wrong sequence number (a lost
    /// or misordered record), or corrupted bytes.
    #[error("record authentication failed (wrong key or sequence number, or corrupted)")]
    BadRecordMac,
    /// A TLS 1.3 inner plaintext of zeros only: no content type.
    #[error("TLS 1.3 record has no inner content type")]
    NoContentType,
    /// Keys of the wrong shape for the suite and version.
    #[error("keys ({key} byte key, {iv} byte IV) do not fit the suite and version")]
    KeyShape { key: usize, iv: usize },
    /// A TLS 1.3 suite with TLS 1.2 records, or the reverse.
    #[error("cipher suite {id:#06x} does not belong to this TLS version")]
    VersionMismatch { id: u16 },
}

/// How the nonce is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NonceKind {
    /// IV XOR sequence number (TLS 1.3, TLS 1.2 ChaCha).
    XorSeq,
    /// Salt || explicit nonce from the record (TLS 1.2 GCM).
    Explicit,
}

/// Opens one direction's records in order. Every call to
/// [`Decrypter::open`] consumes one sequence number, whether it succeeds
/// or not: the record was on the wire and its sender counted it.
pub struct Decrypter {
    key: LessSafeKey,
    /// TLS 1.3 and ChaCha: the 12-byte IV; TLS 1.2 GCM: salt in [..4].
    iv: [u8; 12],
    nonce: NonceKind,
    version: Version,
    seq: u64,
}

impl Decrypter {
    /// A decrypter at sequence number 0. Fails if the keys do not fit the
    /// suite (key length, IV length) or the suite is not of `version`.
    pub fn new(
        suite: &CipherSuite,
        keys: &TrafficKeys,
        version: Version,
    ) -> Result<Decrypter, DecryptError> {
        if suite.tls13 != (version == Version::Tls13) {
            return Err(DecryptError::VersionMismatch { id: suite.id });
        }
        let (nonce, iv_len) = match (version, suite.aead) {
            (Version::Tls12, Aead::Aes128Gcm | Aead::Aes256Gcm) => (NonceKind::Explicit, 4),
            _ => (NonceKind::XorSeq, 12),
        };
        let shape = DecryptError::KeyShape {
            key: keys.key().len(),
            iv: keys.iv().len(),
        };
        if keys.iv().len() != iv_len || keys.key().len() != suite.aead.key_len() {
            return Err(shape);
        }
        let unbound =
            UnboundKey::new(suite.aead.ring_algorithm(), keys.key()).map_err(|_| shape)?;
        let mut iv = [0u8; 12];
        iv[..iv_len].copy_from_slice(keys.iv());
        Ok(Decrypter {
            key: LessSafeKey::new(unbound),
            iv,
            nonce,
            version,
            seq: 0,
        })
    }

    /// Decrypts one record in place. `header` is its 5-byte header (type,
    /// version, length), `payload` its `length` bytes. Returns the content
    /// type (TLS 1.3: the inner type, padding stripped; TLS 1.2: the
    /// header's) and the plaintext, a sub-slice of `payload`. On failure
    /// `payload` may hold garbage. The sequence number advances either way.
    /// The header's type is not checked (TLS 1.3's outer type is always
    /// application_data, and it is authenticated as AAD): the caller
    /// passes only protected records, not ChangeCipherSpec.
    pub fn open<'a>(
        &mut self,
        header: [u8; 5],
        payload: &'a mut [u8],
    ) -> Result<(u8, &'a [u8]), DecryptError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);

        let header_len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if header_len != payload.len() {
            return Err(DecryptError::LengthMismatch {
                header: header_len,
                payload: payload.len(),
            });
        }
        let min = match (self.version, self.nonce) {
            // At least the content type byte.
            (Version::Tls13, _) => TAG_LEN + 1,
            (Version::Tls12, NonceKind::Explicit) => EXPLICIT_NONCE_LEN + TAG_LEN,
            (Version::Tls12, NonceKind::XorSeq) => TAG_LEN,
        };
        if payload.len() < min {
            return Err(DecryptError::TooShort {
                len: payload.len(),
                min,
            });
        }

        let mut nonce = self.iv;
        let sealed: &'a mut [u8] = match self.nonce {
            NonceKind::XorSeq => {
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
                payload
            }
            NonceKind::Explicit => {
                let (explicit, sealed) = payload.split_at_mut(EXPLICIT_NONCE_LEN);
                nonce[4..].copy_from_slice(explicit);
                sealed
            }
        };
        let nonce = Nonce::assume_unique_for_key(nonce);

        let plain = match self.version {
            Version::Tls13 => self.key.open_in_place(nonce, Aad::from(header), sealed),
            Version::Tls12 => {
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                // Fits: at most the header's u16 length.
                let plain_len = (sealed.len() - TAG_LEN) as u16;
                aad[11..].copy_from_slice(&plain_len.to_be_bytes());
                self.key.open_in_place(nonce, Aad::from(aad), sealed)
            }
        }
        .map_err(|_| DecryptError::BadRecordMac)?;

        match self.version {
            Version::Tls12 => Ok((header[0], plain)),
            Version::Tls13 => {
                // TLSInnerPlaintext: content, type, zeros.
                let end = plain
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(DecryptError::NoContentType)?;
                let plain: &'a [u8] = plain;
                Ok((plain[end], &plain[..end]))
            }
        }
    }

    /// Accounts for `n` records that were sent but never seen (a gap in
    /// the capture): each used a sequence number.
    pub fn skip_records(&mut self, n: u64) {
        self.seq = self.seq.wrapping_add(n);
    }

    /// Sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn version(&self) -> Version {
        self.version
    }
}

impl fmt::Debug for Decrypter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypter")
            .field("algorithm", self.key.algorithm())
            .field("version", &self.version)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
