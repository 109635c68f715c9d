//! The durable stores every service talks to: Postgres pools, the schema
//! migrations, Redis connections, and the registry of sites.

pub mod amqp;
mod directory;
pub mod funnels;
pub mod goals;
mod migrations;
mod postgres;
mod redis_conn;
pub mod sites;
pub mod tls;

pub use migrations::migrate;
pub use postgres::{
    PgPool, connect, connect_raw, idle_connection, pg_pool, pg_probe, postgres_config, snapshot, snapshot_beside,
};
pub use redis_conn::{redis_manager, redis_probe};
