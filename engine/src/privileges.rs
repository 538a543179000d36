//! Capabilities, checked before anything is opened and dropped once the
//! privileged work is done. Live capture needs CAP_NET_RAW (packet and
//! AF_XDP sockets) and CAP_NET_ADMIN (promiscuous mode, fanout programs,
//! XDP); af_xdp also loads a BPF program, which needs CAP_BPF (or
//! CAP_SYS_ADMIN on kernels before 5.8). Capabilities belong to threads:
//! the main thread drops all of them once the sockets are open, the
//! threads it starts after that inherit nothing, and the JSON-lines
//! writer (started earlier) drops its own as it starts. Nothing after that
//! needs privilege (closing the XDP link detaches the program without
//! any). With TLS_UPROBE_LIBS uprobes need CAP_SYS_ADMIN, and `auto`
//! CAP_SYS_PTRACE to read other processes' maps: only the thread that
//! finds and probes libssl files keeps those two (threads share memory,
//! so that is no wall against a thread gone wrong: naming the files
//! instead leaves no capability anywhere).

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

/// The capture engine (and the TLS uprobes, when on) need capabilities
/// the process does not have: one line saying which and how to grant
/// them (a configuration error).
#[derive(Debug, thiserror::Error)]
#[error("{setting} needs {needs}; missing {}: run as root or grant them (docker: cap_add: [{docker}])", .missing.join(" and "))]
pub struct MissingCapabilities {
    /// What asks for them: `INPUT_RAW_ENGINE=af_packet`, with the
    /// uprobes' setting if on.
    pub setting: String,
    /// Every capability needed.
    pub needs: String,
    /// The ones lacking, each with what it is for.
    pub missing: Vec<String>,
    /// The same as docker's cap_add names.
    pub docker: String,
}

/// What the TLS uprobes need besides the capture (TLS_UPROBE_LIBS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeNeeds {
    /// Off.
    None,
    /// Given files: load BPF programs, open uprobe and tracepoint events.
    Files,
    /// `auto`: also read other processes' memory maps and roots.
    Auto,
}

fn has(cap: Capability) -> Result<bool, PrivilegeError> {
    caps::has_cap(None, CapSet::Effective, cap).map_err(PrivilegeError::Read)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Checks the effective set for the capture `engine` and the uprobes;
/// the error is one line saying what to grant.
pub fn check_capture(engine: &str, uprobes: UprobeNeeds) -> Result<(), PrivilegeError> {
    let xdp = engine == "af_xdp";
    let probes = uprobes != UprobeNeeds::None;
    // (capability, how it reads in the line, docker's name, what for)
    let mut wanted = vec![
        (
            Capability::CAP_NET_RAW,
            "CAP_NET_RAW",
            "NET_RAW",
            "packet sockets",
        ),
        (
            Capability::CAP_NET_ADMIN,
            "CAP_NET_ADMIN",
            "NET_ADMIN",
            "promiscuous mode and fanout",
        ),
    ];
    if probes {
        // Uprobe events are refused to CAP_BPF + CAP_PERFMON alone
        // (EACCES, measured on 6.18); CAP_SYS_ADMIN covers loading too.
        wanted.push((
            Capability::CAP_SYS_ADMIN,
            "CAP_SYS_ADMIN",
            "SYS_ADMIN",
            "uprobes and their BPF programs",
        ));
    } else if xdp {
        wanted.push((
            Capability::CAP_BPF,
            "CAP_BPF (or CAP_SYS_ADMIN)",
            "BPF",
            "loading the XDP program",
        ));
    }
    if uprobes == UprobeNeeds::Auto {
        wanted.push((
            Capability::CAP_SYS_PTRACE,
            "CAP_SYS_PTRACE",
            "SYS_PTRACE",
            "reading other processes' memory maps",
        ));
    }
    let admin = has(Capability::CAP_SYS_ADMIN)?;
    let mut missing = Vec::new();
    for &(cap, _, _, why) in &wanted {
        // CAP_SYS_ADMIN stands in for CAP_BPF (kernels before 5.8).
        let granted = has(cap)? || (cap == Capability::CAP_BPF && admin);
        if !granted {
            missing.push(format!("{cap} ({why})"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let needs: Vec<&str> = wanted.iter().map(|w| w.1).collect();
    let mut docker: Vec<&str> = wanted.iter().map(|w| w.2).collect();
    if xdp {
        docker.push("IPC_LOCK");
    }
    let setting = match uprobes {
        UprobeNeeds::None => format!("INPUT_RAW_ENGINE={engine}"),
        UprobeNeeds::Files => format!("INPUT_RAW_ENGINE={engine} with TLS_UPROBE_LIBS"),
        UprobeNeeds::Auto => format!("INPUT_RAW_ENGINE={engine} with TLS_UPROBE_LIBS=auto"),
    };
    Err(MissingCapabilities {
        setting,
        needs: and_list(&needs),
        missing,
        docker: docker.join(", "),
    }
    .into())
}

/// What the thread that finds and probes libssl files keeps once every
/// other thread has dropped everything: CAP_SYS_ADMIN (uprobe events)
/// and CAP_SYS_PTRACE (other processes' maps and roots). Call on that
/// thread.
pub fn keep_only_uprobe_capabilities() -> Result<(), PrivilegeError> {
    let keep: caps::CapsHashSet = [Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE]
        .into_iter()
        .collect();
    for set in [CapSet::Ambient, CapSet::Inheritable] {
        caps::clear(None, set).map_err(PrivilegeError::Drop)?;
    }
    // Effective first: it must stay within the permitted set.
    caps::set(None, CapSet::Effective, &keep).map_err(PrivilegeError::Drop)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(PrivilegeError::Drop)?;
    Ok(())
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
