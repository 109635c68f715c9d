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

/// CPU time so far of the store at `url` (Redis, RabbitMQ, Postgres), when
/// it runs on this machine (else `None`): found by the port it listens on.
pub fn store_cpu(url: &str) -> Option<Duration> {
    reqwest::Url::parse(url).ok()?.port().and_then(pid_listening_on).and_then(server_cpu)
}

/// CPU time so far of a server process `pid` that forks a child per
/// connection or task (Postgres) or runs its work in threads (Redis,
/// RabbitMQ's Erlang VM): its own (all threads), its reaped children's and
/// its live children's.
pub fn server_cpu(pid: u32) -> Option<Duration> {
    let own = stat_fields(&pid.to_string())?;
    let mut ticks = own[11] + own[12] + own[13] + own[14];
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let child = entry.file_name().to_string_lossy().into_owned();
        if let Some(fields) = stat_fields(&child).filter(|fields| fields[1] == u64::from(pid)) {
            ticks += fields[11] + fields[12];
        }
    }
    Some(Duration::from_millis(ticks * 10))
}

/// The CPU time so far of each process `pipeline` runs on: its services that
/// run as processes and, when they run on this machine, its stores.
pub fn by_process(pipeline: &analytics_e2e::Pipeline) -> Vec<(&'static str, Option<Duration>)> {
    let services = pipeline.service_processes().into_iter();
    let mut cpu: Vec<_> = services.map(|(name, process)| (name, server_cpu(process.pid()))).collect();
    let namespace = &pipeline.namespace;
    cpu.extend([
        ("Redis", store_cpu(namespace.redis.url())),
        ("RabbitMQ", store_cpu(namespace.amqp.url())),
        ("Postgres", store_cpu(namespace.postgres.url())),
    ]);
    cpu
}

/// The CPU each process used between two readings of [`by_process`]
/// (`None` for a store not on this machine), and their sum.
fn used_between(
    before: &[(&'static str, Option<Duration>)],
    after: &[(&'static str, Option<Duration>)],
) -> (Vec<(&'static str, Option<Duration>)>, Duration) {
    let used: Vec<_> = before
        .iter()
        .zip(after)
        .map(|((process, before), (_, after))| (*process, before.zip(*after).map(|(b, a)| a.saturating_sub(b))))
        .collect();
    let total = used.iter().filter_map(|(_, cpu)| *cpu).sum();
    (used, total)
}

/// A column of [`print_per_event`]'s table before the CPU columns: its
/// heading and each process's cell (`-` for a process without one).
pub struct Column<'a> {
    pub heading: &'a str,
    pub cells: &'a [(&'static str, String)],
}

/// Prints the CPU each process used between two readings of [`by_process`],
/// in seconds and in µs per one of `events`, and their sum: a Markdown
/// table, with `column` before the CPU columns.
pub fn print_per_event(
    before: &[(&'static str, Option<Duration>)],
    after: &[(&'static str, Option<Duration>)],
    events: i64,
    column: Option<Column<'_>>,
) {
    let heading = column.as_ref().map_or(String::new(), |c| format!(" {} |", c.heading));
    let align = if column.is_some() { "---:|" } else { "" };
    println!("| process |{heading} CPU s | µs per event |\n|---|{align}---:|---:|");
    let cell = |process: &str| match &column {
        Some(column) => {
            let cell = column.cells.iter().find(|(name, _)| *name == process).map_or("-", |(_, cell)| cell.as_str());
            format!(" {cell} |")
        }
        None => String::new(),
    };
    let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / events.max(1) as f64;
    let (used, total) = used_between(before, after);
    for (process, cpu) in used {
        let cell = cell(process);
        match cpu {
            Some(cpu) => println!("| {process} |{cell} {:.1} | {:.1} |", cpu.as_secs_f64(), per_event(cpu)),
            None => println!("| {process} |{cell} n/a (not on this machine) | |"),
        }
    }
    let empty = if column.is_some() { " |" } else { "" };
    println!("| all of them |{empty} {:.1} | {:.1} |\n", total.as_secs_f64(), per_event(total));
}

/// The process listening on TCP `port` of this machine, if any: the inode of
/// the listening socket (`/proc/net/tcp`, `tcp6`), then the process that
/// holds it open.
fn pid_listening_on(port: u16) -> Option<u32> {
    const LISTEN: &str = "0A";
    let sockets: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            let listening = table.lines().skip(1).filter_map(|line| {
                // sl, local address:port (hex), remote, state, ..., inode (10th).
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
                let listens = local_port == port && *fields.get(3)? == LISTEN;
                listens.then(|| format!("socket:[{}]", fields.get(9).unwrap_or(&"")))
            });
            listening.collect::<Vec<_>>()
        })
        .collect();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let holds = std::fs::read_dir(entry.path().join("fd")).ok()?.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
        });
        holds.then_some(pid)
    })
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
