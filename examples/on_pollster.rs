//! taskgroup on pollster, the smallest executor: `block_on` runs three lookups, all succeeding,
//! then one failing, then a group cut short by a deadline.
//!
//! Run: `cargo run --example on_pollster`

use std::{thread, time::Duration};

use futures::channel::oneshot;
use pollster::block_on;

/// pollster has no timer, so a std thread sleeps, then completes a oneshot channel: the send
/// wakes whichever task polls the receiver. Any wake source works the same way.
async fn sleep(ms: u64) {
    let (wake, woken) = oneshot::channel::<()>();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(ms));
        let _ = wake.send(()); // the receiver may be gone: its child was dropped
    });
    let _ = woken.await;
}

/// Finds `name` in `users` after `ms` milliseconds, the way a query would after a round trip.
async fn lookup(users: &[&str], name: &str, ms: u64) -> Result<usize, String> {
    sleep(ms).await;
    let found = users.iter().position(|user| *user == name);
    found.ok_or(format!("no user `{name}`"))
}

fn main() {
    // The children borrow `users`, a local: no `'static` bound, no `Arc`, nothing spawned.
    let users = vec!["ada", "brian", "grace"];

    // The outputs come back in input order, whatever order the children finish in.
    let children = [
        lookup(&users, "grace", 30),
        lookup(&users, "ada", 10),
        lookup(&users, "brian", 20),
    ];
    let ids = block_on(taskgroup::try_join(children)).expect("every user exists");
    println!("all found: {ids:?}");
    assert_eq!(ids, [2, 0, 1]);

    // `nobody` fails after 10 ms; its siblings would sleep 10 s, but are dropped at once.
    let children = [
        lookup(&users, "ada", 10_000),
        lookup(&users, "nobody", 10),
        lookup(&users, "grace", 10_000),
    ];
    let errors = block_on(taskgroup::try_join(children)).expect_err("`nobody` does not exist");
    println!("one fails: {errors}");
    assert_eq!(errors.first(), (1, &"no user `nobody`".to_string()));
    assert_eq!(errors.cancelled(), 2);

    // The deadline ends the group at 100 ms and drops the child still asleep.
    let group = taskgroup::try_join((lookup(&users, "ada", 1), lookup(&users, "brian", 10_000)));
    let late = block_on(group.until(sleep(100))).expect_err("the deadline comes first");
    println!("deadline: {late}");
    assert_eq!(late.unfinished(), [1]);
}
