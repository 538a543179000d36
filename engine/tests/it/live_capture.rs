//! Live capture end to end, in network namespaces this test creates:
//! nginx in one, curl/wrk/tcpreplay in the other, httpcap capturing on the
//! veth between them with each live engine. Needs root; skipped otherwise.

use crate::common;

use common::netns::{must, run_to_end, Httpcap, Pair};
use common::workload::{
    comparable, curl_workload, loadgen_capture, loadgen_capture_with, record_keys, replay_at,
    replay_reference, replay_topspeed, sorted,
};
use serde_json::Value;

fn check_against_access_log(engine: &str, n: u8) {
    let mut pair = Pair::new(n, 1500);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    let h = Httpcap::start(
        &pair,
        &[
            "--input-raw-engine",
            engine,
            "--input-raw",
            &pair.va,
            "--processing-workers",
            "2",
        ],
        &[("ASSEMBLER_WORKER_PKT_BUF", "4096")],
        2,
    );
    curl_workload(&pair);
    // Sockets are open: the shards run without any capability.
    h.assert_shards_hold_no_capability(2);
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let log = pair.access_log();
    assert_eq!(log.len(), 25);
    assert_eq!(record_keys(&fin.records), sorted(log), "{}", fin.stderr);
    // Records name the interface they were captured on.
    assert!(fin
        .records
        .iter()
        .all(|r| r["observer"]["interface"] == *pair.va));
    assert_eq!(fin.counter("steer_misrouted"), 0);
    assert_eq!(fin.counter("kernel_drops"), 0);
    assert!(fin.counter("kernel_packets") >= fin.counter("packets"));
    // Both directions of each connection were on one shard: no connection
    // was picked up mid-stream or left without its response.
    assert_eq!(fin.counter("streams_midstream"), 0);
    assert_eq!(fin.counter("transactions_no_response"), 0);
}

#[test]
fn af_packet_records_match_nginx_access_log() {
    if common::netns::skip() {
        return;
    }
    check_against_access_log("af_packet", 1);
}

#[test]
fn pcap_engine_records_match_nginx_access_log() {
    if common::netns::skip() {
        return;
    }
    check_against_access_log("pcap", 2);
}

#[test]
fn wrk_load_with_two_shards_loses_nothing() {
    if common::netns::skip_without(&["wrk"]) {
        return;
    }
    let mut pair = Pair::new(3, 1500);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    let h = Httpcap::start(
        &pair,
        &["--input-raw", &pair.va, "--processing-workers", "2"],
        &[],
        2,
    );
    must(&format!(
        "ip netns exec {} wrk -t2 -c16 -d3s http://{}/api/load",
        pair.b, pair.ip_a
    ));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let log = pair.access_log();
    eprintln!(
        "wrk: {} requests, kernel_packets={} kernel_drops={} per_shard_packets={:?}",
        log.len(),
        fin.counter("kernel_packets"),
        fin.counter("kernel_drops"),
        fin.per_shard_packets()
    );
    assert!(log.len() > 1000, "wrk made only {} requests", log.len());
    assert_eq!(fin.counter("kernel_drops"), 0);
    assert_eq!(fin.counter("steer_misrouted"), 0);
    assert_eq!(fin.records.len(), log.len(), "{}", fin.stderr);
    assert!(fin.per_shard_packets().iter().all(|p| *p > 0));
}

#[test]
fn vxlan_connections_stay_on_one_shard() {
    if common::netns::skip() {
        return;
    }
    let mut pair = Pair::new(4, 1500);
    let (_dev, xa, _xb) = pair.add_vxlan(4);
    pair.start_nginx(&format!("{xa}:80"));
    // Capture on the underlay: every frame is VXLAN, whose outer UDP
    // source port differs per direction.
    let h = Httpcap::start(
        &pair,
        &["--input-raw", &pair.va, "--processing-workers", "2"],
        &[("ASSEMBLER_WORKER_PKT_BUF", "4096")],
        2,
    );
    for i in 0..40 {
        must(&format!(
            "ip netns exec {} curl -sf -o /dev/null http://{xa}/api/vx/{i}",
            pair.b
        ));
    }
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let shards = fin.per_shard_packets();
    eprintln!("vxlan: per_shard_packets={shards:?}");
    assert_eq!(fin.records.len(), 40, "{}", fin.stderr);
    // The fanout program put every frame on the shard that owns its inner
    // connection (the shard checks each one), and both shards had work.
    assert_eq!(fin.counter("steer_misrouted"), 0);
    assert_eq!(fin.counter("streams_midstream"), 0);
    assert!(shards.iter().all(|p| *p > 0), "{shards:?}");
    for r in &fin.records {
        assert_eq!(r["conn"]["server_ip"], Value::from(xa.clone()));
    }
}

fn replay_equals_file(n: u8, ipip: bool) {
    if common::netns::missing("tcpreplay") {
        return;
    }
    let pair = Pair::new(n, 9000);
    let (pcap, file) = replay_reference(&pair, ipip);
    let ipip_env = if ipip { "true" } else { "false" };

    // Captured where tcpreplay sends: the kernel hands every transmitted
    // frame to packet sockets synchronously, so the receive side's backlog
    // (which drops under CPU contention, invisibly to us) is not involved.
    let h = Httpcap::start_in(
        &pair,
        &pair.b,
        &["--input-raw", &pair.vb, "--processing-workers", "2"],
        &[("IPIP", ipip_env)],
        2,
    );
    replay_topspeed(&pair, &pcap);
    // Shards drain their rings at shutdown; the last block retires within
    // 1 ms. Settle time, not a performance assertion.
    let frames = file.counter("packets");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let live = h.stop();
    assert_eq!(live.code, Some(0), "{}", live.stderr);
    assert_eq!(live.counter("kernel_drops"), 0, "{}", live.stderr);
    assert_eq!(live.counter("packets"), frames, "{}", live.stderr);
    assert_eq!(live.counter("bytes"), file.counter("bytes"));
    assert_eq!(live.counter("steer_misrouted"), 0);
    assert_eq!(comparable(&live.records), comparable(&file.records));
}

#[test]
fn tcpreplay_live_output_equals_pcap_file_output() {
    if common::netns::skip() {
        return;
    }
    replay_equals_file(5, false);
}

#[test]
fn tcpreplay_ipip_live_output_equals_pcap_file_output() {
    if common::netns::skip() {
        return;
    }
    replay_equals_file(6, true);
}

#[test]
fn ipip_port_list_matches_inner_ports() {
    if common::netns::skip_without(&["tcpreplay"]) {
        return;
    }
    let pair = Pair::new(7, 9000);
    let pcap = pair.dir.join("ipip.pcap");
    loadgen_capture(&pcap, true);
    // The loadgen's servers listen on 80; a port list of 80 keeps every
    // tunnelled connection, a list of 8443 none.
    for (port, expect_all) in [(80u16, true), (8443, false)] {
        let h = Httpcap::start_in(
            &pair,
            &pair.b,
            &[
                "--input-raw",
                &format!("{}:{port}", pair.vb),
                "--processing-workers",
                "1",
            ],
            &[("IPIP", "true")],
            1,
        );
        replay_at(&pair, &pcap, "--topspeed");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let fin = h.stop();
        assert_eq!(fin.code, Some(0), "{}", fin.stderr);
        if expect_all {
            assert!(fin.records.len() > 1000, "{}", fin.stderr);
        } else {
            assert_eq!(fin.records.len(), 0, "{}", fin.stderr);
        }
    }
}

/// Runs httpcap (under `wrap`) to its error exit; (exit code, stderr).
fn config_error(args: &[&str], env: &[(&str, &str)], wrap: Option<&str>) -> (Option<i32>, String) {
    let done = common::Run::new()
        .wrapped(wrap.unwrap_or(""))
        .args(args)
        .envs(env.iter().copied())
        .output();
    (done.code, done.stderr)
}

#[test]
fn bad_interface_filter_and_privileges_are_clear_errors() {
    if common::netns::skip() {
        return;
    }
    let (code, err) = config_error(&["--input-raw", "nosuchif9"], &[], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("INPUT_RAW (--input-raw): no network interface 'nosuchif9'"),
        "{err}"
    );

    let (code, err) = config_error(&["--input-raw", "lo:http"], &[], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("INPUT_RAW (--input-raw): invalid port"),
        "{err}"
    );

    for engine in ["af_packet", "pcap", "pcap_file"] {
        let input = if engine == "pcap_file" {
            "testdata/sample.pcap"
        } else {
            "lo"
        };
        let (code, err) = config_error(
            &["--input-raw-engine", engine, "--input-raw", input],
            &[("INPUT_RAW_BPF_FILTER", "tcp port eighty")],
            None,
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(
                "INPUT_RAW_BPF_FILTER (--input-raw-bpf-filter): invalid filter 'tcp port eighty'"
            ),
            "{err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{err}"
        );
    }

    // Without the two capabilities (setpriv drops them from the bounding
    // set, so even root lacks them after exec).
    for engine in ["af_packet", "pcap"] {
        let (code, err) = config_error(
            &["--input-raw-engine", engine, "--input-raw", "lo"],
            &[],
            Some("setpriv --inh-caps=-net_raw,-net_admin --bounding-set=-net_raw,-net_admin"),
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("needs CAP_NET_RAW and CAP_NET_ADMIN; missing"),
            "{err}"
        );
    }
    // The TLS uprobes' own (checked before anything is loaded).
    let (code, err) = config_error(
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            "lo",
            "--tls-uprobe-libs",
            "auto",
        ],
        &[],
        Some("setpriv --inh-caps=-sys_ptrace,-sys_admin --bounding-set=-sys_ptrace,-sys_admin"),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("INPUT_RAW_ENGINE=af_packet with TLS_UPROBE_LIBS=auto needs CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_SYS_PTRACE; missing CAP_SYS_ADMIN (uprobes and their BPF programs) and CAP_SYS_PTRACE (reading other processes' memory maps)"),
        "{err}"
    );
    // af_xdp's errors are tested in live_xdp.rs, on interfaces of its own
    // namespaces: it must never attach to the host's.
}

#[test]
fn vlan_tags_moved_to_ring_metadata_are_restored() {
    if common::netns::skip_without(&["tcpreplay"]) {
        return;
    }
    let pair = Pair::new(8, 9000);
    let pcap = pair.dir.join("vlan.pcap");
    loadgen_capture_with(&pcap, &["--vlan", "42"]);
    let file = run_to_end(
        &[
            "--input-raw-engine",
            "pcap_file",
            "--input-raw",
            pcap.to_str().unwrap(),
        ],
        &[],
        &pair.dir.join("file.json"),
    );
    assert_eq!(file.code, Some(0), "{}", file.stderr);
    // Captured on the receiving veth, where the kernel takes the tag out
    // of the frame into the ring's metadata. A moderate rate: the receive
    // backlog would drop at full speed on a busy machine.
    let h = Httpcap::start(
        &pair,
        &["--input-raw", &pair.va, "--processing-workers", "2"],
        &[],
        2,
    );
    replay_at(&pair, &pcap, "--pps 10000");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let live = h.stop();
    assert_eq!(live.code, Some(0), "{}", live.stderr);
    assert_eq!(live.counter("kernel_drops"), 0, "{}", live.stderr);
    assert_eq!(live.counter("steer_misrouted"), 0);
    assert!(!file.records.is_empty());
    assert_eq!(comparable(&live.records), comparable(&file.records));
    // Same frames, same bytes: each tag (4 bytes) was put back.
    assert_eq!(live.counter("packets"), file.counter("packets"));
    assert_eq!(
        live.counter("bytes"),
        file.counter("bytes"),
        "{}",
        live.stderr
    );
}

/// httpcap's own Prometheus listener (`/metrics`, `/health`) is never
/// captured, whether bound to the captured interface's address or to every
/// address, while nginx's traffic on the same veth in the same run is.
#[test]
fn own_metrics_listener_is_not_captured() {
    if common::netns::skip() {
        return;
    }
    let mut pair = Pair::new(9, 1500);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    for (run, bind) in [format!("{}:9100", pair.ip_a), "0.0.0.0:9100".into()]
        .iter()
        .enumerate()
    {
        let metrics = format!("prometheus:{bind}");
        let h = Httpcap::start(
            &pair,
            &["--input-raw", &pair.va, "--processing-workers", "1"],
            &[("METRICS_OUTPUT", &metrics)],
            1,
        );
        for i in 0..5 {
            for path in ["metrics", "health"] {
                // Any HTTP answer will do (health may say 503): the scrape
                // crossed the captured veth.
                let code = must(&format!(
                    "ip netns exec {} curl -s -o /dev/null -w '%{{http_code}}' http://{}:9100/{path}",
                    pair.b, pair.ip_a
                ));
                assert!(code != "000" && !code.is_empty(), "{metrics}: /{path}");
            }
            must(&format!(
                "ip netns exec {} curl -sf -o /dev/null http://{}/api/own/{run}/{i}",
                pair.b, pair.ip_a
            ));
        }
        let fin = h.stop();
        assert_eq!(fin.code, Some(0), "{}", fin.stderr);
        let targets: Vec<&str> = fin
            .records
            .iter()
            .map(|r| r["request"]["target"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(fin.records.len(), 5, "{metrics}: {targets:?}");
        for r in &fin.records {
            assert_eq!(r["conn"]["server_port"], 80, "{metrics}: {r}");
            assert_ne!(r["conn"]["client_port"], 9100, "{metrics}: {r}");
        }
    }
}
