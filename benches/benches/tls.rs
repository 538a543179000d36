//! Criterion benchmark of TLS record decryption (`tls::aead::Decrypter::
//! open`) on full-size records (16 KiB of plaintext), per AEAD and record
//! layer, reported in plaintext bytes per second. Compare with
//! `openssl speed -evp aes-128-gcm -bytes 16384`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use httpcap::tls::aead::{Decrypter, Version};
use httpcap::tls::schedule::TrafficKeys;
use httpcap::tls::suite::{self, CipherSuite};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

const PLAINTEXT: usize = 16 * 1024;
const APPLICATION_DATA: u8 = 23;

/// One record at sequence number 0, sealed with ring: header, payload.
fn seal(suite: &CipherSuite, key: &[u8], iv: &[u8], version: Version) -> ([u8; 5], Vec<u8>) {
    let sealer = LessSafeKey::new(UnboundKey::new(aead_alg(suite), key).unwrap());
    let plain: Vec<u8> = (0..PLAINTEXT).map(|i| i as u8).collect();
    match version {
        Version::Tls13 => {
            let mut inner = plain;
            inner.push(APPLICATION_DATA);
            let len = (inner.len() + 16) as u16;
            let header = [APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8];
            // Sequence number 0: the nonce is the IV.
            let nonce = Nonce::assume_unique_for_key(iv.try_into().unwrap());
            sealer
                .seal_in_place_append_tag(nonce, Aad::from(header), &mut inner)
                .unwrap();
            (header, inner)
        }
        Version::Tls12 => {
            let mut aad = [0u8; 13];
            aad[8..11].copy_from_slice(&[APPLICATION_DATA, 3, 3]);
            aad[11..].copy_from_slice(&(PLAINTEXT as u16).to_be_bytes());
            let (nonce, mut payload) = if iv.len() == 4 {
                // GCM: salt || explicit nonce, the explicit part sent first.
                let explicit = [9u8; 8];
                let mut n = [0u8; 12];
                n[..4].copy_from_slice(iv);
                n[4..].copy_from_slice(&explicit);
                (n, explicit.to_vec())
            } else {
                (iv.try_into().unwrap(), Vec::new())
            };
            let mut body = plain;
            sealer
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut body,
                )
                .unwrap();
            payload.extend(body);
            let len = payload.len() as u16;
            (
                [APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8],
                payload,
            )
        }
    }
}

fn aead_alg(suite: &CipherSuite) -> &'static ring::aead::Algorithm {
    match suite.aead {
        suite::Aead::Aes128Gcm => &ring::aead::AES_128_GCM,
        suite::Aead::Aes256Gcm => &ring::aead::AES_256_GCM,
        suite::Aead::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
    }
}

fn bench_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("tls_open_16k");
    g.throughput(Throughput::Bytes(PLAINTEXT as u64));
    let cases = [
        ("tls13_aes128gcm", 0x1301, Version::Tls13),
        ("tls13_aes256gcm", 0x1302, Version::Tls13),
        ("tls13_chacha20poly1305", 0x1303, Version::Tls13),
        ("tls12_aes128gcm", 0xC02F, Version::Tls12),
        ("tls12_chacha20poly1305", 0xCCA8, Version::Tls12),
    ];
    for (name, id, version) in cases {
        let s = suite::lookup(id).unwrap();
        let key = vec![0x5a; s.aead.key_len()];
        let iv = match version {
            Version::Tls13 => vec![0x3c; 12],
            Version::Tls12 => vec![0x3c; s.aead.tls12_fixed_iv_len()],
        };
        let keys = TrafficKeys::new(&key, &iv).unwrap();
        let (header, payload) = seal(&s, &key, &iv, version);
        g.bench_function(name, |b| {
            // Opening is in place and advances the sequence number: each
            // iteration gets a fresh copy and a decrypter at 0 (untimed).
            b.iter_batched(
                || (Decrypter::new(&s, &keys, version).unwrap(), payload.clone()),
                |(mut d, mut p)| {
                    let (kind, plain) = d.open(header, &mut p).unwrap();
                    black_box((kind, plain.len()));
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_open);
criterion_main!(benches);
