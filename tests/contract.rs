//! One test per promise of the contract in the crate docs (`src/lib.rs`, "The contract"), named
//! after the promise it checks. Futures are driven by hand with a counting parent waker, so poll
//! counts and orders are exact.
//!
//! Without the `alloc` feature, arrays and tuples still run every test that applies to them;
//! children then get the parent's waker and every poll polls every unfinished child, so the few
//! expectations about which child is polled are gated on the feature.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{ready, Future, Ready};
use std::marker::PhantomPinned;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use futures::executor::block_on;
use futures::future::FusedFuture;
use taskgroup::{join, try_join, ErrorGroup};

#[cfg(feature = "alloc")]
use std::future::IntoFuture;
#[cfg(feature = "alloc")]
use taskgroup::TaskGroup;

#[cfg(feature = "alloc")]
use support::probes;
use support::{expect_ready, probe, probe_array, Counted, DropCount, Handle, Parent, Probe};

/// A size for a test that may run under Miri, where big groups are too slow. 70 still crosses
/// the 64-bit word boundary of the wake set.
#[cfg(feature = "alloc")]
fn size(n: usize) -> usize {
    if cfg!(miri) {
        n.min(70)
    } else {
        n
    }
}

/// Polls `group` once (every child pending), then completes its children one per poll, highest
/// index first, each with its own index; returns the group's output.
fn complete_in_reverse<G, E>(
    parent: &Parent,
    mut group: Pin<&mut G>,
    handles: &[Handle<usize, E>],
) -> G::Output
where
    G: Future + ?Sized,
{
    assert!(parent.poll(group.as_mut()).is_pending());
    for (index, handle) in handles.iter().enumerate().skip(1).rev() {
        handle.succeed(index);
        handle.wake();
        assert!(
            parent.poll(group.as_mut()).is_pending(),
            "child 0 is still running"
        );
    }
    handles[0].succeed(0);
    handles[0].wake();
    expect_ready(parent.poll(group.as_mut()))
}

// 1. In place.

#[test]
fn children_are_polled_in_place_without_send_or_static() {
    let parent = Parent::new();
    let here = thread::current().id();
    // Every child borrows `log` (not 'static) and holds an `Rc` across an await (not Send).
    let log: RefCell<Vec<(usize, ThreadId)>> = RefCell::new(Vec::new());
    let finished = Rc::new(Cell::new(0));
    let child = |index: usize, gate: Probe<(), ()>| {
        let log = &log;
        let finished = Rc::clone(&finished);
        async move {
            log.borrow_mut().push((index, thread::current().id()));
            gate.await?;
            finished.set(finished.get() + 1);
            Ok::<_, ()>(index * 10)
        }
    };
    let ([g0, g1, g2], gates) = probe_array::<(), (), 3>();
    let mut group = pin!(try_join([child(0, g0), child(1, g1), child(2, g2)]));

    assert!(
        log.borrow().is_empty(),
        "nothing runs before the group is polled"
    );
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(*log.borrow(), [(0, here), (1, here), (2, here)]);

    for gate in gates.iter().rev() {
        gate.succeed(());
        gate.wake();
    }
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok([0, 10, 20]));
    assert_eq!(finished.get(), 3);
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn group_is_send_when_children_are() {
    let parent = Parent::new();
    let tuple = try_join((async { Ok::<_, String>(1u8) }, async {
        Ok::<_, String>("two")
    }));
    let (children, handles) = probe_array::<usize, String, 3>();
    let array = try_join(children);
    assert_send(&tuple);
    assert_send(&array);

    // A group that was polled here (its wake state exists) is finished on another thread.
    let mut array = Box::pin(array);
    assert!(parent.poll(array.as_mut()).is_pending());
    for (index, handle) in handles.iter().enumerate() {
        handle.succeed(index);
        handle.wake();
    }
    assert_eq!(
        thread::spawn(move || block_on(array)).join().unwrap(),
        Ok([0, 1, 2])
    );
    assert_eq!(
        thread::spawn(move || block_on(tuple)).join().unwrap(),
        Ok((1, "two"))
    );

    #[cfg(feature = "alloc")]
    {
        let (children, handles) = probes::<usize, String>(3);
        let mut vec = try_join(children);
        assert_send(&vec);
        assert!(parent.poll(Pin::new(&mut vec)).is_pending());
        for (index, handle) in handles.iter().enumerate() {
            handle.succeed(index);
            handle.wake();
        }
        assert_eq!(
            thread::spawn(move || block_on(vec)).join().unwrap(),
            Ok(vec![0, 1, 2])
        );
    }
}

// 2. Input order.

#[test]
fn all_succeed_outputs_in_input_order() {
    let parent = Parent::new();

    // Tuple: children of different output types, finishing last to first.
    let (c0, h0) = probe::<u8, &str>();
    let (c1, h1) = probe::<String, &str>();
    let (c2, h2) = probe::<char, &str>();
    let mut tuple = pin!(try_join((c0, c1, c2)));
    assert!(parent.poll(tuple.as_mut()).is_pending());
    h2.succeed('c');
    h2.wake();
    assert!(parent.poll(tuple.as_mut()).is_pending());
    h1.succeed("b".to_string());
    h1.wake();
    assert!(parent.poll(tuple.as_mut()).is_pending());
    h0.succeed(0xa);
    h0.wake();
    assert_eq!(
        expect_ready(parent.poll(tuple.as_mut())),
        Ok((0xa, "b".to_string(), 'c'))
    );

    // The largest tuple.
    let ([c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11], handles) =
        probe_array::<usize, &str, 12>();
    let tuple = try_join((c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11));
    let out = complete_in_reverse(&parent, pin!(tuple), &handles);
    assert_eq!(out, Ok((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)));

    // Array.
    let (children, handles) = probe_array::<usize, &str, 5>();
    let out = complete_in_reverse(&parent, pin!(try_join(children)), &handles);
    assert_eq!(out, Ok([0, 1, 2, 3, 4]));

    #[cfg(feature = "alloc")]
    {
        // Vec, across several words of the wake set.
        let (children, handles) = probes::<usize, &str>(130);
        let out = complete_in_reverse(&parent, pin!(try_join(children)), &handles);
        assert_eq!(out, Ok((0..130).collect::<Vec<_>>()));

        // TaskGroup: push order.
        let (children, handles) = probes::<usize, &str>(5);
        let mut group = TaskGroup::new();
        for (index, child) in children.into_iter().enumerate() {
            assert_eq!(group.push(child), index);
        }
        let out = complete_in_reverse(&parent, pin!(group.into_future()), &handles);
        assert_eq!(out, Ok(vec![0, 1, 2, 3, 4]));
    }
}

#[test]
fn join_returns_outputs_in_input_order() {
    let parent = Parent::new();

    let mut tuple = pin!(join((async { 1u8 }, async { "two" }, ready(3.5f64))));
    assert_eq!(expect_ready(parent.poll(tuple.as_mut())), (1, "two", 3.5));

    let (children, handles) = probe_array::<usize, (), 5>();
    let out = complete_in_reverse(&parent, pin!(join(children)), &handles);
    assert_eq!(out, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)]);

    #[cfg(feature = "alloc")]
    {
        let (children, handles) = probes::<usize, ()>(130);
        let out = complete_in_reverse(&parent, pin!(join(children)), &handles);
        assert_eq!(out, (0..130).map(Ok).collect::<Vec<_>>());

        let (children, handles) = probes::<usize, ()>(5);
        let group: TaskGroup<_> = children.into_iter().collect();
        let out = complete_in_reverse(&parent, pin!(group.join()), &handles);
        assert_eq!(out, (0..5).map(Ok).collect::<Vec<_>>());
    }
}

// 3. Fail fast with every concurrent error.

#[test]
fn fails_fast_with_all_concurrent_errors() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 6>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    // Children 1, 3 and 4 fail and child 5 succeeds at the same moment: all are woken before the
    // next poll of the group.
    h[4].fail("four");
    h[1].fail("one");
    h[5].succeed(5);
    h[3].fail("three");
    for i in [4, 1, 5, 3] {
        h[i].wake();
    }
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();

    #[cfg(feature = "alloc")]
    assert_eq!(
        errors.iter().collect::<Vec<_>>(),
        [(1, &"one"), (3, &"three"), (4, &"four")]
    );
    #[cfg(not(feature = "alloc"))]
    {
        // Without an allocator the group keeps the first error and counts the others.
        assert_eq!(errors.iter().collect::<Vec<_>>(), [(1, &"one")]);
        assert_eq!(errors.omitted(), 2);
    }
    assert_eq!(errors.cancelled(), 2, "children 0 and 2 were still running");
    assert_eq!(h[5].polls(), 2, "the sweep went on past the first error");
    assert!(h.iter().all(|h| h.drops() == 1));

    #[cfg(feature = "alloc")]
    {
        // The same in a group spanning several words and levels of the wake set.
        let n = size(5000);
        let (children, h) = probes::<usize, usize>(n);
        let mut group = try_join(children);
        assert!(parent.poll(Pin::new(&mut group)).is_pending());
        let failing = [n - 1, 64, 63, 0];
        for &i in &failing {
            h[i].fail(i * 10);
            h[i].wake();
        }
        let errors = expect_ready(parent.poll(Pin::new(&mut group))).unwrap_err();
        assert_eq!(
            errors.into_iter().collect::<Vec<_>>(),
            [(0, 0), (63, 630), (64, 640), (n - 1, (n - 1) * 10)]
        );
    }
}

/// Fails the middle child of a group whose children are all pending, then checks that the poll
/// that returned the error had already dropped every sibling.
fn fail_one_and_check_siblings_dropped<G, O>(
    mut group: Pin<Box<G>>,
    handles: &[Handle<usize, &'static str>],
) where
    G: Future<Output = Result<O, ErrorGroup<&'static str>>>,
{
    let parent = Parent::new();
    let n = handles.len();
    assert!(parent.poll(group.as_mut()).is_pending(), "size {n}");
    let failing = n / 2;
    handles[failing].fail("boom");
    handles[failing].wake();
    let Poll::Ready(Err(errors)) = parent.poll(group.as_mut()) else {
        panic!("size {n}: the group did not fail on the poll that saw the error");
    };
    // The group itself is still alive: its failing poll dropped the siblings.
    let dropped_once = handles.iter().filter(|h| h.drops() == 1).count();
    assert_eq!(
        dropped_once, n,
        "size {n}: every child dropped exactly once"
    );
    assert_eq!(errors.cancelled(), n - 1, "size {n}");
    assert_eq!(errors.len(), 1, "size {n}");
    assert_eq!(errors.first(), (failing, &"boom"), "size {n}");
    drop(group);
    assert!(
        handles.iter().all(|h| h.drops() == 1),
        "size {n}: no second drop"
    );
}

fn fail_array_of<const N: usize>() {
    let (children, handles) = probe_array::<usize, &str, N>();
    fail_one_and_check_siblings_dropped(Box::pin(try_join(children)), &handles);
}

#[test]
fn drops_pending_siblings_on_first_error() {
    fail_array_of::<2>();
    fail_array_of::<31>();
    fail_array_of::<64>();
    fail_array_of::<65>();
    if !cfg!(miri) {
        fail_array_of::<1000>();
        fail_array_of::<5000>();
    }
    #[cfg(feature = "alloc")]
    for n in [2, 31, 64, 65, 1000, 5000].map(size) {
        let (children, handles) = probes::<usize, &str>(n);
        fail_one_and_check_siblings_dropped(Box::pin(try_join(children)), &handles);
    }
}

#[test]
fn errors_are_ordered_by_child_index() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, usize, 5>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    // Fail and wake in reverse index order.
    for i in [4, 2, 0] {
        h[i].fail(i * 10);
        h[i].wake();
    }
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(errors.first(), (0, &0));
    #[cfg(feature = "alloc")]
    {
        assert_eq!(
            errors.iter().collect::<Vec<_>>(),
            [(0, &0), (2, &20), (4, &40)]
        );
        assert_eq!(
            errors.iter().rev().map(|(i, _)| i).collect::<Vec<_>>(),
            [4, 2, 0]
        );

        // Children failing on the first poll, in a Vec.
        let mut group = pin!(try_join(
            (0..200usize)
                .map(|i| ready(if i % 50 == 7 { Err(i) } else { Ok(i) }))
                .collect::<Vec<_>>()
        ));
        let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(
            errors.into_iter().collect::<Vec<_>>(),
            [(7, 7), (57, 57), (107, 107), (157, 157)]
        );

        // In a TaskGroup, the index is the one `push` returned.
        let (children, h) = probes::<usize, usize>(4);
        let mut group = TaskGroup::with_capacity(4);
        let indices: Vec<usize> = children.into_iter().map(|c| group.push(c)).collect();
        let mut group = pin!(group.into_future());
        assert!(parent.poll(group.as_mut()).is_pending());
        for i in [3, 1] {
            h[i].fail(indices[i]);
            h[i].wake();
        }
        let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(errors.into_iter().collect::<Vec<_>>(), [(1, 1), (3, 3)]);
    }
    #[cfg(not(feature = "alloc"))]
    assert_eq!(errors.omitted(), 2);
}

#[test]
fn outputs_already_produced_are_dropped_on_failure() {
    let parent = Parent::new();
    let outputs = DropCount::new();
    let (children, h) = probe_array::<Counted<usize>, &str, 4>();
    h[0].succeed(outputs.tag(0));
    h[1].succeed(outputs.tag(1));
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(
        outputs.get(),
        0,
        "the group keeps the outputs of children 0 and 1"
    );

    h[3].fail("three");
    h[3].wake();
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(
        outputs.get(),
        2,
        "dropped by the failing poll, before it returned"
    );
    assert_eq!(errors.cancelled(), 1, "only child 2 was still running");
    drop(group);
    assert_eq!(outputs.get(), 2, "and never again");
    assert!(h.iter().all(|h| h.drops() == 1));
}

#[cfg(feature = "alloc")]
#[test]
fn errors_woken_during_the_failing_sweep_wait() {
    let parent = Parent::new();
    let (children, h) = probes::<usize, &str>(4);
    let mut group = try_join(children);
    assert!(parent.poll(Pin::new(&mut group)).is_pending());

    // Child 1 fails, and while it is polled it wakes child 0 (already passed) and child 2 (still
    // ahead in the sweep). Child 2 would fail too if it were polled.
    let (h0, h2) = (h[0].clone(), h[2].clone());
    h[1].on_poll(move || {
        h2.wake();
        h0.wake();
    });
    h[1].fail("one");
    h[2].fail("two");
    h[3].fail("three");
    h[3].wake();
    h[1].wake();
    let errors = expect_ready(parent.poll(Pin::new(&mut group))).unwrap_err();

    assert_eq!(
        errors.iter().collect::<Vec<_>>(),
        [(1, &"one"), (3, &"three")]
    );
    assert_eq!(
        h[2].polls(),
        1,
        "woken during the failing sweep: not polled in it"
    );
    assert_eq!(h[0].polls(), 1);
    assert_eq!(
        errors.cancelled(),
        2,
        "children 0 and 2 were dropped unfinished"
    );
    assert!(h.iter().all(|h| h.drops() == 1));
}

#[test]
fn stop_on_first_error_polls_no_further_child() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 5>();
    let mut group = pin!(try_join(children).stop_on_first_error());
    assert!(parent.poll(group.as_mut()).is_pending());

    h[1].fail("first");
    h[3].fail("second");
    h[4].succeed(4);
    for i in [4, 3, 1] {
        h[i].wake();
    }
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(errors.iter().collect::<Vec<_>>(), [(1, &"first")]);
    assert_eq!(errors.omitted(), 0);
    assert_eq!(
        (h[3].polls(), h[4].polls()),
        (1, 1),
        "woken, but not polled after the error"
    );
    assert_eq!(
        errors.cancelled(),
        4,
        "children 0, 2, 3 and 4 were still running"
    );
    assert!(h.iter().all(|h| h.drops() == 1));

    // Also on the very first poll.
    let (children, h) = probe_array::<usize, &str, 3>();
    h[0].fail("at once");
    h[1].fail("never seen");
    let mut group = pin!(try_join(children).stop_on_first_error());
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(errors.iter().collect::<Vec<_>>(), [(0, &"at once")]);
    assert_eq!((h[1].polls(), h[2].polls()), (0, 0));
    assert_eq!(errors.cancelled(), 2);
    assert!(h.iter().all(|h| h.drops() == 1));
}

// 4. Precise wakeups.

#[test]
fn first_poll_polls_every_child() {
    let parent = Parent::new();
    // Even when a child fails early in the first sweep, every child is polled once.
    let (children, h) = probe_array::<usize, &str, 70>();
    h[10].fail("ten");
    h[20].succeed(20);
    let mut group = Box::pin(try_join(children));
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert!(h.iter().all(|h| h.polls() == 1));
    assert_eq!(errors.first(), (10, &"ten"));
    assert_eq!(errors.cancelled(), 68);

    #[cfg(feature = "alloc")]
    {
        let (children, h) = probes::<usize, &str>(size(1000));
        let mut group = try_join(children);
        assert!(parent.poll(Pin::new(&mut group)).is_pending());
        assert!(h.iter().all(|h| h.polls() == 1));
    }
}

#[cfg(feature = "alloc")]
#[test]
fn later_polls_poll_only_woken_children() {
    let parent = Parent::new();
    let n = size(1000);
    let (children, h) = probes::<usize, &str>(n);
    let mut group = try_join(children);
    assert!(parent.poll(Pin::new(&mut group)).is_pending());

    // Each child has its own waker, distinct from its siblings' and from the parent's.
    assert!(!h[0].waker().will_wake(&h[1].waker()));
    assert!(!h[0].waker().will_wake(parent.waker()));

    let woken = [1, n / 2, n - 1];
    for &i in &woken {
        // A repeated wake is still one poll.
        h[i].wake();
        h[i].wake();
    }
    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    for (i, h) in h.iter().enumerate() {
        let expected = if woken.contains(&i) { 2 } else { 1 };
        assert_eq!(h.polls(), expected, "child {i}");
    }

    // A poll with nothing woken polls nobody.
    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    assert_eq!(h.iter().map(Handle::polls).sum::<usize>(), n + woken.len());
}

/// A child in a sweep's snapshot that is woken again before its turn in that sweep is polled
/// once in that poll, and once more at the next poll: the group does not look for such a wake
/// before the child's turn (in a large group woken from another thread, that look cost every
/// child a cache miss). It is never polled twice in one poll, and no wake is lost.
#[cfg(feature = "alloc")]
#[test]
fn a_wake_before_a_childs_turn_is_served_by_the_turn_and_again_at_the_next_poll() {
    let parent = Parent::new();
    let (children, h) = probes::<usize, &str>(3);
    let mut group = try_join(children);
    assert!(parent.poll(Pin::new(&mut group)).is_pending());

    // Once: child 0, polled first in the sweep, wakes child 2, which is in the same snapshot.
    let mut sibling = Some(h[2].clone());
    h[0].on_poll(move || {
        if let Some(sibling) = sibling.take() {
            sibling.wake();
        }
    });
    h[0].wake();
    h[2].wake();
    let wakes = parent.wakes();
    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    assert_eq!(h[2].polls(), 2, "child 2 was polled once in this poll");
    assert!(
        parent.wakes() > wakes,
        "the second wake is announced for the next poll"
    );

    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    assert_eq!(h.iter().map(Handle::polls).collect::<Vec<_>>(), [2, 1, 3]);

    // Nothing was woken since: nobody is polled.
    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    assert_eq!(h.iter().map(Handle::polls).collect::<Vec<_>>(), [2, 1, 3]);
}

#[cfg(not(feature = "alloc"))]
#[test]
fn without_alloc_every_poll_polls_every_unfinished_child() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 4>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert!(
        h[0].waker().will_wake(parent.waker()),
        "children get the parent's waker"
    );

    h[1].succeed(1);
    assert!(parent.poll(group.as_mut()).is_pending());
    assert!(h.iter().all(|h| h.polls() == 2));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(
        h.iter().map(Handle::polls).collect::<Vec<_>>(),
        [3, 2, 3, 3]
    );
}

#[test]
fn wakes_reach_the_waker_of_the_latest_poll() {
    let (first, second) = (Parent::new(), Parent::new());
    let (children, h) = probe_array::<usize, &str, 2>();
    let mut group = pin!(try_join(children));
    assert!(first.poll(group.as_mut()).is_pending());
    h[0].wake();
    assert_eq!((first.wakes(), second.wakes()), (1, 0));

    // The group moves to another task: later wakes go there only.
    assert!(second.poll(group.as_mut()).is_pending());
    h[1].succeed(1);
    h[1].wake();
    assert_eq!((first.wakes(), second.wakes()), (1, 1));
    h[0].succeed(0);
    h[0].wake();
    assert_eq!(expect_ready(second.poll(group.as_mut())), Ok([0, 1]));
    assert_eq!(first.wakes(), 1);
}

// 5. Cooperative budget.

#[test]
fn child_polled_at_most_once_per_group_poll() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 3>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    // From now on child 1 wakes itself and both siblings, the one behind it and the one ahead
    // of it in the sweep, on every poll: every child is always woken.
    let (h0, h2) = (h[0].clone(), h[2].clone());
    h[1].on_poll(move || {
        h0.wake();
        h2.wake();
    });
    h[1].wake_self_on_poll(true);
    h[1].wake();
    for round in 0..10 {
        let before: Vec<usize> = h.iter().map(Handle::polls).collect();
        let wakes = parent.wakes();
        assert!(
            parent.poll(group.as_mut()).is_pending(),
            "the group returns instead of spinning"
        );
        let after: Vec<usize> = h.iter().map(Handle::polls).collect();
        for i in 0..3 {
            assert!(
                after[i] - before[i] <= 1,
                "round {round}: child {i} polled twice"
            );
        }
        assert_eq!(after[1], before[1] + 1, "round {round}");
        assert!(
            parent.wakes() > wakes,
            "round {round}: the parent is asked to come back"
        );
    }
    assert_eq!(h[1].polls(), 11);
    // Children 0 and 2 are woken by child 1 in every poll. With per-child wakers, a child woken
    // by a sibling during a poll is polled in a later round of that same poll if it was not
    // polled in it yet; without them every child is polled in every poll. Either way: once per
    // poll of the group, 11 polls each.
    assert_eq!((h[0].polls(), h[2].polls()), (11, 11));
}

/// A child of a chain: ready once its predecessor finished; it then wakes its successor.
#[cfg(feature = "alloc")]
struct ChainLink {
    index: usize,
    next: Option<usize>,
    table: std::sync::Arc<std::sync::Mutex<ChainTable>>,
}

#[cfg(feature = "alloc")]
#[derive(Default)]
struct ChainTable {
    ready: Vec<bool>,
    wakers: Vec<Option<Waker>>,
    polls: Vec<usize>,
}

#[cfg(feature = "alloc")]
impl Future for ChainLink {
    type Output = Result<usize, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut table = self.table.lock().unwrap();
        table.polls[self.index] += 1;
        if !table.ready[self.index] {
            table.wakers[self.index] = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(next) = self.next {
            table.ready[next] = true;
            if let Some(waker) = table.wakers[next].take() {
                drop(table);
                waker.wake();
            }
        }
        Poll::Ready(Ok(self.index))
    }
}

/// A child woken by a sibling during a poll of the group, and not yet polled in that poll, is
/// polled in that same poll: a chain in which each child wakes the next finishes in one poll
/// after the first, each child polled once per poll.
#[cfg(feature = "alloc")]
#[test]
fn a_child_woken_by_a_sibling_is_polled_in_the_same_poll() {
    let n = size(300);
    // A fixed shuffle of the chain: child order[k] wakes order[k + 1].
    let mut order: Vec<usize> = (0..n).collect();
    let mut seed = 0x2545_f491_u64;
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let table = std::sync::Arc::new(std::sync::Mutex::new(ChainTable {
        ready: vec![false; n],
        wakers: vec![None; n],
        polls: vec![0; n],
    }));
    let mut next = vec![None; n];
    for pair in order.windows(2) {
        next[pair[0]] = Some(pair[1]);
    }
    let children: Vec<ChainLink> = (0..n)
        .map(|index| ChainLink {
            index,
            next: next[index],
            table: table.clone(),
        })
        .collect();
    let parent = Parent::new();
    let mut group = try_join(children);

    // The first poll hands out the wakers; only the head is ready then.
    table.lock().unwrap().ready[order[0]] = true;
    assert!(parent.poll(Pin::new(&mut group)).is_pending());
    // The head woke its successor, which the first poll had polled already: it waits.
    let wakes = parent.wakes();
    let out = expect_ready(parent.poll(Pin::new(&mut group)));
    assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
    // The poll served every wake of the chain itself, in its rounds: none woke the parent task.
    assert_eq!(
        parent.wakes(),
        wakes,
        "a wake served by the poll woke the parent"
    );
    // Links whose predecessor finished earlier in the first sweep finish in their first poll;
    // every other link is polled once more, in the second poll of the group.
    let polls = table.lock().unwrap().polls.clone();
    assert_eq!(polls[order[0]], 1);
    assert!(polls.iter().all(|&p| p == 1 || p == 2), "{polls:?}");
    assert!(polls.iter().filter(|&&p| p == 2).count() > 0);
}

#[test]
fn self_waking_child_is_polled_again_next_poll() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 3>();
    h[1].wake_self_on_poll(true);
    let mut group = pin!(try_join(children));

    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(h[1].polls(), 1, "polled once, although it woke itself");
    assert_eq!(parent.wakes(), 1, "its wake woke the group's own waker");

    h[1].wake_self_on_poll(false);
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(h[1].polls(), 2, "polled exactly once more");
    assert_eq!(parent.wakes(), 1);
    #[cfg(feature = "alloc")]
    {
        assert_eq!(
            (h[0].polls(), h[2].polls()),
            (1, 1),
            "siblings were not woken"
        );
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(h[1].polls(), 2, "no longer woken, no longer polled");
    }
}

// 6. Wakers that can't hurt.

#[test]
fn child_wakers_are_send_sync_and_clonable() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>(_: &T) {}

    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 3>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    let waker = h[1].waker();
    assert_send_sync_clone(&waker);
    let clones: Vec<Waker> = (0..8).map(|_| waker.clone()).collect();
    assert!(clones.iter().all(|clone| clone.will_wake(&waker)));
    thread::scope(|scope| {
        for (i, clone) in clones.into_iter().enumerate() {
            scope.spawn(move || {
                if i % 2 == 0 {
                    clone.wake();
                } else {
                    clone.wake_by_ref();
                }
            });
        }
    });
    assert!(
        parent.wakes() >= 1,
        "a wake from another thread reached the parent"
    );

    h[1].succeed(1);
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(h[1].polls(), 2, "the woken child was polled");
    #[cfg(feature = "alloc")]
    assert_eq!((h[0].polls(), h[2].polls()), (1, 1));

    // The original still works after its clones are gone.
    h[0].succeed(0);
    h[2].succeed(2);
    waker.wake();
    h[0].wake();
    h[2].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok([0, 1, 2]));
}

#[test]
fn waking_a_child_after_the_group_is_dropped_is_harmless() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 3>();
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    let wakers: Vec<Waker> = h.iter().map(Handle::waker).collect();
    let wakes = parent.wakes();

    drop(group);
    assert!(h.iter().all(|h| h.drops() == 1));
    wakers[0].wake_by_ref();
    let owned = wakers[1].clone();
    owned.wake();
    for waker in wakers {
        waker.wake();
    }
    for h in &h {
        h.wake();
    }
    #[cfg(feature = "alloc")]
    assert_eq!(parent.wakes(), wakes, "the parent task was not woken");
    #[cfg(not(feature = "alloc"))]
    let _ = wakes; // without alloc the child waker is the parent's own

    #[cfg(feature = "alloc")]
    {
        // A Vec group dropped after it failed, its child wakers dropped from another thread.
        let (children, h) = probes::<usize, &str>(65);
        let mut group = try_join(children);
        assert!(parent.poll(Pin::new(&mut group)).is_pending());
        h[64].fail("last");
        h[64].wake();
        assert!(expect_ready(parent.poll(Pin::new(&mut group))).is_err());
        let wakers: Vec<Waker> = h.iter().map(Handle::waker).collect();
        drop(group);
        drop(h);
        let wakes = parent.wakes();
        thread::spawn(move || wakers.into_iter().for_each(Waker::wake))
            .join()
            .unwrap();
        assert_eq!(parent.wakes(), wakes);
    }
}

/// On its first poll, hands its waker to scoped threads that clone and wake it at the same time;
/// ready on its second poll with whether its first-poll clone `will_wake` the second poll's
/// waker.
struct WakesFromScopedThreads {
    first: Option<Waker>,
}

impl Future for WakesFromScopedThreads {
    type Output = Result<bool, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(first) = &self.first {
            return Poll::Ready(Ok(first.will_wake(cx.waker())));
        }
        let waker = cx.waker();
        let kept = thread::scope(|scope| {
            let keep = scope.spawn(|| waker.clone());
            scope.spawn(|| {
                // An owned clone woken by value: the path that releases its count.
                let owned = waker.clone();
                owned.wake()
            });
            scope.spawn(|| waker.wake_by_ref());
            keep.join().unwrap()
        });
        self.first = Some(kept);
        Poll::Pending
    }
}

/// The waker lent for a child's first poll may be cloned and woken from other threads during
/// that poll, racing each other; the clones are the child's lasting waker.
#[test]
fn first_poll_wakers_may_be_cloned_and_woken_from_other_threads() {
    let parent = Parent::new();
    let children: [_; 3] = std::array::from_fn(|_| WakesFromScopedThreads { first: None });
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert!(parent.wakes() > 0, "the wakes reached the group's waker");
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok([true; 3]),
        "a waker cloned in the first poll will_wake the later polls' waker"
    );
}

/// In the group's first poll, a child that wakes a sibling polled before it (which kept its
/// waker) does not wake the group's task then: the poll is still running, and it wakes the task
/// once, at its end, for the sibling; the next poll serves it.
#[cfg(feature = "alloc")]
#[test]
fn wakes_during_a_first_poll_wake_the_task_once_at_its_end() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 3>();
    let (h0, wakes) = (h[0].clone(), parent.wakes_reader());
    let seen_in_poll = Arc::new(AtomicUsize::new(usize::MAX));
    let seen = Arc::clone(&seen_in_poll);
    h[1].on_poll(move || {
        h0.wake();
        seen.store(wakes(), SeqCst);
    });
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(
        seen_in_poll.load(SeqCst),
        0,
        "a wake during the poll leaves the task alone"
    );
    assert_eq!(parent.wakes(), 1, "woken once, for child 0");
    assert_eq!(h.iter().map(Handle::polls).collect::<Vec<_>>(), [1, 1, 1]);
    h[0].succeed(0);
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(h.iter().map(Handle::polls).collect::<Vec<_>>(), [2, 1, 1]);
    h[1].succeed(1);
    h[1].wake();
    h[2].succeed(2);
    h[2].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok([0, 1, 2]));
}

#[test]
fn waking_a_child_after_the_group_completed_is_harmless() {
    let parent = Parent::new();

    // Completed with every output.
    let (children, h) = probe_array::<usize, &str, 3>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    for (i, h) in h.iter().enumerate() {
        h.succeed(i);
        h.wake();
    }
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok([0, 1, 2]));
    let wakes = parent.wakes();
    for h in &h {
        h.wake();
        h.waker().wake();
    }
    assert!(group.is_terminated());
    #[cfg(feature = "alloc")]
    assert_eq!(
        parent.wakes(),
        wakes,
        "a finished group does not wake its parent"
    );
    #[cfg(not(feature = "alloc"))]
    let _ = wakes; // without alloc the child waker is the parent's own

    // Completed with an error.
    let (children, h) = probe_array::<usize, &str, 3>();
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].fail("zero");
    h[0].wake();
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
    let wakes = parent.wakes();
    for h in &h {
        h.wake();
    }
    #[cfg(feature = "alloc")]
    assert_eq!(parent.wakes(), wakes);
    #[cfg(not(feature = "alloc"))]
    let _ = wakes;
}

// 7. Drop.

type CountedChild = Probe<Counted<usize>, &'static str>;

/// Drops a group of `n` counted children at each moment of its life and checks that every child
/// and every output was dropped exactly once.
fn check_drop_at_every_moment<G, O>(n: usize, make: impl Fn(Vec<CountedChild>) -> G)
where
    G: Future<Output = Result<O, ErrorGroup<&'static str>>>,
{
    let parent = Parent::new();
    let all_dropped_once = |h: &[Handle<Counted<usize>, &str>]| h.iter().all(|h| h.drops() == 1);
    let even = n.div_ceil(2);

    // Before the first poll.
    let (children, h) = support::probes(n);
    drop(make(children));
    assert!(all_dropped_once(&h), "size {n}, never polled");
    assert!(h.iter().all(|h| h.polls() == 0));

    // Mid-way: the even children stored their outputs, the odd ones are running.
    let outputs = DropCount::new();
    let (children, h) = support::probes(n);
    for i in (0..n).step_by(2) {
        h[i].succeed(outputs.tag(i));
    }
    let mut group = Box::pin(make(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(outputs.get(), 0);
    drop(group);
    assert!(all_dropped_once(&h), "size {n}, mid-way");
    assert_eq!(outputs.get(), even, "size {n}, mid-way");

    // After completion: the outputs were handed over and are the caller's to drop.
    let outputs = DropCount::new();
    let (children, h) = support::probes(n);
    for (i, h) in h.iter().enumerate() {
        h.succeed(outputs.tag(i));
    }
    let mut group = Box::pin(make(children));
    let Poll::Ready(Ok(out)) = parent.poll(group.as_mut()) else {
        panic!("size {n}: every child was ready");
    };
    drop(group);
    assert!(all_dropped_once(&h), "size {n}, completed");
    assert_eq!(
        outputs.get(),
        0,
        "size {n}: the outputs live in the group's output"
    );
    drop(out);
    assert_eq!(outputs.get(), n, "size {n}, completed");

    // After failure.
    let outputs = DropCount::new();
    let (children, h) = support::probes(n);
    for i in (0..n).step_by(2) {
        h[i].succeed(outputs.tag(i));
    }
    h[1].fail("one");
    let mut group = Box::pin(make(children));
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
    drop(group);
    assert!(all_dropped_once(&h), "size {n}, failed");
    assert_eq!(outputs.get(), even, "size {n}, failed");
}

#[test]
fn dropping_the_group_drops_every_child_and_output_once() {
    fn array<const N: usize>(children: Vec<CountedChild>) -> [CountedChild; N] {
        children.try_into().unwrap_or_else(|_| unreachable!())
    }
    check_drop_at_every_moment(4, |children| try_join(array::<4>(children)));
    check_drop_at_every_moment(65, |children| try_join(array::<65>(children)));
    check_drop_at_every_moment(4, |children| {
        let [a, b, c, d] = array(children);
        try_join((a, b, c, d))
    });
    #[cfg(feature = "alloc")]
    {
        check_drop_at_every_moment(4, try_join);
        check_drop_at_every_moment(size(1000), try_join);
        check_drop_at_every_moment(130, |children| {
            children.into_iter().collect::<TaskGroup<_>>().into_future()
        });
    }
}

/// A child that must not move once polled: it remembers the address it was polled at, and counts
/// a drop at that same address.
struct Pinned {
    fails: bool,
    polled_at: Cell<usize>,
    dropped_in_place: Rc<Cell<usize>>,
    _pin: PhantomPinned,
}

impl Pinned {
    fn new(fails: bool, dropped_in_place: &Rc<Cell<usize>>) -> Self {
        Pinned {
            fails,
            polled_at: Cell::new(0),
            dropped_in_place: Rc::clone(dropped_in_place),
            _pin: PhantomPinned,
        }
    }
}

impl Future for Pinned {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.polled_at.set(&*self as *const Self as usize);
        if self.fails {
            Poll::Ready(Err(()))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if self.polled_at.get() == self as *const Self as usize {
            self.dropped_in_place.set(self.dropped_in_place.get() + 1);
        }
    }
}

#[test]
fn unfinished_children_are_dropped_in_place() {
    let parent = Parent::new();
    let in_place = Rc::new(Cell::new(0));

    // Dropped by the failing poll.
    let children = [false, true, false].map(|fails| Pinned::new(fails, &in_place));
    let mut group = Box::pin(try_join(children));
    let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(errors.cancelled(), 2);
    assert_eq!(in_place.get(), 3);

    // Dropped with the group.
    in_place.set(0);
    let mut group = Box::pin(try_join(
        [false, false].map(|fails| Pinned::new(fails, &in_place)),
    ));
    assert!(parent.poll(group.as_mut()).is_pending());
    drop(group);
    assert_eq!(in_place.get(), 2);

    #[cfg(feature = "alloc")]
    {
        in_place.set(0);
        let children = (0..65)
            .map(|i| Pinned::new(i == 64, &in_place))
            .collect::<Vec<_>>();
        // A Vec group is Unpin and may move between polls; its children stay put.
        let mut group = try_join(children);
        let errors = expect_ready(parent.poll(Pin::new(&mut group))).unwrap_err();
        assert_eq!(errors.cancelled(), 64);
        assert_eq!(in_place.get(), 65);
    }
}

// 8. Panics.

#[test]
fn panicking_child_unwinds_and_everything_is_dropped_once() {
    let parent = Parent::new();

    // A child panics in a later poll, after a sibling stored its output.
    let outputs = DropCount::new();
    let (children, h) = probe_array::<Counted<usize>, &str, 4>();
    h[0].succeed(outputs.tag(0));
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[2].on_poll(|| panic!("child 2 panics"));
    h[3].succeed(outputs.tag(3));
    h[2].wake();
    h[3].wake();
    let payload = catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut())))
        .expect_err("the child's panic unwinds through the group's poll");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child 2 panics"));
    assert_eq!(h[3].polls(), 1, "the sweep stopped at the panic");
    drop(group);
    assert!(h.iter().all(|h| h.drops() == 1));
    assert_eq!(outputs.get(), 1);

    // A child panics in a failing sweep, after a sibling failed in it.
    let outputs = DropCount::new();
    let (children, h) = probe_array::<Counted<usize>, &str, 4>();
    h[0].succeed(outputs.tag(0));
    let mut group = Box::pin(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].fail("one");
    h[2].on_poll(|| panic!("child 2 panics"));
    h[1].wake();
    h[2].wake();
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut()))).is_err());
    drop(group);
    assert!(h.iter().all(|h| h.drops() == 1));
    assert_eq!(outputs.get(), 1);

    // A child panics in the first poll.
    let outputs = DropCount::new();
    let (children, h) = probe_array::<Counted<usize>, &str, 3>();
    h[0].succeed(outputs.tag(0));
    h[1].on_poll(|| panic!("child 1 panics"));
    let mut group = Box::pin(try_join(children));
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut()))).is_err());
    drop(group);
    assert!(h.iter().all(|h| h.drops() == 1));
    assert_eq!(outputs.get(), 1);
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_completion_panics() {
    let parent = Parent::new();
    let mut group = pin!(try_join([ready(Ok::<_, ()>(1)), ready(Ok(2))]));
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok([1, 2]));
    let _ = parent.poll(group.as_mut());
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_failure_panics() {
    let parent = Parent::new();
    let mut group = pin!(try_join([ready(Ok(1)), ready(Err(()))]));
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
    let _ = parent.poll(group.as_mut());
}

#[test]
fn group_is_terminated_after_completion() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, &str, 2>();
    let mut group = pin!(try_join(children));
    assert!(!group.is_terminated());
    assert!(parent.poll(group.as_mut()).is_pending());
    assert!(!group.is_terminated());
    for (i, h) in h.iter().enumerate() {
        h.succeed(i);
        h.wake();
    }
    assert!(expect_ready(parent.poll(group.as_mut())).is_ok());
    assert!(group.is_terminated());

    let mut failed = pin!(try_join([ready(Err::<(), _>("no"))]));
    assert!(!failed.is_terminated());
    assert!(expect_ready(parent.poll(failed.as_mut())).is_err());
    assert!(failed.is_terminated());

    let mut joined = pin!(join((ready(1), ready("one"))));
    assert!(!joined.is_terminated());
    assert_eq!(expect_ready(parent.poll(joined.as_mut())), (1, "one"));
    assert!(joined.is_terminated());
}

// 9. Empty.

#[test]
fn empty_group_completes_on_first_poll() {
    let parent = Parent::new();
    let mut array = pin!(try_join::<[Ready<Result<u8, ()>>; 0]>([]));
    assert_eq!(expect_ready(parent.poll(array.as_mut())), Ok([]));
    assert!(array.is_terminated());
    let mut joined = pin!(join::<[Ready<u8>; 0]>([]));
    assert_eq!(expect_ready(parent.poll(joined.as_mut())), []);

    #[cfg(feature = "alloc")]
    {
        let mut vec = try_join(Vec::<Ready<Result<u8, ()>>>::new());
        assert!(vec.is_empty());
        assert_eq!(expect_ready(parent.poll(Pin::new(&mut vec))), Ok(vec![]));
        let mut group = TaskGroup::<Ready<Result<u8, ()>>>::new().into_future();
        assert_eq!(expect_ready(parent.poll(Pin::new(&mut group))), Ok(vec![]));
        let mut joined = TaskGroup::<Ready<u8>>::new().join();
        assert_eq!(
            expect_ready(parent.poll(Pin::new(&mut joined))),
            Vec::<u8>::new()
        );
    }
    assert_eq!(parent.wakes(), 0);
}
