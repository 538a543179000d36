//! Capabilities: live capture needs CAP_NET_RAW (packet sockets) and
//! CAP_NET_ADMIN (promiscuous mode, fanout programs, XDP). Both are checked
//! before anything is opened, and every capability is dropped once the
//! sockets are open: nothing after that needs privilege.

use caps::{CapSet, Capability};

/// Checks the effective set; the error is one line saying what to grant.
pub fn check_capture(engine: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    for (cap, why) in [
        (Capability::CAP_NET_RAW, "packet sockets"),
        (Capability::CAP_NET_ADMIN, "promiscuous mode and fanout"),
    ] {
        match caps::has_cap(None, CapSet::Effective, cap) {
            Ok(true) => {}
            Ok(false) => missing.push(format!("{cap} ({why})")),
            Err(e) => return Err(format!("cannot read capabilities: {e}")),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "INPUT_RAW_ENGINE={engine} needs CAP_NET_RAW and CAP_NET_ADMIN; missing {}: run as root or grant them (docker: cap_add: [NET_RAW, NET_ADMIN])",
            missing.join(" and ")
        ))
    }
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
