//! The af_xdp engine end to end, in network namespaces this test creates.
//! XDP takes the frames it steers away from the kernel stack, so httpcap
//! never attaches to a device a server or client uses: it captures on a
//! mirror port (tc mirred) or on the receiving end of a replay veth.
//! Needs root; skipped otherwise.

use crate::common;

use common::netns::{must, sh, Finished, Httpcap, Pair};
use common::workload::{
    comparable, curl_workload, loadgen_capture, record_keys, replay_at, replay_reference,
    replay_topspeed, sorted,
};

/// What httpcap logs once its sockets are open and the program steers.
const READY: &str = "shard socket(s)";

/// A third namespace `c` holding `m1`, whose peer `m0` sits in the pair's
/// namespace `a`, where tc mirrors every frame of `va` (both directions)
/// to `m0`. Segmentation offloads are off on every device involved, so
/// each mirrored frame is wire-sized and fits a UMEM frame.
struct Mirror {
    ns: String,
    dev: String,
}

impl Mirror {
    fn new(pair: &Pair, n: u8) -> Mirror {
        let ns = format!("hc{n}-{}c", std::process::id());
        let (m0, m1) = (format!("hm{n}x0"), format!("hm{n}x1"));
        must(&format!(
            "ip netns add {ns} && \
             ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && \
             ip -n {a} link add {m0} type veth peer name {m1} netns {ns} && \
             ip -n {a} link set {m0} up && ip -n {ns} link set {m1} up && \
             ip netns exec {a} ethtool -K {va} tso off gso off gro off && \
             ip netns exec {b} ethtool -K {vb} tso off gso off gro off && \
             ip netns exec {a} ethtool -K {m0} tso off gso off && \
             ip netns exec {ns} ethtool -K {m1} gro off && \
             ip netns exec {a} tc qdisc add dev {va} clsact && \
             ip netns exec {a} tc filter add dev {va} ingress u32 match u32 0 0 action mirred egress mirror dev {m0} && \
             ip netns exec {a} tc filter add dev {va} egress u32 match u32 0 0 action mirred egress mirror dev {m0}",
            a = pair.a,
            b = pair.b,
            va = pair.va,
            vb = pair.vb,
        ));
        Mirror { ns, dev: m1 }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        // m0 goes with the pair's namespace.
        let _ = sh(&format!("ip netns del {} 2>/dev/null", self.ns));
    }
}

/// The XDP program currently on `dev` in `ns`, as `ip link` shows it.
fn xdp_prog(ns: &str, dev: &str) -> Option<String> {
    let o = sh(&format!("ip -n {ns} -d link show dev {dev}"));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.lines()
        .find(|l| l.trim_start().starts_with("prog/xdp"))
        .map(|l| l.trim().to_string())
}

fn xdp_args<'a>(dev: &'a str, shards: &'a str) -> Vec<&'a str> {
    vec![
        "--input-raw-engine",
        "af_xdp",
        "--input-raw",
        dev,
        "--processing-workers",
        shards,
    ]
}

/// Nothing lost anywhere between the wire and the shards.
fn assert_nothing_lost(fin: &Finished) {
    for c in [
        "kernel_drops",
        "xdp_rx_ring_full",
        "xdp_fill_ring_empty",
        "xdp_invalid_descs",
        "xdp_no_socket",
        "steer_queue_full",
    ] {
        assert_eq!(fin.counter(c), 0, "{c}\n{}", fin.stderr);
    }
}

#[test]
fn af_xdp_on_a_mirror_port_matches_nginx_access_log() {
    if common::netns::skip() {
        return;
    }
    let mut pair = Pair::new(21, 1500);
    let mirror = Mirror::new(&pair, 21);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    let h = Httpcap::start_logged(
        &pair,
        &mirror.ns,
        &xdp_args(&mirror.dev, "2"),
        &[("ASSEMBLER_WORKER_PKT_BUF", "4096")],
        READY,
    );
    assert!(
        xdp_prog(&mirror.ns, &mirror.dev).is_some_and(|p| p.contains("httpcap_steer")),
        "no XDP program on {}",
        mirror.dev
    );
    curl_workload(&pair);
    // Sockets are open: the shards run without any capability.
    h.assert_shards_hold_no_capability(2);
    // Mirrored frames reach m1 asynchronously; give the last ones time to
    // arrive (settle time, not a performance assertion).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let log = pair.access_log();
    eprintln!(
        "af_xdp mirror: {} frames, {} records, per_shard_packets={:?}",
        fin.counter("packets"),
        fin.records.len(),
        fin.per_shard_packets()
    );
    assert_eq!(log.len(), 25);
    assert_eq!(record_keys(&fin.records), sorted(log), "{}", fin.stderr);
    assert_nothing_lost(&fin);
    assert_eq!(fin.counter("steer_misrouted"), 0);
    assert!(fin.counter("kernel_packets") >= fin.counter("packets"));
    assert_eq!(fin.counter("streams_midstream"), 0);
    assert_eq!(fin.counter("transactions_no_response"), 0);
    assert!(fin.stderr.contains("af_xdp: XDP program attached to"));
    // Detached at exit: the interface is left as it was.
    assert_eq!(xdp_prog(&mirror.ns, &mirror.dev), None);
}

/// veth's per-queue counter `name` (`ethtool -S`) for each RX queue.
fn per_queue(ns: &str, dev: &str, name: &str, queues: u32) -> Vec<u64> {
    let o = sh(&format!("ip netns exec {ns} ethtool -S {dev}"));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (0..queues)
        .map(|q| {
            let key = format!("rx_queue_{q}_{name}:");
            text.lines()
                .find_map(|l| l.trim().strip_prefix(&key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// Replays a generated capture at full speed into `a`'s end of a veth
/// whose MTU decides the XDP mode (1500: native; 9000: generic, since
/// veth's native XDP needs a multi-buffer program above a page), with 2
/// shards, and compares with the `pcap_file` output of the same capture.
/// With 2 queues, each queue has its own UMEM and a socket per shard.
fn replay_equals_file(n: u8, mtu: u32, queues: u32, ipip: bool) {
    if common::netns::missing("tcpreplay") {
        return;
    }
    let pair = Pair::with_queues(n, mtu, queues);
    let (pcap, file) = replay_reference(&pair, ipip);
    let ipip_env = if ipip { "true" } else { "false" };

    let h = Httpcap::start_logged(
        &pair,
        &pair.a,
        &xdp_args(&pair.va, "2"),
        &[("IPIP", ipip_env)],
        READY,
    );
    replay_topspeed(&pair, &pcap);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let live = h.stop();
    let veth = sh(&format!("ip -n {} -s link show dev {}", pair.a, pair.va));
    let diag = format!("{}\n{}", live.stderr, String::from_utf8_lossy(&veth.stdout));
    assert_eq!(live.code, Some(0), "{diag}");
    let mode = if mtu > 1500 { "generic" } else { "native" };
    assert!(live.stderr.contains(&format!("in {mode} (")), "{diag}");
    assert_nothing_lost(&live);
    assert_eq!(live.counter("packets"), file.counter("packets"), "{diag}");
    assert_eq!(live.counter("bytes"), file.counter("bytes"));
    assert_eq!(live.counter("kernel_packets"), file.counter("packets"));
    // The XDP program put every frame on the shard that owns its
    // connection (each shard checks every frame it gets), so both
    // directions of every connection were on one shard; and both shards
    // had connections.
    assert_eq!(live.counter("steer_misrouted"), 0, "{diag}");
    assert_eq!(live.counter("streams_midstream"), 0);
    let shards = live.per_shard_packets();
    eprintln!(
        "af_xdp replay (MTU {mtu}, {mode}): {} frames, {} records, per_shard_packets={shards:?}",
        live.counter("packets"),
        live.records.len()
    );
    assert!(shards.iter().all(|p| *p > 0), "{shards:?}");
    assert_eq!(comparable(&live.records), comparable(&file.records));
    assert!(
        live.stderr
            .contains(&format!("{queues} RX queue(s) x 2 shard socket(s)")),
        "{diag}"
    );
    if mode == "native" {
        // veth counts what its native XDP redirected, per queue: every
        // queue carried traffic.
        let redirected = per_queue(&pair.a, &pair.va, "xdp_redirect", queues);
        eprintln!("af_xdp replay: redirected per RX queue {redirected:?}");
        assert!(redirected.iter().all(|r| *r > 0), "{redirected:?}");
        assert_eq!(redirected.iter().sum::<u64>(), file.counter("packets"));
    }
}

#[test]
fn af_xdp_native_two_queue_replay_equals_pcap_file_output() {
    if common::netns::skip() {
        return;
    }
    replay_equals_file(22, 1500, 2, false);
}

#[test]
fn af_xdp_generic_ipip_replay_equals_pcap_file_output() {
    if common::netns::skip() {
        return;
    }
    replay_equals_file(23, 9000, 1, true);
}

#[test]
fn af_xdp_port_list_filters_in_userspace() {
    if common::netns::skip_without(&["tcpreplay"]) {
        return;
    }
    let pair = Pair::new(27, 1500);
    let pcap = pair.dir.join("ports.pcap");
    loadgen_capture(&pcap, false);
    // The loadgen's servers listen on 80: a port list of 80 keeps every
    // connection, one of 8443 none, and what it rejects is counted.
    for (port, expect_all) in [(80u16, true), (8443, false)] {
        let input = format!("{}:{port}", pair.va);
        let h = Httpcap::start_logged(&pair, &pair.a, &xdp_args(&input, "2"), &[], READY);
        replay_at(&pair, &pcap, "--topspeed");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let fin = h.stop();
        assert_eq!(fin.code, Some(0), "{}", fin.stderr);
        assert_nothing_lost(&fin);
        // Every frame was either delivered or counted as filtered (the
        // default filter also drops a few of the loadgen's hosts).
        let seen = fin.counter("kernel_packets");
        assert!(seen > 0);
        assert_eq!(fin.counter("packets") + fin.counter("filter_bpf"), seen);
        if expect_all {
            assert!(fin.records.len() > 1000, "{}", fin.stderr);
        } else {
            assert_eq!(fin.records.len(), 0, "{}", fin.stderr);
            assert_eq!(fin.counter("packets"), 0);
        }
    }
}

#[test]
fn af_xdp_killed_leaves_no_program_and_restarts() {
    if common::netns::skip() {
        return;
    }
    let pair = Pair::new(24, 1500);
    let args = xdp_args(&pair.va, "2");
    let h = Httpcap::start_logged(&pair, &pair.a, &args, &[], READY);
    assert!(xdp_prog(&pair.a, &pair.va).is_some());
    // SIGKILL: the kernel closes the BPF link, which detaches the program.
    let fin = h.kill();
    assert_ne!(fin.code, Some(0));
    common::netns::wait_for(
        || xdp_prog(&pair.a, &pair.va).is_none(),
        "the XDP program to go with the killed process",
    );
    let h = Httpcap::start_logged(&pair, &pair.a, &args, &[], READY);
    assert!(xdp_prog(&pair.a, &pair.va).is_some());
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    assert_eq!(xdp_prog(&pair.a, &pair.va), None);
}

#[test]
fn af_xdp_counts_frames_too_long_for_a_umem_frame() {
    if common::netns::skip_without(&["ping"]) {
        return;
    }
    // MTU 9000: 5042-byte frames reach XDP whole, and a 4 KiB UMEM frame
    // holds 3840 bytes of packet.
    let pair = Pair::new(26, 9000);
    let mac = must(&format!(
        "ip netns exec {} cat /sys/class/net/{}/address",
        pair.a, pair.va
    ))
    .trim()
    .to_string();
    // XDP takes ARP too: b is told a's address up front.
    must(&format!(
        "ip -n {} neigh replace {} lladdr {mac} dev {}",
        pair.b, pair.ip_a, pair.vb
    ));
    let h = Httpcap::start_logged(&pair, &pair.a, &xdp_args(&pair.va, "2"), &[], READY);
    // No echo reply comes back (a's stack never sees the requests).
    let _ = sh(&format!(
        "ip netns exec {} ping -c 5 -i 0.2 -W 1 -s 5000 {}",
        pair.b, pair.ip_a
    ));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    assert_eq!(fin.counter("kernel_drops"), 5, "{}", fin.stderr);
    assert_eq!(fin.counter("packets"), 0, "{}", fin.stderr);
    assert!(fin.counter("kernel_packets") >= 5);
}

#[test]
fn af_xdp_replaces_its_own_stale_program_and_refuses_others() {
    if common::netns::skip() {
        return;
    }
    let pair = Pair::new(28, 1500);
    let (ns, dev) = (&pair.a, &pair.va);
    let obj = env!("HTTPCAP_XDP_OBJECT");
    // Ours, attached the old way (netlink, no link): as if left by hand.
    must(&format!(
        "ip -n {ns} link set dev {dev} xdpgeneric obj {obj} sec xdp program httpcap_steer"
    ));
    let h = Httpcap::start_logged(&pair, ns, &xdp_args(dev, "2"), &[], READY);
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    assert!(
        fin.stderr.contains("removed a stale httpcap_steer program"),
        "{}",
        fin.stderr
    );
    assert_eq!(xdp_prog(ns, dev), None);

    // Someone else's (here the test-only probe, under its own name).
    must(&format!(
        "ip -n {ns} link set dev {dev} xdpgeneric obj {obj} sec xdp program httpcap_hash_probe"
    ));
    let (code, err) = error_exit(ns, "", &xdp_args(dev, "2"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{dev} already has an XDP program"))
            && err.contains("httpcap_hash_pr"),
        "{err}"
    );
    // Left alone.
    assert!(xdp_prog(ns, dev).is_some_and(|p| p.contains("httpcap_hash_pr")));
}

/// Runs httpcap in `ns` (under `wrap`) to its error exit; (exit code, stderr).
fn error_exit(ns: &str, wrap: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let done = common::Run::new()
        .in_netns(ns)
        .wrapped(wrap)
        .args(args)
        .envs(env.iter().copied())
        .output();
    (done.code, done.stderr)
}

#[test]
fn af_xdp_bad_interface_filter_and_privileges_are_clear_errors() {
    if common::netns::skip() {
        return;
    }
    // Only the namespace's own devices are ever named.
    let pair = Pair::new(25, 1500);
    let ns = &pair.a;

    let (code, err) = error_exit(ns, "", &xdp_args("nosuchif9", "2"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("INPUT_RAW (--input-raw): no network interface 'nosuchif9'"),
        "{err}"
    );

    let (code, err) = error_exit(ns, "", &xdp_args("any", "2"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("'any' cannot be used with INPUT_RAW_ENGINE=af_xdp"),
        "{err}"
    );

    let (code, err) = error_exit(
        ns,
        "",
        &xdp_args(&pair.va, "2"),
        &[("INPUT_RAW_BPF_FILTER", "tcp port eighty")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "INPUT_RAW_BPF_FILTER (--input-raw-bpf-filter): invalid filter 'tcp port eighty'"
        ),
        "{err}"
    );

    // Without CAP_BPF and CAP_SYS_ADMIN (setpriv drops them from the
    // bounding set, so even root lacks them after exec).
    let (code, err) = error_exit(
        ns,
        "setpriv --inh-caps=-bpf,-sys_admin --bounding-set=-bpf,-sys_admin",
        &xdp_args(&pair.va, "2"),
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("INPUT_RAW_ENGINE=af_xdp needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF")
            && err.contains("missing CAP_BPF"),
        "{err}"
    );
    // None of them attached anything.
    assert_eq!(xdp_prog(ns, &pair.va), None);
}
