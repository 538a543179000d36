//! pcapng blocks, parsed by the pcap-file crate's `PcapNgParser` from a
//! buffer of our own (`read_buffer`). The crate's `PcapNgReader` makes and
//! zeroes a fixed 8 MB buffer per file, which was a fifth of all
//! instructions in a run over a hundred small captures (perf/real.sh).
//! Ours grows to the largest block met, at most [`MAX_BLOCK_BYTES`].
//!
//! A block's length is read from its header (in the section's byte
//! order; a section header block's from its own byte-order magic), the
//! whole block is buffered, and the parser is handed exactly that block.

use std::io::{self, Read};

use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, PcapError};

use super::read_buffer::ReadBuffer;

/// Largest block accepted: far above any packet (256 KiB snap lengths)
/// with its options; a longer length is damage, not a block.
pub const MAX_BLOCK_BYTES: usize = 16 << 20;

const SECTION_HEADER: u32 = 0x0A0D_0D0A;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

pub struct BlockReader<R> {
    parser: PcapNgParser,
    input: ReadBuffer<R>,
}

fn eof() -> PcapError {
    PcapError::IoError(io::Error::from(io::ErrorKind::UnexpectedEof))
}

impl<R: Read> BlockReader<R> {
    /// Reads the first section header block.
    pub fn new(src: R) -> Result<BlockReader<R>, PcapError> {
        let mut input = ReadBuffer::new(src);
        // Its byte order is its own: the order passed is not used.
        let (rem, parser) = PcapNgParser::new(whole_block(&mut input, Endianness::Big)?)?;
        if !rem.is_empty() {
            return Err(PcapError::InvalidField("pcapng section header length"));
        }
        Ok(BlockReader { parser, input })
    }

    /// The current section header.
    pub fn section(&self) -> &SectionHeaderBlock<'static> {
        self.parser.section()
    }

    /// The next block; None at the end of the file. A block cut by the
    /// end of the file is an `UnexpectedEof` I/O error, as the crate's
    /// reader gives.
    pub fn next_block(&mut self) -> Option<Result<Block<'_>, PcapError>> {
        match self.input.fill(1) {
            Ok(0) => None,
            Ok(_) => Some(self.block()),
            Err(e) => Some(Err(PcapError::IoError(e))),
        }
    }

    fn block(&mut self) -> Result<Block<'_>, PcapError> {
        let order = self.parser.section().endianness;
        let (rem, block) = self
            .parser
            .next_block(whole_block(&mut self.input, order)?)?;
        if !rem.is_empty() {
            return Err(PcapError::InvalidField("pcapng block length"));
        }
        Ok(block)
    }
}

/// Buffers the next block whole and consumes it.
fn whole_block<R: Read>(input: &mut ReadBuffer<R>, order: Endianness) -> Result<&[u8], PcapError> {
    if input.fill(12).map_err(PcapError::IoError)? < 12 {
        return Err(eof());
    }
    let len = block_len(&input.unread()[..12], order)?;
    if input.fill(len).map_err(PcapError::IoError)? < len {
        return Err(eof());
    }
    Ok(input.take(len))
}

/// A block's total length from its first 12 bytes: in `order`, except
/// for a section header block, whose byte-order magic says.
fn block_len(head: &[u8], order: Endianness) -> Result<usize, PcapError> {
    let word = |i: usize, big: bool| {
        let b = [head[i], head[i + 1], head[i + 2], head[i + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let big = if word(0, true) == SECTION_HEADER {
        match (word(8, true), word(8, false)) {
            (BYTE_ORDER_MAGIC, _) => true,
            (_, BYTE_ORDER_MAGIC) => false,
            _ => return Err(PcapError::InvalidField("pcapng byte-order magic")),
        }
    } else {
        order == Endianness::Big
    };
    let len = word(4, big) as usize;
    if len < 12 || len & 3 != 0 {
        return Err(PcapError::InvalidField("pcapng block length"));
    }
    if len > MAX_BLOCK_BYTES {
        return Err(PcapError::InvalidField("pcapng block longer than 16 MiB"));
    }
    Ok(len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::time::Duration;

    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::DataLink;

    /// A section in `order` with one Ethernet interface and packets of
    /// these sizes (packet i: bytes of value i, stamped i microseconds).
    pub(crate) fn capture(order: Endianness, sizes: &[usize]) -> Vec<u8> {
        let section = SectionHeaderBlock {
            endianness: order,
            ..Default::default()
        };
        let mut w = PcapNgWriter::with_section_header(Vec::new(), section).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_micros(i as u64),
                original_len: n as u32,
                data: Cow::Owned(vec![i as u8; n]),
                options: vec![],
            })
            .unwrap();
        }
        w.into_inner()
    }

    fn packets(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<PcapError>) {
        let mut r = BlockReader::new(bytes).unwrap();
        let mut out = Vec::new();
        while let Some(b) = r.next_block() {
            match b {
                Ok(Block::EnhancedPacket(p)) => out.push(p.data.to_vec()),
                Ok(_) => {}
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[test]
    fn blocks_larger_than_the_first_buffer_in_both_byte_orders() {
        let sizes = [60, 200_000, 1_500, 262_144, 60];
        for order in [Endianness::Little, Endianness::Big] {
            let (got, err) = packets(&capture(order, &sizes));
            assert!(err.is_none(), "{err:?}");
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, sizes);
            assert!(got[3].iter().all(|&b| b == 3));
        }
    }

    #[test]
    fn a_second_section_in_the_other_byte_order_is_followed() {
        let mut bytes = capture(Endianness::Little, &[100]);
        bytes.extend(capture(Endianness::Big, &[70_000, 80]));
        let (got, err) = packets(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 70_000, 80]
        );
    }

    #[test]
    fn cut_and_damaged_blocks_are_errors_not_hangs() {
        let bytes = capture(Endianness::Little, &[100, 100_000]);
        // Cut inside the large block: the end of the file.
        let (got, err) = packets(&bytes[..bytes.len() - 10]);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&err, Some(PcapError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{err:?}"
        );
        // A block length past the limit, and one under a header's size.
        let first_epb = bytes.len() - (32 + 100_000) - (32 + 100);
        for len in [u32::MAX - 3, 8, 14] {
            let mut damaged = bytes.clone();
            damaged[first_epb + 4..first_epb + 8].copy_from_slice(&len.to_le_bytes());
            let (got, err) = packets(&damaged);
            assert!(got.is_empty());
            assert!(
                matches!(err, Some(PcapError::InvalidField(_))),
                "{len}: {err:?}"
            );
        }
        // Not a capture at all.
        assert!(BlockReader::new(&b"0123456789abcdef"[..]).is_err());
        assert!(BlockReader::new(&b""[..]).is_err());
    }
}
