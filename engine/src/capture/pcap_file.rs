//! Recorded captures: pcap (either byte order, micro- or nanosecond
//! timestamps; read by `pcap_classic`, which steps over damaged record
//! headers) and pcapng (several interfaces; enhanced, simple and the
//! obsolete original packet blocks; read with the pcap-file crate).
//!
//! Frames cut at the capture's snap length are handed on as far as they
//! go and counted (`capture_truncated`); damaged records, and a last
//! record cut short by the end of the file (a capture still being written,
//! or a copy cut off), are counted (`capture_bad_records`) and logged once
//! per file.

use std::fs::File;
use std::io::Read;

use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, PcapError};

use super::pcap_classic::{parse_file_header, ClassicError, ClassicReader, Next};
use super::pcapng_blocks::BlockReader;
use super::{LinkType, Packet};
use crate::stats::{Counter, ShardStats};

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}: cannot open: {1}")]
    Open(String, #[source] std::io::Error),
    #[error("{0}: not a readable pcap or pcapng file: {1}")]
    Format(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}: unsupported link type {1} (supported: Ethernet, Linux cooked v1/v2, raw IPv4/IPv6, BSD loopback, NFLOG)")]
    UnknownLinkType(String, u32),
    /// Damage the reader could not step over: the rest of the file is lost.
    #[error("{0}: {1}; the rest of the file is lost")]
    Damaged(String, String),
    /// The file could not be read on (an I/O error mid-file).
    #[error("{0}: read error after {1} packets: {2}")]
    Read(String, u64, #[source] std::io::Error),
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Opens `path` and reads its first four bytes.
fn open(path: &str) -> Result<(File, [u8; 4]), FileError> {
    // No BufReader: both readers buffer for themselves, and reading
    // through one more buffer copied every byte once more.
    let mut file = File::open(path).map_err(|e| FileError::Open(path.into(), e))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|e| FileError::Format(path.into(), e.into()))?;
    Ok((file, magic))
}

/// Checks, without reading its packets, that `path` is a capture httpcap
/// can read: it opens, its header parses, and (pcap) its link type is
/// supported. Run on every input file before any is read, so a bad file
/// late in the list cannot end a run half way.
///
/// Only regular files are read ahead: a FIFO (or a device) would lose the
/// bytes the check consumed and its writer would see the pipe close, so
/// such an input is only checked to exist; its header is checked when it
/// is read.
pub fn check_file(path: &str) -> Result<(), FileError> {
    let meta = std::fs::metadata(path).map_err(|e| FileError::Open(path.into(), e))?;
    if !meta.is_file() {
        return Ok(());
    }
    // Only the head is read, into a small buffer: the readers' own
    // buffers are not made (and zeroed) twice per file.
    let (reader, magic) = open(path)?;
    // Room for the whole head up front: grown from four bytes it was
    // reallocated (and its new room zeroed) a dozen times per file.
    let mut head = Vec::with_capacity(CHECK_BYTES);
    head.extend_from_slice(&magic);
    reader
        .take(CHECK_BYTES as u64 - 4)
        .read_to_end(&mut head)
        .map_err(|e| FileError::Read(path.into(), 0, e))?;
    if magic == PCAPNG_MAGIC {
        return match PcapNgParser::new(&head) {
            Ok(_) => Ok(()),
            // A section header longer than this is checked when read.
            Err(PcapError::IncompleteBuffer) if head.len() == CHECK_BYTES => Ok(()),
            Err(PcapError::IncompleteBuffer) => Err(FileError::Format(
                path.into(),
                "pcapng section header cut short".into(),
            )),
            Err(e) => Err(FileError::Format(path.into(), e.into())),
        };
    }
    if head.len() < 24 {
        return Err(classic_error(path, 0, ClassicError::ShortHeader));
    }
    let dl = parse_file_header(&head)
        .map_err(|e| classic_error(path, 0, e))?
        .linktype;
    LinkType::from_linktype(dl).ok_or_else(|| FileError::UnknownLinkType(path.into(), dl))?;
    Ok(())
}

/// How much of a file's head `check_file` reads: a pcap file header, or a
/// pcapng section header with its options.
const CHECK_BYTES: usize = 64 << 10;

/// Reads every packet of one capture file in order and hands it to `on_packet`.
/// Returns the number of packets read. A truncated last record ends the file
/// quietly (captures cut by a full disk are common); a damaged record is
/// counted in `stats` and skipped where the format allows, else an error.
/// Generic over `on_packet` so the per-packet call is inlined into the
/// read loop (callgrind: a `dyn FnMut` cost the reader ~15 instructions
/// per transaction).
pub fn read_file<F: FnMut(Packet<'_>)>(
    path: &str,
    stats: &ShardStats,
    mut on_packet: F,
) -> Result<u64, FileError> {
    let (reader, magic) = open(path)?;
    let chained = std::io::Cursor::new(magic).chain(reader);
    if magic == PCAPNG_MAGIC {
        read_pcapng(path, chained, stats, &mut on_packet)
    } else {
        read_pcap(path, chained, stats, &mut on_packet)
    }
}

fn classic_error(path: &str, packets: u64, e: ClassicError) -> FileError {
    match e {
        ClassicError::Io(e) => FileError::Read(path.into(), packets, e),
        ClassicError::Unrecoverable(_) => FileError::Damaged(path.into(), e.to_string()),
        other => FileError::Format(path.into(), other.into()),
    }
}

fn read_pcap<R: Read, F: FnMut(Packet<'_>)>(
    path: &str,
    r: R,
    stats: &ShardStats,
    on_packet: &mut F,
) -> Result<u64, FileError> {
    let mut reader = ClassicReader::new(r).map_err(|e| classic_error(path, 0, e))?;
    let dl = reader.header().linktype;
    let link =
        LinkType::from_linktype(dl).ok_or_else(|| FileError::UnknownLinkType(path.into(), dl))?;
    let mut n = 0;
    let mut damaged = 0u64;
    loop {
        let next = match reader.next_record() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => {
                if matches!(e, ClassicError::Unrecoverable(_)) {
                    stats.add_shared(Counter::CaptureBadRecords, 1);
                }
                return Err(classic_error(path, n, e));
            }
        };
        match next {
            Next::Record(rec) => {
                if rec.orig_len as usize > rec.data.len() {
                    // Cut at the snap length: what there is still counts.
                    stats.add_shared(Counter::CaptureTruncated, 1);
                }
                n += 1;
                on_packet(Packet {
                    ts_ns: rec.ts_ns,
                    link,
                    data: rec.data,
                });
            }
            Next::Skipped { offset, skipped } => {
                stats.add_shared(Counter::CaptureBadRecords, 1);
                damaged += 1;
                if damaged == 1 {
                    tracing::warn!(
                        target: "loss",
                        "{path}: damaged record header at byte {offset} (after {n} packets): skipped {skipped} bytes to the next plausible record"
                    );
                }
            }
        }
    }
    if damaged > 1 {
        tracing::warn!(target: "loss", "{path}: {damaged} damaged records skipped in all");
    }
    if reader.cut_tail {
        cut_tail(path, n, stats);
    }
    Ok(n)
}

/// The file ends inside a record: that packet is lost.
fn cut_tail(path: &str, packets: u64, stats: &ShardStats) {
    stats.add_shared(Counter::CaptureBadRecords, 1);
    tracing::warn!(target: "loss", "{path}: the last record (after {packets} packets) is cut short by the end of the file: skipped");
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

/// The reader's error at a block: a block cut by the end of the file ends
/// it (counted, as in pcap: None); an I/O error or a damaged block (whose
/// length cannot be trusted, so nothing after it can be found) is an error.
fn pcapng_error(path: &str, packets: u64, e: PcapError) -> Option<FileError> {
    match e {
        PcapError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
        PcapError::IoError(e) => Some(FileError::Read(path.into(), packets, e)),
        other => Some(FileError::Damaged(
            path.into(),
            format!("damaged pcapng block after {packets} packets: {other}"),
        )),
    }
}

fn read_pcapng<R: Read, F: FnMut(Packet<'_>)>(
    path: &str,
    r: R,
    stats: &ShardStats,
    on_packet: &mut F,
) -> Result<u64, FileError> {
    let mut reader = BlockReader::new(r).map_err(|e| FileError::Format(path.into(), e.into()))?;
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut last_ts = 0u64;
    // The reader takes the first section header in; later ones come as blocks.
    let mut little_endian = reader.section().endianness == Endianness::Little;
    let mut n = 0;
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(b) => b,
            Err(e) => match pcapng_error(path, n, e) {
                None => {
                    cut_tail(path, n, stats);
                    break;
                }
                Some(err) => {
                    if matches!(err, FileError::Damaged(..)) {
                        stats.add_shared(Counter::CaptureBadRecords, 1);
                    }
                    return Err(err);
                }
            },
        };
        if let Some((id, ticks, original_len, data)) = timed_packet(&block, little_endian) {
            let Some(link) = packet_link(path, &ifaces, id, stats)? else {
                continue;
            };
            last_ts = to_ns(ticks, ifaces[id].units_per_sec);
            if original_len as usize > data.len() {
                stats.add_shared(Counter::CaptureTruncated, 1);
            }
            n += 1;
            on_packet(Packet {
                ts_ns: last_ts,
                link,
                data,
            });
            continue;
        }
        match block {
            Block::SectionHeader(shb) => {
                ifaces.clear();
                little_endian = shb.endianness == Endianness::Little;
            }
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
            Block::SimplePacket(spb) => {
                // SPBs belong to interface 0 and carry no timestamp.
                let Some(link) = packet_link(path, &ifaces, 0, stats)? else {
                    continue;
                };
                // The block's data is padded to 4 bytes and carries no
                // captured length: it is the original length, cut at the
                // interface's snap length.
                let mut len = (spb.original_len as usize).min(spb.data.len());
                if ifaces[0].snaplen > 0 {
                    len = len.min(ifaces[0].snaplen as usize);
                }
                if (spb.original_len as usize) > len {
                    stats.add_shared(Counter::CaptureTruncated, 1);
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

/// A packet block with a timestamp, enhanced or the obsolete original:
/// (interface, timestamp ticks, original length, data).
fn timed_packet<'b>(
    block: &'b Block<'_>,
    little_endian: bool,
) -> Option<(usize, u64, u32, &'b [u8])> {
    match block {
        // pcap-file hands back the raw 64-bit tick count as "nanoseconds".
        Block::EnhancedPacket(epb) => Some((
            epb.interface_id as usize,
            epb.timestamp.as_nanos() as u64,
            epb.original_len,
            &epb.data,
        )),
        // The original packet block's timestamp is two 32-bit words, high
        // first, which pcap-file reads as one u64 in the section's byte
        // order: in little-endian files the words come out swapped.
        Block::Packet(pb) => Some((
            pb.interface_id as usize,
            if little_endian {
                pb.timestamp.rotate_left(32)
            } else {
                pb.timestamp
            },
            pb.original_len,
            &pb.data,
        )),
        _ => None,
    }
}

/// The link type of a packet of interface `id`; None (counted) when no
/// such interface was described, so the packet cannot be read.
fn packet_link(
    path: &str,
    ifaces: &[Interface],
    id: usize,
    stats: &ShardStats,
) -> Result<Option<LinkType>, FileError> {
    let Some(iface) = ifaces.get(id) else {
        stats.add_shared(Counter::CaptureBadRecords, 1);
        return Ok(None);
    };
    iface
        .link
        .map(Some)
        .ok_or_else(|| FileError::UnknownLinkType(path.into(), iface.raw_linktype))
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
    use pcap_file::{DataLink, Endianness, TsResolution};

    fn temp(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("httpcap-pcap-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name).to_string_lossy().into_owned()
    }

    fn read_all(path: &str) -> Vec<(u64, LinkType, Vec<u8>)> {
        let mut out = Vec::new();
        let stats = ShardStats::default();
        read_file(path, &stats, |p| {
            out.push((p.ts_ns, p.link, p.data.to_vec()))
        })
        .unwrap();
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

    /// A small capture of each format: a classic pcap and a pcapng with
    /// two sections (the second big-endian), packets of several sizes.
    fn sample_captures() -> [Vec<u8>; 2] {
        let sizes = [60usize, 1_500, 70_000, 90];
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![i as u8; n])
            .collect();
        let recs: Vec<(u32, &[u8], u32)> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (1_700_000_000 + i as u32, &f[..], f.len() as u32))
            .collect();
        let classic = raw_pcap(0, &recs);
        let mut ng = crate::capture::pcapng_blocks::tests::capture(Endianness::Little, &sizes);
        ng.extend(crate::capture::pcapng_blocks::tests::capture(
            Endianness::Big,
            &sizes,
        ));
        [classic, ng]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// Damaged captures of either format (bytes overwritten, the file
        /// cut anywhere) are read to an end or a typed error, never a
        /// panic or a hang, and give no more packets than the file holds.
        #[test]
        fn damaged_captures_end_in_packets_or_an_error(
            format in 0usize..2,
            damage in proptest::collection::vec((0usize..200_000, proptest::prelude::any::<u8>()), 0..12),
            cut in 0usize..200_000,
        ) {
            let mut bytes = sample_captures()[format].clone();
            let len = bytes.len();
            for (at, b) in damage {
                bytes[at % len] = b;
            }
            bytes.truncate(cut.max(4) % (len + 1));
            let stats = ShardStats::default();
            let mut packets = 0usize;
            let src = std::io::Cursor::new(bytes.clone());
            let path = "damaged";
            let _ = if format == 0 {
                read_pcap(path, src, &stats, &mut |_| packets += 1)
            } else {
                read_pcapng(path, src, &stats, &mut |_| packets += 1)
            };
            proptest::prop_assert!(packets <= 8);
            let _ = check_file_bytes(&bytes);
        }
    }

    /// check_file on bytes (written to a file first).
    fn check_file_bytes(bytes: &[u8]) -> Result<(), FileError> {
        let path = temp("check-damaged.cap");
        std::fs::write(&path, bytes).unwrap();
        check_file(&path)
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
        let err = read_file(&path, &ShardStats::default(), |_| {}).unwrap_err();
        assert!(matches!(err, FileError::UnknownLinkType(_, 105)), "{err}");
    }

    /// Cuts the last `by` bytes off a file.
    fn cut(path: &str, by: u64) {
        let len = std::fs::metadata(path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len - by).unwrap();
    }

    #[test]
    fn a_last_record_cut_by_the_end_of_the_file_is_counted() {
        let path = temp("cut.pcap");
        let mut w = PcapWriter::new(File::create(&path).unwrap()).unwrap();
        for _ in 0..3 {
            w.write_packet(&PcapPacket::new(Duration::ZERO, 10, &[0; 10]))
                .unwrap();
        }
        drop(w);
        let (r, out, stats) = read_counted(&path);
        assert_eq!((r.unwrap(), out.len()), (3, 3));
        assert_eq!(stats.get(Counter::CaptureBadRecords), 0);
        // Into the last record's data, then into its header.
        for by in [4, 26 - 16 + 4] {
            cut(&path, by);
            let (r, out, stats) = read_counted(&path);
            assert_eq!((r.unwrap(), out.len()), (2, 2), "cut by {by}");
            assert_eq!(stats.get(Counter::CaptureBadRecords), 1, "cut by {by}");
        }
    }

    #[test]
    fn pcapng_a_last_block_cut_by_the_end_of_the_file_is_counted() {
        let path = temp("cut-block.pcapng");
        let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
        for _ in 0..2 {
            w.write_pcapng_block(SimplePacketBlock {
                original_len: 8,
                data: Cow::Borrowed(&[5u8; 8]),
            })
            .unwrap();
        }
        drop(w);
        cut(&path, 4);
        let (r, out, stats) = read_counted(&path);
        assert_eq!((r.unwrap(), out.len()), (1, 1));
        assert_eq!(stats.get(Counter::CaptureBadRecords), 1);
    }

    /// A pcapng file by hand in either byte order: a section header, an
    /// Ethernet interface in microseconds, and one obsolete original
    /// packet block (type 2) with the given timestamp ticks.
    fn pcapng_with_packet_block(big_endian: bool, ticks: u64, data: &[u8]) -> Vec<u8> {
        let w32 = |b: &mut Vec<u8>, v: u32| {
            b.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let w16 = |b: &mut Vec<u8>, v: u16| {
            b.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let mut b = Vec::new();
        // Section header: type, length, byte-order magic, version 1.0,
        // section length unknown (-1), length.
        b.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
        w32(&mut b, 28);
        w32(&mut b, 0x1a2b_3c4d);
        w16(&mut b, 1);
        w16(&mut b, 0);
        b.extend_from_slice(&[0xff; 8]);
        w32(&mut b, 28);
        // Interface description: Ethernet, no snap length.
        w32(&mut b, 1);
        w32(&mut b, 20);
        w16(&mut b, 1);
        w16(&mut b, 0);
        w32(&mut b, 0);
        w32(&mut b, 20);
        // Original packet block: interface 0, no drops, timestamp high
        // word then low word, lengths, padded data.
        let padded = data.len().div_ceil(4) * 4;
        let len = 32 + padded as u32;
        w32(&mut b, 2);
        w32(&mut b, len);
        w16(&mut b, 0);
        w16(&mut b, 0);
        w32(&mut b, (ticks >> 32) as u32);
        w32(&mut b, ticks as u32);
        w32(&mut b, data.len() as u32);
        w32(&mut b, data.len() as u32 + 100);
        b.extend_from_slice(data);
        b.resize(b.len() + padded - data.len(), 0);
        w32(&mut b, len);
        b
    }

    #[test]
    fn pcapng_obsolete_packet_blocks_are_read_in_both_byte_orders() {
        for big_endian in [false, true] {
            let path = temp(&format!("packet-block-{big_endian}.pcapng"));
            let ticks = 1_700_000_000_123_456u64;
            std::fs::write(&path, pcapng_with_packet_block(big_endian, ticks, b"frame")).unwrap();
            let stats = ShardStats::default();
            let mut got = Vec::new();
            let n = read_file(&path, &stats, |p| {
                got.push((p.ts_ns, p.link, p.data.to_vec()))
            })
            .unwrap();
            assert_eq!(n, 1);
            assert_eq!(
                got,
                vec![(ticks * 1000, LinkType::Ethernet, b"frame".to_vec())],
                "big endian: {big_endian}"
            );
            // Its original length says the capture cut it.
            assert_eq!(stats.get(Counter::CaptureTruncated), 1);
            assert_eq!(stats.get(Counter::CaptureBadRecords), 0);
        }
    }

    /// A classic pcap written by hand: little-endian, microseconds, with
    /// `snaplen` in the header and records (ts_sec, incl data, orig_len).
    fn raw_pcap(snaplen: u32, records: &[(u32, &[u8], u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&snaplen.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for (sec, data, orig) in records {
            b.extend_from_slice(&sec.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&orig.to_le_bytes());
            b.extend_from_slice(data);
        }
        b
    }

    fn read_counted(path: &str) -> (Result<u64, FileError>, Vec<Vec<u8>>, ShardStats) {
        let stats = ShardStats::default();
        let mut out = Vec::new();
        let r = read_file(path, &stats, |p| out.push(p.data.to_vec()));
        (r, out, stats)
    }

    #[test]
    fn frames_cut_at_the_snap_length_are_read_and_counted() {
        for snaplen in [200, 0] {
            let path = temp(&format!("snap-{snaplen}.pcap"));
            let cut = [7u8; 200];
            let whole = [8u8; 60];
            let recs: Vec<(u32, &[u8], u32)> =
                vec![(1, &cut, 1500), (1, &whole, 60), (2, &cut, 900)];
            std::fs::write(&path, raw_pcap(snaplen, &recs)).unwrap();
            let (r, out, stats) = read_counted(&path);
            assert_eq!(r.unwrap(), 3, "snaplen {snaplen}");
            assert_eq!(out[1], whole);
            assert_eq!(stats.get(Counter::CaptureTruncated), 2);
            assert_eq!(stats.get(Counter::CaptureBadRecords), 0);
        }
    }

    #[test]
    fn records_larger_than_the_first_buffer_are_read_whole() {
        // The reader starts with 64 KiB: records of 65,535 bytes (veth
        // with TSO) and of the 256 KiB maximum make it grow, around
        // small ones, and a damaged header after a large one still resyncs.
        let path = temp("large.pcap");
        let big = vec![1u8; 65_535];
        let max = vec![2u8; 262_144];
        let small = [3u8; 60];
        let recs: Vec<(u32, &[u8], u32)> = vec![
            (1_700_000_000, &small, 60),
            (1_700_000_000, &big, 65_535),
            (1_700_000_001, &max, 262_144),
            (1_700_000_001, &small, 60),
            (1_700_000_002, &max, 262_144),
            (1_700_000_002, &small, 60),
        ];
        let mut bytes = raw_pcap(0, &recs);
        std::fs::write(&path, &bytes).unwrap();
        let (r, out, stats) = read_counted(&path);
        assert_eq!(r.unwrap(), 6);
        assert_eq!(out[1], big);
        assert_eq!(out[2], max);
        assert_eq!(out[4], max);
        assert_eq!(out[5], small);
        assert_eq!(stats.get(Counter::CaptureBadRecords), 0);
        // The fourth record's header damaged: skipped, the rest read.
        let at = 24 + (16 + 60) + (16 + 65_535) + (16 + 262_144) + 8;
        bytes[at..at + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (r, out, stats) = read_counted(&path);
        assert_eq!(r.unwrap(), 5);
        assert_eq!(out[3], max);
        assert_eq!(stats.get(Counter::CaptureBadRecords), 1);
        check_file(&path).unwrap();
    }

    #[test]
    fn a_damaged_record_header_is_skipped() {
        let path = temp("damaged.pcap");
        let frames: Vec<[u8; 40]> = (0..10u8).map(|i| [i; 40]).collect();
        let recs: Vec<(u32, &[u8], u32)> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (1_700_000_000 + i as u32, &f[..], 40))
            .collect();
        let mut bytes = raw_pcap(65535, &recs);
        // Record 4's incl_len: far past the snap length.
        let at = 24 + 4 * 56 + 8;
        bytes[at..at + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (r, out, stats) = read_counted(&path);
        assert_eq!(r.unwrap(), 9);
        assert!(!out.contains(&vec![4u8; 40]));
        assert_eq!(out.last(), Some(&vec![9u8; 40]));
        assert_eq!(stats.get(Counter::CaptureBadRecords), 1);

        // Damage with nothing plausible after it: an error, counted.
        bytes.truncate(24 + 5 * 56);
        bytes.extend_from_slice(&[0xff; 300]);
        std::fs::write(&path, &bytes).unwrap();
        let (r, out, stats) = read_counted(&path);
        assert!(matches!(r, Err(FileError::Damaged(..))), "{r:?}");
        assert_eq!(out.len(), 4);
        assert_eq!(stats.get(Counter::CaptureBadRecords), 1);
    }

    #[test]
    fn pcapng_cut_packets_are_counted() {
        let path = temp("cut.pcapng");
        let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 200,
            options: vec![],
        })
        .unwrap();
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(1),
            original_len: 1500,
            data: Cow::Borrowed(&[1u8; 200]),
            options: vec![],
        })
        .unwrap();
        drop(w);
        let (r, out, stats) = read_counted(&path);
        assert_eq!(r.unwrap(), 1);
        assert_eq!(out[0].len(), 200);
        assert_eq!(stats.get(Counter::CaptureTruncated), 1);
    }

    #[test]
    fn check_file_refuses_what_is_not_a_capture() {
        let path = temp("text.pcap");
        std::fs::write(&path, "not a capture at all").unwrap();
        assert!(matches!(check_file(&path), Err(FileError::Format(..))));
        assert!(matches!(
            check_file(&temp("missing.pcap")),
            Err(FileError::Open(..))
        ));
        let ok = temp("ok.pcap");
        std::fs::write(&ok, raw_pcap(65535, &[])).unwrap();
        check_file(&ok).unwrap();
        // A pcap header cut short, and one with a link type not read.
        let short = temp("short.pcap");
        std::fs::write(&short, &raw_pcap(65535, &[])[..20]).unwrap();
        assert!(matches!(check_file(&short), Err(FileError::Format(..))));
        let mut odd = raw_pcap(65535, &[]);
        odd[20..24].copy_from_slice(&147u32.to_le_bytes());
        std::fs::write(&short, &odd).unwrap();
        assert!(matches!(
            check_file(&short),
            Err(FileError::UnknownLinkType(_, 147))
        ));
        // pcapng: a section header read from the head; one cut short.
        let ng = temp("ok.pcapng");
        let mut w = PcapNgWriter::new(File::create(&ng).unwrap()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
        drop(w);
        check_file(&ng).unwrap();
        let bytes = std::fs::read(&ng).unwrap();
        std::fs::write(&ng, &bytes[..16]).unwrap();
        assert!(matches!(check_file(&ng), Err(FileError::Format(..))));
    }

    #[test]
    fn tsresol_units() {
        assert_eq!(units_per_sec(6), 1_000_000);
        assert_eq!(units_per_sec(9), 1_000_000_000);
        assert_eq!(units_per_sec(0x80 | 10), 1024);
        assert_eq!(to_ns(1_500_000, 1_000_000), 1_500_000_000);
    }
}
