//! Ending a group from outside: a deadline ([`TaskGroupFuture::until`]) or a cancel handle
//! ([`TaskGroupFuture::with_cancel`]).
//!
//! Both are checked at the top of every poll of the group, before any child is polled. When one
//! fires, the group drops every unfinished child and every stored output in place, the same way
//! a failure does, and returns [`Interrupted`], which names the reason and the children that were
//! still unfinished. A child's own error can never be mistaken for it: the group's usual output
//! is wrapped in `Ok`, the interruption is the `Err`.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::future::FusedFuture;
use pin_project::pin_project;

use crate::group::TaskGroupFuture;
use crate::shape::{Finish, Shape};

#[cfg(feature = "alloc")]
type Indices = alloc::vec::Vec<usize>;
#[cfg(not(feature = "alloc"))]
type Indices = Option<usize>;

/// The children that were still running when a group was interrupted, in index order.
#[doc(hidden)]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unfinished {
    indices: Indices,
    omitted: usize,
}

impl Unfinished {
    pub(crate) fn push(&mut self, index: usize) {
        #[cfg(feature = "alloc")]
        self.indices.push(index);
        #[cfg(not(feature = "alloc"))]
        if self.indices.is_none() {
            self.indices = Some(index);
        } else {
            self.omitted += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        #[cfg(feature = "alloc")]
        return &self.indices;
        #[cfg(not(feature = "alloc"))]
        return self.indices.as_slice();
    }
}

/// Why a group was ended from outside.
///
/// ```
/// use taskgroup::Reason;
/// assert_ne!(Reason::Deadline, Reason::Cancelled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The deadline given to [`TaskGroupFuture::until`] completed first.
    Deadline,
    /// A [`CancelHandle`] given to [`TaskGroupFuture::with_cancel`] was cancelled.
    Cancelled,
}

/// A group ended by its deadline or its cancel handle before it completed: every unfinished child
/// was dropped.
///
/// With the `alloc` feature it lists every child that was unfinished. Without it, it keeps the
/// lowest such index and counts the others in [`omitted`](Interrupted::omitted), the way
/// [`ErrorGroup`](crate::ErrorGroup) keeps its errors.
///
/// ```
/// # futures::executor::block_on(async {
/// use futures::future::{pending, ready, Either};
/// use taskgroup::Reason;
///
/// let children = [Either::Left(ready(Ok::<u8, ()>(1))), Either::Right(pending())];
/// let interrupted = taskgroup::try_join(children).until(ready(())).await.unwrap_err();
/// assert_eq!(interrupted.reason(), Reason::Deadline);
/// // The deadline is checked before any child is polled.
/// assert_eq!(interrupted.unfinished(), [0, 1]);
/// assert_eq!(interrupted.to_string(), "deadline reached with 2 children unfinished: 0, 1");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    reason: Reason,
    unfinished: Unfinished,
}

impl Interrupted {
    /// Why the group was ended.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let handle = taskgroup::CancelHandle::new();
    /// handle.cancel();
    /// let children = [std::future::pending::<Result<(), ()>>()];
    /// let ended = taskgroup::try_join(children).with_cancel(handle).await.unwrap_err();
    /// assert_eq!(ended.reason(), taskgroup::Reason::Cancelled);
    /// # });
    /// ```
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The indices of the children that were still running and were dropped, ascending.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::future::{pending, Either, FutureExt};
    ///
    /// // Child 1 finishes on its first poll; the deadline fires on the second poll.
    /// let children = [Either::Left(pending()), Either::Right(async { Ok::<_, ()>(1) })];
    /// let mut polls = 0;
    /// let deadline = std::future::poll_fn(|cx| {
    ///     polls += 1;
    ///     cx.waker().wake_by_ref();
    ///     if polls == 2 { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    /// });
    /// let ended = taskgroup::try_join(children).until(deadline).await.unwrap_err();
    /// assert_eq!(ended.unfinished(), [0]);
    /// # });
    /// ```
    pub fn unfinished(&self) -> &[usize] {
        self.unfinished.as_slice()
    }

    /// How many further unfinished children are not listed in
    /// [`unfinished`](Interrupted::unfinished), because the crate was built without `alloc`.
    /// Always `0` with `alloc`.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let children = [std::future::pending::<Result<(), ()>>(), std::future::pending()];
    /// let ended = taskgroup::try_join(children).until(async {}).await.unwrap_err();
    /// assert_eq!(ended.unfinished().len() + ended.omitted(), 2);
    /// # });
    /// ```
    pub fn omitted(&self) -> usize {
        self.unfinished.omitted
    }
}

impl fmt::Display for Interrupted {
    /// `deadline reached with 2 children unfinished: 0, 3` (at most 16 indices are listed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LISTED: usize = 16;
        let what = match self.reason {
            Reason::Deadline => "deadline reached",
            Reason::Cancelled => "cancelled",
        };
        let listed = self.unfinished();
        let count = listed.len() + self.omitted();
        let noun = if count == 1 { "child" } else { "children" };
        write!(f, "{what} with {count} {noun} unfinished")?;
        for (n, index) in listed.iter().take(LISTED).enumerate() {
            f.write_str(if n == 0 { ": " } else { ", " })?;
            write!(f, "{index}")?;
        }
        if count > LISTED.min(listed.len()) {
            f.write_str(", ...")?;
        }
        Ok(())
    }
}

impl core::error::Error for Interrupted {}

/// Something that can end a group from outside. Sealed: [`Deadline`], [`Cancellation`] and
/// [`Either`] of two of them.
///
/// ```
/// fn takes_any<G: taskgroup::Group, T: taskgroup::Stop>(_: taskgroup::Until<G, T>) {}
/// takes_any(taskgroup::try_join([async { Ok::<_, ()>(()) }]).until(async {}));
/// ```
pub trait Stop: private::Sealed {
    /// `Ready(reason)` once the group must end.
    #[doc(hidden)]
    fn poll_stop(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason>;
}

mod private {
    pub trait Sealed {}
}

/// Seals [`Group`].
pub trait SealedGroup {}

/// A group that a deadline or a cancel handle can end: [`TaskGroupFuture`] in every mode, and
/// [`Scope`](crate::Scope). Sealed.
///
/// ```
/// fn bounded<G: taskgroup::Group>(group: G) -> taskgroup::Until<G, taskgroup::Deadline<std::future::Ready<()>>> {
///     taskgroup::Until::new(group, std::future::ready(()))
/// }
/// let ended = futures::executor::block_on(bounded(taskgroup::join([async { 1 }])));
/// assert!(ended.is_err());
/// ```
pub trait Group: Future + SealedGroup {
    /// Drops every unfinished child and stored output in place; reports the unfinished children.
    #[doc(hidden)]
    fn interrupt(self: Pin<&mut Self>) -> Unfinished;
    /// Whether the group already returned its output.
    #[doc(hidden)]
    fn is_done(&self) -> bool;
    /// Whether the group's outcome is already decided (a failure seen before a panic cut its
    /// sweep short), so that its next poll returns it without polling a child.
    #[doc(hidden)]
    fn is_decided(&self) -> bool {
        false
    }
}

impl<S: Shape> SealedGroup for TaskGroupFuture<S> where S::Mode: Finish<S> {}
impl<S: Shape> Group for TaskGroupFuture<S>
where
    S::Mode: Finish<S>,
{
    fn interrupt(self: Pin<&mut Self>) -> Unfinished {
        TaskGroupFuture::interrupt(self)
    }

    fn is_done(&self) -> bool {
        self.is_terminated()
    }

    fn is_decided(&self) -> bool {
        self.holds_errors()
    }
}

/// A deadline: any future. The group ends when it completes; its output is ignored.
///
/// ```
/// let group = taskgroup::try_join([async { Ok::<_, ()>(1) }]).until(async {});
/// let _: &taskgroup::Until<_, taskgroup::Deadline<_>> = &group;
/// ```
#[pin_project]
#[derive(Debug)]
pub struct Deadline<D> {
    #[pin]
    deadline: D,
    /// Set once the deadline completed, so that it is never polled again.
    reached: bool,
}

impl<D> private::Sealed for Deadline<D> {}
impl<D: Future> Stop for Deadline<D> {
    fn poll_stop(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
        let this = self.project();
        if !*this.reached {
            if this.deadline.poll(cx).is_pending() {
                return Poll::Pending;
            }
            *this.reached = true;
        }
        Poll::Ready(Reason::Deadline)
    }
}

/// Two stops: the group ends when either fires (the first one is asked first).
///
/// ```
/// let handle = taskgroup::CancelHandle::new();
/// let group = taskgroup::try_join([async { Ok::<_, ()>(1) }])
///     .until(async {})
///     .with_cancel(handle);
/// let _: &taskgroup::Until<_, taskgroup::Either<_, taskgroup::Cancellation>> = &group;
/// ```
#[pin_project]
#[derive(Debug)]
pub struct Either<A, B> {
    #[pin]
    first: A,
    #[pin]
    second: B,
}

impl<A, B> private::Sealed for Either<A, B> {}
impl<A: Stop, B: Stop> Stop for Either<A, B> {
    fn poll_stop(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
        let this = self.project();
        match this.first.poll_stop(cx) {
            Poll::Ready(reason) => Poll::Ready(reason),
            Poll::Pending => this.second.poll_stop(cx),
        }
    }
}

/// A group with a deadline or a cancel handle; see [`TaskGroupFuture::until`] and
/// [`TaskGroupFuture::with_cancel`].
///
/// Output: `Ok` of the group's own output if it completes first, else `Err(`[`Interrupted`]`)`.
///
/// ```
/// # futures::executor::block_on(async {
/// use std::future::{pending, ready};
///
/// let group: taskgroup::Until<_, _> = taskgroup::join([ready(1), ready(2)]).until(pending::<()>());
/// assert_eq!(group.await, Ok([1, 2]));
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[pin_project]
#[derive(Debug)]
pub struct Until<G, T> {
    #[pin]
    group: G,
    #[pin]
    stop: T,
}

impl<G: Group, D: Future> Until<G, Deadline<D>> {
    /// `group` with `deadline`: what `until` returns on each group type.
    ///
    /// ```
    /// let group = taskgroup::try_join([std::future::pending::<Result<(), ()>>()]);
    /// let bounded = taskgroup::Until::new(group, async {});
    /// assert!(futures::executor::block_on(bounded).is_err());
    /// ```
    pub fn new(group: G, deadline: D) -> Self {
        Until {
            group,
            stop: Deadline {
                deadline,
                reached: false,
            },
        }
    }
}

#[cfg(feature = "alloc")]
impl<G: Group> Until<G, Cancellation> {
    /// `group` ended by `handle`: what `with_cancel` returns on each group type.
    ///
    /// # Panics
    ///
    /// If `handle` (or a clone) already ends another group that is still alive.
    ///
    /// ```
    /// let handle = taskgroup::CancelHandle::new();
    /// handle.cancel();
    /// let group = taskgroup::try_join([std::future::pending::<Result<(), ()>>()]);
    /// let ended = futures::executor::block_on(taskgroup::Until::cancelled_by(group, handle));
    /// assert_eq!(ended.unwrap_err().reason(), taskgroup::Reason::Cancelled);
    /// ```
    pub fn cancelled_by(group: G, handle: CancelHandle) -> Self {
        Until {
            group,
            stop: Cancellation::attach(handle),
        }
    }
}

impl<G: Group, T: Stop> Until<G, T> {
    /// Adds a deadline to a group that already has one or a cancel handle: the group ends at
    /// whichever comes first. See [`TaskGroupFuture::until`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::future::pending;
    ///
    /// let ended = taskgroup::try_join([pending::<Result<(), ()>>()])
    ///     .until(pending::<()>()) // a deadline that never comes
    ///     .until(async {})        // and one that is already here
    ///     .await;
    /// assert_eq!(ended.unwrap_err().reason(), taskgroup::Reason::Deadline);
    /// # });
    /// ```
    pub fn until<D: Future>(self, deadline: D) -> Until<G, Either<T, Deadline<D>>> {
        Until {
            group: self.group,
            stop: Either {
                first: self.stop,
                second: Deadline {
                    deadline,
                    reached: false,
                },
            },
        }
    }

    /// Adds a cancel handle to a group that already has a deadline. See
    /// [`TaskGroupFuture::with_cancel`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let handle = taskgroup::CancelHandle::new();
    /// handle.cancel();
    /// let ended = taskgroup::try_join([std::future::pending::<Result<(), ()>>()])
    ///     .until(std::future::pending::<()>())
    ///     .with_cancel(handle)
    ///     .await;
    /// assert_eq!(ended.unwrap_err().reason(), taskgroup::Reason::Cancelled);
    /// # });
    /// ```
    #[cfg(feature = "alloc")]
    pub fn with_cancel(self, handle: CancelHandle) -> Until<G, Either<T, Cancellation>> {
        Until {
            group: self.group,
            stop: Either {
                first: self.stop,
                second: Cancellation::attach(handle),
            },
        }
    }
}

impl<S: Shape> TaskGroupFuture<S>
where
    S::Mode: Finish<S>,
{
    /// Ends the group when `deadline` completes first: every unfinished child is dropped and the
    /// output is `Err(`[`Interrupted`]`)` with [`Reason::Deadline`] and the indices of the
    /// children that were unfinished. If the group completes first, its output comes in `Ok`.
    ///
    /// The deadline is any future, which keeps this executor-agnostic: a `tokio::time::sleep`, an
    /// embassy `Timer`, a channel receive, a shutdown signal. It is polled at the top of every
    /// poll of the group, before any child, with the group's waker; once it completes, the group
    /// ends at that poll.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::channel::oneshot;
    /// use taskgroup::Reason;
    ///
    /// let (stop, stopped) = oneshot::channel::<()>();
    /// let slow = async { std::future::pending::<()>().await; Ok::<u32, String>(0) };
    /// let fast = async { Ok::<u32, String>(1) };
    /// let group = taskgroup::try_join((slow, fast)).until(stopped);
    ///
    /// stop.send(()).unwrap();
    /// let ended = group.await.unwrap_err();
    /// assert_eq!(ended.reason(), Reason::Deadline);
    /// assert_eq!(ended.unfinished(), [0, 1]);
    ///
    /// // A deadline that never comes changes nothing.
    /// let ok = taskgroup::try_join([async { Ok::<_, ()>(7) }]).until(std::future::pending::<()>()).await;
    /// assert_eq!(ok, Ok(Ok([7])));
    /// # });
    /// ```
    pub fn until<D: Future>(self, deadline: D) -> Until<Self, Deadline<D>> {
        Until::new(self, deadline)
    }

    /// Ends the group at its next poll once `handle` is cancelled: every unfinished child is
    /// dropped and the output is `Err(`[`Interrupted`]`)` with [`Reason::Cancelled`]. Cancelling
    /// wakes the group, so the next poll comes promptly. The handle may be cancelled from inside
    /// a child or from anywhere else, any number of times; cancelling a group that already
    /// completed does nothing.
    ///
    /// # Panics
    ///
    /// If `handle` (or a clone of it) already ends another group that is still alive: a handle
    /// ends one group at a time, and is released when that group is dropped (not when it
    /// completes). Make one handle per group.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use taskgroup::{CancelHandle, Reason};
    ///
    /// let handle = CancelHandle::new();
    /// let from_inside = handle.clone();
    /// let worker = async { std::future::pending::<()>().await; Ok::<(), ()>(()) };
    /// let supervisor = async move {
    ///     from_inside.cancel(); // e.g. on a shutdown message
    ///     Ok(())
    /// };
    /// let ended = taskgroup::try_join((worker, supervisor)).with_cancel(handle).await.unwrap_err();
    /// assert_eq!(ended.reason(), Reason::Cancelled);
    /// assert_eq!(ended.unfinished(), [0]);
    /// # });
    /// ```
    #[cfg(feature = "alloc")]
    pub fn with_cancel(self, handle: CancelHandle) -> Until<Self, Cancellation> {
        Until::cancelled_by(self, handle)
    }
}

impl<G: Group, T: Stop> Future for Until<G, T> {
    type Output = Result<G::Output, Interrupted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A failure the group already saw came before the stop: report it.
        if !this.group.is_decided() {
            if let Poll::Ready(reason) = this.stop.poll_stop(cx) {
                let unfinished = this.group.interrupt();
                return Poll::Ready(Err(Interrupted { reason, unfinished }));
            }
        }
        this.group.poll(cx).map(Ok)
    }
}

impl<G: Group, T: Stop> FusedFuture for Until<G, T> {
    fn is_terminated(&self) -> bool {
        self.group.is_done()
    }
}

#[cfg(feature = "alloc")]
pub use cancel::{CancelHandle, Cancellation};

#[cfg(feature = "alloc")]
mod cancel {
    use alloc::sync::Arc;
    use core::pin::Pin;
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::task::{Context, Poll};

    use futures_util::task::AtomicWaker;

    use super::{private, Reason, Stop};

    /// Ends a group from inside one of its children or from anywhere else; see
    /// [`TaskGroupFuture::with_cancel`](crate::TaskGroupFuture::with_cancel).
    ///
    /// Cloneable, `Send + Sync` and `'static`: move clones into children, other tasks or other
    /// threads. Cancelling is permanent (a cancelled handle stays cancelled) and idempotent.
    /// Needs the `alloc` feature; without it, end a group with
    /// [`until`](crate::TaskGroupFuture::until) and any future that completes on your signal
    /// (an embassy `Signal::wait()`, for example).
    ///
    /// ```
    /// let handle = taskgroup::CancelHandle::new();
    /// let remote = handle.clone();
    /// std::thread::spawn(move || remote.cancel()).join().unwrap();
    /// assert!(handle.is_cancelled());
    /// handle.cancel(); // harmless
    /// ```
    #[derive(Clone, Default)]
    pub struct CancelHandle {
        shared: Arc<Shared>,
    }

    #[derive(Default)]
    struct Shared {
        /// Set once by `cancel`, never cleared.
        cancelled: AtomicBool,
        /// Set while a group is ended by this handle; enforces one group at a time.
        attached: AtomicBool,
        /// The waker of the group this handle ends.
        waker: AtomicWaker,
    }

    impl CancelHandle {
        /// A handle that is not cancelled.
        ///
        /// ```
        /// assert!(!taskgroup::CancelHandle::new().is_cancelled());
        /// ```
        pub fn new() -> Self {
            Self::default()
        }

        /// Cancels: the group this handle ends is woken and ends at its next poll. Doing it
        /// again, or after the group completed, does nothing more.
        ///
        /// ```
        /// let handle = taskgroup::CancelHandle::new();
        /// handle.cancel();
        /// assert!(handle.is_cancelled());
        /// ```
        pub fn cancel(&self) {
            // Release: a group that sees the flag also sees what the canceller did before.
            if !self.shared.cancelled.swap(true, Ordering::AcqRel) {
                self.shared.waker.wake();
            }
        }

        /// Whether [`cancel`](CancelHandle::cancel) was called on this handle or a clone.
        ///
        /// ```
        /// let handle = taskgroup::CancelHandle::new();
        /// assert!(!handle.clone().is_cancelled());
        /// ```
        pub fn is_cancelled(&self) -> bool {
            self.shared.cancelled.load(Ordering::Acquire)
        }
    }

    impl core::fmt::Debug for CancelHandle {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("CancelHandle")
                .field("cancelled", &self.is_cancelled())
                .finish()
        }
    }

    /// A [`CancelHandle`] attached to a group, as its [`Stop`]; released when the group is
    /// dropped.
    ///
    /// ```
    /// let group = taskgroup::try_join([async { Ok::<_, ()>(1) }]).with_cancel(taskgroup::CancelHandle::new());
    /// let _: &taskgroup::Until<_, taskgroup::Cancellation> = &group;
    /// ```
    #[derive(Debug)]
    pub struct Cancellation {
        handle: CancelHandle,
    }

    impl Cancellation {
        pub(super) fn attach(handle: CancelHandle) -> Self {
            assert!(
                !handle.shared.attached.swap(true, Ordering::AcqRel),
                "this `CancelHandle` already ends another group that is still alive; \
                 make one handle per group"
            );
            Cancellation { handle }
        }
    }

    impl Drop for Cancellation {
        fn drop(&mut self) {
            self.handle.shared.attached.store(false, Ordering::Release);
        }
    }

    impl private::Sealed for Cancellation {}
    impl Stop for Cancellation {
        fn poll_stop(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
            let shared = &self.handle.shared;
            // Register before checking: a `cancel` after the check wakes this waker.
            shared.waker.register(cx.waker());
            if shared.cancelled.load(Ordering::Acquire) {
                Poll::Ready(Reason::Cancelled)
            } else {
                Poll::Pending
            }
        }
    }
}
