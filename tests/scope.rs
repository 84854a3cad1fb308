//! The promises of the scope spawner ([`scope`], [`Spawner::push`], issue 4), one test (or more)
//! per promise, named after it: children added while the group runs are polled in place with
//! precise wakeups, come back in push order, fail fast with the body in both directions, are
//! refused (handed back unpolled) once the scope is failing, interrupted, finished or dropped,
//! and are dropped exactly once on every path.
//!
//! Most tests drive the scope by hand with a counting parent waker, so poll counts are exact. A
//! test that keeps a [`Spawner`] outside the scope gets it from [`with_spawner`]: the scope calls
//! its body closure at once, so a clone can be taken before the first poll.
#![cfg(feature = "alloc")]

mod support;

use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::thread::{self, ThreadId};
use std::time::Duration;

use futures::executor::block_on;
use futures::future::FusedFuture;
use taskgroup::{scope, CancelHandle, Reason, Rejected, Scope, Scoped, Spawner, SCOPE_BODY};

use support::{expect_ready, probe, probes, Counted, DropCount, Handle, Parent, Probe, Yield};

/// How long a test waits for another thread before it fails. Generous: it bounds a hang, it is
/// not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// A size for a test that may run under Miri, where big scopes are too slow.
fn size(n: usize, under_miri: usize) -> usize {
    if cfg!(miri) {
        under_miri
    } else {
        n
    }
}

/// Builds a scope and keeps a clone of its spawner, for the test to push from outside.
fn with_spawner<'a, R, T, E, B, Fut>(body: B) -> (Scope<'a, R, T, E, Fut>, Spawner<'a, T, E>)
where
    B: FnOnce(Spawner<'a, T, E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let mut kept = None;
    let scope = scope(|spawner: Spawner<'a, T, E>| {
        kept = Some(spawner.clone());
        body(spawner)
    });
    (scope, kept.expect("`scope` calls its body closure at once"))
}

fn polls<T, E>(handles: &[Handle<T, E>]) -> Vec<usize> {
    handles.iter().map(Handle::polls).collect()
}

fn drops<T, E>(handles: &[Handle<T, E>]) -> Vec<usize> {
    handles.iter().map(Handle::drops).collect()
}

#[track_caller]
fn assert_all_dropped_once<T, E>(handles: &[Handle<T, E>]) {
    assert_eq!(drops(handles), vec![1; handles.len()], "drops per child");
}

/// Polls `future` with `parent` until it is ready. Every `Pending` must have woken the parent
/// since the previous poll (or the future would hang on a real executor); at most `limit` polls.
#[track_caller]
fn drive<F: Future + ?Sized>(parent: &Parent, mut future: Pin<&mut F>, limit: usize) -> F::Output {
    for _ in 0..limit {
        let wakes = parent.wakes();
        match parent.poll(future.as_mut()) {
            Poll::Ready(output) => return output,
            Poll::Pending => assert!(
                parent.wakes() > wakes,
                "the scope returned Pending without arranging a wake"
            ),
        }
    }
    panic!("not ready after {limit} polls");
}

// In place.

#[test]
fn scope_runs_pushed_children_in_place() {
    let here = thread::current().id();
    let seen: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
    let record = || seen.lock().unwrap().push(thread::current().id());

    // Under `block_on`: every child, and every child a child pushed, runs on this thread.
    let out = block_on(scope(|spawner| {
        let record = &record;
        async move {
            for i in 0..3 {
                let inner = spawner.clone();
                spawner
                    .push(async move {
                        record();
                        Yield(1).await;
                        inner
                            .push(async move {
                                record();
                                Ok(10 + i)
                            })
                            .unwrap();
                        Ok(i)
                    })
                    .unwrap();
            }
            record();
            Ok::<_, ()>("body")
        }
    }))
    .unwrap();
    assert_eq!(out.body, "body");
    assert_eq!(out.children, [0, 1, 2, 10, 11, 12]);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 7);
    assert!(seen.iter().all(|id| *id == here), "{seen:?}");

    // Driven by hand: a child runs only inside a poll of the scope, nowhere else.
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(3);
    let [by_body, early, late]: [_; 3] = children.try_into().ok().unwrap();
    let (s, outside) = with_spawner(|spawner| async move {
        spawner.push(by_body).unwrap();
        Ok::<_, ()>(())
    });
    let mut s = pin!(s);
    // Pushed before the first poll, so before the body's push: child 0.
    assert_eq!(outside.push(early), Ok(0));
    assert_eq!(polls(&handles), [0, 0, 0], "nothing runs before a poll");
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 0]);
    assert_eq!(outside.push(late), Ok(2));
    assert_eq!(polls(&handles), [1, 1, 0], "a push does not run the child");
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 1]);
    for (i, handle) in handles.iter().enumerate() {
        handle.succeed(i);
        handle.wake();
    }
    let out = expect_ready(parent.poll(s.as_mut())).unwrap();
    assert_eq!(out.children, [1, 0, 2], "push order, not creation order");
}

#[test]
fn hand_driven_scope_with_self_waking_children_completes() {
    let parent = Parent::new();
    let here = thread::current().id();
    let s = scope(|spawner| async move {
        for i in 0..5 {
            let inner = spawner.clone();
            spawner
                .push(async move {
                    Yield(i).await;
                    assert_eq!(thread::current().id(), here);
                    inner.push(async move { Ok(i * 100) }).unwrap();
                    Ok(i)
                })
                .unwrap();
            Yield(1).await;
        }
        Ok::<_, ()>(())
    });
    let out = drive(&parent, pin!(s), 100).unwrap();
    let mut outputs = out.children.clone();
    outputs.sort_unstable();
    assert_eq!(outputs, [0, 0, 1, 2, 3, 4, 100, 200, 300, 400]);
}

// Push order.

#[test]
fn scope_returns_body_output_and_children_in_push_order() {
    let parent = Parent::new();
    let (children, handles) = probes::<&str, ()>(5);
    let mut children = children.into_iter();
    let (first, second) = (children.next().unwrap(), children.next().unwrap());
    let (third, fourth) = (children.next().unwrap(), children.next().unwrap());
    let fifth = children.next().unwrap();
    let (gate, body) = probe::<(), ()>();
    let (s, outside) = with_spawner(|spawner| async move {
        assert_eq!(spawner.push(first), Ok(0));
        assert_eq!(spawner.push(second), Ok(1));
        gate.await?;
        assert_eq!(spawner.push(third), Ok(2));
        assert_eq!(spawner.clone().push(fourth), Ok(3));
        Ok("body output")
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    body.succeed(());
    body.wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(outside.push(fifth), Ok(4));
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 1, 1, 1]);

    // Three batches, finishing out of order, across polls.
    for (index, value) in [(3, "d"), (0, "a"), (4, "e"), (2, "c")] {
        handles[index].succeed(value);
        handles[index].wake();
        assert!(parent.poll(s.as_mut()).is_pending(), "child 1 still runs");
    }
    handles[1].succeed("b");
    handles[1].wake();
    assert_eq!(
        expect_ready(parent.poll(s.as_mut())),
        Ok(Scoped {
            body: "body output",
            children: vec!["a", "b", "c", "d", "e"],
        })
    );
}

#[test]
fn scope_with_no_children_returns_the_body_output() {
    let out = block_on(scope(|_: Spawner<'_, u8, ()>| async { Ok(7) })).unwrap();
    assert_eq!(out.body, 7);
    assert!(out.children.is_empty());
}

/// A node of a tree of children: pushes two children one level deeper (yielding between
/// pushes, so they land in different batches), records each push's index with the label of the
/// child it pushed, and returns its own label.
fn node(
    spawner: Spawner<'static, u32, ()>,
    label: u32,
    depth: u32,
    pushed: Arc<Mutex<Vec<(usize, u32)>>>,
) -> Pin<Box<dyn Future<Output = Result<u32, ()>> + Send>> {
    Box::pin(async move {
        if depth > 0 {
            for k in 0..2 {
                let child_label = label * 10 + k + 1;
                let child = node(spawner.clone(), child_label, depth - 1, Arc::clone(&pushed));
                let index = spawner.push(child).unwrap();
                pushed.lock().unwrap().push((index, child_label));
                Yield(1).await;
            }
        }
        Ok(label)
    })
}

#[test]
fn children_push_more_children_through_their_clone() {
    let depth = 4;
    let pushed = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&pushed);
    let out = block_on(scope(move |spawner| async move {
        let index = spawner
            .push(node(spawner.clone(), 1, depth, Arc::clone(&recorded)))
            .unwrap();
        recorded.lock().unwrap().push((index, 1));
        Ok(())
    }))
    .unwrap();

    // 1 + 2 + 4 + 8 + 16 children, each output at the index its push returned.
    let mut pushed = pushed.lock().unwrap().clone();
    assert_eq!(pushed.len(), 31);
    assert_eq!(out.children.len(), 31);
    pushed.sort_unstable();
    for (position, (index, label)) in pushed.iter().enumerate() {
        assert_eq!(*index, position, "indices are 0.. in push order");
        assert_eq!(out.children[*index], *label);
    }
    // The deepest level ran: labels with five digits.
    assert_eq!(out.children.iter().filter(|&&l| l >= 10_000).count(), 16);
}

// Completion waits for everyone.

#[test]
fn scope_waits_for_every_child_after_the_body_finished() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(3);
    let body_done = AtomicBool::new(false);
    let mut s = pin!(scope(|spawner| {
        let body_done = &body_done;
        async move {
            for child in children {
                spawner.push(child).unwrap();
            }
            body_done.store(true, SeqCst);
            Ok("body")
        }
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    assert!(
        body_done.load(SeqCst),
        "the body returned in the first poll"
    );
    for index in [1, 2] {
        handles[index].succeed(index);
        handles[index].wake();
        assert!(parent.poll(s.as_mut()).is_pending(), "child 0 still runs");
    }
    handles[0].succeed(0);
    handles[0].wake();
    let out = expect_ready(parent.poll(s.as_mut())).unwrap();
    assert_eq!((out.body, out.children), ("body", vec![0, 1, 2]));
}

#[test]
fn scope_waits_for_the_body_after_children_finished() {
    let parent = Parent::new();
    let (gate, body) = probe::<(), ()>();
    let (late, late_handle) = probe::<usize, ()>();
    let mut s = pin!(scope(|spawner| async move {
        spawner.push(ready(Ok(0))).unwrap();
        spawner.push(ready(Ok(1))).unwrap();
        gate.await?;
        // Every child finished long ago; the scope still accepts and runs this one.
        spawner.push(late).unwrap();
        Ok("body")
    }));
    assert!(parent.poll(s.as_mut()).is_pending(), "the body still runs");
    assert!(parent.poll(s.as_mut()).is_pending(), "still");
    body.succeed(());
    body.wake();
    assert!(
        parent.poll(s.as_mut()).is_pending(),
        "the body finished; the child it pushed runs"
    );
    assert_eq!(late_handle.polls(), 1);
    late_handle.succeed(2);
    late_handle.wake();
    let out = expect_ready(parent.poll(s.as_mut())).unwrap();
    assert_eq!((out.body, out.children), ("body", vec![0, 1, 2]));
}

// Pushed children start at once.

#[test]
fn pushed_child_is_polled_in_the_same_poll() {
    let parent = Parent::new();

    // Pushed by the body in a later poll: polled, and finished, before that poll returns.
    let (gate, body) = probe::<(), ()>();
    let (child, handle) = probe::<u8, ()>();
    let mut s = pin!(scope(|spawner| async move {
        gate.await?;
        spawner.push(child).unwrap();
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    handle.succeed(5);
    body.succeed(());
    body.wake();
    let out = expect_ready(parent.poll(s.as_mut())).unwrap();
    assert_eq!(handle.polls(), 1);
    assert_eq!(out.children, [5]);

    // A chain: each child pushes the next; the whole chain runs in the scope's first poll.
    fn link(
        spawner: Spawner<'static, usize, ()>,
        n: usize,
    ) -> Pin<Box<dyn Future<Output = Result<usize, ()>> + Send>> {
        Box::pin(async move {
            if n > 0 {
                spawner.push(link(spawner.clone(), n - 1)).unwrap();
            }
            Ok(n)
        })
    }
    let mut s = pin!(scope(|spawner| async move {
        spawner.push(link(spawner.clone(), 9)).unwrap();
        Ok(())
    }));
    let out = expect_ready(parent.poll(s.as_mut())).unwrap();
    assert_eq!(out.children, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);

    // Pushed by a child that stays pending: the new child is polled in the same poll too.
    let (gate, opener) = probe::<(), ()>();
    let (grandchild, grandchild_handle) = probe::<usize, ()>();
    let mut s = pin!(scope(|spawner| async move {
        let inner = spawner.clone();
        spawner
            .push(async move {
                gate.await?;
                inner.push(grandchild).unwrap();
                pending::<()>().await;
                Ok(0)
            })
            .unwrap();
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    opener.succeed(());
    opener.wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(grandchild_handle.polls(), 1);
}

// Precise wakeups.

#[test]
fn scope_polls_only_woken_children() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(10);
    let mut children = children.into_iter();
    let first_batch: Vec<_> = children.by_ref().take(5).collect();
    let (gate, body) = probe::<(), ()>();
    let (s, outside) = with_spawner(|spawner| async move {
        for child in first_batch {
            spawner.push(child).unwrap();
        }
        gate.await?;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(body.polls(), 1);

    // A second batch, pushed from outside: only it is polled.
    for child in children {
        outside.push(child).unwrap();
    }
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(body.polls(), 1, "the body was not woken");

    // Nothing woken: nothing polled.
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1; 10]);
    assert_eq!(body.polls(), 1);

    handles[2].wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 2, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(body.polls(), 1);

    handles[8].wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 2, 1, 1, 1, 1, 1, 2, 1]);
    assert_eq!(body.polls(), 1);

    body.wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 2, 1, 1, 1, 1, 1, 2, 1]);
    assert_eq!(body.polls(), 2, "only the body");

    // One child in each batch.
    handles[4].wake();
    handles[5].wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [1, 1, 2, 1, 2, 2, 1, 1, 2, 1]);
    assert_eq!(body.polls(), 2);

    // Woken from another thread.
    let waker = handles[0].waker();
    thread::spawn(move || waker.wake()).join().unwrap();
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(polls(&handles), [2, 1, 2, 1, 2, 2, 1, 1, 2, 1]);
    assert_eq!(body.polls(), 2);
}

#[test]
fn idle_scope_does_not_wake_itself() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(3);
    let (gate, body) = probe::<(), ()>();
    let mut s = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        gate.await?;
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    assert!(parent.poll(s.as_mut()).is_pending());
    let wakes = parent.wakes();
    for _ in 0..3 {
        assert!(parent.poll(s.as_mut()).is_pending());
    }
    assert_eq!(parent.wakes(), wakes, "nothing happened: no wake");
    assert_eq!(polls(&handles), [1, 1, 1]);
    assert_eq!(body.polls(), 1);
}

/// The engine wakes its task only for a child's wake (`self_waking_child_is_polled_again_next_poll`
/// in tests/contract.rs): a poll in which the woken children are polled, stay pending and wake
/// nobody leaves the task unwoken, so the executor does not poll the group again for nothing.
#[test]
fn child_wakes_reach_the_task_that_polls_the_scope() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(2);
    let mut s = pin!(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    let before = parent.wakes();
    handles[1].wake();
    assert!(parent.wakes() > before, "a child's wake wakes the parent");
    let before = parent.wakes();
    assert!(parent.poll(s.as_mut()).is_pending());
    handles[0].succeed(0);
    handles[1].succeed(1);
    let waker = handles[0].waker();
    thread::spawn(move || waker.wake()).join().unwrap();
    assert!(parent.wakes() > before, "also from another thread");
    handles[1].wake();
    assert_eq!(
        expect_ready(parent.poll(s.as_mut())).unwrap().children,
        [0, 1]
    );
}

// Fail fast.

#[test]
fn body_failure_drops_every_child() {
    let parent = Parent::new();
    let outputs = DropCount::new();
    let (children, handles) = probes::<Counted<usize>, &str>(4);
    let mut children = children.into_iter();
    let first_three: Vec<_> = children.by_ref().take(3).collect();
    let (gate, body) = probe::<(), &str>();
    let (s, outside) = with_spawner(|spawner| async move {
        for child in first_three {
            spawner.push(child).unwrap();
        }
        gate.await?;
        Ok(())
    });
    let mut s = pin!(s);
    handles[1].succeed(outputs.tag(1));
    assert!(parent.poll(s.as_mut()).is_pending());
    // Child 3 is accepted from outside and not polled yet.
    assert_eq!(outside.push(children.next().unwrap()), Ok(3));

    body.fail("body failed");
    body.wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    // Before the scope itself is dropped: every child and stored output is gone.
    assert_all_dropped_once(&handles);
    assert_eq!(body.drops(), 1);
    assert_eq!(outputs.get(), 1, "child 1's output");
    assert_eq!(
        failed.iter().collect::<Vec<_>>(),
        [(SCOPE_BODY, &"body failed")]
    );
    assert_eq!(failed.first(), (SCOPE_BODY, &"body failed"));
    assert_eq!(failed.cancelled(), 3, "children 0, 2 and 3");
    assert_eq!(
        polls(&handles[..3]),
        [1, 1, 1],
        "no further poll of a pushed child"
    );
}

#[test]
fn child_failure_drops_the_body_and_siblings() {
    let parent = Parent::new();
    let outputs = DropCount::new();
    let body_state = DropCount::new();
    let (children, handles) = probes::<Counted<usize>, &str>(5);
    let mut children = children.into_iter();
    let first_two: Vec<_> = children.by_ref().take(2).collect();
    let (gate, body) = probe::<(), &str>();
    let held = body_state.tag(());
    let (s, outside) = with_spawner(|spawner| async move {
        let _held = held;
        for child in first_two {
            spawner.push(child).unwrap();
        }
        gate.await?;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    // A second batch, one of which finished (its output stored in the batch).
    outside.push(children.next().unwrap()).unwrap();
    outside.push(children.next().unwrap()).unwrap();
    handles[2].succeed(outputs.tag(2));
    assert!(parent.poll(s.as_mut()).is_pending());
    // And child 0 of the first batch finished too.
    handles[0].succeed(outputs.tag(0));
    handles[0].wake();
    assert!(parent.poll(s.as_mut()).is_pending());
    // Child 4: accepted, never polled.
    assert_eq!(outside.push(children.next().unwrap()), Ok(4));

    handles[3].fail("child 3 failed");
    handles[3].wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_all_dropped_once(&handles);
    assert_eq!(body.drops(), 1, "the body was dropped");
    assert_eq!(body_state.get(), 1);
    assert_eq!(outputs.get(), 2, "outputs of children 0 and 2");
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(3, &"child 3 failed")]);
    assert_eq!(failed.cancelled(), 3, "child 1, child 4 and the body");
    assert_eq!(body.polls(), 1, "the body was not polled again");
    assert_eq!(polls(&handles[..3]), [2, 1, 1]);
}

#[test]
fn concurrent_child_errors_are_all_reported() {
    let parent = Parent::new();

    // Two children of the same batch, and one of another batch, fail in the same poll; they are
    // woken highest index first, and reported in index order.
    let (children, handles) = probes::<usize, &str>(6);
    let mut children = children.into_iter();
    let first_four: Vec<_> = children.by_ref().take(4).collect();
    let (s, outside) = with_spawner(|spawner| async move {
        for child in first_four {
            spawner.push(child).unwrap();
        }
        pending::<()>().await;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    for child in children {
        outside.push(child).unwrap();
    }
    assert!(parent.poll(s.as_mut()).is_pending());
    for index in [5, 3, 1] {
        handles[index].fail(["zero", "one", "two", "three", "four", "five"][index]);
        handles[index].wake();
    }
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(
        failed.iter().collect::<Vec<_>>(),
        [(1, &"one"), (3, &"three"), (5, &"five")]
    );
    assert_eq!(failed.first(), (1, &"one"));
    assert_eq!(failed.len(), 3);
    assert_eq!(failed.cancelled(), 4, "children 0, 2 and 4, and the body");
    assert_all_dropped_once(&handles);

    // The body and a child fail in the same poll: the body's error comes last.
    let (child, handle) = probe::<usize, &str>();
    let (gate, body) = probe::<(), &str>();
    let mut s = pin!(scope(|spawner| async move {
        spawner.push(child).unwrap();
        spawner.push(pending()).unwrap();
        gate.await?;
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    body.fail("body");
    body.wake();
    handle.fail("child");
    handle.wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(
        failed.iter().collect::<Vec<_>>(),
        [(0, &"child"), (SCOPE_BODY, &"body")]
    );
    assert_eq!(failed.cancelled(), 1, "child 1");
    assert_eq!((handle.drops(), body.drops()), (1, 1));
}

#[test]
fn child_failing_in_its_first_poll_ends_the_scope_in_that_poll() {
    let parent = Parent::new();
    let (gate, body) = probe::<(), &str>();
    let (sibling, sibling_handle) = probe::<(), &str>();
    let mut s = pin!(scope(|spawner| async move {
        spawner.push(sibling).unwrap();
        spawner.push(ready(Err("at once"))).unwrap();
        gate.await?;
        Ok(())
    }));
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(1, &"at once")]);
    assert_eq!(failed.cancelled(), 2, "child 0 and the body");
    assert_eq!((sibling_handle.drops(), body.drops()), (1, 1));
    assert!(s.is_terminated());
}

/// Mirrors the engine's promise (contract 3, `errors_woken_during_the_failing_sweep_wait` in
/// tests/contract.rs): a child woken *during* the failing poll, by the child that fails, is not
/// polled in it; it is dropped and counted as cancelled.
#[test]
fn push_after_failure_returns_the_future() {
    let parent = Parent::new();
    let (gate, body) = probe::<(), &str>();
    let (s, outside) = with_spawner(|spawner: Spawner<'_, u8, &str>| async move {
        spawner.push(pending()).unwrap();
        gate.await?;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    body.fail("body failed");
    body.wake();
    assert!(expect_ready(parent.poll(s.as_mut())).is_err());

    let (late, late_handle) = probe::<u8, &str>();
    let rejected = outside.push(late).unwrap_err();
    assert_eq!(
        rejected.to_string(),
        "the scope no longer accepts children: it is failing, finished or dropped"
    );
    let late = rejected.into_inner();
    assert_eq!(
        (late_handle.polls(), late_handle.drops()),
        (0, 0),
        "unpolled, alive"
    );
    late_handle.succeed(3);
    assert_eq!(block_on(late), Ok(3), "the caller may still run it");
    assert_eq!(late_handle.drops(), 1);
    // Every later push too, from every clone.
    assert!(outside.clone().push(ready(Ok(1))).is_err());
}

#[test]
fn push_after_finish_returns_the_future() {
    let parent = Parent::new();
    let (s, outside) = with_spawner(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(ready(Ok(1))).unwrap();
        Ok(())
    });
    let mut s = pin!(s);
    assert_eq!(expect_ready(parent.poll(s.as_mut())).unwrap().children, [1]);
    let (late, late_handle) = probe::<u8, ()>();
    let late = outside.push(late).unwrap_err().into_inner();
    assert_eq!((late_handle.polls(), late_handle.drops()), (0, 0));
    drop(late);
    assert_eq!(late_handle.drops(), 1);
}

#[test]
fn push_after_scope_dropped_returns_the_future() {
    let parent = Parent::new();

    // Dropped while pending.
    let (s, outside) = with_spawner(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(pending()).unwrap();
        pending::<()>().await;
        Ok(())
    });
    let mut s = Box::pin(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    drop(s);
    let (late, late_handle) = probe::<u8, ()>();
    let late = outside.push(late).unwrap_err().into_inner();
    assert_eq!((late_handle.polls(), late_handle.drops()), (0, 0));
    drop(late);

    // Dropped before it was ever polled; a child accepted before that is dropped with it.
    let (s, outside) = with_spawner(|_: Spawner<'_, u8, ()>| async { Ok(()) });
    let (early, early_handle) = probe::<u8, ()>();
    assert_eq!(outside.push(early), Ok(0));
    drop(s);
    assert_eq!((early_handle.polls(), early_handle.drops()), (0, 1));
    assert!(outside.push(ready(Ok(1))).is_err());
}

#[test]
fn push_after_deadline_or_cancel_returns_the_future() {
    let parent = Parent::new();
    let (s, outside) = with_spawner(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(pending()).unwrap();
        pending::<()>().await;
        Ok(())
    });
    let mut ended = pin!(s.until(ready(())));
    let interrupted = expect_ready(parent.poll(ended.as_mut())).unwrap_err();
    assert_eq!(interrupted.reason(), Reason::Deadline);
    assert!(outside.push(ready(Ok(1))).is_err());

    let handle = CancelHandle::new();
    let (s, outside) = with_spawner(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(pending()).unwrap();
        pending::<()>().await;
        Ok(())
    });
    let mut ended = pin!(s.with_cancel(handle.clone()));
    assert!(parent.poll(ended.as_mut()).is_pending());
    handle.cancel();
    let interrupted = expect_ready(parent.poll(ended.as_mut())).unwrap_err();
    assert_eq!(interrupted.reason(), Reason::Cancelled);
    assert_eq!(interrupted.unfinished(), [0, SCOPE_BODY]);
    let (late, late_handle) = probe::<u8, ()>();
    let late = outside.push(late).unwrap_err().into_inner();
    assert_eq!((late_handle.polls(), late_handle.drops()), (0, 0));
    drop(late);
}

type Pushed = Result<usize, Rejected<Probe<u8, &'static str>>>;

/// A child that, once `gate` opens, pushes `late` through `spawner` and sends back what `push`
/// returned, then waits forever.
async fn pusher(
    spawner: Spawner<'static, u8, &'static str>,
    gate: Probe<(), &'static str>,
    late: Probe<u8, &'static str>,
    report: mpsc::Sender<Pushed>,
) -> Result<u8, &'static str> {
    gate.await?;
    report.send(spawner.push(late)).unwrap();
    pending::<()>().await;
    Ok(0)
}

#[test]
fn push_from_a_child_polled_in_the_failing_poll_returns_the_future() {
    let parent = Parent::new();
    let (failing, failing_handle) = probe::<u8, &'static str>();
    let (gate, opener) = probe::<(), &'static str>();
    let (late, late_handle) = probe::<u8, &'static str>();
    let (report, reported) = mpsc::channel();
    let (s, outside) = with_spawner(|spawner| async move {
        spawner.push(failing).unwrap();
        pending::<()>().await;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    // In a second batch: polled in the failing poll only because it was woken before it.
    outside
        .push(pusher(outside.clone(), gate, late, report))
        .unwrap();
    assert!(parent.poll(s.as_mut()).is_pending());

    failing_handle.fail("zero");
    failing_handle.wake();
    opener.succeed(());
    opener.wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(0, &"zero")]);
    assert_eq!(opener.polls(), 2, "the pusher ran in the failing poll");
    let late = reported
        .try_recv()
        .expect("the pusher reported")
        .expect_err("the scope was failing");
    assert_eq!((late_handle.polls(), late_handle.drops()), (0, 0));
    drop(late);
    assert_eq!(late_handle.drops(), 1);
}

#[test]
fn push_from_the_body_polled_in_the_failing_poll_returns_the_future() {
    let parent = Parent::new();
    let (failing, failing_handle) = probe::<u8, &'static str>();
    let (gate, opener) = probe::<(), &'static str>();
    let (late, late_handle) = probe::<u8, &'static str>();
    let (report, reported) = mpsc::channel();
    let mut s = pin!(scope(|spawner| async move {
        spawner.push(failing).unwrap();
        gate.await?;
        report.send(spawner.push(late)).unwrap();
        pending::<()>().await;
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    // The child is woken first, so it fails before the body runs.
    failing_handle.fail("zero");
    failing_handle.wake();
    opener.succeed(());
    opener.wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(0, &"zero")]);
    assert_eq!(opener.polls(), 2, "the body ran in the failing poll");
    let late = reported
        .try_recv()
        .expect("the body reported")
        .expect_err("the scope was failing");
    assert_eq!((late_handle.polls(), late_handle.drops()), (0, 0));
    drop(late);
}

#[test]
fn push_from_a_sibling_in_the_failing_sweep_returns_the_future() {
    let parent = Parent::new();
    let (failing, failing_handle) = probe::<u8, &'static str>();
    let (gate, opener) = probe::<(), &'static str>();
    let (late, late_handle) = probe::<u8, &'static str>();
    let (report, reported) = mpsc::channel();
    let mut s = pin!(scope(|spawner| async move {
        // Children 0 and 1, in one batch.
        spawner.push(failing).unwrap();
        spawner
            .push(pusher(spawner.clone(), gate, late, report))
            .unwrap();
        pending::<()>().await;
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());

    // Both woken; the batch's sweep polls child 0 (which fails), then child 1, which pushes.
    failing_handle.fail("zero");
    failing_handle.wake();
    opener.succeed(());
    opener.wake();
    let failed = expect_ready(parent.poll(s.as_mut())).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(0, &"zero")]);
    assert_eq!(opener.polls(), 2, "child 1 ran in the failing sweep");
    let pushed = reported.try_recv().expect("child 1 reported");
    // Whatever `push` said, the child it pushed never runs and is dropped once.
    assert_eq!(
        (late_handle.polls(), late_handle.drops()),
        (0, usize::from(pushed.is_ok()))
    );
    let late = pushed.expect_err("the scope was failing: child 0 had failed in this sweep");
    drop(late);
}

// Other threads.

#[test]
fn push_from_another_thread_wakes_the_scope() {
    // By hand: the scope is pending, another thread pushes, the parent is woken, and the next
    // poll polls the new child.
    let parent = Parent::new();
    let (s, outside) = with_spawner(|_: Spawner<'static, usize, ()>| async {
        pending::<()>().await;
        Ok(())
    });
    let mut s = pin!(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    let before = parent.wakes();
    let (child, handle) = probe::<usize, ()>();
    let (done, on_done) = mpsc::channel();
    let pusher = thread::spawn(move || done.send(outside.push(child).map_err(drop)).unwrap());
    assert_eq!(on_done.recv_timeout(PATIENCE).unwrap(), Ok(0));
    pusher.join().unwrap();
    assert_eq!(parent.wakes(), before + 1, "the push woke the parent once");
    assert_eq!(handle.polls(), 0);
    assert!(parent.poll(s.as_mut()).is_pending());
    assert_eq!(handle.polls(), 1);

    // Under `block_on` on its own thread: the body waits for a signal that only the pushed
    // child sends, so `block_on` returns only if the push woke the scope.
    let (ready_to_push, wait_for_body) = mpsc::channel::<()>();
    let (ran, on_run) = futures::channel::oneshot::channel::<()>();
    let (s, outside) = with_spawner(|_: Spawner<'static, usize, ()>| async move {
        ready_to_push.send(()).unwrap();
        on_run.await.unwrap();
        Ok(())
    });
    let (done, on_done) = mpsc::channel();
    let runner = thread::spawn(move || done.send(block_on(s)).unwrap());
    // The body is running (and about to wait) when the push happens.
    wait_for_body
        .recv_timeout(PATIENCE)
        .expect("the body started");
    let pusher = thread::spawn(move || {
        outside
            .push(async move {
                ran.send(()).unwrap();
                Ok(7)
            })
            .unwrap()
    });
    let out = on_done
        .recv_timeout(PATIENCE)
        .expect("the push woke the scope, which ran the child");
    assert_eq!(out.unwrap().children, [7]);
    assert_eq!(pusher.join().unwrap(), 0);
    runner.join().unwrap();
}

#[test]
fn concurrent_pushes_from_threads_get_distinct_indices_in_push_order() {
    let threads = size(4, 2);
    let per_thread = size(50, 4);
    let (s, outside) = with_spawner(|_: Spawner<'static, (usize, usize), ()>| async { Ok(()) });
    let mut s = Box::pin(s);
    let parent = Parent::new();
    // The body finishes at once, but the scope waits for... nothing yet: give it a child that
    // only the test ends, so the scope stays open while the threads push.
    let (anchor, anchor_handle) = probe::<(usize, usize), ()>();
    assert_eq!(outside.push(anchor), Ok(0));
    assert!(parent.poll(s.as_mut()).is_pending());

    let (report, reports) = mpsc::channel();
    let pushers: Vec<_> = (0..threads)
        .map(|t| {
            let spawner = outside.clone();
            let report = report.clone();
            thread::spawn(move || {
                for k in 0..per_thread {
                    let index = spawner.push(async move { Ok((t, k)) }).unwrap();
                    report.send((index, (t, k))).unwrap();
                }
            })
        })
        .collect();
    drop(report);
    let mut pushed = Vec::new();
    for _ in 0..threads * per_thread {
        pushed.push(reports.recv_timeout(PATIENCE).expect("a pusher reported"));
    }
    for pusher in pushers {
        pusher.join().unwrap();
    }
    anchor_handle.succeed((usize::MAX, usize::MAX));
    anchor_handle.wake();
    let out = drive(&parent, s.as_mut(), 10).unwrap();
    assert_eq!(out.children.len(), 1 + threads * per_thread);
    pushed.sort_unstable();
    for (position, (index, value)) in pushed.iter().enumerate() {
        assert_eq!(*index, position + 1, "indices are distinct and dense");
        assert_eq!(out.children[*index], *value);
    }
    // Each thread's pushes keep their order.
    for t in 0..threads {
        let mine: Vec<usize> = out
            .children
            .iter()
            .filter(|c| c.0 == t)
            .map(|c| c.1)
            .collect();
        assert_eq!(mine, (0..per_thread).collect::<Vec<_>>());
    }
}

// Drop exactly once, on every path.

type Output = Counted<usize>;
type BodyOutput = Counted<&'static str>;

/// A scope in the middle of its life, holding something in every place it can:
///
/// * the body, pending on its gate, holding a counted value (which it returns);
/// * batch 0-1 (pushed by the body): child 0 finished (its output stored), child 1 pending;
/// * batch 2-3 (pushed from outside): both finished, outputs stored in the scope;
/// * child 4, pushed from outside, accepted and never polled.
struct Busy {
    outside: Spawner<'static, Output, usize>,
    parent: Parent,
    children: Vec<Handle<Output, usize>>,
    body: Handle<(), usize>,
    /// Drops of the children's outputs.
    outputs: DropCount,
    /// Drops of the value the body holds, then returns.
    body_value: DropCount,
}

type BusyScope<Fut> = Scope<'static, BodyOutput, Output, usize, Fut>;

/// A [`Busy`] scope and what watches it.
fn busy() -> (
    BusyScope<impl Future<Output = Result<BodyOutput, usize>> + Send>,
    Busy,
) {
    let parent = Parent::new();
    let outputs = DropCount::new();
    let body_value = DropCount::new();
    let (children, handles) = probes::<Output, usize>(5);
    let mut children = children.into_iter();
    let first_two: Vec<_> = children.by_ref().take(2).collect();
    let (gate, body) = probe::<(), usize>();
    let held = body_value.tag("body");
    let (mut scope, outside) = with_spawner(move |spawner| async move {
        for child in first_two {
            spawner.push(child).unwrap();
        }
        gate.await?;
        Ok(held)
    });
    handles[0].succeed(outputs.tag(0));
    assert!(parent.poll(Pin::new(&mut scope)).is_pending());
    handles[2].succeed(outputs.tag(2));
    handles[3].succeed(outputs.tag(3));
    assert_eq!(outside.push(children.next().unwrap()), Ok(2));
    assert_eq!(outside.push(children.next().unwrap()), Ok(3));
    assert!(parent.poll(Pin::new(&mut scope)).is_pending());
    assert_eq!(outside.push(children.next().unwrap()), Ok(4));

    assert_eq!(polls(&handles), [1, 1, 1, 1, 0]);
    assert_eq!((handles[1].drops(), handles[4].drops()), (0, 0));
    assert_eq!((outputs.get(), body_value.get(), body.drops()), (0, 0, 0));
    let busy = Busy {
        outside,
        parent,
        children: handles,
        body,
        outputs,
        body_value,
    };
    (scope, busy)
}

impl Busy {
    /// Everything was dropped exactly once: every child, the body, and the `outputs` child
    /// outputs that were produced.
    #[track_caller]
    fn assert_all_dropped_once(&self, outputs: usize) {
        assert_all_dropped_once(&self.children);
        assert_eq!(self.body.drops(), 1, "the body's gate");
        assert_eq!(self.body_value.get(), 1, "the body's value");
        assert_eq!(self.outputs.get(), outputs, "child outputs");
    }
}

#[test]
fn every_child_and_output_dropped_once_on_success() {
    let (mut s, b) = busy();
    b.children[1].succeed(b.outputs.tag(1));
    b.children[1].wake();
    b.children[4].succeed(b.outputs.tag(4));
    b.body.succeed(());
    b.body.wake();
    let out = expect_ready(b.parent.poll(Pin::new(&mut s))).unwrap();
    assert_eq!(out.body.value, "body");
    let values: Vec<usize> = out.children.iter().map(|c| c.value).collect();
    assert_eq!(values, [0, 1, 2, 3, 4]);
    assert_all_dropped_once(&b.children);
    assert_eq!(b.outputs.get(), 0, "the outputs are the caller's now");
    assert_eq!(b.body_value.get(), 0);
    drop(out);
    b.assert_all_dropped_once(5);
    assert!(b.outside.push(ready(Ok(b.outputs.tag(9)))).is_err());
    drop(s);
    assert_eq!(
        b.outputs.get(),
        6,
        "the refused output was dropped with its future"
    );
}

#[test]
fn every_child_and_output_dropped_once_on_child_error() {
    let (mut s, b) = busy();
    b.children[1].fail(1);
    b.children[1].wake();
    let failed = expect_ready(b.parent.poll(Pin::new(&mut s))).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(1, &1)]);
    assert_eq!(failed.cancelled(), 2, "child 4 and the body");
    // Before the scope itself is dropped.
    b.assert_all_dropped_once(3);
    drop(s);
    b.assert_all_dropped_once(3);
}

#[test]
fn every_child_and_output_dropped_once_on_body_error() {
    let (mut s, b) = busy();
    b.body.fail(99);
    b.body.wake();
    let failed = expect_ready(b.parent.poll(Pin::new(&mut s))).unwrap_err();
    assert_eq!(failed.iter().collect::<Vec<_>>(), [(SCOPE_BODY, &99)]);
    assert_eq!(failed.cancelled(), 2, "children 1 and 4");
    b.assert_all_dropped_once(3);
    drop(s);
    b.assert_all_dropped_once(3);
}

#[test]
fn every_child_and_output_dropped_once_on_deadline() {
    let (s, b) = busy();
    let (deadline, alarm) = probe::<(), ()>();
    let mut ended = Box::pin(s.until(deadline));
    assert!(b.parent.poll(ended.as_mut()).is_pending());
    assert_eq!(b.children[4].polls(), 1, "taken and polled");
    alarm.succeed(());
    alarm.wake();
    let interrupted = expect_ready(b.parent.poll(ended.as_mut())).unwrap_err();
    assert_eq!(interrupted.reason(), Reason::Deadline);
    assert_eq!(interrupted.unfinished(), [1, 4, SCOPE_BODY]);
    assert_eq!(interrupted.omitted(), 0);
    assert_all_dropped_once(&b.children);
    assert_eq!(
        (b.body.drops(), b.body_value.get(), b.outputs.get()),
        (1, 1, 3)
    );
    assert!(b.outside.push(ready(Ok(b.outputs.tag(9)))).is_err());
    drop(ended);
    assert_eq!(
        (b.body.drops(), b.body_value.get(), b.outputs.get()),
        (1, 1, 4)
    );
    assert_all_dropped_once(&b.children);
}

#[test]
fn every_child_and_output_dropped_once_on_cancel() {
    let (s, b) = busy();
    let handle = CancelHandle::new();
    let mut ended = Box::pin(s.with_cancel(handle.clone()));
    // Cancelled before the next poll: child 4 never runs, and is still reported unfinished.
    handle.cancel();
    let interrupted = expect_ready(b.parent.poll(ended.as_mut())).unwrap_err();
    assert_eq!(interrupted.reason(), Reason::Cancelled);
    assert_eq!(interrupted.unfinished(), [1, 4, SCOPE_BODY]);
    assert_eq!(b.children[4].polls(), 0);
    b.assert_all_dropped_once(3);
    drop(ended);
    b.assert_all_dropped_once(3);
}

#[test]
fn every_child_and_output_dropped_once_when_the_scope_is_dropped_mid_way() {
    let (s, b) = busy();
    drop(s);
    b.assert_all_dropped_once(3);
    assert_eq!(b.children[4].polls(), 0, "accepted, dropped unpolled");
    assert!(b.outside.push(ready(Ok(b.outputs.tag(9)))).is_err());
    assert_eq!(b.outputs.get(), 4);
    assert_all_dropped_once(&b.children);
}

#[test]
fn every_child_and_output_dropped_once_after_a_child_panics() {
    let (mut s, b) = busy();
    b.children[1].on_poll(|| panic!("child 1 panics"));
    b.children[1].wake();
    let payload = catch_unwind(AssertUnwindSafe(|| b.parent.poll(Pin::new(&mut s))))
        .expect_err("the child's panic unwinds through the scope's poll");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child 1 panics"));
    drop(s);
    b.assert_all_dropped_once(3);
}

/// After a panic was caught, polling the scope again must not report success with outputs
/// missing: `children[i]` is child `i`'s output, or there is no `Ok` at all.
#[test]
fn scope_polled_again_after_a_child_panicked_refuses_with_a_clear_panic() {
    let parent = Parent::new();
    let (children, handles) = probes::<usize, ()>(3);
    let mut s = Box::pin(scope(|spawner| async move {
        for child in children {
            spawner.push(child).unwrap();
        }
        Ok(())
    }));
    assert!(parent.poll(s.as_mut()).is_pending());
    handles[1].on_poll(|| panic!("child 1 panics"));
    handles[1].wake();
    assert!(catch_unwind(AssertUnwindSafe(|| parent.poll(s.as_mut()))).is_err());

    handles[1].on_poll(|| ());
    for (index, handle) in handles.iter().enumerate() {
        handle.succeed(index);
        handle.wake();
    }
    // The panicking child's batch is gone: going on would return without it.
    let again = catch_unwind(AssertUnwindSafe(|| parent.poll(s.as_mut())))
        .expect_err("a scope re-polled after a panic refuses");
    let message = again
        .downcast_ref::<&str>()
        .copied()
        .or(again.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("polled again after"), "{message}");
    drop(s);
    assert_all_dropped_once(&handles);
}

#[test]
fn every_child_and_output_dropped_once_after_the_body_panics() {
    let (mut s, b) = busy();
    b.body.on_poll(|| panic!("the body panics"));
    b.body.wake();
    let payload = catch_unwind(AssertUnwindSafe(|| b.parent.poll(Pin::new(&mut s))))
        .expect_err("the body's panic unwinds through the scope's poll");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the body panics"));
    drop(s);
    b.assert_all_dropped_once(3);
}

#[test]
fn every_child_dropped_once_when_the_scope_is_dropped_before_its_first_poll() {
    let outputs = DropCount::new();
    let (children, handles) = probes::<Output, usize>(3);
    let body_value = DropCount::new();
    let held = body_value.tag(());
    let (s, outside) = with_spawner(move |spawner: Spawner<'static, Output, usize>| async move {
        let _held = held;
        spawner.push(pending()).unwrap();
        Ok(())
    });
    for child in children {
        outside.push(child).unwrap();
    }
    handles[0].succeed(outputs.tag(0));
    drop(s);
    assert_eq!(polls(&handles), [0, 0, 0]);
    assert_all_dropped_once(&handles);
    assert_eq!(body_value.get(), 1, "the body, never polled, was dropped");
    assert_eq!(outputs.get(), 0, "no output was produced");
}

// Completion.

#[test]
#[should_panic(expected = "polled after it completed")]
fn scope_polled_after_completion_panics() {
    let parent = Parent::new();
    let mut s = pin!(scope(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(ready(Ok(1))).unwrap();
        Ok(())
    }));
    assert!(!s.is_terminated());
    assert!(expect_ready(parent.poll(s.as_mut())).is_ok());
    assert!(s.is_terminated());
    let _ = parent.poll(s.as_mut());
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn scope_polled_after_failure_panics() {
    let parent = Parent::new();
    let mut s = pin!(scope(|spawner: Spawner<'_, u8, ()>| async move {
        spawner.push(ready(Err(()))).unwrap();
        Ok(())
    }));
    assert!(expect_ready(parent.poll(s.as_mut())).is_err());
    assert!(s.is_terminated());
    let _ = parent.poll(s.as_mut());
}

// Scale.

#[test]
fn scope_with_ten_thousand_children_completes_in_push_order() {
    let n = size(10_000, 150);
    let outputs = DropCount::new();
    let pushed: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::with_capacity(n));
    let out = block_on(scope(|spawner| {
        let (pushed, outputs) = (&pushed, &outputs);
        async move {
            // Half pushed by the body, in batches of 100; each of those pushes one more child.
            for label in 0..n / 2 {
                let inner = spawner.clone();
                let child = async move {
                    Yield(label % 3).await;
                    let grandchild = n / 2 + label;
                    let index = inner
                        .push(async move {
                            Yield(grandchild % 2).await;
                            Ok(outputs.tag(grandchild))
                        })
                        .unwrap();
                    pushed.lock().unwrap().push((index, grandchild));
                    Ok(outputs.tag(label))
                };
                let index = spawner.push(child).unwrap();
                pushed.lock().unwrap().push((index, label));
                if label % 100 == 99 {
                    Yield(1).await;
                }
            }
            Ok::<_, ()>(())
        }
    }))
    .unwrap();
    assert_eq!(out.children.len(), n);
    let mut pushed = pushed.into_inner().unwrap();
    pushed.sort_unstable();
    for (position, (index, label)) in pushed.iter().enumerate() {
        assert_eq!(*index, position);
        assert_eq!(out.children[*index].value, *label);
    }
    assert_eq!(outputs.get(), 0);
    drop(out);
    assert_eq!(outputs.get(), n);
}

// Send, and borrowing.

fn assert_send<T: Send>(_: &T) {}
fn assert_spawner_is_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn scope_is_send_when_its_body_is() {
    assert_spawner_is_send_sync_clone::<Spawner<'static, u8, String>>();
    let (child, handle) = probe::<u8, String>();
    let s = scope(|spawner| async move {
        spawner.push(child).unwrap();
        Yield(1).await;
        Ok::<_, String>("body")
    });
    assert_send(&s);

    // Polled here, finished on another thread.
    let parent = Parent::new();
    let mut s = Box::pin(s);
    assert!(parent.poll(s.as_mut()).is_pending());
    handle.succeed(1);
    handle.wake();
    let (done, on_done) = mpsc::channel();
    let runner = thread::spawn(move || done.send(block_on(s)).unwrap());
    let out = on_done.recv_timeout(PATIENCE).expect("the scope finished");
    assert_eq!(
        out.unwrap(),
        Scoped {
            body: "body",
            children: vec![1]
        }
    );
    runner.join().unwrap();
}

#[test]
fn children_may_borrow_locals_that_outlive_the_scope() {
    let names = vec!["a".to_string(), "b".to_string()];
    let total = AtomicUsize::new(0);
    let out = block_on(scope(|spawner| {
        let (names, total) = (&names, &total);
        async move {
            for name in names {
                spawner
                    .push(async move {
                        total.fetch_add(name.len(), SeqCst);
                        Ok::<_, ()>(name.as_str())
                    })
                    .unwrap();
            }
            Ok(())
        }
    }))
    .unwrap();
    assert_eq!(out.children, ["a", "b"]);
    assert_eq!(total.load(SeqCst), 2);
}
