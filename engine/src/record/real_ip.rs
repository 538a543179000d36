//! The client behind proxies: the address a request header names
//! (REAL_IP_HEADER). Lists (X-Forwarded-For, Forwarded) yield their
//! left-most valid address, the one the first proxy saw.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::http::Head;

/// The real client address of a request, by header name (any case).
/// Every field of that name counts, in order, as one list.
pub fn real_ip(head: &Head, header: &str) -> Option<IpAddr> {
    if header.is_empty() {
        return None;
    }
    let forwarded = header.eq_ignore_ascii_case("forwarded");
    head.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(header.as_bytes()))
        .flat_map(|(_, v)| v.split(|b| *b == b','))
        .find_map(|item| {
            let s = std::str::from_utf8(item).ok()?;
            if forwarded {
                forwarded_for(s)
            } else {
                parse_addr(s)
            }
        })
}

/// The `for=` parameter of one Forwarded element (RFC 7239):
/// `for=192.0.2.60;proto=http`, `For="[2001:db8::1]:4711"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("for") {
            parse_addr(v)
        } else {
            None
        }
    })
}

/// An address as proxies write it: bare, quoted, with a port, IPv6 in
/// brackets (with or without a port), or with a zone. Anything else
/// ("unknown", obfuscated "_hidden" names, host names) is not an address.
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"').trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(ip) = dotted_decimal(s) {
        return Some(IpAddr::V4(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    // "[2001:db8::1]" or "[2001:db8::1]:port" with a port SocketAddr rejects.
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, _) = rest.split_once(']')?;
        return strip_zone(inner);
    }
    // "192.0.2.1:80" with an odd port, or a zone: "fe80::1%eth0".
    if let Some((host, port)) = s.rsplit_once(':') {
        if host.contains('.') && !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) {
            return dotted_decimal(host).map(IpAddr::V4);
        }
    }
    strip_zone(s)
}

/// IPv4 with leading zeros read as decimal ("10.000.000.03"), as nginx
/// reads them; the standard parser rejects them as possibly octal.
fn dotted_decimal(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u8; 4];
    let mut n = 0;
    for p in s.split('.') {
        if n == 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[n] = p.parse::<u16>().ok()?.try_into().ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(parts))
}

fn strip_zone(s: &str) -> Option<IpAddr> {
    let addr = s.split('%').next()?;
    addr.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .ok()
        .or_else(|| addr.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &str) -> Head {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
        Head::parse(raw.as_bytes(), true).expect("valid head")
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn x_real_ip() {
        let h = head("X-Real-IP: 203.0.113.7\r\n");
        assert_eq!(real_ip(&h, "x-real-ip"), ip("203.0.113.7"));
        assert_eq!(real_ip(&h, "X-REAL-IP"), ip("203.0.113.7"));
        assert_eq!(real_ip(&h, "x-forwarded-for"), None);
        assert_eq!(real_ip(&h, ""), None);
    }

    #[test]
    fn forwarded_for_single_and_multi_hop() {
        let h = head("X-Forwarded-For: 198.51.100.9\r\n");
        assert_eq!(real_ip(&h, "x-forwarded-for"), ip("198.51.100.9"));
        let h = head("X-Forwarded-For: 203.0.113.7, 198.51.100.1,10.0.0.1\r\n");
        assert_eq!(real_ip(&h, "x-forwarded-for"), ip("203.0.113.7"));
        // Repeated fields form one list, in order.
        let h = head("X-Forwarded-For: 203.0.113.8\r\nX-Forwarded-For: 10.0.0.1\r\n");
        assert_eq!(real_ip(&h, "x-forwarded-for"), ip("203.0.113.8"));
        // Left-most *valid*: junk and "unknown" are skipped.
        let h = head("X-Forwarded-For: unknown, garbage!, 203.0.113.9:4711, 10.0.0.1\r\n");
        assert_eq!(real_ip(&h, "x-forwarded-for"), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_header() {
        let h = head("Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n");
        assert_eq!(real_ip(&h, "forwarded"), ip("192.0.2.60"));
        let h = head("Forwarded: For=\"[2001:db8:cafe::17]:4711\", for=192.0.2.61\r\n");
        assert_eq!(real_ip(&h, "Forwarded"), ip("2001:db8:cafe::17"));
        let h = head("Forwarded: for=_hidden, for=unknown;proto=https, for=198.51.100.17\r\n");
        assert_eq!(real_ip(&h, "forwarded"), ip("198.51.100.17"));
        let h = head("Forwarded: proto=https;by=10.0.0.1\r\n");
        assert_eq!(real_ip(&h, "forwarded"), None);
    }

    #[test]
    fn ipv6_forms() {
        for (v, want) in [
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:8080", "2001:db8::1"),
            ("\"[2001:DB8::1]\"", "2001:db8::1"),
            ("fe80::1%eth0", "fe80::1"),
            ("[fe80::1%25eth0]:443", "fe80::1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("10.000.000.03", "10.0.0.3"),
            ("010.1.1.1:8080", "10.1.1.1"),
        ] {
            assert_eq!(parse_addr(v), ip(want), "{v}");
        }
        let h = head("X-Real-IP: [2001:db8::7]:1234\r\n");
        assert_eq!(real_ip(&h, "x-real-ip"), ip("2001:db8::7"));
    }

    #[test]
    fn garbage() {
        for v in [
            "",
            "unknown",
            "_hidden",
            "example.com",
            "300.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "[1.2.3.4",
            "::g",
            "1.2.3.4:port",
            "1.2.3.0004",
            "1.2.3.256",
            "\u{0}\u{1}",
        ] {
            assert_eq!(parse_addr(v), None, "{v:?}");
        }
        let h = head("X-Real-IP: not-an-ip\r\n");
        assert_eq!(real_ip(&h, "x-real-ip"), None);
        // Invalid UTF-8 in the value.
        let raw = b"GET / HTTP/1.1\r\nX-Real-IP: \xff\xfe\r\n\r\n";
        let h = Head::parse(raw, true).expect("valid head");
        assert_eq!(real_ip(&h, "x-real-ip"), None);
    }
}
