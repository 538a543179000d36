//! Shard tests: what must hold across connections.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use super::*;
use crate::capture::testpkt::{ether, ip, tcp};
use crate::frame::LinkType;
use crate::stats::Registry;

/// Keeps record targets; panics, as a bug would, on a target with "boom".
struct Collect(Arc<Mutex<Vec<String>>>);

impl RecordSink for Collect {
    fn write(&mut self, view: &RecordView<'_>, _line: &[u8]) {
        let target = view
            .txn
            .request
            .as_ref()
            .map(|r| r.head.target().to_string())
            .unwrap_or_default();
        assert!(!target.contains("boom"), "a bug on {target}");
        self.0.lock().unwrap().push(target);
    }
}

fn frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let (src, dst) = if dport == 80 { (a, b) } else { (b, a) };
    ether(0x0800, &ip(src, dst, 6, &tcp(sport, dport, payload)))
}

#[test]
fn a_panic_in_one_connection_costs_only_that_connection() {
    crate::panic_guard::install_hook();
    let (_reg, mut handles) = Registry::new(1);
    let (stats, hist) = handles.pop().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut shard = Shard::new(
        0,
        ShardSettings::defaults(),
        Arc::new(Filters::none()),
        Arc::new(RecordCtx::default()),
        vec![Box::new(Collect(seen.clone()))],
        stats.clone(),
        hist,
    );
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (port, target) in [(40000, "/boom"), (40001, "/fine")] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        for data in [
            frame(port, 80, request.as_bytes()),
            frame(80, port, response),
        ] {
            shard.handle_packet(Packet {
                ts_ns: 1_000_000_000,
                link: LinkType::Ethernet,
                data: &data,
            });
        }
    }
    shard.finish();
    assert_eq!(*seen.lock().unwrap(), vec!["/fine".to_string()]);
    assert_eq!(stats.get(Counter::ConnectionPanics), 1);
    assert_eq!(stats.gauge(Gauge::ActiveStreams), 0);
}
