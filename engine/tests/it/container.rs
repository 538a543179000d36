//! The container files, checked statically (no Docker engine in CI):
//! docker-compose.yml parses, has the runtime settings capture needs, and
//! lists exactly the binary's variables with the binary's defaults, except
//! the deployment's four, which it requires from `.env` (documented by
//! `.env.example`, whose values reach nobody); resolved, it names no host
//! outside the compose network; no customer value is left in the
//! repository's documentation and tools; the Dockerfile's build steps are
//! the README's; the README's parameter table is the binary's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use clap::CommandFactory;
use httpcap::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::Run;

pub(crate) const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Values that belong to one deployment, not to the binary: compose
/// requires them from `.env`.
pub(crate) const DEPLOYMENT: &[&str] = &[
    "OUTPUT_KAFKA_HOST",
    "OUTPUT_KAFKA_USERNAME",
    "OUTPUT_KAFKA_USE_SASL",
    "OUTPUT_KAFKA_COLLECTION_ID",
];

/// What `.env.example` documents: the deployment's values and the secret.
pub(crate) const DOT_ENV: &[&str] = &[
    "OUTPUT_KAFKA_HOST",
    "OUTPUT_KAFKA_USERNAME",
    "OUTPUT_KAFKA_USE_SASL",
    "OUTPUT_KAFKA_COLLECTION_ID",
    "OUTPUT_KAFKA_PASSWORD",
];

pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("compose parses");
    docs[0].clone()
}

fn service() -> Yaml {
    compose()["services"]["httpcap"].clone()
}

/// The image the compose service runs.
pub(crate) fn service_image() -> Option<String> {
    service()["image"].as_str().map(str::to_string)
}

/// The httpcap service's environment as written, before interpolation.
fn compose_env_raw() -> BTreeMap<String, String> {
    let svc = service();
    let env = svc["environment"].as_hash().expect("environment is a map");
    env.iter()
        .map(|(k, v)| {
            let k = k.as_str().expect("variable name").to_string();
            let v = match v {
                Yaml::String(s) => s.clone(),
                other => panic!("{k}: quote the value ({other:?})"),
            };
            (k, v)
        })
        .collect()
}

/// A `.env` file as compose reads it: `NAME=value` lines, `#` comments,
/// optional quotes around the value.
fn dot_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=value: {l}"));
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Compose's interpolation of one value: `$$`, `$NAME`, `${NAME}`,
/// `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
/// `${NAME?error}`. The `?` forms that fail are returned as errors
/// (`NAME: error`), as compose reports them.
fn interpolate(value: &str, env: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (expr, after) = match rest.strip_prefix('{') {
            Some(r) => {
                let end = r
                    .find('}')
                    .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
                (&r[..end], &r[end + 1..])
            }
            None => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        rest = after;
        let name_end = expr
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expr.len());
        let (name, op) = expr.split_at(name_end);
        let set = env.get(name);
        let non_empty = set.filter(|v| !v.is_empty());
        let replaced = if let Some(d) = op.strip_prefix(":-") {
            non_empty.cloned().unwrap_or_else(|| d.to_string())
        } else if let Some(d) = op.strip_prefix('-') {
            set.cloned().unwrap_or_else(|| d.to_string())
        } else if let Some(msg) = op.strip_prefix(":?") {
            non_empty.cloned().unwrap_or_else(|| {
                errors.push(format!("{name}: {msg}"));
                String::new()
            })
        } else if let Some(msg) = op.strip_prefix('?') {
            set.cloned().unwrap_or_else(|| {
                errors.push(format!("{name}: {msg}"));
                String::new()
            })
        } else {
            assert!(op.is_empty(), "unknown interpolation ${{{expr}}}");
            set.cloned().unwrap_or_default()
        };
        out.push_str(&replaced);
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The service's environment as compose would pass it, given `env` (the
/// `.env` file), or every interpolation error.
fn compose_env_with(
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut resolved = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, v) in compose_env_raw() {
        match interpolate(&v, env) {
            Ok(v) => {
                resolved.insert(k, v);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

pub(crate) fn example_env() -> BTreeMap<String, String> {
    dot_env(&read(".env.example"))
}

/// Compose resolved with `.env.example`, as after `cp .env.example .env`.
fn compose_env() -> BTreeMap<String, String> {
    compose_env_with(&example_env()).expect("compose resolves with .env.example")
}

pub(crate) fn binary_defaults() -> BTreeMap<String, String> {
    Config::command()
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy().into_owned();
            let d = a
                .get_default_values()
                .first()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            Some((env, d))
        })
        .collect()
}

#[test]
fn compose_lists_every_variable_with_its_default() {
    let raw = compose_env_raw();
    let names: BTreeSet<&String> = raw.keys().collect();
    let binary = binary_defaults();
    let want: BTreeSet<&String> = binary.keys().collect();
    assert_eq!(
        names, want,
        "compose variables differ from Config::env_names()"
    );
    assert_eq!(
        Config::env_names().into_iter().collect::<BTreeSet<_>>(),
        binary.keys().cloned().collect::<BTreeSet<_>>()
    );
    for (name, default) in &binary {
        if DEPLOYMENT.contains(&name.as_str()) {
            // Required from .env: `${NAME:?...}`, or `${NAME?...}` where
            // empty is a valid answer (the SASL user without SASL).
            let v = &raw[name];
            assert!(
                v.starts_with(&format!("${{{name}:?")) || v.starts_with(&format!("${{{name}?")),
                "{name}: compose must require it from .env, not set it: {v}"
            );
        } else {
            // Resolved without .env: the password's `${...:-}` is empty.
            let v = interpolate(&raw[name], &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{name} is required: {e:?}"));
            assert_eq!(
                &v, default,
                "{name}: compose value differs from the binary's default"
            );
        }
    }
}

/// `.env.example` documents exactly the deployment's values and the
/// password, and compose passes them through.
#[test]
fn env_example_holds_the_deployment_values() {
    let example = example_env();
    assert_eq!(
        example.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        DOT_ENV.iter().copied().collect::<BTreeSet<_>>()
    );
    let compose = compose_env();
    for name in DOT_ENV {
        assert_eq!(compose[*name], example[*name], "{name}");
    }
    assert!(
        example["OUTPUT_KAFKA_HOST"].split(',').all(|b| b
            .split(':')
            .next()
            .unwrap()
            .ends_with(".invalid")),
        "example brokers must be unresolvable (.invalid)"
    );
}

/// Without `.env`, compose stops on each deployment variable, saying where
/// to set it.
#[test]
fn compose_without_env_file_fails_on_the_required_variables() {
    let errors = compose_env_with(&BTreeMap::new()).expect_err("compose must not resolve");
    for name in DEPLOYMENT {
        let e = errors
            .iter()
            .find(|e| e.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"));
        assert!(e.contains(".env"), "{e}");
    }
    assert_eq!(errors.len(), DEPLOYMENT.len(), "{errors:?}");
}

/// The compose environment is a valid configuration for the binary.
#[test]
fn compose_environment_is_accepted() {
    Run::new()
        .env_clear()
        .arg("check-config")
        .envs(compose_env())
        .output()
        .assert_success();
}

/// Removes `not (...)` spans: the hosts a BPF filter excludes.
fn without_exclusions(filter: &str) -> String {
    let mut out = String::new();
    let mut rest = filter;
    while let Some(at) = rest.find("not (") {
        out.push_str(&rest[..at]);
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[at + 4..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + 4 + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A name that looks resolvable: dotted labels of letters, digits and
/// hyphens ending in an alphabetic top-level label.
fn looks_like_host_name(s: &str) -> bool {
    let labels: Vec<&str> = s.trim_end_matches('.').split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Every address or host name in `value` that could reach a machine
/// outside the compose network.
fn outside_hosts(value: &str, services: &BTreeSet<String>) -> Vec<String> {
    let allowed =
        |h: &str| h == "127.0.0.1" || h == "::1" || h == "localhost" || h.ends_with(".invalid");
    let mut found = Vec::new();
    let tokens = value.split(|c: char| c.is_whitespace() || ",;()\"'=".contains(c));
    for token in tokens.filter(|t| !t.is_empty()) {
        let token = token.split_once("://").map_or(token, |(_, r)| r);
        // `a/b` is a path or a media type, unless `a` is an address (CIDR).
        let token = match token.split_once('/') {
            Some((a, _)) if a.parse::<Ipv4Addr>().is_ok() => a,
            Some(_) => continue,
            None => token,
        };
        // An IPv6 address, bare or in brackets (`prometheus:[::1]:9100`).
        let bracketed = token
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(h, _)| h);
        if let Some(h) = bracketed
            .or(Some(token))
            .filter(|h| h.parse::<Ipv6Addr>().is_ok())
        {
            if !allowed(h) {
                found.push(h.to_string());
            }
            continue;
        }
        let parts: Vec<&str> = token.split(':').collect();
        for (i, part) in parts.iter().enumerate() {
            let port_follows = parts.get(i + 1).is_some_and(|p| p.parse::<u16>().is_ok());
            let is_host = part.parse::<Ipv4Addr>().is_ok()
                || looks_like_host_name(part)
                || (port_follows && !part.is_empty() && !services.contains(*part));
            if is_host && !allowed(part) {
                found.push(part.to_string());
            }
        }
    }
    found
}

/// Fails on a variable that names a host outside `services`, loopback
/// and `.invalid`; the default BPF filter's exclusions are left out.
pub(crate) fn assert_names_no_host(env: BTreeMap<String, String>, services: &BTreeSet<String>) {
    for (name, value) in env {
        let scanned = if name == "INPUT_RAW_BPF_FILTER" {
            without_exclusions(&value)
        } else {
            value.clone()
        };
        let hosts = outside_hosts(&scanned, services);
        assert!(hosts.is_empty(), "{name}={value:?} names {hosts:?}");
    }
}

/// Resolved with `.env.example`, compose points nowhere outside its own
/// network: the only addresses are the default BPF filter's exclusions,
/// loopback and `.invalid` names.
#[test]
fn compose_reaches_no_host_outside_the_compose_network() {
    let services: BTreeSet<String> = compose()["services"]
        .as_hash()
        .expect("services")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    assert_names_no_host(compose_env(), &services);
    // The scanner itself.
    let none = BTreeSet::new();
    assert_eq!(outside_hosts("192.0.2.7:9094", &none), ["192.0.2.7"]);
    assert_eq!(
        outside_hosts("kafka.example.com:9092,kafka.invalid:9092", &none),
        ["kafka.example.com"]
    );
    assert_eq!(outside_hosts("broker:9092", &none), ["broker"]);
    assert_eq!(
        outside_hosts("prometheus:[2001:db8::1]:9100", &none),
        ["2001:db8::1"]
    );
    assert!(outside_hosts("prometheus:127.0.0.1:9100 /tmp/h.json image/* a.b_c", &none).is_empty());
    assert_eq!(
        outside_hosts(
            &without_exclusions("not (host 10.0.0.1) or host 10.0.0.2"),
            &none
        ),
        ["10.0.0.2"]
    );
}

/// The customer's broker and collection id, which the repository once
/// shipped, are gone from everything an operator reads or runs.
#[test]
fn no_customer_value_remains() {
    const CUSTOMER: &[&str] = &["192.155.23.11", "d9e796d6"];
    let mut files = vec![
        "README.md".to_string(),
        "docker-compose.yml".to_string(),
        ".env.example".to_string(),
        "Dockerfile".to_string(),
    ];
    for dir in ["perf", "tools", "grafana", "deploy"] {
        collect_files(&Path::new(ROOT).join(dir), &mut files);
    }
    for f in files {
        let Ok(text) = std::fs::read(Path::new(ROOT).join(&f)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        for bad in CUSTOMER {
            assert!(!text.contains(bad), "{f} contains {bad}");
        }
    }
}

/// Files under `dir`, relative to the repository, skipping build output.
fn collect_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == "out" || name == ".cache" || name == "__pycache__" {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out);
        } else if let Ok(rel) = p.strip_prefix(ROOT) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn compose_runs_privileged_on_the_host_network_with_a_health_check() {
    let s = service();
    assert_eq!(s["network_mode"].as_str(), Some("host"));
    assert_eq!(s["privileged"].as_bool(), Some(true));
    let caps: Vec<&str> = s["cap_add"]
        .as_vec()
        .expect("cap_add")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(caps.contains(&"NET_ADMIN") && caps.contains(&"NET_RAW"));
    assert!(s["restart"].as_str().is_some_and(|r| r != "no"));
    assert!(s["logging"]["options"]["max-size"].as_str().is_some());
    assert!(s["logging"]["options"]["max-file"].as_str().is_some());
    let test: Vec<&str> = s["healthcheck"]["test"]
        .as_vec()
        .expect("healthcheck.test")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(test, ["CMD", "/usr/local/bin/httpcap", "health"]);
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains(" /usr/local/bin/httpcap\n"),
        "the health check runs the binary where the image puts it"
    );
}

/// Package names of the first `apt-get install` in `text` after `from`.
fn apt_packages(text: &str, from: usize) -> BTreeSet<String> {
    let rest = &text[from..];
    let at = rest.find("apt-get install").expect("apt-get install");
    rest[at..]
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(2)
        .take_while(|w| *w != "&&" && *w != "\\")
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// The package names in tools/setup.sh's BUILD_PACKAGES array.
fn setup_build_packages() -> BTreeSet<String> {
    let setup = read("tools/setup.sh");
    let at = setup
        .find("BUILD_PACKAGES=(")
        .expect("BUILD_PACKAGES in setup.sh");
    let body = &setup[at + "BUILD_PACKAGES=(".len()..];
    let body = &body[..body.find("\n)").expect("end of BUILD_PACKAGES")];
    body.lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .map(str::to_string)
        .collect()
}

fn cargo_build(text: &str) -> String {
    let at = text.find("cargo build").expect("cargo build");
    text[at..].lines().next().unwrap().trim().to_string()
}

#[test]
fn dockerfile_builds_like_the_readme() {
    let dockerfile = read("Dockerfile");
    let readme = read("README.md");
    let build_stage = dockerfile.find(" AS build").expect("a build stage");
    let runtime_stage = dockerfile[build_stage..]
        .find("\nFROM ")
        .map(|i| i + build_stage)
        .expect("a runtime stage");
    let section = readme
        .find("\n## Build")
        .expect("README has a Build section");
    assert_eq!(
        apt_packages(&dockerfile, build_stage),
        apt_packages(&readme, section),
        "build packages differ between Dockerfile and README"
    );
    assert_eq!(
        cargo_build(&dockerfile[build_stage..]),
        cargo_build(&readme[section..]),
        "build command differs between Dockerfile and README"
    );
    assert_eq!(
        setup_build_packages(),
        apt_packages(&readme, section),
        "build packages differ between tools/setup.sh (--build-only, used by tools/try.sh) and README"
    );
    let runtime = apt_packages(&dockerfile, runtime_stage);
    assert!(
        runtime.iter().any(|p| p.starts_with("netcat")),
        "the runtime image has a netcat: {runtime:?}"
    );
}

/// One row of README's parameter table: variable, flag, default.
struct ReadmeRow {
    flag: String,
    default: String,
}

/// README's "Configuration" table, by variable.
fn readme_table() -> BTreeMap<String, ReadmeRow> {
    let readme = read("README.md");
    let at = readme
        .find("\n## Configuration")
        .expect("README has a Configuration section");
    let section = &readme[at + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    let unquote = |c: &str| c.trim().trim_matches('`').to_string();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert!(cells.len() >= 4, "README row: {l}");
            (
                unquote(cells[0]),
                ReadmeRow {
                    flag: unquote(cells[1]),
                    default: cells[2].trim().to_string(),
                },
            )
        })
        .collect()
}

/// README's parameter table is the binary's: the same variables, each with
/// its flag and its default. A default shown in backticks is the value
/// itself (a trailing `...` abbreviates it); prose stands only for an
/// absent default ("none"), an empty one ("empty") or a long list.
#[test]
fn readme_table_is_the_binarys() {
    let table = readme_table();
    let cmd = Config::command();
    let args: Vec<_> = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .collect();
    assert_eq!(
        table.keys().cloned().collect::<BTreeSet<_>>(),
        Config::env_names().into_iter().collect::<BTreeSet<_>>(),
        "README's parameter table and the binary's variables differ"
    );
    for arg in args {
        let name = arg.get_env().unwrap().to_string_lossy().into_owned();
        let row = &table[&name];
        let flag = format!("--{}", arg.get_long().expect("a long flag"));
        assert_eq!(row.flag, flag, "{name}: README flag");
        let default = arg
            .get_default_values()
            .first()
            .map(|d| d.to_string_lossy().into_owned());
        let shown = &row.default;
        match default.as_deref() {
            None => assert!(
                shown.starts_with("none"),
                "{name}: no default, README says {shown}"
            ),
            Some("") => assert!(
                shown.starts_with("empty"),
                "{name}: empty default, README says {shown}"
            ),
            // `value`, maybe followed by a note: "`false` (deployment)".
            Some(d) => match shown.strip_prefix('`').and_then(|s| s.split_once('`')) {
                Some((v, _)) => match v.strip_suffix("...") {
                    Some(prefix) => {
                        assert!(d.starts_with(prefix), "{name}: README {shown}, binary {d}")
                    }
                    None => assert_eq!(v, d, "{name}: README default"),
                },
                None => assert!(
                    d.contains(',') || d.len() > 40,
                    "{name}: README describes the default {d:?} as {shown}: show it in backticks"
                ),
            },
        }
    }
}
