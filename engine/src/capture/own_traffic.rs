//! httpcap's own listeners are not traffic to capture: a Prometheus
//! server scraping `/metrics` and `/health` would otherwise come back as
//! records. Their TCP traffic is excluded from the capture filter, so every
//! engine drops it where it drops what INPUT_RAW_BPF_FILTER excludes: in
//! the kernel (af_packet, pcap) or in userspace (files, af_xdp).

use std::net::SocketAddr;

/// tcpdump syntax for TCP traffic to or from `listener`: on its address,
/// or on any address when it is bound to all of them (0.0.0.0, ::).
pub fn listener_traffic(listener: SocketAddr) -> String {
    let port = listener.port();
    let ip = listener.ip();
    if ip.is_unspecified() {
        format!("tcp port {port}")
    } else {
        format!(
            "(src host {ip} and tcp src port {port}) or (dst host {ip} and tcp dst port {port})"
        )
    }
}

/// The filter every engine runs: INPUT_RAW_BPF_FILTER (empty: none) and
/// not the traffic of `own` listeners.
pub fn capture_filter(user: &str, own: impl IntoIterator<Item = SocketAddr>) -> String {
    let user = user.trim();
    let exclusions: Vec<String> = own
        .into_iter()
        .map(|l| format!("not ({})", listener_traffic(l)))
        .collect();
    if exclusions.is_empty() {
        return user.to_string();
    }
    let own = exclusions.join(" and ");
    if user.is_empty() {
        own
    } else {
        format!("({user}) and {own}")
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::bpf::{build, FrameFilter};
    use crate::capture::testpkt::tcp_frame;
    use crate::capture::LinkType;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn no_listener_leaves_the_filter_alone() {
        assert_eq!(capture_filter(" tcp port 80 ", None), "tcp port 80");
        assert_eq!(capture_filter("", None), "");
    }

    #[test]
    fn a_listener_on_one_address_is_excluded_there_only() {
        let f = capture_filter("", Some(addr("10.0.0.1:9100")));
        let mut filter = FrameFilter::new(&f, false).unwrap();
        let mut passes = |src, sport, dst, dport| {
            filter.accepts(
                LinkType::Ethernet,
                &tcp_frame(ip(src), sport, ip(dst), dport),
            )
        };
        // A scrape and its answer.
        assert!(!passes("10.0.0.2", 40000, "10.0.0.1", 9100));
        assert!(!passes("10.0.0.1", 9100, "10.0.0.2", 40000));
        // The same port elsewhere, other ports here, and a client whose
        // own port happens to be the listener's, are captured.
        assert!(passes("10.0.0.2", 40000, "10.0.0.3", 9100));
        assert!(passes("10.0.0.2", 40000, "10.0.0.1", 80));
        assert!(passes("10.0.0.2", 9100, "10.0.0.1", 80));
        assert!(passes("10.0.0.1", 80, "10.0.0.2", 9100));
    }

    #[test]
    fn a_wildcard_listener_is_excluded_on_every_address() {
        for any in ["0.0.0.0:9100", "[::]:9100"] {
            let f = capture_filter("tcp", Some(addr(any)));
            let mut filter = FrameFilter::new(&f, false).unwrap();
            for (src, dst) in [("10.0.0.2", "10.0.0.1"), ("fd00::2", "fd00::1")] {
                let scrape = tcp_frame(ip(src), 40000, ip(dst), 9100);
                let answer = tcp_frame(ip(dst), 9100, ip(src), 40000);
                let other = tcp_frame(ip(src), 40000, ip(dst), 80);
                assert!(!filter.accepts(LinkType::Ethernet, &scrape), "{any}");
                assert!(!filter.accepts(LinkType::Ethernet, &answer), "{any}");
                assert!(filter.accepts(LinkType::Ethernet, &other), "{any}");
            }
        }
    }

    #[test]
    fn the_user_filter_still_applies_and_ipv6_addresses_compile() {
        let f = capture_filter("not host 10.9.9.9", Some(addr("[fd00::1]:9100")));
        assert_eq!(
            f,
            "(not host 10.9.9.9) and not ((src host fd00::1 and tcp src port 9100) or (dst host fd00::1 and tcp dst port 9100))"
        );
        let mut filter = FrameFilter::new(&f, true).unwrap();
        let blocked = tcp_frame(ip("10.9.9.9"), 40000, ip("10.0.0.1"), 80);
        let scrape = tcp_frame(ip("fd00::2"), 40000, ip("fd00::1"), 9100);
        let other = tcp_frame(ip("fd00::2"), 40000, ip("fd00::1"), 80);
        assert!(!filter.accepts(LinkType::Ethernet, &blocked));
        assert!(!filter.accepts(LinkType::Ethernet, &scrape));
        assert!(filter.accepts(LinkType::Ethernet, &other));
        // The kernel filter is built from the same expression.
        for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll] {
            assert!(build(&f, link, true).is_ok(), "{link:?}");
        }
    }
}
