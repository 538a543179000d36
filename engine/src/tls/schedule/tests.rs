//! Key schedule tests: RFC 8448 §3 (TLS 1.3 Simple 1-RTT Handshake)
//! secrets to keys, the TLS 1.2 PRF vectors posted to the IETF TLS list
//! (also OpenSSL's TLS1-PRF output), and key blocks and HKDF expansions
//! checked against OpenSSL 3's `openssl kdf`.

use super::*;
use crate::tls::suite::{self, Aead};
use crate::tls::test_util::hex;

fn tls13_aes128() -> CipherSuite {
    suite::lookup(0x1301).unwrap()
}

/// RFC 8448 §3 traffic secrets (PRK) and the write key and IV the trace
/// derives from each: server handshake, client handshake, server
/// application, client application.
const RFC8448_KEYS: [(&str, &str, &str); 4] = [
    (
        "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4
         e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
        "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc",
        "5d 31 3e b2 67 12 76 ee 13 00 0b 30",
    ),
    (
        "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f
         3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21",
        "db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01",
        "5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f",
    ),
    (
        "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32
         82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43",
        "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56",
        "cf 78 2b 88 dd 83 54 9a ad f1 e9 84",
    ),
    (
        "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52
         87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5",
        "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51",
        "5b 78 92 3d ee 08 57 90 33 e5 23 d9",
    ),
];

#[test]
fn tls_rfc8448_traffic_keys() {
    for (secret, key, iv) in RFC8448_KEYS {
        let k = traffic_keys(&tls13_aes128(), &hex(secret)).unwrap();
        assert_eq!(k.key(), hex(key));
        assert_eq!(k.iv(), hex(iv));
    }
}

#[test]
fn tls_rfc8448_expand_label() {
    // "{server} derive secret tls13 c ap traffic" / "s ap traffic": the
    // master secret expanded with the hash of ClientHello..server Finished.
    let master = hex("18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47
         80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 29 19");
    let transcript = hex("96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a
         00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13");
    let c_ap = hkdf_expand_label(Hash::Sha256, &master, b"c ap traffic", &transcript, 32);
    assert_eq!(c_ap.unwrap(), hex(RFC8448_KEYS[3].0));
    let s_ap = hkdf_expand_label(Hash::Sha256, &master, b"s ap traffic", &transcript, 32);
    assert_eq!(s_ap.unwrap(), hex(RFC8448_KEYS[2].0));
    // "{server} calculate finished": the finished key, empty context.
    let fin = hkdf_expand_label(Hash::Sha256, &hex(RFC8448_KEYS[0].0), b"finished", b"", 32);
    assert_eq!(
        fin.unwrap(),
        hex("00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f
             c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 9f c8")
    );
}

#[test]
fn tls_key_update_secret() {
    // Expected: `openssl kdf -kdfopt mode:EXPAND_ONLY ... HKDF` with
    // info = 00 20 | 11 "tls13 traffic upd" | 00 over RFC 8448's client
    // application traffic secret.
    let next = next_traffic_secret(&tls13_aes128(), &hex(RFC8448_KEYS[3].0)).unwrap();
    assert_eq!(
        next.as_bytes(),
        hex("fc df cc 72 72 5a ae e4 8b f6 4e 4f d8 b7 49 cd
             bd ba b3 9d 90 da 0b 26 e2 24 5c a6 ea 16 72 07")
    );
    // ChaCha20 shares SHA-256: same next secret.
    let chacha = suite::lookup(0x1303).unwrap();
    let again = next_traffic_secret(&chacha, &hex(RFC8448_KEYS[3].0)).unwrap();
    assert_eq!(again.as_bytes(), next.as_bytes());
}

#[test]
fn tls_sha384_traffic_keys_and_update() {
    // Expected from `openssl kdf ... -kdfopt digest:SHA384 mode:EXPAND_ONLY
    // HKDF` with the HkdfLabel built by hand; secret = 00 01 .. 2f.
    let s = suite::lookup(0x1302).unwrap();
    let secret: Vec<u8> = (0u8..48).collect();
    let k = traffic_keys(&s, &secret).unwrap();
    assert_eq!(
        k.key(),
        hex("68 77 d0 22 f1 c6 1d 24 eb b7 48 7c 16 75 2d 9a
             47 98 e4 04 31 c7 5b 39 32 0e 53 7c 90 e2 32 25")
    );
    assert_eq!(k.iv(), hex("42 82 25 31 a0 fe 88 64 8f c0 9e 9f"));
    let next = next_traffic_secret(&s, &secret).unwrap();
    assert_eq!(
        next.as_bytes(),
        hex("40 13 31 b6 3e 9d 59 f2 02 e8 f0 41 04 2d 95 16
             f4 cd 7f a2 e2 ee 14 63 1d 3b 49 fc 34 0d 7a f3
             7f c2 c0 c9 f2 52 d8 03 6f 81 ec 5b 85 cb e5 db")
    );
}

#[test]
fn tls_schedule_rejects_mismatches() {
    let aes128 = tls13_aes128();
    // A 48-byte secret for a SHA-256 suite.
    assert_eq!(
        traffic_keys(&aes128, &[0; 48]).unwrap_err(),
        ScheduleError::SecretLength { got: 48, want: 32 }
    );
    assert!(next_traffic_secret(&aes128, &[0; 31]).is_err());
    let tls12 = suite::lookup(0xC02F).unwrap();
    assert!(matches!(
        traffic_keys(&tls12, &[0; 32]),
        Err(ScheduleError::WrongVersion { .. })
    ));
    assert!(matches!(
        tls12_keys(&aes128, &[0; 48], &[0; 32], &[0; 32]),
        Err(ScheduleError::WrongVersion { .. })
    ));
    assert_eq!(
        tls12_keys(&tls12, &[0; 32], &[0; 32], &[0; 32]).unwrap_err(),
        ScheduleError::MasterLength { got: 32 }
    );
    // Labels, contexts and outputs beyond HkdfLabel's fields.
    let long = [b'a'; 250];
    assert!(hkdf_expand_label(Hash::Sha256, &[0; 32], &long, b"", 16).is_err());
    assert!(hkdf_expand_label(Hash::Sha256, &[0; 32], b"key", &[0; 256], 16).is_err());
    assert!(hkdf_expand_label(Hash::Sha256, &[0; 32], b"key", b"", 255 * 32 + 1).is_err());
    assert!(hkdf_expand_label(Hash::Sha256, &[0; 32], b"key", b"", 255 * 32).is_ok());
    assert!(TrafficKeys::new(&[0; 15], &[0; 12]).is_err());
    assert!(TrafficKeys::new(&[0; 16], &[0; 13]).is_err());
}

/// The TLS 1.2 PRF test vectors posted to the IETF TLS list ("TLS 1.2
/// PRF test vectors"); OpenSSL 3's TLS1-PRF gives the same bytes.
#[test]
fn tls12_prf_sha256_vector() {
    let mut out = [0u8; 100];
    prf(
        Hash::Sha256,
        &hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"),
        b"test label",
        &hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"),
        &mut out,
    );
    let want = hex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53
         c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
         6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af
         0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
         4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba
         a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
         87 34 7b 66");
    assert_eq!(out.as_slice(), want);
    // A shorter output is a prefix (P_hash is a stream).
    let mut short = [0u8; 33];
    prf(
        Hash::Sha256,
        &hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"),
        b"test label",
        &hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"),
        &mut short,
    );
    assert_eq!(short.as_slice(), &want[..33]);
}

#[test]
fn tls12_prf_sha384_vector() {
    let mut out = [0u8; 148];
    prf(
        Hash::Sha384,
        &hex("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df"),
        b"test label",
        &hex("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65"),
        &mut out,
    );
    let want = hex("7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a
         1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
         e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0
         e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
         8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3
         d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
         9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2
         60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
         91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70
         3d 73 e5 6f");
    assert_eq!(out.as_slice(), want);
}

/// Key blocks from `openssl kdf ... TLS1-PRF` with the seed "key
/// expansion" followed by server random and client random; master = 30 31
/// .. 5f, client random = 00 .. 1f, server random = 80 .. 9f.
#[test]
fn tls12_key_block_split() {
    let master: Vec<u8> = (0x30u8..0x60).collect();
    let client_random: [u8; 32] = std::array::from_fn(|i| i as u8);
    let server_random: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);

    // AES-256-GCM, SHA-384: 32 + 32 + 4 + 4 bytes.
    let gcm = suite::lookup(0xC030).unwrap();
    let block = hex(
        "779fafd5949a5d61fe8c2bcf05d62c5cf1bb46cc6a808b98fe76f626331f795f
         eaac9ee73d8211fb339978c2362bfa8ebc22640960f03780682f575debb18b32
         68615c9c 1858aa30",
    );
    let (c, s) = tls12_keys(&gcm, &master, &client_random, &server_random).unwrap();
    assert_eq!(c.key(), &block[..32]);
    assert_eq!(s.key(), &block[32..64]);
    assert_eq!(c.iv(), &block[64..68]);
    assert_eq!(s.iv(), &block[68..72]);

    // ChaCha20-Poly1305, SHA-256: 32 + 32 + 12 + 12 bytes.
    let chacha = suite::lookup(0xCCA8).unwrap();
    assert_eq!(chacha.aead, Aead::ChaCha20Poly1305);
    let block = hex(
        "209aeacd2c307bf9f9ddde7ac0419d4744efe4076d093f2e64e7d85bc543628f
         7d5ade5556aba964a078d8104f0161fe8afb65e48725b702ff3db96643329e62
         05f926c90e4c28609abe9012 ea831fe18ff0a027fcb730a3",
    );
    let (c, s) = tls12_keys(&chacha, &master, &client_random, &server_random).unwrap();
    assert_eq!(c.key(), &block[..32]);
    assert_eq!(s.key(), &block[32..64]);
    assert_eq!(c.iv(), &block[64..76]);
    assert_eq!(s.iv(), &block[76..88]);

    // AES-128-GCM: 16-byte keys, a 40-byte block.
    let (c, s) = tls12_keys(
        &suite::lookup(0xC02F).unwrap(),
        &master,
        &client_random,
        &server_random,
    )
    .unwrap();
    assert_eq!((c.key().len(), c.iv().len()), (16, 4));
    assert_eq!((s.key().len(), s.iv().len()), (16, 4));
}

#[test]
fn tls_traffic_keys_debug_has_no_key() {
    let k = traffic_keys(&tls13_aes128(), &hex(RFC8448_KEYS[0].0)).unwrap();
    let dbg = format!("{k:?}");
    assert_eq!(dbg, "TrafficKeys(key 16 bytes, iv 12 bytes)");
    let s = next_traffic_secret(&tls13_aes128(), &hex(RFC8448_KEYS[0].0)).unwrap();
    assert_eq!(format!("{s:?}"), "Secret(32 bytes)");
}
