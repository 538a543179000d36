//! Test support for the Kafka tests: a real Tansu broker started by
//! tools/kafka/broker.sh on a free loopback port, and the independent
//! confluent-kafka consumer tools/kafka/consume.py.
//!
//! When the broker or the consumer cannot be had, `Broker::start` returns
//! None after printing why, and the test returns early (reported as a skip
//! in its output). .ci/run installs both, so CI never skips.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn script(name: &str) -> PathBuf {
    repo_root().join("tools/kafka").join(name)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

pub fn skip(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// One broker process on its own port, stopped by PID on drop.
pub struct Broker {
    pub port: u16,
    script: PathBuf,
}

impl Broker {
    /// Starts the memory-storage broker, or explains why it cannot.
    pub fn start(test: &str) -> Option<Broker> {
        Broker::start_with(test, "broker.sh", free_port())
    }

    pub fn start_with(test: &str, name: &str, port: u16) -> Option<Broker> {
        if let Err(why) = consumer_available() {
            skip(test, &why);
            return None;
        }
        let b = Broker {
            port,
            script: script(name),
        };
        match b.run("start") {
            Ok(_) => Some(b),
            Err(why) => {
                skip(test, &format!("broker not available: {why}"));
                None
            }
        }
    }

    /// A broker handle for a port where nothing runs yet (started later).
    pub fn not_started(test: &str) -> Option<Broker> {
        if let Err(why) = consumer_available() {
            skip(test, &why);
            return None;
        }
        let b = Broker {
            port: free_port(),
            script: script("broker.sh"),
        };
        if let Err(why) = b.run("install") {
            skip(test, &format!("broker not available: {why}"));
            return None;
        }
        Some(b)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn run(&self, cmd: &str) -> Result<Output, String> {
        let out = Command::new("bash")
            .arg(&self.script)
            .arg(cmd)
            .arg(self.port.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.script.display()))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{} {cmd} failed: {}",
                self.script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn restart(&self) {
        self.run("start").expect("broker start");
    }

    pub fn kill(&self) {
        self.run("kill").expect("broker kill");
    }

    pub fn stop(&self) {
        self.run("stop").expect("broker stop");
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        consume(&[
            "create",
            "--bootstrap",
            &self.addr(),
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ])
        .expect("create topic");
    }

    /// Every message value in the topic, one String per message.
    pub fn read(&self, topic: &str) -> Vec<String> {
        let out =
            consume(&["read", "--bootstrap", &self.addr(), "--topic", topic]).expect("read topic");
        out.lines().map(str::to_string).collect()
    }

    /// Every message as (key, value).
    pub fn read_keyed(&self, topic: &str) -> Vec<(String, String)> {
        let out = consume(&[
            "read",
            "--keys",
            "--bootstrap",
            &self.addr(),
            "--topic",
            topic,
        ])
        .expect("read topic");
        out.lines()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or(("", l));
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

fn consumer_available() -> Result<(), String> {
    let ok = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err("python3 module confluent_kafka missing (pip install confluent-kafka)".into())
    }
}

/// Runs consume.py; Ok(stdout) or Err(stderr).
pub fn consume(args: &[&str]) -> Result<String, String> {
    let out = Command::new("python3")
        .arg(script("consume.py"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
