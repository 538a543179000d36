//! What a passive decoder needs from the TLS handshake: the randoms that
//! name the connection's keys in a key log, the version and cipher suite
//! the server chose, SNI and ALPN. Messages are read with `tls-parser`;
//! this module only picks the fields and joins messages that span records.

use tls_parser::{
    parse_tls_extensions, parse_tls_message_handshake, parse_tls_server_hello_extensions,
    TlsExtension, TlsMessage, TlsMessageHandshake,
};

/// Handshake message types this decoder acts on (RFC 8446 §4).
pub mod kind {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Longest handshake message joined (a certificate chain fits); longer
/// ones are skipped, their bytes still counted so framing holds.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub random: [u8; 32],
    pub sni: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    pub random: [u8; 32],
    pub cipher: u16,
    /// `supported_versions` selected TLS 1.3.
    pub tls13: bool,
    /// The legacy version field (0x0303 for TLS 1.2 and 1.3).
    pub legacy_version: u16,
    /// ALPN chosen (TLS 1.2 carries it here; 1.3 in EncryptedExtensions).
    pub alpn: Option<Box<str>>,
    /// A HelloRetryRequest: the real ServerHello is still to come.
    pub retry: bool,
}

fn random(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

fn text(bytes: &[u8]) -> Option<Box<str>> {
    std::str::from_utf8(bytes).ok().map(Into::into)
}

/// The first protocol of an ALPN extension (a server's choice has one).
fn alpn_of(exts: &[TlsExtension<'_>]) -> Option<Box<str>> {
    exts.iter().find_map(|e| match e {
        TlsExtension::ALPN(protocols) => protocols.first().and_then(|p| text(p)),
        _ => None,
    })
}

/// Parses a ClientHello message (with its 4-byte header).
pub fn client_hello(msg: &[u8]) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let exts = ch
        .ext
        .and_then(|e| parse_tls_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    let sni = exts.iter().find_map(|e| match e {
        TlsExtension::SNI(names) => names.first().and_then(|(_, n)| text(n)),
        _ => None,
    });
    Some(ClientHello {
        random: random(ch.random)?,
        sni,
    })
}

/// Parses a ServerHello message (with its 4-byte header).
pub fn server_hello(msg: &[u8]) -> Option<ServerHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
        parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let exts = sh
        .ext
        .and_then(|e| parse_tls_server_hello_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    let tls13 = exts.iter().any(
        |e| matches!(e, TlsExtension::SupportedVersions(v) if v.iter().any(|v| v.0 == 0x0304)),
    );
    let random = random(sh.random)?;
    Some(ServerHello {
        random,
        cipher: sh.cipher.0,
        tls13,
        legacy_version: sh.version.0,
        alpn: alpn_of(&exts),
        retry: random == HELLO_RETRY_RANDOM,
    })
}

/// The ALPN protocol in a TLS 1.3 EncryptedExtensions message (with its
/// 4-byte header).
pub fn encrypted_extensions_alpn(msg: &[u8]) -> Option<Box<str>> {
    let body = msg.get(4..)?;
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let exts = body.get(2..2 + len)?;
    let (_, exts) = parse_tls_extensions(exts).ok()?;
    alpn_of(&exts)
}

/// Joins one direction's handshake bytes into whole messages.
#[derive(Debug, Default)]
pub struct Joiner {
    buf: Vec<u8>,
    /// Bytes of an oversized message still to skip.
    skip: usize,
}

impl Joiner {
    /// Adds handshake bytes; `each` gets every whole message (its type,
    /// and the message with its header). A message over [`MAX_MESSAGE`]
    /// is skipped and reported as its type with an empty slice.
    pub fn push(&mut self, data: &[u8], mut each: impl FnMut(u8, &[u8])) {
        let n = self.skip.min(data.len());
        self.skip -= n;
        let data = &data[n..];
        if data.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            self.drain(data, &mut each);
        } else {
            let mut joined = std::mem::take(&mut self.buf);
            joined.extend_from_slice(data);
            self.drain(&joined, &mut each);
        }
    }

    /// Hands out the whole messages at the start of `data`, keeps a
    /// partial one (at most MAX_MESSAGE bytes).
    fn drain(&mut self, mut data: &[u8], each: &mut impl FnMut(u8, &[u8])) {
        while !data.is_empty() {
            let Some(h) = data.get(..4) else {
                self.buf.extend_from_slice(data);
                return;
            };
            let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize + 4;
            if len > MAX_MESSAGE {
                each(h[0], &[]);
                let n = len.min(data.len());
                self.skip = len - n;
                data = &data[n..];
                continue;
            }
            if data.len() < len {
                self.buf.extend_from_slice(data);
                return;
            }
            each(h[0], &data[..len]);
            data = &data[len..];
        }
    }

    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }
}
