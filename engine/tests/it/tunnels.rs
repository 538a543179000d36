//! Mirrored traffic from several tenants whose inner 5-tuples are the same
//! (overlapping VPC ranges make that ordinary), each tenant behind its own
//! wrapper id: VXLAN VNIs (AWS Traffic Mirroring), Geneve VNIs with options
//! (AWS Gateway Load Balancer), GRE keys, ERSPAN sessions, and wrappers
//! nested in one another. The captures are built here, the two tenants'
//! packets interleaved one by one with the same sequence numbers, so a
//! sensor that keyed connections by the inner 5-tuple alone would see the
//! second tenant's segments as retransmissions of the first's. Each
//! tenant must come out as its own connection with its own correct
//! transactions, and its records must name the wrappers it came through.

use std::net::Ipv4Addr;

use pcap_file::DataLink;
use serde_json::{json, Value};

use crate::common::gen::{ipv4_tcp, Gen, ACK, FIN_ACK, PSH_ACK, SYN};
use crate::common::run::Run;
use crate::common::scratch::Scratch;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
/// The underlay: the mirror source and the sensor's side.
const VTEP_C: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
const VTEP_S: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);

/// One tenant's connection, 10.7.0.1:40000 to 10.7.0.2:80, as inner IPv4
/// packets with their direction (true: server to client): handshake, two
/// keep-alive exchanges and FINs. The two tenants' paths, hosts and bodies
/// have equal lengths, so their sequence numbers match packet for packet.
fn conversation(tenant: char) -> Vec<(bool, Vec<u8>)> {
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut out = Vec::new();
    let mut send = |back: bool, flags: u8, seq: u32, payload: &[u8]| {
        let p = if back {
            ipv4_tcp(SERVER, 80, CLIENT, 40000, seq, flags, payload)
        } else {
            ipv4_tcp(CLIENT, 40000, SERVER, 80, seq, flags, payload)
        };
        out.push((back, p));
    };
    send(false, SYN, cs, b"");
    send(true, SYN | ACK, ss, b"");
    cs += 1;
    ss += 1;
    send(false, ACK, cs, b"");
    for n in 1..=2 {
        let req = format!("GET /{tenant}/{n} HTTP/1.1\r\nHost: tenant-{tenant}\r\n\r\n");
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ntenant-{tenant}-{n}");
        send(false, PSH_ACK, cs, req.as_bytes());
        cs += req.len() as u32;
        send(true, PSH_ACK, ss, resp.as_bytes());
        ss += resp.len() as u32;
    }
    send(false, FIN_ACK, cs, b"");
    send(true, FIN_ACK, ss, b"");
    out
}

// ---- Wrappers, built by hand ----------------------------------------

fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An 802.1Q-tagged Ethernet frame.
fn ether_tagged(vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = vid.to_be_bytes().to_vec();
    t.extend_from_slice(&ethertype.to_be_bytes());
    t.extend_from_slice(payload);
    ether(0x8100, &t)
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// Outer IPv4 between the two ends of `pair`, in the packet's direction.
fn outer(pair: (Ipv4Addr, Ipv4Addr), back: bool, proto: u8, payload: &[u8]) -> Vec<u8> {
    let (a, b) = if back { (pair.1, pair.0) } else { pair };
    ipv4(a, b, proto, payload)
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// The outer UDP source port: a VTEP picks it per flow and direction.
fn sport(back: bool) -> u16 {
    if back {
        61000
    } else {
        50000
    }
}

fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut h = vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0];
    h.extend_from_slice(frame);
    h
}

/// Geneve with two options (12 bytes), carrying an Ethernet frame.
fn geneve(vni: u32, frame: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut h = vec![3, 0, 0x65, 0x58, v[1], v[2], v[3], 0];
    h.extend_from_slice(&[0x01, 0x08, 0x01, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
    h.extend_from_slice(&[0x01, 0x08, 0x02, 0]);
    h.extend_from_slice(frame);
    h
}

fn gre_key(key: u32, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x20, 0];
    h.extend_from_slice(&ethertype.to_be_bytes());
    h.extend_from_slice(&key.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// GRE (with a sequence number) and ERSPAN type II, mirroring `frame`.
fn erspan(session: u16, seq: u32, frame: &[u8]) -> Vec<u8> {
    let mut h = vec![0x10, 0, 0x88, 0xbe];
    h.extend_from_slice(&seq.to_be_bytes());
    let s = session.to_be_bytes();
    h.extend_from_slice(&[0x10, 0, s[0] & 0x03, s[1], 0, 0, 0, 0]);
    h.extend_from_slice(frame);
    h
}

// ---- The runs ------------------------------------------------------------

/// Writes the two tenants' conversations, each packet wrapped by
/// `wrap(inner, back, tenant's id, packet number)`, interleaved packet by
/// packet; runs httpcap on the capture with two shards and checks that
/// each tenant gave exactly its own two transactions, complete and on a
/// connection of its own. Returns each tenant's records.
fn two_tenants(
    name: &str,
    ids: [u32; 2],
    wrap: impl Fn(&[u8], bool, u32, u32) -> Vec<u8>,
) -> [Vec<Value>; 2] {
    let dir = Scratch::new(&format!("tunnels-{name}"));
    let pcap = dir.0.join("capture.pcap");
    let mut g = Gen::with_link(&pcap, DataLink::ETHERNET);
    let (a, b) = (conversation('a'), conversation('b'));
    for (n, ((back_a, pa), (back_b, pb))) in a.iter().zip(&b).enumerate() {
        g.frame(&wrap(pa, *back_a, ids[0], n as u32));
        g.frame(&wrap(pb, *back_b, ids[1], n as u32));
    }
    drop(g);
    let fin = Run::file(&pcap).shards(2).output();
    fin.assert_success();
    fin.note(name);
    assert_eq!(fin.records.len(), 4, "{}", fin.stderr);
    assert_eq!(fin.counter("streams_opened"), 2, "{}", fin.stderr);
    let mut out = [Vec::new(), Vec::new()];
    for (i, tenant) in ['a', 'b'].into_iter().enumerate() {
        let mine: Vec<Value> = fin
            .records
            .iter()
            .filter(|r| r["request"]["host"] == format!("tenant-{tenant}"))
            .cloned()
            .collect();
        assert_eq!(mine.len(), 2, "tenant {tenant}: {:?}", fin.records);
        for (n, r) in mine.iter().enumerate() {
            let n = n + 1;
            assert_eq!(r["request"]["path"], format!("/{tenant}/{n}"));
            assert_eq!(r["response"]["status"], 200);
            assert_eq!(r["response"]["body"], format!("tenant-{tenant}-{n}"));
            assert_eq!(r["flags"], json!([]), "{r}");
            assert_eq!(r["conn"]["client_ip"], CLIENT.to_string());
            assert_eq!(r["conn"]["server_port"], 80);
        }
        // One connection per tenant: the record ids share it.
        let conn_of = |r: &Value| {
            r["id"]
                .as_str()
                .unwrap()
                .split('-')
                .nth(1)
                .map(String::from)
        };
        assert_eq!(conn_of(&mine[0]), conn_of(&mine[1]));
        out[i] = mine;
    }
    let conn_of = |r: &Value| {
        r["id"]
            .as_str()
            .unwrap()
            .split('-')
            .nth(1)
            .map(String::from)
    };
    assert_ne!(conn_of(&out[0][0]), conn_of(&out[1][0]));
    out
}

/// A tunnel item as records show it, for the packet that opened the
/// connection (the client's SYN: client side to server side).
fn item(kind: &str, (src, dst): (Ipv4Addr, Ipv4Addr), id: Value) -> Value {
    json!({"kind": kind, "src": src.to_string(), "dst": dst.to_string(), "id": id})
}

#[test]
fn vxlan_vnis_with_the_same_inner_5_tuple_stay_apart() {
    let tenants = two_tenants("vxlan", [100, 200], |ip, back, vni, _| {
        let vx = vxlan(vni, &ether(0x0800, ip));
        ether(
            0x0800,
            &outer((VTEP_C, VTEP_S), back, 17, &udp(sport(back), 4789, &vx)),
        )
    });
    for (records, vni) in tenants.iter().zip([100, 200]) {
        for r in records {
            assert_eq!(
                r["conn"]["tunnel"],
                json!([item("vxlan", (VTEP_C, VTEP_S), json!(vni))])
            );
            assert!(r["conn"].get("vlan").is_none());
        }
    }
}

#[test]
fn gre_keys_with_the_same_inner_5_tuple_stay_apart() {
    let tenants = two_tenants("gre", [1, 2], |ip, back, key, _| {
        ether(
            0x0800,
            &outer((VTEP_C, VTEP_S), back, 47, &gre_key(key, 0x0800, ip)),
        )
    });
    for (records, key) in tenants.iter().zip([1, 2]) {
        assert_eq!(
            records[0]["conn"]["tunnel"],
            json!([item("gre", (VTEP_C, VTEP_S), json!(key))])
        );
    }
}

#[test]
fn geneve_with_options_and_vlan_tags() {
    // Each tenant's inner frames carry a VLAN tag as well: tenant a on
    // VLAN 10, tenant b on VLAN 20; the Geneve VNI is the same for both,
    // so the VLAN alone keeps them apart.
    let tenants = two_tenants("geneve", [10, 20], |ip, back, vid, _| {
        let g = geneve(0x00abcdef, &ether_tagged(vid as u16, 0x0800, ip));
        ether(
            0x0800,
            &outer((VTEP_C, VTEP_S), back, 17, &udp(sport(back), 6081, &g)),
        )
    });
    for (records, vid) in tenants.iter().zip([10, 20]) {
        for r in records {
            assert_eq!(
                r["conn"]["tunnel"],
                json!([item("geneve", (VTEP_C, VTEP_S), json!(0x00abcdef))])
            );
            assert_eq!(r["conn"]["vlan"], json!([vid]));
        }
    }
}

#[test]
fn nested_wrappers_keep_tenants_apart_and_are_listed_outermost_first() {
    // A SPAN session on VLAN 30 carries ERSPAN (session 5) of a port whose
    // frames are Geneve (VNI 9, options) from a load balancer, inside which
    // each tenant's VXLAN (VNI 100 or 200) runs on VLAN 40.
    let lb = (Ipv4Addr::new(172, 16, 0, 1), Ipv4Addr::new(172, 16, 0, 2));
    let tep = (Ipv4Addr::new(10, 200, 0, 1), Ipv4Addr::new(10, 200, 0, 2));
    let tenants = two_tenants("nested", [100, 200], |ip, back, vni, n| {
        let vx = vxlan(vni, &ether(0x0800, ip));
        let l3 = outer(tep, back, 17, &udp(sport(back), 4789, &vx));
        let g = geneve(9, &ether_tagged(40, 0x0800, &l3));
        let l2 = outer(lb, back, 17, &udp(sport(back), 6081, &g));
        let span = erspan(5, n, &ether(0x0800, &l2));
        ether_tagged(30, 0x0800, &outer((VTEP_C, VTEP_S), false, 47, &span))
    });
    for (records, vni) in tenants.iter().zip([100, 200]) {
        for r in records {
            assert_eq!(
                r["conn"]["tunnel"],
                json!([
                    item("erspan", (VTEP_C, VTEP_S), json!(5)),
                    item("geneve", lb, json!(9)),
                    item("vxlan", tep, json!(vni)),
                ])
            );
            assert_eq!(r["conn"]["vlan"], json!([30, 40]));
        }
    }
}

// ---- Live: a VXLAN overlay in namespaces ---------------------------------

/// Namespaces of the test's own beyond a `Pair`'s, removed on drop (with
/// the nginx each may run).
struct Extra {
    names: Vec<String>,
    pids: Vec<std::path::PathBuf>,
}

impl Drop for Extra {
    fn drop(&mut self) {
        for pid in &self.pids {
            if let Ok(pid) = std::fs::read_to_string(pid) {
                let _ = sh(&format!("kill {} 2>/dev/null", pid.trim()));
            }
        }
        for n in &self.names {
            let _ = sh(&format!("ip netns del {n} 2>/dev/null"));
        }
    }
}

use crate::common::netns::{must, sh, wait_for, Httpcap, Pair};

/// Two tenants on one underlay, each on its own VNI, with the same inner
/// addresses: client 10.200.<n>.1 and server 10.200.<n>.2 in both. The
/// underlay is a `Pair`: its `b` end is the client side's VTEP, its `a`
/// end the server side's, where httpcap captures the VXLAN frames on the
/// veth with af_packet and two shards. Each tenant's VXLAN devices are
/// created in the VTEP namespaces (their UDP sockets stay there) and moved
/// into the tenant's client and server namespaces. Both clients use the
/// same local port, so the inner 5-tuples are equal, and run at once on
/// keep-alive connections paced by curl, so the connections overlap.
#[test]
fn live_vxlan_tenants_with_the_same_inner_addresses_stay_apart() {
    if crate::common::netns::skip() {
        return;
    }
    const N: u8 = 90;
    const VNIS: [u32; 2] = [101, 202];
    let pair = Pair::new(N, 1500);
    let (client_ip, server_ip) = (format!("10.200.{N}.1"), format!("10.200.{N}.2"));
    let pid = std::process::id();
    let mut extra = Extra {
        names: Vec::new(),
        pids: Vec::new(),
    };
    for (t, vni) in ['a', 'b'].into_iter().zip(VNIS) {
        let (cli, srv) = (format!("hc{N}-{pid}t{t}c"), format!("hc{N}-{pid}t{t}s"));
        for (ns, vtep, local, remote, dev_ul, addr) in [
            (&cli, &pair.b, &pair.ip_b, &pair.ip_a, &pair.vb, &client_ip),
            (&srv, &pair.a, &pair.ip_a, &pair.ip_b, &pair.va, &server_ip),
        ] {
            extra.names.push(ns.clone());
            let dev = format!("vx{vni}");
            must(&format!(
                "ip netns add {ns} && \
                 ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && \
                 ip -n {vtep} link add {dev} type vxlan id {vni} dstport 4789 local {local} remote {remote} dev {dev_ul} && \
                 ip -n {vtep} link set {dev} netns {ns} && \
                 ip -n {ns} addr add {addr}/24 dev {dev} && \
                 ip -n {ns} link set lo up && ip -n {ns} link set {dev} up"
            ));
        }
        // nginx in the tenant's server namespace, answering with its name.
        let d = pair.dir.join(format!("tenant-{t}"));
        std::fs::create_dir_all(&d).unwrap();
        let dd = d.display();
        let conf = format!(
            "daemon on; pid {dd}/nginx.pid; error_log {dd}/error.log; worker_processes 1;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dd}/body; proxy_temp_path {dd}/proxy; fastcgi_temp_path {dd}/fcgi;
  uwsgi_temp_path {dd}/uwsgi; scgi_temp_path {dd}/scgi;
  server {{
    listen {server_ip}:80;
    location / {{ default_type text/plain; return 200 'tenant-{t} $uri'; }}
  }}
}}
"
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        extra.pids.push(d.join("nginx.pid"));
        must(&format!("ip netns exec {srv} nginx -c {dd}/nginx.conf"));
        wait_for(
            || {
                sh(&format!(
                    "ip netns exec {srv} sh -c 'ss -ltn | grep -q :80'"
                ))
                .status
                .success()
            },
            "tenant nginx listening",
        );
    }
    let h = Httpcap::start(
        &pair,
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            &pair.va,
            "--processing-workers",
            "2",
        ],
        &[("ASSEMBLER_WORKER_PKT_BUF", "4096")],
        2,
    );
    // Both tenants at once, four requests each on one connection, at most
    // four a second: the two connections are open at the same time.
    let curl = |t: char| {
        let urls: Vec<String> = (1..=4)
            .map(|i| format!("http://{server_ip}/{t}/{i}"))
            .collect();
        std::process::Command::new("ip")
            .args(["netns", "exec", &format!("hc{N}-{pid}t{t}c")])
            .args(["curl", "-sf", "-o", "/dev/null", "--local-port", "40000"])
            .args(["--rate", "4/s"])
            .args(&urls)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start curl")
    };
    let (mut ca, mut cb) = (curl('a'), curl('b'));
    assert!(ca.wait().unwrap().success(), "tenant a's curl failed");
    assert!(cb.wait().unwrap().success(), "tenant b's curl failed");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    fin.note("live vxlan tenants");
    assert_eq!(fin.records.len(), 8, "{}", fin.stderr);
    let conn_of = |r: &Value| {
        r["id"]
            .as_str()
            .unwrap()
            .split('-')
            .nth(1)
            .map(String::from)
    };
    let mut conns = Vec::new();
    for (t, vni) in ['a', 'b'].into_iter().zip(VNIS) {
        let mine: Vec<&Value> = fin
            .records
            .iter()
            .filter(|r| r["conn"]["tunnel"][0]["id"] == vni)
            .collect();
        let seen: Vec<String> = fin
            .records
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["conn"]["tunnel"], r["request"]["path"], r["response"]["body"]
                )
            })
            .collect();
        assert_eq!(mine.len(), 4, "VNI {vni}: {seen:#?}");
        for (i, r) in mine.iter().enumerate() {
            let path = format!("/{t}/{}", i + 1);
            assert_eq!(r["request"]["path"], path.as_str(), "{r}");
            assert_eq!(r["response"]["body"], format!("tenant-{t} {path}"), "{r}");
            assert_eq!(r["flags"], json!([]), "{r}");
            assert_eq!(r["conn"]["client_ip"], client_ip.as_str());
            assert_eq!(r["conn"]["client_port"], 40000);
            assert_eq!(r["conn"]["server_ip"], server_ip.as_str());
            // The client's SYN opened it: client-side VTEP to server-side.
            assert_eq!(
                r["conn"]["tunnel"],
                json!([{"kind": "vxlan", "src": pair.ip_b, "dst": pair.ip_a, "id": vni}])
            );
            assert_eq!(conn_of(r), conn_of(mine[0]));
        }
        conns.push(conn_of(mine[0]));
    }
    assert_ne!(conns[0], conns[1]);
    // Both directions of each connection were on one shard.
    assert_eq!(fin.counter("steer_misrouted"), 0);
    assert_eq!(fin.counter("streams_midstream"), 0);
    assert_eq!(fin.counter("transactions_no_response"), 0);
    drop(extra);
}
