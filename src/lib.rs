//! Structured concurrency for futures: run children together, and when one fails, drop the
//! others at once and report every error that happened at that moment.
//!
//! # Why
//!
//! Joining fallible futures in Rust today leaves two gaps that Python closed in 3.11 with
//! `asyncio.TaskGroup` and `ExceptionGroup`:
//!
//! * **Orphans.** Spawning children (`tokio::spawn`) and awaiting their `JoinHandle`s one by one
//!   returns the first error while the other children keep running, holding connections and
//!   doing work nobody will read. This was `asyncio.gather()`'s flaw.
//! * **The first error only.** `try_join_all`, `try_join!`, `FuturesUnordered` and
//!   futures-concurrency's `TryJoin` all report one error. When three queries fail together
//!   because a database went away, you see one and guess the rest.
//! * **Fail-fast that isn't.** Above 30 futures, `futures::future::try_join_all` switches to an
//!   ordered stream that holds a later child's error back until every earlier child has finished
//!   (futures-rs issue #2866): a group can sit on a failure for as long as its slowest child runs.
//!
//! `taskgroup` is one future combinator that closes these gaps on any executor, firmware included:
//!
//! ```
//! # futures::executor::block_on(async {
//! # #[derive(Debug)] struct Row(u32);
//! async fn query(id: u32) -> Result<Row, String> {
//!     if id == 2 { Err(format!("query {id}: connection reset")) } else { Ok(Row(id)) }
//! }
//!
//! match taskgroup::try_join([query(1), query(2), query(3)]).await {
//!     Ok(rows) => println!("{rows:?}"),
//!     Err(errors) => {
//!         // Every sibling still running was dropped before we got here.
//!         assert_eq!(errors.first(), (1, &"query 2: connection reset".to_string()));
//!         eprintln!("{errors}");
//!     }
//! }
//! # });
//! ```
//!
//! # What it does
//!
//! [`try_join`] takes a tuple, an array, a `Vec` or a [`TaskGroup`] of futures returning
//! `Result<T, E>` and returns a [`TaskGroupFuture`]. Awaiting it yields every output in input
//! order, or an [`ErrorGroup<E>`] holding each error with the index of the child that raised it.
//! [`join`] is the same engine for children that cannot fail (the `join_all` use case).
//!
//! The children are polled *in place* by whoever polls the group, like `join_all` and unlike
//! `spawn`: no executor API, no `Send` or `'static` bound, children may borrow locals. Each child
//! gets its own waker, so a poll of the group polls only the children that were woken.
//!
//! # Choosing a mode
//!
//! Every mode runs on the same engine, with the same precise wakeups, on every shape (tuples,
//! arrays, `Vec`, [`TaskGroup`], and `Vec`-like [`lazy`] iterators with a [`limit`](TaskGroupFuture::limit)).
//! What differs is what a child's output means to the group:
//!
//! | you want | use | output |
//! |---|---|---|
//! | all results; any failure makes the rest pointless | [`try_join`] | every `T`, or an [`ErrorGroup`] |
//! | every child to finish, failures included | [`settle`] | every child's `Result` |
//! | one success; the first one is enough | [`first_ok`] | `(index, T)`, or every error |
//! | whatever finishes first, success or not | [`race`] | `(index, output)` |
//! | outputs of children that cannot fail | [`join`] | every output |
//!
//! Fail fast, when a failure makes the siblings' work useless (a page needs all its queries):
//!
//! ```
//! # futures::executor::block_on(async {
//! async fn query(id: u32) -> Result<u32, String> {
//!     if id == 3 { Err("query 3: timed out".into()) } else { Ok(id) }
//! }
//! let failed = taskgroup::try_join([query(1), query(2), query(3)]).await.unwrap_err();
//! assert_eq!(failed.first(), (2, &"query 3: timed out".to_string()));
//! # });
//! ```
//!
//! Settle, when every child's work counts on its own (send every notification, report which
//! ones failed):
//!
//! ```
//! # futures::executor::block_on(async {
//! async fn notify(user: u32) -> Result<(), String> {
//!     if user == 2 { Err(format!("user {user}: mailbox full")) } else { Ok(()) }
//! }
//! let sent = taskgroup::settle([notify(1), notify(2), notify(3)]).await;
//! assert_eq!(sent.iter().filter(|r| r.is_ok()).count(), 2);
//! # });
//! ```
//!
//! First success, for redundant sources (ask every mirror, keep the first answer):
//!
//! ```
//! # futures::executor::block_on(async {
//! async fn mirror(id: u32) -> Result<&'static str, String> {
//!     if id == 0 { Err("mirror 0 is down".into()) } else { Ok("the file") }
//! }
//! assert_eq!(taskgroup::first_ok([mirror(0), mirror(1)]).await, Ok((1, "the file")));
//! # });
//! ```
//!
//! Race, when the first to finish decides, even if it failed (a request against a shutdown
//! signal):
//!
//! ```
//! # futures::executor::block_on(async {
//! use futures::future::{pending, ready, Either};
//!
//! let request = Either::Left(pending::<Result<&str, &str>>()); // still waiting
//! let shutdown = Either::Right(ready(Err("shutting down")));
//! assert_eq!(taskgroup::race([request, shutdown]).await, (1, Err("shutting down")));
//! # });
//! ```
//!
//! Any of them can be bounded by a deadline ([`until`](TaskGroupFuture::until), with any future:
//! a timer of your executor, a channel) or ended by a [`CancelHandle`]; the output then tells the
//! interruption ([`Interrupted`]) apart from a child's error. A [`limit`](TaskGroupFuture::limit)
//! runs at most `n` children at once, and [`scope`] lets the body and the children add children
//! while the group runs.
//!
//! ## The same ideas elsewhere
//!
//! | intent | Python (asyncio) | Kotlin (coroutines) | Java (`StructuredTaskScope`) | Go | `taskgroup` |
//! |---|---|---|---|---|---|
//! | fail fast, cancel siblings | `TaskGroup` | `coroutineScope` | `Joiner.awaitAllSuccessfulOrThrow()` (JDK 25; `ShutdownOnFailure` before) | `errgroup.WithContext` | [`try_join`] |
//! | every result, no cancelling | `gather(return_exceptions=True)` | `supervisorScope` | `Joiner.awaitAll()` | `sync.WaitGroup` | [`settle`] |
//! | first success | — (hand-written) | `select` over `async` (hand-written) | `Joiner.anySuccessfulResultOrThrow()` (`ShutdownOnSuccess` before) | — (hand-written) | [`first_ok`] |
//! | first to finish | `wait(return_when=FIRST_COMPLETED)` | `select` | — (a custom `Joiner`) | `select` | [`race`] |
//! | at most `n` at once | `Semaphore` | `Semaphore`, `limitedParallelism` | `Semaphore` | `errgroup.SetLimit` | [`limit`](TaskGroupFuture::limit) |
//! | deadline | `asyncio.timeout` | `withTimeout` | `Config.withTimeout` | `context.WithTimeout` | [`until`](TaskGroupFuture::until) |
//! | cancel from anywhere | `TaskGroup.cancel()` (3.15) | `Job.cancel()` | `scope.close()` / interrupt | `context.WithCancel` | [`CancelHandle`] |
//! | add children while running | `tg.create_task` | `launch` in the scope | `scope.fork` | `g.Go` | [`scope`] + [`Spawner::push`] |
//!
//! # The contract
//!
//! These are the promises the tests check, one test per promise (`tests/contract.rs`).
//!
//! 1. **In place.** Children are polled by whoever polls the group: nothing is spawned, no
//!    executor API is used, no `Send` or `'static` bound applies. The group is `Send` when its
//!    children, outputs and errors are.
//! 2. **Input order.** When every child succeeds, the outputs come back in input order.
//! 3. **Fail fast with every concurrent error.** When a poll of the group sees a child return
//!    `Err`, it finishes that sweep over the children that were woken before the sweep began
//!    (they failed "at the same moment"), collecting their errors too. Then it drops every
//!    unfinished child in place, drops the outputs already produced, and returns the
//!    [`ErrorGroup`], errors ordered by child index, [`cancelled`](ErrorGroup::cancelled)
//!    counting the dropped siblings. This holds at every size.
//!    [`stop_on_first_error`](TaskGroupFuture::stop_on_first_error) stops at the very first error
//!    instead, with no further polls.
//! 4. **Precise wakeups.** Every child has its own waker. The first poll polls every child;
//!    every later poll polls only the children woken since their last poll, so its work is
//!    proportional to the woken children, not to the size of the group. A sweep polls the
//!    children woken before it began; a child woken by a sibling (or another thread) during a
//!    poll, and not yet polled in that poll, is polled in a further sweep of the same poll, so a
//!    chain of children waking each other does not cost a poll of the group per link.
//! 5. **Cooperative budget.** A child is polled at most once per poll of the group. A child that
//!    wakes itself while being polled, or is woken again after the sweep that took it began (even
//!    before its turn in it), is polled again on the next poll: its wake has woken the group's
//!    own waker, and the group returns `Pending`. The group never spins and never starves the
//!    executor.
//! 6. **Wakers that can't hurt.** Child wakers are `Send + Sync`, may be cloned, woken from any
//!    thread at any time, and may outlive the group: waking one whose group is finished or
//!    dropped does nothing.
//! 7. **Drop.** Dropping the group at any moment drops every child and every output exactly once.
//! 8. **Panics.** A child that panics unwinds through the group's `poll`; everything is still
//!    dropped exactly once afterwards. Polling a group after it completed panics with a clear
//!    message; the group implements [`FusedFuture`](futures_util::future::FusedFuture).
//! 9. **Empty.** An empty group completes on its first poll.
//! 10. **No allocation per child.** The wakers of all children share one allocation, made the
//!     first time a child clones its waker (or, in a group wider than one 64-bit word of
//!     children, when some of its children wake themselves while others wait for something
//!     else). A group whose children finish without waiting, or only wake themselves while
//!     being polled, allocates nothing for wakers. Beyond that allocation a group stores only
//!     its children and their outputs.
//!
//! # Shapes and features
//!
//! | input | output of `try_join` | needs |
//! |---|---|---|
//! | `(F0, .., Fk)`, up to 12, one error type | `Result<(T0, .., Tk), ErrorGroup<E>>` | nothing |
//! | `[F; N]` | `Result<[T; N], ErrorGroup<E>>` | nothing |
//! | `Vec<F>`, [`TaskGroup<F>`], [`lazy`]`(iter)` | `Result<Vec<T>, ErrorGroup<E>>` | `alloc` |
//!
//! The crate is `#![no_std]`. The `alloc` feature (on by default) adds `Vec`, [`TaskGroup`],
//! [`lazy`] iterators and [`limit`](TaskGroupFuture::limit), [`scope`], [`CancelHandle`], the
//! per-child wakers, and an [`ErrorGroup`] that keeps any number of errors (inline for one).
//! Every mode ([`try_join`], [`join`], [`settle`], [`first_ok`], [`race`]) and deadlines
//! ([`until`](TaskGroupFuture::until), with any future) work without it; to cancel a group on
//! firmware, give `until` a future that completes on your signal.
//!
//! Without `alloc`, tuples and arrays work with no global allocator at all, with two documented
//! differences, both because a waker that may outlive the group needs memory of its own:
//!
//! * children receive the group's own waker, and every poll of the group polls every unfinished
//!   child (the `join_all` strategy; still at most once per poll);
//! * an [`ErrorGroup`] keeps the first error of the failing sweep and counts the others in
//!   [`omitted`](ErrorGroup::omitted).
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

mod error;
mod group;
#[cfg(feature = "alloc")]
mod scope;
pub mod shape;
mod stop;
#[cfg(feature = "alloc")]
mod task_group;
#[cfg(feature = "alloc")]
mod wake;

pub use error::{ErrorGroup, FirstOkError, IntoIter, Iter};
#[cfg(feature = "alloc")]
pub use group::lazy;
pub use group::{first_ok, join, race, settle, try_join, TaskGroupFuture};
#[cfg(feature = "alloc")]
pub use scope::{scope, Rejected, Scope, Scoped, Spawner, SCOPE_BODY};
#[cfg(feature = "alloc")]
pub use stop::{CancelHandle, Cancellation};
pub use stop::{Deadline, Either, Group, Interrupted, Reason, Stop, Until};
#[cfg(feature = "alloc")]
pub use task_group::TaskGroup;
