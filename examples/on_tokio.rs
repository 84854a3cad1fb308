//! taskgroup on tokio: three lookups that sleep on tokio's own timer, all succeeding, then one
//! failing, then a group cut short by a deadline.
//!
//! Run: `cargo run --example on_tokio`

use std::time::Duration;

use tokio::time::sleep;

/// Finds `name` in `users` after `ms` milliseconds, the way a query would after a round trip.
async fn lookup(users: &[&str], name: &str, ms: u64) -> Result<usize, String> {
    sleep(Duration::from_millis(ms)).await;
    users
        .iter()
        .position(|user| *user == name)
        .ok_or(format!("no user `{name}`"))
}

#[tokio::main]
async fn main() {
    // The children borrow `users`, a local: no `'static` bound, no `Arc`, nothing spawned.
    let users = vec!["ada", "brian", "grace"];

    // The outputs come back in input order, whatever order the children finish in.
    let ids = taskgroup::try_join([
        lookup(&users, "grace", 30),
        lookup(&users, "ada", 10),
        lookup(&users, "brian", 20),
    ])
    .await
    .expect("every user exists");
    println!("all found: {ids:?}");
    assert_eq!(ids, [2, 0, 1]);

    // `nobody` fails after 10 ms. Its siblings would sleep 10 s: they are dropped before the
    // error returns, which is why this line does not take 10 s.
    let errors = taskgroup::try_join([
        lookup(&users, "ada", 10_000),
        lookup(&users, "nobody", 10),
        lookup(&users, "grace", 10_000),
    ])
    .await
    .expect_err("`nobody` does not exist");
    println!("one fails: {errors}");
    assert_eq!(errors.first(), (1, &"no user `nobody`".to_string()));
    assert_eq!(errors.cancelled(), 2);

    // A deadline on tokio's timer ends the group at 100 ms and drops the child still asleep.
    let late = taskgroup::try_join((lookup(&users, "ada", 1), lookup(&users, "brian", 10_000)))
        .until(sleep(Duration::from_millis(100)))
        .await
        .expect_err("the deadline comes first");
    println!("deadline: {late}");
    assert_eq!(late.unfinished(), [1]);
}
