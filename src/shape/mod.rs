//! How a group stores its children and their outputs: one thin adapter per shape.
//!
//! Every shape is a row of slots (fields of a generated struct for a tuple, an array, or a boxed
//! slice), each slot holding a running child, its output, or nothing. A shape answers four
//! questions for the engine: how many children, poll child `i`, drop child `i` in place, and hand
//! over the outputs. The rules of the group (who is polled, when it fails, what is dropped) live
//! in the engine, never here. You meet these types only as the `S` in
//! [`TaskGroupFuture<S>`](crate::TaskGroupFuture).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project::pin_project;

mod array;
mod tuple;
#[cfg(feature = "alloc")]
mod vec;

pub use array::ArrayShape;
pub use tuple::*;
#[cfg(feature = "alloc")]
pub use vec::VecShape;

/// Marker types that say how a child's output is read.
pub mod mode {
    /// Children return `Result<T, E>`: `Ok` is kept as the output, `Err` fails the group.
    /// Used by [`try_join`](crate::try_join).
    ///
    /// ```
    /// use std::future::{ready, Ready};
    /// use taskgroup::shape::{mode, ArrayShape};
    /// use taskgroup::TaskGroupFuture;
    ///
    /// let group: TaskGroupFuture<ArrayShape<mode::TryJoin, Ready<Result<u8, ()>>, 1>> =
    ///     taskgroup::try_join([ready(Ok(1))]);
    /// assert_eq!(futures::executor::block_on(group), Ok([1]));
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct TryJoin;

    /// Children cannot fail: their output is kept as it is. Used by [`join`](crate::join).
    ///
    /// ```
    /// use std::future::{ready, Ready};
    /// use taskgroup::shape::{mode, ArrayShape};
    /// use taskgroup::JoinFuture;
    ///
    /// let group: JoinFuture<ArrayShape<mode::Join, Ready<&str>, 2>> =
    ///     taskgroup::join([ready("a"), ready("b")]);
    /// assert_eq!(futures::executor::block_on(group), ["a", "b"]);
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct Join;
}

/// How a child's output is read under mode `M`: a value to keep, or an error for the group.
///
/// Implemented for `Result<T, E>` under [`mode::TryJoin`] and for every type under
/// [`mode::Join`]. Sealed: the crate's modes are the only ones.
///
/// ```
/// use taskgroup::shape::{mode, Interpret};
///
/// fn kept<O: Interpret<mode::TryJoin, Value = u8, Error = String>>() {}
/// kept::<Result<u8, String>>();
/// ```
pub trait Interpret<M>: Sized + private::SealedOutput<M> {
    /// What the group keeps as the child's output.
    type Value;
    /// What fails the group.
    type Error;
    #[doc(hidden)]
    fn interpret(self) -> Result<Self::Value, Self::Error>;
}

impl<T, E> private::SealedOutput<mode::TryJoin> for Result<T, E> {}
impl<T, E> Interpret<mode::TryJoin> for Result<T, E> {
    type Value = T;
    type Error = E;
    #[inline]
    fn interpret(self) -> Result<T, E> {
        self
    }
}

impl<T> private::SealedOutput<mode::Join> for T {}
impl<T> Interpret<mode::Join> for T {
    type Value = T;
    type Error = core::convert::Infallible;
    #[inline]
    fn interpret(self) -> Result<T, core::convert::Infallible> {
        Ok(self)
    }
}

/// A collection of children stored in place: implemented by [`ArrayShape`], [`VecShape`] and the
/// `TupleN` shapes. You never implement or call it; it names a group's output and error types.
///
/// ```
/// use taskgroup::shape::Shape;
/// use taskgroup::TaskGroupFuture;
///
/// // A function that accepts any fail-fast group whose children fail with `std::io::Error`.
/// async fn run<S: Shape<Error = std::io::Error>>(group: TaskGroupFuture<S>) -> usize {
///     match group.await {
///         Ok(_) => 0,
///         Err(errors) => errors.len(),
///     }
/// }
/// let failed = run(taskgroup::try_join([async { Err::<(), _>(std::io::Error::other("x")) }]));
/// assert_eq!(futures::executor::block_on(failed), 1);
/// ```
#[allow(clippy::len_without_is_empty)] // internal plumbing; the futures expose `is_empty`
pub trait Shape: private::SealedShape {
    /// The group's output when every child succeeds: `[T; N]`, `Vec<T>` or a tuple of values.
    type Output;
    /// The children's common error type.
    type Error;

    #[doc(hidden)]
    fn len(&self) -> usize;

    /// Polls child `index` if it is still running.
    #[doc(hidden)]
    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Step<Self::Error>;

    /// Drops child `index` or its output in place; `true` if the child was still running.
    #[doc(hidden)]
    fn release(self: Pin<&mut Self>, index: usize) -> bool;

    /// Takes every output. Called once, after every child completed with a value.
    #[doc(hidden)]
    fn take_output(self: Pin<&mut Self>) -> Self::Output;
}

/// Converts a collection of futures into the [`Shape`] that stores them for mode `M`.
///
/// Implemented for tuples of up to 12 futures, arrays `[F; N]`, `Vec<F>` and
/// [`TaskGroup<F>`](crate::TaskGroup). For tuples every child must have the same error type.
///
/// ```
/// use taskgroup::shape::{mode, IntoShape};
///
/// // Anything `try_join` accepts.
/// fn fail_fast<C: IntoShape<mode::TryJoin>>(children: C) -> taskgroup::TaskGroupFuture<C::Shape> {
///     taskgroup::try_join(children)
/// }
/// let group = fail_fast((async { Ok::<_, ()>(1) }, async { Ok(()) }));
/// assert_eq!(futures::executor::block_on(group), Ok((1, ())));
/// ```
pub trait IntoShape<M>: private::SealedInput {
    /// The shape that stores these children.
    type Shape: Shape;
    #[doc(hidden)]
    fn into_shape(self) -> Self::Shape;
}

/// What polling one child did.
#[doc(hidden)]
#[derive(Debug)]
pub enum Step<E> {
    /// The child was not running (finished or dropped earlier): a stale wake.
    Idle,
    /// The child is still running.
    Pending,
    /// The child finished and its value is stored.
    Done,
    /// The child failed with this error; its slot is now empty.
    Failed(E),
}

/// One child: running, finished with its value, or empty (failed, dropped, or value taken).
#[pin_project(project = SlotProj, project_replace = SlotOwn)]
#[derive(Debug)]
pub(crate) enum Slot<F, V> {
    Running(#[pin] F),
    Done(V),
    Empty,
}

impl<F: Future, V> Slot<F, V> {
    #[inline]
    pub(crate) fn poll<M>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Step<<F::Output as Interpret<M>>::Error>
    where
        F::Output: Interpret<M, Value = V>,
    {
        let output = match self.as_mut().project() {
            SlotProj::Running(child) => match child.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return Step::Pending,
            },
            _ => return Step::Idle,
        };
        // Replacing the slot drops the finished child in place.
        match output.interpret() {
            Ok(value) => {
                self.project_replace(Slot::Done(value));
                Step::Done
            }
            Err(error) => {
                self.project_replace(Slot::Empty);
                Step::Failed(error)
            }
        }
    }

    #[inline]
    pub(crate) fn release(self: Pin<&mut Self>) -> bool {
        matches!(self.project_replace(Slot::Empty), SlotOwn::Running(_))
    }

    /// The value of a finished slot, moved out of an unpinned slot.
    #[cfg(feature = "alloc")]
    #[inline]
    pub(crate) fn into_value(self) -> V {
        match self {
            Slot::Done(value) => value,
            _ => unreachable!("taskgroup: output taken from a child that did not finish"),
        }
    }

    #[inline]
    pub(crate) fn take(self: Pin<&mut Self>) -> V {
        match self.project_replace(Slot::Empty) {
            SlotOwn::Done(value) => value,
            _ => unreachable!("taskgroup: output taken from a child that did not finish"),
        }
    }
}

/// Child `index` of a pinned row of slots, pinned.
#[inline]
pub(crate) fn slot_at<T>(slots: Pin<&mut [T]>, index: usize) -> Pin<&mut T> {
    // SAFETY: pinning a slice pins each of its elements: the element is handed out only as
    // `Pin<&mut T>`, and nothing in the crate moves an element out of a pinned row (slots are
    // replaced in place through `project_replace`, which drops the pinned future in place).
    unsafe { slots.map_unchecked_mut(|row| &mut row[index]) }
}

pub(crate) mod private {
    //! Seals the crate's traits: only the crate implements them.

    /// Seals [`Interpret`](super::Interpret).
    pub trait SealedOutput<M> {}
    /// Seals [`Shape`](super::Shape).
    pub trait SealedShape {}
    /// Seals [`IntoShape`](super::IntoShape).
    pub trait SealedInput {}
}
