//! Groups that run at most `n` children at a time, taking them from an iterator as slots free up:
//! [`TaskGroupFuture::limit`](crate::TaskGroupFuture::limit).
//!
//! The group owns a window of `n` slots. When the child in a slot finishes, its value moves
//! aside to its input position and the next child from the iterator starts in the same slot, so
//! the wakers (which point at slots) stay valid and the window never moves. Children are taken
//! from the iterator only when a slot frees up: an iterator of a million children is never
//! materialised.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::Context;

use super::{private, slot_at, Interpret, IntoShape, Row, Shape, Slot, Step};

type Value<M, F> = <<F as Future>::Output as Interpret<M>>::Value;

/// Children taken from an iterator as the group needs them; see [`lazy`](crate::lazy).
///
/// ```
/// let children = taskgroup::lazy((0..3).map(|i| async move { Ok::<_, ()>(i) }));
/// let _: &taskgroup::shape::Lazy<_> = &children;
/// ```
#[derive(Debug, Clone)]
pub struct Lazy<I> {
    children: I,
}

impl<I> Lazy<I> {
    pub(crate) fn new(children: I) -> Self {
        Lazy { children }
    }
}

impl<I> private::SealedInput for Lazy<I> {}

impl<M, I> IntoShape<M> for Lazy<I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    type Shape = LimitShape<M, I>;

    fn into_shape(self) -> Self::Shape {
        LimitShape::new(self.children, None)
    }
}

/// The storage of a group with a concurrency limit, or of a [`lazy`](crate::lazy) group; its
/// output is `Vec<T>` in input order.
///
/// ```
/// use std::future::{ready, Ready};
/// use taskgroup::shape::{mode, LimitShape};
///
/// let group: taskgroup::TaskGroupFuture<LimitShape<mode::TryJoin, std::vec::IntoIter<Ready<Result<u8, ()>>>>> =
///     taskgroup::try_join(vec![ready(Ok(1)), ready(Ok(2))]).limit(1);
/// assert_eq!(futures::executor::block_on(group), Ok(vec![1, 2]));
/// ```
pub struct LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    /// The children not started yet; `None` once exhausted or released.
    children: Option<I>,
    /// At most this many children run at once; `None`: all of them.
    limit: Option<usize>,
    /// The window: empty until the group starts.
    slots: Row<M, I::Item>,
    /// The input position of the child in each slot.
    input: Box<[usize]>,
    /// Finished children's values by input position; `None` while a child runs.
    outputs: Vec<Option<Value<M, I::Item>>>,
    mode: PhantomData<fn() -> M>,
}

impl<M, I> LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    pub(crate) fn new(children: I, limit: Option<usize>) -> Self {
        LimitShape {
            children: Some(children),
            limit,
            slots: Box::into_pin(Box::default()),
            input: Box::default(),
            outputs: Vec::new(),
            mode: PhantomData,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    /// The next child from the iterator, with its input position reserved in the outputs.
    fn next_child(&mut self) -> Option<(usize, I::Item)> {
        let child = self.children.as_mut()?.next();
        match child {
            Some(child) => {
                self.outputs.push(None);
                Some((self.outputs.len() - 1, child))
            }
            None => {
                // Exhausted: let go of the iterator (and whatever it borrows or owns) now.
                self.children = None;
                None
            }
        }
    }
}

impl<M, I> fmt::Debug for LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitShape")
            .field("limit", &self.limit)
            .field("slots", &self.slots.len())
            .field("started", &self.outputs.len())
            .finish_non_exhaustive()
    }
}

// The slots are behind a pinned box, so moving the shape never moves a child.
impl<M, I> Unpin for LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
}

impl<M, I> private::SealedShape for LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
}

impl<M, I> Shape for LimitShape<M, I>
where
    I: Iterator,
    I::Item: Future,
    <I::Item as Future>::Output: Interpret<M>,
{
    type Mode = M;
    type Output = Vec<Value<M, I::Item>>;
    type Error = <<I::Item as Future>::Output as Interpret<M>>::Error;

    #[inline]
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn start(self: Pin<&mut Self>) -> usize {
        let this = self.get_mut();
        let limit = this.limit.unwrap_or(usize::MAX);
        let expected = this.children.as_ref().map_or(0, |c| c.size_hint().0);
        this.outputs.reserve(expected);
        let mut window = Vec::with_capacity(expected.min(limit));
        while window.len() < limit {
            match this.next_child() {
                Some((_, child)) => window.push(Slot::Running(child)),
                None => break,
            }
        }
        // The first children take the first slots, in order.
        this.input = (0..window.len()).collect();
        this.slots = Box::into_pin(window.into_boxed_slice());
        this.slots.len()
    }

    #[inline(always)]
    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Step<Self::Error> {
        slot_at(self.get_mut().slots.as_mut(), index).poll::<M>(cx)
    }

    fn refill(self: Pin<&mut Self>, index: usize, next: bool) -> bool {
        let this = self.get_mut();
        let value = slot_at(this.slots.as_mut(), index).take();
        this.outputs[this.input[index]] = Some(value);
        if !next {
            return false;
        }
        match this.next_child() {
            Some((position, child)) => {
                // The slot is empty: setting it moves the new child into its pinned place.
                slot_at(this.slots.as_mut(), index).set(Slot::Running(child));
                this.input[index] = position;
                true
            }
            None => false,
        }
    }

    #[inline]
    fn input_index(&self, index: usize) -> usize {
        self.input[index]
    }

    #[inline]
    fn release(self: Pin<&mut Self>, index: usize) -> bool {
        slot_at(self.get_mut().slots.as_mut(), index).release()
    }

    fn release_rest(self: Pin<&mut Self>) {
        let this = self.get_mut();
        this.children = None;
        this.outputs = Vec::new();
    }

    fn take_output(self: Pin<&mut Self>) -> Self::Output {
        core::mem::take(&mut self.get_mut().outputs)
            .into_iter()
            .map(|value| value.expect("taskgroup: output taken from a child that did not finish"))
            .collect()
    }
}
