//! The standard Prometheus process metrics (the names every client library
//! exports, so stock dashboards and alerts work), read from /proc at scrape
//! time by the `procfs` crate.

/// One reading; a value /proc would not give is left out.
#[derive(Clone, Debug, Default)]
pub struct ProcessMetrics {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessMetrics {
    pub fn read() -> ProcessMetrics {
        let Ok(me) = procfs::process::Process::myself() else {
            return ProcessMetrics::default();
        };
        let mut m = ProcessMetrics {
            open_fds: me.fd_count().ok().map(|n| n as u64),
            max_fds: me
                .limits()
                .ok()
                .and_then(|l| match l.max_open_files.soft_limit {
                    procfs::process::LimitValue::Value(v) => Some(v),
                    procfs::process::LimitValue::Unlimited => None,
                }),
            ..ProcessMetrics::default()
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            m.cpu_seconds = Some((stat.utime + stat.stime) as f64 / ticks);
            m.resident_memory_bytes = Some(stat.rss * procfs::page_size());
            m.virtual_memory_bytes = Some(stat.vsize);
            m.start_time_seconds = procfs::boot_time_secs()
                .ok()
                .map(|boot| boot as f64 + stat.starttime as f64 / ticks);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let m = ProcessMetrics::read();
        assert!(m.resident_memory_bytes.unwrap() > 0);
        assert!(m.virtual_memory_bytes.unwrap() >= m.resident_memory_bytes.unwrap());
        assert!(m.open_fds.unwrap() >= 1);
        assert!(m.max_fds.unwrap_or(u64::MAX) >= m.open_fds.unwrap());
        let start = m.start_time_seconds.unwrap();
        let now = super::super::unix_now();
        assert!(start > 1.0e9 && start <= now + 1.0, "{start} vs {now}");
        assert!(m.cpu_seconds.unwrap() >= 0.0);
    }
}
