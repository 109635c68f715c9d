//! The services reach every store over TLS, with certificates checked: the
//! whole pipeline over TLS counts exactly, and a certificate that no
//! configured CA vouches for is refused.

use std::time::Duration;

use analytics_e2e::{Namespace, Pipeline, PipelineOptions, stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pipeline_runs_over_tls() {
    let pipeline = Pipeline::start_with(PipelineOptions { tls: true, ..Default::default() }).await;
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 20), false).await.status(), 202);
    pipeline.assert_exactly(20, &pipeline.forwarder_instances()).await;

    // Postgres: the services' sessions are encrypted.
    let db = pipeline.namespace.db().await;
    let encrypted: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND s.ssl",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert!(encrypted > 0, "the services' Postgres sessions use TLS");
    // Redis: the services are connected on the TLS port.
    let tls = stores().await.tls.clone().expect("the stores offer TLS");
    let port = tls.redis_url.rsplit(':').next().expect("a port").to_owned();
    let mut redis = pipeline.namespace.redis().await;
    let clients: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut redis).await.expect("CLIENT LIST");
    assert!(clients.lines().any(|c| c.contains(&format!("laddr=127.0.0.1:{port}"))), "{clients}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_no_configured_ca_vouches_for_is_refused() {
    let tls = stores().await.tls.clone().expect("the stores offer TLS");
    let namespace = Namespace::create().await;
    let trusted = namespace.over_tls(&tls);
    // With the CA named, each store answers over TLS...
    analytics_store::connect(trusted.postgres.url()).await.expect("Postgres over TLS");
    analytics_store::redis_manager(trusted.redis.url(), Duration::from_secs(2)).await.expect("Redis over TLS");
    analytics_store::amqp::amqp_connect(&trusted.amqp, "tls-test").await.expect("RabbitMQ over TLS");
    // ...and without it, the private CA's certificate is not believed.
    let untrusted = |url: &str| url.split("sslrootcert=").next().expect("url").trim_end_matches(['?', '&']).to_owned();
    let postgres = untrusted(trusted.postgres.url());
    assert!(analytics_store::connect(&postgres).await.is_err(), "{postgres}");
    let redis_url = untrusted(trusted.redis.url());
    assert!(analytics_store::redis_manager(&redis_url, Duration::from_secs(2)).await.is_err(), "{redis_url}");
    let mut amqp = trusted.amqp.clone();
    amqp.url = untrusted(trusted.amqp.url()).into();
    assert!(analytics_store::amqp::amqp_connect(&amqp, "tls-test").await.is_err());
}
