//! The Kubernetes manifest (`deploy/kubernetes/base/httpcap.yaml`), checked
//! statically as the compose file is (no cluster in CI): it validates
//! against the Kubernetes API schema (`kubernetes-validate --strict`), its
//! DaemonSet lists exactly the binary's variables with the binary's
//! defaults, except the installation's values, which come from the Secret
//! made from `.env`; with `.env.example`'s values the binary accepts the
//! whole environment; it runs on every node's network with only the
//! capabilities capture needs, a read-only root, the health probe, a
//! grace period longer than the Kafka shutdown wait and a memory limit
//! above `HEAP_LIMIT` and the fixed overhead; and it names no host. The
//! overlay `deploy/kubernetes/uprobes` (rendered by `kubectl kustomize`)
//! adds only what TLS_UPROBE_LIBS=auto needs.

use std::collections::{BTreeMap, BTreeSet};

use httpcap::config::units::{parse_duration, parse_size};
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::netns::missing;
use crate::common::Run;
use crate::container::{assert_names_no_host, binary_defaults, example_env, read, DOT_ENV};

const MANIFEST: &str = "deploy/kubernetes/base/httpcap.yaml";

/// The Secret `kubectl create secret generic httpcap-site
/// --from-env-file=.env` makes.
const SITE_SECRET: &str = "httpcap-site";

/// The fixed overhead beyond `HEAP_LIMIT` (README, Memory): 96 MiB at
/// the defaults and 16 MiB of IP reassembly.
const OVERHEAD: u64 = (96 + 16) << 20;

/// The overlay that adds the TLS uprobes (`kubectl apply -k`).
const UPROBES_OVERLAY: &str = "deploy/kubernetes/uprobes";

fn documents() -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(MANIFEST)).expect("the manifest parses")
}

fn daemon_set() -> Yaml {
    daemon_set_of(documents())
}

fn daemon_set_of(docs: Vec<Yaml>) -> Yaml {
    docs.into_iter()
        .find(|d| d["kind"].as_str() == Some("DaemonSet"))
        .expect("a DaemonSet")
}

fn container() -> Yaml {
    container_of(&daemon_set())
}

fn container_of(ds: &Yaml) -> Yaml {
    let pod = &ds["spec"]["template"]["spec"];
    let containers = pod["containers"].as_vec().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    containers[0].clone()
}

/// A variable of the container: its literal value, or where it comes from.
#[derive(Debug, PartialEq)]
enum Source {
    Value(String),
    /// `secretKeyRef`: the Secret, the key and whether it may be absent.
    Secret(String, String, bool),
}

fn container_env() -> BTreeMap<String, Source> {
    env_of(&container())
}

fn env_of(c: &Yaml) -> BTreeMap<String, Source> {
    let env = c["env"].as_vec().expect("env is a list");
    let mut out = BTreeMap::new();
    for e in env {
        let name = e["name"].as_str().expect("name").to_string();
        let source = match (&e["value"], &e["valueFrom"]["secretKeyRef"]) {
            (Yaml::String(v), Yaml::BadValue) => Source::Value(v.clone()),
            (Yaml::BadValue, r) if !r.is_badvalue() => Source::Secret(
                r["name"].as_str().expect("secret name").to_string(),
                r["key"].as_str().expect("secret key").to_string(),
                r["optional"].as_bool().unwrap_or(false),
            ),
            other => panic!("{name}: a quoted value or a secretKeyRef ({other:?})"),
        };
        assert!(out.insert(name.clone(), source).is_none(), "{name} twice");
    }
    out
}

/// A container's capabilities.add or .drop.
fn capabilities(c: &Yaml, k: &str) -> BTreeSet<String> {
    c["securityContext"]["capabilities"][k]
        .as_vec()
        .unwrap_or_else(|| panic!("capabilities.{k}"))
        .iter()
        .map(|c| c.as_str().expect("capability").to_string())
        .collect()
}

/// The environment the pod gets once the Secret is made from `.env`.
fn pod_env(dot_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    container_env()
        .into_iter()
        .filter_map(|(k, s)| match s {
            Source::Value(v) => Some((k, v)),
            Source::Secret(_, key, _) => dot_env.get(&key).map(|v| (k, v.clone())),
        })
        .collect()
}

/// A Kubernetes memory quantity with a binary suffix (`512Mi`, `17Gi`).
fn quantity(q: &str) -> u64 {
    let (n, shift) = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40)]
        .iter()
        .find_map(|(s, shift)| q.strip_suffix(s).map(|n| (n, *shift)))
        .unwrap_or((q, 0));
    n.parse::<u64>()
        .unwrap_or_else(|_| panic!("quantity {q}: digits and Ki, Mi, Gi or Ti"))
        << shift
}

#[test]
fn manifest_validates_against_the_kubernetes_schema() {
    if missing("kubernetes-validate") {
        return;
    }
    crate::image::in_repo("kubernetes-validate", &["--strict", "--quiet", MANIFEST]);
}

/// Every variable, each with the binary's default, except the ones
/// `.env` holds: those come from the Secret, required but the password.
#[test]
fn manifest_lists_every_variable_with_its_default() {
    let env = container_env();
    let binary = binary_defaults();
    assert_eq!(
        env.keys().collect::<BTreeSet<_>>(),
        binary.keys().collect::<BTreeSet<_>>(),
        "the manifest's variables differ from the binary's"
    );
    for (name, default) in &binary {
        if DOT_ENV.contains(&name.as_str()) {
            let optional = name == "OUTPUT_KAFKA_PASSWORD";
            assert_eq!(
                env[name],
                Source::Secret(SITE_SECRET.into(), name.clone(), optional),
                "{name}: from the Secret made of .env"
            );
        } else {
            assert_eq!(
                env[name],
                Source::Value(default.clone()),
                "{name}: the binary's default"
            );
        }
    }
}

/// With the Secret made from `.env.example`, the pod's environment is a
/// valid configuration for the binary.
#[test]
fn manifest_environment_is_accepted() {
    let env = pod_env(&example_env());
    assert_eq!(env.len(), binary_defaults().len(), "every variable set");
    Run::new()
        .env_clear()
        .arg("check-config")
        .envs(env)
        .output()
        .assert_success();
}

#[test]
fn manifest_runs_on_every_node_with_only_the_capture_capabilities() {
    let ds = daemon_set();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    assert_eq!(pod["dnsPolicy"].as_str(), Some("ClusterFirstWithHostNet"));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let everywhere = pod["tolerations"]
        .as_vec()
        .is_some_and(|t| t.iter().any(|t| t["operator"].as_str() == Some("Exists")));
    assert!(everywhere, "tolerates every taint: a sensor on each node");

    let c = container();
    let sc = &c["securityContext"];
    assert!(sc["privileged"].as_bool() != Some(true), "not privileged");
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    let caps = |k: &str| capabilities(&c, k);
    assert_eq!(caps("drop"), BTreeSet::from(["ALL".to_string()]));
    // What privileges.rs checks and the README's af_xdp section asks
    // for; nothing more.
    assert_eq!(
        caps("add"),
        ["NET_RAW", "NET_ADMIN", "BPF", "IPC_LOCK"]
            .map(String::from)
            .into()
    );

    let probe: Vec<&str> = c["livenessProbe"]["exec"]["command"]
        .as_vec()
        .expect("an exec liveness probe")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(probe, ["/usr/local/bin/httpcap", "health"]);
    assert!(
        read("Dockerfile").contains(" /usr/local/bin/httpcap\n"),
        "the probe runs the binary where the image puts it"
    );

    let env = pod_env(&example_env());
    // HEALTH_FILE is written under a writable mount.
    let health = &env["HEALTH_FILE"];
    let mounts = c["volumeMounts"].as_vec().expect("volumeMounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"]
            .as_str()
            .is_some_and(|p| health.starts_with(&format!("{}/", p.trim_end_matches('/'))))),
        "HEALTH_FILE={health} is not on a mounted volume (the root is read-only)"
    );

    let grace = pod["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds");
    let shutdown = parse_duration(&env["OUTPUT_KAFKA_SHUTDOWN_TIMEOUT"]).expect("duration");
    assert!(
        grace as u64 > shutdown.as_secs(),
        "the grace period ({grace} s) must outlast the Kafka shutdown wait ({shutdown:?})"
    );

    let limit = quantity(
        c["resources"]["limits"]["memory"]
            .as_str()
            .expect("a memory limit"),
    );
    let heap = parse_size(&env["HEAP_LIMIT"]).expect("size");
    assert!(
        limit >= heap + OVERHEAD,
        "memory limit {limit} below HEAP_LIMIT {heap} plus the fixed overhead {OVERHEAD}"
    );
    assert_eq!(
        c["image"].as_str(),
        crate::container::service_image().as_deref(),
        "the image compose runs"
    );
}

/// With `.env.example`'s values, the pod points nowhere: the only
/// addresses are the default BPF filter's exclusions and `.invalid`.
#[test]
fn manifest_reaches_no_host() {
    assert_names_no_host(pod_env(&example_env()), &BTreeSet::new());
}

#[test]
fn quantities() {
    assert_eq!(quantity("512Mi"), 512 << 20);
    assert_eq!(quantity("17Gi"), 17 << 30);
    assert_eq!(quantity("1024"), 1024);
}

/// The uprobes overlay as `kubectl kustomize` renders it (Debian's
/// kubernetes-client, kubectl 1.20, in CI): valid against the schema,
/// and the base's DaemonSet with only what TLS_UPROBE_LIBS=auto needs
/// added: the node's pids, SYS_ADMIN and SYS_PTRACE (what privileges.rs
/// asks for), tracefs from the node, and TLS_UPROBE_LIBS=auto; every
/// other variable as the base has it, and the binary accepts the lot.
#[test]
fn uprobes_overlay_adds_only_what_auto_needs() {
    if missing("kubectl") || missing("kubernetes-validate") {
        eprintln!("SKIPPED: kubectl (kustomize) or kubernetes-validate missing");
        return;
    }
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", UPROBES_OVERLAY])
        .current_dir(crate::container::ROOT)
        .output()
        .expect("kubectl kustomize");
    let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl kustomize {UPROBES_OVERLAY}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::env::temp_dir().join(format!("httpcap-uprobes-{}.yaml", std::process::id()));
    std::fs::write(&file, &rendered).unwrap();
    crate::image::in_repo(
        "kubernetes-validate",
        &["--strict", "--quiet", file.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&file);

    let ds = daemon_set_of(YamlLoader::load_from_str(&rendered).expect("rendered YAML"));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(true));
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    let c = container_of(&ds);
    let base = container();
    let mut want = capabilities(&base, "add");
    want.extend(["SYS_ADMIN".to_string(), "SYS_PTRACE".to_string()]);
    assert_eq!(capabilities(&c, "add"), want);
    assert_eq!(capabilities(&c, "drop"), capabilities(&base, "drop"));
    let sc = &c["securityContext"];
    assert!(sc["privileged"].as_bool() != Some(true), "not privileged");
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    // The API refuses SYS_ADMIN with allowPrivilegeEscalation false.
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(true));

    let tracefs = c["volumeMounts"]
        .as_vec()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some("/sys/kernel/tracing"))
        .expect("tracefs mounted")
        .clone();
    let volume = pod["volumes"]
        .as_vec()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == tracefs["name"])
        .expect("the tracefs volume")
        .clone();
    assert_eq!(
        volume["hostPath"]["path"].as_str(),
        Some("/sys/kernel/tracing")
    );

    let mut env = env_of(&c);
    assert_eq!(
        env.remove("TLS_UPROBE_LIBS"),
        Some(Source::Value("auto".into()))
    );
    let mut base_env = container_env();
    base_env.remove("TLS_UPROBE_LIBS");
    assert_eq!(env, base_env, "every other variable as in the base");
    // With the Secret made from .env.example, the binary accepts it.
    let mut pod_env = pod_env(&example_env());
    pod_env.insert("TLS_UPROBE_LIBS".into(), "auto".into());
    Run::new()
        .env_clear()
        .arg("check-config")
        .envs(pod_env)
        .output()
        .assert_success();
}
