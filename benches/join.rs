//! `taskgroup::{try_join, join}` on a `Vec` against `futures::future::{try_join_all, join_all}`.
//!
//! Every implementation joins the same hand-written child future ([`Child`]), so the children
//! cost the same everywhere and only the combinators differ. Workloads:
//!
//! * `ready`: every child is ready on its first poll.
//! * `yield`: every child wakes itself (`cx.waker().wake_by_ref()`) and returns `Pending` once,
//!   then is ready on its next poll.
//! * `yield-kept`: every child wakes itself and returns `Pending` [`YIELDS`] times, then is
//!   ready; child 0 also keeps a clone of its waker until it is done. That clone makes
//!   taskgroup's wake set, so from the second poll on the self-wakes go through it, as they do
//!   in a group where some children wait on timers or I/O while others yield.
//! * `fail` (fallible combinators only): the last child returns `Err` on its first poll; every
//!   other child stays pending without waking anyone. Measured: time until the combinator returns
//!   the error, with every sibling dropped.
//!
//! Each combinator is driven by a minimal loop ([`drive`]) that polls it with a no-op waker until
//! it is `Ready`, so no executor overhead is measured. The measured routine (`Bencher::iter`)
//! builds the input `Vec`, builds the combinator, drives it to completion and drops its output,
//! the same steps for every implementation.
//!
//! Before measuring, each cell is run once outside the timing to check its result and to print
//! how many polls of the combinator it took. A cell that does not complete within a generous
//! poll bound is reported and not measured (`fail` for `try_join_all` above 30 children: its
//! ordered stream holds a later child's error until every earlier child has finished, which in
//! this workload is never; futures-rs #2866).
//!
//! Bench ids: `WORKLOAD/IMPLEMENTATION/N`, e.g. `ready/taskgroup_try_join/1024`, with
//! `Throughput::Elements(N)` so criterion also prints children per second.

use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use futures::future::{join_all, try_join_all};

/// Group sizes: the first is on `join_all`'s small path (at most 30), the others on its big
/// (`FuturesOrdered`) path.
const SIZES: [usize; 3] = [8, 1024, 16384];

/// What a child does when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    /// `Ready(Ok(value))` on the first poll.
    Ready,
    /// Wakes itself and returns `Pending` on the first poll, `Ready(Ok(value))` on the next.
    YieldOnce,
    /// `Ready(Err(value))` on the first poll.
    Fail,
    /// Wakes itself and returns `Pending` on its first [`YIELDS`] polls, then `Ready(Ok(value))`;
    /// with `keep`, also holds a clone of its waker from its first poll until it is ready.
    YieldKeeping { keep: bool },
    /// `Pending` on every poll, without waking anyone.
    Pending,
}

/// How many times a child of `yield-kept` yields.
const YIELDS: u8 = 4;

/// How a child's output is made: `Result<u64, u64>` for the fallible combinators, plain `u64`
/// for the infallible ones.
trait Outcome {
    fn ok(value: u64) -> Self;
    fn err(value: u64) -> Self;
}

impl Outcome for Result<u64, u64> {
    #[inline]
    fn ok(value: u64) -> Self {
        Ok(value)
    }
    #[inline]
    fn err(value: u64) -> Self {
        Err(value)
    }
}

impl Outcome for u64 {
    #[inline]
    fn ok(value: u64) -> Self {
        value
    }
    fn err(_: u64) -> Self {
        unreachable!("infallible children are never told to fail")
    }
}

/// The one child future every implementation joins.
struct Child<O> {
    behavior: Behavior,
    yielded: bool,
    /// Yields so far (`yield-kept`).
    yields: u8,
    /// The waker clone a keeping child holds (`yield-kept`).
    kept: Option<Waker>,
    value: u64,
    output: PhantomData<fn() -> O>,
}

impl<O> Child<O> {
    fn new(behavior: Behavior, value: u64) -> Self {
        Child {
            behavior,
            yielded: false,
            yields: 0,
            kept: None,
            value,
            output: PhantomData,
        }
    }
}

impl<O: Outcome> Future for Child<O> {
    type Output = O;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        // `Child` is `Unpin`: no field is structurally pinned.
        let this = self.get_mut();
        match this.behavior {
            Behavior::Ready => Poll::Ready(O::ok(this.value)),
            Behavior::YieldOnce if this.yielded => Poll::Ready(O::ok(this.value)),
            Behavior::YieldOnce => {
                this.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Behavior::YieldKeeping { .. } if this.yields == YIELDS => {
                this.kept = None;
                Poll::Ready(O::ok(this.value))
            }
            Behavior::YieldKeeping { keep } => {
                if keep && this.kept.is_none() {
                    this.kept = Some(cx.waker().clone());
                }
                this.yields += 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Behavior::Fail => Poll::Ready(O::err(this.value)),
            Behavior::Pending => Poll::Pending,
        }
    }
}

/// The workloads, each a way to build the children of a group of `n`.
#[derive(Debug, Clone, Copy)]
enum Workload {
    Ready,
    Yield,
    YieldKept,
    Fail,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Ready => "ready",
            Workload::Yield => "yield",
            Workload::YieldKept => "yield-kept",
            Workload::Fail => "fail",
        }
    }
}

/// Builds the input `Vec` of `n` children for `workload`. Part of every measured routine.
#[inline]
fn children<O>(workload: Workload, n: usize) -> Vec<Child<O>> {
    (0..n)
        .map(|i| {
            let behavior = match workload {
                Workload::Ready => Behavior::Ready,
                Workload::Yield => Behavior::YieldOnce,
                Workload::YieldKept => Behavior::YieldKeeping { keep: i == 0 },
                Workload::Fail if i + 1 == n => Behavior::Fail,
                Workload::Fail => Behavior::Pending,
            };
            Child::new(behavior, i as u64)
        })
        .collect()
}

/// Bound on polls of a combinator before [`drive`] gives up; far above what any cell needs.
fn max_polls(n: usize) -> usize {
    4 * n + 64
}

/// Polls `future` with a no-op waker until it is `Ready`, at most `max_polls` times. Returns the
/// output and the number of polls, or `None` if it was still pending.
#[inline]
fn drive<F: Future>(future: F, max_polls: usize) -> Option<(F::Output, usize)> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for polls in 1..=max_polls {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some((output, polls));
        }
    }
    None
}

/// What a join produced, reduced to something every implementation can be checked against.
#[derive(Debug, PartialEq, Eq)]
enum Summary {
    /// Every output, summed (outputs are the child indices).
    Sum(u64),
    /// The index of the child whose error was returned.
    Failed(u64),
}

/// One implementation: builds the input, joins it and drives the join to completion. `run` is
/// the measured routine; its output is dropped inside the timing.
trait Implementation {
    const NAME: &'static str;
    type Output;
    /// The output and the number of polls, or `None` if still pending after [`max_polls`].
    fn run(workload: Workload, n: usize) -> Option<(Self::Output, usize)>;
    /// Reduces the output for the check (not measured).
    fn summary(output: &Self::Output, n: usize) -> Summary;
}

struct TaskgroupTryJoin;
impl Implementation for TaskgroupTryJoin {
    const NAME: &'static str = "taskgroup_try_join";
    type Output = Result<Vec<u64>, taskgroup::ErrorGroup<u64>>;

    #[inline]
    fn run(workload: Workload, n: usize) -> Option<(Self::Output, usize)> {
        let input = children::<Result<u64, u64>>(workload, black_box(n));
        drive(taskgroup::try_join(input), max_polls(n))
    }

    fn summary(output: &Self::Output, n: usize) -> Summary {
        match output {
            Ok(values) => Summary::Sum(values.iter().sum()),
            Err(errors) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors.cancelled(), n - 1, "every sibling dropped");
                Summary::Failed(*errors.first().1)
            }
        }
    }
}

struct FuturesTryJoinAll;
impl Implementation for FuturesTryJoinAll {
    const NAME: &'static str = "futures_try_join_all";
    type Output = Result<Vec<u64>, u64>;

    #[inline]
    fn run(workload: Workload, n: usize) -> Option<(Self::Output, usize)> {
        let input = children::<Result<u64, u64>>(workload, black_box(n));
        drive(try_join_all(input), max_polls(n))
    }

    fn summary(output: &Self::Output, _: usize) -> Summary {
        match output {
            Ok(values) => Summary::Sum(values.iter().sum()),
            Err(error) => Summary::Failed(*error),
        }
    }
}

struct TaskgroupJoin;
impl Implementation for TaskgroupJoin {
    const NAME: &'static str = "taskgroup_join";
    type Output = Vec<u64>;

    #[inline]
    fn run(workload: Workload, n: usize) -> Option<(Self::Output, usize)> {
        let input = children::<u64>(workload, black_box(n));
        drive(taskgroup::join(input), max_polls(n))
    }

    fn summary(output: &Self::Output, _: usize) -> Summary {
        Summary::Sum(output.iter().sum())
    }
}

struct FuturesJoinAll;
impl Implementation for FuturesJoinAll {
    const NAME: &'static str = "futures_join_all";
    type Output = Vec<u64>;

    #[inline]
    fn run(workload: Workload, n: usize) -> Option<(Self::Output, usize)> {
        let input = children::<u64>(workload, black_box(n));
        drive(join_all(input), max_polls(n))
    }

    fn summary(output: &Self::Output, _: usize) -> Summary {
        Summary::Sum(output.iter().sum())
    }
}

fn expected(workload: Workload, n: usize) -> Summary {
    match workload {
        Workload::Ready | Workload::Yield | Workload::YieldKept => {
            Summary::Sum((0..n as u64).sum())
        }
        Workload::Fail => Summary::Failed(n as u64 - 1),
    }
}

/// Checks one cell outside the timing, then measures it (unless it never completed).
fn bench_one<I: Implementation>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    workload: Workload,
    n: usize,
) {
    let id = format!("{}/{}/{n}", workload.name(), I::NAME);
    match I::run(workload, n) {
        Some((output, polls)) => {
            assert_eq!(I::summary(&output, n), expected(workload, n), "{id}");
            eprintln!("check {id}: ok, completed in {polls} poll(s)");
        }
        None => {
            eprintln!(
                "check {id}: NOT MEASURED: still pending after {} polls",
                max_polls(n)
            );
            return;
        }
    }
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new(I::NAME, n), |b| {
        b.iter(|| I::run(workload, n).expect("completed in the check"))
    });
}

/// One criterion group for `workload`: every implementation, at every size.
fn bench_all(c: &mut Criterion, workload: Workload) {
    let mut group = c.benchmark_group(workload.name());
    for n in SIZES {
        bench_one::<TaskgroupTryJoin>(&mut group, workload, n);
        bench_one::<FuturesTryJoinAll>(&mut group, workload, n);
        bench_one::<TaskgroupJoin>(&mut group, workload, n);
        bench_one::<FuturesJoinAll>(&mut group, workload, n);
    }
    group.finish();
}

fn ready(c: &mut Criterion) {
    bench_all(c, Workload::Ready);
}

fn yield_once(c: &mut Criterion) {
    bench_all(c, Workload::Yield);
}

fn yield_kept(c: &mut Criterion) {
    bench_all(c, Workload::YieldKept);
}

fn fail(c: &mut Criterion) {
    let mut group = c.benchmark_group(Workload::Fail.name());
    for n in SIZES {
        bench_one::<TaskgroupTryJoin>(&mut group, Workload::Fail, n);
        bench_one::<FuturesTryJoinAll>(&mut group, Workload::Fail, n);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // About 3 s per bench (40 benches): the whole run stays near 2.5 minutes on 2 cores.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(20_000);
    targets = ready, yield_once, yield_kept, fail
}
criterion_main!(benches);
