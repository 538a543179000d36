//! Cipher suites: which AEAD and which hash a negotiated suite id means.
//! Only AEAD suites can be decrypted here (TLS 1.3's three, and TLS 1.2's
//! AES-GCM and ChaCha20-Poly1305 ones); [`name`] also knows common
//! suites we cannot decrypt, so a record can still say what was used.

/// The record protection algorithm of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Aead {
    /// Length of the write key in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the implicit IV a TLS 1.2 key block holds for this AEAD:
    /// GCM's 4-byte salt (RFC 5288 §3), ChaCha's full 12 bytes (RFC 7905
    /// §2). TLS 1.3 always uses 12.
    pub const fn tls12_fixed_iv_len(self) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm => 4,
            Aead::ChaCha20Poly1305 => 12,
        }
    }

    pub(crate) fn ring_algorithm(self) -> &'static ring::aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &ring::aead::AES_128_GCM,
            Aead::Aes256Gcm => &ring::aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        }
    }
}

/// The suite's hash: TLS 1.3's HKDF hash, TLS 1.2's PRF hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    /// Output length in bytes, which is also the length of a TLS 1.3
    /// secret derived with it.
    pub const fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }

    pub(crate) fn hmac_algorithm(self) -> ring::hmac::Algorithm {
        match self {
            Hash::Sha256 => ring::hmac::HMAC_SHA256,
            Hash::Sha384 => ring::hmac::HMAC_SHA384,
        }
    }

    pub(crate) fn hkdf_algorithm(self) -> ring::hkdf::Algorithm {
        match self {
            Hash::Sha256 => ring::hkdf::HKDF_SHA256,
            Hash::Sha384 => ring::hkdf::HKDF_SHA384,
        }
    }
}

/// A cipher suite we can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// IANA code point, as in ServerHello.
    pub id: u16,
    /// IANA name, e.g. "TLS_AES_128_GCM_SHA256".
    pub name: &'static str,
    pub aead: Aead,
    pub hash: Hash,
    /// A TLS 1.3 suite (HKDF schedule, 12-byte IV, inner content type).
    pub tls13: bool,
}

const fn suite(id: u16, name: &'static str, aead: Aead, hash: Hash, tls13: bool) -> CipherSuite {
    CipherSuite {
        id,
        name,
        aead,
        hash,
        tls13,
    }
}

use Aead::{Aes128Gcm, Aes256Gcm, ChaCha20Poly1305};
use Hash::{Sha256, Sha384};

/// Every suite [`lookup`] knows.
pub const SUPPORTED: [CipherSuite; 14] = [
    suite(0x1301, "TLS_AES_128_GCM_SHA256", Aes128Gcm, Sha256, true),
    suite(0x1302, "TLS_AES_256_GCM_SHA384", Aes256Gcm, Sha384, true),
    suite(
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        ChaCha20Poly1305,
        Sha256,
        true,
    ),
    suite(
        0xC02F,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Aes128Gcm,
        Sha256,
        false,
    ),
    suite(
        0xC030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Aes256Gcm,
        Sha384,
        false,
    ),
    suite(
        0xC02B,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Aes128Gcm,
        Sha256,
        false,
    ),
    suite(
        0xC02C,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Aes256Gcm,
        Sha384,
        false,
    ),
    suite(
        0xCCA8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ChaCha20Poly1305,
        Sha256,
        false,
    ),
    suite(
        0xCCA9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ChaCha20Poly1305,
        Sha256,
        false,
    ),
    suite(
        0xCCAA,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ChaCha20Poly1305,
        Sha256,
        false,
    ),
    suite(
        0x009E,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        Aes128Gcm,
        Sha256,
        false,
    ),
    suite(
        0x009F,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        Aes256Gcm,
        Sha384,
        false,
    ),
    suite(
        0x009C,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        Aes128Gcm,
        Sha256,
        false,
    ),
    suite(
        0x009D,
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        Aes256Gcm,
        Sha384,
        false,
    ),
];

/// Common suites we cannot decrypt (CBC, CCM, RC4, 3DES) and the two
/// signalling values, named so a record can say what the peers chose.
const UNSUPPORTED_NAMES: [(u16, &str); 24] = [
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
];

/// The suite with this id, if we can decrypt it.
pub fn lookup(id: u16) -> Option<CipherSuite> {
    SUPPORTED.iter().find(|s| s.id == id).copied()
}

/// The IANA name of a supported suite or of a common unsupported one.
pub fn name(id: u16) -> Option<&'static str> {
    if let Some(s) = lookup(id) {
        return Some(s.name);
    }
    UNSUPPORTED_NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_suite_lookup_each_supported() {
        for s in SUPPORTED {
            assert_eq!(lookup(s.id), Some(s));
            assert_eq!(name(s.id), Some(s.name));
            assert_eq!(s.tls13, s.id >> 8 == 0x13, "{}", s.name);
            // The name states the AEAD and the hash.
            let aead = match s.aead {
                Aead::Aes128Gcm => "AES_128_GCM",
                Aead::Aes256Gcm => "AES_256_GCM",
                Aead::ChaCha20Poly1305 => "CHACHA20_POLY1305",
            };
            let hash = match s.hash {
                Hash::Sha256 => "_SHA256",
                Hash::Sha384 => "_SHA384",
            };
            assert!(
                s.name.contains(aead) && s.name.ends_with(hash),
                "{}",
                s.name
            );
        }
        let t = lookup(0x1302).unwrap();
        assert_eq!(
            (t.aead, t.hash, t.tls13),
            (Aead::Aes256Gcm, Hash::Sha384, true)
        );
        let t = lookup(0xCCA8).unwrap();
        assert_eq!(
            (t.aead, t.hash, t.tls13),
            (Aead::ChaCha20Poly1305, Hash::Sha256, false)
        );
    }

    #[test]
    fn tls_suite_unsupported_named_not_looked_up() {
        assert_eq!(lookup(0xC013), None);
        assert_eq!(name(0xC013), Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"));
        assert_eq!(lookup(0x1304), None);
        assert_eq!(name(0x0000), None);
        assert_eq!(name(0xFFFF), None);
        for (id, _) in UNSUPPORTED_NAMES {
            assert!(lookup(id).is_none());
        }
    }

    #[test]
    fn tls_suite_lengths() {
        assert_eq!(Aead::Aes128Gcm.key_len(), 16);
        assert_eq!(Aead::Aes256Gcm.key_len(), 32);
        assert_eq!(Aead::ChaCha20Poly1305.key_len(), 32);
        assert_eq!(Aead::Aes128Gcm.tls12_fixed_iv_len(), 4);
        assert_eq!(Aead::ChaCha20Poly1305.tls12_fixed_iv_len(), 12);
        for a in [Aead::Aes128Gcm, Aead::Aes256Gcm, Aead::ChaCha20Poly1305] {
            assert_eq!(a.ring_algorithm().key_len(), a.key_len());
        }
        assert_eq!(Hash::Sha384.output_len(), 48);
    }
}
