//! taskgroup on embassy-executor's std platform: three lookups that sleep on embassy-time's
//! timer, all succeeding, then one failing, then a group cut short by a deadline.
//!
//! embassy-time's timers are polled here with the group's per-child wakers, not an embassy
//! task's: that needs one of embassy-time's `generic-queue-N` features (we turn on
//! `generic-queue-64`). With the default queue the timer panics on a foreign waker.
//!
//! Run: `cargo run --example on_embassy_std`

use embassy_executor::Spawner;
use embassy_time::{Duration, Timer};

/// Finds `name` in `users` after `ms` milliseconds, the way a query would after a round trip.
async fn lookup(users: &[&str], name: &str, ms: u64) -> Result<usize, String> {
    Timer::after(Duration::from_millis(ms)).await;
    let found = users.iter().position(|user| *user == name);
    found.ok_or(format!("no user `{name}`"))
}

// A task's arguments must be `'static` (embassy keeps tasks in static slots), but the children
// inside a task may borrow its locals.
#[embassy_executor::main]
async fn main(_spawner: Spawner) {
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

    // `nobody` fails after 10 ms; its siblings would sleep 10 s, but are dropped at once.
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

    // The deadline ends the group at 100 ms and drops the child still asleep.
    let late = taskgroup::try_join((lookup(&users, "ada", 1), lookup(&users, "brian", 10_000)))
        .until(Timer::after(Duration::from_millis(100)))
        .await
        .expect_err("the deadline comes first");
    println!("deadline: {late}");
    assert_eq!(late.unfinished(), [1]);

    // `Executor::run` never returns, so the task ends the process once it is done. A failed
    // assertion above panics out of the executor and exits with an error instead.
    std::process::exit(0);
}
