//! Per-test scratch directories. Tests of one binary share a process id,
//! so the name (unique per test) keeps them apart, the pid keeps
//! concurrent `cargo test` runs apart.

use std::path::PathBuf;

/// A scratch directory for one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("httpcap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    pub fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }

    /// A named pipe in the scratch directory: fed as capture input, it keeps
    /// a run going (like a live link) until the test closes it.
    pub fn fifo(&self, f: &str) -> String {
        let path = self.path(f);
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(ok.success(), "mkfifo {path}");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
