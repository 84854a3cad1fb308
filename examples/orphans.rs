//! Orphans: what happens to the other queries when one fails.
//!
//! A local server answers three queries at once: `audit` fails at once, `orders` and `users`
//! would answer in a minute. The server counts its open connections, so we can ask it which
//! clients are still there after the error.
//!
//! - `taskgroup::try_join` drops the two slow queries before the error returns: their
//!   connections close, and the error group names the query that failed.
//! - `tokio::spawn`, then a fail-fast join over the `JoinHandle`s as old tutorials do it: the
//!   error returns just as fast, but dropping a `JoinHandle` does not stop its task. The two slow
//!   queries keep running and keep their connections, with nobody left to read their answers.
//!
//! Run: `cargo run --example orphans`

#[path = "support/orphan_server.rs"]
mod server;

use server::{query, spawn_and_try_join_all, Server, BATCH};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    println!("three queries; `audit` fails at once, `orders` and `users` would take a minute\n");

    let server = Server::start(BATCH.len()).await?;
    let addr = server.addr();
    let errors = taskgroup::try_join(BATCH.map(|(name, kind)| query(addr, name, kind)))
        .await
        .expect_err("`audit` fails");
    let seen = server.wait_until(|c| c.open == 0).await;
    println!("taskgroup::try_join: {errors}");
    println!("  server: {} open connections\n", seen.open);

    let server = Server::start(BATCH.len()).await?;
    let (joined, tasks) = spawn_and_try_join_all(server.addr()).await;
    let error = joined.expect_err("`audit` fails");
    // Only the failed query's own connection closes.
    let seen = server.wait_until(|c| c.open < BATCH.len()).await;
    let running = tasks.iter().filter(|task| !task.is_finished()).count();
    println!("tokio::spawn + JoinHandles: {error}");
    println!(
        "  server: still {} open connections; {running} tasks still running (orphans)\n",
        seen.open
    );

    for task in &tasks {
        task.abort();
    }
    let seen = server.wait_until(|c| c.open == 0).await;
    println!(
        "cleanup: aborted the orphans by hand; server: {} open connections",
        seen.open
    );
    Ok(())
}
