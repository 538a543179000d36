//! The container files, checked statically (no Docker engine in CI):
//! docker-compose.yml parses, has the runtime settings capture needs, and
//! lists exactly the binary's variables with the binary's defaults (the
//! deployment-specific four excepted); the Dockerfile's build steps are the
//! README's; the README's parameter table covers every variable.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use clap::CommandFactory;
use httpcap::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const BIN: &str = env!("CARGO_BIN_EXE_httpcap");

/// Values that belong to one deployment, not to the binary.
const DEPLOYMENT: &[&str] = &[
    "OUTPUT_KAFKA_HOST",
    "OUTPUT_KAFKA_USERNAME",
    "OUTPUT_KAFKA_USE_SASL",
    "OUTPUT_KAFKA_COLLECTION_ID",
];

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn service() -> Yaml {
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("compose parses");
    docs[0]["services"]["httpcap"].clone()
}

/// `${NAME:-default}` stands for its default.
fn effective(v: &str) -> String {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner
            .split_once(":-")
            .map(|(_, d)| d)
            .unwrap_or("")
            .to_string(),
        None => v.to_string(),
    }
}

fn compose_env() -> BTreeMap<String, String> {
    let svc = service();
    let env = svc["environment"].as_hash().expect("environment is a map");
    env.iter()
        .map(|(k, v)| {
            let k = k.as_str().expect("variable name").to_string();
            let v = match v {
                Yaml::String(s) => s.clone(),
                other => panic!("{k}: quote the value ({other:?})"),
            };
            (k, effective(&v))
        })
        .collect()
}

fn binary_defaults() -> BTreeMap<String, String> {
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
    let compose = compose_env();
    let names: BTreeSet<&String> = compose.keys().collect();
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
        let v = &compose[name];
        if DEPLOYMENT.contains(&name.as_str()) {
            assert!(
                !v.is_empty() && v != default,
                "{name}: the deployment's value belongs in compose"
            );
        } else {
            assert_eq!(
                v, default,
                "{name}: compose value differs from the binary's default"
            );
        }
    }
}

/// The compose environment is a valid configuration for the binary.
#[test]
fn compose_environment_is_accepted() {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().arg("check-config");
    for (k, v) in compose_env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn readme_table_covers_every_variable() {
    let readme = read("README.md");
    for name in Config::env_names() {
        let row = format!("| `{name}` |");
        assert!(readme.contains(&row), "README parameter table lacks {name}");
    }
}
