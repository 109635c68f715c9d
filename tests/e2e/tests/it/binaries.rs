//! The shipped binaries: configured from the environment, stopped by SIGTERM
//! with exit code 0, and the CLI's site commands.

use std::process::Stdio;
use std::time::Duration;

use analytics_e2e::{Namespace, binary, eventually, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_stops_cleanly_on_sigterm() {
    let namespace = Namespace::create().await;
    let http = reqwest::Client::new();
    for name in ["analytics-ingest", "analytics-forwarder", "analytics-aggregator", "analytics-query"] {
        let (port, ops_port) = (free_port(), free_port());
        let mut child = tokio::process::Command::new(binary(name))
            .envs(namespace.environment())
            .env("ANALYTICS__HTTP__HOST", "127.0.0.1")
            .env("ANALYTICS__HTTP__PORT", port.to_string())
            .env("ANALYTICS__OPS__HOST", "127.0.0.1")
            .env("ANALYTICS__OPS__PORT", ops_port.to_string())
            .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e} (run `cargo build --bins` first)"));
        eventually(&format!("{name} ready"), Duration::from_secs(20), || async {
            // Ingest and query answer it on their ops port, the others on their only one.
            let ops = if matches!(name, "analytics-ingest" | "analytics-query") { ops_port } else { port };
            let response = http.get(format!("http://127.0.0.1:{ops}/readyz")).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
        let pid = child.id().expect("running").to_string();
        let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(kill.success());
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{name} did not stop within 15 s of SIGTERM"))
            .expect("wait");
        assert!(status.success(), "{name} exited with {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_adds_and_lists_sites() {
    let namespace = Namespace::create().await;
    let ctl = |args: &[&str]| {
        std::process::Command::new(binary("analytics-ctl"))
            .args(args)
            .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
            .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
            .output()
            .expect("analytics-ctl runs")
    };
    let migrated = ctl(&["migrate"]);
    assert!(migrated.status.success());
    let migrated: serde_json::Value = serde_json::from_slice(&migrated.stdout).expect("json");
    assert_eq!(migrated["applied"], 0, "the namespace was already migrated");

    let added = ctl(&["site", "add", "--domain", "Example.COM", "--timezone", "Asia/Tehran"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let site: serde_json::Value = serde_json::from_slice(&added.stdout).expect("json");
    assert_eq!(site["domain"], "example.com");
    assert_eq!(site["timezone"], "Asia/Tehran");
    assert!(site["api_token"].as_str().expect("token").len() >= 32);
    uuid::Uuid::parse_str(site["id"].as_str().expect("id")).expect("uuid id");

    let duplicate = ctl(&["site", "add", "--domain", "example.com"]);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let bad_zone = ctl(&["site", "add", "--domain", "b.example", "--timezone", "Mars/Olympus"]);
    assert!(!bad_zone.status.success());
    assert!(String::from_utf8_lossy(&bad_zone.stderr).contains("time zone"));

    let listed = ctl(&["site", "list"]);
    let sites: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    let sites = sites.as_array().expect("list");
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["id"], site["id"]);
    assert!(sites[0].get("api_token").is_none(), "tokens are never listed");
}
