//! CPU time of this process, from /proc (user + system), for "CPU per
//! million events" figures.

use std::time::Duration;

pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(") ").map(|(_, rest)| rest).expect("stat format");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// The machine's CPU time so far, from /proc/stat: (stolen, total) in clock
/// ticks. On a VM, time the hypervisor gave to other guests ("steal")
/// inflates every latency measured meanwhile; benchmarks report its share.
pub fn machine_steal() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|t| t.parse().ok())
        .collect();
    (ticks.get(7).copied().unwrap_or(0), ticks.iter().sum())
}

/// The share of CPU time stolen since `since` (a [`machine_steal`] reading), in percent.
pub fn steal_percent_since(since: (u64, u64)) -> f64 {
    let now = machine_steal();
    let total = now.1.saturating_sub(since.1).max(1);
    100.0 * now.0.saturating_sub(since.0) as f64 / total as f64
}
