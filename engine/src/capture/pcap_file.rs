//! Recorded captures: pcap (either byte order, micro- or nanosecond
//! timestamps) and pcapng (several interfaces, EPB and SPB blocks), read
//! with the pcap-file crate.

use std::fs::File;
use std::io::{BufReader, Read};

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::TsResolution;

use super::{LinkType, Packet};

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}: cannot open: {1}")]
    Open(String, #[source] std::io::Error),
    #[error("{0}: not a readable pcap or pcapng file: {1}")]
    Format(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}: unsupported link type {1} (supported: Ethernet, Linux cooked v1/v2, raw IPv4/IPv6, BSD loopback, NFLOG)")]
    UnknownLinkType(String, u32),
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads every packet of one capture file in order and hands it to `on_packet`.
/// Returns the number of packets read. A truncated last record ends the file
/// quietly (captures cut by a full disk are common); other damage is an error.
/// Generic over `on_packet` so the per-packet call is inlined into the
/// read loop (callgrind: a `dyn FnMut` cost the reader ~15 instructions
/// per transaction).
pub fn read_file<F: FnMut(Packet<'_>)>(path: &str, mut on_packet: F) -> Result<u64, FileError> {
    let file = File::open(path).map_err(|e| FileError::Open(path.into(), e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| FileError::Format(path.into(), e.into()))?;
    let chained = std::io::Cursor::new(magic).chain(reader);
    if magic == PCAPNG_MAGIC {
        read_pcapng(path, chained, &mut on_packet)
    } else {
        read_pcap(path, chained, &mut on_packet)
    }
}

fn read_pcap<R: Read, F: FnMut(Packet<'_>)>(
    path: &str,
    r: R,
    on_packet: &mut F,
) -> Result<u64, FileError> {
    let mut reader = PcapReader::new(r).map_err(|e| FileError::Format(path.into(), e.into()))?;
    let dl: u32 = reader.header().datalink.into();
    let link =
        LinkType::from_linktype(dl).ok_or_else(|| FileError::UnknownLinkType(path.into(), dl))?;
    let header = reader.header();
    let frac_ns = match header.ts_resolution {
        TsResolution::MicroSecond => 1000,
        TsResolution::NanoSecond => 1,
    };
    let mut n = 0;
    // Raw records with next_packet's checks done here: its Duration round
    // trip cost the reader ~8 instructions a packet. A record that fails
    // them ends the file, as next_packet's error did.
    while let Some(pkt) = reader.next_raw_packet() {
        let Ok(pkt) = pkt else { break };
        let Some(nsec) = pkt.ts_frac.checked_mul(frac_ns) else {
            break;
        };
        if nsec >= 1_000_000_000
            || pkt.incl_len > header.snaplen
            || pkt.orig_len > header.snaplen
            || pkt.incl_len > pkt.orig_len
        {
            break;
        }
        n += 1;
        on_packet(Packet {
            ts_ns: u64::from(pkt.ts_sec) * 1_000_000_000 + u64::from(nsec),
            link,
            data: &pkt.data,
        });
    }
    Ok(n)
}

/// Per-interface state from its Interface Description Block.
struct Interface {
    link: Option<LinkType>,
    raw_linktype: u32,
    snaplen: u32,
    /// Timestamp units per second (if_tsresol; microseconds by default).
    units_per_sec: u64,
}

fn units_per_sec(tsresol: u8) -> u64 {
    let exp = (tsresol & 0x7f) as u32;
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp).unwrap_or(1_000_000)
    } else {
        1u64.checked_shl(exp).unwrap_or(1_000_000)
    }
}

fn to_ns(ticks: u64, units: u64) -> u64 {
    if units == 1_000_000_000 {
        ticks
    } else {
        ((ticks as u128) * 1_000_000_000 / units.max(1) as u128) as u64
    }
}

fn read_pcapng<R: Read, F: FnMut(Packet<'_>)>(
    path: &str,
    r: R,
    on_packet: &mut F,
) -> Result<u64, FileError> {
    let mut reader = PcapNgReader::new(r).map_err(|e| FileError::Format(path.into(), e.into()))?;
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut last_ts = 0u64;
    let mut n = 0;
    while let Some(block) = reader.next_block() {
        let Ok(block) = block else { break };
        match block {
            Block::SectionHeader(_) => ifaces.clear(),
            Block::InterfaceDescription(idb) => {
                let raw: u32 = idb.linktype.into();
                let mut units = 1_000_000;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(r) = opt {
                        units = units_per_sec(*r);
                    }
                }
                ifaces.push(Interface {
                    link: LinkType::from_linktype(raw),
                    raw_linktype: raw,
                    snaplen: idb.snaplen,
                    units_per_sec: units,
                });
            }
            Block::EnhancedPacket(epb) => {
                let Some(iface) = ifaces.get(epb.interface_id as usize) else {
                    continue;
                };
                let link = iface
                    .link
                    .ok_or_else(|| FileError::UnknownLinkType(path.into(), iface.raw_linktype))?;
                // pcap-file hands back the raw 64-bit tick count as "nanoseconds".
                last_ts = to_ns(epb.timestamp.as_nanos() as u64, iface.units_per_sec);
                n += 1;
                on_packet(Packet {
                    ts_ns: last_ts,
                    link,
                    data: &epb.data,
                });
            }
            Block::SimplePacket(spb) => {
                // SPBs belong to interface 0 and carry no timestamp.
                let Some(iface) = ifaces.first() else {
                    continue;
                };
                let link = iface
                    .link
                    .ok_or_else(|| FileError::UnknownLinkType(path.into(), iface.raw_linktype))?;
                // The block's data is padded to 4 bytes and carries no
                // captured length: it is the original length, cut at the
                // interface's snap length.
                let mut len = (spb.original_len as usize).min(spb.data.len());
                if iface.snaplen > 0 {
                    len = len.min(iface.snaplen as usize);
                }
                n += 1;
                on_packet(Packet {
                    ts_ns: last_ts,
                    link,
                    data: &spb.data[..len],
                });
            }
            _ => {}
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::borrow::Cow;
    use std::time::Duration;

    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::{DataLink, Endianness};

    fn temp(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("httpcap-pcap-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name).to_string_lossy().into_owned()
    }

    fn read_all(path: &str) -> Vec<(u64, LinkType, Vec<u8>)> {
        let mut out = Vec::new();
        read_file(path, |p| out.push((p.ts_ns, p.link, p.data.to_vec()))).unwrap();
        out
    }

    #[test]
    fn pcap_nanosecond_both_byte_orders() {
        for endianness in [Endianness::Big, Endianness::Little] {
            for (res, ts) in [
                (
                    TsResolution::NanoSecond,
                    Duration::new(1_700_000_000, 123_456_789),
                ),
                (
                    TsResolution::MicroSecond,
                    Duration::new(1_700_000_000, 123_456_000),
                ),
            ] {
                let path = temp(&format!("ts-{endianness:?}-{res:?}.pcap"));
                let header = PcapHeader {
                    datalink: DataLink::LINUX_SLL2,
                    ts_resolution: res,
                    endianness,
                    ..Default::default()
                };
                let f = File::create(&path).unwrap();
                let mut w = PcapWriter::with_header(f, header).unwrap();
                w.write_packet(&PcapPacket::new(ts, 3, b"abc")).unwrap();
                drop(w);
                let got = read_all(&path);
                assert_eq!(
                    got,
                    vec![(ts.as_nanos() as u64, LinkType::LinuxSll2, b"abc".to_vec())]
                );
            }
        }
    }

    #[test]
    fn pcapng_several_interfaces() {
        let path = temp("multi.pcapng");
        let f = File::create(&path).unwrap();
        let mut w = PcapNgWriter::new(f).unwrap();
        // Interface 0: Ethernet, microseconds (the default resolution).
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 65535,
            options: vec![],
        })
        .unwrap();
        // Interface 1: raw IP, nanoseconds.
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 65535,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })
        .unwrap();
        // Timestamps are written as raw ticks in the interface's unit.
        let epb = |iface: u32, ticks: u64, data: &'static [u8]| EnhancedPacketBlock {
            interface_id: iface,
            timestamp: Duration::from_nanos(ticks),
            original_len: data.len() as u32,
            data: Cow::Borrowed(data),
            options: vec![],
        };
        w.write_pcapng_block(epb(0, 1_700_000_000_000_001, b"eth"))
            .unwrap();
        w.write_pcapng_block(epb(1, 1_700_000_000_000_000_002, b"raw"))
            .unwrap();
        w.write_pcapng_block(SimplePacketBlock {
            original_len: 3,
            data: Cow::Borrowed(b"spb"),
        })
        .unwrap();
        drop(w);
        let got = read_all(&path);
        assert_eq!(
            got,
            vec![
                (
                    1_700_000_000_000_001_000,
                    LinkType::Ethernet,
                    b"eth".to_vec()
                ),
                (1_700_000_000_000_000_002, LinkType::RawIp, b"raw".to_vec()),
                // An SPB has no timestamp: it takes the last one seen.
                (
                    1_700_000_000_000_000_002,
                    LinkType::Ethernet,
                    b"spb".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn unknown_link_type_is_a_clear_error() {
        let path = temp("unknown.pcap");
        let header = PcapHeader {
            datalink: DataLink::IEEE802_11,
            ..Default::default()
        };
        let mut w = PcapWriter::with_header(File::create(&path).unwrap(), header).unwrap();
        w.write_packet(&PcapPacket::new(Duration::ZERO, 1, b"x"))
            .unwrap();
        drop(w);
        let err = read_file(&path, |_| {}).unwrap_err();
        assert!(matches!(err, FileError::UnknownLinkType(_, 105)), "{err}");
    }

    #[test]
    fn truncated_last_record_ends_quietly() {
        let path = temp("cut.pcap");
        let mut w = PcapWriter::new(File::create(&path).unwrap()).unwrap();
        for _ in 0..3 {
            w.write_packet(&PcapPacket::new(Duration::ZERO, 10, &[0; 10]))
                .unwrap();
        }
        drop(w);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 4).unwrap();
        assert_eq!(read_all(&path).len(), 2);
    }

    #[test]
    fn tsresol_units() {
        assert_eq!(units_per_sec(6), 1_000_000);
        assert_eq!(units_per_sec(9), 1_000_000_000);
        assert_eq!(units_per_sec(0x80 | 10), 1024);
        assert_eq!(to_ns(1_500_000, 1_000_000), 1_500_000_000);
    }
}
