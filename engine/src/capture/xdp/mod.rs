//! The af_xdp engine's XDP program (`steer.bpf.c`, compiled by build.rs
//! and embedded): loading it, filling its maps, attaching it to an
//! interface and reading its per-shard frame counts. The AF_XDP sockets
//! and rings themselves are in `xsk`.
//!
//! The program is attached through a BPF link, so closing the link (at
//! exit, or when the kernel closes the descriptor of a killed process)
//! detaches it: the interface is never left with our program on it.
//! Native (driver) mode is tried first, then generic (SKB) mode. A program
//! that was attached the old way (netlink) and is ours, by name, is taken
//! off first; anyone else's program is an error.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, Xdp, XdpFlags};

#[cfg(test)]
mod tests;
pub mod xsk;

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// The attached program's name, as the kernel shows it (`bpftool prog`).
pub const PROGRAM: &str = "httpcap_steer";

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver, before an skb exists; zero-copy sockets possible.
    Native,
    /// In the kernel's receive path, after the skb is built (any device).
    Generic,
}

impl AttachMode {
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native (driver)",
            AttachMode::Generic => "generic (skb)",
        }
    }
}

/// `struct config` in steer.bpf.c (three u32s, no padding).
#[derive(Clone, Copy)]
struct ProgConfig {
    shards: u32,
    queues: u32,
    ipip: u32,
}

/// Why the XDP program could not be loaded, filled or attached.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// A libbpf step failed (`cannot load the XDP program`).
    #[error("{step}: {source}")]
    Bpf {
        step: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    /// The embedded object lacks a map it must have.
    #[error("XDP program has no map {0}")]
    NoMap(String),
    /// The embedded object lacks a program it must have.
    #[error("XDP object has no program {0}")]
    NoProgram(String),
    /// Neither native nor generic mode would attach.
    #[error(
        "cannot attach the XDP program to {ifname}: native mode: {native}; generic mode: {generic}"
    )]
    Attach {
        ifname: String,
        native: std::io::Error,
        #[source]
        generic: std::io::Error,
    },
    /// Someone else's XDP program is on the interface.
    #[error("{ifname} already has an XDP program (id {id}, name '{name}'); af_xdp needs the interface to itself (remove it with: ip link set dev {ifname} xdp off)")]
    Occupied {
        ifname: String,
        id: u32,
        name: String,
    },
    /// Our program is attached through another httpcap's link.
    #[error("{ifname}: another httpcap (XDP program id {id}) is capturing on it: {source}")]
    Busy {
        ifname: String,
        id: u32,
        #[source]
        source: libbpf_rs::Error,
    },
}

fn bpf_err(step: &'static str) -> impl FnOnce(libbpf_rs::Error) -> XdpError {
    move |source| XdpError::Bpf { step, source }
}

/// The loaded program of one interface and its maps.
pub struct Steering {
    // Keeps the program and maps loaded until attached.
    obj: Object,
    config: MapHandle,
    xsks: MapHandle,
    frames: Arc<MapHandle>,
    cfg: ProgConfig,
}

impl Steering {
    /// Loads the program for `queues` RX queues and `shards` shards. It
    /// passes every frame to the stack until `activate`.
    pub fn load(shards: u32, queues: u32, ipip: bool) -> Result<Steering, XdpError> {
        let mut open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(bpf_err("cannot open the XDP program"))?;
        let slots = shards * queues;
        for mut m in open.maps_mut() {
            let size = match m.name().to_str() {
                Some("xsks") => slots,
                Some("frames") => slots + 1,
                _ => continue,
            };
            m.set_max_entries(size)
                .map_err(bpf_err("cannot size the XDP maps"))?;
        }
        let obj = open
            .load()
            .map_err(bpf_err("cannot load the XDP program"))?;
        let handle = |name: &str| -> Result<MapHandle, XdpError> {
            let m = obj
                .maps()
                .find(|m| m.name() == name)
                .ok_or_else(|| XdpError::NoMap(name.into()))?;
            MapHandle::try_from(&m).map_err(bpf_err("XDP map"))
        };
        Ok(Steering {
            config: handle("config")?,
            xsks: handle("xsks")?,
            frames: Arc::new(handle("frames")?),
            cfg: ProgConfig {
                shards,
                queues,
                ipip: ipip as u32,
            },
            obj,
        })
    }

    fn program(&self, name: &str) -> Result<libbpf_rs::ProgramMut<'_>, XdpError> {
        self.obj
            .progs_mut()
            .find(|p| p.name() == name)
            .ok_or_else(|| XdpError::NoProgram(name.into()))
    }

    /// Puts `shard`'s socket for RX queue `queue` into the socket map.
    pub fn add_socket(&self, queue: u32, shard: u32, fd: RawFd) -> Result<(), XdpError> {
        let slot = queue * self.cfg.shards + shard;
        self.xsks
            .update(
                &slot.to_ne_bytes(),
                &(fd as u32).to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(bpf_err("cannot add an XDP socket to the map"))
    }

    /// Starts steering: from now on frames go to the sockets.
    pub fn activate(&self) -> Result<(), XdpError> {
        self.write_config(self.cfg)
    }

    fn write_config(&self, c: ProgConfig) -> Result<(), XdpError> {
        let bytes: Vec<u8> = [c.shards, c.queues, c.ipip]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        self.config
            .update(&0u32.to_ne_bytes(), &bytes, MapFlags::ANY)
            .map_err(bpf_err("cannot configure the XDP program"))
    }

    /// Per-socket frame counts, for the shards' statistics.
    pub fn frame_counts(&self) -> FrameCounts {
        FrameCounts {
            map: self.frames.clone(),
        }
    }

    /// The socket-map slot of `shard` on `queue`, and the slot counting
    /// frames no socket took.
    pub fn slot(&self, queue: u32, shard: u32) -> u32 {
        queue * self.cfg.shards + shard
    }

    pub fn missed_slot(&self) -> u32 {
        self.cfg.queues * self.cfg.shards
    }

    /// Attaches the steering program to `ifindex`, natively if the driver
    /// allows, else in generic mode.
    pub fn attach(&self, ifname: &str, ifindex: u32) -> Result<Attachment, XdpError> {
        let prog = self.program(PROGRAM)?;
        let fd = prog.as_fd().as_raw_fd();
        remove_stale(&Xdp::new(prog.as_fd()), ifname, ifindex)?;
        let native = link_xdp(fd, ifindex, libbpf_sys::XDP_FLAGS_DRV_MODE);
        let (link, mode) = match native {
            Ok(link) => (link, AttachMode::Native),
            Err(native_err) => {
                let link = match link_xdp(fd, ifindex, libbpf_sys::XDP_FLAGS_SKB_MODE) {
                    Ok(link) => link,
                    Err(generic) => {
                        return Err(XdpError::Attach {
                            ifname: ifname.into(),
                            native: native_err,
                            generic,
                        })
                    }
                };
                tracing::info!(target: "lifecycle", "af_xdp: {ifname}: native XDP refused ({native_err}); using generic mode");
                (link, AttachMode::Generic)
            }
        };
        tracing::info!(target: "lifecycle", "af_xdp: XDP program attached to {ifname} in {} mode", mode.name());
        Ok(Attachment {
            _link: link,
            mode,
            ifname: ifname.to_string(),
        })
    }

    /// The test-only hash probe (see steer.bpf.c).
    #[cfg(test)]
    fn probe(&self) -> Result<libbpf_rs::ProgramMut<'_>, XdpError> {
        self.program("httpcap_hash_probe")
    }
}

/// Creates a BPF link attaching `prog_fd` to `ifindex` with `flags`.
fn link_xdp(prog_fd: RawFd, ifindex: u32, flags: u32) -> Result<OwnedFd, std::io::Error> {
    // SAFETY: bpf_link_create_opts is plain data, zero is its default.
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    opts.flags = flags;
    // SAFETY: a bpf(BPF_LINK_CREATE) call with a valid options struct
    // that outlives it; the returned descriptor is ours.
    let fd =
        unsafe { libbpf_sys::bpf_link_create(prog_fd, ifindex as i32, libbpf_sys::BPF_XDP, &opts) };
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes off a program of ours left attached without a link (by an older
/// build, or by hand); refuses to touch anyone else's.
fn remove_stale(xdp: &Xdp<'_>, ifname: &str, ifindex: u32) -> Result<(), XdpError> {
    let q = match xdp.query(ifindex as i32, XdpFlags::NONE) {
        Ok(q) => q,
        Err(_) => return Ok(()),
    };
    if q.prog_id == 0 {
        return Ok(());
    }
    let name = libbpf_rs::query::ProgInfoIter::default()
        .find(|p| p.id == q.prog_id)
        .map(|p| p.name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != PROGRAM {
        return Err(XdpError::Occupied {
            ifname: ifname.into(),
            id: q.prog_id,
            name,
        });
    }
    let mode = if q.skb_prog_id != 0 {
        XdpFlags::SKB_MODE
    } else {
        XdpFlags::DRV_MODE
    };
    // A link of a running httpcap cannot be detached this way (EBUSY):
    // then another instance is capturing here.
    xdp.detach(ifindex as i32, mode)
        .map_err(|source| XdpError::Busy {
            ifname: ifname.into(),
            id: q.prog_id,
            source,
        })?;
    tracing::warn!(target: "lifecycle", "af_xdp: removed a stale {PROGRAM} program from {ifname}");
    Ok(())
}

/// The program attached to an interface; dropping it detaches it.
pub struct Attachment {
    _link: OwnedFd,
    pub mode: AttachMode,
    ifname: String,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        tracing::info!(target: "lifecycle", "af_xdp: XDP program detached from {}", self.ifname);
    }
}

/// Read access to the program's per-socket frame counters.
#[derive(Clone)]
pub struct FrameCounts {
    map: Arc<MapHandle>,
}

impl FrameCounts {
    /// Frames counted in `slot` so far, summed over CPUs.
    pub fn total(&self, slot: u32) -> u64 {
        match self.map.lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY) {
            Ok(Some(per_cpu)) => per_cpu
                .iter()
                .filter_map(|v| v.get(..8)?.try_into().ok().map(u64::from_ne_bytes))
                .sum(),
            _ => 0,
        }
    }
}
