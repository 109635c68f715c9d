//! CPU time of this process, from /proc (user + system), for "CPU per
//! million events" figures.

use std::time::Duration;

pub fn process_cpu() -> Duration {
    let stat = stat_fields("self").expect("/proc/self/stat");
    Duration::from_millis((stat[11] + stat[12]) * 10)
}

/// The numeric fields of `/proc/<pid>/stat` after the parenthesised command
/// name (the state reads as 0): the parent's pid is the 2nd, utime, stime,
/// cutime and cstime the 12th to 15th, in clock ticks (100 per second on
/// Linux). `None` once the process is gone.
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    Some(rest.split_whitespace().map(|field| field.parse().unwrap_or(0)).collect())
}

/// CPU time of the Postgres server `db` is connected to, so far, when it
/// runs on this machine (else `None`): its postmaster's own and that of the
/// children it reaped (closed connections), plus every live child's
/// (backends, WAL writer, checkpointer, autovacuum). Needs a superuser, to
/// read where the server keeps its pid.
pub async fn postgres_cpu(db: &tokio_postgres::Client) -> Option<Duration> {
    let row = db.query_one("SELECT current_setting('data_directory')", &[]).await.ok()?;
    let pid_file = std::path::Path::new(row.get::<_, &str>(0)).join("postmaster.pid");
    let postmaster = std::fs::read_to_string(pid_file).ok()?.lines().next()?.trim().to_owned();
    let own = stat_fields(&postmaster)?;
    let mut ticks = own[11] + own[12] + own[13] + own[14];
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if let Some(child) = stat_fields(&pid).filter(|fields| fields[1].to_string() == postmaster) {
            ticks += child[11] + child[12];
        }
    }
    Some(Duration::from_millis(ticks * 10))
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
