//! What a connection's packets came wrapped in (VLAN tags, tunnels), as
//! the decoder describes it (`decode::describe`) and records name it
//! (`conn.tunnel`, `conn.vlan`). Kept beside the flow key: the wrappers'
//! ids are part of a connection's identity (`FlowKey::ctx`).

use std::net::IpAddr;

/// A kind of wrapper around IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN (UDP 4789); id: the VNI.
    Vxlan,
    /// VXLAN-GPE (UDP 4790); id: the VNI.
    VxlanGpe,
    /// Geneve (UDP 6081); id: the VNI.
    Geneve,
    /// GRE, also in UDP (4754); id: the key, when present.
    Gre,
    /// ERSPAN type II or III in GRE; id: the session id.
    Erspan,
    /// GTP-U; no id (its TEIDs differ per direction).
    GtpU,
    /// Teredo; no id.
    Teredo,
    /// AYIYA; no id.
    Ayiya,
    /// IPv4 or IPv6 in IP (`IPIP=true`); no id.
    Ipip,
}

impl TunnelKind {
    /// The name records use.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::VxlanGpe => "vxlan-gpe",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::GtpU => "gtp-u",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ayiya => "ayiya",
            TunnelKind::Ipip => "ipip",
        }
    }
}

/// One wrapper: its kind, the addresses of the IP header that carried it
/// (the outer addresses) and its id when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: Option<u32>,
}

/// Everything a packet was wrapped in, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encap {
    pub tunnels: Vec<Tunnel>,
    /// VLAN ids (priority tags, VID 0, left out), across every Ethernet
    /// header of the packet.
    pub vlans: Vec<u16>,
}
