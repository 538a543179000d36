//! The TLS mode's captures decrypt fully with the key log: every record of
//! every connection opens with keys derived by the engine's own key
//! schedule (`httpcap::tls::schedule`) and `Decrypter`, not the
//! generator's, and the plaintext of each direction is byte for byte the
//! cleartext capture's of the same seed.

use std::collections::HashMap;

use httpcap::tls::aead::{Decrypter, Version};
use httpcap::tls::schedule::{tls12_keys, traffic_keys};
use httpcap::tls::suite::{lookup, CipherSuite};
use httpcap_loadgen::tls::{TlsVersion, SUITES};
use httpcap_loadgen::{generate, generate_with_keylog, Params};
use pcap_file::pcap::PcapReader;

/// Per connection (client address and port), the reassembled client and
/// server byte streams. IPv4 over Ethernet, no impairments.
fn streams(pcap: &[u8]) -> HashMap<String, (Vec<u8>, Vec<u8>)> {
    let mut reader = PcapReader::new(pcap).unwrap();
    let mut out: HashMap<String, (Vec<u8>, Vec<u8>)> = HashMap::new();
    while let Some(pkt) = reader.next_packet() {
        let data = pkt.unwrap().data.into_owned();
        assert_eq!(&data[12..14], &[0x08, 0x00]);
        let ip = &data[14..];
        let tcp = &ip[(ip[0] & 0xf) as usize * 4..];
        let payload = &tcp[(tcp[12] >> 4) as usize * 4..];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let from_client = sport != 80 && sport != 8080;
        let (addr, port) = if from_client {
            (&ip[12..16], sport)
        } else {
            (&ip[16..20], u16::from_be_bytes([tcp[2], tcp[3]]))
        };
        let key = format!("{}.{}.{}.{}:{port}", addr[0], addr[1], addr[2], addr[3]);
        let entry = out.entry(key).or_default();
        if from_client {
            entry.0.extend_from_slice(payload);
        } else {
            entry.1.extend_from_slice(payload);
        }
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Key-log secrets by client random, then by label.
fn keylog(text: &str) -> HashMap<Vec<u8>, HashMap<String, Vec<u8>>> {
    let mut out: HashMap<Vec<u8>, HashMap<String, Vec<u8>>> = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(' ');
        let (label, random, secret) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        assert!(f.next().is_none());
        let old = out
            .entry(unhex(random))
            .or_default()
            .insert(label.to_string(), unhex(secret));
        assert!(old.is_none(), "{label} twice for one client random");
    }
    out
}

/// A direction's records: (header, payload).
fn records(mut bytes: &[u8]) -> Vec<([u8; 5], Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header: [u8; 5] = bytes[..5].try_into().unwrap();
        assert!(matches!(header[..3], [20..=23, 3, 1 | 3]), "{header:?}");
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        assert!(len <= 16_384 + 256, "record of {len} bytes");
        out.push((header, bytes[5..5 + len].to_vec()));
        bytes = &bytes[5 + len..];
    }
    out
}

/// The hello's random: handshake record header (5), message header (4),
/// legacy version (2).
fn hello_random(record: &([u8; 5], Vec<u8>)) -> [u8; 32] {
    record.1[6..38].try_into().unwrap()
}

/// Opens one direction: the cleartext records up to ChangeCipherSpec, then
/// every record with `first` (the handshake keys in TLS 1.3), or after its
/// first protected record with `then`. Returns the application data and
/// the content types of the protected records.
fn open(
    recs: &[([u8; 5], Vec<u8>)],
    mut first: Decrypter,
    mut then: Option<Decrypter>,
    tls13: bool,
) -> (Vec<u8>, Vec<u8>) {
    let mut plain = Vec::new();
    let mut types = Vec::new();
    let ccs = recs.iter().position(|(h, _)| h[0] == 20).expect("a CCS");
    assert_eq!(recs[ccs].1, [1]);
    for (i, (header, payload)) in recs[ccs + 1..].iter().enumerate() {
        if tls13 {
            assert_eq!(header[0], 23, "TLS 1.3 outer type");
        }
        let mut payload = payload.clone();
        let dec = match then.as_mut() {
            Some(app) if i > 0 => app,
            _ => &mut first,
        };
        let (ty, bytes) = dec.open(*header, &mut payload).expect("record opens");
        types.push(ty);
        if ty == 23 {
            plain.extend_from_slice(bytes);
        } else if ty == 21 {
            assert_eq!(bytes, [1, 0], "close_notify");
        } else {
            assert_eq!(ty, 22);
            assert_eq!(i, 0, "handshake only before application data");
            // TLS 1.3 server: EncryptedExtensions then Finished; else Finished.
            assert!(matches!(bytes[0], 8 | 20), "handshake type {}", bytes[0]);
        }
    }
    (plain, types)
}

fn check(suite_name: &str, version: TlsVersion, http2: bool) {
    let base = Params {
        transactions: 300,
        seed: 11,
        http2,
        // Some responses over one record's 16 KiB.
        static_share: 0.3,
        ..Params::default()
    };
    let mut clear = Vec::new();
    let clear_truth = generate(&base, &mut clear, None).unwrap();
    let p = Params {
        tls: Some(version),
        tls_cipher: Some(suite_name.to_string()),
        ..base
    };
    let (mut pcap, mut keys) = (Vec::new(), Vec::new());
    let truth = generate_with_keylog(&p, &mut pcap, None, &mut keys).unwrap();
    assert_eq!(truth.transactions, clear_truth.transactions);
    assert_eq!(truth.connections, clear_truth.connections);
    assert_eq!(truth.tls_connections, truth.connections);

    let keys = keylog(std::str::from_utf8(&keys).unwrap());
    assert_eq!(keys.len() as u64, truth.connections);
    let clear = streams(&clear);
    let conns = streams(&pcap);
    assert_eq!(conns.len(), clear.len());
    let tls13 = version == TlsVersion::Tls13;
    let mut long_records = 0;
    for (key, (client, server)) in &conns {
        let (c, s) = (records(client), records(server));
        long_records += c.iter().chain(&s).filter(|r| r.1.len() > 16_000).count();
        assert_eq!((c[0].0[0], c[0].1[0]), (22, 1), "ClientHello first");
        assert_eq!((s[0].0[0], s[0].1[0]), (22, 2), "ServerHello first");
        let (cr, sr) = (hello_random(&c[0]), hello_random(&s[0]));
        // The ServerHello's suite: after the random and a 32-byte session id.
        let id = u16::from_be_bytes([s[0].1[39 + 32], s[0].1[40 + 32]]);
        let suite: CipherSuite = lookup(id).expect("a known suite");
        assert_eq!(suite.name, suite_name);
        let secrets = &keys[&cr[..]];
        let dec = |label: &str| {
            let k = traffic_keys(&suite, &secrets[label]).unwrap();
            Decrypter::new(&suite, &k, Version::Tls13).unwrap()
        };
        let ((c_plain, c_types), (s_plain, s_types)) = if tls13 {
            assert_eq!(secrets.len(), 4);
            (
                open(
                    &c,
                    dec("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
                    Some(dec("CLIENT_TRAFFIC_SECRET_0")),
                    true,
                ),
                open(
                    &s,
                    dec("SERVER_HANDSHAKE_TRAFFIC_SECRET"),
                    Some(dec("SERVER_TRAFFIC_SECRET_0")),
                    true,
                ),
            )
        } else {
            assert_eq!(secrets.len(), 1);
            let (ck, sk) = tls12_keys(&suite, &secrets["CLIENT_RANDOM"], &cr, &sr).unwrap();
            (
                open(
                    &c,
                    Decrypter::new(&suite, &ck, Version::Tls12).unwrap(),
                    None,
                    false,
                ),
                open(
                    &s,
                    Decrypter::new(&suite, &sk, Version::Tls12).unwrap(),
                    None,
                    false,
                ),
            )
        };
        assert_eq!(c_types[0], 22);
        assert_eq!(s_types[0], 22);
        // One side closes with close_notify.
        let alerts = c_types.iter().chain(&s_types).filter(|&&t| t == 21).count();
        assert_eq!(alerts, 1, "{key}");
        let (want_c, want_s) = &clear[key];
        assert!(c_plain == *want_c, "{key}: client plaintext differs");
        assert!(s_plain == *want_s, "{key}: server plaintext differs");
    }
    assert!(long_records > 0, "no record near 16 KiB");
}

#[test]
fn every_suite_decrypts_with_the_key_log_to_the_cleartext_bytes() {
    for suite in SUITES {
        check(suite.name, suite.version, false);
    }
}

#[test]
fn http2_over_tls13() {
    check("TLS_AES_128_GCM_SHA256", TlsVersion::Tls13, true);
}

#[test]
fn tls_capture_same_seed_same_bytes_and_keys() {
    let p = Params {
        transactions: 200,
        tls: Some(TlsVersion::Tls12),
        ..Params::default()
    };
    let run = || {
        let (mut pcap, mut keys) = (Vec::new(), Vec::new());
        generate_with_keylog(&p, &mut pcap, None, &mut keys).unwrap();
        (pcap, keys)
    };
    assert!(run() == run());
}

#[test]
fn unknown_or_mismatched_suite_is_refused() {
    for (version, name) in [
        (TlsVersion::Tls13, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        (TlsVersion::Tls12, "0x1301"),
        (TlsVersion::Tls13, "RC4"),
    ] {
        let p = Params {
            transactions: 1,
            tls: Some(version),
            tls_cipher: Some(name.to_string()),
            ..Params::default()
        };
        let err = generate(&p, Vec::new(), None).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
