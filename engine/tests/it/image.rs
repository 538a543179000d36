//! The container image, built and run without a registry or a Docker
//! engine: `tools/image/build.sh` builds the Dockerfile's runtime stage
//! with buildah around the binary under test, on a Debian 12 base made by
//! debootstrap (`tools/image/base.sh`); inside it the binary reads the
//! shipped capture and writes the same records as outside (so the runtime
//! stage installs every library it links), `health` gives its verdict,
//! and the saved archive is one `docker load` tags `httpcap:latest`, the
//! image compose and the Kubernetes manifest run. The Dockerfile passes
//! hadolint.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::netns::missing;
use crate::common::pcaps::testdata;
use crate::common::record_check;
use crate::common::run::BIN;
use crate::common::scratch::Scratch;
use crate::common::Run;
use crate::container::ROOT;

const TAG: &str = "localhost/httpcap:it-image";

fn buildah(args: &[&str]) -> Output {
    Command::new("buildah")
        .args(args)
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .output()
        .expect("run buildah")
}

fn must(args: &[&str]) -> String {
    let out = buildah(args);
    assert!(
        out.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A working container of the image, removed on drop.
struct Container(String);

impl Container {
    /// Runs the image's binary in the container (host network: no
    /// network namespace to set up).
    fn httpcap(&self, args: &[&str]) -> Output {
        let mut argv = vec![
            "run",
            "--network",
            "host",
            &self.0,
            "--",
            "/usr/local/bin/httpcap",
        ];
        argv.extend(args);
        buildah(&argv)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = buildah(&["rm", &self.0]);
        let _ = buildah(&["rmi", "--force", TAG]);
    }
}

/// A record without what differs from run to run and host to host: the
/// run id in `id`, and `observer`.
fn comparable(mut r: Value) -> String {
    let id = r["id"].as_str().unwrap_or_default();
    let conn_and_txn = id.split_once('-').map_or(id, |(_, rest)| rest).to_string();
    r["id"] = Value::String(conn_and_txn);
    r.as_object_mut().unwrap().remove("observer");
    r.to_string()
}

/// Runs `program` in the repository; fails with its output unless it
/// succeeds.
pub(crate) fn in_repo(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    if missing("hadolint") {
        return;
    }
    in_repo("hadolint", &["Dockerfile"]);
}

#[test]
fn image_runs_the_shipped_capture_like_the_binary() {
    if missing("buildah") || missing("debootstrap") {
        return;
    }
    let scratch = Scratch::new("image");
    let archive = scratch.path("httpcap.tar");
    in_repo(
        "bash",
        &[
            "tools/image/build.sh",
            "--binary",
            BIN,
            "--tag",
            TAG,
            "--save",
            &archive,
        ],
    );
    let ctr = Container(must(&["from", "--pull=never", TAG]));

    let entrypoint = must(&["inspect", "--format", "{{.OCIv1.Config.Entrypoint}}", TAG]);
    assert_eq!(entrypoint, "[/usr/local/bin/httpcap]");

    // The shipped capture, inside and outside, every filter off.
    let sample = testdata("sample.pcap").to_string_lossy().into_owned();
    must(&["copy", &ctr.0, &sample, "/sample.pcap"]);
    let args = [
        "--input-raw-engine",
        "pcap_file",
        "--metrics-output",
        "none",
        "--filter-block-exts=",
        "--filter-block-ctypes=",
        "--filter-block-accept=",
        "--filter-block-multipart=",
    ];
    let mut inside = args.to_vec();
    inside.extend(["--input-raw", "/sample.pcap"]);
    let ran = ctr.httpcap(&inside);
    assert!(
        ran.status.success(),
        "httpcap in the image: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let in_image: BTreeSet<String> =
        record_check::parse_lines(&String::from_utf8_lossy(&ran.stdout))
            .into_iter()
            .map(comparable)
            .collect();
    let outside = Run::new()
        .args(args)
        .args(["--input-raw", &sample])
        .output();
    outside.assert_success();
    let on_host: BTreeSet<String> = record_check::parse_lines(&outside.stdout)
        .into_iter()
        .map(comparable)
        .collect();
    assert!(!on_host.is_empty());
    assert_eq!(in_image, on_host, "records differ inside the image");

    // The health check compose and Kubernetes run: one verdict line, and
    // exit 1 without a status file (the file the run above left behind
    // names a pid that another process may have taken since: buildah's
    // chroot shares the host's pid namespace).
    let health = ctr.httpcap(&["--health-file", "/tmp/absent.json", "health"]);
    let verdict = String::from_utf8_lossy(&health.stdout);
    assert_eq!(health.status.code(), Some(1), "{verdict}");
    assert!(
        verdict.starts_with("unhealthy: ") && verdict.lines().count() == 1,
        "{verdict:?} {}",
        String::from_utf8_lossy(&health.stderr)
    );

    // `docker load -i` tags it as compose and the manifest name it.
    let manifest = Command::new("tar")
        .args(["-xOf", &archive, "manifest.json"])
        .output()
        .expect("run tar");
    let manifest: Value = serde_json::from_slice(&manifest.stdout).expect("manifest.json");
    let tags: Vec<&str> = manifest[0]["RepoTags"]
        .as_array()
        .expect("RepoTags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tags.contains(&"docker.io/library/httpcap:latest"),
        "{tags:?}"
    );
    assert_eq!(
        crate::container::service_image().as_deref(),
        Some("httpcap:latest")
    );
}
