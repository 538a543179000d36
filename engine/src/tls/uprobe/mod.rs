//! HTTPS plaintext from the hosts' own processes: uprobes on libssl's
//! `SSL_read`/`SSL_write` (and `_ex`) copy what a process reads and
//! writes, before encryption, into one BPF ring buffer per shard
//! (`ssl.bpf.c`, compiled by build.rs and embedded).
//!
//! The path of a plaintext chunk: the program finds the connection from
//! the descriptor the call used and writes the chunk into the ring of the
//! shard that owns that connection (the same hash the packet steering
//! uses) → the shard reads its own ring next to its packet source
//! ([`ShardRing`]) → [`event::Event`] → the connection's HTTP state, as
//! if it had been decrypted (shard/uprobe.rs). Nothing crosses shards.
//!
//! Loading needs CAP_SYS_ADMIN (uprobe events want it), tracefs (for the
//! syscall tracepoints' ids) and a kernel with BTF (CO-RE). No kprobes.

pub mod auto;
pub mod discover;
pub mod event;

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libbpf_rs::{
    Link, MapCore, MapFlags, MapHandle, MapType, Object, ObjectBuilder, ProgramMut, RingBuffer,
    RingBufferBuilder, TracepointCategory, UprobeOpts,
};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ssl.bpf.o"));

/// The functions probed: entry program, return program, and whether the
/// library must have it (the `_ex` forms are OpenSSL 1.1.1 and later).
const FUNCTIONS: [(&str, &str, &str, bool); 5] = [
    ("SSL_write", "httpcap_ssl_write", RETURN, true),
    ("SSL_read", "httpcap_ssl_read", RETURN, true),
    ("SSL_write_ex", "httpcap_ssl_write_ex", RETURN, false),
    ("SSL_read_ex", "httpcap_ssl_read_ex", RETURN, false),
    (
        "SSL_do_handshake",
        "httpcap_ssl_handshake",
        "httpcap_ssl_handshake_return",
        true,
    ),
];
const RETURN: &str = "httpcap_ssl_return";

/// Syscalls whose descriptor an SSL call uses for its socket.
const IO_SYSCALLS: [&str; 8] = [
    "sys_enter_read",
    "sys_enter_write",
    "sys_enter_recvfrom",
    "sys_enter_sendto",
    "sys_enter_readv",
    "sys_enter_writev",
    "sys_enter_recvmsg",
    "sys_enter_sendmsg",
];

/// The program's counters (`enum count` in ssl.bpf.c), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ProgramCount {
    Events,
    Bytes,
    RingFull,
    RingFullBytes,
    BeyondChunks,
    NoFd,
    NotTcp,
    CallsLost,
    OtherNetns,
}

impl ProgramCount {
    pub const ALL: [ProgramCount; 9] = [
        ProgramCount::Events,
        ProgramCount::Bytes,
        ProgramCount::RingFull,
        ProgramCount::RingFullBytes,
        ProgramCount::BeyondChunks,
        ProgramCount::NoFd,
        ProgramCount::NotTcp,
        ProgramCount::CallsLost,
        ProgramCount::OtherNetns,
    ];
}

/// A connection whose plaintext comes from uprobes: the process that
/// owns it (the first one seen: with both ends on this host, the other
/// end's copy is skipped), the next offset expected in each direction
/// (indexed by [`event::Direction`], from that process's view), and
/// whether that process closed it.
///
/// `H` is the connection state the handshake's packets are read with
/// (the shard's `HttpConn`).
#[derive(Debug)]
pub struct Feed<H> {
    pub tgid: u32,
    pub next: [u64; 2],
    /// Closed by its process: the connection lingers for
    /// ASSEMBLER_FLUSH_AGE, so that late copies from the other end's
    /// process and late packets are recognised, then ends.
    pub closed: bool,
    /// The records' `tls` object: what the captured handshake showed
    /// (SNI, version, suite, ALPN).
    pub info: Arc<crate::tls::TlsInfo>,
    /// The handshake's packets, still being read when the plaintext
    /// overtook them (the capture ring hands packets over in blocks, up to
    /// a millisecond late): a connection state of their own, without keys,
    /// until the ServerHello shows the version and `info` takes what it
    /// found.
    pub hello: Option<Box<H>>,
}

/// The record's `tls` object of a uprobe-fed connection whose handshake
/// was not captured: only the source is known.
pub fn info() -> Arc<crate::tls::TlsInfo> {
    static INFO: std::sync::LazyLock<Arc<crate::tls::TlsInfo>> = std::sync::LazyLock::new(|| {
        Arc::new(crate::tls::TlsInfo {
            source: crate::tls::TlsSource::Uprobe,
            ..Default::default()
        })
    });
    INFO.clone()
}

/// The `tls` object of a connection whose plaintext comes from uprobes,
/// given what its captured handshake showed (if anything).
pub fn info_from(handshake: Option<&crate::tls::TlsInfo>) -> Arc<crate::tls::TlsInfo> {
    match handshake {
        Some(h) if *h != crate::tls::TlsInfo::default() => Arc::new(crate::tls::TlsInfo {
            source: crate::tls::TlsSource::Uprobe,
            ..h.clone()
        }),
        _ => info(),
    }
}

/// Why the uprobe source could not start.
#[derive(Debug, thiserror::Error)]
pub enum UprobeError {
    #[error("{step}: {source}")]
    Bpf {
        step: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("TLS_UPROBE_LIBS: {0}: no such file")]
    NoLibrary(PathBuf),
    #[error("the uprobe object has no {0}")]
    Missing(&'static str),
    #[error("TLS_UPROBE_NETNS=own: cannot read /proc/self/ns/net: {0}")]
    Netns(#[source] std::io::Error),
    #[error("cannot read /proc/self/ns/pid: {0}")]
    Pidns(#[source] std::io::Error),
}

/// The inode of httpcap's network namespace (what the kernel's
/// `net->ns.inum` holds).
fn own_netns() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self/ns/net")?.ino() as u32)
}

/// httpcap's pid namespace as `bpf_get_ns_current_pid_tgid` wants it:
/// the nsfs device in the kernel's encoding (major << 20 | minor, not
/// stat's) and the inode.
fn own_pidns() -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/ns/pid")?;
    Ok((kernel_dev(meta.dev()), meta.ino()))
}

/// stat's st_dev (glibc's encoding) as the kernel's internal dev_t.
fn kernel_dev(st_dev: u64) -> u64 {
    let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
    let minor = (st_dev & 0xff) | ((st_dev >> 12) & !0xff);
    (major << 20) | (minor & 0xf_ffff)
}

/// `struct config` of ssl.bpf.c.
fn config_bytes(shards: u32, self_tgid: u32, netns: u32, pidns: (u64, u64)) -> Vec<u8> {
    let mut b = Vec::with_capacity(32);
    for v in [shards, self_tgid, netns, 0] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    b.extend_from_slice(&pidns.0.to_ne_bytes());
    b.extend_from_slice(&pidns.1.to_ne_bytes());
    b
}

fn bpf_err(step: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> UprobeError {
    let step = step.into();
    move |source| UprobeError::Bpf { step, source }
}

/// What the source needs from the configuration.
#[derive(Clone, Debug)]
pub struct UprobeSettings {
    /// The libssl files to probe from the start (every process that maps
    /// one is seen); with TLS_UPROBE_LIBS=auto none: [`auto`] finds them.
    pub libs: Vec<PathBuf>,
    /// Bytes of each shard's ring (a power of two, a page at least).
    pub ring_bytes: u32,
    /// Only sockets of httpcap's own network namespace, or all.
    pub own_netns_only: bool,
}

/// The loaded programs, their attachments and the shards' rings. Dropping
/// it detaches everything (the links close).
pub struct Uprobes {
    obj: Object,
    /// The syscall tracepoints' and the listed files' probes.
    _links: Vec<Link>,
    counts: Arc<MapHandle>,
}

/// Raw bytes of the events read from one ring, each preceded by its
/// length (u32, native order): the ring's callback appends here, the shard
/// takes the lot after each poll.
type Pending = Arc<Mutex<Vec<u8>>>;

/// One shard's ring: polled by that shard only.
pub struct ShardRing {
    ring: RingBuffer<'static>,
    pending: Pending,
    /// Shard 0 also reports the program's counters.
    counts: Option<ProgramCounts>,
    /// Wall clock minus CLOCK_MONOTONIC at start, to date the events.
    wall_offset_ns: u64,
    // After `ring`, which maps it.
    _map: MapHandle,
}

impl Uprobes {
    /// Loads the programs, makes a ring per shard and attaches the probes
    /// to every library in `settings.libs` and to the syscall tracepoints.
    pub fn start(
        settings: &UprobeSettings,
        shards: u32,
    ) -> Result<(Uprobes, Vec<ShardRing>), UprobeError> {
        for lib in &settings.libs {
            if !lib.exists() {
                return Err(UprobeError::NoLibrary(lib.clone()));
            }
        }
        ensure_tracefs();
        let mut open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(bpf_err("cannot open the uprobe programs"))?;
        for mut m in open.maps_mut() {
            if m.name().to_str() == Some("rings") {
                m.set_max_entries(shards)
                    .map_err(bpf_err("cannot size the ring array"))?;
            }
        }
        let mut obj = open
            .load()
            .map_err(bpf_err("cannot load the uprobe programs"))?;
        let map = |name: &'static str| -> Result<MapHandle, UprobeError> {
            let m = obj
                .maps()
                .find(|m| m.name() == name)
                .ok_or(UprobeError::Missing(name))?;
            MapHandle::try_from(&m).map_err(bpf_err("uprobe map"))
        };
        let (config, rings_map) = (map("config")?, map("rings")?);
        let counts = Arc::new(map("counts")?);
        let mut rings = Vec::with_capacity(shards as usize);
        for shard in 0..shards {
            let opts = libbpf_sys::bpf_map_create_opts {
                sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
                ..Default::default()
            };
            let inner = MapHandle::create(
                MapType::RingBuf,
                Some(format!("httpcap_tls{shard}")),
                0,
                0,
                settings.ring_bytes,
                &opts,
            )
            .map_err(bpf_err(format!(
                "cannot create a ring of {} bytes (TLS_UPROBE_RING_BYTES)",
                settings.ring_bytes
            )))?;
            rings_map
                .update(
                    &shard.to_ne_bytes(),
                    &(inner.as_fd().as_raw_fd() as u32).to_ne_bytes(),
                    MapFlags::ANY,
                )
                .map_err(bpf_err("cannot add a ring to the ring array"))?;
            let pending: Pending = Arc::default();
            let into = pending.clone();
            let limit = settings.ring_bytes as usize;
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&inner, move |bytes: &[u8]| {
                    let mut p = into.lock().unwrap_or_else(|e| e.into_inner());
                    p.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
                    p.extend_from_slice(bytes);
                    // One poll copies at most a ring's worth (HEAP_LIMIT
                    // counts it): the rest waits for the next poll.
                    if p.len() >= limit {
                        -1
                    } else {
                        0
                    }
                })
                .map_err(bpf_err("cannot read a ring"))?;
            // The reader maps the ring: the map lives as long as it does.
            let ring = builder.build().map_err(bpf_err("cannot read a ring"))?;
            rings.push(ShardRing {
                ring,
                pending,
                counts: (shard == 0).then(|| ProgramCounts::new(counts.clone())),
                wall_offset_ns: wall_offset_ns(),
                _map: inner,
            });
        }
        let mut links = attach_tracepoints(&mut obj)?;
        for lib in &settings.libs {
            links.extend(probe(&mut obj, lib)?);
        }
        // Configured last: until now the programs did nothing.
        let netns = if settings.own_netns_only {
            own_netns().map_err(UprobeError::Netns)?
        } else {
            0
        };
        let pidns = own_pidns().map_err(UprobeError::Pidns)?;
        let cfg = config_bytes(shards, std::process::id(), netns, pidns);
        config
            .update(&0u32.to_ne_bytes(), &cfg, MapFlags::ANY)
            .map_err(bpf_err("cannot configure the uprobe programs"))?;
        tracing::info!(target: "lifecycle", libs = ?settings.libs, shards, "TLS uprobes attached");
        Ok((
            Uprobes {
                obj,
                _links: links,
                counts,
            },
            rings,
        ))
    }

    /// The program's counters, for tests.
    pub fn counts(&self) -> ProgramCounts {
        ProgramCounts::new(self.counts.clone())
    }
}

impl Uprobes {
    /// Probes one more libssl file; dropping the links it gives removes
    /// the probes again.
    pub fn probe(&mut self, lib: &Path) -> Result<Vec<Link>, UprobeError> {
        probe(&mut self.obj, lib)
    }
}

/// A loaded program by name.
fn program<'a, 'o>(
    progs: &'a [ProgramMut<'o>],
    name: &'static str,
) -> Result<&'a ProgramMut<'o>, UprobeError> {
    progs
        .iter()
        .find(|p| p.name() == name)
        .ok_or(UprobeError::Missing(name))
}

/// The entry and return probes of every SSL function in `lib`.
fn probe(obj: &mut Object, lib: &Path) -> Result<Vec<Link>, UprobeError> {
    let progs: Vec<ProgramMut<'_>> = obj.progs_mut().collect();
    let mut links = Vec::new();
    for (function, entry, ret, required) in FUNCTIONS {
        let ret = program(&progs, ret)?;
        let opts = |retprobe| UprobeOpts {
            func_name: Some(function.to_string()),
            retprobe,
            ..Default::default()
        };
        let attached = program(&progs, entry)?
            .attach_uprobe_with_opts(-1, lib, 0, opts(false))
            .and_then(|a| Ok((a, ret.attach_uprobe_with_opts(-1, lib, 0, opts(true))?)));
        match attached {
            Ok((a, b)) => links.extend([a, b]),
            Err(e) if !required => {
                tracing::debug!(target: "lifecycle", "{}: no {function} ({e}); not probed", lib.display());
            }
            Err(e) => {
                return Err(UprobeError::Bpf {
                    step: format!("cannot probe {function} in {}", lib.display()),
                    source: e,
                })
            }
        }
    }
    Ok(links)
}

/// The syscall tracepoints: which descriptor an SSL call uses, and closes.
fn attach_tracepoints(obj: &mut Object) -> Result<Vec<Link>, UprobeError> {
    let progs: Vec<ProgramMut<'_>> = obj.progs_mut().collect();
    let mut links = Vec::new();
    let fd_prog = program(&progs, "httpcap_ssl_fd")?;
    for tp in IO_SYSCALLS {
        links.push(
            fd_prog
                .attach_tracepoint(TracepointCategory::Syscalls, tp)
                .map_err(bpf_err(format!("cannot attach to the tracepoint syscalls/{tp} (is tracefs mounted? mount -t tracefs tracefs /sys/kernel/tracing)")))?,
        );
    }
    links.push(
        program(&progs, "httpcap_ssl_close")?
            .attach_tracepoint(TracepointCategory::Syscalls, "sys_enter_close")
            .map_err(bpf_err(
                "cannot attach to the tracepoint syscalls/sys_enter_close",
            ))?,
    );
    Ok(links)
}

impl ShardRing {
    /// Reads up to `max` events (and at most a ring's worth of bytes) from
    /// the ring, without blocking, and hands each one's bytes to `f`.
    /// Returns how many were read.
    pub fn poll(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        // Negative when the byte limit stopped it: not an error.
        let _ = self.ring.consume_raw_n(max);
        let mut n = 0;
        let taken = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *p)
        };
        let mut rest = &taken[..];
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = (u32::from_ne_bytes(*len) as usize).min(tail.len());
            f(&tail[..len]);
            n += 1;
            rest = &tail[len..];
        }
        // The buffer goes back for the next poll (its capacity is kept).
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_empty() {
            *p = taken;
            p.clear();
        }
        n
    }

    /// What turns an event's CLOCK_MONOTONIC time into wall-clock time.
    pub fn wall_offset_ns(&self) -> u64 {
        self.wall_offset_ns
    }

    /// The program's counters, on the shard that reports them.
    pub fn program_counts(&mut self) -> Option<&mut ProgramCounts> {
        self.counts.as_mut()
    }
}

/// The program's per-CPU counters, summed; `delta` gives what was added
/// since the last call.
pub struct ProgramCounts {
    map: Arc<MapHandle>,
    last: [u64; ProgramCount::ALL.len()],
}

impl ProgramCounts {
    fn new(map: Arc<MapHandle>) -> ProgramCounts {
        ProgramCounts {
            map,
            last: [0; ProgramCount::ALL.len()],
        }
    }

    /// One counter, summed over CPUs.
    pub fn total(&self, c: ProgramCount) -> u64 {
        match self
            .map
            .lookup_percpu(&(c as u32).to_ne_bytes(), MapFlags::ANY)
        {
            Ok(Some(per_cpu)) => per_cpu
                .iter()
                .filter_map(|v| v.get(..8)?.try_into().ok().map(u64::from_ne_bytes))
                .sum(),
            _ => 0,
        }
    }

    /// Each counter's growth since the last call.
    pub fn delta(&mut self) -> [(ProgramCount, u64); ProgramCount::ALL.len()] {
        ProgramCount::ALL.map(|c| {
            let now = self.total(c);
            let d = now.saturating_sub(self.last[c as usize]);
            self.last[c as usize] = now;
            (c, d)
        })
    }
}

/// Wall clock minus CLOCK_MONOTONIC (wrapping), now.
fn wall_offset_ns() -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    wall.wrapping_sub(monotonic_now_ns())
}

/// CLOCK_MONOTONIC now, in nanoseconds: the programs stamp events with it
/// (`bpf_ktime_get_ns`), and std's `Instant` does not show its value.
pub fn monotonic_now_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// libbpf reads the syscall tracepoints' ids from tracefs, which a fresh
/// mount namespace (`ip netns exec`, a container) may not have: mounted
/// here when missing (root can; otherwise the attach error says what to do).
fn ensure_tracefs() {
    let at = Path::new("/sys/kernel/tracing");
    if at.join("events").exists() || Path::new("/sys/kernel/debug/tracing/events").exists() {
        return;
    }
    match rustix::mount::mount(
        "tracefs",
        at,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    ) {
        Ok(()) => {
            tracing::info!(target: "lifecycle", "mounted tracefs at /sys/kernel/tracing (the syscall tracepoints' ids)")
        }
        Err(e) => {
            tracing::debug!(target: "lifecycle", "cannot mount tracefs at /sys/kernel/tracing: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{TlsInfo, TlsSource};

    #[test]
    fn records_keep_what_the_captured_handshake_showed() {
        let none = info_from(None);
        assert_eq!(none.source, TlsSource::Uprobe);
        assert_eq!(none.sni, None);
        let nothing_yet = info_from(Some(&TlsInfo::default()));
        assert_eq!(*nothing_yet, *none);
        let seen = TlsInfo {
            sni: Some("api.test".into()),
            version: Some("TLS 1.3"),
            ..TlsInfo::default()
        };
        let got = info_from(Some(&seen));
        assert_eq!(got.source, TlsSource::Uprobe);
        assert_eq!(got.sni.as_deref(), Some("api.test"));
        assert_eq!(got.version, Some("TLS 1.3"));
    }

    #[test]
    fn device_numbers_take_the_kernels_encoding() {
        // glibc's makedev, what stat gives; the kernel's MKDEV is
        // major << 20 | minor.
        let makedev = |major: u64, minor: u64| {
            ((major & 0xfff) << 8)
                | ((major & !0xfff) << 32)
                | (minor & 0xff)
                | ((minor & !0xff) << 12)
        };
        assert_eq!(kernel_dev(makedev(0, 4)), 4); // nsfs
        assert_eq!(kernel_dev(makedev(8, 1)), 8 << 20 | 1); // sda1
        assert_eq!(kernel_dev(makedev(0, 0x12345)), 0x12345);
        assert_eq!(kernel_dev(makedev(0xabc, 0xfffff)), 0xabc << 20 | 0xfffff);
        let (dev, ino) = own_pidns().unwrap();
        assert!(
            ino > 0 && dev >> 20 == 0,
            "nsfs is an anonymous device: {dev:#x}"
        );
        assert_eq!(config_bytes(2, 7, 9, (4, 5)).len(), 32);
    }

    #[test]
    fn program_counts_follow_the_c_enum() {
        // enum count in ssl.bpf.c, in order.
        let order: Vec<u32> = ProgramCount::ALL.iter().map(|c| *c as u32).collect();
        assert_eq!(
            order,
            (0..ProgramCount::ALL.len() as u32).collect::<Vec<_>>()
        );
        let source = include_str!("ssl.bpf.c");
        let names = [
            "COUNT_EVENTS",
            "COUNT_BYTES",
            "COUNT_RING_FULL,",
            "COUNT_RING_FULL_BYTES",
            "COUNT_BEYOND_CHUNKS",
            "COUNT_NO_FD",
            "COUNT_NOT_TCP",
            "COUNT_CALLS_LOST",
            "COUNT_OTHER_NETNS",
            "COUNTS\n",
        ];
        let at: Vec<usize> = names.iter().map(|n| source.find(n).expect(n)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{names:?} out of order");
    }
}
