//! TLS mode (`--tls 1.3` / `--tls 1.2`): each connection's exchanges are
//! carried in TLS records sealed under random secrets drawn from the seed,
//! and the secrets go to an NSS key log, so a capture can be decrypted
//! without any private key.
//!
//! The handshake is synthetic: the cleartext hellos carry what a passive
//! decoder reads (randoms, suite, versions, SNI, ALPN, a key share of
//! random bytes), no certificate is sent, and Finished messages hold
//! random verify data. What follows is real record protection: TLS 1.3
//! (RFC 8446 §5.2, §7.1, §7.3) or TLS 1.2 AEAD records (RFC 5246 §6.3,
//! RFC 5288 for GCM's explicit nonce, RFC 7905 for ChaCha20-Poly1305).
//!
//! Keys are derived here with `ring`'s HKDF and HMAC, independently of the
//! engine's key schedule, so that decrypting these captures checks it.

use std::io::{self, Write};

use ring::aead::{
    Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use ring::{hkdf, hmac};

use crate::conn::Side;
use crate::rng::Rng;

/// Largest plaintext per record (2^14, RFC 8446 §5.1).
pub const MAX_FRAGMENT: usize = 16_384;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl std::str::FromStr for TlsVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            _ => Err(format!("TLS version {s:?}: expected 1.2 or 1.3")),
        }
    }
}

/// A cipher suite the generator can seal with.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    aead: &'static Algorithm,
    /// SHA-384 for the key schedule (else SHA-256).
    sha384: bool,
    pub version: TlsVersion,
}

impl Suite {
    fn key_len(&self) -> usize {
        self.aead.key_len()
    }

    fn hash_len(&self) -> usize {
        if self.sha384 {
            48
        } else {
            32
        }
    }

    /// TLS 1.2 GCM carries an 8-byte explicit nonce in each record.
    fn explicit_nonce(&self) -> bool {
        self.version == TlsVersion::Tls12 && !std::ptr::eq(self.aead, &CHACHA20_POLY1305)
    }

    fn fixed_iv_len(&self) -> usize {
        if self.explicit_nonce() {
            4
        } else {
            12
        }
    }
}

pub const SUITES: [Suite; 6] = [
    Suite {
        id: 0x1301,
        name: "TLS_AES_128_GCM_SHA256",
        aead: &AES_128_GCM,
        sha384: false,
        version: TlsVersion::Tls13,
    },
    Suite {
        id: 0x1302,
        name: "TLS_AES_256_GCM_SHA384",
        aead: &AES_256_GCM,
        sha384: true,
        version: TlsVersion::Tls13,
    },
    Suite {
        id: 0x1303,
        name: "TLS_CHACHA20_POLY1305_SHA256",
        aead: &CHACHA20_POLY1305,
        sha384: false,
        version: TlsVersion::Tls13,
    },
    Suite {
        id: 0xC02F,
        name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        aead: &AES_128_GCM,
        sha384: false,
        version: TlsVersion::Tls12,
    },
    Suite {
        id: 0xC030,
        name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        aead: &AES_256_GCM,
        sha384: true,
        version: TlsVersion::Tls12,
    },
    Suite {
        id: 0xCCA8,
        name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        aead: &CHACHA20_POLY1305,
        sha384: false,
        version: TlsVersion::Tls12,
    },
];

/// The suite for `version` named `name` (IANA name or hex code point such
/// as 0xc02f); without a name, the version's AES-128-GCM suite.
pub fn suite(version: TlsVersion, name: Option<&str>) -> Result<Suite, String> {
    let Some(name) = name else {
        return Ok(if version == TlsVersion::Tls13 {
            SUITES[0]
        } else {
            SUITES[3]
        });
    };
    let code = name
        .strip_prefix("0x")
        .or_else(|| name.strip_prefix("0X"))
        .and_then(|h| u16::from_str_radix(h, 16).ok());
    SUITES
        .iter()
        .find(|s| s.version == version && (s.name.eq_ignore_ascii_case(name) || Some(s.id) == code))
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = SUITES
                .iter()
                .filter(|s| s.version == version)
                .map(|s| s.name)
                .collect();
            format!(
                "cipher suite {name:?} not available for this TLS version (one of {})",
                known.join(", ")
            )
        })
}

/// An HKDF output length, as ring wants it.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) (RFC 8446 §7.1).
fn expand_label(sha384: bool, secret: &[u8], label: &[u8], out: &mut [u8]) {
    let alg = if sha384 {
        hkdf::HKDF_SHA384
    } else {
        hkdf::HKDF_SHA256
    };
    let length = (out.len() as u16).to_be_bytes();
    let full = [6 + label.len() as u8];
    let info: [&[u8]; 5] = [&length, &full, b"tls13 ", label, &[0]];
    hkdf::Prk::new_less_safe(alg, secret)
        .expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF-Expand-Label lengths are in range");
}

/// The TLS 1.2 PRF, P_hash(secret, label + seed) (RFC 5246 §5).
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let alg = if sha384 {
        hmac::HMAC_SHA384
    } else {
        hmac::HMAC_SHA256
    };
    let key = hmac::Key::new(alg, secret);
    let mut a = {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(label);
        ctx.update(seed);
        ctx.sign()
    };
    for chunk in out.chunks_mut(alg.digest_algorithm().output_len()) {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(label);
        ctx.update(seed);
        let block = ctx.sign();
        chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        a = hmac::sign(&key, a.as_ref());
    }
}

/// One direction's record protection.
pub struct Sealer {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    version: TlsVersion,
    explicit: bool,
}

impl Sealer {
    fn new(suite: &Suite, key: &[u8], iv: &[u8]) -> Sealer {
        let mut full = [0u8; 12];
        full[..iv.len()].copy_from_slice(iv);
        Sealer {
            key: LessSafeKey::new(UnboundKey::new(suite.aead, key).expect("key length")),
            iv: full,
            seq: 0,
            version: suite.version,
            explicit: suite.explicit_nonce(),
        }
    }

    /// A TLS 1.3 traffic secret's sealer.
    fn tls13(suite: &Suite, secret: &[u8]) -> Sealer {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 12];
        let key = &mut key[..suite.key_len()];
        expand_label(suite.sha384, secret, b"key", key);
        expand_label(suite.sha384, secret, b"iv", &mut iv);
        Sealer::new(suite, key, &iv)
    }

    /// Appends one protected record of content type `ty` holding `plain`
    /// (at most [`MAX_FRAGMENT`] bytes) to `out`.
    pub fn seal(&mut self, ty: u8, plain: &[u8], out: &mut Vec<u8>) {
        debug_assert!(plain.len() <= MAX_FRAGMENT);
        let seq = self.seq;
        self.seq += 1;
        let tag_len = self.key.algorithm().tag_len();
        let mut nonce = self.iv;
        let start = out.len();
        match self.version {
            TlsVersion::Tls13 => {
                // Outer type application_data; the real type ends the
                // inner plaintext (no padding).
                let len = plain.len() + 1 + tag_len;
                let header = [APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8];
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
                out.extend_from_slice(&header);
                out.extend_from_slice(plain);
                out.push(ty);
                self.seal_tail(nonce, Aad::from(header), out, start + 5);
            }
            TlsVersion::Tls12 => {
                let explicit = if self.explicit { 8 } else { 0 };
                let len = explicit + plain.len() + tag_len;
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&[ty, 3, 3]);
                aad[11..].copy_from_slice(&(plain.len() as u16).to_be_bytes());
                out.extend_from_slice(&[ty, 3, 3, (len >> 8) as u8, len as u8]);
                if self.explicit {
                    // Salt || explicit nonce, the sequence number as most
                    // implementations choose it.
                    nonce[4..].copy_from_slice(&seq.to_be_bytes());
                    out.extend_from_slice(&seq.to_be_bytes());
                } else {
                    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                        *n ^= s;
                    }
                }
                out.extend_from_slice(plain);
                self.seal_tail(nonce, Aad::from(aad), out, start + 5 + explicit);
            }
        }
    }

    fn seal_tail<A: AsRef<[u8]>>(
        &self,
        nonce: [u8; 12],
        aad: Aad<A>,
        out: &mut Vec<u8>,
        at: usize,
    ) {
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad, &mut out[at..])
            .expect("record within AEAD limits");
        out.extend_from_slice(tag.as_ref());
    }

    /// Seals `data` as application data records of at most
    /// [`MAX_FRAGMENT`] bytes each, appended to `out`.
    pub fn seal_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for chunk in data.chunks(MAX_FRAGMENT) {
            self.seal(APPLICATION_DATA, chunk, out);
        }
    }

    /// A close_notify alert.
    pub fn close_notify(&mut self, out: &mut Vec<u8>) {
        self.seal(ALERT, &[1, 0], out);
    }
}

/// A connection's application-data sealers, one per direction.
pub struct Session {
    pub client: Sealer,
    pub server: Sealer,
    /// Handshake flights queued.
    pub started: bool,
    /// close_notify sent by the closing side.
    pub closed: bool,
}

impl Session {
    pub fn sealer(&mut self, side: Side) -> &mut Sealer {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

fn u24(n: usize) -> [u8; 3] {
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

/// A handshake message: type, 24-bit length, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 + body.len());
    m.push(kind);
    m.extend(u24(body.len()));
    m.extend_from_slice(body);
    m
}

/// A cleartext record.
fn record(ty: u8, version_minor: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[ty, 3, version_minor]);
    out.extend((payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

fn ext(kind: u16, body: &[u8], out: &mut Vec<u8>) {
    out.extend(kind.to_be_bytes());
    out.extend((body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn alpn_ext(protocol: &str, out: &mut Vec<u8>) {
    let mut list = vec![protocol.len() as u8];
    list.extend_from_slice(protocol.as_bytes());
    ext(16, &with_len16(&list), out);
}

fn random<const N: usize>(rng: &mut Rng) -> [u8; N] {
    let mut b = [0u8; N];
    for chunk in b.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A handshake's flights in order, each with its sender, and the session
/// whose sealers protect the application data after it.
pub struct Handshake {
    pub flights: Vec<(Side, Vec<u8>)>,
    pub session: Session,
}

/// Builds one connection's handshake for `suite`, offering `alpn` and
/// naming `sni`, with randoms and secrets from `rng`; writes the secrets to
/// `keylog` in NSS key log format.
pub fn handshake(
    suite: &Suite,
    rng: &mut Rng,
    sni: &str,
    alpn: &str,
    keylog: &mut dyn Write,
) -> io::Result<Handshake> {
    let tls13 = suite.version == TlsVersion::Tls13;
    let client_random: [u8; 32] = random(rng);
    let server_random: [u8; 32] = random(rng);
    let session_id: [u8; 32] = random(rng);
    let client_share: [u8; 32] = random(rng);
    let server_share: [u8; 32] = random(rng);

    // ClientHello: every suite this generator knows, the chosen one first.
    let mut ch = vec![3, 3];
    ch.extend(client_random);
    ch.push(32);
    ch.extend(session_id);
    let mut suites = suite.id.to_be_bytes().to_vec();
    for s in SUITES.iter().filter(|s| s.id != suite.id) {
        suites.extend(s.id.to_be_bytes());
    }
    ch.extend(with_len16(&suites));
    ch.extend([1, 0]);
    let mut exts = Vec::new();
    let mut name = vec![0];
    name.extend(with_len16(sni.as_bytes()));
    ext(0, &with_len16(&name), &mut exts);
    ext(10, &with_len16(&[0x00, 0x1d, 0x00, 0x17]), &mut exts); // groups
    ext(11, &[1, 0], &mut exts); // point formats
    ext(23, &[], &mut exts); // extended master secret
    ext(
        13,
        &with_len16(&[0x04, 0x03, 0x08, 0x04, 0x04, 0x01]),
        &mut exts,
    );
    alpn_ext(alpn, &mut exts);
    if tls13 {
        let mut share = vec![0x00, 0x1d, 0x00, 0x20];
        share.extend(client_share);
        ext(51, &with_len16(&share), &mut exts);
        ext(43, &[4, 3, 4, 3, 3], &mut exts);
    }
    ch.extend(with_len16(&exts));
    let mut client_hello = Vec::new();
    record(HANDSHAKE, 1, &message(1, &ch), &mut client_hello);

    // ServerHello.
    let mut sh = vec![3, 3];
    sh.extend(server_random);
    sh.push(32);
    sh.extend(session_id);
    sh.extend(suite.id.to_be_bytes());
    sh.push(0);
    let mut exts = Vec::new();
    if tls13 {
        let mut share = vec![0x00, 0x1d, 0x00, 0x20];
        share.extend(server_share);
        ext(51, &share, &mut exts);
        ext(43, &[3, 4], &mut exts);
    } else {
        ext(23, &[], &mut exts);
        ext(0xff01, &[0], &mut exts); // renegotiation_info
        alpn_ext(alpn, &mut exts);
    }
    sh.extend(with_len16(&exts));

    let random_line = hex(&client_random);
    let mut flights = Vec::new();
    let session = if tls13 {
        let len = suite.hash_len();
        let secrets: [[u8; 48]; 4] = [random(rng), random(rng), random(rng), random(rng)];
        for (label, secret) in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ]
        .iter()
        .zip(&secrets)
        {
            writeln!(keylog, "{label} {random_line} {}", hex(&secret[..len]))?;
        }
        let mut c_hs = Sealer::tls13(suite, &secrets[0][..len]);
        let mut s_hs = Sealer::tls13(suite, &secrets[1][..len]);
        let client = Sealer::tls13(suite, &secrets[2][..len]);
        let server = Sealer::tls13(suite, &secrets[3][..len]);
        // ServerHello, the compatibility ChangeCipherSpec, then
        // EncryptedExtensions (ALPN) and Finished under the server
        // handshake key.
        let mut server_flight = Vec::new();
        record(HANDSHAKE, 3, &message(2, &sh), &mut server_flight);
        record(CHANGE_CIPHER_SPEC, 3, &[1], &mut server_flight);
        let mut ee = Vec::new();
        alpn_ext(alpn, &mut ee);
        let mut protected = message(8, &with_len16(&ee));
        let verify: [u8; 48] = random(rng);
        protected.extend(message(20, &verify[..len]));
        s_hs.seal(HANDSHAKE, &protected, &mut server_flight);
        // The client's ChangeCipherSpec and Finished.
        let mut client_finished = Vec::new();
        record(CHANGE_CIPHER_SPEC, 3, &[1], &mut client_finished);
        let verify: [u8; 48] = random(rng);
        c_hs.seal(
            HANDSHAKE,
            &message(20, &verify[..len]),
            &mut client_finished,
        );
        flights.push((Side::Client, client_hello));
        flights.push((Side::Server, server_flight));
        flights.push((Side::Client, client_finished));
        Session {
            client,
            server,
            started: false,
            closed: false,
        }
    } else {
        let master: [u8; 48] = random(rng);
        writeln!(keylog, "CLIENT_RANDOM {random_line} {}", hex(&master))?;
        let (key_len, iv_len) = (suite.key_len(), suite.fixed_iv_len());
        let mut block = [0u8; 2 * (32 + 12)];
        let block = &mut block[..2 * (key_len + iv_len)];
        let mut seed = server_random.to_vec();
        seed.extend(client_random);
        prf(suite.sha384, &master, b"key expansion", &seed, block);
        let (client_key, rest) = block.split_at(key_len);
        let (server_key, rest) = rest.split_at(key_len);
        let (client_iv, server_iv) = rest.split_at(iv_len);
        let mut client = Sealer::new(suite, client_key, client_iv);
        let mut server = Sealer::new(suite, server_key, server_iv);
        // ServerHello and ServerHelloDone (no certificate, no key
        // exchange message: a passive decoder does not need them).
        let mut hello = message(2, &sh);
        hello.extend(message(14, &[]));
        let mut server_flight = Vec::new();
        record(HANDSHAKE, 3, &hello, &mut server_flight);
        // ClientKeyExchange (a random point), ChangeCipherSpec, Finished.
        let mut cke = vec![65, 4];
        cke.extend(random::<64>(rng));
        let mut client_finished = Vec::new();
        record(HANDSHAKE, 3, &message(16, &cke), &mut client_finished);
        record(CHANGE_CIPHER_SPEC, 3, &[1], &mut client_finished);
        client.seal(
            HANDSHAKE,
            &message(20, &random::<12>(rng)),
            &mut client_finished,
        );
        let mut server_finished = Vec::new();
        record(CHANGE_CIPHER_SPEC, 3, &[1], &mut server_finished);
        server.seal(
            HANDSHAKE,
            &message(20, &random::<12>(rng)),
            &mut server_finished,
        );
        flights.push((Side::Client, client_hello));
        flights.push((Side::Server, server_flight));
        flights.push((Side::Client, client_finished));
        flights.push((Side::Server, server_finished));
        Session {
            client,
            server,
            started: false,
            closed: false,
        }
    };
    Ok(Handshake { flights, session })
}
