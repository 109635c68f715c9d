use std::process::Stdio;
use std::time::Duration;

use crate::binary;

/// A service binary run as a child process, for tests that must kill -9 it.
pub struct ServiceProcess {
    name: String,
    env: Vec<(String, String)>,
    log: Option<std::path::PathBuf>,
    /// Whether `log` is a file of our own making, removed on drop.
    own_log: bool,
    child: tokio::process::Child,
    pub port: u16,
    /// Where ingest and query serve `/metrics` and `/readyz` (the others serve
    /// them on `port`, their only one).
    pub ops_port: u16,
}

/// The services whose ops endpoints are apart from their public API.
const SEPARATE_OPS_PORT: [&str; 2] = ["analytics-ingest", "analytics-query"];

/// A port nothing listens on, from 10000-14999: below the kernel's ephemeral
/// range (32768 and up on Linux), which every outgoing connection of the
/// parallel tests draws from, so such a port could be taken between this
/// check and the service's own bind, and the service would exit unseen (a
/// 30 s readiness timeout). No script of ours uses this range. Drawn at
/// random, since tests run in parallel processes.
pub fn free_port() -> u16 {
    (0..5_000)
        .map(|_| rand::random_range(10_000..15_000))
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port in 10000-14999")
}

impl ServiceProcess {
    /// Starts `name` (e.g. `analytics-forwarder`) with `env` on a free port.
    pub fn spawn(name: &str, env: Vec<(String, String)>) -> Self {
        Self::start(name, env, None)
    }

    /// Like [`Self::spawn`], with stdout and stderr appended to `log`, for
    /// tests that read what a service logged.
    pub fn spawn_logging(name: &str, env: Vec<(String, String)>, log: &std::path::Path) -> Self {
        Self::start(name, env, Some(log.to_owned()))
    }

    fn start(name: &str, env: Vec<(String, String)>, log: Option<std::path::PathBuf>) -> Self {
        let port = free_port();
        // Kept in a file unless shown (TEST_LOG), for `log_tail` when a test
        // fails; that file goes with the process.
        let own_log = log.is_none();
        let log = log.or_else(|| {
            let dir = std::env::temp_dir().join("analytics-test-logs");
            (std::env::var_os("TEST_LOG").is_none() && std::fs::create_dir_all(&dir).is_ok())
                .then(|| dir.join(format!("{name}-{port}-{}.log", uuid::Uuid::new_v4().simple())))
        });
        let ops_port = if SEPARATE_OPS_PORT.contains(&name) { free_port() } else { port };
        let child = Self::launch(name, &env, (port, ops_port), log.as_deref());
        Self { name: name.to_owned(), env, own_log: own_log && log.is_some(), log, child, port, ops_port }
    }

    fn launch(
        name: &str,
        env: &[(String, String)],
        (port, ops_port): (u16, u16),
        log: Option<&std::path::Path>,
    ) -> tokio::process::Child {
        let inherit = std::env::var_os("TEST_LOG").is_some();
        let output = || match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
                Stdio::from(file)
            }
            None if inherit => Stdio::inherit(),
            None => Stdio::null(),
        };
        tokio::process::Command::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ANALYTICS__HTTP__HOST", "127.0.0.1")
            .env("ANALYTICS__HTTP__PORT", port.to_string())
            .env("ANALYTICS__OPS__HOST", "127.0.0.1")
            .env("ANALYTICS__OPS__PORT", ops_port.to_string())
            .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e} (run `cargo build --bins` first)"))
    }

    /// The last `lines` lines this process (in all its lives) wrote, for a
    /// failing test to show.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(text) = self.log.as_ref().and_then(|path| std::fs::read_to_string(path).ok()) else {
            return format!("({} logs to the terminal or nowhere)", self.name);
        };
        let all: Vec<&str> = text.lines().collect();
        format!("--- {} (last {lines} lines)\n{}", self.name, all[all.len().saturating_sub(lines)..].join("\n"))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ops_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ops_port)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.ops_url());
        crate::eventually(&format!("{} ready", self.name), Duration::from_secs(30), || async {
            let response = http.get(&url).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// The most resident memory the running process has held (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM in /proc/<pid>/status");
        kib * 1024
    }

    /// SIGKILL: no cleanup of any kind, as in a crashed or evicted pod.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// Starts the same binary again with the same settings and port.
    pub fn restart(&mut self) {
        self.child = Self::launch(&self.name, &self.env, (self.port, self.ops_port), self.log.as_deref());
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {within:?} of SIGTERM", self.name))
            .expect("wait")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let (true, Some(path)) = (self.own_log, &self.log) {
            let _ = std::fs::remove_file(path);
        }
    }
}
