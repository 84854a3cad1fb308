//! Children added while the group runs: [`scope`] and its [`Spawner`].
//!
//! A scope is a fail-fast group whose body, itself a child, and whose children may push more
//! children through a [`Spawner`]. Nothing is spawned on an executor: pushed children are polled
//! in place by the scope.
//!
//! How it runs: the children pushed between two looks at the queue form a *batch*, and each
//! batch is an ordinary [`TaskGroupFuture`] over a `Vec`, the one engine with its per-child
//! wakers. The scope keeps the body and its batches in a `FuturesUnordered` (futures-util), which
//! polls only the members that were woken; a member polls only its woken children. A wake costs
//! the same whatever the number of children, and the allocations grow with the number of batches
//! (a batch's slots, its wake set and its place in the `FuturesUnordered`), plus one box per
//! child: pushed children have different types, so each is boxed.
//!
//! Two differences from a group of fixed shape follow from the `FuturesUnordered`:
//!
//! * when a member fails, the scope keeps the errors of the other members ready in that same
//!   poll, which can include a child woken during the failing poll (a fixed group polls only
//!   the children woken before its failing sweep began);
//! * when one poll polls every member, the `FuturesUnordered` wakes the scope's own task before
//!   returning `Pending` (its yield rule), which costs one extra, empty poll of the scope.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use pin_project::pin_project;

use crate::error::ErrorGroup;
use crate::group::TaskGroupFuture;
use crate::shape::{mode, VecShape};
use crate::stop::{Cancellation, Deadline, Group, SealedGroup, Unfinished, Until};
use crate::CancelHandle;

/// The index under which a [`scope`]'s body reports its error in the [`ErrorGroup`]: after every
/// child's, since children are numbered from 0 in push order.
///
/// ```
/// # futures::executor::block_on(async {
/// let failed = taskgroup::scope(|_spawner| async { Err::<(), _>("body failed") })
///     .await
///     .map(|_: taskgroup::Scoped<(), ()>| ())
///     .unwrap_err();
/// assert_eq!(failed.first(), (taskgroup::SCOPE_BODY, &"body failed"));
/// # });
/// ```
pub const SCOPE_BODY: usize = usize::MAX;

/// A pushed child, boxed because pushed children have different types.
type Child<'a, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;

/// Runs `body` as a fail-fast group to which it, and every child, may add children while it
/// runs: Python's `TaskGroup.create_task`.
///
/// `body` receives a [`Spawner`]; [`Spawner::push`] adds a child and returns its index (0, 1, ..
/// in push order). Clones of the spawner can be moved into children, which may push more. The
/// scope completes when the body and every child are done, with the body's output and every
/// child's output in push order ([`Scoped`]).
///
/// Fail fast holds across the scope: if the body fails, every child is dropped; if a child
/// fails, the body and every other child are dropped. The [`ErrorGroup`] lists the errors seen at
/// that moment, each with its child's index ([`SCOPE_BODY`] for the body). Once the scope is
/// failing, finished or dropped, `push` hands the future back in [`Rejected`].
///
/// Children must be `Send` (they are boxed as `dyn Future + Send`), so the scope is `Send` when
/// its body and the outputs (`R`, `T`) are; children may borrow anything that outlives the scope.
/// Needs the `alloc` feature.
///
/// ```
/// # futures::executor::block_on(async {
/// async fn fetch(id: u32) -> Result<u32, String> { Ok(id * 10) }
///
/// let out = taskgroup::scope(|spawner| async move {
///     spawner.push(fetch(1)).unwrap();
///     let inner = spawner.clone();
///     spawner.push(async move {
///         // A child may push more children through its own clone.
///         inner.push(fetch(3)).unwrap();
///         Ok(2)
///     }).unwrap();
///     Ok::<_, String>("body done")
/// })
/// .await?;
/// assert_eq!(out.body, "body done");
/// assert_eq!(out.children, [10, 2, 30]);
/// # Ok::<(), taskgroup::ErrorGroup<String>>(())
/// # }).unwrap();
/// ```
pub fn scope<'a, R, T, E, B, Fut>(body: B) -> Scope<'a, R, T, E, Fut>
where
    B: FnOnce(Spawner<'a, T, E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let queue = Arc::new(Queue::new());
    let body = body(Spawner {
        queue: Arc::clone(&queue),
    });
    let members = FuturesUnordered::new();
    members.push(Member::Body(body));
    Scope {
        queue,
        members,
        body: None,
        chunks: Vec::new(),
        done: false,
        in_poll: false,
    }
}

/// The output of a [`scope`] that succeeded: the body's output and the children's outputs in
/// push order.
///
/// ```
/// # futures::executor::block_on(async {
/// let out: taskgroup::Scoped<&str, u8> = taskgroup::scope(|s| async move {
///     s.push(async { Ok(1) }).unwrap();
///     Ok::<_, ()>("hi")
/// })
/// .await
/// .unwrap();
/// assert_eq!((out.body, out.children), ("hi", vec![1]));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped<R, T> {
    /// What the body returned.
    pub body: R,
    /// Every pushed child's output, in push order (child `i` at position `i`).
    pub children: Vec<T>,
}

/// Adds children to a running [`scope`]. Cloneable; clones may move into children.
///
/// ```
/// # futures::executor::block_on(async {
/// let out = taskgroup::scope(|spawner: taskgroup::Spawner<'_, u8, ()>| async move {
///     assert_eq!(spawner.push(async { Ok(1) }), Ok(0));
///     assert_eq!(spawner.clone().push(async { Ok(2) }), Ok(1));
///     Ok(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(out.children, [1, 2]);
/// # });
/// ```
pub struct Spawner<'a, T, E> {
    queue: Arc<Queue<'a, T, E>>,
}

impl<T, E> Clone for Spawner<'_, T, E> {
    fn clone(&self) -> Self {
        Spawner {
            queue: Arc::clone(&self.queue),
        }
    }
}

impl<T, E> fmt::Debug for Spawner<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

impl<'a, T, E> Spawner<'a, T, E> {
    /// Adds `child` to the scope and returns its index; the scope starts polling it at once (in
    /// the same poll, when pushed from the body or a child).
    ///
    /// # Errors
    ///
    /// [`Rejected`], holding `child` unpolled, once the scope is failing, finished or dropped.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let _ = taskgroup::scope(|spawner: taskgroup::Spawner<'_, (), &str>| async move {
    ///     tx.send(spawner.clone()).unwrap();
    ///     Err::<(), _>("body failed")
    /// })
    /// .await;
    /// // The scope failed: a late push gets its future back.
    /// let late = rx.recv().unwrap().push(async { Ok(()) });
    /// assert!(late.is_err());
    /// # });
    /// ```
    pub fn push<F>(&self, child: F) -> Result<usize, Rejected<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'a,
    {
        // Box outside the lock, but keep the box typed until the scope accepts it, to be able
        // to hand the future back.
        let child = Box::new(Guarded {
            child,
            failed: Arc::clone(&self.queue.failed),
        });
        let failed = &self.queue.failed;
        let accepted = self.queue.with(move |state| {
            if state.closed || failed.load(Ordering::Acquire) {
                return Err(child);
            }
            let index = state.next;
            state.next += 1;
            let child: Child<'a, T, E> = Box::into_pin(child);
            state.pending.push(child);
            Ok(index)
        });
        match accepted {
            Ok(index) => {
                self.queue.waker.wake();
                Ok(index)
            }
            Err(child) => Err(Rejected::with(child.child)),
        }
    }
}

/// A pushed child that closes its scope to further pushes the moment it fails, so that a
/// sibling polled later in the same sweep can no longer push.
#[pin_project]
struct Guarded<F> {
    #[pin]
    child: F,
    /// The scope's [`Queue::failed`].
    failed: Arc<AtomicBool>,
}

impl<F: Future<Output = Result<T, E>>, T, E> Future for Guarded<F> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        let output = this.child.poll(cx);
        if let Poll::Ready(Err(_)) = &output {
            this.failed.store(true, Ordering::Release);
        }
        output
    }
}

/// A child that a [`scope`] refused, because it is failing, finished or dropped (Python raises
/// `RuntimeError` there). Holds the future, unpolled.
///
/// ```
/// let rejected = taskgroup::Rejected::with(std::future::ready(Ok::<u8, ()>(1)));
/// let child = rejected.into_inner();
/// assert_eq!(futures::executor::block_on(child), Ok(1));
/// ```
pub struct Rejected<F> {
    child: F,
}

impl<F> Rejected<F> {
    /// A rejection holding `child`.
    ///
    /// ```
    /// let rejected = taskgroup::Rejected::with(std::future::ready(()));
    /// assert_eq!(rejected.to_string(), "the scope no longer accepts children: it is failing, finished or dropped");
    /// ```
    pub fn with(child: F) -> Self {
        Rejected { child }
    }

    /// The refused future, unpolled.
    ///
    /// ```
    /// let back = taskgroup::Rejected::with(7).into_inner();
    /// assert_eq!(back, 7);
    /// ```
    pub fn into_inner(self) -> F {
        self.child
    }
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected").finish_non_exhaustive()
    }
}

impl<F> PartialEq for Rejected<F> {
    /// Rejections compare equal whatever they hold: they carry no other information.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the scope no longer accepts children: it is failing, finished or dropped")
    }
}

impl<F> core::error::Error for Rejected<F> {}

/// The future of a [`scope`].
///
/// Output: `Result<`[`Scoped`]`<R, T>, ErrorGroup<E>>`. Polling it after it completed panics.
///
/// ```
/// let scope: taskgroup::Scope<'_, (), u8, _, _> =
///     taskgroup::scope(|_spawner| async { Ok::<(), ()>(()) });
/// assert!(futures::executor::block_on(scope).unwrap().children.is_empty());
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Scope<'a, R, T, E, Fut> {
    queue: Arc<Queue<'a, T, E>>,
    members: FuturesUnordered<Member<'a, T, E, Fut>>,
    /// The body's output, once it finished.
    body: Option<R>,
    /// Each finished batch's outputs, with the index of its first child.
    chunks: Vec<(usize, Vec<T>)>,
    done: bool,
    /// Set while a poll runs: still set at the next poll means the last one panicked.
    in_poll: bool,
}

impl<R, T, E, Fut> fmt::Debug for Scope<'_, R, T, E, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("members", &self.members.len())
            .field("body_done", &self.body.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The body, or a batch of pushed children with the index of its first child.
#[pin_project(project = MemberProj)]
enum Member<'a, T, E, Fut> {
    Body(#[pin] Fut),
    Batch {
        first: usize,
        #[pin]
        group: TaskGroupFuture<VecShape<mode::TryJoin, Child<'a, T, E>>>,
    },
}

/// What a member finished with.
enum Finished<R, T, E> {
    Body(Result<R, E>),
    Batch(usize, Result<Vec<T>, ErrorGroup<E>>),
}

impl<'a, R, T, E, Fut> Future for Member<'a, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    type Output = Finished<R, T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            MemberProj::Body(body) => body.poll(cx).map(Finished::Body),
            MemberProj::Batch { first, group } => {
                let first = *first;
                group.poll(cx).map(|result| Finished::Batch(first, result))
            }
        }
    }
}

impl<T, E, Fut> Member<'_, T, E, Fut> {
    /// Children (the body counting as one) not finished.
    fn unfinished(&self) -> usize {
        match self {
            Member::Body(_) => 1,
            Member::Batch { group, .. } => group.unfinished(),
        }
    }
}

impl<'a, R, T, E, Fut> Scope<'a, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    /// Moves the children pushed since the last look into a new batch; `false` if none.
    fn take_pushed(&mut self) -> bool {
        let (first, children) = self.queue.with(|state| {
            let children = core::mem::take(&mut state.pending);
            let first = state.next - children.len();
            (first, children)
        });
        if children.is_empty() {
            return false;
        }
        self.members.push(Member::Batch {
            first,
            group: crate::try_join(children),
        });
        true
    }

    /// Ends the scope after the member that failed first: refuses further pushes, keeps the
    /// errors of members that fail in this same poll, drops everything else, and builds the
    /// group.
    fn fail(&mut self, failed: Finished<R, T, E>, cx: &mut Context<'_>) -> ErrorGroup<E> {
        let (_, refused) = self.queue.close();
        let mut errors = Vec::new();
        let mut cancelled = absorb(failed, &mut errors);
        // Other members may have failed at the same moment: poll the ones ready now and keep
        // their errors. (The `FuturesUnordered` cannot tell a member woken before this poll from
        // one woken during it, so a child woken during the failing poll may be polled here.)
        while let Poll::Ready(Some(finished)) = self.members.poll_next_unpin(cx) {
            cancelled += absorb(finished, &mut errors);
        }
        let unfinished: usize = Pin::new(&self.members)
            .iter_pin_ref()
            .map(|member| member.get_ref().unfinished())
            .sum();
        cancelled += refused.len() + unfinished;
        self.members.clear();
        drop(refused);
        self.body = None;
        self.chunks = Vec::new();
        errors.sort_unstable_by_key(|(index, _)| *index);
        let mut group = ErrorGroup::from_pairs(errors).expect("a failing scope has an error");
        group.set_cancelled(cancelled);
        group
    }
}

/// Adds the errors of a member that failed to `errors`; returns how many children the member
/// dropped itself when it failed. A member that succeeded adds nothing (its output is dropped:
/// the scope is failing).
fn absorb<R, T, E>(finished: Finished<R, T, E>, errors: &mut Vec<(usize, E)>) -> usize {
    match finished {
        Finished::Body(Err(error)) => {
            errors.push((SCOPE_BODY, error));
            0
        }
        Finished::Batch(first, Err(group)) => {
            let cancelled = group.cancelled();
            errors.extend(group.into_iter().map(|(i, e)| (first + i, e)));
            cancelled
        }
        Finished::Body(Ok(_)) | Finished::Batch(_, Ok(_)) => 0,
    }
}

impl<'a, R, T, E, Fut> Future for Scope<'a, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    type Output = Result<Scoped<R, T>, ErrorGroup<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Scope` is `Unpin`: its members live in the `FuturesUnordered`'s own allocations.
        let this = self.get_mut();
        assert!(!this.done, "`Scope` polled after it completed");
        // A member that panics is dropped by the `FuturesUnordered` with every child of its
        // batch: a scope that went on would return without them. Refuse instead.
        assert!(
            !this.in_poll,
            "`Scope` polled again after its body or a child panicked in an earlier poll"
        );
        this.in_poll = true;
        let output = this.poll_members(cx);
        this.in_poll = false;
        output
    }
}

impl<'a, R, T, E, Fut> Scope<'a, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    fn poll_members(&mut self, cx: &mut Context<'_>) -> Poll<Result<Scoped<R, T>, ErrorGroup<E>>> {
        let this = self;
        // Register first: a push from elsewhere after this point wakes this task.
        this.queue.waker.register(cx.waker());
        this.take_pushed();
        loop {
            match this.members.poll_next_unpin(cx) {
                Poll::Ready(Some(Finished::Body(Ok(output)))) => this.body = Some(output),
                Poll::Ready(Some(Finished::Batch(first, Ok(outputs)))) => {
                    this.chunks.push((first, outputs));
                }
                Poll::Ready(Some(failed)) => {
                    this.done = true;
                    return Poll::Ready(Err(this.fail(failed, cx)));
                }
                Poll::Ready(None) => {
                    // Every member finished; done unless children were pushed meanwhile.
                    if this.take_pushed() {
                        continue;
                    }
                    if !this.queue.close_if_idle() {
                        continue;
                    }
                    this.done = true;
                    return Poll::Ready(Ok(this.collect()));
                }
                Poll::Pending => {
                    // Children pushed during this poll start now rather than a poll later.
                    if this.take_pushed() {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<'a, R, T, E, Fut> Scope<'a, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    /// Ends the scope when `deadline` completes first, like
    /// [`TaskGroupFuture::until`](crate::TaskGroupFuture::until): the body and every child are
    /// dropped, later pushes are refused, and the output is `Err(Interrupted)` listing the
    /// unfinished children by index ([`SCOPE_BODY`] for the body).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let ended = taskgroup::scope(|spawner| async move {
    ///     spawner.push(std::future::pending::<Result<(), ()>>()).unwrap();
    ///     Ok(())
    /// })
    /// .until(async {})
    /// .await;
    /// assert_eq!(ended.unwrap_err().reason(), taskgroup::Reason::Deadline);
    /// # });
    /// ```
    pub fn until<D: Future>(self, deadline: D) -> Until<Self, Deadline<D>> {
        Until::new(self, deadline)
    }

    /// Ends the scope at its next poll once `handle` is cancelled, like
    /// [`TaskGroupFuture::with_cancel`](crate::TaskGroupFuture::with_cancel); later pushes are
    /// refused.
    ///
    /// # Panics
    ///
    /// If `handle` (or a clone) already ends another group that is still alive.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let handle = taskgroup::CancelHandle::new();
    /// let inside = handle.clone();
    /// let ended = taskgroup::scope(|spawner| async move {
    ///     spawner.push(std::future::pending::<Result<(), ()>>()).unwrap();
    ///     inside.cancel();
    ///     std::future::pending::<()>().await;
    ///     Ok(())
    /// })
    /// .with_cancel(handle)
    /// .await;
    /// let ended = ended.unwrap_err();
    /// assert_eq!(ended.reason(), taskgroup::Reason::Cancelled);
    /// assert_eq!(ended.unfinished(), [0, taskgroup::SCOPE_BODY]);
    /// # });
    /// ```
    pub fn with_cancel(self, handle: CancelHandle) -> Until<Self, Cancellation> {
        Until::cancelled_by(self, handle)
    }
}

impl<R, T, E, Fut> SealedGroup for Scope<'_, R, T, E, Fut> where Fut: Future<Output = Result<R, E>> {}

impl<R, T, E, Fut> Group for Scope<'_, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    fn interrupt(self: Pin<&mut Self>) -> Unfinished {
        let this = self.get_mut();
        assert!(!this.done, "`Scope` polled after it completed");
        this.done = true;
        let (first_refused, refused) = this.queue.close();
        let mut indices: Vec<usize> = (first_refused..first_refused + refused.len()).collect();
        for member in Pin::new(&mut this.members).iter_pin_mut() {
            match member.project() {
                MemberProj::Body(_) => indices.push(SCOPE_BODY),
                MemberProj::Batch { first, group } => {
                    let first = *first;
                    let dropped = group.interrupt();
                    indices.extend(dropped.as_slice().iter().map(|i| first + i));
                }
            }
        }
        this.members.clear();
        drop(refused);
        this.body = None;
        this.chunks = Vec::new();
        indices.sort_unstable();
        let mut unfinished = Unfinished::default();
        for index in indices {
            unfinished.push(index);
        }
        unfinished
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl<'a, R, T, E, Fut> Scope<'a, R, T, E, Fut> {
    fn collect(&mut self) -> Scoped<R, T> {
        let mut chunks = core::mem::take(&mut self.chunks);
        chunks.sort_unstable_by_key(|(first, _)| *first);
        let total = chunks.iter().map(|(_, outputs)| outputs.len()).sum();
        let mut children = Vec::with_capacity(total);
        for (_, outputs) in chunks {
            children.extend(outputs);
        }
        Scoped {
            body: self.body.take().expect("the body finished"),
            children,
        }
    }
}

// The body is pinned inside the `FuturesUnordered`'s own allocation, and nothing of the scope
// itself is ever pinned in place.
impl<R, T, E, Fut> Unpin for Scope<'_, R, T, E, Fut> {}

impl<R, T, E, Fut> Drop for Scope<'_, R, T, E, Fut> {
    fn drop(&mut self) {
        // Refuse later pushes and drop the accepted children that never started, now.
        drop(self.queue.close());
    }
}

impl<R, T, E, Fut> futures_util::future::FusedFuture for Scope<'_, R, T, E, Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

/// The children pushed but not yet taken by the scope, behind a tiny lock.
struct Queue<'a, T, E> {
    /// Held while `state` is borrowed; see [`Queue::with`].
    locked: AtomicBool,
    state: UnsafeCell<QueueState<'a, T, E>>,
    /// The scope's task, woken by pushes.
    waker: AtomicWaker,
    /// Set by a pushed child the moment it fails: pushes are refused from then on, even from a
    /// sibling polled later in the same sweep, before the scope itself sees the failure.
    failed: Arc<AtomicBool>,
}

struct QueueState<'a, T, E> {
    /// Set once the scope fails, finishes or is dropped; never cleared.
    closed: bool,
    /// The index the next push gets.
    next: usize,
    /// Accepted children not taken yet; they hold the indices just below `next`.
    pending: Vec<Child<'a, T, E>>,
}

// SAFETY: `state` is only reached through `Queue::with`, which holds the lock for the whole
// borrow, so at most one thread touches it at a time; what it holds (boxed `Send` children and
// integers) may move between threads.
unsafe impl<T, E> Sync for Queue<'_, T, E> {}

impl<'a, T, E> Queue<'a, T, E> {
    fn new() -> Self {
        Queue {
            locked: AtomicBool::new(false),
            state: UnsafeCell::new(QueueState {
                closed: false,
                next: 0,
                pending: Vec::new(),
            }),
            waker: AtomicWaker::new(),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `f` on the state under the lock. `f` must not run user code (no child is polled or
    /// dropped in it), so the lock is held only for a few instructions and never re-entered.
    fn with<R>(&self, f: impl FnOnce(&mut QueueState<'a, T, E>) -> R) -> R {
        struct Unlock<'l>(&'l AtomicBool);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: this thread holds the lock (acquired above, released when `_unlock` drops,
        // even if `f` panics), and every access to `state` goes through here, so this is the
        // only reference to it while `f` runs.
        f(unsafe { &mut *self.state.get() })
    }

    /// Refuses every later push and returns the children accepted but never taken, for the
    /// caller to drop outside the lock, with the index of the first of them.
    fn close(&self) -> (usize, Vec<Child<'a, T, E>>) {
        self.with(|state| {
            state.closed = true;
            let pending = core::mem::take(&mut state.pending);
            (state.next - pending.len(), pending)
        })
    }

    /// Closes the queue if nothing is pending; `false` if a push got in first.
    fn close_if_idle(&self) -> bool {
        self.with(|state| {
            if state.pending.is_empty() {
                state.closed = true;
            }
            state.closed
        })
    }
}
