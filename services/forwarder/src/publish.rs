//! The RabbitMQ side: one connection with a confirm-mode channel, reopened
//! when it fails, and the publish of one batch awaiting its confirm.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use analytics_config::AmqpSettings;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};

use crate::claim::ClaimedBatch;

/// Why a publish did not end in a plain ack. The batch stays in flight and is retried.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    #[error("broker nacked the batch")]
    Nacked,
    #[error("broker returned the batch as unroutable: {0}")]
    Returned(String),
    #[error("no confirm within {0:?}")]
    ConfirmTimeout(Duration),
}

struct Link {
    connection: Connection,
    channel: Channel,
}

pub struct Broker {
    settings: AmqpSettings,
    name: String,
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
    /// Last known state, for `/readyz` (which must not wait on the link lock).
    status: Mutex<Result<(), String>>,
}

impl Broker {
    pub fn new(settings: AmqpSettings, name: String) -> Self {
        Self { settings, name, link: Default::default(), status: Mutex::new(Err("not connected yet".into())) }
    }

    pub fn status(&self) -> Result<(), String> {
        self.status.lock().expect("status lock").clone()
    }

    fn set_status(&self, status: Result<(), String>) {
        *self.status.lock().expect("status lock") = status;
    }

    /// The live confirm channel, connecting (and declaring the topology) when
    /// there is none. Fails while the broker is down or blocks publishers.
    async fn link(&self) -> Result<Arc<Link>, PublishError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref() {
            let status = link.connection.status();
            if status.connected() && link.channel.status().connected() {
                if status.blocked() {
                    let reason = "broker blocks publishers (connection.blocked)".to_owned();
                    self.set_status(Err(reason.clone()));
                    return Err(PublishError::Unavailable(anyhow::anyhow!(reason)));
                }
                return Ok(link.clone());
            }
            *guard = None;
        }
        match self.connect().await {
            Ok(link) => {
                let link = Arc::new(link);
                *guard = Some(link.clone());
                self.set_status(Ok(()));
                tracing::info!("connected to RabbitMQ");
                Ok(link)
            }
            Err(error) => {
                self.set_status(Err(format!("rabbitmq: {error:#}")));
                Err(PublishError::Unavailable(error))
            }
        }
    }

    /// Bounded by the reply timeout: the link lock is held meanwhile, so a
    /// broker that accepts the connection and never answers would otherwise
    /// stop every publish of this instance for good.
    async fn connect(&self) -> anyhow::Result<Link> {
        analytics_store::amqp::within_reply_timeout(&self.settings, "connecting", async {
            let connection = analytics_store::amqp::amqp_connect(&self.settings, &self.name).await?;
            let channel = connection.create_channel().await?;
            analytics_store::amqp::declare_topology(&connection, &self.settings).await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            Ok(Link { connection, channel })
        })
        .await
    }

    /// Checks the broker is usable before the forwarder claims more events.
    pub async fn ready(&self) -> Result<(), PublishError> {
        self.link().await.map(|_| ())
    }

    /// A channel for reading queue depths, separate from the confirm channel:
    /// a failed passive declare closes its channel.
    pub async fn side_channel(&self) -> Result<Channel, PublishError> {
        let link = self.link().await?;
        let opened = async { Ok(link.connection.create_channel().await?) };
        analytics_store::amqp::within_reply_timeout(&self.settings, "opening a channel", opened)
            .await
            .map_err(PublishError::Unavailable)
    }

    /// Publishes one batch as a persistent, mandatory message and waits for the
    /// broker's confirm. Ok means RabbitMQ has it on disk in the queue.
    pub async fn publish(&self, batch: &ClaimedBatch, confirm_timeout: Duration) -> Result<Duration, PublishError> {
        let link = self.link().await?;
        let payload = analytics_events::encode_batch_raw(&batch.id, batch.events.iter().map(Vec::as_slice));
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(batch.id.as_str().into())
            .with_content_type("application/x-protobuf".into());
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let started = Instant::now();
        let outcome = async {
            let confirm = link
                .channel
                .basic_publish(self.settings.exchange().as_str().into(), "".into(), options, &payload, properties)
                .await?;
            confirm.await
        };
        let confirmation = match tokio::time::timeout(confirm_timeout, outcome).await {
            Err(_) => {
                // A link whose confirms stop coming is not trusted again (a
                // frozen path, a wedged channel): the retry goes out on a new one.
                self.forget(&link).await;
                return Err(PublishError::ConfirmTimeout(confirm_timeout));
            }
            Ok(Err(error)) => {
                self.forget(&link).await;
                return Err(PublishError::Unavailable(error.into()));
            }
            Ok(Ok(confirmation)) => confirmation,
        };
        if confirmation.is_nack() {
            return Err(PublishError::Nacked);
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(PublishError::Returned(returned.reply_text.to_string()));
        }
        Ok(started.elapsed())
    }

    /// Drops a failed link so the next call reconnects. Its connection is
    /// closed when the last handle on it goes: the publishes still waiting on
    /// it, and the depth reader's side channel until a read on it fails (so
    /// at most one old connection lingers).
    async fn forget(&self, failed: &Arc<Link>) {
        let mut guard = self.link.lock().await;
        if guard.as_ref().is_some_and(|current| Arc::ptr_eq(current, failed)) {
            *guard = None;
            self.set_status(Err("rabbitmq: connection lost".into()));
        }
    }
}
