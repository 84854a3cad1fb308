//! [`TaskGroup`]: a group built up child by child.

use alloc::vec::Vec;
use core::future::{Future, IntoFuture};

use crate::group::TaskGroupFuture;
use crate::shape::{mode, private, Interpret, IntoShape, VecShape};

/// A group of children of one type, built with [`push`](TaskGroup::push), [`FromIterator`] or
/// [`Extend`], then awaited as a whole (feature `alloc`).
///
/// Awaiting a `TaskGroup` runs it like [`try_join`](crate::try_join) over a `Vec`: children
/// return `Result<T, E>`, the output is `Result<Vec<T>, ErrorGroup<E>>` in push order, and the
/// first failure drops every unfinished sibling. Children of different types fit in one group
/// as boxed futures (`Pin<Box<dyn Future<Output = ..> + '_>>`).
///
/// ```
/// # futures::executor::block_on(async {
/// use taskgroup::TaskGroup;
///
/// async fn query(n: u32) -> Result<u32, String> { Ok(n * 100) }
///
/// let mut group = TaskGroup::new();
/// let first = group.push(query(1));
/// group.push(query(2));
/// group.extend([query(3), query(4)]);
/// assert_eq!(first, 0);
///
/// let rows = group.await?;
/// assert_eq!(rows, [100, 200, 300, 400]);
///
/// // Or from an iterator.
/// let rows: Vec<u32> = (5..8).map(query).collect::<TaskGroup<_>>().await?;
/// assert_eq!(rows, [500, 600, 700]);
/// # Ok::<(), taskgroup::ErrorGroup<String>>(())
/// # }).unwrap();
/// ```
#[must_use = "a TaskGroup runs nothing until it is awaited"]
#[derive(Debug)]
pub struct TaskGroup<F> {
    children: Vec<F>,
}

impl<F> TaskGroup<F> {
    /// An empty group. Awaiting an empty group yields an empty `Vec` at once.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let group = taskgroup::TaskGroup::<std::future::Ready<Result<u8, ()>>>::new();
    /// assert_eq!(group.await, Ok(vec![]));
    /// # });
    /// ```
    pub fn new() -> Self {
        TaskGroup {
            children: Vec::new(),
        }
    }

    /// An empty group with room for `capacity` children before it reallocates.
    ///
    /// ```
    /// let group = taskgroup::TaskGroup::<std::future::Ready<Result<u8, ()>>>::with_capacity(16);
    /// assert!(group.is_empty());
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        TaskGroup {
            children: Vec::with_capacity(capacity),
        }
    }

    /// Adds a child and returns its index: its position in the output and the index its error
    /// carries in the [`ErrorGroup`](crate::ErrorGroup).
    ///
    /// ```
    /// use std::future::{ready, Ready};
    ///
    /// let mut group = taskgroup::TaskGroup::<Ready<Result<u8, ()>>>::new();
    /// assert_eq!(group.push(ready(Ok(1))), 0);
    /// assert_eq!(group.push(ready(Ok(2))), 1);
    /// ```
    pub fn push(&mut self, child: F) -> usize {
        self.children.push(child);
        self.children.len() - 1
    }

    /// Number of children added so far.
    ///
    /// ```
    /// let group: taskgroup::TaskGroup<_> = (0..3).map(|i| async move { Ok::<_, ()>(i) }).collect();
    /// assert_eq!(group.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// `true` if no child was added.
    ///
    /// ```
    /// assert!(taskgroup::TaskGroup::<std::future::Pending<Result<(), ()>>>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

impl<F: Future> TaskGroup<F> {
    /// Runs infallible children and returns their outputs in push order, like
    /// [`join`](crate::join).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// async fn letter(c: char) -> char { c }
    ///
    /// let mut group = taskgroup::TaskGroup::new();
    /// group.push(letter('a'));
    /// group.push(letter('b'));
    /// assert_eq!(group.join().await, ['a', 'b']);
    /// # });
    /// ```
    pub fn join(self) -> TaskGroupFuture<VecShape<mode::Join, F>> {
        crate::join(self.children)
    }
}

impl<F> Default for TaskGroup<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> FromIterator<F> for TaskGroup<F> {
    fn from_iter<I: IntoIterator<Item = F>>(children: I) -> Self {
        TaskGroup {
            children: children.into_iter().collect(),
        }
    }
}

impl<F> Extend<F> for TaskGroup<F> {
    fn extend<I: IntoIterator<Item = F>>(&mut self, children: I) {
        self.children.extend(children);
    }
}

impl<F: Future> IntoFuture for TaskGroup<F>
where
    F::Output: Interpret<mode::TryJoin>,
{
    type Output = <TaskGroupFuture<VecShape<mode::TryJoin, F>> as Future>::Output;
    type IntoFuture = TaskGroupFuture<VecShape<mode::TryJoin, F>>;

    fn into_future(self) -> Self::IntoFuture {
        crate::try_join(self.children)
    }
}

impl<F> private::SealedInput for TaskGroup<F> {}

impl<M, F: Future> IntoShape<M> for TaskGroup<F>
where
    F::Output: Interpret<M>,
{
    type Shape = VecShape<M, F>;

    fn into_shape(self) -> Self::Shape {
        VecShape::new(self.children)
    }
}
