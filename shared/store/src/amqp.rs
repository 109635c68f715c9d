//! The RabbitMQ topology both the forwarder and the aggregator rely on,
//! declared idempotently by whichever starts first.

use anyhow::Context;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use analytics_config::AmqpSettings;

/// After this many deliveries (crashes or nacks) a message is dead-lettered
/// instead of looping forever.
pub const DELIVERY_LIMIT: i64 = 20;

pub async fn amqp_connect(settings: &AmqpSettings, name: &str) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    // `amqps://` is TLS; `sslrootcert=` names a private CA (see `tls`).
    let (url, root_cert) = crate::tls::take_root_cert_pem(settings.url())?;
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(|e| anyhow::anyhow!("amqp.url: not an AMQP URL: {e}"))?;
    // A broker that vanished without closing the socket (a killed node, a
    // dropped network) is noticed within two heartbeats; the server's default
    // of 60 s would leave a consumer waiting on a dead connection for minutes.
    // An explicit `?heartbeat=` in the URL wins.
    uri.query.heartbeat.get_or_insert(HEARTBEAT_SECONDS);
    // The client keeps 32 frames' worth of buffer each way, so the broker's
    // default of 128 KiB frames costs 8 MiB a connection; messages larger
    // than a frame are simply split. `?frame_max=` in the URL wins.
    uri.query.frame_max.get_or_insert(FRAME_MAX_BYTES);
    let tls = lapin::tcp::OwnedTLSConfig { identity: None, cert_chain: root_cert };
    let runtime = lapin::runtime::default_runtime().context("the AMQP client's runtime")?;
    Connection::connect_uri_with_config(uri, properties, tls, runtime).await.context("connecting to RabbitMQ")
}

const HEARTBEAT_SECONDS: u16 = 5;

/// Largest AMQP frame this client asks for (the broker may lower it).
pub const FRAME_MAX_BYTES: u32 = 32 * 1024;

/// `step` (connecting, declaring, asking about a queue), given up after the
/// broker's reply timeout ([`AmqpSettings::reply_timeout`]). Heartbeats only
/// guard a connection once it is open, and a reply on an open one can be lost
/// on a frozen path, so every wait on the broker outside a publish confirm
/// (which has its own timeout) goes through here.
pub async fn within_reply_timeout<T>(
    settings: &AmqpSettings,
    what: &str,
    step: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let limit = settings.reply_timeout();
    tokio::time::timeout(limit, step)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("{what}: no reply from RabbitMQ within {limit:?}")))
}

/// Exchange `<ns>.events` (fanout) -> quorum queue `<ns>.events.aggregate`,
/// whose rejected or over-delivered messages go through `<ns>.events.dlx` to
/// `<ns>.events.dead`, which keeps at most `dead_letter_limit` messages (the
/// newest). Declaring what already exists with the same arguments is a
/// no-op, so every instance does it at start, on a channel of its own.
pub async fn declare_topology(connection: &Connection, settings: &AmqpSettings) -> anyhow::Result<()> {
    let channel = connection.create_channel().await?;
    let durable_exchange = ExchangeDeclareOptions { durable: true, ..Default::default() };
    let durable_queue = QueueDeclareOptions { durable: true, ..Default::default() };
    let quorum = |extra: &[(&str, AMQPValue)]| {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        for (key, value) in extra {
            args.insert((*key).into(), value.clone());
        }
        args
    };

    for exchange in [settings.exchange(), settings.dead_letter_exchange()] {
        channel
            .exchange_declare(exchange.as_str().into(), ExchangeKind::Fanout, durable_exchange, FieldTable::default())
            .await
            .with_context(|| format!("declaring exchange {exchange}"))?;
    }
    let dead_letters = quorum(&[
        ("x-max-length", AMQPValue::LongLongInt(settings.dead_letter_limit)),
        ("x-overflow", AMQPValue::LongString("drop-head".into())),
    ]);
    let queues = [
        (settings.dead_letter_queue(), settings.dead_letter_exchange(), dead_letters),
        (
            settings.queue(),
            settings.exchange(),
            quorum(&[
                ("x-dead-letter-exchange", AMQPValue::LongString(settings.dead_letter_exchange().as_str().into())),
                ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
            ]),
        ),
    ];
    let mut channel = channel;
    for (queue, exchange, args) in queues {
        match channel.queue_declare(queue.as_str().into(), durable_queue, args).await {
            Ok(_) => {}
            // Declared before with other arguments (an earlier release made the
            // dead-letter queue without its limit): it stays as it is, and a
            // policy can add the limit (docs/OPERATING.md). The failed declare
            // closed the channel.
            Err(error) if is_precondition_failed(&error) => {
                tracing::warn!(queue, %error, "queue exists with other arguments; keeping it as it is");
                channel = connection.create_channel().await?;
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await?;
            }
            Err(error) => return Err(anyhow::Error::from(error).context(format!("declaring queue {queue}"))),
        }
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("binding {queue} to {exchange}"))?;
    }
    Ok(())
}

fn is_precondition_failed(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(e)
        if matches!(e.kind(), lapin::protocol::AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::PRECONDITIONFAILED)))
}

/// Messages ready in `queue`, read with a passive declare (no management
/// plugin needed), within the reply timeout.
pub async fn queue_depth(channel: &Channel, settings: &AmqpSettings, queue: &str) -> anyhow::Result<u32> {
    let options = QueueDeclareOptions { passive: true, ..Default::default() };
    let what = format!("reading the depth of {queue}");
    within_reply_timeout(settings, &what, async {
        let declared =
            channel.queue_declare(queue.into(), options, FieldTable::default()).await.context(what.clone())?;
        Ok(declared.message_count())
    })
    .await
}
