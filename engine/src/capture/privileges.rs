//! Capabilities: live capture needs CAP_NET_RAW (packet and AF_XDP
//! sockets) and CAP_NET_ADMIN (promiscuous mode, fanout programs, XDP);
//! af_xdp also loads a BPF program, which needs CAP_BPF (or CAP_SYS_ADMIN
//! on kernels before 5.8). They are checked before anything is opened,
//! and every capability is dropped once the sockets are open: nothing
//! after that needs privilege (closing the XDP link detaches the program
//! without any).

use caps::{CapSet, Capability};

fn has(cap: Capability) -> Result<bool, String> {
    caps::has_cap(None, CapSet::Effective, cap)
        .map_err(|e| format!("cannot read capabilities: {e}"))
}

/// Checks the effective set; the error is one line saying what to grant.
pub fn check_capture(engine: &str) -> Result<(), String> {
    let xdp = engine == "af_xdp";
    let mut missing = Vec::new();
    for (cap, why) in [
        (Capability::CAP_NET_RAW, "packet sockets"),
        (Capability::CAP_NET_ADMIN, "promiscuous mode and fanout"),
    ] {
        if !has(cap)? {
            missing.push(format!("{cap} ({why})"));
        }
    }
    if xdp && !has(Capability::CAP_BPF)? && !has(Capability::CAP_SYS_ADMIN)? {
        missing.push("CAP_BPF (loading the XDP program)".into());
    }
    if missing.is_empty() {
        return Ok(());
    }
    let (needs, docker) = if xdp {
        (
            "CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN)",
            "NET_RAW, NET_ADMIN, BPF, IPC_LOCK",
        )
    } else {
        ("CAP_NET_RAW and CAP_NET_ADMIN", "NET_RAW, NET_ADMIN")
    };
    Err(format!(
        "INPUT_RAW_ENGINE={engine} needs {needs}; missing {}: run as root or grant them (docker: cap_add: [{docker}])",
        missing.join(" and ")
    ))
}

/// Drops every capability of the calling thread (threads started later
/// inherit the empty sets).
pub fn drop_all() -> Result<(), String> {
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("cannot drop capabilities: {e}"))?;
    }
    Ok(())
}
