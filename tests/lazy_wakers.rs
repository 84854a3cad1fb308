//! Promises that hold before a group has made its shared wake state. A group lends its children
//! *lazy* wakers until one of them needs a lasting waker: cloning one makes the shared state; in
//! a small group (at most one bitset word of children) a child that only wakes itself through
//! `cx.waker().wake_by_ref()` is remembered without it, and so is every child of a wider group
//! as long as every child still running wakes itself. These tests use children that never
//! clone their waker unless told to, so they exercise exactly that path; `tests/contract.rs`
//! covers the children that keep a waker.
#![cfg(feature = "alloc")]

mod support;

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::FutureExt;
use taskgroup::{try_join, ErrorGroup};

use support::{expect_ready, Parent};

/// What a [`Yielder`] does on each poll.
#[derive(Clone, Default)]
struct Script {
    /// Polls so far.
    polls: Rc<Cell<usize>>,
    /// How many times it wakes itself (by reference) and returns `Pending` before it is ready.
    yields: usize,
    /// On this poll (1-based), clone the waker and keep it: the path that makes the wake state.
    keep_waker_on: Option<usize>,
    /// On this poll (1-based), panic.
    panic_on: Option<usize>,
    /// On this poll (1-based), wake itself by reference, then panic.
    wake_then_panic_on: Option<usize>,
    /// Wake itself from a scoped thread, joined before the poll returns, not from the polling
    /// thread.
    wakes_from_a_thread: bool,
    /// Fail instead of succeeding.
    fails: bool,
    /// Never finish, and never wake.
    stalls: bool,
}

/// A child that wakes itself `yields` times by reference, never cloning its waker unless its
/// script says so, then returns its index (or fails with it).
struct Yielder {
    index: usize,
    script: Script,
    kept: Option<Waker>,
}

impl Future for Yielder {
    type Output = Result<usize, usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polls = self.script.polls.get() + 1;
        self.script.polls.set(polls);
        if self.script.panic_on == Some(polls) {
            panic!("child {} panics on poll {polls}", self.index);
        }
        if self.script.wake_then_panic_on == Some(polls) {
            cx.waker().wake_by_ref();
            panic!(
                "child {} wakes itself, then panics on poll {polls}",
                self.index
            );
        }
        if self.script.keep_waker_on == Some(polls) {
            self.kept = Some(cx.waker().clone());
        }
        if self.script.stalls {
            return Poll::Pending;
        }
        if polls <= self.script.yields {
            if self.script.wakes_from_a_thread {
                let waker = cx.waker();
                std::thread::scope(|scope| {
                    scope.spawn(|| waker.wake_by_ref());
                });
            } else {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        if self.script.fails {
            Poll::Ready(Err(self.index))
        } else {
            Poll::Ready(Ok(self.index))
        }
    }
}

fn yielders<const N: usize>(script: impl Fn(usize) -> Script) -> ([Yielder; N], [Script; N]) {
    let scripts: [Script; N] = std::array::from_fn(script);
    let children = std::array::from_fn(|index| Yielder {
        index,
        script: scripts[index].clone(),
        kept: None,
    });
    (children, scripts)
}

fn polls<const N: usize>(scripts: &[Script; N]) -> [usize; N] {
    std::array::from_fn(|i| scripts[i].polls.get())
}

/// The input shapes a small group is tested in: their sweeps differ (a tuple visits its fields
/// one by one, an array indexes its slots), the promises do not.
#[derive(Clone, Copy, Debug)]
enum Form {
    Array,
    Tuple,
}

type Joined<const N: usize> = Pin<Box<dyn Future<Output = Result<[usize; N], ErrorGroup<usize>>>>>;

/// A `try_join` group of `children` in `form`, its output as an array either way.
fn make_group<const N: usize>(form: Form, children: [Yielder; N]) -> Joined<N> {
    let mut children = children.into_iter();
    let mut next = move || children.next().expect("N children");
    macro_rules! tuple {
        ($($c:ident)*) => {{
            $(let $c = next();)*
            // `map`, not an `async` block: these tests poll the group again after a child's
            // panic, which an `async` block refuses.
            Box::pin(try_join(($($c,)*)).map(|joined| {
                let ($($c,)*) = joined?;
                Ok(<[usize; N]>::try_from(&[$($c),*][..]).expect("N outputs"))
            }))
        }};
    }
    match (form, N) {
        (Form::Array, _) => Box::pin(try_join(std::array::from_fn::<_, N, _>(|_| next()))),
        (Form::Tuple, 3) => tuple!(a b c),
        (Form::Tuple, 4) => tuple!(a b c d),
        (Form::Tuple, 5) => tuple!(a b c d e),
        (Form::Tuple, 6) => tuple!(a b c d e f),
        (Form::Tuple, 8) => tuple!(a b c d e f g h),
        (Form::Tuple, _) => unreachable!("no tuple of {N} in these tests"),
    }
}

/// Runs `test` on both forms of a small group.
fn in_both_forms(test: impl Fn(Form)) {
    test(Form::Array);
    test(Form::Tuple);
}

#[test]
fn self_waking_children_of_a_small_group_are_polled_once_per_group_poll() {
    in_both_forms(|form| {
        let parent = Parent::new();
        let (children, scripts) = yielders::<8>(|i| Script {
            yields: i % 3,
            ..Script::default()
        });
        let mut group = make_group(form, children);

        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [1; 8]);
        assert_eq!(
            parent.wakes(),
            1,
            "one wake of the group's waker for the whole sweep"
        );

        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(
            polls(&scripts),
            [1, 2, 2, 1, 2, 2, 1, 2],
            "only the children that woke themselves were polled again"
        );
        assert_eq!(parent.wakes(), 2);

        assert_eq!(
            expect_ready(parent.poll(group.as_mut())),
            Ok(std::array::from_fn(|i| i))
        );
        assert_eq!(polls(&scripts), [1, 2, 3, 1, 2, 3, 1, 2]);
    });
}

#[test]
fn a_poll_with_no_lazy_wake_polls_nobody() {
    in_both_forms(|form| {
        let parent = Parent::new();
        let (children, scripts) = yielders::<4>(|_| Script {
            yields: 1,
            ..Script::default()
        });
        let mut group = make_group(form, children);
        assert!(parent.poll(group.as_mut()).is_pending());
        assert!(parent.poll(group.as_mut()).is_ready());
        assert_eq!(polls(&scripts), [2; 4]);

        // Children that never wake: a spurious poll of the group polls nobody.
        let (children, scripts) = yielders::<4>(|_| Script {
            stalls: true,
            ..Script::default()
        });
        let mut group = make_group(form, children);
        assert!(parent.poll(group.as_mut()).is_pending());
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [1; 4]);
    });
}

#[test]
fn a_child_that_stays_pending_without_waking_is_not_polled_again_in_a_small_group() {
    in_both_forms(|form| {
        let parent = Parent::new();
        // Child 2 never wakes; the others wake themselves twice.
        let (children, scripts) = yielders::<5>(|i| Script {
            yields: 2,
            stalls: i == 2,
            ..Script::default()
        });
        let mut group = make_group(form, children);
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [1; 5]);
        for poll in 2..=3 {
            assert!(parent.poll(group.as_mut()).is_pending());
            assert_eq!(
                polls(&scripts),
                [poll, poll, 1, poll, poll],
                "{form:?}: poll {poll} polled the children that woke, and only them"
            );
        }
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [3, 3, 1, 3, 3], "nobody woke");
    });
}

#[test]
fn a_child_keeping_its_waker_mid_way_keeps_the_lazy_wakes_of_its_siblings() {
    in_both_forms(|form| {
        let parent = Parent::new();
        // Children 0 and 2 only wake themselves; child 1 keeps a clone of its waker on its second
        // poll, which makes the shared wake state in the middle of the second sweep.
        let (children, scripts) = yielders::<3>(|i| Script {
            yields: 2,
            keep_waker_on: (i == 1).then_some(2),
            ..Script::default()
        });
        let mut group = make_group(form, children);
        assert!(parent.poll(group.as_mut()).is_pending());
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [2; 3]);
        assert_eq!(
            expect_ready(parent.poll(group.as_mut())),
            Ok([0, 1, 2]),
            "every child's wake of the second sweep was served by the third"
        );
        assert_eq!(polls(&scripts), [3; 3]);
    });
}

#[test]
fn self_waking_children_of_a_wide_group_are_polled_again_next_poll() {
    // Wider than a bitset word: lazy wakes go to the shared wake state.
    odd_children_wake_themselves_once::<70>(Form::Array, false);
}

#[test]
fn a_lazily_woken_child_fails_the_group_and_siblings_are_dropped() {
    in_both_forms(|form| {
        let parent = Parent::new();
        let (children, scripts) = yielders::<4>(|i| Script {
            yields: if i == 2 { 1 } else { 5 },
            fails: i == 2,
            ..Script::default()
        });
        let mut group = make_group(form, children);
        assert!(parent.poll(group.as_mut()).is_pending());
        let errors = expect_ready(parent.poll(group.as_mut())).unwrap_err();
        assert_eq!((errors.first(), errors.cancelled()), ((2, &2), 3));
        assert_eq!(polls(&scripts), [2; 4]);
    });
}

/// Polls `group` twice: the first poll is pending, the second unwinds with a child's panic.
fn pending_then_unwinding<F: Future + ?Sized>(parent: &Parent, mut group: Pin<&mut F>) {
    assert!(parent.poll(group.as_mut()).is_pending());
    let unwound = catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut())));
    assert!(
        unwound.is_err(),
        "the child's panic unwinds through the group's poll"
    );
}

#[test]
fn children_due_after_a_panicking_sibling_are_polled_next_time() {
    in_both_forms(|form| {
        let parent = Parent::new();
        let (children, scripts) = yielders::<4>(|i| Script {
            yields: 1,
            panic_on: (i == 1).then_some(2),
            ..Script::default()
        });
        let mut group = make_group(form, children);
        pending_then_unwinding(&parent, group.as_mut());
        assert_eq!(
            polls(&scripts),
            [2, 2, 1, 1],
            "children 2 and 3 were not reached"
        );

        // Children 2 and 3 were due: the next poll polls them (child 1 is not polled again: its
        // wake was consumed by the poll that panicked).
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(polls(&scripts), [2, 2, 2, 2]);
    });
}

/// A group of `N` whose odd children wake themselves once, from the polling thread or from a
/// scoped thread joined before their poll returns: one wake of the group's waker for the first
/// sweep, and the second poll polls exactly the odd children.
fn odd_children_wake_themselves_once<const N: usize>(form: Form, from_a_thread: bool) {
    let parent = Parent::new();
    let (children, scripts) = yielders::<N>(|i| Script {
        yields: i % 2,
        wakes_from_a_thread: from_a_thread,
        ..Script::default()
    });
    let mut group = make_group(form, children);
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(polls(&scripts), [1; N]);
    assert_eq!(
        parent.wakes(),
        1,
        "one wake of the group's waker for the whole sweep"
    );
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok(std::array::from_fn(|i| i))
    );
    assert_eq!(
        polls(&scripts),
        std::array::from_fn(|i| 1 + i % 2),
        "only the children that woke themselves were polled again"
    );
}

#[test]
fn a_lazy_wake_from_a_scoped_thread_is_kept_in_a_small_group() {
    in_both_forms(|form| odd_children_wake_themselves_once::<6>(form, true));
}

#[test]
fn a_lazy_wake_from_a_scoped_thread_is_kept_in_a_wide_group() {
    odd_children_wake_themselves_once::<70>(Form::Array, true);
}

/// The widest small group: a child of its own flag each, packed a word at a time when a sweep
/// ends, up to the last bit.
const WORD: usize = usize::BITS as usize;

#[test]
fn lazy_wakes_are_kept_in_a_group_of_a_word() {
    odd_children_wake_themselves_once::<WORD>(Form::Array, false);
    odd_children_wake_themselves_once::<WORD>(Form::Array, true);
}

/// In a group of `N`: children 0 and 1 wake themselves in the first poll; in the second, child
/// 0 wakes itself again and child 1 wakes itself and then panics. The third poll polls both:
/// the wake child 1 made just before its panic is kept.
fn wake_then_panic<const N: usize>(form: Form) {
    let parent = Parent::new();
    let (children, scripts) = yielders::<N>(|i| Script {
        yields: [2, 1].get(i).copied().unwrap_or(0),
        wake_then_panic_on: (i == 1).then_some(2),
        ..Script::default()
    });
    let mut group = make_group(form, children);
    pending_then_unwinding(&parent, group.as_mut());
    let mut expected = [1; N];
    expected[0] = 2;
    expected[1] = 2;
    assert_eq!(polls(&scripts), expected);

    let third = parent.poll(group.as_mut());
    expected[0] = 3;
    expected[1] = 3;
    assert_eq!(
        polls(&scripts),
        expected,
        "children 0 and 1, and only they, were polled"
    );
    assert_eq!(expect_ready(third), Ok(std::array::from_fn(|i| i)));
}

#[test]
fn a_child_that_wakes_itself_and_panics_is_polled_again_in_a_small_group() {
    in_both_forms(wake_then_panic::<5>);
}

#[test]
fn a_child_that_wakes_itself_and_panics_is_polled_again_in_a_wide_group() {
    wake_then_panic::<70>(Form::Array);
}

#[test]
fn a_child_that_wakes_itself_and_panics_is_polled_again_in_a_group_of_a_word() {
    wake_then_panic::<WORD>(Form::Array);
}

/// A wide group in which every child still running wakes itself is polled slot by slot, without
/// the shared wake state: each poll still polls exactly the children that woke themselves.
#[test]
fn self_waking_children_of_a_wide_group_are_polled_exactly_when_woken() {
    let parent = Parent::new();
    let (children, scripts) = yielders::<200>(|i| Script {
        yields: i % 3,
        ..Script::default()
    });
    let mut group = pin!(try_join(children));
    for poll in 1..=2 {
        assert!(parent.poll(group.as_mut()).is_pending());
        assert_eq!(
            polls(&scripts),
            std::array::from_fn(|i| 1 + (i % 3).min(poll - 1)),
            "poll {poll}"
        );
        assert_eq!(
            parent.wakes(),
            poll,
            "one wake of the group's waker per sweep"
        );
    }
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok(std::array::from_fn(|i| i))
    );
    assert_eq!(polls(&scripts), std::array::from_fn(|i| 1 + i % 3));
}

/// In a wide group of `N` children that wake themselves once, child `odd` (a child in the middle
/// of a bitset word, so that the word is split) does what `script` says on its first poll
/// instead. Returns the poll counts after two polls of the group and, if it is still pending, a
/// third, spurious one.
fn one_child_of_a_wide_group_differs<const N: usize>(odd: usize, script: Script) -> [usize; N] {
    let parent = Parent::new();
    let (children, scripts) = yielders::<N>(|i| {
        if i == odd {
            script.clone()
        } else {
            Script {
                yields: 1,
                ..Script::default()
            }
        }
    });
    let mut group = pin!(try_join(children));
    assert!(parent.poll(group.as_mut()).is_pending());
    assert_eq!(polls(&scripts), [1; N]);
    if parent.poll(group.as_mut()).is_pending() {
        assert!(parent.poll(group.as_mut()).is_pending());
    }
    polls(&scripts)
}

#[test]
fn a_child_that_stays_pending_without_waking_is_not_polled_again_in_a_wide_group() {
    let stalls = Script {
        stalls: true,
        ..Script::default()
    };
    let mut expected = [2; 150];
    expected[100] = 1;
    assert_eq!(
        one_child_of_a_wide_group_differs::<150>(100, stalls),
        expected,
        "every child but the one that never woke was polled again, once"
    );
}

#[test]
fn a_child_keeping_its_waker_in_a_wide_group_keeps_the_self_wakes_before_it() {
    // Child 100 keeps its waker (which makes the shared wake state) and also wakes itself.
    let keeps = Script {
        yields: 1,
        keep_waker_on: Some(1),
        ..Script::default()
    };
    assert_eq!(
        one_child_of_a_wide_group_differs::<150>(100, keeps),
        [2; 150],
        "every child was polled again, once"
    );
}

/// A wide group whose children all wake themselves twice, so that its second poll visits every
/// slot; child 100 panics in it, after waking itself if `wakes_first`. The next poll polls the
/// children before it (they woke themselves), the ones after it (never reached), and child 100
/// only if it woke itself.
fn a_panic_in_a_sweep_of_every_slot(wakes_first: bool) {
    let parent = Parent::new();
    let (children, scripts) = yielders::<150>(|i| Script {
        yields: 2,
        panic_on: (i == 100 && !wakes_first).then_some(2),
        wake_then_panic_on: (i == 100 && wakes_first).then_some(2),
        ..Script::default()
    });
    let mut group = pin!(try_join(children));
    pending_then_unwinding(&parent, group.as_mut());
    let mut expected = [1; 150];
    expected[..=100].fill(2);
    assert_eq!(
        polls(&scripts),
        expected,
        "children from 101 on were not reached"
    );

    assert!(parent.poll(group.as_mut()).is_pending());
    expected[..100].fill(3);
    expected[101..].fill(2);
    if wakes_first {
        expected[100] = 3;
    }
    assert_eq!(polls(&scripts), expected);
}

#[test]
fn children_due_after_a_panicking_sibling_of_a_wide_group_are_polled_next_time() {
    a_panic_in_a_sweep_of_every_slot(false);
}

#[test]
fn a_child_of_a_wide_group_that_wakes_itself_and_panics_is_polled_again() {
    a_panic_in_a_sweep_of_every_slot(true);
}

#[test]
fn a_first_sweep_of_a_wide_group_cut_short_by_a_panic_is_made_again() {
    let parent = Parent::new();
    let (children, scripts) = yielders::<150>(|i| Script {
        yields: 1,
        panic_on: (i == 100).then_some(1),
        ..Script::default()
    });
    let mut group = pin!(try_join(children));
    let unwound = catch_unwind(AssertUnwindSafe(|| parent.poll(group.as_mut())));
    assert!(
        unwound.is_err(),
        "child 100's panic unwinds through the first poll"
    );
    let mut expected = [0; 150];
    expected[..=100].fill(1);
    assert_eq!(polls(&scripts), expected);

    // The second poll makes the first sweep again: every child is polled.
    assert!(parent.poll(group.as_mut()).is_pending());
    expected[..=100].fill(2);
    expected[101..].fill(1);
    assert_eq!(polls(&scripts), expected);

    // Only the children that woke themselves in it are polled by the third.
    assert_eq!(
        expect_ready(parent.poll(group.as_mut())),
        Ok(std::array::from_fn(|i| i))
    );
    assert_eq!(polls(&scripts), [2; 150]);
}
