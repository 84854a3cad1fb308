//! [`ErrorGroup`]: every error a group observed when it failed, with the child that raised it.

use core::fmt;

#[cfg(feature = "alloc")]
type Storage<E> = smallvec::SmallVec<[(usize, E); 1]>;
#[cfg(not(feature = "alloc"))]
type Storage<E> = Option<(usize, E)>;

/// The errors of a failed group: never empty, ordered by child index.
///
/// A group fails when a sweep over its woken children sees one return `Err`. The group finishes
/// that sweep (children woken at the same moment may fail too), drops every unfinished child,
/// and returns all the errors of the sweep in one `ErrorGroup`, much like Python's
/// `ExceptionGroup`. Each error comes with the index of the child that raised it: its position in
/// the tuple, array or `Vec`, or the index [`TaskGroup::push`](crate::TaskGroup::push) returned.
///
/// With the `alloc` feature (the default) the errors live in a small vector that keeps the common
/// case, a single error, inline: a group that fails once allocates nothing for its errors.
/// Without `alloc` the group keeps the first error only and counts the others in
/// [`omitted`](ErrorGroup::omitted) (after dropping them).
///
/// ```
/// # futures::executor::block_on(async {
/// use taskgroup::ErrorGroup;
///
/// let failed: ErrorGroup<&str> = taskgroup::try_join([
///     Box::pin(async { Err("disk full") }) as std::pin::Pin<Box<dyn std::future::Future<Output = Result<u8, &str>>>>,
///     Box::pin(async { Ok(7) }),
///     Box::pin(async { Err("timed out") }),
/// ])
/// .await
/// .unwrap_err();
///
/// assert_eq!(failed.len(), 2);
/// assert_eq!(failed.first(), (0, &"disk full"));
/// assert_eq!(failed.iter().collect::<Vec<_>>(), [(0, &"disk full"), (2, &"timed out")]);
/// assert_eq!(failed.to_string(), "2 children failed, 0 cancelled\n  child 0: disk full\n  child 2: timed out");
/// # });
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ErrorGroup<E> {
    errors: Storage<E>,
    cancelled: usize,
    omitted: usize,
}

impl<E> ErrorGroup<E> {
    /// A group holding one error, raised by child `index`.
    ///
    /// Groups are normally made by the crate's futures; this is for code that wants to report an
    /// error of its own in the same shape, and for tests.
    ///
    /// ```
    /// let group = taskgroup::ErrorGroup::new(4, "refused");
    /// assert_eq!(group.first(), (4, &"refused"));
    /// assert_eq!(group.cancelled(), 0);
    /// ```
    pub fn new(index: usize, error: E) -> Self {
        let mut group = ErrorGroup {
            errors: Storage::default(),
            cancelled: 0,
            omitted: 0,
        };
        group.push(index, error);
        group
    }

    /// Adds an error; callers push in ascending child index.
    pub(crate) fn push(&mut self, index: usize, error: E) {
        #[cfg(feature = "alloc")]
        self.errors.push((index, error));
        #[cfg(not(feature = "alloc"))]
        if self.errors.is_none() {
            self.errors = Some((index, error));
        } else {
            drop(error);
            self.omitted += 1;
        }
    }

    /// A group of every error of `rows`, the row position as child index; `None` if empty.
    /// Reserves once for all of them.
    pub(crate) fn from_rows(rows: impl ExactSizeIterator<Item = E>) -> Option<Self> {
        let len = rows.len();
        let mut group: Option<Self> = None;
        for (index, error) in rows.enumerate() {
            match &mut group {
                Some(group) => group.push(index, error),
                None => {
                    let mut first = ErrorGroup::new(index, error);
                    first.reserve(len - 1);
                    group = Some(first);
                }
            }
        }
        group
    }

    /// A group of `(index, error)` pairs already in ascending index order; `None` if empty.
    #[cfg(feature = "alloc")]
    pub(crate) fn from_pairs(pairs: alloc::vec::Vec<(usize, E)>) -> Option<Self> {
        if pairs.is_empty() {
            return None;
        }
        Some(ErrorGroup {
            errors: Storage::from_vec(pairs),
            cancelled: 0,
            omitted: 0,
        })
    }

    /// Makes room for `additional` more errors in one allocation (with `alloc`).
    pub(crate) fn reserve(&mut self, additional: usize) {
        #[cfg(feature = "alloc")]
        self.errors.reserve_exact(additional);
        #[cfg(not(feature = "alloc"))]
        let _ = additional;
    }

    pub(crate) fn set_cancelled(&mut self, cancelled: usize) {
        self.cancelled = cancelled;
    }

    fn as_slice(&self) -> &[(usize, E)] {
        #[cfg(feature = "alloc")]
        return &self.errors;
        #[cfg(not(feature = "alloc"))]
        return self.errors.as_slice();
    }

    /// Number of errors held (at least one).
    ///
    /// ```
    /// assert_eq!(taskgroup::ErrorGroup::new(0, ()).len(), 1);
    /// ```
    #[allow(clippy::len_without_is_empty)] // an error group is never empty
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The error of the lowest child index, with that index.
    ///
    /// ```
    /// let group = taskgroup::ErrorGroup::new(2, "boom");
    /// let (index, error) = group.first();
    /// assert_eq!((index, *error), (2, "boom"));
    /// ```
    pub fn first(&self) -> (usize, &E) {
        let (index, error) = &self.as_slice()[0];
        (*index, error)
    }

    /// Consumes the group and returns its first error, with its child index, dropping the rest.
    ///
    /// ```
    /// assert_eq!(taskgroup::ErrorGroup::new(1, "x").into_first(), (1, "x"));
    /// ```
    pub fn into_first(self) -> (usize, E) {
        self.into_iter()
            .next()
            .expect("an ErrorGroup is never empty")
    }

    /// The errors with their child indices, in ascending index order.
    ///
    /// ```
    /// let group = taskgroup::ErrorGroup::new(3, 'a');
    /// assert_eq!(group.iter().collect::<Vec<_>>(), [(3, &'a')]);
    /// ```
    pub fn iter(&self) -> Iter<'_, E> {
        Iter {
            inner: self.as_slice().iter(),
        }
    }

    /// How many siblings were still unfinished when the group failed, and were dropped.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::future::{pending, ready, Future};
    /// use std::pin::Pin;
    /// type Child = Pin<Box<dyn Future<Output = Result<(), &'static str>>>>;
    ///
    /// let children: Vec<Child> = vec![Box::pin(pending()), Box::pin(ready(Err("no"))), Box::pin(pending())];
    /// let failed = taskgroup::try_join(children).await.unwrap_err();
    /// assert_eq!(failed.cancelled(), 2);
    /// # });
    /// ```
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }

    /// How many further errors were observed but not kept, because the crate was built without
    /// the `alloc` feature and keeps only the first error. Always `0` with `alloc`.
    ///
    /// ```
    /// assert_eq!(taskgroup::ErrorGroup::new(0, ()).omitted(), 0);
    /// ```
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Splits the group by a predicate on each error, like Python's `ExceptionGroup.split`:
    /// returns the group of matching errors and the group of the others, each `None` when empty.
    /// Both halves keep [`cancelled`](ErrorGroup::cancelled) and
    /// [`omitted`](ErrorGroup::omitted), which describe the failure as a whole.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// #[derive(Debug, PartialEq)]
    /// enum Fail { Retry, Fatal }
    ///
    /// async fn fail(how: Fail) -> Result<(), Fail> { Err(how) }
    ///
    /// let failed = taskgroup::try_join([fail(Fail::Retry), fail(Fail::Fatal), fail(Fail::Retry)])
    /// .await
    /// .unwrap_err();
    ///
    /// let (retry, fatal) = failed.split(|_, e| *e == Fail::Retry);
    /// assert_eq!(retry.unwrap().iter().map(|(i, _)| i).collect::<Vec<_>>(), [0, 2]);
    /// assert_eq!(fatal.unwrap().first(), (1, &Fail::Fatal));
    /// # });
    /// ```
    pub fn split<P>(self, mut predicate: P) -> (Option<Self>, Option<Self>)
    where
        P: FnMut(usize, &E) -> bool,
    {
        let (cancelled, omitted) = (self.cancelled, self.omitted);
        let mut matching: Option<Self> = None;
        let mut rest: Option<Self> = None;
        for (index, error) in self {
            let side = if predicate(index, &error) {
                &mut matching
            } else {
                &mut rest
            };
            match side {
                Some(group) => group.push(index, error),
                None => *side = Some(ErrorGroup::new(index, error)),
            }
        }
        for group in [&mut matching, &mut rest].into_iter().flatten() {
            group.cancelled = cancelled;
            group.omitted = omitted;
        }
        (matching, rest)
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    /// One summary line, then one line per error: `child <index>: <error>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.len() + self.omitted;
        let noun = if failed == 1 { "child" } else { "children" };
        write!(f, "{failed} {noun} failed, {} cancelled", self.cancelled)?;
        for (index, error) in self.iter() {
            write!(f, "\n  child {index}: {error}")?;
        }
        if self.omitted > 0 {
            write!(f, "\n  ({} more not kept without `alloc`)", self.omitted)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ErrorGroup");
        s.field("errors", &self.as_slice());
        s.field("cancelled", &self.cancelled);
        if self.omitted > 0 {
            s.field("omitted", &self.omitted);
        }
        s.finish()
    }
}

impl<E: core::error::Error + 'static> core::error::Error for ErrorGroup<E> {
    /// The first error (lowest child index).
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self.first().1)
    }
}

/// Iterator over `(child index, &error)`, from [`ErrorGroup::iter`].
///
/// ```
/// let group = taskgroup::ErrorGroup::new(1, "late");
/// let mut iter: taskgroup::Iter<'_, &str> = group.iter();
/// assert_eq!(iter.len(), 1);
/// assert_eq!(iter.next(), Some((1, &"late")));
/// ```
#[derive(Clone, Debug)]
pub struct Iter<'a, E> {
    inner: core::slice::Iter<'a, (usize, E)>,
}

impl<'a, E> Iterator for Iter<'a, E> {
    type Item = (usize, &'a E);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(index, error)| (*index, error))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<E> ExactSizeIterator for Iter<'_, E> {}
impl<E> DoubleEndedIterator for Iter<'_, E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(index, error)| (*index, error))
    }
}

impl<'a, E> IntoIterator for &'a ErrorGroup<E> {
    type Item = (usize, &'a E);
    type IntoIter = Iter<'a, E>;

    fn into_iter(self) -> Iter<'a, E> {
        self.iter()
    }
}

/// Owning iterator over `(child index, error)`, from `ErrorGroup::into_iter`.
///
/// ```
/// let mut iter: taskgroup::IntoIter<&str> = taskgroup::ErrorGroup::new(0, "gone").into_iter();
/// assert_eq!(iter.next(), Some((0, "gone")));
/// assert_eq!(iter.next(), None);
/// ```
pub struct IntoIter<E> {
    #[cfg(feature = "alloc")]
    inner: smallvec::IntoIter<[(usize, E); 1]>,
    #[cfg(not(feature = "alloc"))]
    inner: core::option::IntoIter<(usize, E)>,
}

impl<E> Iterator for IntoIter<E> {
    type Item = (usize, E);

    fn next(&mut self) -> Option<(usize, E)> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<E> ExactSizeIterator for IntoIter<E> {}

impl<E: fmt::Debug> fmt::Debug for IntoIter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}

impl<E> IntoIterator for ErrorGroup<E> {
    type Item = (usize, E);
    type IntoIter = IntoIter<E>;

    /// ```
    /// let owned: Vec<(usize, String)> = taskgroup::ErrorGroup::new(5, "gone".to_string()).into_iter().collect();
    /// assert_eq!(owned, [(5, "gone".to_string())]);
    /// ```
    fn into_iter(self) -> IntoIter<E> {
        IntoIter {
            inner: self.errors.into_iter(),
        }
    }
}

/// Why [`first_ok`](crate::first_ok) found no success: it had no children, or every child failed.
///
/// ```
/// # futures::executor::block_on(async {
/// use std::future::{ready, Ready};
/// use taskgroup::FirstOkError;
///
/// let failed = taskgroup::first_ok([ready(Err::<u8, _>("a")), ready(Err("b"))]).await;
/// let Err(FirstOkError::AllFailed(errors)) = failed else { panic!() };
/// assert_eq!(errors.iter().collect::<Vec<_>>(), [(0, &"a"), (1, &"b")]);
///
/// let none: [Ready<Result<u8, ()>>; 0] = [];
/// assert_eq!(taskgroup::first_ok(none).await, Err(FirstOkError::Empty));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FirstOkError<E> {
    /// The group had no children, so nothing could succeed.
    Empty,
    /// Every child failed: their errors, in child order.
    AllFailed(ErrorGroup<E>),
}

impl<E> FirstOkError<E> {
    /// The children's errors, or `None` for a group of no children.
    ///
    /// ```
    /// let empty: taskgroup::FirstOkError<()> = taskgroup::FirstOkError::Empty;
    /// assert!(empty.into_errors().is_none());
    /// ```
    pub fn into_errors(self) -> Option<ErrorGroup<E>> {
        match self {
            FirstOkError::Empty => None,
            FirstOkError::AllFailed(errors) => Some(errors),
        }
    }
}

impl<E: fmt::Display> fmt::Display for FirstOkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirstOkError::Empty => f.write_str("no child succeeded: the group had no children"),
            FirstOkError::AllFailed(errors) => write!(f, "no child succeeded: {errors}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for FirstOkError<E> {
    /// The error group when every child failed.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FirstOkError::Empty => None,
            FirstOkError::AllFailed(errors) => Some(errors),
        }
    }
}
