//! Who saw a record: the sensor's host name, what it captured from and
//! httpcap's version, so that records from many sensors feeding one topic
//! can be told apart. Built once per run and serialized once (see
//! `RecordCtx::new`), so a record pays only for copying its bytes.

use std::path::Path;

/// The record's `observer` object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observer {
    /// The machine's host name, read once at start.
    pub host: String,
    /// What the run captured from: see `Observer::input_label`.
    pub interface: String,
    /// httpcap's version.
    pub version: String,
}

impl Observer {
    /// The observer of this process, capturing from `interface`.
    pub fn new(interface: String) -> Observer {
        Observer {
            host: host_name(),
            interface,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The `interface` value for an INPUT_RAW list. A shard's rings do not
    /// tell which interface a connection's packets came through, so a run
    /// on several interfaces names them all: live input gives the interface
    /// names without their port lists (`eth0:80,eth0:8080,eth1` →
    /// `eth0,eth1`), file input the capture files' names without their
    /// directories (`/data/a.pcap` → `a.pcap`), comma-separated, each once.
    pub fn input_label(input_raw: &str, file_input: bool) -> String {
        let mut names: Vec<String> = Vec::new();
        for item in input_raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let name = if file_input {
                Path::new(item)
                    .file_name()
                    .map_or_else(|| item.to_string(), |n| n.to_string_lossy().into_owned())
            } else {
                item.rsplit_once(':')
                    .map_or(item, |(name, _port)| name.trim())
                    .to_string()
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(",")
    }
}

/// The machine's host name (empty if the kernel will not say): the UTS
/// namespace's, as gethostname(2) would return it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_input_names_interfaces_once_without_ports() {
        assert_eq!(Observer::input_label("eth0", false), "eth0");
        assert_eq!(
            Observer::input_label("eth0:80, eth0:8080,eth1,", false),
            "eth0,eth1"
        );
        assert_eq!(Observer::input_label("any", false), "any");
    }

    #[test]
    fn file_input_names_files_without_directories() {
        assert_eq!(
            Observer::input_label("/data/caps/a.pcap,b.pcapng", true),
            "a.pcap,b.pcapng"
        );
    }

    #[test]
    fn host_name_matches_the_kernel() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        assert_eq!(host_name(), kernel.trim());
    }
}
