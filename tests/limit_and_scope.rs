//! The promises of the concurrency limit (`limit`, `lazy`) and of the scope spawner (`scope`),
//! one test (or more) per promise, named after it. Both need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::mpsc;
use std::task::{Context, Poll};

use futures::executor::block_on;
use taskgroup::{first_ok, join, race, scope, settle, try_join, Reason, Scoped, SCOPE_BODY};

use support::{expect_ready, probes, DropCount, Handle, Parent};

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
            Yield((40 - i) % 7).await;
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
            Yield(i % 3).await;
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
            Yield(i % 2).await;
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

// Scope.

#[test]
fn scope_runs_pushed_children_in_place_and_returns_them_in_push_order() {
    let parent = Parent::new();
    let here = std::thread::current().id();
    let (children, handles) = probes::<usize, usize>(3);
    let mut scope = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        assert_eq!(std::thread::current().id(), here);
        Ok("body")
    }));
    assert!(parent.poll(scope.as_mut()).is_pending());
    assert_eq!(
        polled(&handles),
        [1, 1, 1],
        "pushed children polled in the same poll"
    );

    for index in [2, 0, 1] {
        handles[index].succeed(index * 10);
        handles[index].wake();
    }
    let out = expect_ready(parent.poll(scope.as_mut())).unwrap();
    assert_eq!(
        out,
        Scoped {
            body: "body",
            children: vec![0, 10, 20]
        }
    );
}

#[test]
fn scope_polls_only_woken_children() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(100);
    let mut scope = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        Ok(())
    }));
    assert!(parent.poll(scope.as_mut()).is_pending());
    handles[42].wake();
    assert!(parent.poll(scope.as_mut()).is_pending());
    let polls = polled(&handles);
    assert_eq!(polls[42], 2);
    assert!(polls
        .iter()
        .enumerate()
        .all(|(i, &p)| p == if i == 42 { 2 } else { 1 }));
}

#[test]
fn children_push_more_children_through_their_clone() {
    let out = block_on(scope(|spawner| async move {
        let inner = spawner.clone();
        spawner
            .push(async move {
                let deeper = inner.clone();
                inner
                    .push(async move {
                        deeper.push(async { Ok(3) }).unwrap();
                        Yield(2).await;
                        Ok(2)
                    })
                    .unwrap();
                Ok(1)
            })
            .unwrap();
        Ok::<_, ()>(())
    }))
    .unwrap();
    assert_eq!(out.children, [1, 2, 3]);
}

#[test]
fn scope_waits_for_the_body_and_for_every_child() {
    let parent = Parent::new();
    let (mut children, handles) = probes::<usize, usize>(2);
    let (body_gate, body) = support::probe::<(), usize>();
    let late = children.pop().unwrap();
    let early = children.pop().unwrap();
    let mut scope = pin!(scope(|spawner| async move {
        spawner.push(early).unwrap();
        body_gate.await?;
        spawner.push(late).unwrap();
        Ok("body")
    }));
    assert!(parent.poll(scope.as_mut()).is_pending());
    handles[0].succeed(0);
    handles[0].wake();
    assert!(
        parent.poll(scope.as_mut()).is_pending(),
        "the body still runs"
    );
    body.succeed(());
    body.wake();
    assert!(
        parent.poll(scope.as_mut()).is_pending(),
        "the body finished, a child runs"
    );
    handles[1].succeed(1);
    handles[1].wake();
    let out = expect_ready(parent.poll(scope.as_mut())).unwrap();
    assert_eq!((out.body, out.children), ("body", vec![0, 1]));
}

#[test]
fn child_failure_drops_the_body_and_siblings() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(3);
    let (body_gate, body) = support::probe::<(), usize>();
    let mut scope = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        body_gate.await?;
        Ok(())
    }));
    assert!(parent.poll(scope.as_mut()).is_pending());
    handles[1].fail(7);
    handles[1].wake();
    let failed = expect_ready(parent.poll(scope.as_mut())).unwrap_err();
    assert_eq!(failed.first(), (1, &7));
    assert_eq!(failed.cancelled(), 3, "children 0 and 2, and the body");
    assert!(handles.iter().all(|h| h.drops() == 1));
    assert_eq!(body.drops(), 1);
}

#[test]
fn body_failure_drops_every_child_and_reports_scope_body() {
    let (children, handles) = probes::<usize, usize>(3);
    let failed = block_on(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        Yield(1).await;
        Err::<(), _>(99)
    }))
    .unwrap_err();
    assert_eq!(failed.first(), (SCOPE_BODY, &99));
    assert_eq!(failed.cancelled(), 3);
    assert!(handles.iter().all(|h| h.drops() == 1));
}

#[test]
fn concurrent_child_errors_are_all_reported_in_index_order() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(4);
    let mut scope = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        Ok(())
    }));
    assert!(parent.poll(scope.as_mut()).is_pending());
    handles[3].fail(3);
    handles[3].wake();
    handles[0].fail(0);
    handles[0].wake();
    let failed = expect_ready(parent.poll(scope.as_mut())).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(0, &0), (3, &3)]);
}

#[test]
fn push_after_failure_returns_the_future() {
    let (keep, kept) = mpsc::channel();
    let failed = block_on(scope(
        |spawner: taskgroup::Spawner<'_, u8, &str>| async move {
            keep.send(spawner.clone()).unwrap();
            Err::<(), _>("body failed")
        },
    ));
    assert!(failed.is_err());
    let rejected = kept.recv().unwrap().push(ready(Ok(5))).unwrap_err();
    assert_eq!(
        block_on(rejected.into_inner()),
        Ok(5),
        "handed back unpolled"
    );
}

#[test]
fn push_after_finish_or_drop_returns_the_future() {
    let (keep, kept) = mpsc::channel();
    let done = block_on(scope(
        |spawner: taskgroup::Spawner<'_, u8, ()>| async move {
            keep.send(spawner.clone()).unwrap();
            Ok(())
        },
    ));
    assert!(done.is_ok());
    assert!(kept.recv().unwrap().push(ready(Ok(1))).is_err());

    let parent = Parent::new();
    let (keep, kept) = mpsc::channel();
    let mut pending_scope = Box::pin(scope(
        |spawner: taskgroup::Spawner<'_, u8, ()>| async move {
            keep.send(spawner.clone()).unwrap();
            pending::<()>().await;
            Ok(())
        },
    ));
    assert!(parent.poll(pending_scope.as_mut()).is_pending());
    drop(pending_scope);
    assert!(kept.recv().unwrap().push(ready(Ok(1))).is_err());
}

#[test]
fn push_from_another_thread_wakes_the_scope() {
    let (keep, kept) = mpsc::channel::<taskgroup::Spawner<'static, u8, ()>>();
    let (ran, on_run) = futures::channel::oneshot::channel::<()>();
    let pusher = std::thread::spawn(move || {
        let spawner = kept.recv().unwrap();
        spawner
            .push(async move {
                ran.send(()).unwrap();
                Ok(7)
            })
            .unwrap();
    });
    let (done, on_done) = mpsc::channel();
    // The scope runs on its own thread so that a lost wake fails the test instead of hanging it.
    std::thread::spawn(move || {
        let out = block_on(scope(|spawner| async move {
            keep.send(spawner.clone()).unwrap();
            // Only the pushed child ends this wait, and it runs only if the push woke the scope.
            on_run.await.unwrap();
            Ok::<_, ()>(())
        }));
        done.send(out).unwrap();
    });
    pusher.join().unwrap();
    let out = on_done
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the push woke the scope, which ran the child");
    assert_eq!(out.unwrap().children, [7]);
}

#[test]
fn scope_drops_children_accepted_but_never_polled() {
    let counts = DropCount::new();
    let parent = Parent::new();
    let tag = counts.clone();
    let mut s = Box::pin(scope(
        move |spawner: taskgroup::Spawner<'_, (), ()>| async move {
            for _ in 0..5 {
                let value = tag.tag(());
                spawner
                    .push(async move {
                        let _value = value;
                        pending::<()>().await;
                        Ok(())
                    })
                    .unwrap();
            }
            pending::<()>().await;
            Ok(())
        },
    ));
    assert!(parent.poll(s.as_mut()).is_pending());
    drop(s);
    assert_eq!(counts.get(), 5);
}

#[test]
fn scope_deadline_drops_the_body_and_children_and_refuses_pushes() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(3);
    let (keep, kept) = mpsc::channel();
    let (deadline, alarm) = support::probe::<(), ()>();
    let mut s = pin!(
        scope(|spawner: taskgroup::Spawner<'_, usize, usize>| async move {
            keep.send(spawner.clone()).unwrap();
            for child in children {
                spawner.push(child).unwrap();
            }
            pending::<()>().await;
            Ok(())
        })
        .until(deadline)
    );
    assert!(parent.poll(s.as_mut()).is_pending());
    handles[1].succeed(1);
    handles[1].wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    alarm.succeed(());
    alarm.wake();
    let ended = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(ended.reason(), Reason::Deadline);
    assert_eq!(ended.unfinished(), [0, 2, SCOPE_BODY]);
    assert!(handles.iter().all(|h| h.drops() == 1));
    assert!(
        kept.recv().unwrap().push(ready(Ok(9))).is_err(),
        "pushes refused after"
    );
}

#[test]
fn scope_cancelled_from_a_child() {
    let handle = taskgroup::CancelHandle::new();
    let inside = handle.clone();
    let ended = block_on(
        scope(|spawner| async move {
            spawner
                .push(async move {
                    inside.cancel();
                    pending::<()>().await;
                    Ok::<u8, ()>(1)
                })
                .unwrap();
            Ok(())
        })
        .with_cancel(handle),
    )
    .unwrap_err();
    assert_eq!(ended.reason(), Reason::Cancelled);
    assert_eq!(ended.unfinished(), [0]);
}

#[test]
fn scope_drops_everything_once_after_a_child_panics() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, usize>(3);
    let (body_gate, body) = support::probe::<(), usize>();
    let mut s = Box::pin(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        body_gate.await?;
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    handles[1].on_poll(|| panic!("child 1 panics"));
    handles[1].wake();
    let unwound = catch_unwind(AssertUnwindSafe(|| parent.poll(s.as_mut())));
    assert!(unwound.is_err());
    drop(s);
    assert!(handles.iter().all(|h| h.drops() == 1));
    assert_eq!(body.drops(), 1);
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn scope_polled_after_completion_panics() {
    let parent = Parent::new();
    let mut s = pin!(scope(|_: taskgroup::Spawner<'_, (), ()>| async {
        Ok::<_, ()>(())
    }));
    let _ = expect_ready(parent.poll(s.as_mut()));
    let _ = parent.poll(s.as_mut());
}

#[test]
fn scope_with_many_children_keeps_push_order() {
    let n = if cfg!(miri) { 200 } else { 10_000 };
    let out = block_on(scope(|spawner| async move {
        for i in 0..n {
            spawner
                .push(async move {
                    Yield((i % 3) as u32).await;
                    Ok(i)
                })
                .unwrap();
            if i % 100 == 0 {
                Yield(1).await;
            }
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
    assert_eq!(out.children, (0..n).collect::<Vec<_>>());
}

#[test]
fn scope_is_send_when_its_body_is() {
    fn assert_send<T: Send>(_: &T) {}
    let s = scope(|spawner| async move {
        spawner.push(async { Ok::<u8, ()>(1) }).unwrap();
        Ok::<_, ()>(())
    });
    assert_send(&s);
}

/// Wakes itself and returns `Pending` this many times, then is ready.
struct Yield(u32);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
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
