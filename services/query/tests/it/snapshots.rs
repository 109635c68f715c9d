//! The snapshot an answer's statements read, and a second connection in it.

use analytics_testkit::Namespace;

async fn count(client: &tokio_postgres::Client) -> i64 {
    client.query_one("SELECT count(*) FROM seen", &[]).await.expect("count").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beside_reads_the_answers_snapshot() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    db.batch_execute("CREATE TABLE seen (x int); INSERT INTO seen VALUES (1)").await.expect("a table");
    let pool = analytics_store::pg_pool(&namespace.postgres).expect("pool");
    let mut main = pool.get().await.expect("a connection");
    let snapshot = analytics_store::snapshot(&mut main).await.expect("a snapshot");
    assert_eq!(count(snapshot.client()).await, 1);
    db.execute("INSERT INTO seen VALUES (2)", &[]).await.expect("a commit after the first read");
    assert_eq!(count(snapshot.client()).await, 1, "one snapshot for the whole answer");
    let mut spare = analytics_store::idle_connection(&pool, true).await;
    assert!(spare.is_some(), "the pool has room");
    let beside = analytics_store::snapshot_beside(spare.as_mut(), snapshot.client()).await.expect("joined");
    let beside = beside.expect("a connection beside");
    assert_eq!(count(beside.client()).await, 1, "the answer's snapshot, not the commit after it");
    assert_eq!(count(&db).await, 2);
    assert!(analytics_store::snapshot_beside(None, snapshot.client()).await.expect("no spare").is_none());
}
