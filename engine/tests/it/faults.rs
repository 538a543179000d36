//! Faults injected (issue 15 item 4), beside the broker restart that the
//! Kafka tests already inject: the output file's disk fills up, SIGTERM
//! arrives in the middle of a burst, the capture interface goes down and
//! comes back, and the capture's clock jumps. Each must end in a clear
//! message and counted losses, never in a stall, a panic or a torn line.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::common;
use common::gen::Gen;
use common::netns::{must, sh, Httpcap, Pair};
use common::{Run, Scratch};

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// None (with the reason printed) where mounting is not allowed.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let path = dir.join("tmpfs");
        std::fs::create_dir_all(&path).unwrap();
        let out = sh(&format!(
            "mount -t tmpfs -o size={size} httpcap-test {}",
            path.display()
        ));
        if !out.status.success() {
            println!(
                "SKIP: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(path))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = sh(&format!("umount {}", self.0.display()));
    }
}

/// `n` keep-alive-less exchanges with a body of `body` bytes each way,
/// targets `/{tag}/{i}`.
fn exchanges(g: &mut Gen, tag: &str, n: u16, body: usize, first_port: u16) {
    for i in 0..n {
        let req = format!("GET /{tag}/{i} HTTP/1.1\r\nHost: faults.test\r\n\r\n");
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body}\r\n\r\n"
        )
        .into_bytes();
        resp.resize(resp.len() + body, b'x');
        g.conversation(first_port + i, &[(true, req.into_bytes()), (false, resp)]);
    }
}

fn target(r: &Value) -> &str {
    r["request"]["target"].as_str().unwrap_or("-")
}

/// The output file's disk is full: the run says so at once and in the
/// end (exit 1, the file named, the cause), counts every record it could
/// not write in `output_errors`, and leaves no half line behind: every
/// line in the file is a whole record, and written + lost = produced.
#[test]
fn output_disk_full_is_a_clear_error_and_no_line_is_torn() {
    let dir = Scratch::new("faults-full");
    let Some(fs) = Tmpfs::mount(&dir.0, "256k") else {
        return;
    };
    let pcap = dir.0.join("many.pcap");
    let mut g = Gen::new(&pcap);
    exchanges(&mut g, "full", 2000, 600, 10_000);
    drop(g);
    let out_path = fs.0.join("records.jsonl");
    let done = Run::file(&pcap)
        .envs(common::run::NO_FILTERS.iter().copied())
        .no_metrics()
        .shards(2)
        .output_file(&out_path)
        .output();
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    let path = out_path.display().to_string();
    assert!(
        done.stderr.lines().any(|l| l.contains(&path)
            && l.contains("No space left on device")
            && l.contains("output_errors")),
        "no clear line naming the file and the cause:\n{}",
        done.stderr
    );
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the file ends mid-line"
    );
    let written = text.lines().count() as u64;
    // Run::output parsed every line already (a torn one would have failed).
    assert_eq!(done.records.len() as u64, written);
    let lost = done.counter("output_errors");
    assert!(lost > 0, "nothing counted as lost:\n{}", done.stderr);
    assert_eq!(written + lost, done.counter("records_out"));
    assert_eq!(done.counter("records_out"), 2000);
}

/// SIGTERM while a burst streams in: everything parsed is emitted before
/// the process exits (0, with its summary): the transactions counted equal
/// the records written, and every transaction sent before the burst is
/// among them.
#[test]
fn sigterm_during_a_burst_flushes_everything_parsed() {
    let dir = Scratch::new("faults-term");
    let fifo = dir.fifo("burst.pcap");
    let before = dir.0.join("before.pcap");
    let burst = dir.0.join("burst-data.pcap");
    let mut g = Gen::new(&before);
    exchanges(&mut g, "before", 300, 200, 10_000);
    drop(g);
    let mut g = Gen::new(&burst);
    exchanges(&mut g, "burst", 20_000, 200, 20_000);
    drop(g);
    let out = dir.0.join("records.jsonl");
    let mut running = Run::new()
        .env("INPUT_RAW_ENGINE", "pcap_file")
        .env("INPUT_RAW", &fifo)
        .envs(common::run::NO_FILTERS.iter().copied())
        .no_metrics()
        .shards(2)
        .output_file(&out)
        .spawn();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let first = std::fs::read(&before).unwrap();
        f.write_all(&first).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(800));
        // The burst: the second file's packets (its header skipped), over
        // and over, until httpcap stops reading.
        let more = std::fs::read(&burst).unwrap();
        let mut sent = 0u32;
        while f.write_all(&more[24..]).is_ok() && sent < 50 {
            sent += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    running.signal(libc::SIGTERM);
    let done = running.wait(Duration::from_secs(120));
    let _ = writer.join();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("httpcap summary"), "{}", done.stderr);
    let targets: std::collections::HashSet<&str> = done.records.iter().map(target).collect();
    for i in 0..300 {
        assert!(
            targets.contains(format!("/before/{i}").as_str()),
            "/before/{i} missing"
        );
    }
    assert_eq!(
        done.counter("transactions"),
        done.records.len() as u64,
        "every transaction parsed was written"
    );
    assert_eq!(done.counter("records_out"), done.records.len() as u64);
    println!("records after SIGTERM: {}", done.records.len());
}

/// The capture interface goes down and comes back up while httpcap runs
/// on it: httpcap keeps running and captures the traffic after it, as it
/// did before.
#[test]
fn interface_down_and_up_keeps_capturing() {
    if common::netns::skip() {
        return;
    }
    let mut pair = Pair::new(63, 1500);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    let mut h = Httpcap::start(
        &pair,
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            &pair.va,
            "--processing-workers",
            "2",
        ],
        &[],
        2,
    );
    let curl = |tag: &str| {
        let base = format!("http://{}", pair.ip_a);
        let urls: String = (0..5).map(|i| format!(" {base}/{tag}/{i}")).collect();
        must(&format!(
            "ip netns exec {} curl -s --retry 20 --retry-connrefused --retry-delay 1 -o /dev/null {urls}",
            pair.b
        ));
    };
    curl("before");
    must(&format!("ip -n {} link set {} down", pair.a, pair.va));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!h.exited(), "httpcap exited when its interface went down");
    must(&format!("ip -n {} link set {} up", pair.a, pair.va));
    // The veth carrier comes back within moments; curl retries meanwhile.
    curl("after");
    assert!(!h.exited(), "httpcap exited when its interface came back");
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let targets: Vec<&str> = fin.records.iter().map(target).collect();
    for tag in ["before", "after"] {
        for i in 0..5 {
            let t = format!("/{tag}/{i}");
            assert!(targets.contains(&t.as_str()), "{t} missing: {targets:?}");
        }
    }
}

/// The capture's clock steps back an hour (as NTP or an operator may step
/// a sensor's clock): ageing goes on from where it was instead of
/// stalling until the clock has caught up. Connections left open after
/// the step are expired by ASSEMBLER_FLUSH_AGE during the run, the step
/// is counted, and records keep the times the capture gave them.
#[test]
fn clock_step_back_does_not_stall_ageing() {
    const S: u64 = 1_000_000_000;
    let t0 = 1_700_000_000 * S;
    let dir = Scratch::new("faults-clock");
    let pcap = dir.0.join("step.pcap");
    let mut g = Gen::new(&pcap);
    g.set_time_ns(t0);
    exchanges(&mut g, "before", 10, 100, 10_000);
    // The clock steps back an hour.
    g.set_time_ns(t0 - 3_600 * S);
    exchanges(&mut g, "after", 10, 100, 11_000);
    // Twenty requests that never get an answer, a second apart...
    let c: std::net::Ipv4Addr = "10.7.0.1".parse().unwrap();
    let s: std::net::Ipv4Addr = "10.7.0.2".parse().unwrap();
    use common::gen::{ACK, PSH_ACK, SYN};
    for i in 0..20u16 {
        g.set_time_ns(t0 - 3_600 * S + (10 + i as u64) * S);
        g.tcp(c, 12_000 + i, s, 80, 1, SYN, b"");
        g.tcp(s, 80, c, 12_000 + i, 1, SYN | ACK, b"");
        let req = format!("GET /unanswered/{i} HTTP/1.1\r\nHost: faults.test\r\n\r\n");
        g.tcp(c, 12_000 + i, s, 80, 2, PSH_ACK, req.as_bytes());
    }
    // ...then two minutes of other traffic, a transaction every 5 s.
    for i in 0..24u16 {
        g.set_time_ns(t0 - 3_600 * S + (40 + 5 * i as u64) * S);
        exchanges(&mut g, &format!("later{i}"), 1, 100, 13_000 + i);
    }
    drop(g);
    let done = Run::file(&pcap)
        .envs(common::run::NO_FILTERS.iter().copied())
        .no_metrics()
        .shards(1)
        .output();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.counter("clock_steps"), 1, "{}", done.stderr);
    assert!(done
        .stderr
        .contains("the capture clock stepped back by 3600.0s"));
    // Expired during the run, not closed at the end of the input.
    assert!(
        done.counter("streams_expired") >= 20,
        "ageing stalled after the step: {:?}",
        done.summary()
    );
    let unanswered = done
        .records
        .iter()
        .filter(|r| target(r).starts_with("/unanswered/"))
        .count();
    assert_eq!(unanswered, 20);
    assert_eq!(done.records.len(), 10 + 10 + 20 + 24);
    // Times as captured: the records after the step are an hour earlier.
    let ts = |tag: &str| {
        let r = done
            .records
            .iter()
            .find(|r| target(r) == tag)
            .unwrap_or_else(|| panic!("{tag} missing"));
        r["request"]["ts"].as_str().unwrap().to_string()
    };
    assert!(
        ts("/before/0").starts_with("2023-11-14T22:13:20"),
        "{}",
        ts("/before/0")
    );
    assert!(
        ts("/after/0").starts_with("2023-11-14T21:13:20"),
        "{}",
        ts("/after/0")
    );
}
