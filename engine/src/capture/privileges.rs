//! Capabilities: live capture needs CAP_NET_RAW (packet and AF_XDP
//! sockets) and CAP_NET_ADMIN (promiscuous mode, fanout programs, XDP);
//! af_xdp also loads a BPF program, which needs CAP_BPF (or CAP_SYS_ADMIN
//! on kernels before 5.8). They are checked before anything is opened,
//! and every capability is dropped once the sockets are open: nothing
//! after that needs privilege (closing the XDP link detaches the program
//! without any).

use caps::errors::CapsError;
use caps::{CapSet, Capability};

/// Why the capture's capabilities could not be checked or are lacking.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("cannot read capabilities: {0}")]
    Read(#[source] CapsError),
    #[error("cannot drop capabilities: {0}")]
    Drop(#[source] CapsError),
    #[error(transparent)]
    Missing(#[from] MissingCapabilities),
}

/// The capture engine needs capabilities the process does not have: one
/// line saying which and how to grant them (a configuration error).
#[derive(Debug, thiserror::Error)]
#[error("INPUT_RAW_ENGINE={engine} needs {needs}; missing {}: run as root or grant them (docker: cap_add: [{docker}])", .missing.join(" and "))]
pub struct MissingCapabilities {
    pub engine: String,
    /// Every capability the engine needs.
    pub needs: &'static str,
    /// The ones lacking, each with what it is for.
    pub missing: Vec<String>,
    /// The same as docker's cap_add names.
    pub docker: &'static str,
}

fn has(cap: Capability) -> Result<bool, PrivilegeError> {
    caps::has_cap(None, CapSet::Effective, cap).map_err(PrivilegeError::Read)
}

/// Checks the effective set; the error is one line saying what to grant.
pub fn check_capture(engine: &str) -> Result<(), PrivilegeError> {
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
    Err(MissingCapabilities {
        engine: engine.to_string(),
        needs,
        missing,
        docker,
    }
    .into())
}

/// Drops every capability of the calling thread (threads started later
/// inherit the empty sets).
pub fn drop_all() -> Result<(), PrivilegeError> {
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(PrivilegeError::Drop)?;
    }
    Ok(())
}
