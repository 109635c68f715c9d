//! A TCP relay in front of a real store, for tests of what the network does
//! to a service: until told to answer, it accepts connections and never says
//! a word on them (a broker that is booting or wedged, a half-open path);
//! the connections it accepts afterwards are relayed both ways.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct Relay {
    pub port: u16,
    state: Arc<State>,
    accepting: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    answering: AtomicBool,
    /// When each connection held silent was accepted.
    silenced: Mutex<Vec<Instant>>,
}

impl Relay {
    /// Listens on a free local port, silent until [`Self::answer`]; then
    /// relays new connections to `target` (`host:port`).
    pub async fn silent(target: &str) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let state = Arc::new(State::default());
        let (target, shared) = (target.to_owned(), state.clone());
        let accepting = tokio::spawn(async move {
            // Dropped, and every connection with it, when the relay is.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if !shared.answering.load(Ordering::SeqCst) {
                    shared.silenced.lock().expect("silenced lock").push(Instant::now());
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
        Self { port, state, accepting }
    }

    /// Relays the connections accepted from now on.
    pub fn answer(&self) {
        self.state.answering.store(true, Ordering::SeqCst);
    }

    /// When each connection held silent was accepted.
    pub fn silenced(&self) -> Vec<Instant> {
        self.state.silenced.lock().expect("silenced lock").clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
