use std::collections::HashMap;
use std::path::PathBuf;

use tokio::sync::OnceCell;

/// Where the servers are. Shared read-only by all tests of a run.
#[derive(Debug, Clone)]
pub struct Stores {
    pub redis_url: String,
    pub amqp_url: String,
    /// A URL of the `postgres` maintenance database; tests create their own.
    pub postgres_url: String,
}

static STORES: OnceCell<Stores> = OnceCell::const_new();

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The stores named by `ANALYTICS_TEST_REDIS_URL`, `_AMQP_URL` and
/// `_POSTGRES_URL`, or else the private ones of `deploy/local/stores.sh`,
/// started on first use (the script is idempotent and locked).
pub async fn stores() -> &'static Stores {
    STORES
        .get_or_init(|| async {
            let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let mut vars: HashMap<String, String> = HashMap::new();
            for name in [
                "ANALYTICS_TEST_REDIS_URL",
                "ANALYTICS_TEST_AMQP_URL",
                "ANALYTICS_TEST_POSTGRES_URL",
            ] {
                if let Some(value) = from_env(name) {
                    vars.insert(name.to_owned(), value);
                }
            }
            if vars.len() < 3 {
                vars = start_private_stores().await;
            }
            let get = |name: &str| {
                vars.get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("{name} missing from stores.env"))
            };
            Stores {
                redis_url: get("ANALYTICS_TEST_REDIS_URL"),
                amqp_url: get("ANALYTICS_TEST_AMQP_URL"),
                postgres_url: get("ANALYTICS_TEST_POSTGRES_URL"),
            }
        })
        .await
}

async fn start_private_stores() -> HashMap<String, String> {
    let script = repo_root().join("deploy/local/stores.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .arg("up")
        .output()
        .await
        .expect("running deploy/local/stores.sh");
    assert!(
        output.status.success(),
        "stores.sh up failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let env_file = std::env::var("ANALYTICS_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".local"))
        .join("stores.env");
    let text = std::fs::read_to_string(&env_file).expect("reading stores.env");
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}
