//! TLS bytes made up for tests and fuzzing: handshake records with the
//! fields the decoder reads, records sealed (AES-128-GCM) under given
//! keys, and key-log lines naming them. Never used on captured traffic.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

use super::keylog::{parse_line, KeyLogLine};
use super::schedule::{self, TrafficKeys};
use super::suite;

pub const CLIENT_RANDOM: [u8; 32] = [0x11; 32];
pub const SERVER_RANDOM: [u8; 32] = [0x22; 32];

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A key-log line for `CLIENT_RANDOM`'s connection.
pub fn keylog_line(label: &str, secret: &[u8]) -> KeyLogLine {
    let line = format!("{label} {} {}", hex(&CLIENT_RANDOM), hex(secret));
    parse_line(line.as_bytes())
        .expect("a well-formed line")
        .expect("a label that is kept")
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![kind, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

/// A record of content type `ty` (version 0x0303).
pub fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend((payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

pub fn ext(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut e = kind.to_be_bytes().to_vec();
    e.extend((body.len() as u16).to_be_bytes());
    e.extend_from_slice(body);
    e
}

/// An ALPN extension naming one protocol.
pub fn alpn(protocol: &str) -> Vec<u8> {
    let mut list = vec![protocol.len() as u8];
    list.extend_from_slice(protocol.as_bytes());
    let mut body = (list.len() as u16).to_be_bytes().to_vec();
    body.extend(list);
    ext(16, &body)
}

/// A ClientHello record offering `cipher`, with SNI, ALPN and TLS 1.3 in
/// supported_versions.
pub fn client_hello(cipher: u16, sni: &str, protocol: &str) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(CLIENT_RANDOM);
    b.push(0); // session id
    b.extend(2u16.to_be_bytes());
    b.extend(cipher.to_be_bytes());
    b.extend([1, 0]); // compression: null
    let name = sni.as_bytes();
    let mut server_name = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    server_name.push(0);
    server_name.extend((name.len() as u16).to_be_bytes());
    server_name.extend_from_slice(name);
    let mut exts = ext(0, &server_name);
    exts.extend(alpn(protocol));
    exts.extend(ext(43, &[2, 3, 4]));
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &handshake(1, &b))
}

/// A ServerHello record choosing `cipher`: TLS 1.3 by supported_versions,
/// or TLS 1.2 with the ALPN `protocol` (1.3 sends ALPN encrypted).
pub fn server_hello(cipher: u16, tls13: bool, protocol: &str) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(SERVER_RANDOM);
    b.push(0);
    b.extend(cipher.to_be_bytes());
    b.push(0);
    let exts = if tls13 {
        ext(43, &[3, 4])
    } else {
        alpn(protocol)
    };
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &handshake(2, &b))
}

/// Seals one direction's records with AES-128-GCM, as TLS 1.3 (inner
/// content type, two bytes of padding) or TLS 1.2 (explicit nonce).
pub struct Sealer {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    tls13: bool,
}

impl Sealer {
    pub fn new(keys: &TrafficKeys, tls13: bool) -> Sealer {
        let mut iv = [0u8; 12];
        iv[..keys.iv().len()].copy_from_slice(keys.iv());
        Sealer {
            key: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, keys.key()).expect("16 bytes")),
            iv,
            seq: 0,
            tls13,
        }
    }

    /// TLS_AES_128_GCM_SHA256 records under a traffic secret.
    pub fn tls13(secret: &[u8]) -> Sealer {
        let suite = suite::lookup(0x1301).expect("TLS_AES_128_GCM_SHA256");
        let keys = schedule::traffic_keys(&suite, secret).expect("a 32-byte secret");
        Sealer::new(&keys, true)
    }

    /// One record: at most 2^14 bytes of `plain`, of content type `inner`.
    pub fn seal(&mut self, inner: u8, plain: &[u8]) -> Vec<u8> {
        let plain = &plain[..plain.len().min(1 << 14)];
        let seq = self.seq;
        self.seq += 1;
        if self.tls13 {
            let mut data = plain.to_vec();
            data.push(inner);
            data.extend([0, 0]);
            let mut nonce = self.iv;
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
            let len = (data.len() + 16) as u16;
            let header = [23, 3, 3, (len >> 8) as u8, len as u8];
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(header),
                    &mut data,
                )
                .expect("within AES-GCM's limits");
            data.extend_from_slice(tag.as_ref());
            record(23, &data)
        } else {
            // Salt and explicit nonce (the sequence number).
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&self.iv[..4]);
            nonce[4..].copy_from_slice(&seq.to_be_bytes());
            let mut aad = seq.to_be_bytes().to_vec();
            aad.extend([inner, 3, 3]);
            aad.extend((plain.len() as u16).to_be_bytes());
            let mut data = plain.to_vec();
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut data,
                )
                .expect("within AES-GCM's limits");
            let mut payload = seq.to_be_bytes().to_vec();
            payload.extend(data);
            payload.extend_from_slice(tag.as_ref());
            record(inner, &payload)
        }
    }
}
