//! The Postgres pool hands out the connection used last, so a worker busy on
//! one connection at a time keeps one client's buffers large, not all of them.

use analytics_testkit::Namespace;

async fn backend(client: &tokio_postgres::Client) -> i32 {
    client.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_returned_last_is_handed_out_next() {
    let namespace = Namespace::create().await;
    let pool = analytics_store::pg_pool(&namespace.postgres).expect("pool");
    let (first, second) = (pool.get().await.expect("one"), pool.get().await.expect("two"));
    let (first_pid, second_pid) = (backend(&first).await, backend(&second).await);
    assert_ne!(first_pid, second_pid);
    drop(first);
    drop(second);
    for _ in 0..3 {
        let next = pool.get().await.expect("a connection");
        assert_eq!(backend(&next).await, second_pid, "the one returned last");
    }
}
