//! Compiles httpcap's BPF programs to objects in OUT_DIR, which the
//! engine embeds and loads at run time: the af_xdp engine's XDP program
//! (src/capture/xdp/steer.bpf.c) and the TLS uprobe source's programs
//! (src/tls/uprobe/ssl.bpf.c, CO-RE: its kernel offsets are resolved by
//! libbpf at load time). Needs clang with the BPF target: `CLANG`, else
//! `clang-14` or `clang` on PATH.

use std::path::PathBuf;
use std::process::Command;

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

/// Each program's source and the object it becomes.
const PROGRAMS: [(&str, &str); 2] = [
    ("src/capture/xdp/steer.bpf.c", "steer.bpf.o"),
    ("src/tls/uprobe/ssl.bpf.c", "ssl.bpf.o"),
];

fn main() {
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = find_clang().unwrap_or_else(|| {
        panic!(
            "\n\nhttpcap needs clang to compile its BPF programs (af_xdp, TLS uprobes).\n\
             Install it (Debian: apt-get install clang-14 libelf-dev zlib1g-dev, or run tools/setup.sh),\n\
             or set CLANG to a clang binary with the BPF target.\n\n"
        )
    });
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // bpf_tracing.h reads probe arguments from the target's pt_regs.
    let bpf_arch = match arch.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        "riscv64" => "riscv",
        "s390x" => "s390",
        "powerpc64" => "powerpc",
        other => other,
    };
    for (source, object) in PROGRAMS {
        println!("cargo:rerun-if-changed={source}");
        let out = out_dir.join(object);
        let mut cmd = Command::new(&clang);
        cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c"]);
        cmd.arg(format!("-D__TARGET_ARCH_{bpf_arch}"));
        // bpf_helpers.h from the libbpf that libbpf-sys builds, then the
        // system's (libbpf-dev) as a fallback.
        if let Some(inc) = std::env::var_os("DEP_BPF_INCLUDE") {
            cmd.arg("-I").arg(inc);
        }
        // Kernel UAPI headers include <asm/types.h>, which lives in the
        // multiarch directory on Debian.
        cmd.arg(format!("-I/usr/include/{arch}-linux-gnu"));
        cmd.arg(source).arg("-o").arg(&out);
        let status = cmd.status().unwrap_or_else(|e| {
            panic!(
                "\n\ncannot run {} to compile {source}: {e}\n\n",
                clang.display()
            )
        });
        if !status.success() {
            panic!(
                "\n\n{} failed to compile {source} to BPF (see the messages above).\n\n",
                clang.display()
            );
        }
    }
    // For the tests that attach the XDP object with `ip link` as another
    // tool would.
    println!(
        "cargo:rustc-env=HTTPCAP_XDP_OBJECT={}",
        out_dir.join("steer.bpf.o").display()
    );
}
