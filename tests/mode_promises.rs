//! The promises of the modes (settle, first success, race), of deadlines and cancel handles, of
//! the concurrency limit and of the scope spawner, one test (or more) per promise, named after
//! it. Children are scripted probes driven by hand with a counting parent waker, so polls, wakes
//! and drops are exact.

mod support;

use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;

use futures::executor::block_on;
use futures::future::Either;
use taskgroup::{first_ok, join, race, settle, try_join, FirstOkError, Reason};

use support::{expect_ready, probe_array, DropCount, Handle, Parent};

/// `true` once every probe was dropped exactly once.
fn all_dropped_once<T, E>(handles: &[Handle<T, E>]) -> bool {
    handles.iter().all(|h| h.drops() == 1)
}

// Settle.

#[test]
fn settle_runs_every_child_despite_errors() {
    let parent = Parent::new();
    let (children, handles) = probe_array::<u8, &str, 3>();
    let mut group = pin!(settle(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    handles[1].fail("child 1 failed");
    handles[1].wake();
    assert!(
        parent.poll(group.as_mut()).is_pending(),
        "the others still run"
    );
    assert_eq!(
        handles[0].drops() + handles[2].drops(),
        0,
        "nobody was dropped"
    );

    handles[2].succeed(2);
    handles[2].wake();
    handles[0].succeed(0);
    handles[0].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        [Ok(0), Err("child 1 failed"), Ok(2)]
    );
    assert!(all_dropped_once(&handles));
}

#[test]
fn settle_keeps_each_tuple_result_with_its_own_type() {
    let (a, b) = block_on(settle((async { Ok::<u8, String>(1) }, async {
        Err::<&str, String>("no".into())
    })));
    assert_eq!((a, b), (Ok(1), Err("no".to_string())));
}

#[cfg(feature = "alloc")]
#[test]
fn settle_takes_vec_and_task_group() {
    let children: Vec<_> = (0..5u8)
        .map(|i| async move {
            if i % 2 == 0 {
                Ok(i)
            } else {
                Err(i)
            }
        })
        .collect();
    assert_eq!(
        block_on(settle(children)),
        [Ok(0), Err(1), Ok(2), Err(3), Ok(4)]
    );
    let group: taskgroup::TaskGroup<_> = (0..3u8).map(|i| async move { Ok::<_, ()>(i) }).collect();
    assert_eq!(block_on(settle(group)), [Ok(0), Ok(1), Ok(2)]);
}

// First success.

#[test]
fn first_ok_returns_the_first_success_and_drops_the_rest_at_once() {
    let parent = Parent::new();
    let (children, handles) = probe_array::<u8, &str, 4>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());

    handles[0].fail("mirror 0 down");
    handles[0].wake();
    assert!(
        parent.poll(group.as_mut()).is_pending(),
        "an error before a success does not end the group"
    );
    assert_eq!(handles[0].drops(), 1, "the failed child is finished");
    assert_eq!(
        handles[1].drops() + handles[2].drops() + handles[3].drops(),
        0
    );

    handles[2].succeed(22);
    handles[2].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok((2, 22)));
    assert!(
        all_dropped_once(&handles),
        "losers dropped before returning"
    );
}

#[test]
fn first_ok_collects_every_error_when_all_fail() {
    let failed = block_on(first_ok([
        ready(Err::<u8, _>("a")),
        ready(Err("b")),
        ready(Err("c")),
    ]));
    let Err(FirstOkError::AllFailed(errors)) = failed else {
        panic!("expected every error, got {failed:?}");
    };
    #[cfg(feature = "alloc")]
    assert_eq!(
        errors.iter().collect::<Vec<_>>(),
        [(0, &"a"), (1, &"b"), (2, &"c")]
    );
    // Without `alloc` the group keeps the first error and counts the others.
    #[cfg(not(feature = "alloc"))]
    assert_eq!((errors.first(), errors.omitted()), ((0, &"a"), 2));
}

#[test]
fn first_ok_of_no_children_is_an_error_not_a_hang() {
    let parent = Parent::new();
    let none: [std::future::Ready<Result<u8, ()>>; 0] = [];
    let mut group = pin!(first_ok(none));
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Err(FirstOkError::Empty)
    );
}

#[test]
fn first_ok_successes_in_the_same_poll_go_to_the_lowest_index() {
    let parent = Parent::new();
    let (children, handles) = probe_array::<u8, (), 3>();
    let mut group = pin!(first_ok(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    handles[2].succeed(2);
    handles[2].wake();
    handles[1].succeed(1);
    handles[1].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok((1, 1)));
    assert_eq!(handles[2].polls(), 1, "no poll after the winner");
    assert!(all_dropped_once(&handles));
}

// Race.

#[test]
fn race_returns_the_first_to_finish_even_an_error_with_its_index() {
    let parent = Parent::new();
    let (children, handles) = probe_array::<u8, &str, 3>();
    let mut group = pin!(race(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    handles[1].fail("refused");
    handles[1].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        (1, Err("refused"))
    );
    assert!(
        all_dropped_once(&handles),
        "losers dropped before returning"
    );
}

#[test]
#[should_panic(expected = "needs at least one child")]
fn race_of_no_children_panics() {
    let none: [std::future::Ready<u8>; 0] = [];
    let _ = block_on(race(none));
}

// Deadlines.

#[test]
fn deadline_drops_children_and_reports_unfinished() {
    let parent = Parent::new();
    let outputs = DropCount::new();
    let (children, handles) = probe_array::<support::Counted<u8>, (), 4>();
    let (deadline, alarm) = support::probe::<(), ()>();
    let mut group = pin!(try_join(children).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());

    handles[1].succeed(outputs.tag(1));
    handles[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(outputs.get(), 0, "the finished child's output is kept");

    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    #[cfg(feature = "alloc")]
    assert_eq!(ended.unfinished(), [0, 2, 3]);
    #[cfg(not(feature = "alloc"))]
    assert_eq!((ended.unfinished(), ended.omitted()), (&[0][..], 2));
    assert!(
        all_dropped_once(&handles),
        "every child dropped before returning"
    );
    assert_eq!(outputs.get(), 1, "and the output already produced");
}

#[test]
fn deadline_is_checked_before_any_child_is_polled() {
    let (children, handles) = probe_array::<u8, (), 2>();
    let ended = block_on(try_join(children).until(ready(()))).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    assert_eq!(handles[0].polls() + handles[1].polls(), 0);
    assert!(all_dropped_once(&handles));
}

#[test]
fn deadline_that_never_comes_changes_nothing() {
    let out = block_on(try_join([ready(Ok::<_, ()>(1)), ready(Ok(2))]).until(pending::<()>()));
    assert_eq!(out, Ok(Ok([1, 2])));
    let joined = block_on(join([ready('a')]).until(pending::<()>()));
    assert_eq!(joined, Ok(['a']));
}

#[test]
fn child_error_before_the_deadline_is_a_child_error() {
    let out = block_on(try_join([ready(Err::<u8, _>("child"))]).until(pending::<()>()));
    let errors = out.expect("not interrupted").unwrap_err();
    assert_eq!(errors.first(), (0, &"child"));
}

#[test]
fn either_of_two_deadlines_ends_the_group() {
    let children = [pending::<Result<u8, ()>>()];
    let ended = block_on(try_join(children).until(pending::<()>()).until(ready(())));
    assert_eq!(ended.unwrap_err().reason(), Reason::Deadline);
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_a_deadline_group_after_it_completed_panics() {
    let parent = Parent::new();
    let mut group = pin!(try_join([ready(Ok::<u8, ()>(1))]).until(pending::<()>()));
    let _ = expect_ready(parent.poll(group.as_mut()));
    let _ = parent.poll(group.as_mut());
}

// Cancel handles.

#[cfg(feature = "alloc")]
mod cancel {
    use super::*;
    use std::sync::mpsc;
    use taskgroup::CancelHandle;

    #[test]
    fn cancel_from_inside_a_child() {
        let parent = Parent::new();
        let handle = CancelHandle::new();
        let (children, handles) = probe_array::<u8, (), 3>();
        let inside = handle.clone();
        handles[0].on_poll(move || inside.cancel());
        let mut group = pin!(try_join(children).with_cancel(handle));

        assert!(
            parent.poll(group.as_mut()).is_pending(),
            "ends at its next poll"
        );
        assert_eq!(parent.wakes(), 1, "cancelling woke the group");
        let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_eq!(ended.unfinished(), [0, 1, 2]);
        assert!(all_dropped_once(&handles));
    }

    #[test]
    fn cancel_from_another_thread_wakes_the_group() {
        let handle = CancelHandle::new();
        let remote = handle.clone();
        let (started, on_start) = mpsc::channel();
        let canceller = std::thread::spawn(move || {
            on_start.recv().unwrap();
            remote.cancel();
        });
        let (children, handles) = probe_array::<u8, (), 2>();
        handles[0].on_poll(move || {
            let _ = started.send(());
        });
        let ended = block_on(try_join(children).with_cancel(handle)).unwrap_err();
        canceller.join().unwrap();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert!(all_dropped_once(&handles));
    }

    #[test]
    fn cancelling_twice_or_after_completion_is_harmless() {
        let handle = CancelHandle::new();
        let done = block_on(try_join([ready(Ok::<_, ()>(1))]).with_cancel(handle.clone()));
        assert_eq!(done, Ok(Ok([1])));
        handle.cancel();
        handle.cancel();
        assert!(handle.is_cancelled());

        let pre_cancelled = CancelHandle::new();
        pre_cancelled.cancel();
        let (children, handles) = probe_array::<u8, (), 2>();
        let ended = block_on(try_join(children).with_cancel(pre_cancelled)).unwrap_err();
        assert_eq!(ended.reason(), Reason::Cancelled);
        assert_eq!(handles[0].polls() + handles[1].polls(), 0);
    }

    #[test]
    #[should_panic(expected = "already ends another group")]
    fn one_handle_cannot_end_two_live_groups() {
        let handle = CancelHandle::new();
        let _first = try_join([pending::<Result<(), ()>>()]).with_cancel(handle.clone());
        let _second = try_join([pending::<Result<(), ()>>()]).with_cancel(handle);
    }

    #[test]
    fn a_handle_is_free_again_once_its_group_is_dropped() {
        let handle = CancelHandle::new();
        drop(try_join([pending::<Result<(), ()>>()]).with_cancel(handle.clone()));
        let again = block_on(try_join([ready(Ok::<_, ()>(3))]).with_cancel(handle));
        assert_eq!(again, Ok(Ok([3])));
    }

    #[test]
    fn cancel_and_deadline_combine() {
        let handle = CancelHandle::new();
        handle.cancel();
        let ended = block_on(
            try_join([pending::<Result<(), ()>>()])
                .until(pending::<()>())
                .with_cancel(handle),
        );
        assert_eq!(ended.unwrap_err().reason(), Reason::Cancelled);
    }
}

// Every mode drops every child exactly once, on every path.

/// What happens to a group of three scripted children.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// Every child succeeds.
    Success,
    /// Child 1 fails while the others wait.
    ChildError,
    /// A deadline ends the group while children wait.
    Deadline,
    /// A cancel handle ends the group while children wait (with `alloc`).
    Cancel,
    /// The group is dropped after one poll.
    DroppedMidway,
    /// Child 1 panics while polled; the group is dropped after the unwind.
    Panic,
}

const PATHS: [Path; 6] = [
    Path::Success,
    Path::ChildError,
    Path::Deadline,
    Path::Cancel,
    Path::DroppedMidway,
    Path::Panic,
];

type Child = support::Probe<support::Counted<u8>, u8>;
type Alarm = support::Probe<(), ()>;

/// Runs `path` on a group that `make` builds from three probes and a deadline, and checks that
/// every child was dropped exactly once when the group is gone, and every value handed to a
/// child exactly once when the children's handles are gone too (a value never delivered stays in
/// its handle until then).
fn check_drops<G: Future>(
    mode: &str,
    path: Path,
    make: impl Fn([Child; 3], Alarm, Canceller) -> G,
) {
    let parent = Parent::new();
    let values = DropCount::new();
    let mut created = 0;
    let mut value = |i: u8| {
        created += 1;
        values.tag(i)
    };
    let (children, handles) = probe_array::<support::Counted<u8>, u8, 3>();
    let (alarm_future, alarm) = support::probe::<(), ()>();
    let canceller = Canceller::default();
    {
        let mut group = Box::pin(make(children, alarm_future, canceller.clone()));
        assert!(parent.poll(group.as_mut()).is_pending(), "{mode} {path:?}");
        match path {
            Path::Success => {
                for (i, handle) in handles.iter().enumerate() {
                    handle.succeed(value(i as u8));
                    handle.wake();
                }
                assert!(parent.poll(group.as_mut()).is_ready(), "{mode} {path:?}");
            }
            Path::ChildError => {
                handles[0].succeed(value(0));
                handles[0].wake();
                handles[1].fail(1);
                handles[1].wake();
                if parent.poll(group.as_mut()).is_pending() {
                    // settle and join wait for everyone.
                    handles[2].succeed(value(2));
                    handles[2].wake();
                    assert!(parent.poll(group.as_mut()).is_ready(), "{mode} {path:?}");
                }
            }
            Path::Deadline => {
                alarm.succeed(());
                alarm.wake();
                assert!(parent.poll(group.as_mut()).is_ready(), "{mode} {path:?}");
            }
            Path::Cancel => {
                if !canceller.cancel() {
                    return; // no cancel handles without `alloc`
                }
                assert!(parent.poll(group.as_mut()).is_ready(), "{mode} {path:?}");
            }
            Path::DroppedMidway => {
                handles[2].succeed(value(2));
                handles[2].wake();
                let _ = parent.poll(group.as_mut());
            }
            Path::Panic => {
                handles[1].on_poll(|| panic!("child 1 panics"));
                handles[1].wake();
                let unwound = catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut())));
                assert!(unwound.is_err(), "{mode} {path:?}");
            }
        }
    }
    for (i, handle) in handles.iter().enumerate() {
        assert_eq!(handle.drops(), 1, "{mode} {path:?}: child {i}");
    }
    drop(handles);
    assert_eq!(values.get(), created, "{mode} {path:?}: values");
}

/// The cancel handle of a group in the table, or nothing without `alloc`.
#[derive(Clone, Default)]
struct Canceller {
    #[cfg(feature = "alloc")]
    handle: taskgroup::CancelHandle,
}

impl Canceller {
    /// Cancels; `false` if this build has no cancel handles.
    fn cancel(&self) -> bool {
        #[cfg(feature = "alloc")]
        self.handle.cancel();
        cfg!(feature = "alloc")
    }
}

/// Puts a deadline and, with `alloc`, a cancel handle on a group.
macro_rules! bounded {
    ($group:expr, $deadline:expr, $canceller:expr) => {{
        let group = $group.until($deadline);
        #[cfg(feature = "alloc")]
        let group = group.with_cancel($canceller.handle);
        #[cfg(not(feature = "alloc"))]
        let _ = $canceller;
        group
    }};
}

#[test]
fn every_mode_drops_every_child_and_value_exactly_once_on_every_path() {
    for path in PATHS {
        check_drops("try_join", path, |c, d, k| bounded!(try_join(c), d, k));
        check_drops("settle", path, |c, d, k| bounded!(settle(c), d, k));
        check_drops("first_ok", path, |c, d, k| bounded!(first_ok(c), d, k));
        check_drops("race", path, |c, d, k| bounded!(race(c), d, k));
        check_drops("join", path, |c, d, k| bounded!(join(c), d, k));
    }
}

/// Keeps `Either` in use for the no-alloc build.
#[test]
fn race_over_different_kinds_of_children() {
    let out = block_on(race([
        Either::Left(pending::<u8>()),
        Either::Right(ready(5)),
    ]));
    assert_eq!(out, (1, 5));
}
