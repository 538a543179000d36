//! Key derivation: from the secrets a key log gives to the AEAD keys and
//! IVs of each direction.
//!
//! TLS 1.3 (RFC 8446 §7.1, §7.3): a traffic secret expands with
//! HKDF-Expand-Label into the write key and IV; KeyUpdate replaces the
//! secret with its "traffic upd" expansion. TLS 1.2 (RFC 5246 §5, §6.3):
//! the master secret expands with the PRF into a key block, which for the
//! AEAD suites holds only keys and implicit IVs (no MAC keys): GCM's
//! 4-byte salt (RFC 5288), ChaCha's 12-byte IV (RFC 7905).

use std::fmt;

use ring::{hkdf, hmac};

use super::keylog::Secret;
use super::suite::{CipherSuite, Hash};

/// Why keys could not be derived. Carries lengths, never key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A TLS 1.3 secret whose length is not the suite hash's (e.g. a
    /// 48-byte secret for a SHA-256 suite): the key log and the
    /// negotiated suite disagree.
    #[error("secret is {got} bytes, the suite's hash needs {want}")]
    SecretLength { got: usize, want: usize },
    /// A TLS 1.2 master secret that is not 48 bytes.
    #[error("master secret is {got} bytes, expected 48")]
    MasterLength { got: usize },
    /// HKDF-Expand-Label inputs out of range: label over 249 bytes,
    /// context over 255, or output over 255 hash lengths (or 65535).
    #[error("HKDF-Expand-Label input out of range")]
    ExpandLabelRange,
    /// TrafficKeys::new with a key not 16 or 32 bytes, or an IV over 12.
    #[error("traffic key of {key} bytes or IV of {iv} bytes not supported")]
    KeyShape { key: usize, iv: usize },
    /// A suite used with the other version's schedule.
    #[error("cipher suite {id:#06x} is not a TLS {want} suite")]
    WrongVersion { id: u16, want: &'static str },
}

/// One direction's write key and implicit IV. The IV is 12 bytes except
/// TLS 1.2 AES-GCM's 4-byte salt. `Debug` prints lengths only.
#[derive(Clone)]
pub struct TrafficKeys {
    key: [u8; 32],
    key_len: u8,
    iv: [u8; 12],
    iv_len: u8,
}

impl TrafficKeys {
    /// Keys from raw bytes: a 16- or 32-byte key and an IV of at most 12.
    pub fn new(key: &[u8], iv: &[u8]) -> Result<TrafficKeys, ScheduleError> {
        if !(key.len() == 16 || key.len() == 32) || iv.len() > 12 {
            return Err(ScheduleError::KeyShape {
                key: key.len(),
                iv: iv.len(),
            });
        }
        let mut k = TrafficKeys {
            key: [0; 32],
            key_len: key.len() as u8,
            iv: [0; 12],
            iv_len: iv.len() as u8,
        };
        k.key[..key.len()].copy_from_slice(key);
        k.iv[..iv.len()].copy_from_slice(iv);
        Ok(k)
    }

    pub fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len)]
    }

    pub fn iv(&self) -> &[u8] {
        &self.iv[..usize::from(self.iv_len)]
    }
}

impl fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TrafficKeys(key {} bytes, iv {} bytes)",
            self.key_len, self.iv_len
        )
    }
}

/// An HKDF output length, as ring's `expand` wants it.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand(secret, HkdfLabel, len)
/// with HkdfLabel = length (u16) || "tls13 " + label (u8-prefixed) ||
/// context (u8-prefixed).
pub fn hkdf_expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Result<Vec<u8>, ScheduleError> {
    let mut out = vec![0; len];
    hkdf_expand_label_into(hash, secret, label, context, &mut out)?;
    Ok(out)
}

/// [`hkdf_expand_label`] into a caller's buffer (its length is the
/// output length), without allocating.
pub fn hkdf_expand_label_into(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), ScheduleError> {
    let prk = hkdf::Prk::new_less_safe(hash.hkdf_algorithm(), secret);
    expand_label(&prk, label, context, out)
}

/// HKDF-Expand-Label from a PRK built once (a traffic secret gives both
/// a key and an IV: building its HMAC key twice cost a quarter of the
/// key schedule).
fn expand_label(
    prk: &hkdf::Prk,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), ScheduleError> {
    const PREFIX: &[u8] = b"tls13 ";
    let full_label_len = PREFIX.len() + label.len();
    if full_label_len > 255 || context.len() > 255 || out.len() > usize::from(u16::MAX) {
        return Err(ScheduleError::ExpandLabelRange);
    }
    let length = (out.len() as u16).to_be_bytes();
    let label_len = [full_label_len as u8];
    let context_len = [context.len() as u8];
    let info: [&[u8]; 6] = [&length, &label_len, PREFIX, label, &context_len, context];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| ScheduleError::ExpandLabelRange)
}

/// A TLS 1.3 traffic secret's write key and IV (RFC 8446 §7.3).
pub fn traffic_keys(suite: &CipherSuite, secret: &[u8]) -> Result<TrafficKeys, ScheduleError> {
    check_tls13(suite, secret)?;
    let key_len = suite.aead.key_len();
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    let prk = hkdf::Prk::new_less_safe(suite.hash.hkdf_algorithm(), secret);
    expand_label(&prk, b"key", b"", &mut key[..key_len])?;
    expand_label(&prk, b"iv", b"", &mut iv)?;
    Ok(TrafficKeys {
        key,
        key_len: key_len as u8,
        iv,
        iv_len: 12,
    })
}

/// The traffic secret after a KeyUpdate (RFC 8446 §7.2):
/// HKDF-Expand-Label(secret, "traffic upd", "", Hash.length).
pub fn next_traffic_secret(suite: &CipherSuite, secret: &[u8]) -> Result<Secret, ScheduleError> {
    check_tls13(suite, secret)?;
    let mut next = [0u8; 48];
    let len = suite.hash.output_len();
    hkdf_expand_label_into(suite.hash, secret, b"traffic upd", b"", &mut next[..len])?;
    // 48 bytes at most: within Secret's 64.
    Secret::new(&next[..len]).ok_or(ScheduleError::ExpandLabelRange)
}

fn check_tls13(suite: &CipherSuite, secret: &[u8]) -> Result<(), ScheduleError> {
    if !suite.tls13 {
        return Err(ScheduleError::WrongVersion {
            id: suite.id,
            want: "1.3",
        });
    }
    let want = suite.hash.output_len();
    if secret.len() != want {
        return Err(ScheduleError::SecretLength {
            got: secret.len(),
            want,
        });
    }
    Ok(())
}

/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed) with the
/// suite's hash, filling `out`.
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    prf_parts(hash, secret, &[label, seed], out);
}

/// P_hash over a seed given in parts (label, then seeds), so callers
/// need not concatenate.
///   A(0) = seed, A(i) = HMAC(secret, A(i-1))
///   output = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...
fn prf_parts(hash: Hash, secret: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let key = hmac::Key::new(hash.hmac_algorithm(), secret);
    let mut ctx = hmac::Context::with_key(&key);
    for part in seed {
        ctx.update(part);
    }
    let mut a = ctx.sign();
    for chunk in out.chunks_mut(hash.output_len()) {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        for part in seed {
            ctx.update(part);
        }
        let block = ctx.sign();
        chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        a = hmac::sign(&key, a.as_ref());
    }
}

/// TLS 1.2 write keys of an AEAD suite from the master secret (RFC 5246
/// §6.3): key block = PRF(master, "key expansion", server_random +
/// client_random), cut into client key, server key, client IV, server
/// IV. Returns (client write, server write).
pub fn tls12_keys(
    suite: &CipherSuite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<(TrafficKeys, TrafficKeys), ScheduleError> {
    if suite.tls13 {
        return Err(ScheduleError::WrongVersion {
            id: suite.id,
            want: "1.2",
        });
    }
    if master.len() != 48 {
        return Err(ScheduleError::MasterLength { got: master.len() });
    }
    let key_len = suite.aead.key_len();
    let iv_len = suite.aead.tls12_fixed_iv_len();
    // At most 2 * 32 + 2 * 12 bytes.
    let mut block = [0u8; 88];
    let block = &mut block[..2 * (key_len + iv_len)];
    prf_parts(
        suite.hash,
        master,
        &[b"key expansion", server_random, client_random],
        block,
    );
    let (client_key, rest) = block.split_at(key_len);
    let (server_key, rest) = rest.split_at(key_len);
    let (client_iv, server_iv) = rest.split_at(iv_len);
    Ok((
        TrafficKeys::new(client_key, client_iv)?,
        TrafficKeys::new(server_key, server_iv)?,
    ))
}

#[cfg(test)]
mod tests;
