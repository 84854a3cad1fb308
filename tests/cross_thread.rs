//! Child wakers woken from other threads, many times and concurrently: while the group is driven,
//! while it fails, and after it completed or was dropped. Bounded loops, no sleeps; smaller under
//! Miri, which checks the wake state's memory accesses and reference counts.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Barrier;
use std::task::Waker;
use std::thread;

use futures::executor::block_on;
use taskgroup::{try_join, ErrorGroup};

use support::{probe_array, Handle, Parent};

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
/// Crosses a word of the wake set under Miri too.
const CHILDREN: usize = if cfg!(miri) { 66 } else { 300 };
const ROUNDS: usize = if cfg!(miri) { 4 } else { 300 };
/// Each scenario runs this many times, for more interleavings.
const REPEATS: usize = if cfg!(miri) { 2 } else { 20 };

type H = Handle<usize, &'static str>;
type Outcome = Result<[usize; CHILDREN], ErrorGroup<&'static str>>;

/// Wakes every child of `chunk` `ROUNDS` times over: by reference through an owned clone, by
/// value through a fresh clone, and through the waker the probe stored.
fn hammer(chunk: &[H]) {
    let wakers: Vec<Waker> = chunk.iter().map(Handle::waker).collect();
    for round in 0..ROUNDS {
        for (waker, handle) in wakers.iter().zip(chunk) {
            waker.wake_by_ref();
            if round % 2 == 0 {
                // Waking an owned clone by value takes the wake-then-release path.
                let owned = waker.clone();
                owned.wake();
            } else {
                handle.wake();
            }
        }
    }
}

/// A group of `CHILDREN` probes, polled once so that every child holds its waker.
fn started_group() -> (Pin<Box<impl Future<Output = Outcome>>>, [H; CHILDREN]) {
    let parent = Parent::new();
    let (children, handles) = probe_array::<usize, &str, CHILDREN>();
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    (group, handles)
}

/// Runs `per_chunk(t, chunk)` on one thread for each chunk `t` of `handles`, and `main` on this
/// thread, all released at once by a barrier; returns what `main` returns.
fn with_waking_threads<R>(
    handles: &[H],
    per_chunk: impl Fn(usize, &[H]) + Sync,
    main: impl FnOnce() -> R,
) -> R {
    let chunks: Vec<&[H]> = handles.chunks(CHILDREN.div_ceil(THREADS)).collect();
    let start = Barrier::new(chunks.len() + 1);
    thread::scope(|scope| {
        for (t, chunk) in chunks.into_iter().enumerate() {
            let (start, per_chunk) = (&start, &per_chunk);
            scope.spawn(move || {
                start.wait();
                per_chunk(t, chunk);
            });
        }
        start.wait();
        main()
    })
}

#[test]
fn children_woken_from_other_threads_while_the_group_is_polled() {
    for _ in 0..REPEATS {
        drive_while_woken_from_other_threads();
    }
}

fn drive_while_woken_from_other_threads() {
    let (mut group, handles) = started_group();

    let per_thread = CHILDREN.div_ceil(THREADS);
    let out = with_waking_threads(
        &handles,
        |t, chunk| {
            hammer(chunk);
            for (i, handle) in chunk.iter().enumerate() {
                handle.succeed(t * per_thread + i);
                handle.wake();
            }
        },
        || block_on(group.as_mut()),
    );

    assert_eq!(out, Ok(std::array::from_fn(|i| i)));
    assert!(handles.iter().all(|h| h.drops() == 1));
    drop(group);
    assert!(handles.iter().all(|h| h.drops() == 1));
}

#[test]
fn failing_while_children_are_woken_from_other_threads() {
    for _ in 0..REPEATS {
        fail_while_woken_from_other_threads();
    }
}

fn fail_while_woken_from_other_threads() {
    let (mut group, handles) = started_group();

    // Only child 0 ever finishes, with an error; the other threads go on waking their children
    // while the group fails, is dropped, and after.
    with_waking_threads(
        &handles,
        |t, chunk| {
            hammer(chunk);
            if t == 0 {
                chunk[0].fail("zero");
                chunk[0].wake();
            }
            hammer(chunk);
        },
        || {
            let errors = block_on(group.as_mut()).unwrap_err();
            assert_eq!(errors.iter().collect::<Vec<_>>(), [(0, &"zero")]);
            assert_eq!(errors.cancelled(), CHILDREN - 1);
            assert!(handles.iter().all(|h| h.drops() == 1));
            drop(group);
        },
    );
    assert!(handles.iter().all(|h| h.drops() == 1));
}

#[test]
fn waking_children_from_other_threads_after_the_group_completed_or_dropped_is_harmless() {
    let parent = Parent::new();

    // One group completed, one dropped while its children were pending.
    let (children, completed) = probe_array::<usize, &str, CHILDREN>();
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    for (i, handle) in completed.iter().enumerate() {
        handle.succeed(i);
        handle.wake();
    }
    assert!(support::expect_ready(parent.poll(group.as_mut())).is_ok());

    let (children, dropped) = probe_array::<usize, &str, CHILDREN>();
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    drop(group);

    let wakes = parent.wakes();
    let start = Barrier::new(THREADS + 1);
    thread::scope(|scope| {
        for _ in 0..THREADS {
            let wakers: Vec<Waker> = completed
                .iter()
                .chain(&dropped)
                .map(Handle::waker)
                .collect();
            let start = &start;
            scope.spawn(move || {
                start.wait();
                for _ in 0..ROUNDS {
                    for waker in &wakers {
                        waker.wake_by_ref();
                        let owned = waker.clone();
                        owned.wake();
                    }
                }
                // The last clone to go, on whichever thread, frees the wake state.
                drop(wakers);
            });
        }
        start.wait();
    });
    // The handles hold the last wakers: wake them once more, then let them go.
    for handle in completed.iter().chain(&dropped) {
        handle.wake();
    }
    #[cfg(feature = "alloc")]
    assert_eq!(
        parent.wakes(),
        wakes,
        "no late wake reached the parent task"
    );
    #[cfg(not(feature = "alloc"))]
    let _ = wakes; // without alloc the child waker is the parent's own
    assert!(completed.iter().chain(&dropped).all(|h| h.drops() == 1));
}

#[test]
fn dropping_the_group_while_other_threads_wake_its_children() {
    for _ in 0..REPEATS {
        drop_while_woken_from_other_threads();
    }
}

fn drop_while_woken_from_other_threads() {
    let (group, handles) = started_group();

    with_waking_threads(
        &handles,
        |_, chunk| hammer(chunk),
        || {
            drop(group);
            assert!(handles.iter().all(|h| h.drops() == 1));
        },
    );
    assert!(handles.iter().all(|h| h.drops() == 1));
}
