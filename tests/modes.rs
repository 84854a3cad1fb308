//! The promises of issue 4's modes and stops, one test (or more) per promise, named after it:
//! [`settle`], [`first_ok`], [`race`], deadlines ([`until`](taskgroup::TaskGroupFuture::until))
//! and cancel handles ([`CancelHandle`]), then a table that drops every child and every output
//! exactly once in every mode, on every path.
//!
//! Children are scripted probes driven by hand with a counting parent waker, so polls, wakes and
//! drops are exact. Without the `alloc` feature the tests over arrays and tuples still run; only
//! the expectations that depend on per-child wakers (which child a poll polls), on the lists that
//! need an allocator (every error, every unfinished index), or on `Vec`, `TaskGroup` and
//! `CancelHandle` are gated on the feature.

mod support;

use std::cell::Cell;
use std::fmt::Debug;
use std::future::{pending, ready, Future, Pending, Ready};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use futures::future::{Either, FusedFuture};
use taskgroup::{
    first_ok, join, race, settle, try_join, ErrorGroup, FirstOkError, Group, Interrupted, Reason,
    Until,
};

#[cfg(feature = "alloc")]
use taskgroup::shape::{mode, IntoShape};
#[cfg(feature = "alloc")]
use taskgroup::{CancelHandle, TaskGroup};

use support::{expect_ready, probe, probe_array, Counted, DropCount, Handle, Parent, Probe};

/// How many times each probe was dropped.
fn drops<T, E, const N: usize>(handles: &[Handle<T, E>; N]) -> [usize; N] {
    std::array::from_fn(|i| handles[i].drops())
}

/// How many times each probe was polled.
fn polls<T, E, const N: usize>(handles: &[Handle<T, E>; N]) -> [usize; N] {
    std::array::from_fn(|i| handles[i].polls())
}

/// Checks the children an interruption reports. With `alloc` it lists them all; without, it keeps
/// the lowest index and counts the others in `omitted`.
#[track_caller]
fn assert_unfinished(ended: &Interrupted, expected: &[usize]) {
    let kept = if cfg!(feature = "alloc") {
        expected.len()
    } else {
        expected.len().min(1)
    };
    assert_eq!(
        (ended.unfinished(), ended.omitted()),
        (&expected[..kept], expected.len() - kept),
        "{ended}"
    );
}

/// Checks every error of a group, in order. With `alloc` the group keeps them all; without, it
/// keeps the first and counts the others in `omitted`.
#[track_caller]
fn assert_errors<E: PartialEq + Debug>(errors: &ErrorGroup<E>, expected: &[(usize, E)]) {
    let kept = if cfg!(feature = "alloc") {
        expected.len()
    } else {
        expected.len().min(1)
    };
    let listed: Vec<(usize, &E)> = expected[..kept].iter().map(|(i, e)| (*i, e)).collect();
    assert_eq!(
        (errors.iter().collect::<Vec<_>>(), errors.omitted()),
        (listed, expected.len() - kept)
    );
}

/// Shared log of who was polled, in order, for tests where the order is the promise.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    /// Logs `name` at the start of every later poll of the probe behind `handle`.
    fn watch<T, E>(&self, handle: &Handle<T, E>, name: &'static str) {
        let log = self.clone();
        handle.on_poll(move || log.0.lock().unwrap().push(name));
    }

    /// Everything logged since the last call.
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// Settle.

#[test]
fn settle_runs_every_child_despite_errors() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, &str, 3>();
    let mut group = pin!(settle(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    h[1].fail("child 1 failed");
    h[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending(), "siblings run on");
    assert_eq!(drops(&h), [0, 1, 0], "only the finished child is dropped");

    // The siblings are still polled when woken, and may fail too without ending anything.
    h[2].fail("child 2 failed");
    h[2].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    #[cfg(feature = "alloc")]
    assert_eq!(polls(&h), [1, 2, 2], "only the woken are polled");
    assert_eq!(drops(&h), [0, 1, 1]);

    h[0].succeed(0);
    h[0].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        [Ok(0), Err("child 1 failed"), Err("child 2 failed")]
    );
    assert_eq!(drops(&h), [1, 1, 1]);
}

#[test]
fn settle_of_children_that_all_fail_returns_every_error() {
    let out = block_on(settle([ready(Err::<(), _>("a")), ready(Err("b"))]));
    assert_eq!(out, [Err("a"), Err("b")]);
}

#[test]
fn settle_returns_every_result_in_input_order_for_arrays() {
    let parent = Parent::new();
    let (children, h) = probe_array::<usize, usize, 4>();
    let mut group = pin!(settle(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    // Last to first, alternating success and failure.
    for (i, h) in h.iter().enumerate().rev() {
        if i % 2 == 0 {
            h.succeed(i);
        } else {
            h.fail(i * 10);
        }
        h.wake();
        let out = parent.poll(group.as_mut());
        if i > 0 {
            assert!(out.is_pending(), "child 0 still runs");
        } else {
            assert_eq!(expect_ready(out), [Ok(0), Err(10), Ok(2), Err(30)]);
        }
    }
}

#[test]
fn settle_returns_a_tuple_of_results_with_different_ok_types() {
    let parent = Parent::new();
    let (c0, h0) = probe::<u8, &str>();
    let (c1, h1) = probe::<String, &str>();
    let (c2, h2) = probe::<char, &str>();
    let mut group = pin!(settle((c0, c1, c2)));
    assert!(parent.poll(group.as_mut()).is_pending());
    h2.succeed('c');
    h2.wake();
    h1.fail("no string");
    h1.wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    h0.succeed(7);
    h0.wake();
    let (a, b, c) = expect_ready(parent.poll(group.as_mut()));
    // Each child keeps its own `Ok` type.
    let (a, b, c): (Result<u8, _>, Result<String, _>, Result<char, _>) = (a, b, c);
    assert_eq!((a, b, c), (Ok(7), Err("no string"), Ok('c')));
}

#[cfg(feature = "alloc")]
#[test]
fn settle_returns_every_result_in_input_order_for_vec_and_task_group() {
    fn settles<C: IntoShape<mode::Settle>>() {}
    settles::<TaskGroup<Probe<u8, u8>>>();

    let parent = Parent::new();
    let (children, h) = support::probes::<usize, usize>(5);
    let mut group = pin!(settle(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    for (i, h) in h.iter().enumerate().rev() {
        if i == 1 || i == 4 {
            h.fail(i);
        } else {
            h.succeed(i);
        }
        h.wake();
    }
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        [Ok(0), Err(1), Ok(2), Ok(3), Err(4)]
    );

    let (children, h) = support::probes::<usize, usize>(3);
    let mut task_group = TaskGroup::new();
    for child in children {
        task_group.push(child);
    }
    let mut group = pin!(settle(task_group));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[2].succeed(2);
    h[0].fail(0);
    h[1].succeed(1);
    for h in &h {
        h.wake();
    }
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        [Err(0), Ok(1), Ok(2)]
    );
    assert!(h.iter().all(|h| h.drops() == 1));
}

#[test]
fn settle_keeps_every_output_until_it_returns_them() {
    let parent = Parent::new();
    let values = DropCount::new();
    let (children, h) = probe_array::<Counted<u8>, Counted<u8>, 3>();
    let mut group = pin!(settle(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].fail(values.tag(0));
    h[0].wake();
    h[2].succeed(values.tag(2));
    h[2].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].succeed(values.tag(1));
    h[1].wake();
    let out = expect_ready(parent.poll(group.as_mut()));
    assert_eq!(values.get(), 0, "no output dropped on the way");
    let [a, b, c] = out;
    assert_eq!(
        [a.unwrap_err().value, b.unwrap().value, c.unwrap().value],
        [0, 1, 2]
    );
    assert_eq!(values.get(), 3, "each output dropped once, by its owner");
}

#[test]
fn settle_of_no_children_completes_on_first_poll() {
    let parent = Parent::new();
    let mut group = pin!(settle::<[Ready<Result<u8, ()>>; 0]>([]));
    assert_eq!(expect_ready(parent.poll(group.as_mut())), []);
    #[cfg(feature = "alloc")]
    {
        let mut group = pin!(settle(Vec::<Ready<Result<u8, ()>>>::new()));
        assert_eq!(expect_ready(parent.poll(group.as_mut())), []);
    }
}

// First success.

#[test]
fn first_ok_returns_the_first_success_with_its_index() {
    let parent = Parent::new();
    let (children, h) = probe_array::<&str, &str, 3>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[2].succeed("mirror 2");
    h[2].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok((2, "mirror 2"))
    );
}

#[test]
fn first_ok_drops_every_other_child_and_every_error_before_returning() {
    let parent = Parent::new();
    let errors = DropCount::new();
    let (children, h) = probe_array::<u8, Counted<&str>, 4>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[3].fail(errors.tag("mirror 3 down"));
    h[3].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(errors.get(), 0, "the error is kept while the group runs");

    h[1].succeed(11);
    h[1].wake();
    let out = expect_ready(parent.poll(group.as_mut()));
    // Checked while the output is still held: the group let go of everything before returning.
    assert_eq!(drops(&h), [1, 1, 1, 1]);
    assert_eq!(errors.get(), 1, "the stored error went with the losers");
    assert_eq!(out.map_err(|_| ()), Ok((1, 11)));
    #[cfg(feature = "alloc")]
    assert_eq!(polls(&h), [1, 2, 1, 2], "losers are not polled again");
}

#[test]
fn first_ok_errors_before_a_success_do_not_end_the_group() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, &str, 3>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    for (i, error) in [(0, "first"), (2, "second")] {
        h[i].fail(error);
        h[i].wake();
        assert!(
            parent.poll(group.as_mut()).is_pending(),
            "child 1 may succeed"
        );
        assert!(!group.is_terminated());
    }
    assert_eq!(
        drops(&h),
        [1, 0, 1],
        "a failed child is finished, the others run"
    );
    h[1].succeed(1);
    h[1].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok((1, 1)));
    assert!(group.is_terminated());
}

#[test]
fn first_ok_reports_every_error_in_child_order_when_all_fail() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, &str, 3>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    // The errors come in the order 2, 0, 1 and are reported in child order.
    for (i, error) in [(2, "c"), (0, "a")] {
        h[i].fail(error);
        h[i].wake();
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    h[1].fail("b");
    h[1].wake();
    let Err(FirstOkError::AllFailed(errors)) = expect_ready(parent.poll(group.as_mut())) else {
        panic!("every child failed");
    };
    assert_errors(&errors, &[(0, "a"), (1, "b"), (2, "c")]);
    assert_eq!(errors.cancelled(), 0, "nobody was left to drop");
    assert_eq!(drops(&h), [1, 1, 1]);

    // A tuple, whose children share one `Ok` and one error type.
    let tuple = block_on(first_ok((
        ready(Err::<u8, _>("x")),
        async { Err("y") },
        ready(Err("z")),
    )));
    let errors = tuple.unwrap_err().into_errors().expect("not empty");
    assert_errors(&errors, &[(0, "x"), (1, "y"), (2, "z")]);

    #[cfg(feature = "alloc")]
    {
        let children: Vec<_> = (0..4).map(|i| ready(Err::<(), _>(i))).collect();
        let errors = block_on(first_ok(children)).unwrap_err().into_errors();
        assert_eq!(
            errors.unwrap().into_iter().collect::<Vec<_>>(),
            [(0, 0), (1, 1), (2, 2), (3, 3)]
        );
    }
}

#[test]
fn first_ok_of_no_children_fails_with_empty_on_first_poll() {
    let parent = Parent::new();
    let mut group = pin!(first_ok::<[Pending<Result<u8, ()>>; 0]>([]));
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Err(FirstOkError::Empty)
    );
    assert!(group.is_terminated());
    #[cfg(feature = "alloc")]
    {
        let mut vec = pin!(first_ok(Vec::<Pending<Result<u8, ()>>>::new()));
        assert_eq!(
            expect_ready(parent.poll(vec.as_mut())),
            Err(FirstOkError::Empty)
        );
        let mut task_group = pin!(first_ok(TaskGroup::<Pending<Result<u8, ()>>>::new()));
        assert_eq!(
            expect_ready(parent.poll(task_group.as_mut())),
            Err(FirstOkError::Empty)
        );
    }
    assert_eq!(parent.wakes(), 0);
}

#[test]
fn first_ok_successes_in_the_same_poll_go_to_the_lowest_index() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, (), 3>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    // Woken highest first: the order of wakes does not matter, the index does.
    h[2].succeed(2);
    h[2].wake();
    h[1].succeed(1);
    h[1].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok((1, 1)));
    assert_eq!(h[2].polls(), 1, "nobody is polled after the winner");
    assert_eq!(drops(&h), [1, 1, 1]);

    // In the first poll as well, behind a failure.
    let out = block_on(first_ok([ready(Err(())), ready(Ok(1)), ready(Ok(2))]));
    assert_eq!(out, Ok((1, 1)));
}

// Race.

#[test]
fn race_returns_the_first_child_to_finish_with_its_index() {
    let parent = Parent::new();
    let (children, h) = probe_array::<&str, &str, 3>();
    let mut group = pin!(race(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[2].succeed("two");
    h[2].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), (2, Ok("two")));
}

#[test]
fn race_winner_may_be_an_error() {
    let parent = Parent::new();
    let (children, h) = probe_array::<&str, &str, 3>();
    let mut group = pin!(race(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].fail("refused");
    h[1].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        (1, Err("refused")),
        "the whole output of the child, not a fail-fast error"
    );
}

#[test]
fn race_drops_every_other_child_exactly_once_before_returning() {
    let parent = Parent::new();
    let values = DropCount::new();
    let (children, h) = probe_array::<Counted<u8>, (), 4>();
    let mut group = pin!(race(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].wake(); // a spurious wake: still pending
    h[3].succeed(values.tag(3));
    h[3].wake();
    let (winner, output) = expect_ready(parent.poll(group.as_mut()));
    assert_eq!(
        drops(&h),
        [1, 1, 1, 1],
        "every child went before the output"
    );
    assert_eq!((winner, values.get()), (3, 0));
    drop(output);
    assert_eq!(values.get(), 1);
}

#[test]
fn race_children_finishing_in_the_same_poll_go_to_the_lowest_index() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, u8, 3>();
    let mut group = pin!(race(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[2].succeed(2);
    h[2].wake();
    h[1].fail(1);
    h[1].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), (1, Err(1)));
    assert_eq!(h[2].polls(), 1, "nobody is polled after the winner");

    let out = block_on(race([ready('a'), ready('b')]));
    assert_eq!(out, (0, 'a'));
}

#[test]
fn race_takes_tuples_of_one_output_type() {
    // Three different future types with one output type.
    let out = block_on(race((
        pending::<Result<u8, &str>>(),
        ready(Err("late")),
        async { Ok(3) },
    )));
    assert_eq!(out, (1, Err("late")));
}

#[cfg(feature = "alloc")]
#[test]
fn race_takes_vec_and_task_group() {
    let children = vec![Either::Left(pending()), Either::Right(ready(9u8))];
    assert_eq!(block_on(race(children)), (1, 9));
    let group: TaskGroup<_> = [Either::Left(pending()), Either::Right(ready('x'))]
        .into_iter()
        .collect();
    assert_eq!(block_on(race(group)), (1, 'x'));
}

#[test]
#[should_panic(expected = "needs at least one child")]
fn race_of_no_children_panics() {
    let _ = block_on(race::<[Ready<u8>; 0]>([]));
}

#[cfg(feature = "alloc")]
#[test]
#[should_panic(expected = "needs at least one child")]
fn race_of_an_empty_vec_panics() {
    let _ = block_on(race(Vec::<Ready<u8>>::new()));
}

/// A child that yields `left` times (waking itself by reference, never cloning its waker, so the
/// group may keep its lazy wakers), then returns `output`.
struct Yield<T> {
    left: usize,
    output: Option<T>,
}

fn yield_then<T: Unpin>(left: usize, output: T) -> Yield<T> {
    Yield {
        left,
        output: Some(output),
    }
}

impl<T: Unpin> Future for Yield<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        if self.left == 0 {
            return std::task::Poll::Ready(self.output.take().expect("polled after it finished"));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[test]
fn every_mode_runs_children_that_only_wake_themselves() {
    let parent = Parent::new();
    let mut group = pin!(first_ok([
        yield_then(1, Err("a")),
        yield_then(3, Ok(1)),
        yield_then(2, Ok(2)),
    ]));
    for _ in 0..2 {
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok((2, 2)));
    assert!(parent.wakes() >= 2, "each pending poll asked to come back");

    let out = block_on(settle([
        yield_then(2, Ok(0)),
        yield_then(0, Err(1)),
        yield_then(1, Ok(2)),
    ]));
    assert_eq!(out, [Ok(0), Err(1), Ok(2)]);
    let out = block_on(race([
        yield_then(2, 'a'),
        yield_then(1, 'b'),
        yield_then(1, 'c'),
    ]));
    assert_eq!(out, (1, 'b'));
    let out = block_on(join([yield_then(3, 'a'), yield_then(0, 'b')]));
    assert_eq!(out, ['a', 'b']);

    // A deadline in the middle: the children that finished are not reported.
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(settle([
        yield_then(5, Ok::<u8, u8>(0)),
        yield_then(0, Err(1)),
        yield_then(1, Ok(2)),
        yield_then(5, Ok(3)),
    ])
    .until(deadline));
    for _ in 0..2 {
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    alarm.succeed(());
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_unfinished(&ended, &[0, 3]);
}

// Deadlines.

#[test]
fn deadline_drops_children_and_reports_unfinished() {
    let parent = Parent::new();
    let values = DropCount::new();
    let (children, h) = probe_array::<Counted<u8>, (), 4>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());

    h[1].succeed(values.tag(1));
    h[1].wake();
    h[3].succeed(values.tag(3));
    h[3].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(values.get(), 0, "finished children's outputs are kept");

    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    assert_unfinished(&ended, &[0, 2]);
    assert_eq!(
        drops(&h),
        [1, 1, 1, 1],
        "every child dropped before returning"
    );
    assert_eq!(values.get(), 2, "and every output already produced");
    assert!(group.is_terminated());
}

#[test]
fn deadline_excludes_failed_children_of_first_ok_and_settle_and_drops_their_errors() {
    let parent = Parent::new();
    let errors = DropCount::new();
    let (children, h) = probe_array::<u8, Counted<u8>, 3>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(first_ok(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].fail(errors.tag(1));
    h[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_unfinished(&ended, &[0, 2]);
    assert_eq!(drops(&h), [1, 1, 1]);
    assert_eq!(errors.get(), 1, "the stored error was dropped");

    let values = DropCount::new();
    let (children, h) = probe_array::<Counted<u8>, Counted<u8>, 3>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(settle(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].fail(values.tag(0));
    h[0].wake();
    h[2].succeed(values.tag(2));
    h[2].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_unfinished(&ended, &[1]);
    assert_eq!(drops(&h), [1, 1, 1]);
    assert_eq!(values.get(), 2, "both settled results were dropped");
}

#[test]
fn deadline_that_never_completes_changes_nothing() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, (), 2>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].succeed(1);
    h[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].succeed(0);
    h[0].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok(Ok([0, 1])));
    assert_eq!(alarm.polls(), 3, "asked once per poll of the group");
    assert_eq!(alarm.drops(), 0, "the deadline lives as long as the group");

    // Every mode: its own output, in `Ok`.
    let never = pending::<()>;
    assert_eq!(
        block_on(join([ready(1), ready(2)]).until(never())),
        Ok([1, 2])
    );
    assert_eq!(
        block_on(settle([ready(Ok(1)), ready(Err(2))]).until(never())),
        Ok([Ok(1), Err(2)])
    );
    assert_eq!(
        block_on(first_ok([ready(Err(1)), ready(Ok(2))]).until(never())),
        Ok(Ok((1, 2)))
    );
    assert_eq!(
        block_on(race([Either::Left(pending()), Either::Right(ready(3))]).until(never())),
        Ok((1, 3))
    );
    assert_eq!(block_on(join::<[Ready<u8>; 0]>([]).until(never())), Ok([]));
}

#[test]
fn deadline_is_checked_before_any_child_is_polled() {
    // A deadline that is already here: no child is ever polled.
    let (children, h) = probe_array::<u8, (), 3>();
    let ended = block_on(try_join(children).until(ready(()))).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    assert_unfinished(&ended, &[0, 1, 2]);
    assert_eq!(polls(&h), [0, 0, 0]);
    assert_eq!(drops(&h), [1, 1, 1]);

    // And at every later poll, the deadline comes first.
    let parent = Parent::new();
    let log = Log::default();
    let (children, h) = probe_array::<u8, (), 2>();
    let (deadline, alarm) = probe::<(), ()>();
    log.watch(&alarm, "deadline");
    log.watch(&h[0], "child 0");
    log.watch(&h[1], "child 1");
    let mut group = pin!(join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(log.take(), ["deadline", "child 0", "child 1"]);
    h[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    #[cfg(feature = "alloc")]
    assert_eq!(log.take(), ["deadline", "child 1"]);
    #[cfg(not(feature = "alloc"))]
    assert_eq!(log.take(), ["deadline", "child 0", "child 1"]);
    alarm.succeed(());
    alarm.wake();
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
    assert_eq!(log.take(), ["deadline"]);
}

#[test]
fn deadline_wins_over_children_ready_in_the_same_poll() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, (), 2>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[0].succeed(0);
    h[0].wake();
    h[1].succeed(1);
    h[1].wake();
    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_unfinished(&ended, &[0, 1]);
    assert_eq!(polls(&h), [1, 1], "the ready children were not polled");
}

#[test]
fn deadline_is_polled_with_the_groups_waker() {
    let parent = Parent::new();
    let (children, _h) = probe_array::<u8, (), 2>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    let wakes = parent.wakes();
    alarm.succeed(());
    alarm.wake();
    assert_eq!(
        parent.wakes(),
        wakes + 1,
        "the deadline's wake reaches the task"
    );
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
}

#[test]
fn child_error_before_the_deadline_is_a_child_error() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, &str, 3>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].fail("child 1 failed");
    h[1].wake();
    let errors = expect_ready(parent.poll(group.as_mut()))
        .expect("a child's error is not an interruption")
        .unwrap_err();
    assert_errors(&errors, &[(1, "child 1 failed")]);
    assert_eq!(errors.cancelled(), 2);
    assert_eq!(drops(&h), [1, 1, 1]);
    assert_eq!(alarm.polls(), 2);
}

/// A fail-fast group with a deadline, over three probes.
type Bounded = Pin<Box<dyn Future<Output = Result<Result<[u8; 3], ErrorGroup<u8>>, Interrupted>>>>;

/// Child 1 fails and child 2 panics in the same sweep of a group with a deadline; returns the
/// group, unwound, with the children's handles and the deadline's.
fn fail_then_panic_in_one_sweep() -> (Bounded, [Handle<u8, u8>; 3], Handle<(), ()>) {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, u8, 3>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group: Bounded = Box::pin(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    h[1].fail(1);
    h[1].wake();
    h[2].on_poll(|| panic!("child 2 panics (on purpose)"));
    h[2].wake();
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut()))).is_err());
    (group, h, alarm)
}

#[test]
fn a_failing_sweep_cut_short_by_a_panic_reports_its_error_at_the_next_poll() {
    let parent = Parent::new();
    let (mut group, h, _alarm) = fail_then_panic_in_one_sweep();
    let errors = expect_ready(parent.poll(group.as_mut()))
        .expect("not interrupted")
        .unwrap_err();
    assert_errors(&errors, &[(1, 1)]);
    assert_eq!(drops(&h), [1, 1, 1]);
}

#[test]
fn child_error_before_the_deadline_is_reported_even_if_a_sibling_panicked_after_it() {
    let parent = Parent::new();
    let (mut group, h, alarm) = fail_then_panic_in_one_sweep();
    alarm.succeed(());
    alarm.wake();
    let out = expect_ready(parent.poll(group.as_mut()));
    let errors = out
        .expect("child 1 failed before the deadline: not an interruption")
        .unwrap_err();
    assert_errors(&errors, &[(1, 1)]);
    assert_eq!(drops(&h), [1, 1, 1]);
}

#[test]
fn either_of_two_deadlines_ends_the_group() {
    for fire in [0, 1] {
        let parent = Parent::new();
        let (children, h) = probe_array::<u8, (), 2>();
        let (a, alarm_a) = probe::<(), ()>();
        let (b, alarm_b) = probe::<(), ()>();
        let mut group = pin!(try_join(children).until(a).until(b));
        assert!(parent.poll(group.as_mut()).is_pending());
        let alarm = [&alarm_a, &alarm_b][fire];
        alarm.succeed(());
        alarm.wake();
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Deadline, "deadline {fire}");
        assert_unfinished(&ended, &[0, 1]);
        assert_eq!(drops(&h), [1, 1]);
        // The second deadline is asked only when the first is still pending.
        assert_eq!(
            (alarm_a.polls(), alarm_b.polls()),
            (2, 1 + fire),
            "deadline {fire}"
        );
    }
}

#[test]
fn until_is_a_fused_future() {
    fn fused<F: FusedFuture>(_: &F) {}
    let parent = Parent::new();

    let mut done = pin!(join([ready(1)]).until(pending::<()>()));
    fused(&done);
    assert!(!done.is_terminated());
    assert_eq!(expect_ready(parent.poll(done.as_mut())), Ok([1]));
    assert!(done.is_terminated());

    let mut ended = pin!(join([pending::<u8>()]).until(ready(())));
    assert!(!ended.is_terminated());
    assert!(expect_ready(parent.poll(ended.as_mut())).is_err());
    assert!(
        ended.is_terminated(),
        "an interrupted group is terminated too"
    );

    // `Until::new` works on any group, here an unpolled one.
    let mut new = pin!(Until::new(settle([pending::<Result<u8, ()>>()]), ready(())));
    assert!(!new.is_terminated());
    assert!(expect_ready(parent.poll(new.as_mut())).is_err());
    assert!(new.is_terminated());
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_until_after_it_completed_panics() {
    let parent = Parent::new();
    let mut group = pin!(try_join([ready(Ok::<u8, ()>(1))]).until(pending::<()>()));
    let _ = expect_ready(parent.poll(group.as_mut()));
    let _ = parent.poll(group.as_mut());
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_until_after_an_interruption_panics() {
    let parent = Parent::new();
    let mut group = pin!(try_join([pending::<Result<u8, ()>>()]).until(ready(())));
    assert!(expect_ready(parent.poll(group.as_mut())).is_err());
    let _ = parent.poll(group.as_mut());
}

#[test]
fn a_panicking_deadline_leaves_every_child_to_be_dropped_once() {
    let parent = Parent::new();
    let (children, h) = probe_array::<u8, (), 2>();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = Box::pin(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    alarm.on_poll(|| panic!("the deadline panics"));
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut()))).is_err());
    assert_eq!(
        polls(&h),
        [1, 1],
        "no child polled after the deadline's panic"
    );
    drop(group);
    assert_eq!(drops(&h), [1, 1]);
    assert_eq!(alarm.drops(), 1);
}

/// A child that never finishes and whose drop may panic.
struct Bomb {
    drops: Arc<std::sync::atomic::AtomicUsize>,
    explodes: bool,
}

impl Future for Bomb {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::task::Poll::Pending
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.explodes {
            panic!("a child's drop panics (on purpose)");
        }
    }
}

#[test]
fn an_interruption_whose_child_drop_panics_still_drops_every_child_once() {
    let counts: [Arc<std::sync::atomic::AtomicUsize>; 3] = Default::default();
    let children: [Bomb; 3] = std::array::from_fn(|i| Bomb {
        drops: Arc::clone(&counts[i]),
        explodes: i == 1,
    });
    let parent = Parent::new();
    let (deadline, alarm) = probe::<(), ()>();
    let mut group = Box::pin(settle(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    alarm.succeed(());
    alarm.wake();
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut()))).is_err());
    let dropped = || {
        counts
            .each_ref()
            .map(|c| c.load(std::sync::atomic::Ordering::SeqCst))
    };
    assert_eq!(dropped(), [1, 1, 0], "the release stopped at the panic");
    assert!(group.is_terminated());
    drop(group);
    assert_eq!(dropped(), [1, 1, 1], "the group dropped the rest, once");
}

// Cancel handles.

#[cfg(feature = "alloc")]
mod cancel {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// How long a test waits for another thread before failing rather than hanging. Never
    /// reached when things work; generous, for Miri.
    const PATIENCE: Duration = Duration::from_secs(120);

    #[test]
    fn cancel_from_inside_a_child() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<u8, (), 3>();
        let inside = handle.clone();
        h[1].on_poll(move || inside.cancel());
        let mut group = pin!(try_join(children).with_cancel(handle));

        assert!(
            parent.poll(group.as_mut()).is_pending(),
            "the poll that cancelled goes on; the group ends at its next poll"
        );
        // The probes never wake anyone: the one wake is the cancel's.
        assert_eq!(parent.wakes(), 1, "cancelling woke the group's task");
        assert_eq!(polls(&h), [1, 1, 1], "the sweep finished");
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_unfinished(&ended, &[0, 1, 2]);
        assert_eq!(polls(&h), [1, 1, 1], "no child polled once cancelled");
        assert_eq!(drops(&h), [1, 1, 1]);
    }

    #[test]
    fn cancel_reports_unfinished_children_and_drops_finished_outputs() {
        let parent = Parent::new();
        let values = DropCount::new();
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<Counted<u8>, (), 3>();
        let mut group = pin!(try_join(children).with_cancel(handle.clone()));
        assert!(parent.poll(group.as_mut()).is_pending());
        h[1].succeed(values.tag(1));
        h[1].wake();
        assert!(parent.poll(group.as_mut()).is_pending());
        let wakes = parent.wakes();
        handle.cancel();
        assert_eq!(parent.wakes(), wakes + 1, "cancelling wakes the group");
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_unfinished(&ended, &[0, 2]);
        assert_eq!(
            ended.to_string(),
            "cancelled with 2 children unfinished: 0, 2"
        );
        assert_eq!(drops(&h), [1, 1, 1]);
        assert_eq!(values.get(), 1);
    }

    #[test]
    fn a_group_that_completes_in_the_poll_that_cancelled_it_returns_its_output() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let inside = handle.clone();
        let mut group = pin!(try_join([async move {
            inside.cancel();
            Ok::<_, ()>(1)
        }])
        .with_cancel(handle.clone()));
        assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok(Ok([1])));
        assert!(handle.is_cancelled());
    }

    #[test]
    fn cancel_from_another_thread_wakes_the_group() {
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<u8, (), 2>();
        let (started, on_started) = mpsc::channel();
        h[0].on_poll(move || {
            let _ = started.send(());
        });
        let group = try_join(children).with_cancel(handle.clone());
        let (done, on_done) = mpsc::channel();
        // The group runs on an executor thread; this thread cancels once a child has run.
        let executor = thread::spawn(move || {
            let _ = done.send(block_on(group));
        });
        on_started
            .recv_timeout(PATIENCE)
            .expect("the group polled its children");
        handle.cancel();
        let ended = on_done
            .recv_timeout(PATIENCE)
            .expect("the cancel woke the group")
            .unwrap_err();
        executor.join().unwrap();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_unfinished(&ended, &[0, 1]);
        assert_eq!(drops(&h), [1, 1]);
    }

    #[test]
    fn cancelling_twice_is_harmless() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<u8, (), 2>();
        let mut group = pin!(settle(children).with_cancel(handle.clone()));
        assert!(parent.poll(group.as_mut()).is_pending());
        let wakes = parent.wakes();
        handle.cancel();
        handle.clone().cancel();
        assert_eq!(parent.wakes(), wakes + 1, "woken once");
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        handle.cancel();
        assert!(handle.is_cancelled());
        assert_eq!(drops(&h), [1, 1]);
    }

    #[test]
    fn cancelling_after_the_group_completed_does_nothing() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<u8, (), 2>();
        let mut group = pin!(try_join(children).with_cancel(handle.clone()));
        assert!(parent.poll(group.as_mut()).is_pending());
        h[0].succeed(0);
        h[0].wake();
        h[1].succeed(1);
        h[1].wake();
        assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok(Ok([0, 1])));
        handle.cancel();
        handle.cancel();
        assert!(handle.is_cancelled());
        assert!(group.is_terminated());
        assert_eq!(drops(&h), [1, 1]);
    }

    #[test]
    #[should_panic(expected = "already ends another group")]
    fn attaching_a_handle_to_a_second_live_group_panics() {
        let handle = CancelHandle::new();
        let _first = try_join([pending::<Result<(), ()>>()]).with_cancel(handle.clone());
        let _second = join([pending::<()>()]).with_cancel(handle);
    }

    #[test]
    fn attaching_a_clone_to_a_second_live_group_panics_and_leaves_the_first_intact() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, first_h) = probe_array::<u8, (), 2>();
        let mut first = pin!(try_join(children).with_cancel(handle.clone()));
        assert!(parent.poll(first.as_mut()).is_pending());

        // A deadline first, then the handle: the second group is built and dropped in the unwind.
        let (children, second_h) = probe_array::<u8, (), 2>();
        let clone = handle.clone();
        let payload = catch_unwind(AssertUnwindSafe(move || {
            settle(children).until(pending::<()>()).with_cancel(clone)
        }))
        .expect_err("a handle ends one group at a time");
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("already ends another group"), "{message}");
        assert_eq!(drops(&second_h), [1, 1], "the rejected group was dropped");
        assert_eq!(polls(&second_h), [0, 0]);

        // The first group still answers to the handle.
        handle.cancel();
        let ended = expect_ready(parent.poll(first.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_eq!(drops(&first_h), [1, 1]);
    }

    #[test]
    fn a_handle_can_be_attached_again_after_its_group_is_dropped() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, h) = probe_array::<u8, (), 2>();
        let mut first = Box::pin(try_join(children).with_cancel(handle.clone()));
        assert!(parent.poll(first.as_mut()).is_pending());
        drop(first);
        assert_eq!(drops(&h), [1, 1]);

        // A clone now ends a second group, and only that one.
        let (children, h) = probe_array::<u8, (), 2>();
        let mut second = pin!(race(children).with_cancel(handle.clone()));
        assert!(parent.poll(second.as_mut()).is_pending());
        handle.cancel();
        let ended = expect_ready(parent.poll(second.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_eq!(drops(&h), [1, 1]);

        // After a group that completed and was dropped, too.
        let handle = CancelHandle::new();
        drop(block_on(join([ready(1)]).with_cancel(handle.clone())));
        let again = block_on(join([ready(2)]).with_cancel(handle));
        assert_eq!(again, Ok([2]));
    }

    #[test]
    fn a_pre_cancelled_handle_ends_the_group_before_any_child_is_polled() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        handle.cancel();
        let (children, h) = probe_array::<u8, (), 3>();
        let mut group = pin!(first_ok(children).with_cancel(handle));
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_unfinished(&ended, &[0, 1, 2]);
        assert_eq!(polls(&h), [0, 0, 0]);
        assert_eq!(drops(&h), [1, 1, 1]);
    }

    #[test]
    fn cancel_and_deadline_combine() {
        // Either one ends the group, in either order of attaching.
        for cancel_first in [false, true] {
            for fire_cancel in [false, true] {
                let parent = Parent::new();
                let handle = CancelHandle::new();
                let (children, h) = probe_array::<u8, (), 2>();
                let (deadline, alarm) = probe::<(), ()>();
                let group = try_join(children);
                let mut group: Pin<Box<dyn Future<Output = _>>> = if cancel_first {
                    Box::pin(group.with_cancel(handle.clone()).until(deadline))
                } else {
                    Box::pin(group.until(deadline).with_cancel(handle.clone()))
                };
                assert!(parent.poll(group.as_mut()).is_pending());
                if fire_cancel {
                    handle.cancel();
                } else {
                    alarm.succeed(());
                    alarm.wake();
                }
                let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
                let expected = if fire_cancel {
                    Reason::Cancelled
                } else {
                    Reason::Deadline
                };
                assert_eq!(ended.reason(), expected, "cancel first: {cancel_first}");
                assert_eq!(drops(&h), [1, 1]);
            }
        }
    }

    #[test]
    fn when_cancel_and_deadline_both_fire_the_first_attached_is_reported() {
        for cancel_first in [false, true] {
            let handle = CancelHandle::new();
            handle.cancel();
            let children = [pending::<Result<(), ()>>()];
            let ended = if cancel_first {
                block_on(try_join(children).with_cancel(handle).until(ready(())))
            } else {
                block_on(try_join(children).until(ready(())).with_cancel(handle))
            };
            let expected = if cancel_first {
                Reason::Cancelled
            } else {
                Reason::Deadline
            };
            assert_eq!(ended.unwrap_err().reason(), expected);
        }
    }
}

// Every mode drops every child and every output exactly once, on every path.

/// What the table's children produce: values and errors whose drops are counted.
type Value = Counted<u8>;
type Child = Probe<Value, Value>;

/// What happens to a group of three scripted children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Every child still running succeeds, in one poll.
    Success,
    /// Child 1 fails; if the group goes on, child 2 then succeeds.
    ChildError,
    /// The deadline ends the group while children run.
    Deadline,
    /// The cancel handle ends the group while children run.
    #[cfg(feature = "alloc")]
    Cancel,
    /// The group is dropped while children run, after a poll that polled a woken child.
    DroppedMidway,
    /// The group is dropped before it was ever polled.
    DroppedUnpolled,
    /// Child 1 panics while polled; the group is dropped after the unwind.
    Panic,
    /// Child 1 panics while polled; after the unwind the deadline ends the group.
    DeadlineAfterPanic,
    /// Child 1 panics in the group's first poll; the group is dropped after the unwind.
    PanicInFirstPoll,
    /// Child 1 panics in the group's first poll; after the unwind the deadline ends the group.
    DeadlineAfterPanicInFirstPoll,
}

impl Path {
    #[cfg(feature = "alloc")]
    const ALL: &[Path] = &[
        Path::Success,
        Path::ChildError,
        Path::Deadline,
        Path::Cancel,
        Path::DroppedMidway,
        Path::DroppedUnpolled,
        Path::Panic,
        Path::DeadlineAfterPanic,
        Path::PanicInFirstPoll,
        Path::DeadlineAfterPanicInFirstPoll,
    ];
    #[cfg(not(feature = "alloc"))]
    const ALL: &[Path] = &[
        Path::Success,
        Path::ChildError,
        Path::Deadline,
        Path::DroppedMidway,
        Path::DroppedUnpolled,
        Path::Panic,
        Path::DeadlineAfterPanic,
        Path::PanicInFirstPoll,
        Path::DeadlineAfterPanicInFirstPoll,
    ];

    /// Whether the path needs the group to have a deadline or a cancel handle.
    fn needs_stop(self) -> bool {
        match self {
            Path::Deadline | Path::DeadlineAfterPanic | Path::DeadlineAfterPanicInFirstPoll => true,
            #[cfg(feature = "alloc")]
            Path::Cancel => true,
            _ => false,
        }
    }

    /// Whether the group returns `Ready` on this path (else it is dropped unfinished).
    fn completes(self) -> bool {
        !matches!(
            self,
            Path::DroppedMidway | Path::DroppedUnpolled | Path::Panic | Path::PanicInFirstPoll
        )
    }
}

/// What a child of a mode may finish with while the group goes on: what the mode stores.
#[derive(Debug, Clone, Copy)]
enum Keeps {
    Ok,
    Err,
    Nothing,
}

/// The deadline and cancel handle a bounded group is built with.
struct Stops {
    deadline: Probe<(), ()>,
    #[cfg(feature = "alloc")]
    cancel: CancelHandle,
}

/// `group` ended by the deadline and (with `alloc`) the cancel handle of `stops`.
fn bounded<G: Group>(
    group: G,
    stops: Stops,
) -> impl Future<Output = Result<G::Output, Interrupted>> {
    let group = Until::new(group, stops.deadline);
    #[cfg(feature = "alloc")]
    let group = group.with_cancel(stops.cancel);
    group
}

/// What a path did, counted once the group and everything it handed out are gone.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    /// Drops of each child.
    children: [usize; 3],
    /// Drops of each child at the moment the group returned `Ready`, if it did.
    children_at_ready: Option<[usize; 3]>,
    /// Values and errors handed to children (including the ones never delivered).
    values_made: usize,
    /// Values and errors dropped.
    values_dropped: usize,
}

/// Polls `group` once; on `Ready`, records the children's drops, then drops the output.
fn poll_once<G: Future + ?Sized>(
    parent: &Parent,
    group: Pin<&mut G>,
    handles: &[Handle<Value, Value>; 3],
    at_ready: &mut Option<[usize; 3]>,
) -> bool {
    match parent.poll(group) {
        std::task::Poll::Ready(output) => {
            *at_ready = Some(drops(handles));
            drop(output);
            true
        }
        std::task::Poll::Pending => false,
    }
}

/// Runs `path` on a group that `make` builds from three probes and the stops, in a mode whose
/// children may finish with `keeps` while it runs, and counts the drops.
fn run_path<G: Future>(
    path: Path,
    keeps: Keeps,
    make: impl FnOnce([Child; 3], Stops) -> G,
) -> Counts {
    let parent = Parent::new();
    let values = DropCount::new();
    let made = Cell::new(0);
    let value = |n: u8| {
        made.set(made.get() + 1);
        values.tag(n)
    };
    let (children, h) = probe_array::<Value, Value, 3>();
    let (deadline, alarm) = probe::<(), ()>();
    #[cfg(feature = "alloc")]
    let cancel = CancelHandle::new();
    let stops = Stops {
        deadline,
        #[cfg(feature = "alloc")]
        cancel: cancel.clone(),
    };
    let mut at_ready = None;
    let mut group = Box::pin(make(children, stops));
    let mut poll = |group: Pin<&mut G>| poll_once(&parent, group, &h, &mut at_ready);

    // Child 0 finishes with what the mode keeps, if it keeps anything: a stored output.
    let keep_one = || match keeps {
        Keeps::Ok => h[0].succeed(value(0)),
        Keeps::Err => h[0].fail(value(0)),
        Keeps::Nothing => {}
    };
    let panic_one = || h[1].on_poll(|| panic!("child 1 panics (on purpose)"));
    let fire_deadline = || {
        alarm.succeed(());
        alarm.wake();
    };

    match path {
        Path::DroppedUnpolled => {}
        Path::PanicInFirstPoll | Path::DeadlineAfterPanicInFirstPoll => {
            keep_one();
            panic_one();
            let unwound = catch_unwind(AssertUnwindSafe(|| poll(group.as_mut())));
            assert!(
                unwound.is_err(),
                "{path:?}: the panic unwinds through the group"
            );
            if path == Path::DeadlineAfterPanicInFirstPoll {
                fire_deadline();
                assert!(poll(group.as_mut()), "{path:?}");
            }
        }
        _ => {
            assert!(!poll(group.as_mut()), "{path:?}: everyone waits");
            let mut running = [true; 3];
            if !matches!(keeps, Keeps::Nothing) {
                keep_one();
                running[0] = false;
                h[0].wake();
                assert!(!poll(group.as_mut()), "{path:?}: the others wait");
            }
            match path {
                Path::Success => {
                    for i in (0..3).filter(|&i| running[i]) {
                        h[i].succeed(value(i as u8));
                        h[i].wake();
                    }
                    assert!(poll(group.as_mut()), "{path:?}");
                }
                Path::ChildError => {
                    h[1].fail(value(1));
                    h[1].wake();
                    if !poll(group.as_mut()) {
                        h[2].succeed(value(2));
                        h[2].wake();
                        assert!(poll(group.as_mut()), "{path:?}");
                    }
                }
                Path::Deadline => {
                    fire_deadline();
                    assert!(poll(group.as_mut()), "{path:?}");
                }
                #[cfg(feature = "alloc")]
                Path::Cancel => {
                    cancel.cancel();
                    assert!(poll(group.as_mut()), "{path:?}");
                }
                Path::DroppedMidway => {
                    h[1].wake();
                    assert!(!poll(group.as_mut()), "{path:?}");
                }
                Path::Panic | Path::DeadlineAfterPanic => {
                    panic_one();
                    h[1].wake();
                    let unwound = catch_unwind(AssertUnwindSafe(|| poll(group.as_mut())));
                    assert!(
                        unwound.is_err(),
                        "{path:?}: the panic unwinds through the group"
                    );
                    if path == Path::DeadlineAfterPanic {
                        fire_deadline();
                        assert!(poll(group.as_mut()), "{path:?}");
                    }
                }
                _ => unreachable!(),
            }
        }
    }
    drop(group);
    let children = drops(&h);
    // Values scripted but never delivered (a loser's) live in the handles until now.
    drop(h);
    Counts {
        children,
        children_at_ready: at_ready,
        values_made: made.get(),
        values_dropped: values.get(),
    }
}

/// Runs every path on a mode, bare (where no stop is needed) and bounded, and checks that every
/// child and every value was dropped exactly once, the children before the group returned.
fn check_every_path<G1: Future, G2: Future>(
    mode: &str,
    keeps: Keeps,
    bare: impl Fn([Child; 3]) -> G1,
    bounded: impl Fn([Child; 3], Stops) -> G2,
) {
    for &path in Path::ALL {
        let mut runs = vec![("bounded", run_path(path, keeps, &bounded))];
        if !path.needs_stop() {
            runs.push(("bare", run_path(path, keeps, |c, _| bare(c))));
        }
        for (how, counts) in runs {
            let expected = Counts {
                children: [1, 1, 1],
                children_at_ready: path.completes().then_some([1, 1, 1]),
                values_made: counts.values_made,
                values_dropped: counts.values_made,
            };
            assert_eq!(counts, expected, "{mode}, {how}, {path:?}");
        }
    }
}

#[test]
fn try_join_drops_every_child_and_output_once_on_every_path() {
    check_every_path("try_join", Keeps::Ok, try_join, |c, s| {
        bounded(try_join(c), s)
    });
}

#[test]
fn join_drops_every_child_and_output_once_on_every_path() {
    check_every_path("join", Keeps::Ok, join, |c, s| bounded(join(c), s));
}

#[test]
fn settle_drops_every_child_and_output_once_on_every_path() {
    check_every_path("settle", Keeps::Err, settle, |c, s| bounded(settle(c), s));
}

#[test]
fn first_ok_drops_every_child_and_output_once_on_every_path() {
    check_every_path("first_ok", Keeps::Err, first_ok, |c, s| {
        bounded(first_ok(c), s)
    });
}

#[test]
fn race_drops_every_child_and_output_once_on_every_path() {
    check_every_path("race", Keeps::Nothing, race, |c, s| bounded(race(c), s));
}
