//! Three "queries" run together; one fails. The group drops the two still running before the
//! error reaches us, and reports every error that happened in that same moment.
//!
//! Run: `cargo run --example quickstart`

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use taskgroup::TaskGroup;

/// A query that needs `steps` round trips, then answers or fails.
async fn query(id: u32, steps: u32, fails: bool) -> Result<String, QueryError> {
    let mut guard = Unfinished { id, done: false };
    for _ in 0..steps {
        YieldNow(false).await; // stands in for waiting on the network
    }
    guard.done = true;
    if fails {
        Err(QueryError(id))
    } else {
        Ok(format!("rows of query {id}"))
    }
}

#[derive(Debug)]
struct QueryError(u32);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query {} lost its connection", self.0)
    }
}

impl std::error::Error for QueryError {}

/// Prints when a query is dropped before it finished: a cancelled sibling.
struct Unfinished {
    id: u32,
    done: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.done {
            println!("  query {} cancelled while still running", self.id);
        }
    }
}

/// Returns `Pending` once after waking itself.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn main() {
    futures::executor::block_on(async {
        println!("all succeed (a tuple of different types, one error type):");
        let (a, b) = taskgroup::try_join((query(1, 2, false), async { Ok(42) }))
            .await
            .expect("both succeed");
        println!("  {a}, {b}");

        println!("one fails: its siblings are dropped before the error returns:");
        match taskgroup::try_join([query(1, 5, false), query(2, 1, true), query(3, 9, false)]).await
        {
            Ok(rows) => println!("  {rows:?}"),
            Err(errors) => println!("  {errors}"),
        }

        println!("two fail in the same moment: both are reported:");
        let mut group = TaskGroup::new();
        for (id, fails) in [(1, true), (2, false), (3, true)] {
            group.push(query(id, 1, fails));
        }
        if let Err(errors) = group.await {
            println!("  {errors}");
            for (index, error) in &errors {
                println!("  child {index} -> {error}");
            }
        }
    });
}
