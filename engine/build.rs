//! Compiles the af_xdp engine's XDP program (src/capture/xdp/steer.bpf.c)
//! to a BPF object in OUT_DIR, which the engine embeds and loads at run
//! time. Needs clang with the BPF target: `CLANG`, else `clang-14` or
//! `clang` on PATH.

use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/capture/xdp/steer.bpf.c";

fn find_clang() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("CLANG") {
        return Some(PathBuf::from(c));
    }
    ["clang-14", "clang"].iter().find_map(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from(name))
    })
}

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = find_clang().unwrap_or_else(|| {
        panic!(
            "\n\nhttpcap's af_xdp engine needs clang to compile {SOURCE} to BPF.\n\
             Install it (Debian: apt-get install clang-14 libelf-dev zlib1g-dev, or run tools/setup.sh),\n\
             or set CLANG to a clang binary with the BPF target.\n\n"
        )
    });
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("steer.bpf.o");
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c"]);
    // bpf_helpers.h from the libbpf that libbpf-sys builds, then the
    // system's (libbpf-dev) as a fallback.
    if let Some(inc) = std::env::var_os("DEP_BPF_INCLUDE") {
        cmd.arg("-I").arg(inc);
    }
    // Kernel UAPI headers include <asm/types.h>, which lives in the
    // multiarch directory on Debian.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    cmd.arg(format!("-I/usr/include/{arch}-linux-gnu"));
    cmd.arg(SOURCE).arg("-o").arg(&out);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "\n\ncannot run {} to compile {SOURCE}: {e}\n\n",
            clang.display()
        )
    });
    if !status.success() {
        panic!(
            "\n\n{} failed to compile {SOURCE} to BPF (see the messages above).\n\n",
            clang.display()
        );
    }
    // For the tests that attach the object with `ip link` as another
    // tool would.
    println!("cargo:rustc-env=HTTPCAP_XDP_OBJECT={}", out.display());
}
