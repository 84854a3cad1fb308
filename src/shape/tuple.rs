//! Tuples `(F0, F1, ..)` of up to 12 differently typed children with one error type: the slots
//! are fields of a generated struct, inline, no allocator needed.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::Context;

use pin_project::pin_project;

use super::{private, Interpret, IntoShape, Rows, Shape, Slot, Step};

type Value<M, F> = <<F as Future>::Output as Interpret<M>>::Value;
type Error<M, F> = <<F as Future>::Output as Interpret<M>>::Error;

/// Generates the shape struct of one tuple arity. The first child fixes the error type.
macro_rules! tuple_shape {
    (@each $F:ident $text:literal) => {
        $text
    };
    (@same $F:ident) => {
        T
    };
    ($Shape:ident, $len:literal; $F0:ident $s0:ident $(, $F:ident $s:ident $i:literal)*) => {
        #[doc = concat!("The storage of a group made from a tuple of ", stringify!($len), " futures;")]
        #[doc = "its output is the tuple of their values. The first child fixes the error type."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use std::future::{ready, Ready};"]
        #[doc = concat!("use taskgroup::shape::{mode, ", stringify!($Shape), "};")]
        #[doc = ""]
        #[doc = "type Child = Ready<Result<u8, ()>>;"]
        #[doc = concat!(
            "let group: taskgroup::TaskGroupFuture<", stringify!($Shape), "<mode::TryJoin, Child",
            $(tuple_shape!(@each $F ", Child"),)* ">> ="
        )]
        #[doc = concat!(
            "    taskgroup::try_join((ready(Ok(0)),", $(tuple_shape!(@each $F " ready(Ok("), $i, ")),",)* "));"
        )]
        #[doc = concat!(
            "let values = futures::executor::block_on(group).unwrap();"
        )]
        #[doc = concat!("assert_eq!(values, (0,", $($i, ",",)* "));")]
        #[doc = "```"]
        #[pin_project]
        pub struct $Shape<M, $F0: Future, $($F: Future),*>
        where
            $F0::Output: Interpret<M>,
            $($F::Output: Interpret<M, Error = Error<M, $F0>>,)*
        {
            #[pin]
            $s0: Slot<$F0, Value<M, $F0>>,
            $(#[pin] $s: Slot<$F, Value<M, $F>>,)*
            mode: PhantomData<fn() -> M>,
        }

        impl<M, $F0: Future, $($F: Future),*> fmt::Debug for $Shape<M, $F0, $($F),*>
        where
            $F0::Output: Interpret<M>,
            $($F::Output: Interpret<M, Error = Error<M, $F0>>,)*
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Shape)).finish_non_exhaustive()
            }
        }

        impl<M, $F0: Future, $($F: Future),*> private::SealedShape for $Shape<M, $F0, $($F),*>
        where
            $F0::Output: Interpret<M>,
            $($F::Output: Interpret<M, Error = Error<M, $F0>>,)*
        {
        }

        impl<M, $F0: Future, $($F: Future),*> Shape for $Shape<M, $F0, $($F),*>
        where
            $F0::Output: Interpret<M>,
            $($F::Output: Interpret<M, Error = Error<M, $F0>>,)*
        {
            type Mode = M;
            type Output = (Value<M, $F0>, $(Value<M, $F>,)*);
            type Error = Error<M, $F0>;

            #[inline]
            fn len(&self) -> usize {
                $len
            }

            #[inline(always)]
            fn poll_child(
                self: Pin<&mut Self>,
                index: usize,
                cx: &mut Context<'_>,
            ) -> Step<Self::Error> {
                let this = self.project();
                match index {
                    0 => this.$s0.poll::<M>(cx),
                    $($i => this.$s.poll::<M>(cx),)*
                    _ => unreachable!("child index out of range"),
                }
            }

            #[inline]
            fn release(self: Pin<&mut Self>, index: usize) -> bool {
                let this = self.project();
                match index {
                    0 => this.$s0.release(),
                    $($i => this.$s.release(),)*
                    _ => unreachable!("child index out of range"),
                }
            }

            #[inline(always)]
            fn visit_fields<V: super::Visit<Self::Error>>(
                self: Pin<&mut Self>,
                visitor: &mut V,
            ) -> Option<bool> {
                let mut this = self.project();
                Some(
                    visitor.field(0, |cx| this.$s0.as_mut().poll::<M>(cx))
                        $(&& visitor.field($i, |cx| this.$s.as_mut().poll::<M>(cx)))*
                )
            }

            #[inline(always)]
            fn take_output(self: Pin<&mut Self>) -> Self::Output {
                let this = self.project();
                (this.$s0.take(), $(this.$s.take(),)*)
            }
        }

        impl<T> private::SealedRows for (T, $(tuple_shape!(@same $F),)*) {}

        impl<T> Rows for (T, $(tuple_shape!(@same $F),)*) {
            type Item = T;
            type Iter = core::array::IntoIter<T, $len>;

            fn rows(self) -> Self::Iter {
                let ($s0, $($s,)*) = self;
                [$s0, $($s,)*].into_iter()
            }
        }

        impl<$F0, $($F),*> private::SealedInput for ($F0, $($F,)*) {}

        impl<M, $F0: Future, $($F: Future),*> IntoShape<M> for ($F0, $($F,)*)
        where
            $F0::Output: Interpret<M>,
            $($F::Output: Interpret<M, Error = Error<M, $F0>>,)*
        {
            type Shape = $Shape<M, $F0, $($F),*>;

            fn into_shape(self) -> Self::Shape {
                let ($s0, $($s,)*) = self;
                $Shape {
                    $s0: Slot::Running($s0),
                    $($s: Slot::Running($s),)*
                    mode: PhantomData,
                }
            }
        }
    };
}

tuple_shape!(Tuple1, 1; F0 s0);
tuple_shape!(Tuple2, 2; F0 s0, F1 s1 1);
tuple_shape!(Tuple3, 3; F0 s0, F1 s1 1, F2 s2 2);
tuple_shape!(Tuple4, 4; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3);
tuple_shape!(Tuple5, 5; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4);
tuple_shape!(Tuple6, 6; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5);
tuple_shape!(Tuple7, 7; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6);
tuple_shape!(Tuple8, 8; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6, F7 s7 7);
tuple_shape!(Tuple9, 9; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6, F7 s7 7,
    F8 s8 8);
tuple_shape!(Tuple10, 10; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6, F7 s7 7,
    F8 s8 8, F9 s9 9);
tuple_shape!(Tuple11, 11; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6, F7 s7 7,
    F8 s8 8, F9 s9 9, F10 s10 10);
tuple_shape!(Tuple12, 12; F0 s0, F1 s1 1, F2 s2 2, F3 s3 3, F4 s4 4, F5 s5 5, F6 s6 6, F7 s7 7,
    F8 s8 8, F9 s9 9, F10 s10 10, F11 s11 11);
