//! Arrays `[F; N]`: the slots live inline in the group, no allocator needed.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::Context;

use pin_project::pin_project;

use super::{private, slot_at, Interpret, IntoShape, Shape, Slot, Step};

type Value<M, F> = <<F as Future>::Output as Interpret<M>>::Value;

/// The storage of a group made from an array `[F; N]`; its output is `[T; N]`.
///
/// The children live inline in the group future: no allocator is needed for them.
///
/// ```
/// use std::future::{ready, Ready};
/// use taskgroup::shape::{mode, ArrayShape};
///
/// let group: taskgroup::TaskGroupFuture<ArrayShape<mode::TryJoin, Ready<Result<u8, ()>>, 2>> =
///     taskgroup::try_join([ready(Ok(1)), ready(Ok(2))]);
/// assert_eq!(futures::executor::block_on(group), Ok([1, 2]));
/// ```
#[pin_project]
pub struct ArrayShape<M, F: Future, const N: usize>
where
    F::Output: Interpret<M>,
{
    #[pin]
    slots: [Slot<F, Value<M, F>>; N],
    mode: PhantomData<fn() -> M>,
}

impl<M, F: Future, const N: usize> fmt::Debug for ArrayShape<M, F, N>
where
    F::Output: Interpret<M>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayShape")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

impl<M, F: Future, const N: usize> private::SealedShape for ArrayShape<M, F, N> where
    F::Output: Interpret<M>
{
}

impl<M, F: Future, const N: usize> Shape for ArrayShape<M, F, N>
where
    F::Output: Interpret<M>,
{
    type Mode = M;
    type Output = [Value<M, F>; N];
    type Error = <F::Output as Interpret<M>>::Error;

    #[inline]
    fn len(&self) -> usize {
        N
    }

    #[inline(always)]
    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Step<Self::Error> {
        slot_at(self.project().slots, index).poll::<M>(cx)
    }

    #[inline]
    fn release(self: Pin<&mut Self>, index: usize) -> bool {
        slot_at(self.project().slots, index).release()
    }

    #[inline(always)]
    fn take_output(self: Pin<&mut Self>) -> Self::Output {
        let mut slots: Pin<&mut [_]> = self.project().slots;
        core::array::from_fn(|index| slot_at(slots.as_mut(), index).take())
    }
}

impl<F, const N: usize> private::SealedInput for [F; N] {}

impl<M, F: Future, const N: usize> IntoShape<M> for [F; N]
where
    F::Output: Interpret<M>,
{
    type Shape = ArrayShape<M, F, N>;

    fn into_shape(self) -> Self::Shape {
        ArrayShape {
            slots: self.map(Slot::Running),
            mode: PhantomData,
        }
    }
}
