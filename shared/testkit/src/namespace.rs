use analytics_config::{AmqpSettings, PostgresSettings, RedisSettings};
use secrecy::SecretString;

use crate::stores::{Stores, stores};

/// One test's private corner of the shared servers: a fresh, migrated
/// database, a Redis key prefix and AMQP exchange/queue names of its own.
#[derive(Clone)]
pub struct Namespace {
    pub name: String,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    pub postgres: PostgresSettings,
}

impl Namespace {
    /// A namespace on the shared test stores. Its database commits without
    /// waiting for the WAL flush: these tests never crash Postgres, and the
    /// server stays durable for everyone else (`make run` shares it).
    pub async fn create() -> Self {
        Self::create_with(stores().await, Commits::Fast).await
    }

    /// A namespace on the shared test stores whose commits are as durable as
    /// production's: for benchmarks, which must measure what a user runs.
    pub async fn create_durable() -> Self {
        Self::create_in(stores().await).await
    }

    /// A namespace on the given stores (the fault-test set, for instance),
    /// with every commit durable: fault tests kill Postgres and count on it.
    pub async fn create_in(stores: &Stores) -> Self {
        Self::create_with(stores, Commits::Durable).await
    }

    async fn create_with(stores: &Stores, commits: Commits) -> Self {
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let admin = analytics_store::connect(&stores.postgres_url).await.expect("postgres admin connection");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("creating the test database");
        if commits == Commits::Fast {
            admin
                .batch_execute(&format!("ALTER DATABASE {name} SET synchronous_commit = off"))
                .await
                .expect("setting the test database's commit mode");
        }
        let postgres_url = database_url(&stores.postgres_url, &name);
        analytics_store::migrate(&postgres_url).await.expect("migrating the test database");
        Self {
            redis: RedisSettings { url: SecretString::from(stores.redis_url.clone()), key_prefix: format!("{name}:") },
            amqp: AmqpSettings {
                url: SecretString::from(stores.amqp_url.clone()),
                namespace: name.clone(),
                dead_letter_limit: 100_000,
                reply_timeout_ms: AmqpSettings::DEFAULT_REPLY_TIMEOUT_MS,
            },
            postgres: PostgresSettings {
                url: SecretString::from(postgres_url),
                pool_size: 4,
                statement_timeout_ms: 0,
                random_page_cost: 0.0,
            },
            name,
        }
    }

    /// The same namespace reached over TLS (`stores.tls`), with the stores'
    /// CA named in every URL, as a service would be configured.
    pub fn over_tls(&self, tls: &crate::TlsStores) -> Namespace {
        let ca = &tls.ca_file;
        let with_ca = |url: &str| format!("{url}{}sslrootcert={ca}", if url.contains('?') { '&' } else { '?' });
        let mut over = self.clone();
        over.redis.url = SecretString::from(with_ca(&format!("{}/", tls.redis_url)));
        over.amqp.url = SecretString::from(with_ca(&tls.amqp_url));
        over.postgres.url = SecretString::from(with_ca(&format!("{}?sslmode=require", self.postgres.url())));
        over
    }

    /// Drops this namespace's database, closing its connections first. For
    /// benchmarks: a database left behind keeps autovacuum busy on the
    /// tables of earlier runs while later ones are measured. Tests keep
    /// theirs, to be looked at after a failure.
    pub async fn drop_database(&self) {
        let admin = analytics_store::connect(&database_url(self.postgres.url(), "postgres"))
            .await
            .expect("postgres admin connection");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await.expect("dropping");
    }

    /// A connection to this namespace's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        analytics_store::connect(self.postgres.url()).await.expect("test database connection")
    }

    /// A Redis connection (keys of this test start with `self.redis.key_prefix`).
    pub async fn redis(&self) -> redis::aio::ConnectionManager {
        analytics_store::redis_manager(self.redis.url(), std::time::Duration::from_secs(5))
            .await
            .expect("redis connection")
    }

    /// Creates a site in this namespace's database; returns its id and token.
    pub async fn add_site(&self, domain: &str, timezone: &str) -> (String, String) {
        let db = self.db().await;
        let (site, token) = analytics_store::sites::add_site(&db, domain, timezone).await.expect("creating a site");
        (site.id.to_string(), token)
    }

    /// Publishes raw bytes to this namespace's exchange as the forwarder would
    /// (persistent, confirmed): to test the aggregator on exact batches, or
    /// on poison.
    pub async fn publish(&self, payload: &[u8]) {
        use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
        let connection = analytics_store::amqp::amqp_connect(&self.amqp, "test-publisher").await.expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        // Before any service has: a message must not be unroutable for lack of a queue.
        analytics_store::amqp::declare_topology(&connection, &self.amqp).await.expect("topology");
        channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm mode");
        let confirmation = channel
            .basic_publish(
                self.amqp.exchange().as_str().into(),
                "".into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                payload,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        let acked = confirmation.is_ack();
        let returned = confirmation.take_message().map(|m| m.reply_text.to_string());
        assert!(acked && returned.is_none(), "broker did not take the message: ack {acked}, returned {returned:?}");
        let _ = connection.close(200, "done".into()).await;
    }

    /// The `ANALYTICS__...` variables that point a service binary at this namespace.
    pub fn environment(&self) -> Vec<(String, String)> {
        [
            ("ANALYTICS__REDIS__URL", self.redis.url().to_owned()),
            ("ANALYTICS__REDIS__KEY_PREFIX", self.redis.key_prefix.clone()),
            ("ANALYTICS__AMQP__URL", self.amqp.url().to_owned()),
            ("ANALYTICS__AMQP__NAMESPACE", self.amqp.namespace.clone()),
            ("ANALYTICS__POSTGRES__URL", self.postgres.url().to_owned()),
            ("ANALYTICS__AGGREGATOR__UA_REGEXES", crate::ua_regexes().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

#[derive(PartialEq)]
enum Commits {
    Fast,
    Durable,
}

/// `url` with its database name replaced by `database`.
fn database_url(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("postgres URL with a database");
    format!("{base}/{database}")
}
