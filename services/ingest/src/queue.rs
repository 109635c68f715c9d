//! The Redis list every accepted event goes to. Requests hand their events to
//! one batcher, which writes everything that arrived while the previous write
//! was in flight with a single script call (a group commit): one round trip
//! per request when traffic is light, ever larger batches when it is not,
//! and no timer adding latency. The script checks the high-water mark and
//! LPUSHes the whole batch; each request is answered once Redis replied.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use crate::error::IngestError;

/// Refuses when the list already holds `high_water` entries, else pushes all.
/// With an idempotency key (ARGV[2] = '1'), a push whose key was stored in
/// the last ARGV[3] seconds with the same body hash (ARGV[4]) is skipped: a
/// client retrying after a lost reply (Redis stored the events, the 2xx never
/// arrived) is not counted twice; the same key with another body is a
/// conflict, never a silent drop. The events go in runs of 1,000: Lua's
/// `unpack` fails past about 8,000 values, and one write must never fail for
/// how many events share it. A write also leaves a receipt (KEYS[3], kept a
/// minute), so that a write whose reply did not come in time can be asked
/// after: was it stored? KEYS: the queue, the idempotency key, the receipt.
/// Returns 0 when stored, -1 when refused, -2 when already stored, -3 on a
/// conflict.
const PUSH_SCRIPT: &str = r"
if ARGV[2] == '1' then
  local stored = redis.call('GET', KEYS[2])
  if stored == ARGV[4] then
    return -2
  elseif stored then
    return -3
  end
end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return -1
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
end
for i = 5, #ARGV, 1000 do
  redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('SET', KEYS[3], '1', 'EX', 60)
return 0
";

/// How long an idempotency key is remembered: events older than this are
/// refused anyway, so a later retry could not be accepted twice either.
const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 3600;

/// A request a client may retry: its `Idempotency-Key` within the caller's
/// scope, and a hash of its body.
pub struct Idempotency {
    key: String,
    body_hash: String,
}

impl Idempotency {
    /// `scope` says who the caller is (its ingest key, or the sites it sends
    /// for), so two callers that number their requests alike never collide.
    pub fn new(header_key: &str, scope: &[&str], body: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        for part in scope {
            hasher.update(part.as_bytes());
            hasher.update(b"\0");
        }
        let scope = hasher.finalize().to_hex();
        Self { key: format!("{}:{header_key}", &scope[..32]), body_hash: blake3::hash(body).to_hex().to_string() }
    }
}

/// What became of a push.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    Stored,
    /// The same idempotency key was stored before; nothing was added.
    AlreadyStored,
}

/// One request's events waiting for the batcher.
struct Pending {
    events: Vec<Vec<u8>>,
    reply: oneshot::Sender<Result<(), IngestError>>,
    /// Not written after this: the request is answered 503 instead.
    deadline: std::time::Instant,
}

#[derive(Clone)]
pub struct EventQueue {
    writer: Writer,
    batches: mpsc::Sender<Pending>,
    timeout: Duration,
    batch_sizes: prometheus::Histogram,
    pending: PendingBytes,
}

/// Requests waiting for the batcher before new ones are refused with 503:
/// a bound on memory when Redis is slower than the traffic (with
/// [`PendingBytes`], which bounds the same by size).
const PENDING_REQUESTS: usize = 10_000;

/// Bytes of events accepted by handlers and not yet written (or refused):
/// past the limit new requests get 503, so a flood of large events cannot
/// hold more memory than that while Redis is slow.
#[derive(Clone)]
struct PendingBytes {
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
}

/// Releases its bytes from [`PendingBytes`] when the push ends, however it ends.
struct Held {
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    bytes: usize,
}

impl PendingBytes {
    fn take(&self, bytes: usize) -> Option<Held> {
        use std::sync::atomic::Ordering;
        let before = self.held.fetch_add(bytes, Ordering::AcqRel);
        let held = Held { held: self.held.clone(), bytes };
        // One request alone may exceed the limit (it fits the body limit), but
        // only when nothing else is pending.
        (before == 0 || before + bytes <= self.limit).then_some(held)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

impl EventQueue {
    /// Starts the batcher task; it ends when the last queue handle is dropped.
    pub fn new(
        redis: ConnectionManager,
        settings: &analytics_config::RedisSettings,
        high_water: u64,
        timeout: Duration,
        max_batch_events: usize,
        max_pending_bytes: usize,
        batch_sizes: prometheus::Histogram,
    ) -> Self {
        let writer = Writer {
            redis,
            key: settings.queue_key(),
            idempotency_prefix: settings.key("idempotency:"),
            receipt_prefix: settings.key("receipt:"),
            high_water,
            timeout,
            script: redis::Script::new(PUSH_SCRIPT),
        };
        let (batches, receiver) = mpsc::channel(PENDING_REQUESTS);
        tokio::spawn(run_batcher(writer.clone(), receiver, max_batch_events.max(1), batch_sizes.clone()));
        let pending = PendingBytes { held: Default::default(), limit: max_pending_bytes };
        Self { writer, batches, timeout, batch_sizes, pending }
    }

    /// Returns only after Redis confirmed the write: the caller may then answer
    /// 2xx. Within twice the Redis timeout whatever happens (the write in
    /// flight when it arrived, then its own), so a request never hangs.
    pub async fn push(&self, events: Vec<Vec<u8>>, idempotency: Option<&Idempotency>) -> Result<Pushed, IngestError> {
        if events.is_empty() {
            return Ok(Pushed::Stored);
        }
        let _held = self.pending.take(events.iter().map(Vec::len).sum()).ok_or(IngestError::Unavailable)?;
        if idempotency.is_some() {
            // The key and its events must be written together: a batch of its own.
            self.batch_sizes.observe(events.len() as f64);
            return self.writer.write(&events, idempotency).await;
        }
        let (reply, answer) = oneshot::channel();
        let deadline = std::time::Instant::now() + self.timeout * 2;
        self.batches.try_send(Pending { events, reply, deadline }).map_err(|_| IngestError::Unavailable)?;
        // No deadline of our own: once the batcher has taken these events into
        // a write, the answer must say what became of that write (a 503 for
        // events that were stored would be counted twice when retried). The
        // batcher answers within the deadline plus one write.
        match answer.await {
            Ok(result) => result.map(|()| Pushed::Stored),
            Err(_) => Err(IngestError::Unavailable), // the batcher is gone
        }
    }
}

/// Takes the first waiting request, everything queued behind it up to
/// `max_events`, writes them in one call and answers each request.
async fn run_batcher(
    writer: Writer,
    mut receiver: mpsc::Receiver<Pending>,
    max_events: usize,
    batch_sizes: prometheus::Histogram,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].events.len();
        while count < max_events {
            match receiver.try_recv() {
                Ok(next) => {
                    count += next.events.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        // A request that waited past its deadline is answered 503 without
        // being written, and one whose client left is not written at all.
        let now = std::time::Instant::now();
        let (ready, late): (Vec<Pending>, Vec<Pending>) =
            batch.into_iter().filter(|p| !p.reply.is_closed()).partition(|p| p.deadline > now);
        for pending in late {
            let _ = pending.reply.send(Err(IngestError::Unavailable));
        }
        let batch = ready;
        if batch.is_empty() {
            continue;
        }
        let events: Vec<&[u8]> = batch.iter().flat_map(|p| p.events.iter().map(Vec::as_slice)).collect();
        batch_sizes.observe(events.len() as f64);
        let result = writer.write(&events, None).await.map(|_| ());
        for pending in batch {
            let _ = pending.reply.send(result.clone());
        }
    }
}

/// One script call: the high-water check and the LPUSH of a batch.
#[derive(Clone)]
struct Writer {
    redis: ConnectionManager,
    key: String,
    idempotency_prefix: String,
    /// Receipts of writes (see [`PUSH_SCRIPT`]).
    receipt_prefix: String,
    high_water: u64,
    timeout: Duration,
    script: redis::Script,
}

impl Writer {
    async fn write(
        &self,
        events: &[impl AsRef<[u8]>],
        idempotency: Option<&Idempotency>,
    ) -> Result<Pushed, IngestError> {
        let receipt = format!("{}{:016x}", self.receipt_prefix, rand::random::<u64>());
        let mut invocation = self.script.key(&self.key);
        invocation
            .key(format!("{}{}", self.idempotency_prefix, idempotency.map_or("", |i| i.key.as_str())))
            .key(&receipt)
            .arg(self.high_water)
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(IDEMPOTENCY_TTL_SECONDS)
            .arg(idempotency.map_or("", |i| i.body_hash.as_str()));
        for event in events {
            invocation.arg(event.as_ref());
        }
        let mut connection = self.redis.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(length)) if length >= 0 => Ok(Pushed::Stored),
            Ok(Ok(-2)) => Ok(Pushed::AlreadyStored),
            Ok(Ok(-3)) => Err(IngestError::IdempotencyConflict),
            Ok(Ok(_)) => Err(IngestError::Backpressure),
            // Refused before anything was sent: surely not stored.
            Ok(Err(error)) if error.is_connection_refusal() => {
                tracing::warn!(%error, "redis push failed");
                Err(IngestError::Unavailable)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "redis push failed");
                self.stored_after_all(&receipt).await
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "redis push timed out");
                self.stored_after_all(&receipt).await
            }
        }
    }

    /// Whether a write whose reply did not come in time was stored after all:
    /// its receipt says so. The question goes over the same connection, behind
    /// the write, so Redis answers it after having run the script (or never
    /// having received it). When even this gets no answer in time, the
    /// events may or may not be stored: 503, which a client with an
    /// Idempotency-Key can retry safely.
    async fn stored_after_all(&self, receipt: &str) -> Result<Pushed, IngestError> {
        let mut connection = self.redis.clone();
        let mut exists = redis::cmd("EXISTS");
        exists.arg(receipt);
        // Longer than the write's own deadline: a Redis stalled past it (a
        // slow script, a fork) answers both once it runs again.
        match tokio::time::timeout(self.timeout * 5, exists.query_async::<i64>(&mut connection)).await {
            Ok(Ok(1)) => {
                tracing::info!("the write was stored after all: its receipt is there");
                Ok(Pushed::Stored)
            }
            _ => Err(IngestError::Unavailable),
        }
    }
}
