//! The engine: one poll loop for every shape, holding the group's rules.
//!
//! * **Who is polled.** The first poll polls every child (with lazy wakers: [`LazySweep`]), and
//!   so does the next one while every child still running woke itself (finished slots are
//!   skipped without a poll). After that, with `alloc`, a poll takes a snapshot of the children
//!   woken since their last poll ([`WakeSet`]) and polls exactly those, in index order; then, in
//!   further rounds of the same poll, the children woken by siblings or other threads meanwhile
//!   that it has not polled yet. Without `alloc` every child gets the group's own waker and every
//!   unfinished child is polled (the `join_all` strategy, documented as the fallback).
//! * **Budget.** A child is polled at most once per poll of the group (a per-child poll epoch
//!   in the wake set says whether it was). A child that wakes itself while polled, or is woken
//!   after the round that took it (after its poll, or before its turn in that round, which the
//!   turn serves too), lands in the next poll's snapshot; that wake has already woken the
//!   group's waker, so the group returns `Pending` and the executor decides when to come back.
//!   A round that polls nobody ends the poll.
//! * **Fail fast.** An `Err` marks the group failing; the sweep (round) still polls the rest of
//!   its snapshot (children woken at the same moment), collecting their errors, unless
//!   [`TaskGroupFuture::stop_on_first_error`] asked to stop at once. Then every unfinished child
//!   and every stored output is dropped in place, and the [`ErrorGroup`] is returned.
//!
//! # How the features plug in
//!
//! * **Modes** (join, settle, first success, race) are [`Interpret`](crate::shape::Interpret)
//!   markers: the slot asks the mode what a child's output means, a value to keep or an
//!   "error" that ends the group, and [`Finish`](crate::shape::Finish) turns the engine's result
//!   into the mode's output. First success and race swap the roles (a success, or any output,
//!   is what ends the group) and stop at the first one. Shapes and this loop do not change.
//! * **A concurrency limit** reuses slots ([`LimitShape`](crate::shape::LimitShape)): when a
//!   child finishes, [`Shape::refill`] moves its value aside and starts the next child in the
//!   same slot, which this loop polls at once, within a start budget per poll. Wake indices stay
//!   slot indices; errors and interruptions report input positions
//!   ([`Shape::input_index`]).
//! * **Tuples** hand their fields to the lazy sweeps one by one ([`Shape::visit_fields`]), so
//!   that polling a field needs no dispatch on its index; the rules are the same.
//! * **A deadline or a cancel handle** ([`Until`](crate::Until)) is checked at the top of a
//!   poll, before the sweep, and ends the group through the same drop-everything path as a
//!   failure.
//! * **Children added while running** ([`scope`](crate::scope)) form batches, each an ordinary
//!   group over a `Vec`; the scope polls the woken batches.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::future::FusedFuture;
use pin_project::pin_project;

use crate::error::ErrorGroup;
use crate::shape::{mode, Finish, IntoShape, Shape, Step};
#[cfg(feature = "alloc")]
use crate::shape::{Interpret, Lazy, LimitShape, VecShape};
use crate::stop::Unfinished;
#[cfg(feature = "alloc")]
use crate::wake::{LazyHome, LazySweep, WakeSet, BITS};

/// Runs children concurrently; fails fast with every concurrent error.
///
/// Takes a tuple of up to 12 futures (each `Output = Result<Ti, E>` with one `E`), an array
/// `[F; N]`, a `Vec<F>` (with `alloc`) or a [`TaskGroup`](crate::TaskGroup), and returns a
/// [`TaskGroupFuture`] whose output is `Result<outputs, ErrorGroup<E>>`, the outputs in input
/// order and of the input's shape. The children are polled in place by whoever polls the
/// returned future: nothing is spawned and they need not be `Send` or `'static`.
///
/// When a child fails, every unfinished sibling is dropped before the future returns, and the
/// error group holds the errors of every child that failed in that same poll.
///
/// ```
/// # futures::executor::block_on(async {
/// async fn user(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
/// async fn orders(id: u32) -> Result<Vec<u32>, String> { Ok(vec![id, id + 1]) }
///
/// // A tuple: different output types, one error type.
/// let (name, list) = taskgroup::try_join((user(7), orders(7))).await?;
/// assert_eq!(name, "user 7");
/// assert_eq!(list, [7, 8]);
///
/// // An array: no allocator needed.
/// let [a, b] = taskgroup::try_join([orders(1), orders(3)]).await?;
/// assert_eq!((a.len(), b[0]), (2, 3));
///
/// // A Vec: children may borrow locals.
/// let base = 10;
/// let doubled = taskgroup::try_join((0..3).map(|i| async move { Ok::<_, String>(base + 2 * i) }).collect::<Vec<_>>()).await?;
/// assert_eq!(doubled, [10, 12, 14]);
/// # Ok::<(), taskgroup::ErrorGroup<String>>(())
/// # }).unwrap();
/// ```
pub fn try_join<C>(children: C) -> TaskGroupFuture<C::Shape>
where
    C: IntoShape<mode::TryJoin>,
{
    TaskGroupFuture::new(children.into_shape())
}

/// Runs infallible children concurrently and returns all their outputs in input order.
///
/// The `join_all` use case on the same engine as [`try_join`]: precise wakeups, no spawning, no
/// allocation per child. Takes a tuple of up to 12 futures, an array, a `Vec` or a
/// [`TaskGroup`](crate::TaskGroup).
///
/// ```
/// # futures::executor::block_on(async {
/// let (a, b) = taskgroup::join((async { 1 }, async { "two" })).await;
/// assert_eq!((a, b), (1, "two"));
///
/// let squares = taskgroup::join((1..=4).map(|i| async move { i * i }).collect::<Vec<_>>()).await;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # });
/// ```
pub fn join<C>(children: C) -> TaskGroupFuture<C::Shape>
where
    C: IntoShape<mode::Join>,
{
    TaskGroupFuture::new(children.into_shape())
}

/// Runs every child to completion, whatever the others do, and returns each child's `Result` in
/// input order: the supervisor intent (Python's `gather(return_exceptions=True)`, Kotlin's
/// `supervisorScope`).
///
/// Nothing is dropped because of an error: a failing child does not disturb its siblings. Takes
/// a tuple (its children may have different `Ok` and error types), an array, a `Vec` or a
/// [`TaskGroup`](crate::TaskGroup); the output has the same shape, one `Result` per child.
///
/// ```
/// # futures::executor::block_on(async {
/// async fn fetch(id: u32) -> Result<String, String> {
///     if id % 2 == 0 { Ok(format!("page {id}")) } else { Err(format!("{id}: not found")) }
/// }
///
/// let results = taskgroup::settle([fetch(2), fetch(3), fetch(4)]).await;
/// assert_eq!(results, [Ok("page 2".into()), Err("3: not found".into()), Ok("page 4".into())]);
///
/// // A tuple keeps each child's own `Ok` type.
/// let (a, b) = taskgroup::settle((async { Ok::<_, String>(1) }, async { Err::<char, _>("no".to_string()) })).await;
/// assert_eq!((a, b), (Ok(1), Err("no".to_string())));
/// # });
/// ```
pub fn settle<C>(children: C) -> TaskGroupFuture<C::Shape>
where
    C: IntoShape<mode::Settle>,
{
    TaskGroupFuture::new(children.into_shape())
}

/// Returns the first child to succeed, with its index, and drops every other child at once.
///
/// Children that fail before one succeeds are simply finished. If every child fails, the output
/// is [`FirstOkError::AllFailed`](crate::FirstOkError::AllFailed) with all their errors in child
/// order; a group of no children fails with [`FirstOkError::Empty`](crate::FirstOkError::Empty)
/// rather than waiting forever. If several children succeed in the same poll, the lowest index
/// wins. Takes a tuple whose children all have the same `Ok` and error types, an array, a `Vec` or
/// a [`TaskGroup`](crate::TaskGroup).
///
/// ```
/// # futures::executor::block_on(async {
/// use taskgroup::FirstOkError;
///
/// async fn mirror(id: u32) -> Result<String, String> {
///     if id == 0 { Err("mirror 0 is down".into()) } else { Ok(format!("data from mirror {id}")) }
/// }
///
/// let (index, data) = taskgroup::first_ok([mirror(0), mirror(1), mirror(2)]).await.unwrap();
/// assert_eq!((index, data.as_str()), (1, "data from mirror 1"));
///
/// let Err(FirstOkError::AllFailed(errors)) = taskgroup::first_ok([mirror(0)]).await else { panic!() };
/// assert_eq!(errors.first(), (0, &"mirror 0 is down".to_string()));
/// # });
/// ```
pub fn first_ok<C>(children: C) -> TaskGroupFuture<C::Shape>
where
    C: IntoShape<mode::FirstOk>,
{
    TaskGroupFuture::new(children.into_shape()).stop_on_first_error()
}

/// Returns the output of the first child to finish, success or not, with its index, and drops
/// every other child at once.
///
/// If several children finish in the same poll, the lowest index wins. Takes a tuple whose
/// children have one output type, an array, a `Vec` or a [`TaskGroup`](crate::TaskGroup).
///
/// # Panics
///
/// When polled, if there are no children: a race of none would never finish. (A deadline or a
/// cancel handle that ends the group first still ends it with `Interrupted`.)
///
/// ```
/// # futures::executor::block_on(async {
/// use futures::future::{pending, ready, Either};
///
/// let (winner, output) = taskgroup::race([Either::Left(pending()), Either::Right(ready("fast"))]).await;
/// assert_eq!((winner, output), (1, "fast"));
/// # });
/// ```
pub fn race<C>(children: C) -> TaskGroupFuture<C::Shape>
where
    C: IntoShape<mode::Race>,
{
    TaskGroupFuture::new(children.into_shape()).stop_on_first_error()
}

/// Children taken from an iterator only as the group needs them, for a group with a
/// concurrency [`limit`](TaskGroupFuture::limit): at most `n` are made and run at once, so an
/// iterator of a million children is never materialised.
///
/// Accepted by [`try_join`], [`join`], [`settle`], [`first_ok`] and [`race`]; the output is a
/// `Vec` in input order. Without a limit every child starts at the group's first poll.
///
/// ```
/// # futures::executor::block_on(async {
/// async fn fetch(page: u32) -> Result<u32, String> { Ok(page * 10) }
///
/// let pages = taskgroup::try_join(taskgroup::lazy((0..1000).map(fetch))).limit(16).await?;
/// assert_eq!(pages.len(), 1000);
/// assert_eq!(pages[999], 9990);
/// # Ok::<(), taskgroup::ErrorGroup<String>>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "alloc")]
pub fn lazy<I>(children: I) -> Lazy<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Future,
{
    Lazy::new(children.into_iter())
}

/// How many children a group that reuses slots (a [`limit`](TaskGroupFuture::limit)) may start
/// and poll at once in one poll, at least: beyond that (or beyond its number of slots, if
/// larger) a started child is woken and polled in the next poll, so that a long run of children
/// that finish at once does not hold the executor. One word of children: measured on the limit
/// bench's ready children under callgrind, a budget of only the limit (16) cost 1.11 times the
/// instructions per child of this one (141.8 against 127.7).
const START_BUDGET: usize = 64;

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Never polled; the shape has not started its children.
    New,
    /// Started but no first sweep completed yet: the next sweep polls every child.
    Fresh,
    /// Polled at least once, not finished.
    Running,
    /// Returned `Ready`; polling again panics.
    Done,
}

/// What one poll of the engine left ([`TaskGroupFuture::poll_engine`]).
enum Progress {
    /// Children are still running.
    Pending,
    /// Every child finished with a value: the outputs are ready to take.
    Done,
    /// The group failed, and this many unfinished children were dropped; the errors wait in
    /// the tally.
    Failed(usize),
}

/// The engine's bookkeeping, independent of the shape.
struct Core<E> {
    phase: Phase,
    tally: Tally<E>,
    /// The children's wakers and ready set: made the first time a child needs it (see
    /// [`LazySweep`]) and released as soon as the group completes.
    #[cfg(feature = "alloc")]
    wakes: Option<WakeSet>,
    /// What the last lazy sweep left for the next one: the children of a small group that woke
    /// themselves, or a full sweep ([`LazySweep`]).
    #[cfg(feature = "alloc")]
    lazy: LazyHome,
}

/// What the sweeps have seen so far.
struct Tally<E> {
    /// Children that have neither finished nor failed.
    running: usize,
    /// How many more children a shape that reuses slots may start and poll at once in this
    /// poll ([`START_BUDGET`] or the number of slots); beyond that a started child is woken, to be
    /// polled in the next poll.
    starts_left: usize,
    /// Set by [`TaskGroupFuture::stop_on_first_error`].
    stop_on_first_error: bool,
    /// Errors of the failing sweep. Kept here rather than on the stack so that a child panicking
    /// in the middle of a failing sweep loses nothing if the group is polled again.
    errors: Option<ErrorGroup<E>>,
}

/// A group of children polled in place; see [`try_join`].
///
/// Its output depends on the mode the children were given in (see
/// [`Finish`](crate::shape::Finish)): `Result<outputs, ErrorGroup<E>>` for [`try_join`], the
/// outputs for [`join`], every `Result` for [`settle`], `Result<(index, T), FirstOkError<E>>` for
/// [`first_ok`] and `(index, output)` for [`race`]. Implements [`FusedFuture`]; polling it after
/// it returned `Ready` panics.
///
/// The future is `Send` when its children, their outputs and their errors are, and `Unpin` when
/// its storage is (always for `Vec` and [`TaskGroup`](crate::TaskGroup), since their children
/// live behind a pinned box).
///
/// ```
/// use futures::future::FusedFuture;
/// use std::future::ready;
///
/// let mut group = taskgroup::try_join([ready(Ok::<_, ()>(1)), ready(Ok(2))]);
/// assert!(!group.is_terminated());
/// assert_eq!(futures::executor::block_on(&mut group), Ok([1, 2]));
/// assert!(group.is_terminated());
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[pin_project]
pub struct TaskGroupFuture<S: Shape> {
    #[pin]
    shape: S,
    core: Core<S::Error>,
}

impl<S: Shape> TaskGroupFuture<S> {
    pub(crate) fn new(shape: S) -> Self {
        TaskGroupFuture {
            shape,
            core: Core {
                phase: Phase::New,
                tally: Tally {
                    running: 0,
                    starts_left: 0,
                    stop_on_first_error: false,
                    errors: None,
                },
                #[cfg(feature = "alloc")]
                wakes: None,
                #[cfg(feature = "alloc")]
                lazy: LazyHome::default(),
            },
        }
    }

    /// Fails at the very first error: no further child is polled once one returned `Err`, so the
    /// [`ErrorGroup`] holds exactly one error.
    ///
    /// By default the group finishes the sweep in which the first error appeared, because the
    /// other children woken at that moment may have failed too and their errors are worth
    /// reporting. Use this when polling more children after a failure is unwanted.
    ///
    /// The one error is kept inline in the [`ErrorGroup`], so a group that stops this way never
    /// allocates for its errors, even when many children fail at once (by default the second
    /// error of a sweep allocates room for the rest, once).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::future::ready;
    ///
    /// let failed = taskgroup::try_join([ready(Err::<(), _>("first")), ready(Err("second"))])
    ///     .stop_on_first_error()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(failed.len(), 1);
    /// assert_eq!(failed.first(), (0, &"first"));
    /// # });
    /// ```
    pub fn stop_on_first_error(mut self) -> Self {
        self.core.tally.stop_on_first_error = true;
        self
    }

    /// Number of children in the group.
    ///
    /// ```
    /// use std::future::ready;
    ///
    /// let group = taskgroup::try_join([ready(Ok::<_, ()>(1)), ready(Ok(2))]);
    /// assert_eq!(group.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.shape.len()
    }

    /// `true` for a group of no children, which completes on its first poll.
    ///
    /// ```
    /// let group = taskgroup::try_join(Vec::<std::future::Ready<Result<(), ()>>>::new());
    /// assert!(group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shape.len() == 0
    }
}

/// A concurrency limit, on a group built from a `Vec` or a [`TaskGroup`](crate::TaskGroup).
#[cfg(feature = "alloc")]
impl<M, F: Future> TaskGroupFuture<VecShape<M, F>>
where
    F::Output: Interpret<M>,
{
    /// Runs at most `n` children at once: the next child starts as soon as one finishes, in the
    /// slot it left. Outputs stay in input order, and every other rule holds: after a failure no
    /// further child is started (and the ones never started are dropped with the rest).
    ///
    /// For children made by an iterator, see [`lazy`]: they are then made only as slots free up.
    ///
    /// # Panics
    ///
    /// If `n` is 0, or if the group was already polled.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # async fn yield_now() {
    /// #     let mut yielded = false;
    /// #     std::future::poll_fn(|cx| {
    /// #         if std::mem::replace(&mut yielded, true) { return std::task::Poll::Ready(()) }
    /// #         cx.waker().wake_by_ref();
    /// #         std::task::Poll::Pending
    /// #     }).await
    /// # }
    /// let in_flight = AtomicUsize::new(0);
    /// let most = AtomicUsize::new(0);
    /// let child = |i: u32| {
    ///     let (in_flight, most) = (&in_flight, &most);
    ///     async move {
    ///         let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    ///         most.fetch_max(now, Ordering::SeqCst);
    ///         yield_now().await; // let the executor run the others, so that children overlap
    ///         in_flight.fetch_sub(1, Ordering::SeqCst);
    ///         Ok::<_, ()>(i)
    ///     }
    /// };
    /// let outputs = taskgroup::try_join((0..10).map(child).collect::<Vec<_>>()).limit(3).await;
    /// assert_eq!(outputs, Ok((0..10).collect::<Vec<_>>()));
    /// assert_eq!(most.load(Ordering::SeqCst), 3);
    /// # });
    /// ```
    pub fn limit(self, n: usize) -> TaskGroupFuture<LimitShape<M, alloc::vec::IntoIter<F>>> {
        check_limit(n, self.core.phase);
        let stop_on_first_error = self.core.tally.stop_on_first_error;
        // SAFETY: the group is `New`: it was never polled (a poll leaves `New` before it touches
        // a child) nor interrupted (which leaves it `Done`), so no child was ever pinned in use.
        let children = unsafe { self.shape.into_unpolled() };
        let mut group = TaskGroupFuture::new(LimitShape::new(children.into_iter(), Some(n)));
        group.core.tally.stop_on_first_error = stop_on_first_error;
        group
    }
}

/// A concurrency limit, on a group built from an iterator with [`lazy`].
#[cfg(feature = "alloc")]
impl<M, I> TaskGroupFuture<LimitShape<M, I>>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    /// Runs at most `n` children at once, taking the next one from the iterator only when a slot
    /// frees up; see [`lazy`] and the `Vec` form of `limit`.
    ///
    /// # Panics
    ///
    /// If `n` is 0, or if the group was already polled.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::cell::Cell;
    ///
    /// let made = Cell::new(0);
    /// let children = (0..1_000_000).map(|i| {
    ///     made.set(made.get() + 1);
    ///     async move { if i == 5 { Err(i) } else { Ok(i) } }
    /// });
    /// let failed = taskgroup::try_join(taskgroup::lazy(children)).limit(4).await.unwrap_err();
    /// assert_eq!(failed.first(), (5, &5));
    /// // Children are made as slots free up, and none after the failure.
    /// assert_eq!(made.get(), 6);
    /// # });
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        check_limit(n, self.core.phase);
        self.shape.set_limit(n);
        self
    }
}

#[cfg(feature = "alloc")]
#[track_caller]
fn check_limit(n: usize, phase: Phase) {
    assert!(n > 0, "a concurrency limit of 0 would never start a child");
    assert!(
        phase == Phase::New,
        "`limit` must be set before the group is first polled"
    );
}

impl<E> Core<E> {
    /// Polls the children that are due this time; returns once the snapshot is used up, or at
    /// the first error with `stop_on_first_error`.
    fn sweep<S: Shape<Error = E>>(&mut self, mut shape: Pin<&mut S>, cx: &mut Context<'_>) {
        // The phase moves on only after a whole first sweep: if a child panics during it, the
        // next poll polls every child again rather than forgetting the ones not reached.
        let first = self.phase == Phase::Fresh;
        #[cfg(feature = "alloc")]
        {
            if first || self.lazy.due(self.wakes.is_some()) {
                // No wake set (yet): poll with lazy wakers, which make one only if a child needs
                // it.
                if self.sweep_lazily(shape.as_mut(), cx.waker(), first) {
                    self.phase = Phase::Running;
                }
                return;
            }
            let tally = &mut self.tally;
            // Without a set and with nothing lazily woken, no child can have been woken.
            let Some(wakes) = self.wakes.as_mut() else {
                return;
            };
            // Register before the snapshot: a wake after the snapshot must wake this poll's task.
            wakes.register(cx.waker());
            // Ends the poll when dropped, on every return and on a child's panic: wakes that
            // land during the poll leave the parent alone, and the end wakes it if they left
            // work for the next poll.
            let mut wakes = wakes.poll();
            // Rounds: after the snapshot, the children woken by siblings (or other threads)
            // during it, if not polled in this poll yet, are polled in the same poll; a child's
            // own wakes wait for the next poll. Every child is polled at most once per poll, so
            // a poll polls at most as many children as the group holds; a round that polls
            // nobody ends the poll.
            'rounds: loop {
                let mut polled = false;
                while let Some(index) = wakes.next_taken() {
                    wakes.begin_child(index);
                    polled = true;
                    let waker = wakes.waker(index);
                    let due_left = || wakes.taken_len();
                    if Self::visit(shape.as_mut(), tally, index, &waker, due_left).is_none() {
                        break 'rounds;
                    }
                }
                let over = !polled || tally.errors.is_some() || tally.running == 0;
                if over || !wakes.snapshot_live() {
                    break;
                }
            }
            // A group that completes or fails lets go of the set after this poll
            // (`poll_sweeps`): its end has nobody to wake.
            wakes.finishing = tally.running == 0 || tally.errors.is_some();
        }
        #[cfg(not(feature = "alloc"))]
        {
            // No per-child wakers without an allocator: every unfinished child counts as woken.
            let _ = first;
            self.phase = Phase::Running;
            let tally = &mut self.tally;
            let len = shape.len();
            for index in 0..len {
                let due_left = || len - index - 1;
                if Self::visit(shape.as_mut(), tally, index, cx.waker(), due_left).is_none() {
                    return;
                }
            }
        }
    }

    /// Marks the group finished and lets go of the wake state, so late child wakes wake nobody.
    fn finish(&mut self) {
        self.phase = Phase::Done;
        #[cfg(feature = "alloc")]
        {
            self.wakes = None;
            self.lazy = LazyHome::default();
        }
    }
}

impl<E> Core<E> {
    /// Polls child `index` with `waker` and books the result: `None` if the sweep must stop, else
    /// whether the slot holds a child still running after its poll. `due_left` tells how many
    /// children the sweep still holds, asked only at a second error.
    ///
    /// In a shape that reuses slots, a child that finishes makes room for the next one, which
    /// starts in the same slot and is polled at once, within the poll's start budget; past the
    /// budget it is woken instead and polled in the next poll. No child starts once the group is
    /// failing.
    #[inline]
    fn visit<S: Shape<Error = E>>(
        mut shape: Pin<&mut S>,
        tally: &mut Tally<E>,
        index: usize,
        waker: &core::task::Waker,
        mut due_left: impl FnMut() -> usize,
    ) -> Option<bool> {
        loop {
            let step = shape
                .as_mut()
                .poll_child(index, &mut Context::from_waker(waker));
            let done = matches!(step, Step::Done);
            let pending = matches!(step, Step::Pending);
            if tally.settle(shape.input_index(index), step, &mut due_left) {
                return None;
            }
            if !done || !shape.as_mut().refill(index, tally.errors.is_none()) {
                return Some(pending);
            }
            tally.running += 1;
            if tally.starts_left == 0 {
                waker.wake_by_ref();
                return Some(true);
            }
            tally.starts_left -= 1;
        }
    }
}

#[cfg(feature = "alloc")]
impl<E> Core<E> {
    /// A sweep with lazy wakers ([`LazySweep`]): every child on a full sweep (the first, or after
    /// one in which every running child woke itself), else those that woke their lazy waker in
    /// the previous sweep (a group without a set has no other wakers out). Returns whether it
    /// ran to its end.
    ///
    /// The sweep's state ends (drops) here, where it lives. Moved into `drop` instead, it was
    /// copied with wide loads right after `end_full` stored one of its fields narrow: a
    /// store-forwarding stall at the end of every lazy sweep.
    #[inline(always)]
    fn sweep_lazily<S: Shape<Error = E>>(
        &mut self,
        mut shape: Pin<&mut S>,
        parent: &core::task::Waker,
        first: bool,
    ) -> bool {
        let tally = &mut self.tally;
        let len = shape.len();
        let mut wakes = LazySweep::new(&mut self.wakes, &mut self.lazy, len, parent, first);
        if !wakes.is_full() {
            // A tuple hands out its fields itself ([`Shape::visit_fields`]); the other shapes
            // are polled by index.
            let mut due = Due {
                tally,
                wakes: &wakes,
                small: len <= BITS,
                due: wakes.due(),
            };
            if let Some(ended) = shape.as_mut().visit_fields(&mut due) {
                return ended;
            }
            // Only a group of at most `BITS` children has children due here.
            let mut due = wakes.due();
            while due != 0 {
                let index = due.trailing_zeros() as usize;
                due &= due - 1;
                let due_left = || due.count_ones() as usize;
                if Self::visit_lazily::<S, true>(shape.as_mut(), tally, &wakes, index, 0, due_left)
                    .is_none()
                {
                    return false;
                }
            }
            return true;
        }
        let mut every = Every {
            tally,
            wakes: &wakes,
            len,
            woken: 0,
        };
        if let Some(ended) = shape.as_mut().visit_fields(&mut every) {
            let woken = every.woken;
            if ended {
                wakes.end_full(woken);
            } else {
                wakes.stop();
            }
            return ended;
        }
        // One loop for each kind of group, so that each knows how to book self-wakes.
        let visited = if len <= BITS {
            Self::visit_every::<S, true>(shape, tally, &wakes, len)
        } else {
            Self::visit_every::<S, false>(shape, tally, &wakes, len)
        };
        match visited {
            Some(woken) => wakes.end_full(woken),
            None => wakes.stop(),
        }
        visited.is_some()
    }

    /// A full lazy sweep over slots: visits every child in index order, and returns how many
    /// woke themselves (counted only in a group wider than [`BITS`]), or `None` if the sweep
    /// must stop.
    #[inline(always)]
    fn visit_every<S: Shape<Error = E>, const SMALL: bool>(
        mut shape: Pin<&mut S>,
        tally: &mut Tally<E>,
        wakes: &LazySweep<'_>,
        len: usize,
    ) -> Option<usize> {
        // Counted here, where the counts stay in registers: the children, and in a dense sweep
        // the self-wakes ([`LazySweep`]).
        let mut woken = 0;
        for index in 0..len {
            let due_left = || len - index - 1;
            let woke = Self::visit_lazily::<S, SMALL>(
                shape.as_mut(),
                tally,
                wakes,
                index,
                woken,
                due_left,
            )?;
            woken += woke as usize;
        }
        Some(woken)
    }

    /// [`Core::visit`] with child `index`'s lazy waker, then books the child if it woke itself
    /// ([`LazySweep::end_child`], told whether the group has at most [`BITS`] children
    /// (`SMALL`) and that `woken` children woke themselves before it in this sweep): `None` if
    /// the sweep must stop, else whether the child woke itself.
    #[inline(always)]
    fn visit_lazily<S: Shape<Error = E>, const SMALL: bool>(
        shape: Pin<&mut S>,
        tally: &mut Tally<E>,
        wakes: &LazySweep<'_>,
        index: usize,
        woken: usize,
        due_left: impl FnMut() -> usize,
    ) -> Option<bool> {
        let waker = wakes.waker(index);
        // If the sweep stops, its end books the child, if it woke itself.
        let pending = Self::visit(shape, tally, index, &waker, due_left)?;
        Some(wakes.end_child(SMALL, index, pending, woken))
    }
}

/// A lazy sweep that is not full, over the fields [`Shape::visit_fields`] hands out: visits the
/// children still due ([`LazySweep::due`]) and skips the others.
#[cfg(feature = "alloc")]
struct Due<'s, 'w, E> {
    tally: &'s mut Tally<E>,
    wakes: &'s LazySweep<'w>,
    /// Whether the group has at most [`BITS`] children ([`LazySweep::end_child`]); a constant
    /// for a tuple.
    small: bool,
    /// The children due in this sweep ([`LazySweep::due`]).
    due: usize,
}

#[cfg(feature = "alloc")]
impl<E> crate::shape::Visit<E> for Due<'_, '_, E> {
    #[inline(always)]
    fn field(&mut self, index: usize, poll: impl FnMut(&mut Context<'_>) -> Step<E>) -> bool {
        if index >= BITS || self.due & 1 << index == 0 {
            return true;
        }
        // The children due after this one (`>> 1` last: `index + 1` may be `BITS`).
        let due_left = || (self.due >> index >> 1).count_ones() as usize;
        let wakes = self.wakes;
        Core::field_lazily(poll, self.small, index, self.tally, wakes, 0, due_left).is_some()
    }
}

/// A full lazy sweep over the fields [`Shape::visit_fields`] hands out: visits every child,
/// counting the self-wakes for [`LazySweep::end_full`].
#[cfg(feature = "alloc")]
struct Every<'s, 'w, E> {
    tally: &'s mut Tally<E>,
    wakes: &'s LazySweep<'w>,
    len: usize,
    woken: usize,
}

#[cfg(feature = "alloc")]
impl<E> crate::shape::Visit<E> for Every<'_, '_, E> {
    #[inline(always)]
    fn field(&mut self, index: usize, poll: impl FnMut(&mut Context<'_>) -> Step<E>) -> bool {
        let len = self.len;
        let due_left = || len - index - 1;
        match Core::field_lazily(
            poll,
            len <= BITS,
            index,
            self.tally,
            self.wakes,
            self.woken,
            due_left,
        ) {
            Some(woke) => {
                self.woken += woke as usize;
                true
            }
            None => false,
        }
    }
}

#[cfg(feature = "alloc")]
impl<E> Core<E> {
    /// [`Core::visit_lazily`] for a field that `poll` polls in place: a tuple's fields are never
    /// refilled, and each is its own input index, so the step is the poll and its booking.
    ///
    /// Kept apart from the slots' path rather than sharing it through a generic child: with the
    /// shape carried inside a child type (as a struct field, or as `Pin<&mut S>` passed as a
    /// generic child), yield over a `Vec` of 1024 read 13–19% slower in alternating pairs, and
    /// `perf` showed the `Vec`'s pointer and length reloaded for every child.
    #[inline(always)]
    fn field_lazily(
        mut poll: impl FnMut(&mut Context<'_>) -> Step<E>,
        small: bool,
        index: usize,
        tally: &mut Tally<E>,
        wakes: &LazySweep<'_>,
        woken: usize,
        due_left: impl FnMut() -> usize,
    ) -> Option<bool> {
        let waker = wakes.waker(index);
        let step = poll(&mut Context::from_waker(&waker));
        let pending = matches!(step, Step::Pending);
        if tally.settle(index, step, due_left) {
            return None;
        }
        Some(wakes.end_child(small, index, pending, woken))
    }
}

impl<E> Tally<E> {
    /// Books one child's step; `true` if the sweep must stop now.
    #[inline]
    fn settle(&mut self, index: usize, step: Step<E>, due_left: impl FnOnce() -> usize) -> bool {
        match step {
            Step::Idle | Step::Pending => false,
            Step::Done => {
                self.running -= 1;
                false
            }
            Step::Failed(error) => {
                self.running -= 1;
                match &mut self.errors {
                    Some(errors) => {
                        if errors.len() == 1 {
                            // The second error spills the inline storage: make room for every
                            // child still due in this sweep at once, so a sweep in which many
                            // children fail allocates once instead of doubling its way up.
                            errors.reserve(due_left() + 1);
                        }
                        errors.push(index, error);
                    }
                    None => self.errors = Some(ErrorGroup::new(index, error)),
                }
                self.stop_on_first_error
            }
        }
    }
}

impl<S: Shape> TaskGroupFuture<S> {
    /// The engine's poll, the same for every mode: the outputs, or the errors of the failing
    /// sweep with every unfinished child dropped.
    ///
    /// The sweeps stay out of line ([`TaskGroupFuture::poll_sweeps`]) and report in a register
    /// how the poll ended; the outputs or the errors are moved out here, inline in the caller.
    /// Returned through the sweeps' frame, the group's result was written with narrow stores
    /// and read back at once with wide loads, which stalls the load until the stores complete:
    /// the last poll of a ready `Vec` of one cost 47 ns instead of 37. For the same reason the
    /// count of dropped children travels in the register too, rather than being stored into the
    /// errors just before they are moved.
    ///
    /// Forced inline, with `Future::poll` and the arrays' and tuples' `take_output`: left to the
    /// compiler, some of them stayed out of line in some instantiations (the 8-tuple under
    /// `try_join`, arrays of 8), and the outputs came back through memory with the same stall.
    #[inline(always)]
    fn poll_engine(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Output, ErrorGroup<S::Error>>> {
        match self.as_mut().poll_sweeps(cx) {
            Progress::Pending => Poll::Pending,
            Progress::Done => Poll::Ready(Ok(self.project().shape.take_output())),
            Progress::Failed(cancelled) => match self.project().core.tally.errors.take() {
                Some(mut errors) => {
                    errors.set_cancelled(cancelled);
                    Poll::Ready(Err(errors))
                }
                None => unreachable!("taskgroup: a failed group without errors"),
            },
        }
    }

    /// [`TaskGroupFuture::poll_engine`] up to the outputs: polls the children that are due and
    /// reports how the group stands. On failure every unfinished child and every stored output
    /// is dropped in place before it returns.
    fn poll_sweeps(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Progress {
        let this = self.project();
        let core = this.core;
        let mut shape = this.shape;
        assert!(
            core.phase != Phase::Done,
            "`TaskGroupFuture` polled after it completed"
        );
        if core.phase == Phase::New {
            core.tally.running = shape.as_mut().start();
            core.phase = Phase::Fresh;
        }
        if core.tally.running > 0 && core.tally.errors.is_none() {
            core.tally.starts_left = shape.len().max(START_BUDGET);
            core.sweep(shape.as_mut(), cx);
        }
        if core.tally.errors.is_some() {
            // Fail fast: drop every unfinished child and every stored output, in place, before
            // returning.
            return Progress::Failed(core.release_all(shape, |_| {}));
        }
        if core.tally.running == 0 {
            core.finish();
            return Progress::Done;
        }
        Progress::Pending
    }

    /// How many children have not finished: every child before the first poll, none once the
    /// group completed.
    #[cfg(feature = "alloc")]
    pub(crate) fn unfinished(&self) -> usize {
        match self.core.phase {
            Phase::New => self.shape.len(),
            Phase::Done => 0,
            Phase::Fresh | Phase::Running => self.core.tally.running,
        }
    }

    /// Ends the group from outside (a deadline, a cancel): drops every unfinished child and every
    /// stored output in place, and reports the children that were unfinished.
    pub(crate) fn interrupt(self: Pin<&mut Self>) -> Unfinished {
        let this = self.project();
        assert!(
            this.core.phase != Phase::Done,
            "`TaskGroupFuture` polled after it completed"
        );
        let mut unfinished = Unfinished::default();
        this.core.tally.errors = None;
        this.core
            .release_all(this.shape, |index| unfinished.push(index));
        unfinished
    }

    /// Whether the group holds the errors of a failing sweep that a panic cut short: its next
    /// poll returns them without polling any child.
    pub(crate) fn holds_errors(&self) -> bool {
        self.core.tally.errors.is_some()
    }
}

impl<E> Core<E> {
    /// Marks the group done, then drops every child and output in place; calls `unfinished`
    /// with the index of each child that was still running, and returns how many there were.
    /// Marking the group done first means that if a destructor panics, the group is not left
    /// half-released: it still drops the rest when it is dropped.
    fn release_all<S: Shape>(
        &mut self,
        mut shape: Pin<&mut S>,
        mut unfinished: impl FnMut(usize),
    ) -> usize {
        self.finish();
        let mut count = 0;
        for index in 0..shape.len() {
            let input = shape.input_index(index);
            if shape.as_mut().release(index) {
                unfinished(input);
                count += 1;
            }
        }
        shape.release_rest();
        count
    }
}

impl<S: Shape> Future for TaskGroupFuture<S>
where
    S::Mode: Finish<S>,
{
    type Output = <S::Mode as Finish<S>>::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_engine(cx).map(<S::Mode as Finish<S>>::finish)
    }
}

impl<S: Shape> FusedFuture for TaskGroupFuture<S>
where
    S::Mode: Finish<S>,
{
    fn is_terminated(&self) -> bool {
        self.core.phase == Phase::Done
    }
}

impl<S: Shape> core::fmt::Debug for TaskGroupFuture<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskGroupFuture")
            .field("len", &self.shape.len())
            .field("running", &self.core.tally.running)
            .field("phase", &self.core.phase)
            .finish_non_exhaustive()
    }
}
