//! `Vec<F>` and [`TaskGroup`](crate::TaskGroup): the slots live in one boxed slice.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::Context;

use super::{private, slot_at, Interpret, IntoShape, Row, Shape, Slot, Step};

type Value<M, F> = <<F as Future>::Output as Interpret<M>>::Value;

/// The storage of a group made from a `Vec<F>` or a [`TaskGroup<F>`](crate::TaskGroup); its
/// output is `Vec<T>`.
///
/// The children move into one boxed slice when the group is made; the group future itself is
/// `Unpin`.
///
/// ```
/// use std::future::{ready, Ready};
/// use taskgroup::shape::{mode, VecShape};
///
/// let group: taskgroup::TaskGroupFuture<VecShape<mode::TryJoin, Ready<Result<u8, ()>>>> =
///     taskgroup::try_join(vec![ready(Ok(1)), ready(Ok(2))]);
/// assert_eq!(futures::executor::block_on(group), Ok(vec![1, 2]));
/// ```
pub struct VecShape<M, F: Future>
where
    F::Output: Interpret<M>,
{
    slots: Row<M, F>,
    /// Number of children, kept apart because the slots are handed over with the output.
    len: usize,
    mode: PhantomData<fn() -> M>,
}

impl<M, F: Future> VecShape<M, F>
where
    F::Output: Interpret<M>,
{
    pub(crate) fn new(children: Vec<F>) -> Self {
        // The slots take the children's own allocation when the layouts allow it (the standard
        // library collects in place), else one allocation of exactly `len` slots. Collected
        // through `Vec` itself rather than `Box<[_]>`'s `FromIterator`: a build that kept that
        // one out of line copied every child once more (BENCHMARKS.md, "What changed").
        let slots: Vec<_> = children.into_iter().map(Slot::Running).collect();
        let slots = slots.into_boxed_slice();
        VecShape {
            len: slots.len(),
            slots: Box::into_pin(slots),
            mode: PhantomData,
        }
    }
}

impl<M, F: Future> VecShape<M, F>
where
    F::Output: Interpret<M>,
{
    /// The children back, in order, to be started elsewhere.
    ///
    /// # Safety
    ///
    /// No child may ever have been polled or otherwise handed out pinned: the group must never
    /// have been polled or interrupted.
    pub(crate) unsafe fn into_unpolled(self) -> Vec<F> {
        // SAFETY: by the caller's promise no `Pin<&mut F>` to any child was ever made: the crate
        // makes one only in `poll_child` and `release` (called by the group's poll and
        // interrupt), and nothing else can reach the slots. A child never handed out pinned has
        // no code that could rely on its address, so moving it is as sound as moving it before
        // it was boxed.
        let slots = unsafe { Pin::into_inner_unchecked(self.slots) };
        Vec::from(slots).into_iter().map(Slot::into_child).collect()
    }
}

impl<M, F: Future> fmt::Debug for VecShape<M, F>
where
    F::Output: Interpret<M>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecShape")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

// The slots are behind a pinned box, so moving the shape never moves a child.
impl<M, F: Future> Unpin for VecShape<M, F> where F::Output: Interpret<M> {}

impl<M, F: Future> private::SealedShape for VecShape<M, F> where F::Output: Interpret<M> {}

impl<M, F: Future> Shape for VecShape<M, F>
where
    F::Output: Interpret<M>,
{
    type Mode = M;
    type Output = Vec<Value<M, F>>;
    type Error = <F::Output as Interpret<M>>::Error;

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Step<Self::Error> {
        slot_at(self.get_mut().slots.as_mut(), index).poll::<M>(cx)
    }

    #[inline]
    fn release(self: Pin<&mut Self>, index: usize) -> bool {
        slot_at(self.get_mut().slots.as_mut(), index).release()
    }

    fn take_output(self: Pin<&mut Self>) -> Self::Output {
        let slots = core::mem::replace(&mut self.get_mut().slots, Box::into_pin(Box::default()));
        // SAFETY: the engine takes the output only once every child finished, so every slot is
        // `Done(value)`: each child future, the only structurally pinned part of a slot, was
        // already dropped in place, which ends its pinning guarantee. Moving the slots now moves
        // only unpinned values.
        let slots = unsafe { Pin::into_inner_unchecked(slots) };
        // Collecting from the slots' own `Vec` lets the standard library reuse their allocation
        // for the output when the layouts allow it: no allocation for the output then.
        Vec::from(slots).into_iter().map(Slot::into_value).collect()
    }
}

impl<F> private::SealedInput for Vec<F> {}

impl<M, F: Future> IntoShape<M> for Vec<F>
where
    F::Output: Interpret<M>,
{
    type Shape = VecShape<M, F>;

    fn into_shape(self) -> Self::Shape {
        VecShape::new(self)
    }
}
