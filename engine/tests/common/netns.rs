//! Network namespaces for live-capture tests: two namespaces joined by a
//! veth pair, addresses that exist only inside them, nginx, clients, and
//! httpcap running in one of them. Everything is torn down on drop, also
//! when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::load::{self, Kind, Pass};
pub use super::run::{Finished, NO_FILTERS};
use super::run::{Run, Running};

/// Why live tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("live capture tests need root".into());
    }
    for tool in ["ip", "nginx", "curl"] {
        if sh(&format!("command -v {tool}")).stdout.is_empty() {
            return Some(format!("{tool} is not installed (tools/setup.sh)"));
        }
    }
    None
}

/// True (after printing a SKIPPED line) when live tests cannot run here.
pub fn skip() -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("SKIPPED: {why}");
            true
        }
        None => false,
    }
}

/// True (after printing a SKIPPED line) when live tests cannot run here
/// or one of `tools` is not installed.
pub fn skip_without(tools: &[&str]) -> bool {
    skip() || tools.iter().any(|t| missing(t))
}

/// True, after printing SKIPPED, when `tool` is not on PATH.
pub fn missing(tool: &str) -> bool {
    if sh(&format!("command -v {tool}")).stdout.is_empty() {
        eprintln!("SKIPPED: {tool} is not installed (tools/setup.sh)");
        return true;
    }
    false
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh")
}

pub fn must(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Two namespaces `a` (server side, where httpcap runs) and `b` (client),
/// joined by veth `va`/`vb`, addressed 10.231.<n>.1 and .2. IPv6 is off,
/// so the only frames on the link are the test's.
pub struct Pair {
    pub a: String,
    pub b: String,
    pub va: String,
    pub vb: String,
    pub ip_a: String,
    pub ip_b: String,
    pub dir: PathBuf,
    /// Environment nginx starts with (e.g. LD_LIBRARY_PATH).
    pub nginx_env: Vec<(String, String)>,
    children: Vec<Child>,
    /// Keeps CPU-heavy file runs off the machine meanwhile; released after
    /// the namespaces are gone.
    _live: Pass,
}

impl Pair {
    /// `n` (1..=200) keeps concurrently running tests apart.
    pub fn new(n: u8, mtu: u32) -> Pair {
        Pair::with_queues(n, mtu, 1)
    }

    /// The same with `queues` TX and RX queues on each end of the veth
    /// (the sender's TX queue picks the receiver's RX queue).
    pub fn with_queues(n: u8, mtu: u32, queues: u32) -> Pair {
        let live = load::enter(Kind::Live);
        sweep_stale();
        let id = format!("{}-{}", n, std::process::id());
        let p = Pair {
            a: format!("hc{id}a"),
            b: format!("hc{id}b"),
            va: format!("hc{id}a"),
            vb: format!("hc{id}b"),
            ip_a: format!("10.231.{n}.1"),
            ip_b: format!("10.231.{n}.2"),
            dir: std::env::temp_dir().join(format!("httpcap-live-{id}")),
            nginx_env: Vec::new(),
            children: Vec::new(),
            _live: live,
        };
        let _ = std::fs::remove_dir_all(&p.dir);
        std::fs::create_dir_all(p.dir.join("www")).unwrap();
        must(&format!(
            "ip netns add {a} && ip netns add {b} && \
             ip netns exec {a} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && \
             ip netns exec {b} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && \
             ip link add {va} netns {a} mtu {mtu} {q} type veth peer name {vb} netns {b} mtu {mtu} {q} && \
             ip -n {a} addr add {ia}/24 dev {va} && ip -n {b} addr add {ib}/24 dev {vb} && \
             ip -n {a} link set lo up && ip -n {b} link set lo up && \
             ip -n {a} link set {va} up && ip -n {b} link set {vb} up",
            a = p.a,
            b = p.b,
            va = p.va,
            vb = p.vb,
            ia = p.ip_a,
            ib = p.ip_b,
            q = if queues > 1 {
                format!("numtxqueues {queues} numrxqueues {queues}")
            } else {
                String::new()
            },
        ));
        p
    }

    pub fn exec_a(&self, cmd: &str) -> Output {
        sh(&format!("ip netns exec {} {cmd}", self.a))
    }

    pub fn exec_b(&self, cmd: &str) -> Output {
        sh(&format!("ip netns exec {} {cmd}", self.b))
    }

    /// A VXLAN (VNI 42, UDP 4789) over the veth, addressed 10.232.<n>.1/.2.
    /// Returns (device in a, address in a, address in b).
    pub fn add_vxlan(&self, n: u8) -> (String, String, String) {
        let dev = format!("vx{n}");
        let (xa, xb) = (format!("10.232.{n}.1"), format!("10.232.{n}.2"));
        for (ns, dev_ul, local, remote, addr) in [
            (&self.a, &self.va, &self.ip_a, &self.ip_b, &xa),
            (&self.b, &self.vb, &self.ip_b, &self.ip_a, &xb),
        ] {
            must(&format!(
                "ip -n {ns} link add {dev} type vxlan id 42 dstport 4789 local {local} remote {remote} dev {dev_ul} && \
                 ip -n {ns} addr add {addr}/24 dev {dev} && ip -n {ns} link set {dev} up"
            ));
        }
        (dev, xa, xb)
    }

    /// nginx in `a` on `listen` (address:port), serving `dir/www`, with an
    /// access log of "method uri status body_bytes" lines.
    pub fn start_nginx(&mut self, listen: &str) {
        self.start_nginx_with(listen, "", "");
    }

    /// nginx in `a` speaking HTTP/2 with prior knowledge (cleartext, no
    /// HTTP/1) on `listen`, serving `dir/www` with `gzip on` for text and
    /// JSON, 404 for missing files, the same access log as `start_nginx`
    /// (`body_bytes` is what was sent: the gzip size for gzipped answers).
    pub fn start_nginx_h2(&mut self, listen: &str) {
        self.start_nginx_with(
            listen,
            " http2",
            "gzip on; gzip_types text/plain application/json; gzip_min_length 64;",
        );
    }

    /// nginx in `a` speaking TLS (1.2 and 1.3, ECDHE-RSA AEAD suites for
    /// 1.2, session cache and tickets on, so sessions can be resumed) on
    /// `<ip_a>:443` with HTTP/1.1 and HTTP/2 by ALPN, and cleartext
    /// HTTP/1.1 on `<ip_a>:80`; `cert`/`key` are PEM files. Same site,
    /// gzip and endpoints as `start_nginx_h2`; each access log line adds
    /// `$server_protocol $ssl_protocol $ssl_cipher $ssl_server_name
    /// $ssl_session_reused $ssl_alpn_protocol` ("-" where empty) to the
    /// four fields `access_log` reads.
    pub fn start_nginx_tls(&mut self, cert: &Path, key: &Path) {
        let listen = format!("{}:443", self.ip_a);
        let opts = format!(
            " ssl http2;
    listen {ip}:80;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_session_cache shared:SSL:1m;
    ssl_session_tickets on",
            ip = self.ip_a,
            cert = cert.display(),
            key = key.display(),
        );
        self.start_nginx_full(
            &listen,
            &opts,
            "gzip on; gzip_types text/plain application/json; gzip_min_length 64;",
            " $server_protocol $ssl_protocol $ssl_cipher $ssl_server_name $ssl_session_reused $ssl_alpn_protocol",
        );
        self.wait_listening("80", "nginx listening on 80");
    }

    /// nginx with `listen_opts` after the listen address and `http_extra`
    /// in its `http` block.
    fn start_nginx_with(&mut self, listen: &str, listen_opts: &str, http_extra: &str) {
        self.start_nginx_full(listen, listen_opts, http_extra, "");
    }

    /// The same, with `log_extra` (variables, each after a space) after
    /// the access log's four fields.
    fn start_nginx_full(
        &mut self,
        listen: &str,
        listen_opts: &str,
        http_extra: &str,
        log_extra: &str,
    ) {
        let d = self.dir.display();
        let conf = format!(
            "daemon off; pid {d}/nginx.pid; error_log {d}/error.log; worker_processes 1;
events {{ worker_connections 1024; }}
http {{
  log_format t '$request_method $request_uri $status $body_bytes_sent{log_extra}';
  access_log {d}/access.log t;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_requests 100000;
  {http_extra}
  server {{
    listen {listen}{listen_opts};
    root {d}/www;
    location /api/ {{ default_type application/json; return 200 '{{\"ok\":true}}'; }}
    location /echo {{ client_max_body_size 10m; default_type text/plain; return 201 'created'; }}
  }}
}}
"
        );
        std::fs::write(self.dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.a, "nginx", "-c"])
            .arg(self.dir.join("nginx.conf"))
            .envs(self.nginx_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        self.children.push(child);
        let port = listen.rsplit(':').next().unwrap();
        self.wait_listening(port, "nginx listening");
    }

    /// Stops nginx (master and workers) and waits until they are gone.
    pub fn stop_nginx(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("nginx.pid")).expect("nginx.pid");
        let pid: u32 = pid.trim().parse().expect("nginx.pid holds a pid");
        let _ = sh(&format!("kill -TERM {pid}"));
        wait_for(|| gone(pid), "nginx gone");
    }

    /// Waits until something in `a` listens on TCP `port`.
    pub fn wait_listening(&self, port: &str, what: &str) {
        wait_for(
            || {
                self.exec_a(&format!("sh -c 'ss -ltn | grep -q :{port}'"))
                    .status
                    .success()
            },
            what,
        );
    }

    /// Starts `argv` in namespace `a`, its stdout and stderr to
    /// `dir/<name>.out`; killed when the pair is dropped.
    pub fn spawn_in_a(&mut self, name: &str, argv: &[&str]) {
        let out = std::fs::File::create(self.dir.join(format!("{name}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.a])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.children.push(child);
    }

    /// Lines of nginx's access log, as (method, uri, status, bytes).
    pub fn access_log(&self) -> Vec<(String, String, u16, u64)> {
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some((
                    f.first()?.to_string(),
                    f.get(1)?.to_string(),
                    f.get(2)?.parse().ok()?,
                    f.get(3)?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// Packet sockets bound to a protocol in namespace `ns`.
    pub fn packet_sockets(&self, ns: &str) -> usize {
        let o = sh(&format!("ip netns exec {ns} cat /proc/net/packet"));
        // sk RefCnt Type Proto Iface R Rmem User Inode
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|p| p != "0000" && p != "0")
            })
            .count()
    }
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

impl Drop for Pair {
    fn drop(&mut self) {
        // nginx first, through its master, which stops its workers: the
        // master is also one of the children below, and killing it with
        // SIGKILL left its workers running for good. Bounded, no panic.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("nginx.pid")) {
            if let Ok(pid) = pid.trim().parse::<u32>() {
                let _ = sh(&format!("kill -TERM {pid} 2>/dev/null"));
                for _ in 0..100 {
                    if gone(pid) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = sh(&format!(
            "ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null",
            self.a, self.b
        ));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes namespaces left by a test process that was killed before its
/// clean-up ran (`hc<n>-<pid>a`/`b`/`c` whose pid is gone).
fn sweep_stale() {
    let list = sh("ip netns list");
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("hc") else {
            continue;
        };
        let Some((_, pid)) = rest.trim_end_matches(['a', 'b', 'c']).split_once('-') else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sh(&format!("ip netns del {name}"));
        }
    }
}

/// Polls `cond` until it holds; panics after a generous deadline (a stuck
/// setup, not a performance assertion).
pub fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// httpcap running in a namespace of a `Pair`.
pub struct Httpcap {
    running: Running,
    /// Where its records go.
    out: PathBuf,
}

/// httpcap in namespace `ns`, writing records to `out`, filters off and
/// the periodic metrics line silenced.
fn httpcap_in(ns: &str, args: &[&str], env: &[(&str, &str)], out: &Path) -> Run {
    Run::new()
        .in_netns(ns)
        .args(args)
        .output_file(out)
        .envs(NO_FILTERS.iter().copied())
        .envs(env.iter().copied())
        .env("METRICS_INTERVAL", "1h")
}

impl Httpcap {
    /// Starts httpcap in namespace `ns` and waits until its `sockets`
    /// packet sockets are open (as seen from `pair`).
    pub fn start(pair: &Pair, args: &[&str], env: &[(&str, &str)], sockets: usize) -> Httpcap {
        Httpcap::start_in(pair, &pair.a, args, env, sockets)
    }

    /// The same in namespace `ns` (one of the pair's).
    pub fn start_in(
        pair: &Pair,
        ns: &str,
        args: &[&str],
        env: &[(&str, &str)],
        sockets: usize,
    ) -> Httpcap {
        let before = pair.packet_sockets(ns);
        let out = pair.dir.join(format!("records-{}.json", before));
        let mut running = httpcap_in(ns, args, env, &out).spawn();
        // Exited early: `stop` shows why.
        wait_for(
            || running.exited() || pair.packet_sockets(ns) >= before + sockets,
            "httpcap's sockets",
        );
        // The last socket joins the fanout group right after binding; a
        // frame that came earlier would be handed over and counted as
        // misrouted.
        std::thread::sleep(Duration::from_millis(200));
        Httpcap { running, out }
    }

    /// Starts httpcap in namespace `ns` with its log in a file, and waits
    /// until the log has a line containing `ready` (for engines whose
    /// sockets /proc/net/packet does not list, such as af_xdp).
    pub fn start_logged(
        pair: &Pair,
        ns: &str,
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> Httpcap {
        Httpcap::start_logged_under(pair, ns, "", args, env, ready)
    }

    /// The same under `wrapper` (one whitespace-separated line, e.g.
    /// `unshare --pid --fork --mount-proc`), in a process group of its
    /// own that signals go to.
    pub fn start_logged_under(
        pair: &Pair,
        ns: &str,
        wrapper: &str,
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> Httpcap {
        let n = std::fs::read_dir(&pair.dir).map(|d| d.count()).unwrap_or(0);
        let out = pair.dir.join(format!("records-{n}.json"));
        let log = pair.dir.join(format!("httpcap-{n}.log"));
        let mut run = httpcap_in(ns, args, env, &out).stderr_to(&log);
        if !wrapper.is_empty() {
            run = run.wrapped(wrapper).signal_group();
        }
        let mut running = run.spawn();
        wait_for(
            || running.exited() || running.stderr_has(ready),
            "httpcap ready",
        );
        Httpcap { running, out }
    }

    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Whether its log (see `start_logged`) has a line containing `needle` yet.
    pub fn log_has(&self, needle: &str) -> bool {
        self.running.stderr_has(needle)
    }

    /// Complete record lines in its output file so far (what its writer
    /// has flushed), unchecked: for waiting, not for asserting.
    pub fn records_written(&self) -> usize {
        std::fs::read_to_string(&self.out)
            .map(|t| t.lines().filter(|l| l.ends_with('}')).count())
            .unwrap_or(0)
    }

    /// Whether it has exited already (it refused its settings, or failed).
    pub fn exited(&mut self) -> bool {
        self.running.exited()
    }

    /// Effective capabilities (hex) of each thread, by thread name.
    pub fn thread_caps(&self) -> Vec<(String, String)> {
        let pid = self.pid();
        let mut out = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            if let Some(eff) = status.lines().find_map(|l| l.strip_prefix("CapEff:")) {
                out.push((comm.trim().to_string(), eff.trim().to_string()));
            }
        }
        out
    }

    /// Once the sockets are open, `shards` shard threads run, and no
    /// thread keeps any capability (the JSON-lines writer's and
    /// librdkafka's included) but the one that finds and probes libssl
    /// files with TLS_UPROBE_LIBS=auto (checked by its test).
    pub fn assert_shards_hold_no_capability(&self, shards: usize) {
        let caps = self.thread_caps();
        let shard_threads = caps
            .iter()
            .filter(|(n, _)| n.starts_with("httpcap-shard"))
            .count();
        assert_eq!(shard_threads, shards, "{caps:?}");
        assert!(
            caps.iter()
                .filter(|(n, _)| n != "httpcap-uprobes")
                .all(|(_, eff)| eff.trim_start_matches('0').is_empty()),
            "{caps:?}"
        );
    }

    /// SIGINT, then collect records and the summary.
    pub fn stop(self) -> Finished {
        self.running.stop()
    }

    /// SIGKILL: no clean-up of any kind.
    pub fn kill(self) -> Finished {
        self.running.kill()
    }
}

/// Runs httpcap to completion (file input, or an error exit), filters off.
pub fn run_to_end(args: &[&str], env: &[(&str, &str)], out: &Path) -> Finished {
    Run::new()
        .args(args)
        .output_file(out)
        .envs(NO_FILTERS.iter().copied())
        .envs(env.iter().copied())
        .output()
}
