//! IPv6 extension headers as the capture filter sees them. libpcap's
//! `tcp`, `udp` and `port` read only the IPv6 header's own Next Header
//! (tcpdump's behaviour), so a TCP packet behind a Hop-by-Hop Options,
//! Routing or Destination Options header matches no port filter and the
//! kernel would leave it out, uncounted. The frame program passes such
//! packets unjudged (`EXTENDED`), and `FrameFilter` judges them in
//! userspace twice at most: as captured, then without those headers.

use crate::frame::LinkType;

use super::filter::ip_layout;

/// Frames whose first IPv6 header is followed by an extension header the
/// filter cannot see past (a Fragment header there is `FRAGMENTS`').
pub(super) const EXTENDED: &str = "(ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 60))";

/// Next Header values of the headers removed: Hop-by-Hop Options,
/// Routing, Destination Options.
const REMOVED: [u8; 3] = [0, 43, 60];
const FRAGMENT: u8 = 44;
/// Headers followed at most (RFC 8200 allows each once, Destination
/// Options twice).
const MAX_CHAIN: usize = 8;
const IPV6_HEADER: usize = 40;

/// What the first IP header of a frame is followed by.
#[derive(Debug, PartialEq, Eq)]
pub enum Extensions {
    /// Not IPv6 at the link's IP offset, no header to remove, or a chain
    /// that is cut short or malformed: the frame is judged as captured.
    None,
    /// A Fragment header ends the chain: the datagram is judged once
    /// reassembled (by then the Fragment header is gone).
    Fragment,
    /// The frame without its Hop-by-Hop, Routing and Destination Options
    /// headers: the IPv6 header's Next Header and Payload Length say what
    /// follows them.
    Removed(Vec<u8>),
}

/// The frame's first IPv6 header's extension chain, read as far as the
/// first header that is not one of `REMOVED`. On Ethernet, up to two VLAN
/// tags before it are removed too: live, the kernel hands tags over
/// beside the frame, so its program saw the frame without them (httpcap
/// puts them back before decoding).
pub fn extensions(link: LinkType, frame: &[u8]) -> Extensions {
    let Some((ip, ethertype)) = ip_layout(link) else {
        return Extensions::None;
    };
    let (mut ip, mut tags) = (ip as usize, 0..0);
    let is_v6 = match ethertype {
        Some(at) => {
            let mut at = at as usize;
            if link == LinkType::Ethernet {
                tags = at..at;
                while tags.len() < 8
                    && matches!(frame.get(at..at + 2), Some([0x81, 0] | [0x88, 0xa8]))
                {
                    at += 4;
                    tags.end = at;
                }
                ip += tags.len();
            }
            frame.get(at..at + 2) == Some(&[0x86, 0xdd][..])
        }
        None => frame.get(ip).is_some_and(|b| b >> 4 == 6),
    };
    let Some(header) = frame.get(ip..ip + IPV6_HEADER).filter(|_| is_v6) else {
        return Extensions::None;
    };
    let mut next = header[6];
    let mut at = ip + IPV6_HEADER;
    for _ in 0..MAX_CHAIN {
        if !REMOVED.contains(&next) {
            break;
        }
        let Some(ext) = frame.get(at..at + 2) else {
            return Extensions::None;
        };
        next = ext[0];
        at += (usize::from(ext[1]) + 1) * 8;
    }
    if at == ip + IPV6_HEADER || at > frame.len() || REMOVED.contains(&next) {
        return Extensions::None;
    }
    if next == FRAGMENT {
        return Extensions::Fragment;
    }
    let removed = at - (ip + IPV6_HEADER);
    let payload = u16::from_be_bytes([header[4], header[5]]);
    // A jumbogram (Payload Length 0) or a length shorter than its own
    // headers: not a packet the filter would judge differently.
    let Some(payload) = payload.checked_sub(removed as u16).filter(|_| payload != 0) else {
        return Extensions::None;
    };
    let mut out = Vec::with_capacity(frame.len() - removed - tags.len());
    out.extend_from_slice(&frame[..tags.start]);
    out.extend_from_slice(&frame[tags.end..ip + IPV6_HEADER]);
    out.extend_from_slice(&frame[at..]);
    let ip = ip - tags.len();
    out[ip + 4..ip + 6].copy_from_slice(&payload.to_be_bytes());
    out[ip + 6] = next;
    Extensions::Removed(out)
}
