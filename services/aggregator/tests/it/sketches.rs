//! Sketches built by the aggregator are the extension's own, byte for byte,
//! in each of its forms (explicit, sparse, full):
//! the rollups union them with sketches Postgres built from ids (today's
//! rows, a backfill's runs, rows of many visitors), so a visitor must hash
//! and land the same way whichever side added it.

use analytics_aggregator::sketch::{EXPLICIT_MAX, hash_bigint, sketch, sketch_of_runs};
use analytics_testkit::Namespace;

/// Ids whose hashes are negative and positive, including the extremes.
fn ids(n: usize, salt: i64) -> Vec<i64> {
    let mut ids: Vec<i64> = vec![0, -1, i64::MIN, i64::MAX];
    ids.extend((0..n as i64).map(|i| i.wrapping_mul(0x1e37_79b9_7f4a_7c15).wrapping_add(salt)));
    ids.truncate(n);
    ids
}

#[tokio::test]
async fn sketches_are_those_postgres_builds() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    let every: Vec<i64> = ids(EXPLICIT_MAX, 17);
    let hashed: Vec<i64> = db
        .query_one(
            "SELECT array_agg(hll_hash_bigint(x)::text::int8 ORDER BY o) FROM unnest($1::int8[]) WITH ORDINALITY AS u(x, o)",
            &[&every],
        )
        .await
        .expect("hashes")
        .get(0);
    assert_eq!(hashed, every.iter().map(|id| hash_bigint(*id)).collect::<Vec<_>>());

    // Sizes of each form, and the last sparse and first full sizes of one
    // sequence of ids (where the form changes with the registers filled).
    let sequence = ids(20_000, 5);
    let form = |n: usize| sketch(&sequence[..n]).map(|s| s[0]);
    let first_full = (EXPLICIT_MAX..sequence.len()).find(|n| form(*n) == Some(0x14)).expect("a full sketch");
    for n in [1, 2, 3, 50, EXPLICIT_MAX, EXPLICIT_MAX + 1, 300, first_full - 1, first_full, 2_000, 20_000] {
        let mut some = sequence[..n].to_vec();
        some.extend(some.clone()); // a visitor twice counts once
        let built = sketch(&some).expect("ids");
        let (postgres, cardinality, expected): (Vec<u8>, f64, f64) = db
            .query_one(
                "SELECT decode(substr(hll_add_agg(hll_hash_bigint(x))::text, 3), 'hex'), hll_cardinality($2::bytea::hll),
                        hll_cardinality(hll_add_agg(hll_hash_bigint(x)))
                 FROM unnest($1::int8[]) AS x",
                &[&some, &built],
            )
            .await
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .expect("Postgres' sketch");
        assert_eq!(built, postgres, "{n} ids");
        assert_eq!(cardinality, expected, "{n} ids");
        // Unioned with a sketch Postgres built past the explicit size.
        let more = ids(3 * EXPLICIT_MAX, 99);
        let (union, whole): (f64, f64) = db
            .query_one(
                "SELECT hll_cardinality(hll_union($1::bytea::hll, (SELECT hll_add_agg(hll_hash_bigint(x)) FROM unnest($2::int8[]) AS x))),
                        (SELECT hll_cardinality(hll_add_agg(hll_hash_bigint(x))) FROM unnest($3::int8[] || $2::int8[]) AS x)",
                &[&built, &more, &some],
            )
            .await
            .map(|row| (row.get(0), row.get(1)))
            .expect("unions");
        assert_eq!(union, whole, "{n} ids and {} more", more.len());
    }
    // Runs of ids (an import of daily figures), overlapping, with single ids.
    let runs = [(1_000, 40), (1_020, 30), (-5, 10)];
    let built = sketch_of_runs(&[3, 7], &runs).expect("few enough");
    let postgres: Vec<u8> = db
        .query_one(
            "SELECT decode(substr(hll_add_agg(hll_hash_bigint(x))::text, 3), 'hex')
             FROM (SELECT unnest(ARRAY[3, 7]::int8[]) AS x
                   UNION ALL SELECT generate_series(first, first + count - 1)
                   FROM unnest($1::int8[], $2::int8[]) AS r(first, count)) AS ids",
            &[&runs.map(|r| r.0).to_vec(), &runs.map(|r| r.1).to_vec()],
        )
        .await
        .expect("Postgres' sketch")
        .get(0);
    assert_eq!(built, postgres, "runs");
}
