//! The promises of the concurrency limit (`limit`, `lazy`), one test (or more) per promise, named
//! after it. The limit needs `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures::executor::block_on;
use taskgroup::{first_ok, join, race, settle, try_join, Reason};

use support::{expect_ready, probes, DropCount, Handle, Parent, Yield};

fn polled(handles: &[Handle<usize, usize>]) -> Vec<usize> {
    handles.iter().map(Handle::polls).collect()
}

// Limit.

#[test]
fn limit_never_has_more_than_n_in_flight() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(5);
    let mut group = pin!(try_join(children).limit(2));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(polled(&handles), [1, 1, 0, 0, 0], "two in flight");

    handles[1].succeed(1);
    handles[1].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(
        polled(&handles),
        [1, 2, 1, 0, 0],
        "one finished, one started"
    );
}

#[test]
fn limit_starts_the_next_child_in_the_same_poll_one_finishes() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(3);
    let mut group = pin!(try_join(children).limit(1));
    assert!(parent.poll(group.as_mut()).is_pending());
    handles[0].succeed(0);
    handles[1].succeed(1);
    handles[0].wake();
    assert!(parent.poll(group.as_mut()).is_pending());
    // Child 0 finished; child 1 started in its slot and was polled at once (and was ready);
    // then child 2.
    assert_eq!(polled(&handles), [2, 1, 1]);
    handles[2].succeed(2);
    handles[2].wake();
    assert_eq!(expect_ready(parent.poll(group.as_mut())), Ok(vec![0, 1, 2]));
}

#[test]
fn limit_defers_starts_beyond_the_budget_of_a_poll_to_the_next_poll() {
    let parent = Parent::new();
    let polls = Cell::new(0);
    let children = (0..100u32).map(|i| {
        let polls = &polls;
        std::future::poll_fn(move |_| {
            polls.set(polls.get() + 1);
            Poll::Ready(Ok::<_, ()>(i))
        })
    });
    let mut group = pin!(try_join(taskgroup::lazy(children)).limit(1));
    assert!(parent.poll(group.as_mut()).is_pending());
    // The first child, then 64 started and polled at once; the 66th was started and woken.
    assert_eq!(polls.get(), 65);
    assert_eq!(parent.wakes(), 1);
    let out = expect_ready(parent.poll(group.as_mut())).unwrap();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn limit_keeps_outputs_in_input_order() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(6);
    let mut group = pin!(try_join(children).limit(3));
    assert!(parent.poll(group.as_mut()).is_pending());
    for index in [2, 0, 1, 4, 5] {
        handles[index].succeed(index * 10);
        handles[index].wake();
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    handles[3].succeed(30);
    handles[3].wake();
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok(vec![0, 10, 20, 30, 40, 50])
    );
}

#[test]
fn limit_outputs_come_back_in_input_order_whatever_the_finishing_order() {
    // Children finish in reverse order of their index within each window.
    let children: Vec<_> = (0..40u32)
        .map(|i| async move {
            Yield(((40 - i) % 7) as usize).await;
            Ok::<_, ()>(i)
        })
        .collect();
    let out = block_on(try_join(children).limit(5)).unwrap();
    assert_eq!(out, (0..40).collect::<Vec<_>>());
}

#[test]
fn limit_never_starts_children_after_failure() {
    let made = Cell::new(0);
    let children = (0..1_000_000u32).map(|i| {
        made.set(made.get() + 1);
        async move {
            Yield((i % 3) as usize).await;
            if i == 10 {
                Err(i)
            } else {
                Ok(i)
            }
        }
    });
    let failed = block_on(try_join(taskgroup::lazy(children)).limit(4)).unwrap_err();
    assert_eq!(failed.first(), (10, &10), "the input index, not the slot");
    // Children are made only as slots free up: child 10 is the 11th, and at most the 3 others
    // in flight beside it were made; none after the failure.
    assert!((11..=14).contains(&made.get()), "made {}", made.get());
}

#[test]
fn lazy_limit_does_not_materialise_the_iterator() {
    let parent = Parent::new();
    let made = Cell::new(0);
    let children = (0..1_000_000u32).map(|_| {
        made.set(made.get() + 1);
        pending::<Result<u32, ()>>()
    });
    let mut group = pin!(try_join(taskgroup::lazy(children)).limit(8));
    assert_eq!(made.get(), 0, "nothing before the first poll");
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(made.get(), 8);
}

#[test]
fn limit_reports_input_indices_to_errors_and_deadlines() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(6);
    let (deadline, alarm) = support::probe::<(), ()>();
    let mut group = pin!(try_join(children).limit(2).until(deadline));
    assert!(parent.poll(group.as_mut()).is_pending());
    for index in [0, 1, 2] {
        handles[index].succeed(index);
        handles[index].wake();
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    // Children 3 and 4 run in the slots of children 1 and 2.
    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(group.as_mut())).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    assert_eq!(ended.unfinished(), [4, 3]);
    assert!(
        handles.iter().all(|h| h.drops() == 1),
        "child 5 never started, dropped too"
    );
}

#[test]
fn limit_works_in_every_mode() {
    let numbers = || (0..20u32).map(|i| async move { Ok::<_, u32>(i) });
    assert_eq!(
        block_on(join(taskgroup::lazy((0..5u32).map(ready))).limit(2)),
        [0, 1, 2, 3, 4]
    );
    let settled = block_on(settle(taskgroup::lazy(numbers())).limit(3));
    assert_eq!(settled.len(), 20);
    assert_eq!(
        block_on(first_ok(taskgroup::lazy(numbers())).limit(3)),
        Ok((0, 0))
    );
    assert_eq!(
        block_on(race(taskgroup::lazy(numbers())).limit(3)),
        (0, Ok(0))
    );
    let failing = (0..5u32).map(|i| async move { Err::<u32, _>(i) });
    let all_failed = block_on(first_ok(failing.collect::<Vec<_>>()).limit(2)).unwrap_err();
    assert_eq!(all_failed.into_errors().map(|e| e.len()), Some(5));
}

#[test]
fn limited_task_group_and_self_waking_flood_complete() {
    let group: taskgroup::TaskGroup<_> = (0..1000u32)
        .map(|i| async move {
            Yield((i % 2) as usize).await;
            Ok::<_, ()>(i)
        })
        .collect();
    let out = block_on(try_join(group).limit(16)).unwrap();
    assert_eq!(out.len(), 1000);
    assert_eq!(out[999], 999);
}

#[test]
fn limited_children_woken_from_other_threads_complete() {
    let children: Vec<_> = (0..64u32)
        .map(|i| async move {
            ThreadWake::default().await;
            Ok::<_, ()>(i)
        })
        .collect();
    let out = block_on(try_join(children).limit(8)).unwrap();
    assert_eq!(out, (0..64).collect::<Vec<_>>());
}

#[test]
fn limit_drops_every_child_and_output_exactly_once_on_every_path() {
    let values = DropCount::new();
    // Failure: started, finished and never-started children all dropped once.
    let (children, handles) = probes::<support::Counted<u8>, u8>(6);
    let parent = Parent::new();
    {
        let mut group = pin!(try_join(children).limit(2));
        assert!(parent.poll(group.as_mut()).is_pending());
        handles[0].succeed(values.tag(0));
        handles[0].wake();
        assert!(parent.poll(group.as_mut()).is_pending());
        handles[2].fail(2);
        handles[2].wake();
        let failed = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!(failed.first(), (2, &2));
        assert!(handles.iter().all(|h| h.drops() == 1));
        assert_eq!(values.get(), 1, "the stored output too, before returning");
        assert_eq!(
            polled_u8(&handles),
            [2, 1, 2, 0, 0, 0],
            "3 to 5 never started"
        );
    }
    // Dropped mid-way and panics.
    for panic in [false, true] {
        let (children, handles) = probes::<support::Counted<u8>, u8>(5);
        let mut group = Box::pin(try_join(children).limit(2));
        assert!(parent.poll(group.as_mut()).is_pending());
        handles[0].succeed(values.tag(0));
        if panic {
            handles[1].on_poll(|| panic!("child 1 panics"));
            handles[1].wake();
        }
        handles[0].wake();
        let unwound = catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut())));
        assert_eq!(unwound.is_err(), panic);
        drop(group);
        assert!(handles.iter().all(|h| h.drops() == 1), "panic {panic}");
    }
    assert_eq!(values.get(), 3);
}

fn polled_u8(handles: &[Handle<support::Counted<u8>, u8>]) -> Vec<usize> {
    handles.iter().map(Handle::polls).collect()
}

#[test]
#[should_panic(expected = "a concurrency limit of 0 would never start a child")]
fn limit_zero_panics() {
    drop(try_join(vec![ready(Ok::<u8, ()>(1))]).limit(0));
}

#[test]
#[should_panic(expected = "`limit` must be set before the group is first polled")]
fn limit_after_the_first_poll_panics() {
    let parent = Parent::new();
    let mut group = taskgroup::try_join(taskgroup::lazy([pending::<Result<u8, ()>>()]));
    let _ = parent.poll(Pin::new(&mut group));
    drop(group.limit(1));
}

/// Pending until a helper thread, handed its waker on the first poll, wakes it.
#[derive(Default)]
struct ThreadWake {
    started: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Future for ThreadWake {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        use std::sync::atomic::Ordering::SeqCst;
        match &self.started {
            Some(done) if done.load(SeqCst) => Poll::Ready(()),
            Some(_) => Poll::Pending,
            None => {
                let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (flag, waker) = (done.clone(), cx.waker().clone());
                std::thread::spawn(move || {
                    flag.store(true, SeqCst);
                    waker.wake();
                });
                self.started = Some(done);
                Poll::Pending
            }
        }
    }
}
