//! Which libssl files this host's processes use (TLS_UPROBE_LIBS=auto).
//! Every process's memory map (`/proc/PID/maps`) names the files it has
//! mapped; those named like OpenSSL's libssl are opened through the
//! process's own root (`/proc/PID/root/...`), so a container's libssl is
//! found as well as the host's. A file is one (device, inode): probed
//! once however many processes map it, under whichever path was seen
//! first.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One file, wherever it is mounted: what a uprobe is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A libssl file found in a process's map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path as that process sees it, under its root
    /// (`/proc/PID/root/usr/lib/...`): what the probes are attached by.
    pub path: PathBuf,
    /// The path in the process's own view, for logs.
    pub mapped_as: String,
    pub pid: u32,
}

/// What one scan of /proc saw.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: HashMap<FileId, Found>,
    /// Processes whose map was read.
    pub processes: u32,
    /// Processes whose map could not be read (most have just exited;
    /// others are not ours to read without CAP_SYS_PTRACE).
    pub unreadable: u32,
}

/// Whether a mapped file's name is OpenSSL's libssl (`libssl.so`,
/// `libssl.so.3`, `libssl.so.1.1`); NSS's `libssl3.so` has another API.
pub fn is_libssl(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "libssl.so" || name.starts_with("libssl.so.")
}

/// The libssl paths one map names, each once, in map order. A line is
/// `start-end perms offset dev inode path`; the path may hold spaces,
/// and a deleted file's ends in ` (deleted)` (not probed: its path is
/// gone).
pub fn libssl_paths(maps: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for line in maps.lines() {
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            rest = rest.find(' ').map_or("", |i| &rest[i..]);
        }
        let path = rest.trim_start();
        if path.starts_with('/')
            && !path.ends_with(" (deleted)")
            && is_libssl(path)
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

/// Reads every process's map under `proc` (normally `/proc`) and gives
/// the libssl files they map.
pub fn scan(proc: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(dir) = std::fs::read_dir(proc) else {
        return scan;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else {
            scan.unreadable += 1;
            continue;
        };
        scan.processes += 1;
        for mapped in libssl_paths(&maps) {
            let path = entry
                .path()
                .join("root")
                .join(mapped.trim_start_matches('/'));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let id = FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            scan.files.entry(id).or_insert_with(|| Found {
                path,
                mapped_as: mapped.to_string(),
                pid,
            });
        }
    }
    scan
}

/// The (device, inode) of a file given by path.
pub fn file_id(path: &Path) -> std::io::Result<FileId> {
    let meta = std::fs::metadata(path)?;
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_libssl_in_a_map_once() {
        let maps = "\
55d0c8a00000-55d0c8a2c000 r--p 00000000 08:01 1311   /usr/sbin/nginx
7f1c2a000000-7f1c2a01f000 r--p 00000000 08:01 2001   /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2a01f000-7f1c2a07a000 r-xp 0001f000 08:01 2001   /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2a100000-7f1c2a200000 r-xp 00000000 08:01 2002   /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f1c2a300000-7f1c2a301000 r-xp 00000000 00:2a 77     /opt/my app/lib/libssl.so.1.1
7f1c2a400000-7f1c2a401000 r-xp 00000000 08:01 78     /usr/lib/libssl3.so
7f1c2a500000-7f1c2a501000 r-xp 00000000 08:01 79     /tmp/libssl.so (deleted)
7f1c2a600000-7f1c2a601000 rw-p 00000000 00:00 0      [heap]
7f1c2a700000-7f1c2a701000 rw-p 00000000 00:00 0
";
        assert_eq!(
            libssl_paths(maps),
            [
                "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                "/opt/my app/lib/libssl.so.1.1"
            ]
        );
    }

    #[test]
    fn libssl_names() {
        for yes in ["/a/libssl.so", "/a/libssl.so.3", "/libssl.so.1.1"] {
            assert!(is_libssl(yes), "{yes}");
        }
        for no in [
            "/a/libssl3.so",
            "/a/libssl.so3",
            "/a/libcrypto.so.3",
            "/a/xlibssl.so.3",
        ] {
            assert!(!is_libssl(no), "{no}");
        }
    }

    #[test]
    fn odd_lines_give_nothing() {
        for maps in [
            "",
            "\n\n",
            "garbage",
            "a b c d e",
            "a b c d e libssl.so.3",
            "      ",
        ] {
            assert!(libssl_paths(maps).is_empty(), "{maps:?}");
        }
    }

    #[test]
    fn a_fake_proc_tree_is_scanned_through_each_root() {
        let dir = std::env::temp_dir().join(format!("httpcap-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Two processes with their own roots mapping "the same" path, which
        // are two files; a third process maps the first's file again.
        for (pid, root) in [("10", "r1"), ("11", "r2"), ("12", "r1")] {
            let p = dir.join(pid);
            std::fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::symlink(dir.join(root), p.join("root")).unwrap();
            std::fs::write(
                p.join("maps"),
                "1-2 r-xp 0 08:01 5 /lib/libssl.so.3\n1-2 r-xp 0 08:01 6 /lib/libc.so.6\n",
            )
            .unwrap();
        }
        for root in ["r1", "r2"] {
            std::fs::create_dir_all(dir.join(root).join("lib")).unwrap();
            std::fs::write(dir.join(root).join("lib/libssl.so.3"), root).unwrap();
        }
        std::fs::create_dir_all(dir.join("13")).unwrap(); // no maps
        std::fs::create_dir_all(dir.join("self")).unwrap(); // not a pid
        let s = scan(&dir);
        assert_eq!((s.processes, s.unreadable), (3, 1));
        assert_eq!(s.files.len(), 2);
        let mut pids: Vec<u32> = s.files.values().map(|f| f.pid).collect();
        pids.sort();
        assert!(pids == [10, 11] || pids == [11, 12], "{pids:?}");
        for f in s.files.values() {
            assert_eq!(f.mapped_as, "/lib/libssl.so.3");
            assert!(f.path.ends_with("root/lib/libssl.so.3"), "{f:?}");
            assert_eq!(
                file_id(&f.path).ok(),
                s.files.iter().find(|e| e.1 == f).map(|e| *e.0)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
