//! How a group stores its children and their outputs: one thin adapter per shape.
//!
//! Every shape is a row of slots (fields of a generated struct for a tuple, an array, or a boxed
//! slice), each slot holding a running child, its output, or nothing. A shape answers four
//! questions for the engine: how many children, poll child `i`, drop child `i` in place, and hand
//! over the outputs. The rules of the group (who is polled, when it fails, what is dropped) live
//! in the engine, never here. You meet these types only as the `S` in
//! [`TaskGroupFuture<S>`](crate::TaskGroupFuture).

use core::convert::Infallible;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project::pin_project;

use crate::error::{ErrorGroup, FirstOkError};

mod array;
#[cfg(feature = "alloc")]
mod limit;
mod tuple;
#[cfg(feature = "alloc")]
mod vec;

pub use array::ArrayShape;
#[cfg(feature = "alloc")]
pub use limit::{Lazy, LimitShape};
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
    /// use taskgroup::TaskGroupFuture;
    ///
    /// let group: TaskGroupFuture<ArrayShape<mode::Join, Ready<&str>, 2>> =
    ///     taskgroup::join([ready("a"), ready("b")]);
    /// assert_eq!(futures::executor::block_on(group), ["a", "b"]);
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct Join;

    /// Children return `Result<T, E>` and every one runs to completion: the output is each
    /// child's `Result`. Used by [`settle`](crate::settle).
    ///
    /// ```
    /// use std::future::{ready, Ready};
    /// use taskgroup::shape::{mode, ArrayShape};
    /// use taskgroup::TaskGroupFuture;
    ///
    /// let group: TaskGroupFuture<ArrayShape<mode::Settle, Ready<Result<u8, &str>>, 2>> =
    ///     taskgroup::settle([ready(Ok(1)), ready(Err("no"))]);
    /// assert_eq!(futures::executor::block_on(group), [Ok(1), Err("no")]);
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct Settle;

    /// Children return `Result<T, E>`; the first `Ok` wins. Used by
    /// [`first_ok`](crate::first_ok).
    ///
    /// Internally the roles are swapped: a child's `Err` is kept like a value, and its `Ok` ends
    /// the group the way an error ends a [`TryJoin`] group.
    ///
    /// ```
    /// use std::future::{ready, Ready};
    /// use taskgroup::shape::{mode, ArrayShape};
    /// use taskgroup::TaskGroupFuture;
    ///
    /// let group: TaskGroupFuture<ArrayShape<mode::FirstOk, Ready<Result<u8, &str>>, 2>> =
    ///     taskgroup::first_ok([ready(Err("no")), ready(Ok(2))]);
    /// assert_eq!(futures::executor::block_on(group).unwrap(), (1, 2));
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct FirstOk;

    /// The first child to finish wins, whatever its output. Used by [`race`](crate::race).
    ///
    /// ```
    /// use std::future::{pending, ready};
    /// use futures::future::Either;
    /// use taskgroup::shape::{mode, ArrayShape};
    ///
    /// let group = taskgroup::race([Either::Left(pending()), Either::Right(ready('b'))]);
    /// assert_eq!(futures::executor::block_on(group), (1, 'b'));
    /// ```
    #[derive(Debug, Clone, Copy)]
    pub struct Race;
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
    type Error = Infallible;
    #[inline]
    fn interpret(self) -> Result<T, Infallible> {
        Ok(self)
    }
}

impl<T, E> private::SealedOutput<mode::Settle> for Result<T, E> {}
impl<T, E> Interpret<mode::Settle> for Result<T, E> {
    type Value = Result<T, E>;
    type Error = Infallible;
    #[inline]
    fn interpret(self) -> Result<Result<T, E>, Infallible> {
        Ok(self)
    }
}

// First success swaps the roles: an `Err` is kept, an `Ok` ends the group.
impl<T, E> private::SealedOutput<mode::FirstOk> for Result<T, E> {}
impl<T, E> Interpret<mode::FirstOk> for Result<T, E> {
    type Value = E;
    type Error = T;
    #[inline]
    fn interpret(self) -> Result<E, T> {
        match self {
            Ok(value) => Err(value),
            Err(error) => Ok(error),
        }
    }
}

// A race ends at the first output of any kind.
impl<T> private::SealedOutput<mode::Race> for T {}
impl<T> Interpret<mode::Race> for T {
    type Value = Infallible;
    type Error = T;
    #[inline]
    fn interpret(self) -> Result<Infallible, T> {
        Err(self)
    }
}

/// What a group of mode `Self` returns, made from the engine's result for shape `S`.
///
/// The engine always computes `Result<S::Output, ErrorGroup<S::Error>>`, fail-fast style; each
/// mode turns that into its own output:
///
/// | mode | output |
/// |---|---|
/// | [`mode::TryJoin`] | `Result<S::Output, ErrorGroup<E>>` |
/// | [`mode::Join`], [`mode::Settle`] | `S::Output` |
/// | [`mode::FirstOk`] | `Result<(usize, T), FirstOkError<E>>` |
/// | [`mode::Race`] | `(usize, T)` |
///
/// Sealed: implemented by the crate's modes only.
///
/// ```
/// use taskgroup::shape::{mode, Finish, ArrayShape};
/// use std::future::Ready;
///
/// type Group = ArrayShape<mode::Settle, Ready<Result<u8, ()>>, 2>;
/// let _: <mode::Settle as Finish<Group>>::Output = [Ok(1), Err(())];
/// ```
pub trait Finish<S: Shape>: private::SealedMode {
    /// The output of the group's future.
    type Output;
    #[doc(hidden)]
    fn finish(result: Result<S::Output, ErrorGroup<S::Error>>) -> Self::Output;
}

impl private::SealedMode for mode::TryJoin {}
impl<S: Shape> Finish<S> for mode::TryJoin {
    type Output = Result<S::Output, ErrorGroup<S::Error>>;
    #[inline]
    fn finish(result: Result<S::Output, ErrorGroup<S::Error>>) -> Self::Output {
        result
    }
}

impl private::SealedMode for mode::Join {}
impl<S: Shape<Error = Infallible>> Finish<S> for mode::Join {
    type Output = S::Output;
    #[inline]
    fn finish(result: Result<S::Output, ErrorGroup<Infallible>>) -> S::Output {
        infallible(result)
    }
}

impl private::SealedMode for mode::Settle {}
impl<S: Shape<Error = Infallible>> Finish<S> for mode::Settle {
    type Output = S::Output;
    #[inline]
    fn finish(result: Result<S::Output, ErrorGroup<Infallible>>) -> S::Output {
        infallible(result)
    }
}

impl private::SealedMode for mode::FirstOk {}
impl<S: Shape> Finish<S> for mode::FirstOk
where
    S::Output: Rows,
{
    type Output = Result<(usize, S::Error), FirstOkError<<S::Output as Rows>::Item>>;
    fn finish(result: Result<S::Output, ErrorGroup<S::Error>>) -> Self::Output {
        match result {
            // The engine's "error" is the winner.
            Err(winner) => Ok(winner.into_first()),
            // Every child "succeeded", which here means every child failed.
            Ok(errors) => Err(match ErrorGroup::from_rows(errors.rows()) {
                Some(errors) => FirstOkError::AllFailed(errors),
                None => FirstOkError::Empty,
            }),
        }
    }
}

impl private::SealedMode for mode::Race {}
impl<S: Shape> Finish<S> for mode::Race {
    type Output = (usize, S::Error);
    fn finish(result: Result<S::Output, ErrorGroup<S::Error>>) -> Self::Output {
        match result {
            Err(winner) => winner.into_first(),
            // Only a group of no children completes without a winner.
            Ok(_) => {
                panic!("`taskgroup::race` needs at least one child: a race of none has no winner")
            }
        }
    }
}

fn infallible<T>(result: Result<T, ErrorGroup<Infallible>>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match *never.first().1 {},
    }
}

/// The outputs of a shape read as a row of same-typed values, child by child: `[T; N]`,
/// `Vec<T>`, or a tuple whose elements all have one type. [`first_ok`](crate::first_ok) reads
/// the children's errors this way when every child failed.
///
/// ```
/// use taskgroup::shape::Rows;
///
/// fn count<R: Rows>(rows: R) -> usize { rows.rows().count() }
/// assert_eq!(count(("a", "b", "c")), 3);
/// assert_eq!(count([1, 2]), 2);
/// ```
pub trait Rows: private::SealedRows {
    /// The type of every element.
    type Item;
    /// The iterator over the elements, in order.
    type Iter: Iterator<Item = Self::Item> + ExactSizeIterator;
    /// The elements in order.
    fn rows(self) -> Self::Iter;
}

impl<T, const N: usize> private::SealedRows for [T; N] {}
impl<T, const N: usize> Rows for [T; N] {
    type Item = T;
    type Iter = core::array::IntoIter<T, N>;
    fn rows(self) -> Self::Iter {
        self.into_iter()
    }
}

#[cfg(feature = "alloc")]
impl<T> private::SealedRows for alloc::vec::Vec<T> {}
#[cfg(feature = "alloc")]
impl<T> Rows for alloc::vec::Vec<T> {
    type Item = T;
    type Iter = alloc::vec::IntoIter<T>;
    fn rows(self) -> Self::Iter {
        self.into_iter()
    }
}

/// A collection of children stored in place: implemented by [`ArrayShape`], [`VecShape`] and the
/// `TupleN` shapes. You never implement or call it; it names a group's output and error types.
///
/// ```
/// use taskgroup::shape::{mode, Shape};
/// use taskgroup::TaskGroupFuture;
///
/// // A function that accepts any fail-fast group whose children fail with `std::io::Error`.
/// async fn run<S>(group: TaskGroupFuture<S>) -> usize
/// where
///     S: Shape<Mode = mode::TryJoin, Error = std::io::Error>,
/// {
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
    /// The mode the children were given in: one of the markers in [`mode`].
    type Mode;
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

    /// Sets the children up, at the group's first poll; returns how many are running.
    #[doc(hidden)]
    #[inline]
    fn start(self: Pin<&mut Self>) -> usize {
        self.len()
    }

    /// Child `index` finished with its value: a shape that reuses slots moves the value aside
    /// and, if `next`, starts its next child in the slot; `true` if it started one.
    #[doc(hidden)]
    #[inline]
    fn refill(self: Pin<&mut Self>, index: usize, next: bool) -> bool {
        let _ = (index, next);
        false
    }

    /// The position in the input of the child in slot `index`.
    #[doc(hidden)]
    #[inline]
    fn input_index(&self, index: usize) -> usize {
        index
    }

    /// Drops what the shape holds besides its slots: outputs set aside, children not started.
    #[doc(hidden)]
    #[inline]
    fn release_rest(self: Pin<&mut Self>) {}

    /// Hands every child to `visitor` in index order, each with a poll of its own field, so that
    /// the sweep keeps no dispatch on a child's index (a tuple's `poll_child` matches on it: a
    /// jump per child); stops at the first `false`. Only for shapes that never refill a slot
    /// and report each child as its own input index. `None` (the default) for shapes that index
    /// their slots without a dispatch: the engine polls those by index.
    #[doc(hidden)]
    #[inline(always)]
    fn visit_fields<V: Visit<Self::Error>>(self: Pin<&mut Self>, visitor: &mut V) -> Option<bool>
    where
        Self: Sized,
    {
        let _ = visitor;
        None
    }
}

/// What [`Shape::visit_fields`] hands every child to.
#[doc(hidden)]
pub trait Visit<E> {
    /// Visits child `index`, polled by `poll`; `false` stops the visit.
    #[doc(hidden)]
    fn field(&mut self, index: usize, poll: impl FnMut(&mut Context<'_>) -> Step<E>) -> bool;
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
    // Always inlined, and so is every shape's `poll_child` around it (marked alone, the
    // `poll_child` went out of line instead): it runs once per child in the engine's sweep, and
    // out of line, as LLVM left it for `join` over a `Vec` of 1024, a call per child cost a
    // quarter of a ready sweep (3.98 against 2.98 µs).
    #[inline(always)]
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

    /// The child of a slot that never started, moved out of an unpinned slot.
    #[cfg(feature = "alloc")]
    #[inline]
    pub(crate) fn into_child(self) -> F {
        match self {
            Slot::Running(child) => child,
            _ => unreachable!("taskgroup: a child taken back after it started"),
        }
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

/// A pinned, boxed row of slots for children `F` under mode `M`.
#[cfg(feature = "alloc")]
pub(crate) type Row<M, F> =
    Pin<alloc::boxed::Box<[Slot<F, <<F as Future>::Output as Interpret<M>>::Value>]>>;

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
    /// Seals [`Finish`](super::Finish).
    pub trait SealedMode {}
    /// Seals [`Rows`](super::Rows).
    pub trait SealedRows {}
}
