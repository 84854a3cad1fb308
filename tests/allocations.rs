//! Promise 10, no allocation per child: the wakers of all children share one allocation, made on
//! the group's first poll. A counting global allocator counts the allocations made on the test's
//! own thread while a measurement is on (tests run in parallel threads).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::ready;
use std::pin::pin;
#[cfg(feature = "alloc")]
use std::pin::Pin;

use taskgroup::try_join;

use support::{expect_ready, Parent};
#[cfg(feature = "alloc")]
use support::{probes, Handle};

struct Counting;

thread_local! {
    /// Allocations made on this thread since the measurement began; `None` when not measuring.
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get().map(|n| n + 1)));
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only a thread-local
// `Cell` with a const initialiser and no destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations it made on this thread.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.with(|count| count.set(Some(0)));
    let result = f();
    let made = ALLOCATIONS.with(|count| count.take()).expect("measuring");
    (result, made)
}

/// Drives a `Vec` group of `n` children that store a clone of their waker and are woken later:
/// a first poll, a poll for half of them woken without a result, then the last poll where all
/// are woken with their result. Returns the allocations made by those polls and wakes.
#[cfg(feature = "alloc")]
fn allocations_to_drive_a_vec_group(n: usize) -> usize {
    let parent = Parent::new();
    let (children, handles): (_, Vec<Handle<usize, &str>>) = probes(n);
    // Storing the children: one slot per child, all in one allocation.
    let (mut group, stored) = count_allocations(|| try_join(children));
    assert_eq!(stored, 1, "size {n}");
    let mut group = Pin::new(&mut group);
    let (out, made) = count_allocations(|| {
        assert!(parent.poll(group.as_mut()).is_pending());
        for handle in handles.iter().step_by(2) {
            handle.wake();
        }
        assert!(parent.poll(group.as_mut()).is_pending());
        for (i, handle) in handles.iter().enumerate() {
            handle.succeed(i);
            handle.wake();
        }
        expect_ready(parent.poll(group.as_mut()))
    });
    assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
    assert_eq!(handles[n - 1].polls(), 2);
    // The output `Vec` reuses the slots' allocation (a `usize` fits in a slot), so nothing is
    // counted for it.
    made
}

#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn wakers_share_one_allocation() {
    let counts: Vec<(usize, usize)> = [10, 1000, 10_000]
        .into_iter()
        .map(|n| (n, allocations_to_drive_a_vec_group(n)))
        .collect();
    eprintln!("allocations while driving Vec groups (size, count): {counts:?}");
    for &(n, made) in &counts {
        assert_eq!(
            made, 1,
            "size {n}: the shared wake state, nothing per child"
        );
    }
}

/// The wake state is made the first time a child needs a waker beyond its poll: a group whose
/// children finish without ever touching their wakers allocates nothing for them.
#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn children_that_never_wait_cost_no_allocation() {
    let parent = Parent::new();
    let mut array = pin!(try_join(std::array::from_fn::<_, 64, _>(|i| {
        ready(Ok::<_, ()>(i))
    })));
    let (out, made) = count_allocations(|| expect_ready(parent.poll(array.as_mut())));
    assert_eq!(out, Ok(std::array::from_fn(|i| i)));
    assert_eq!(made, 0, "array");

    let mut tuple = pin!(try_join((ready(Ok::<_, ()>(1)), ready(Ok('b')))));
    let (out, made) = count_allocations(|| expect_ready(parent.poll(tuple.as_mut())));
    assert_eq!(out, Ok((1, 'b')));
    assert_eq!(made, 0, "tuple");

    // A failing array: the single error is kept inline.
    let mut failing = pin!(try_join([ready(Ok(1)), ready(Err("no")), ready(Ok(3))]));
    let (out, made) = count_allocations(|| expect_ready(parent.poll(failing.as_mut())));
    assert_eq!(out.unwrap_err().first(), (1, &"no"));
    assert_eq!(made, 0, "failing array");

    // A Vec: the output `Vec` reuses the slots' allocation (an `i32` fits in a slot).
    let mut group = try_join((0..100).map(|i| ready(Ok::<_, ()>(i))).collect::<Vec<_>>());
    let (out, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut group))));
    assert_eq!(out, Ok((0..100).collect::<Vec<_>>()));
    assert_eq!(made, 0, "Vec: the output reuses the slots");
}

/// A child that wakes itself by reference and returns `Pending` a given number of times (never
/// cloning its waker), then is ready. Its output has its own size, so the output `Vec` takes
/// over the input's allocation as it is.
#[cfg(feature = "alloc")]
struct YieldTimes(usize);

#[cfg(feature = "alloc")]
impl std::future::Future for YieldTimes {
    type Output = Result<usize, ()>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.0 == 0 {
            return std::task::Poll::Ready(Ok(1));
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A child that only wakes itself (a yield) is remembered without the shared wake state: in a
/// group of at most one bitset word of children as a bit of the group's own; in a wider group,
/// as long as every child still running woke itself, by polling every slot again.
#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn yielding_children_cost_no_allocation() {
    let parent = Parent::new();
    let mut array = pin!(try_join(std::array::from_fn::<_, 64, _>(|_| YieldTimes(1))));
    let (out, made) = count_allocations(|| {
        assert!(parent.poll(array.as_mut()).is_pending());
        expect_ready(parent.poll(array.as_mut()))
    });
    assert_eq!(out, Ok([1; 64]));
    assert_eq!(made, 0, "array of 64");

    let mut wide = pin!(try_join(std::array::from_fn::<_, 65, _>(|_| YieldTimes(1))));
    let (out, made) = count_allocations(|| {
        assert!(parent.poll(wide.as_mut()).is_pending());
        expect_ready(parent.poll(wide.as_mut()))
    });
    assert_eq!(out, Ok([1; 65]));
    assert_eq!(made, 0, "array of 65");

    let mut vec = pin!(try_join(
        (0..10_000).map(|_| YieldTimes(1)).collect::<Vec<_>>()
    ));
    let (out, made) = count_allocations(|| {
        assert!(parent.poll(vec.as_mut()).is_pending());
        expect_ready(parent.poll(vec.as_mut())).unwrap()
    });
    assert_eq!(out, vec![1; 10_000]);
    assert_eq!(
        made, 0,
        "Vec of 10 000 (the output reuses the input's allocation)"
    );
}

/// When fewer than a quarter of a wide group's children yield, the group stops polling every
/// slot to find them: it makes the shared wake state once and polls only them from then on.
#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn a_few_yielding_children_of_a_wide_group_make_the_wake_state_once() {
    let parent = Parent::new();
    let children = (0..1000).map(|i| YieldTimes(if i % 100 == 7 { 5 } else { 0 }));
    let mut group = pin!(try_join(children.collect::<Vec<_>>()));
    let (out, made) = count_allocations(|| {
        for _ in 0..5 {
            assert!(parent.poll(group.as_mut()).is_pending());
        }
        expect_ready(parent.poll(group.as_mut())).unwrap()
    });
    assert_eq!(out, vec![1; 1000]);
    assert_eq!(made, 1, "the shared wake state, for the ten that yield");
}

#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn a_single_error_is_kept_without_allocating() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, &str>(1000);
    let mut group = pin!(try_join(children));
    let (errors, made) = count_allocations(|| {
        assert!(parent.poll(group.as_mut()).is_pending());
        handles[500].fail("boom");
        handles[500].wake();
        expect_ready(parent.poll(group.as_mut())).unwrap_err()
    });
    assert_eq!(errors.first(), (500, &"boom"));
    assert_eq!(made, 1, "the shared wake state only");
}

/// When many children fail in one sweep, the error group makes room for all the children still
/// due at its second error: one allocation, not one per doubling.
#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn many_concurrent_errors_cost_one_allocation() {
    let parent = Parent::new();
    for n in [2, 8, 1000, 10_000] {
        // Every child fails on the first sweep.
        let mut group = try_join((0..n).map(|i| ready(Err::<(), _>(i))).collect::<Vec<_>>());
        let (errors, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut group))));
        let errors = errors.unwrap_err();
        assert_eq!(errors.len(), n);
        assert!(errors
            .iter()
            .enumerate()
            .all(|(k, (i, e))| k == i && *e == i));
        assert_eq!(made, 1, "{n} errors in the first sweep");
    }

    // Every child woken at once fails in a later sweep.
    let (children, handles) = probes::<usize, usize>(1000);
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    for (i, handle) in handles.iter().enumerate() {
        handle.fail(i);
        handle.wake();
    }
    let (errors, made) = count_allocations(|| expect_ready(parent.poll(group.as_mut())));
    assert_eq!(errors.unwrap_err().len(), 1000);
    assert_eq!(made, 1, "1000 errors in a later sweep");
}

/// Stopping at the first error keeps one error, inline: arrays and tuples whose children all
/// fail at once allocate nothing, and a `Vec` group allocates nothing beyond its input.
#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn stopping_at_the_first_error_allocates_nothing_for_errors() {
    let parent = Parent::new();
    let mut array = try_join(core::array::from_fn::<_, 64, _>(|i| ready(Err::<(), _>(i))))
        .stop_on_first_error();
    let (errors, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut array))));
    assert_eq!(
        errors.unwrap_err().into_iter().collect::<Vec<_>>(),
        [(0, 0)]
    );
    assert_eq!(made, 0, "array");

    let mut tuple = try_join((
        ready(Err::<(), _>(0)),
        ready(Err::<u8, _>(1)),
        ready(Err::<(), _>(2)),
    ))
    .stop_on_first_error();
    let (errors, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut tuple))));
    assert_eq!(errors.unwrap_err().len(), 1);
    assert_eq!(made, 0, "tuple");

    let mut vec = try_join(
        (0..1000)
            .map(|i| ready(Err::<(), _>(i)))
            .collect::<Vec<_>>(),
    )
    .stop_on_first_error();
    let (errors, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut vec))));
    assert_eq!(errors.unwrap_err().first(), (0, &0));
    assert_eq!(made, 0, "Vec");
}

#[cfg(feature = "alloc")]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn an_empty_group_allocates_nothing() {
    let parent = Parent::new();
    let (mut group, made) =
        count_allocations(|| try_join(Vec::<std::future::Ready<Result<u8, ()>>>::new()));
    assert_eq!(made, 0);
    let (out, made) = count_allocations(|| expect_ready(parent.poll(Pin::new(&mut group))));
    assert_eq!(out, Ok(vec![]));
    assert_eq!(made, 0);
}

#[cfg(not(feature = "alloc"))]
#[cfg_attr(miri, ignore = "counts allocations, not memory errors")]
#[test]
fn without_alloc_a_group_never_allocates() {
    let parent = Parent::new();
    let (children, handles) = support::probe_array::<usize, usize, 70>();
    handles[3].fail(3);
    handles[9].fail(9);
    let mut group = pin!(try_join(children));
    let (errors, made) = count_allocations(|| expect_ready(parent.poll(group.as_mut())));
    let errors = errors.unwrap_err();
    assert_eq!((errors.first(), errors.omitted()), ((3, &3), 1));
    assert_eq!(made, 0);

    let mut group = pin!(try_join(std::array::from_fn::<_, 64, _>(|i| {
        ready(Ok::<_, ()>(i))
    })));
    let (out, made) = count_allocations(|| expect_ready(parent.poll(group.as_mut())));
    assert_eq!(out, Ok(std::array::from_fn(|i| i)));
    assert_eq!(made, 0);
}
