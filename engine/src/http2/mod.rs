//! HTTP/2's first rooms: the frame reader and the HPACK decoder (issue 13).
//! Not wired into the shard yet.
//!
//! How it will plug in: like the HTTP/1 parser, per connection, in the
//! shard that owns the connection, fed with the in-order bytes of each
//! direction by `flow/reassembly.rs`. Each direction gets a
//! [`frame::FrameReader`] (told the peer's SETTINGS_MAX_FRAME_SIZE) and an
//! [`hpack::Decoder`] (told SETTINGS_HEADER_TABLE_SIZE); a stream state
//! machine (a later stage) joins HEADERS and CONTINUATION fragments into
//! header blocks, decodes them, and turns each stream's request and
//! response into an `http::Transaction`, so pairing, filters, the record
//! and the outputs stay as they are. A connection picked up mid-stream
//! finds a frame boundary with [`frame::looks_like_frame`] and starts its
//! decoders with [`hpack::Decoder::mid_stream`]; a gap in the bytes calls
//! [`hpack::Decoder::lost_sync`].
//!
//! Both rooms are bounded and never panic on any input: they are fuzzed
//! (`fuzz/` targets `hpack` and `h2_frames`) and property-tested.

pub mod conn;
pub mod frame;
pub mod grpc;
pub mod hpack;

pub use conn::H2Conn;
