//! A broker that accepts connections and never answers them (booting,
//! wedged, a half-open path) holds no service for good: forwarder and
//! aggregator give each attempt up after the broker's reply timeout, connect
//! again, and count everything once the broker answers.

use std::sync::Arc;
use std::time::Duration;

use analytics_e2e::{Instances, Pipeline, PipelineOptions};
use analytics_testkit::{Relay, within};

/// Where `host:port` is in `scheme://user:pass@host:port/vhost`.
fn authority(url: &str) -> std::ops::Range<usize> {
    let start = url.find('@').map_or_else(|| url.find("://").expect("scheme") + 3, |at| at + 1);
    start..url[start..].find('/').map_or(url.len(), |slash| start + slash)
}

/// `url` with `port` in place of its port.
fn through_port(url: &str, port: u16) -> String {
    let at = authority(url);
    let host = url[at.clone()].rsplit_once(':').map_or(&url[at.clone()], |(host, _)| host);
    format!("{}{host}:{port}{}", &url[..at.start], &url[at.end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_never_answers_holds_no_service_for_good() {
    let broker = &analytics_testkit::stores().await.amqp_url;
    let relay = Arc::new(Relay::silent(&broker[authority(broker)]).await);
    // Forwarder and aggregator connect as soon as they start, within a second
    // of each other: 5 s after the first connection the relay held silent,
    // both have met it (without a reply timeout, they would wait forever).
    let opener = tokio::spawn({
        let relay = relay.clone();
        async move {
            let met = within(Duration::from_secs(60), || async {
                let silenced = relay.silenced();
                (silenced.len() >= 2 && silenced[0].elapsed() >= Duration::from_secs(5)).then_some(silenced.len())
            })
            .await;
            relay.answer();
            met
        }
    });
    let pipeline = Pipeline::start_with(PipelineOptions {
        forwarders: Instances::Processes(1),
        aggregators: Instances::Processes(1),
        overrides: vec![
            ("ANALYTICS__AMQP__URL".into(), through_port(broker, relay.port)),
            ("ANALYTICS__AMQP__REPLY_TIMEOUT_MS".into(), "1000".into()),
        ],
        ..Default::default()
    })
    .await;
    let silenced = opener.await.expect("opener").expect("the services connected to the silent broker");
    assert!(silenced >= 2, "{silenced} connections held silent");

    let (accepted, _) = pipeline.sender().pageviews(200, 20).await;
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[test]
fn the_port_of_a_url_is_replaced() {
    assert_eq!(through_port("amqp://u:p@127.0.0.1:5672/%2f", 9), "amqp://u:p@127.0.0.1:9/%2f");
    assert_eq!(through_port("amqp://localhost:5672", 9), "amqp://localhost:9");
    assert_eq!(&"amqp://u:p@127.0.0.1:5672/%2f"[authority("amqp://u:p@127.0.0.1:5672/%2f")], "127.0.0.1:5672");
}
