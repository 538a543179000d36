//! Which libssl files this host's processes use (TLS_UPROBE_LIBS=auto).
//! Every process's memory map (`/proc/PID/maps`) names the files it has
//! mapped, with each file's device and inode; those named like OpenSSL's
//! libssl are probed through the process's own root
//! (`/proc/PID/root/...`), so a container's libssl is found as well as
//! the host's. A file is one (device, inode) as the map gives it: probed
//! once however many processes map it, and still known after a package
//! upgrade replaced it on disk (the map then says ` (deleted)`; such a
//! file is reached through `/proc/PID/map_files/`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One file, wherever it is mounted: what a uprobe is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// major << 32 | minor, from the map's `MM:mm`.
    pub dev: u64,
    pub ino: u64,
}

/// A libssl file found in a process's map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Where the probes are attached from: the path under the process's
    /// root, or its map_files entry when the file was deleted.
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

/// One line of a map that maps a libssl file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// `start-end`, the name of its map_files entry.
    pub range: &'a str,
    pub id: FileId,
    /// Without the ` (deleted)` mark.
    pub path: &'a str,
    pub deleted: bool,
}

/// Splits off the next whitespace-separated field.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s.find(' ')?;
    Some((&s[..end], &s[end..]))
}

/// A map line (`start-end perms offset MM:mm inode path`; the path may
/// hold spaces) if it maps a libssl file.
fn libssl_mapping(line: &str) -> Option<Mapping<'_>> {
    let (range, rest) = field(line)?;
    let (_perms, rest) = field(rest)?;
    let (_offset, rest) = field(rest)?;
    let (dev, rest) = field(rest)?;
    let (ino, rest) = field(rest)?;
    let path = rest.trim_start();
    let (path, deleted) = match path.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (path, false),
    };
    if !path.starts_with('/') || !is_libssl(path) {
        return None;
    }
    let (major, minor) = dev.split_once(':')?;
    let id = FileId {
        dev: u64::from_str_radix(major, 16).ok()? << 32 | u64::from_str_radix(minor, 16).ok()?,
        ino: ino.parse().ok()?,
    };
    Some(Mapping {
        range,
        id,
        path,
        deleted,
    })
}

/// The libssl files one map names, each once, in map order.
pub fn libssl_mappings(maps: &str) -> Vec<Mapping<'_>> {
    let mut out: Vec<Mapping<'_>> = Vec::new();
    for m in maps.lines().filter_map(libssl_mapping) {
        if !out.iter().any(|o| o.id == m.id) {
            out.push(m);
        }
    }
    out
}

/// Where a mapping's file is opened from: under the process's root, or
/// (deleted from its directory) through map_files, which needs
/// CAP_SYS_ADMIN.
pub fn attach_path(process: &Path, m: &Mapping<'_>) -> PathBuf {
    if m.deleted {
        process.join("map_files").join(m.range)
    } else {
        process.join("root").join(m.path.trim_start_matches('/'))
    }
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
        for m in libssl_mappings(&maps) {
            scan.files.entry(m.id).or_insert_with(|| Found {
                path: attach_path(&entry.path(), &m),
                mapped_as: m.path.to_string(),
                pid,
            });
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c8a00000-55d0c8a2c000 r--p 00000000 08:01 1311   /usr/sbin/nginx
7f1c2a000000-7f1c2a01f000 r--p 00000000 08:01 2001   /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2a01f000-7f1c2a07a000 r-xp 0001f000 08:01 2001   /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2a100000-7f1c2a200000 r-xp 00000000 08:01 2002   /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f1c2a300000-7f1c2a301000 r-xp 00000000 00:2a 77     /opt/my app/lib/libssl.so.1.1
7f1c2a400000-7f1c2a401000 r-xp 00000000 08:01 78     /usr/lib/libssl3.so
7f1c2a500000-7f1c2a501000 r-xp 00000000 103:02 79     /tmp/libssl.so (deleted)
7f1c2a600000-7f1c2a601000 rw-p 00000000 00:00 0      [heap]
7f1c2a700000-7f1c2a701000 rw-p 00000000 00:00 0
";

    #[test]
    fn finds_each_libssl_in_a_map_once_with_its_file() {
        let found = libssl_mappings(MAPS);
        let brief: Vec<(&str, FileId, bool)> =
            found.iter().map(|m| (m.path, m.id, m.deleted)).collect();
        assert_eq!(
            brief,
            [
                (
                    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                    FileId {
                        dev: 8 << 32 | 1,
                        ino: 2001
                    },
                    false
                ),
                (
                    "/opt/my app/lib/libssl.so.1.1",
                    FileId { dev: 0x2a, ino: 77 },
                    false
                ),
                (
                    "/tmp/libssl.so",
                    FileId {
                        dev: 0x103 << 32 | 2,
                        ino: 79
                    },
                    true
                ),
            ]
        );
        let p = Path::new("/proc/42");
        assert_eq!(
            attach_path(p, &found[0]),
            Path::new("/proc/42/root/usr/lib/x86_64-linux-gnu/libssl.so.3")
        );
        assert_eq!(
            attach_path(p, &found[2]),
            Path::new("/proc/42/map_files/7f1c2a500000-7f1c2a501000")
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
            "a b c 08:01 e /x/libssl.so.3",
            "a b c 0801 5 /x/libssl.so.3",
            "a b c zz:01 5 /x/libssl.so.3",
            "      ",
        ] {
            assert!(libssl_mappings(maps).is_empty(), "{maps:?}");
        }
    }

    #[test]
    fn a_fake_proc_tree_is_scanned_through_each_root() {
        let dir = std::env::temp_dir().join(format!("httpcap-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Two processes with their own roots mapping "the same" path, which
        // are two files (inodes 5 and 6); a third maps the first's again.
        for (pid, root, ino) in [("10", "r1", 5), ("11", "r2", 6), ("12", "r1", 5)] {
            let p = dir.join(pid);
            std::fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::symlink(dir.join(root), p.join("root")).unwrap();
            std::fs::write(
                p.join("maps"),
                format!(
                    "1-2 r-xp 0 08:01 {ino} /lib/libssl.so.3\n1-2 r-xp 0 08:01 9 /lib/libc.so.6\n"
                ),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.join("13")).unwrap(); // no maps
        std::fs::create_dir_all(dir.join("self")).unwrap(); // not a pid
        let s = scan(&dir);
        assert_eq!((s.processes, s.unreadable), (3, 1));
        assert_eq!(s.files.len(), 2);
        let five = &s.files[&FileId {
            dev: 8 << 32 | 1,
            ino: 5,
        }];
        assert!([10, 12].contains(&five.pid), "{five:?}");
        assert_eq!(five.mapped_as, "/lib/libssl.so.3");
        assert_eq!(
            five.path,
            dir.join(five.pid.to_string()).join("root/lib/libssl.so.3")
        );
        assert_eq!(
            s.files[&FileId {
                dev: 8 << 32 | 1,
                ino: 6
            }]
                .pid,
            11
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
