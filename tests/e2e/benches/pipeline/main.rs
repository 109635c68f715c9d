//! `cargo bench -p analytics-e2e --bench pipeline -- <what>`: measures one
//! stage against a ceiling taken in the same run, and prints a Markdown
//! section for docs/BENCHMARKS.md. `deploy/bench/run.sh` runs them all.

mod aggregator;
mod cpu;
mod forwarder;
mod import;
mod ingest;
mod overload;
mod query;
mod sample;
mod schedule;
mod segments;
mod steady;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let what: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let all = what.is_empty();
    if all || what.iter().any(|w| w == "ingest") {
        ingest::run().await;
    }
    if all || what.iter().any(|w| w == "forwarder") {
        forwarder::run().await;
    }
    if all || what.iter().any(|w| w == "aggregator") {
        aggregator::run().await;
    }
    if all || what.iter().any(|w| w == "query") {
        query::run().await;
    }
    if all || what.iter().any(|w| w == "import") {
        import::run().await;
    }
    if all || what.iter().any(|w| w == "segments") {
        segments::run().await;
    }
    if all || what.iter().any(|w| w == "steady") {
        steady::run().await;
    }
    if all || what.iter().any(|w| w == "overload") {
        overload::run().await;
    }
}
