//! A TCP relay in front of a real store, for tests of what the network does
//! to a service: for a while after its start it accepts connections and never
//! says a word on them (a broker that is booting or wedged, a half-open path);
//! the connections it accepts later are relayed both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct Relay {
    pub port: u16,
    silenced: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on a free local port; holds silent the connections of the
    /// first `silent_for` and relays later ones to `target` (`host:port`).
    pub async fn start(target: &str, silent_for: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let silent_until = Instant::now() + silent_for;
        let silenced = Arc::new(AtomicUsize::new(0));
        let (target, counter) = (target.to_owned(), silenced.clone());
        let accepting = tokio::spawn(async move {
            // Dropped, and every connection with it, when the relay is.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if Instant::now() < silent_until {
                    counter.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(async move {
                        std::future::pending::<()>().await;
                        drop(client);
                    });
                    continue;
                }
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { port, silenced, accepting }
    }

    /// How many connections were held silent.
    pub fn silenced(&self) -> usize {
        self.silenced.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
