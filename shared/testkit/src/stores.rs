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
    /// The same stores over TLS, when they offer it (the private ones do).
    pub tls: Option<TlsStores>,
}

/// Where the stores listen for TLS, and the CA of their certificates.
#[derive(Debug, Clone)]
pub struct TlsStores {
    pub ca_file: String,
    /// `rediss://host:port`
    pub redis_url: String,
    /// `amqps://user:password@host:port/vhost`
    pub amqp_url: String,
}

impl Stores {
    fn from_vars(vars: &HashMap<String, String>) -> Self {
        let get = |name: &str| vars.get(name).cloned().unwrap_or_else(|| panic!("{name} missing from stores.env"));
        let tls = match (
            vars.get("ANALYTICS_TEST_TLS_CA"),
            vars.get("ANALYTICS_TEST_REDISS_URL"),
            vars.get("ANALYTICS_TEST_AMQPS_URL"),
        ) {
            (Some(ca), Some(redis), Some(amqp)) => {
                Some(TlsStores { ca_file: ca.clone(), redis_url: redis.clone(), amqp_url: amqp.clone() })
            }
            _ => None,
        };
        Stores {
            redis_url: get("ANALYTICS_TEST_REDIS_URL"),
            amqp_url: get("ANALYTICS_TEST_AMQP_URL"),
            postgres_url: get("ANALYTICS_TEST_POSTGRES_URL"),
            tls,
        }
    }
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
                "ANALYTICS_TEST_TLS_CA",
                "ANALYTICS_TEST_REDISS_URL",
                "ANALYTICS_TEST_AMQPS_URL",
            ] {
                if let Some(value) = from_env(name) {
                    vars.insert(name.to_owned(), value);
                }
            }
            if vars.len() < 3 {
                vars = start_private_stores().await;
            }
            Stores::from_vars(&vars)
        })
        .await
}

async fn start_private_stores() -> HashMap<String, String> {
    let base = std::env::var("ANALYTICS_LOCAL_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".local"));
    run_stores_script(&[], &["up"]).await;
    read_env_file(&base.join("stores.env"))
}

fn read_env_file(path: &std::path::Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

async fn run_stores_script(env: &[(String, String)], args: &[&str]) {
    let script = repo_root().join("deploy/local/stores.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .expect("running deploy/local/stores.sh");
    assert!(
        output.status.success(),
        "stores.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A second set of stores, only for fault tests, which stop, kill and restart
/// them. Separate from [`stores`] so other tests never see those faults; tests
/// using it belong to the `faults` nextest group, which runs them one at a time.
pub struct FaultStores {
    pub stores: Stores,
    env: Vec<(String, String)>,
}

static FAULT_STORES: OnceCell<FaultStores> = OnceCell::const_new();

impl FaultStores {
    pub async fn get() -> &'static FaultStores {
        FAULT_STORES
            .get_or_init(|| async {
                let env: Vec<(String, String)> = read_env_file(&repo_root().join("deploy/local/fault-stores.env"))
                    .into_iter()
                    .map(|(key, value)| {
                        let value = if key == "ANALYTICS_LOCAL_DIR" {
                            repo_root().join(value).display().to_string()
                        } else {
                            value
                        };
                        (key, value)
                    })
                    .collect();
                let base = PathBuf::from(
                    &env.iter().find(|(k, _)| *k == "ANALYTICS_LOCAL_DIR").expect("dir in fault-stores.env").1,
                );
                run_stores_script(&env, &["up"]).await;
                let vars = read_env_file(&base.join("stores.env"));
                FaultStores { stores: Stores::from_vars(&vars), env }
            })
            .await
    }

    /// `stores.sh <action> <store>`: action is start, stop (graceful) or kill (-9);
    /// store is redis, rabbitmq or postgres. `start` returns once it answers.
    pub async fn control(&self, action: &str, store: &str) {
        run_stores_script(&self.env, &[action, store]).await;
    }
}
