//! The orphan problem, seen from a real server: a failed `try_join` leaves no query running,
//! while a fail-fast join over tokio `JoinHandle`s leaves the slow ones behind.
//!
//! The server (shared with `examples/orphans.rs`) counts its open connections; the tests wait on
//! that count, for a few seconds at most, and never sleep.

#[path = "../examples/support/orphan_server.rs"]
mod server;

use server::{query, spawn_and_try_join_all, Server, BATCH};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_join_closes_sibling_connections_and_names_the_failed_query() {
    let server = Server::start(BATCH.len()).await.unwrap();
    let addr = server.addr();

    let errors = taskgroup::try_join(BATCH.map(|(name, kind)| query(addr, name, kind)))
        .await
        .expect_err("`audit` fails");

    // The server answers `audit` only once every query has arrived: both siblings were in flight.
    assert_eq!(server.counts().arrived, BATCH.len());
    assert_eq!(errors.len(), 1);
    let (index, error) = errors.first();
    assert_eq!((index, error.query), (1, "audit"));
    assert_eq!(errors.cancelled(), 2);
    assert!(errors.to_string().contains("child 1: query `audit` failed"));

    // The siblings' sockets were dropped before the error returned; the server sees them close.
    server.wait_until(|c| c.open == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_queries_outlive_a_failed_join_over_their_handles() {
    let server = Server::start(BATCH.len()).await.unwrap();

    let (joined, tasks) = spawn_and_try_join_all(server.addr()).await;

    assert_eq!(joined.expect_err("`audit` fails").query, "audit");
    assert_eq!(server.counts().arrived, BATCH.len());
    // Only the failed query's connection closes: the slow ones wait a minute for their reply.
    let seen = server.wait_until(|c| c.open < BATCH.len()).await;
    assert_eq!(seen.open, 2);
    let running = tasks.iter().filter(|task| !task.is_finished()).count();
    assert_eq!(running, 2, "the slow queries still run, orphaned");

    for task in &tasks {
        task.abort();
    }
    server.wait_until(|c| c.open == 0).await;
}
