//! The benchmark suite of issue 3: `taskgroup` side by side with every peer, on one child type,
//! at every size and wake pattern, with a floor, allocation counts and sizes.
//!
//! # What is compared
//!
//! Every implementation joins the same hand-written child future ([`Child`]), generic over its
//! output (`Result<u64, u64>` for fail-fast combinators, `u64` for infallible ones), so the
//! children cost the same everywhere and only the combinators differ.
//!
//! | shape | implementations |
//! |---|---|
//! | `Vec` (every size) | `taskgroup::{try_join, join}`, `futures::future::{try_join_all, join_all}`, `FuturesUnordered` placed back in input order, futures-concurrency `TryJoin`, futures-buffered `try_join_all`, floor and references |
//! | array (8, 64, 1024) | `taskgroup::{try_join, join}`, futures-concurrency `TryJoin`, embassy-futures `join_array`, floor and references |
//! | 8-tuple | `taskgroup::{try_join, join}`, `tokio::try_join!`, floor and references |
//!
//! Infallible implementations (`join`, `join_all`, `join_array`) sit out the two failing
//! workloads. The **floor** is not a peer: a loop that knows the workload and polls each child
//! only when it can make progress, with no bookkeeping (see [`floor`]). It tells how far every
//! implementation is from the limit.
//!
//! In chain there is a second reference, the **floor with wakers** ([`wake_floor`]): the cheapest
//! join we could write that gives every child a counted waker of its own (usable from any
//! thread, keeping the wake state alive with a reference count) and polls only the woken
//! children; after its first sweep it finds the woken child by the chain's order, as the floor
//! does. It costs what such wakers cost at least, with no other bookkeeping, and so tells where
//! a target asks for less than any design like `taskgroup`'s can do. Cross-thread over a `Vec`
//! has one too, at every size ([`cross_wake_floor`]): the cross-thread floor with a counted
//! waker per child, which adds to that floor only the clone, wake and drop such wakers cannot
//! skip (it still knows the workload: it waits for the last wake only), and its prompt form,
//! which wakes its parent as a join does.
//!
//! In fail from 8 children there is a third, the **floor polling every child**
//! ([`floor::Kind::PollAll`]): the floor, but first polling each of the n − 1 pending children
//! once. Nothing tells a combinator which child will fail, so it polls each of them at least
//! once before it knows; this floor costs those polls and nothing else.
//!
//! # Workloads ([`Workload`])
//!
//! * `ready`: every child is ready on its first poll.
//! * `yield`: every child wakes itself and returns `Pending` once, then is ready.
//! * `chain`: children wake each other along a fixed pseudo-random permutation; only the head
//!   starts ready, and a child that completes wakes the next one ([`Chain`]). At any moment
//!   exactly one child can make progress, so a per-wake cost that grows with the group shows.
//! * `fail`: the last child fails on its first poll; every other child stays pending without
//!   waking anyone. Measured: time until the error is returned and every sibling dropped.
//! * `many-errors`: every child fails on its first poll.
//! * `cross-thread`: on its first poll a child hands its waker to a helper OS thread and
//!   returns `Pending`; once every child of the group has done so, the helper sets each child's
//!   flag and wakes it, in index order, while the bench thread runs the group ([`Cross`]).
//!
//! Sizes: 1, 8, 64, 1024, 16384, 131072 (chain up to 16384).
//!
//! # How it is driven
//!
//! Every implementation is driven by the same minimal loop: polled with a no-op waker until
//! `Ready` ([`poll_loop`]); no executor. Cross-thread needs a waker that really parks and
//! unparks the thread: there every implementation is driven by the same small parking loop
//! ([`park_loop`], what `futures::executor::block_on` does, plus a deadline).
//!
//! The measured routine builds the input, builds the combinator, drives it to completion and
//! drops its output, the same steps for every implementation.
//!
//! Before it is measured, each cell is run twice outside the timing:
//!
//! 1. a **check**: its result is verified (outputs in input order, or the expected error), and a
//!    cell that is still pending after a bounded number of polls (or 10 s of cross-thread
//!    waiting) is reported as `never-returns` and not measured: `try_join_all` with a later error
//!    above 30 children, futures-rs #2866;
//! 2. a **count**: a counting global allocator counts the allocations and bytes made while the
//!    input is built and then while it is joined, and the group's `size_of` is taken.
//!
//! # Output
//!
//! Criterion's usual `target/criterion/<workload>/<implementation>-<shape>/<n>/`, and one line
//! per cell in `target/bench-suite/cells.csv` (status, polls, allocations, bytes, `size_of`),
//! merged with the lines of earlier runs so that a filtered run updates only its own cells.
//! `benches/report.py` joins the two into `benches/results.csv`, the table of `BENCHMARKS.md`
//! and `benches/chart.svg`.
//!
//! # Running
//!
//! * Full (about 20 minutes on 2 cores): `cargo bench --bench suite`
//! * Quick (under 2 minutes): `TASKGROUP_BENCH_QUICK=1 cargo bench --bench suite`
//!   (`-- --quick` works too)
//! * One slice: `cargo bench --bench suite -- chain/` (a criterion filter; the checks and counts
//!   run only for the cells whose id `workload/implementation-shape/n` contains it)
//! * Checks only (no timing, no file written; what CI runs under Miri for the floors with
//!   wakers): `TASKGROUP_BENCH_CHECK=1 cargo bench --bench suite -- <filter>`, or under Miri
//!   `TASKGROUP_BENCH_CHECK=1 MIRIFLAGS=-Zmiri-env-forward=TASKGROUP_BENCH_CHECK cargo +nightly
//!   miri test --bench suite -- chain/floor_wakers-array` (and, in cross-thread,
//!   `-- cross-thread/floor_wakers-vec/1024` and `-- cross-thread/floor_wakers_prompt-vec/1024`)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::stream::{FuturesUnordered, StreamExt};
use futures_concurrency::future::TryJoin as _;

// ------------------------------------------------------------------------------------------------
// Counting allocator

/// Forwards to `System` and, while [`COUNTING`] is on, counts allocations and bytes on every
/// thread. Off during the timed runs (one relaxed load per allocation, the same for everyone).
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn note_allocation(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations and bytes counted so far.
fn counted() -> (usize, usize) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

// ------------------------------------------------------------------------------------------------
// The child

/// How a child's output is made: `Result<u64, u64>` for fail-fast combinators, `u64` for the
/// infallible ones. The value is always the child's index, so outputs can be checked for order.
trait Outcome {
    fn ok(index: usize) -> Self;
    fn err(index: usize) -> Self;
}

/// The output of fallible children.
type Fallible = Result<u64, u64>;

impl Outcome for Fallible {
    #[inline]
    fn ok(index: usize) -> Self {
        Ok(index as u64)
    }
    #[inline]
    fn err(index: usize) -> Self {
        Err(index as u64)
    }
}

impl Outcome for u64 {
    #[inline]
    fn ok(index: usize) -> Self {
        index as u64
    }
    fn err(_: usize) -> Self {
        unreachable!("infallible children are never told to fail")
    }
}

/// What a child does when polled.
#[derive(Clone, Copy)]
enum Kind<'a> {
    /// `Ready(ok)` on the first poll.
    Ready,
    /// Wakes itself and returns `Pending` on the first poll, `Ready(ok)` on the next.
    Yield,
    /// `Ready(err)` on the first poll.
    Fail,
    /// `Pending` on every poll, waking no one.
    Pending,
    /// A link of the chain: see [`Chain`].
    Chain(&'a Chain),
    /// Woken from the helper thread: see [`Cross`].
    Cross(&'a Cross),
}

/// The one child future every implementation joins. `Unpin`, no drop glue, 24 bytes.
struct Child<'a, O> {
    kind: Kind<'a>,
    index: u32,
    /// Has returned `Pending` before (yield and cross-thread children).
    pended: bool,
    output: PhantomData<fn() -> O>,
}

impl<O: Outcome> Future for Child<'_, O> {
    type Output = O;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let this = self.get_mut();
        let index = this.index as usize;
        match this.kind {
            Kind::Ready => Poll::Ready(O::ok(index)),
            Kind::Yield if this.pended => Poll::Ready(O::ok(index)),
            Kind::Yield => {
                this.pended = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Kind::Fail => Poll::Ready(O::err(index)),
            Kind::Pending => Poll::Pending,
            Kind::Chain(chain) => chain.poll(index, cx).map(|()| O::ok(index)),
            Kind::Cross(cross) if this.pended => cross.poll(index).map(|()| O::ok(index)),
            Kind::Cross(cross) => {
                this.pended = true;
                cross.register(index, cx.waker());
                Poll::Pending
            }
        }
    }
}

/// The chain workload's shared state. Child `k` may complete once `go[k]` is set; completing, it
/// sets `go[next[k]]` and wakes the waker the next child left. The chain is a cycle: the last
/// child sets the head's flag again, so a completed run leaves the state as it found it (no
/// reset inside the timing; [`Env::reset`] restores it after an unfinished check run).
struct Chain {
    head: usize,
    next: Box<[u32]>,
    go: Box<[Cell<bool>]>,
    wakers: Box<[Cell<Option<Waker>>]>,
}

impl Chain {
    fn new(n: usize) -> Self {
        // A fixed pseudo-random permutation (xorshift64 Fisher-Yates), the same on every run.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ n as u64;
        for i in (1..n).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut next = vec![0; n];
        for k in 0..n {
            next[order[k] as usize] = order[(k + 1) % n];
        }
        let chain = Chain {
            head: order[0] as usize,
            next: next.into(),
            go: (0..n).map(|_| Cell::new(false)).collect(),
            wakers: (0..n).map(|_| Cell::new(None)).collect(),
        };
        chain.reset();
        chain
    }

    fn reset(&self) {
        for (k, (go, waker)) in self.go.iter().zip(self.wakers.iter()).enumerate() {
            go.set(k == self.head);
            waker.set(None);
        }
    }

    fn is_reset(&self) -> bool {
        self.go
            .iter()
            .enumerate()
            .all(|(k, go)| go.get() == (k == self.head))
            && self.wakers.iter().all(|slot| {
                let waker = slot.take();
                let none = waker.is_none();
                slot.set(waker);
                none
            })
    }

    #[inline]
    fn poll(&self, k: usize, cx: &mut Context<'_>) -> Poll<()> {
        if self.go[k].replace(false) {
            let next = self.next[k] as usize;
            self.go[next].set(true);
            if let Some(waker) = self.wakers[next].take() {
                waker.wake();
            }
            Poll::Ready(())
        } else {
            // Keep the waker to be woken with; clone only when it changed (poll-every-child
            // combinators poll a waiting child again and again with the same waker).
            let slot = &self.wakers[k];
            let kept = match slot.take() {
                Some(waker) if waker.will_wake(cx.waker()) => waker,
                _ => cx.waker().clone(),
            };
            slot.set(Some(kept));
            Poll::Pending
        }
    }
}

/// The cross-thread workload's shared state: a queue of wakers that a helper thread drains once
/// every child of the group is in it, setting each child's flag and then waking it. Waiting for
/// the whole group keeps runs alike: the first sweep registers without racing the helper, then
/// the helper's wakes race the group's polls, as wakes from I/O threads would. Children complete
/// on the poll that finds their flag set (and clear it, so a completed run leaves every flag
/// clear). The queue and the helper's spare keep their capacity: no allocation while a group
/// runs.
struct Cross {
    flags: Box<[AtomicBool]>,
    queue: Mutex<Queue>,
    /// Length of the queue, for the helper to watch while it spins.
    queued: AtomicUsize,
    filled: Condvar,
    stop: AtomicBool,
}

struct Queue {
    wakers: Vec<(u32, Waker)>,
    /// The helper sleeps on `filled`: the push that fills the queue must notify it.
    helper_asleep: bool,
}

/// How long the helper spins for a group to fill the queue before it sleeps. Spinning spares
/// small groups a second thread hand-off (bench thread to helper) on top of the one every run
/// needs (helper to the parked bench thread), which would otherwise dominate them.
const HELPER_SPIN: Duration = Duration::from_micros(200);

impl Cross {
    fn start(n: usize) -> (Arc<Cross>, JoinHandle<()>) {
        let cross = Arc::new(Cross {
            flags: (0..n).map(|_| AtomicBool::new(false)).collect(),
            queue: Mutex::new(Queue {
                wakers: Vec::with_capacity(n),
                helper_asleep: false,
            }),
            queued: AtomicUsize::new(0),
            filled: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let shared = Arc::clone(&cross);
        let helper = thread::Builder::new()
            .name(format!("cross-waker-{n}"))
            .spawn(move || shared.serve(n))
            .expect("spawn the helper thread");
        (cross, helper)
    }

    /// The helper thread: once all `n` children are queued, wake them in queue order; repeat
    /// until told to stop.
    fn serve(&self, n: usize) {
        let mut batch = Vec::with_capacity(n);
        loop {
            let spin_start = Instant::now();
            'spin: while self.queued.load(Ordering::Acquire) < n {
                for _ in 0..256 {
                    std::hint::spin_loop();
                }
                if self.stop.load(Ordering::Relaxed) || spin_start.elapsed() > HELPER_SPIN {
                    break 'spin;
                }
            }
            {
                let mut queue = self.queue.lock().unwrap();
                while queue.wakers.len() < n {
                    if self.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    queue.helper_asleep = true;
                    queue = self.filled.wait(queue).unwrap();
                    queue.helper_asleep = false;
                }
                std::mem::swap(&mut queue.wakers, &mut batch);
                self.queued.store(0, Ordering::Relaxed);
            }
            for (index, waker) in batch.drain(..) {
                self.flags[index as usize].store(true, Ordering::Release);
                waker.wake();
            }
        }
    }

    #[inline]
    fn register(&self, index: usize, waker: &Waker) {
        let mut queue = self.queue.lock().unwrap();
        queue.wakers.push((index as u32, waker.clone()));
        let len = queue.wakers.len();
        self.queued.store(len, Ordering::Release);
        let notify = len == self.flags.len() && queue.helper_asleep;
        drop(queue);
        if notify {
            self.filled.notify_one();
        }
    }

    #[inline]
    fn poll(&self, index: usize) -> Poll<()> {
        let flag = &self.flags[index];
        if flag.load(Ordering::Acquire) {
            flag.store(false, Ordering::Relaxed);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Forgets a run that did not complete: no child flagged, no waker queued.
    fn reset(&self) {
        self.queue.lock().unwrap().wakers.clear();
        self.queued.store(0, Ordering::Relaxed);
        for flag in self.flags.iter() {
            flag.store(false, Ordering::Relaxed);
        }
    }

    fn shut_down(&self) {
        let _queue = self.queue.lock().unwrap();
        self.stop.store(true, Ordering::Relaxed);
        self.filled.notify_one();
    }
}

// ------------------------------------------------------------------------------------------------
// Workloads and the environment of one (workload, size)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Ready,
    Yield,
    Chain,
    Fail,
    ManyErrors,
    CrossThread,
}

impl Workload {
    const ALL: [Workload; 6] = [
        Workload::Ready,
        Workload::Yield,
        Workload::Chain,
        Workload::Fail,
        Workload::ManyErrors,
        Workload::CrossThread,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::Ready => "ready",
            Workload::Yield => "yield",
            Workload::Chain => "chain",
            Workload::Fail => "fail",
            Workload::ManyErrors => "many-errors",
            Workload::CrossThread => "cross-thread",
        }
    }

    /// Whether some child fails: infallible implementations sit these out.
    fn fails(self) -> bool {
        matches!(self, Workload::Fail | Workload::ManyErrors)
    }

    fn sizes(self) -> &'static [usize] {
        const ALL: &[usize] = &[1, 8, 64, 1024, 16384, 131072];
        match self {
            Workload::Chain => &ALL[..5],
            _ => ALL,
        }
    }
}

/// Wakes the thread that drives a cross-thread group.
struct Parker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// Everything the cells of one (workload, size) share: the children's shared state, the driver,
/// and what the last run recorded (polls, size of the group).
struct Env {
    workload: Workload,
    n: usize,
    chain: Option<Chain>,
    cross: Option<(Arc<Cross>, JoinHandle<()>)>,
    parker: Arc<Parker>,
    waker: Waker,
    /// Polls of the group in the last run.
    polls: Cell<usize>,
    /// `size_of_val` of the last group driven.
    size: Cell<usize>,
    /// Allocations and bytes counted when the last input was built.
    input_counted: Cell<(usize, usize)>,
}

impl Env {
    fn new(workload: Workload, n: usize) -> Self {
        let parker = Arc::new(Parker {
            thread: thread::current(),
            notified: AtomicBool::new(false),
        });
        Env {
            workload,
            n,
            chain: (workload == Workload::Chain).then(|| Chain::new(n)),
            cross: (workload == Workload::CrossThread).then(|| Cross::start(n)),
            waker: Waker::from(Arc::clone(&parker)),
            parker,
            polls: Cell::new(0),
            size: Cell::new(0),
            input_counted: Cell::new((0, 0)),
        }
    }

    #[inline]
    fn child<O>(&self, index: usize) -> Child<'_, O> {
        let kind = match self.workload {
            Workload::Ready => Kind::Ready,
            Workload::Yield => Kind::Yield,
            Workload::Chain => Kind::Chain(self.chain.as_ref().expect("chain state")),
            Workload::Fail if index + 1 == self.n => Kind::Fail,
            Workload::Fail => Kind::Pending,
            Workload::ManyErrors => Kind::Fail,
            Workload::CrossThread => Kind::Cross(&self.cross.as_ref().expect("helper").0),
        };
        Child {
            kind,
            index: index as u32,
            pended: false,
            output: PhantomData,
        }
    }

    /// Notes the allocation counters once the input is built (only matters while counting).
    #[inline]
    fn input_built(&self) {
        if COUNTING.load(Ordering::Relaxed) {
            self.input_counted.set(counted());
        }
    }

    #[inline]
    fn vec<O>(&self) -> Vec<Child<'_, O>> {
        let children = (0..black_box(self.n)).map(|i| self.child(i)).collect();
        self.input_built();
        children
    }

    #[inline]
    fn array<O, const N: usize>(&self) -> [Child<'_, O>; N] {
        debug_assert_eq!(N, self.n);
        let children = std::array::from_fn(|i| self.child(i));
        self.input_built();
        children
    }

    #[inline]
    #[allow(clippy::type_complexity)] // the shape under test
    fn tuple8<O>(
        &self,
    ) -> (
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
        Child<'_, O>,
    ) {
        debug_assert_eq!(self.n, 8);
        let children = (
            self.child(0),
            self.child(1),
            self.child(2),
            self.child(3),
            self.child(4),
            self.child(5),
            self.child(6),
            self.child(7),
        );
        self.input_built();
        children
    }

    /// Most polls any implementation may take before it is declared `never-returns`; far above
    /// what any completing cell needs (at most about 2n + 1 for the slowest, `yield`).
    fn max_polls(&self) -> usize {
        4 * self.n + 64
    }

    /// Drives `group` to completion with this workload's driver; `None` if it never returned.
    #[inline]
    fn drive<F: Future>(&self, group: F) -> Option<F::Output> {
        self.size.set(std::mem::size_of_val(&group));
        let (output, polls) = match self.workload {
            Workload::CrossThread => park_loop(group, &self.parker, &self.waker, self.max_polls()),
            _ => poll_loop(group, self.max_polls()),
        };
        self.polls.set(polls);
        output
    }

    /// Restores the children's shared state after a run that may not have completed.
    fn reset(&self) {
        if let Some(chain) = &self.chain {
            chain.reset();
        }
        if let Some((cross, _)) = &self.cross {
            cross.reset();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((cross, helper)) = self.cross.take() {
            cross.shut_down();
            helper.join().expect("the helper thread");
        }
    }
}

/// The minimal driver: polls `group` with a no-op waker until it is `Ready`, at most `max`
/// times. Returns the output (`None` if still pending) and the number of polls.
#[inline]
fn poll_loop<F: Future>(group: F, max: usize) -> (Option<F::Output>, usize) {
    let mut group = pin!(group);
    let mut cx = Context::from_waker(Waker::noop());
    for polls in 1..=max {
        if let Poll::Ready(output) = group.as_mut().poll(&mut cx) {
            return (Some(output), polls);
        }
    }
    (None, max)
}

/// How long the parking driver waits for a wake before declaring a cell `never-returns`.
const PARK_DEADLINE: Duration = Duration::from_secs(10);

/// The parking driver: polls `group` with a waker that unparks this thread, and parks between
/// polls until woken (what `futures::executor::block_on` does), at most `max` polls and at most
/// [`PARK_DEADLINE`] of waiting.
#[inline]
fn park_loop<F: Future>(
    group: F,
    parker: &Parker,
    waker: &Waker,
    max: usize,
) -> (Option<F::Output>, usize) {
    let mut group = pin!(group);
    let mut cx = Context::from_waker(waker);
    parker.notified.store(false, Ordering::Relaxed);
    let mut deadline = None;
    for polls in 1..=max {
        if let Poll::Ready(output) = group.as_mut().poll(&mut cx) {
            return (Some(output), polls);
        }
        while !parker.notified.swap(false, Ordering::Acquire) {
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + PARK_DEADLINE);
            let now = Instant::now();
            if now >= deadline {
                return (None, polls);
            }
            thread::park_timeout(deadline - now);
        }
    }
    (None, max)
}

// ------------------------------------------------------------------------------------------------
// Peers that need a few lines of glue

/// `FuturesUnordered` collected back into input order: every output carries its child's index
/// (the value *is* the index), and is placed in a pre-sized output `Vec`. Fails fast: at the
/// first `Err` every sibling is dropped and that error returned.
struct UnorderedInOrder<F> {
    set: FuturesUnordered<F>,
    outputs: Vec<u64>,
}

impl<F: Future<Output = Fallible>> UnorderedInOrder<F> {
    fn new(children: Vec<F>) -> Self {
        let outputs = vec![0; children.len()];
        UnorderedInOrder {
            set: children.into_iter().collect(),
            outputs,
        }
    }
}

impl<F: Future<Output = Fallible>> Future for UnorderedInOrder<F> {
    type Output = Result<Vec<u64>, u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this.set.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(value))) => this.outputs[value as usize] = value,
                Poll::Ready(Some(Err(error))) => {
                    this.set = FuturesUnordered::new();
                    return Poll::Ready(Err(error));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(std::mem::take(&mut this.outputs))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The floor

/// The floor: a loop that knows the workload and polls each child only when it can make
/// progress, with no bookkeeping. Its outputs go into `outputs` in input order; the errors it
/// must report into a `Vec` of `(index, error)` sized for them.
///
/// * ready: one sweep; yield: two sweeps (the first sees every child yield);
/// * chain: follows the permutation from the head, one poll per child;
/// * fail: polls only the failing child, then the children are dropped; the floor polling every
///   child ([`Kind::PollAll`]) first polls each of the n − 1 pending children once;
/// * many-errors: polls every child and keeps every error;
/// * cross-thread: a future that registers every child, giving the real waker to the last one
///   only (the helper wakes in index order, so the last wake means every flag is set), then
///   parks until that wake and polls every child once more.
mod floor {
    use super::*;

    pub type Errors = Vec<(usize, u64)>;

    /// Which floor.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// The floor proper.
        Least,
        /// The floor polling every child (fail only): before the failing child it polls each
        /// of the n − 1 pending children once, with a no-op waker and nothing else. That is the
        /// least any combinator does before it can know of the error, since nothing tells it
        /// which child will fail.
        PollAll,
    }

    #[inline]
    fn poll_child(child: &mut Child<'_, Fallible>, cx: &mut Context<'_>) -> Poll<Fallible> {
        Pin::new(child).poll(cx)
    }

    /// Runs the floor over `children`; `None` if the workload did not complete as expected.
    #[inline]
    pub fn run(
        env: &Env,
        children: &mut [Child<'_, Fallible>],
        outputs: &mut [u64],
        kind: Kind,
    ) -> Option<Result<(), Errors>> {
        let mut cx = Context::from_waker(Waker::noop());
        let n = children.len();
        // One pass over the children, whatever the workload; cross-thread's driver counts its own.
        env.polls.set(1);
        match env.workload {
            Workload::Ready => {
                for (child, slot) in children.iter_mut().zip(outputs.iter_mut()) {
                    let Poll::Ready(Ok(value)) = poll_child(child, &mut cx) else {
                        return None;
                    };
                    *slot = value;
                }
            }
            Workload::Yield => {
                for child in children.iter_mut() {
                    if poll_child(child, &mut cx).is_ready() {
                        return None;
                    }
                }
                for (child, slot) in children.iter_mut().zip(outputs.iter_mut()) {
                    let Poll::Ready(Ok(value)) = poll_child(child, &mut cx) else {
                        return None;
                    };
                    *slot = value;
                }
            }
            Workload::Chain => {
                let chain = env.chain.as_ref()?;
                let mut k = chain.head;
                for _ in 0..n {
                    let Poll::Ready(Ok(value)) = poll_child(&mut children[k], &mut cx) else {
                        return None;
                    };
                    outputs[k] = value;
                    k = chain.next[k] as usize;
                }
            }
            Workload::Fail => {
                let (failing, pending) = children.split_last_mut()?;
                if kind == Kind::PollAll {
                    for child in pending {
                        if poll_child(child, &mut cx).is_ready() {
                            return None;
                        }
                    }
                }
                let Poll::Ready(Err(error)) = poll_child(failing, &mut cx) else {
                    return None;
                };
                return Some(Err(vec![(n - 1, error)]));
            }
            Workload::ManyErrors => {
                let mut errors = Vec::with_capacity(n);
                for (index, child) in children.iter_mut().enumerate() {
                    let Poll::Ready(Err(error)) = poll_child(child, &mut cx) else {
                        return None;
                    };
                    errors.push((index, error));
                }
                return Some(Err(errors));
            }
            Workload::CrossThread => {
                let last_wake = LastWake {
                    children,
                    outputs,
                    started: false,
                };
                return env.drive(last_wake).map(Ok);
            }
        }
        Some(Ok(()))
    }

    /// The cross-thread floor (see [`floor`](self)).
    struct LastWake<'s, 'a> {
        children: &'s mut [Child<'a, Fallible>],
        outputs: &'s mut [u64],
        started: bool,
    }

    impl Future for LastWake<'_, '_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let this = self.get_mut();
            let mut noop = Context::from_waker(Waker::noop());
            let Some((last, others)) = this.children.split_last_mut() else {
                return Poll::Ready(());
            };
            if !this.started {
                this.started = true;
                for child in others.iter_mut() {
                    // Registers with the helper; only the last wake is worth waking up for.
                    let _ = poll_child(child, &mut noop);
                }
            }
            let Poll::Ready(Ok(value)) = poll_child(last, cx) else {
                return Poll::Pending;
            };
            let (last_output, outputs) = this.outputs.split_last_mut().expect("n outputs");
            *last_output = value;
            for (child, slot) in others.iter_mut().zip(outputs) {
                // The helper set every earlier flag before the last one.
                match poll_child(child, &mut noop) {
                    Poll::Ready(Ok(value)) => *slot = value,
                    _ => unreachable!("flags are set in index order"),
                }
            }
            Poll::Ready(())
        }
    }

    /// The floor of `kind` with children and outputs in `Vec`s.
    #[inline]
    pub fn vec(env: &Env, kind: Kind) -> Option<Result<Vec<u64>, Errors>> {
        let mut children = env.vec::<Fallible>();
        let mut outputs = vec![0; children.len()];
        let result = run(env, &mut children, &mut outputs, kind);
        // Nothing inline: children and outputs are on the heap, counted as bytes.
        env.size.set(0);
        Some(result?.map(|()| outputs))
    }

    /// The floor of `kind` with children and outputs in arrays.
    #[inline]
    pub fn array<const N: usize>(env: &Env, kind: Kind) -> Option<Result<[u64; N], Errors>> {
        let mut children = env.array::<Fallible, N>();
        let mut outputs = [0; N];
        let result = run(env, &mut children, &mut outputs, kind);
        // Inline: the children and the outputs.
        env.size
            .set(std::mem::size_of_val(&children) + std::mem::size_of_val(&outputs));
        Some(result?.map(|()| outputs))
    }
}

// ------------------------------------------------------------------------------------------------
// The floor with wakers

#[path = "suite/counted_wakers.rs"]
mod counted_wakers;

#[path = "suite/wake_floor.rs"]
mod wake_floor;

#[path = "suite/cross_wake_floor.rs"]
mod cross_wake_floor;

/// Whether the cells of `env` get a floor with wakers: chain, at every size.
fn has_wake_floor(env: &Env) -> bool {
    env.workload == Workload::Chain
}

/// Whether the cells of `env` get the floor polling every child ([`floor::Kind::PollAll`]):
/// fail, from 8 children (with one child it is the floor).
fn has_poll_all_floor(env: &Env) -> bool {
    env.workload == Workload::Fail && env.n > 1
}

// ------------------------------------------------------------------------------------------------
// Checking results

/// What a run produced, reduced to what the check needs.
#[derive(Debug)]
enum Verdict {
    /// Every output, in input order.
    Values,
    /// Failed: the index of the (first) error returned, how many errors were returned, and how
    /// many siblings were reported dropped (when the implementation says so).
    Errors {
        first: usize,
        count: usize,
        cancelled: Option<usize>,
    },
}

/// Outputs that can be checked for input order (the value of child `i` is `i`).
trait Values {
    fn in_order(&self) -> bool;
}

impl Values for Vec<u64> {
    fn in_order(&self) -> bool {
        self.iter().enumerate().all(|(i, &v)| v == i as u64)
    }
}

impl<const N: usize> Values for [u64; N] {
    fn in_order(&self) -> bool {
        self.iter().enumerate().all(|(i, &v)| v == i as u64)
    }
}

impl Values for (u64, u64, u64, u64, u64, u64, u64, u64) {
    fn in_order(&self) -> bool {
        [
            self.0, self.1, self.2, self.3, self.4, self.5, self.6, self.7,
        ] == [0, 1, 2, 3, 4, 5, 6, 7]
    }
}

/// The error side of a fail-fast output.
trait Errors {
    fn verdict(&self) -> Verdict;
}

impl Errors for u64 {
    fn verdict(&self) -> Verdict {
        Verdict::Errors {
            first: *self as usize,
            count: 1,
            cancelled: None,
        }
    }
}

impl Errors for taskgroup::ErrorGroup<u64> {
    fn verdict(&self) -> Verdict {
        let (index, &error) = self.first();
        assert_eq!(index as u64, error, "error reported with its child's index");
        Verdict::Errors {
            first: index,
            count: self.len(),
            cancelled: Some(self.cancelled()),
        }
    }
}

impl Errors for floor::Errors {
    fn verdict(&self) -> Verdict {
        Verdict::Errors {
            first: self[0].0,
            count: self.len(),
            cancelled: None,
        }
    }
}

/// Anything a cell returns.
trait Outputs {
    fn verdict(&self) -> Verdict;
}

impl<V: Values> Outputs for V {
    fn verdict(&self) -> Verdict {
        assert!(self.in_order(), "outputs in input order");
        Verdict::Values
    }
}

impl<V: Values, E: Errors> Outputs for Result<V, E> {
    fn verdict(&self) -> Verdict {
        match self {
            Ok(values) => values.verdict(),
            Err(errors) => errors.verdict(),
        }
    }
}

/// Whether `verdict` is what `workload` must produce with `n` children.
fn expected(workload: Workload, n: usize, verdict: &Verdict) -> bool {
    let &Verdict::Errors {
        first,
        count,
        cancelled,
    } = verdict
    else {
        return !workload.fails();
    };
    match workload {
        Workload::Fail => first == n - 1 && count == 1 && cancelled.is_none_or(|c| c == n - 1),
        // Peers return one error (tokio's rotating start may pick any); a group that keeps every
        // concurrent error returns all `n`, starting at child 0.
        Workload::ManyErrors => {
            first < n
                && (count == 1 || (count == n && first == 0))
                && cancelled.is_none_or(|c| c == 0)
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------------
// Cells, records and settings

/// One line of `cells.csv`: what the check and the count saw for one cell.
struct Record {
    status: &'static str,
    polls: usize,
    errors: usize,
    input_allocations: usize,
    input_bytes: usize,
    allocations: usize,
    bytes: usize,
    size_of: usize,
}

const CSV_HEADER: &str = "workload,implementation,shape,n,status,polls,errors,\
                          input_allocations,input_bytes,allocations,bytes,size_of,child_size,mode";

/// Where a cell's timing goes: `None` when the run only checks (no `Criterion` at all, which
/// probes for a plotting program at start-up).
type Group<'a> = Option<BenchmarkGroup<'a, WallTime>>;

/// The run's settings and what it has recorded so far.
struct Suite {
    quick: bool,
    /// Criterion's positional filter; checks and counts run only for cells whose id contains it.
    filter: Option<String>,
    /// `--list`: criterion only lists; skip the checks.
    list_only: bool,
    /// `TASKGROUP_BENCH_CHECK=1`: run the checks and counts only, time nothing and write no
    /// file (for Miri over the floors with wakers; see the module docs, "Running").
    check_only: bool,
    /// Lines of `cells.csv`, keyed by (workload, implementation, shape, n).
    records: BTreeMap<(String, String, String, usize), String>,
    path: PathBuf,
}

/// Criterion options that take a value (so the value is not mistaken for the filter).
const VALUED_OPTIONS: &[&str] = &[
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

impl Suite {
    fn from_env() -> Suite {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut filter = None;
        let mut args_iter = args.iter();
        while let Some(arg) = args_iter.next() {
            if VALUED_OPTIONS.contains(&arg.as_str()) {
                args_iter.next();
            } else if !arg.starts_with('-') && filter.is_none() {
                filter = Some(arg.clone());
            }
        }
        let quick = std::env::var_os("TASKGROUP_BENCH_QUICK").is_some_and(|v| v != "0")
            || args.iter().any(|a| a == "--quick");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"));
        let path = target.join("bench-suite").join("cells.csv");
        let check_only = std::env::var_os("TASKGROUP_BENCH_CHECK").is_some_and(|v| v != "0");
        let mut records = BTreeMap::new();
        // Keep the lines of earlier runs, so a filtered run replaces only its own cells.
        let earlier = if check_only {
            None
        } else {
            std::fs::read_to_string(&path).ok()
        };
        if let Some(text) = earlier {
            if text.lines().next() == Some(CSV_HEADER) {
                for line in text.lines().skip(1) {
                    let f: Vec<&str> = line.split(',').collect();
                    if let (Some(w), Some(i), Some(s), Some(Ok(n))) =
                        (f.first(), f.get(1), f.get(2), f.get(3).map(|n| n.parse()))
                    {
                        records.insert(
                            (w.to_string(), i.to_string(), s.to_string(), n),
                            line.into(),
                        );
                    }
                }
            }
        }
        Suite {
            quick,
            filter,
            list_only: args.iter().any(|a| a == "--list"),
            check_only,
            records,
            path,
        }
    }

    /// Whether a cell of `workload` at size `n` can match the filter, a substring of an id
    /// `workload/implementation-shape/n`. Sizes that cannot match are not set up (no chain state,
    /// no helper thread).
    fn may_match(&self, workload: Workload, n: usize) -> bool {
        let Some(filter) = &self.filter else {
            return true;
        };
        let (name, size) = (workload.name(), n.to_string());
        match filter.split('/').collect::<Vec<_>>().as_slice() {
            [_] => true,
            // The `/` is the first of the id's or the second.
            [before, after] => name.ends_with(before) || size.starts_with(after),
            [before, _, after] => name.ends_with(before) && size.starts_with(after),
            _ => false,
        }
    }

    fn criterion(&self) -> Criterion {
        let criterion = if self.quick {
            Criterion::default()
                .sample_size(10)
                .warm_up_time(Duration::from_millis(40))
                .measurement_time(Duration::from_millis(100))
                .nresamples(1_000)
        } else {
            Criterion::default()
                .sample_size(30)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2))
                .nresamples(20_000)
        };
        criterion.without_plots().configure_from_args()
    }

    fn write(&self) {
        let mut text = String::from(CSV_HEADER);
        text.push('\n');
        for line in self.records.values() {
            text.push_str(line);
            text.push('\n');
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).expect("create the output directory");
        }
        std::fs::write(&self.path, text).expect("write cells.csv");
    }

    /// Checks, counts and registers one cell: `implementation` joining the children of `env` in
    /// `shape`. `run` is the measured routine.
    fn cell<R: Outputs>(
        &mut self,
        group: &mut Group<'_>,
        env: &Env,
        implementation: &'static str,
        shape: &'static str,
        run: impl Fn(&Env) -> Option<R>,
    ) {
        let (workload, n) = (env.workload, env.n);
        let function = format!("{implementation}-{shape}");
        let id = format!("{}/{function}/{n}", workload.name());
        if self
            .filter
            .as_ref()
            .is_some_and(|f| !id.contains(f.as_str()))
        {
            return;
        }
        let Some(group) = group else {
            // The check asserts the result; a cell that never returns is only reported.
            check_and_count(env, &id, &run);
            return;
        };
        if !self.list_only {
            let record = check_and_count(env, &id, &run);
            let line = format!(
                "{},{implementation},{shape},{n},{},{},{},{},{},{},{},{},{},{}",
                workload.name(),
                record.status,
                record.polls,
                record.errors,
                record.input_allocations,
                record.input_bytes,
                record.allocations,
                record.bytes,
                record.size_of,
                std::mem::size_of::<Child<'_, Fallible>>(),
                if self.quick { "quick" } else { "full" },
            );
            self.records.insert(
                (
                    workload.name().into(),
                    implementation.into(),
                    shape.into(),
                    n,
                ),
                line,
            );
            if record.status != "ok" {
                return;
            }
        }
        group.throughput(Throughput::Elements(n as u64));
        // One iteration of a big group takes milliseconds: take one iteration per sample.
        group.sampling_mode(if n >= 16384 {
            SamplingMode::Flat
        } else {
            SamplingMode::Auto
        });
        group.bench_function(BenchmarkId::new(function, n), |b| {
            b.iter(|| run(env));
        });
    }
}

/// The untimed check run and count run of one cell.
fn check_and_count<R: Outputs>(env: &Env, id: &str, run: &impl Fn(&Env) -> Option<R>) -> Record {
    env.reset();
    let Some(output) = run(env) else {
        eprintln!(
            "check {id}: NEVER RETURNS: still pending after {} polls; not measured",
            env.polls.get()
        );
        env.reset();
        return Record {
            status: "never-returns",
            polls: env.polls.get(),
            errors: 0,
            input_allocations: 0,
            input_bytes: 0,
            allocations: 0,
            bytes: 0,
            size_of: env.size.get(),
        };
    };
    let verdict = output.verdict();
    drop(output);
    assert!(
        expected(env.workload, env.n, &verdict),
        "check {id}: unexpected result {verdict:?}"
    );
    if let Some(chain) = &env.chain {
        assert!(
            chain.is_reset(),
            "check {id}: the chain is back at its start"
        );
    }
    let polls = env.polls.get();

    // The count: every allocation from building the input to dropping the output.
    ALLOCATIONS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    env.input_counted.set((0, 0));
    COUNTING.store(true, Ordering::SeqCst);
    let output = run(env);
    drop(output);
    COUNTING.store(false, Ordering::SeqCst);
    let (total, total_bytes) = counted();
    let (input, input_bytes) = env.input_counted.get();
    let errors = match verdict {
        Verdict::Values => 0,
        Verdict::Errors { count, .. } => count,
    };
    eprintln!(
        "check {id}: ok in {polls} poll(s); allocations: {input} for the input + {} for the join \
         ({} bytes); size_of {}",
        total - input,
        total_bytes - input_bytes,
        env.size.get()
    );
    Record {
        status: "ok",
        polls,
        errors,
        input_allocations: input,
        input_bytes,
        allocations: total - input,
        bytes: total_bytes - input_bytes,
        size_of: env.size.get(),
    }
}

// ------------------------------------------------------------------------------------------------
// The cells

/// `Vec` cells: every size.
fn vec_cells(suite: &mut Suite, group: &mut Group<'_>, env: &Env) {
    let fails = env.workload.fails();
    suite.cell(group, env, "taskgroup_try_join", "vec", |e| {
        e.drive(taskgroup::try_join(e.vec::<Fallible>()))
    });
    if !fails {
        suite.cell(group, env, "taskgroup_join", "vec", |e| {
            e.drive(taskgroup::join(e.vec::<u64>()))
        });
        suite.cell(group, env, "join_all", "vec", |e| {
            e.drive(futures::future::join_all(e.vec::<u64>()))
        });
    }
    suite.cell(group, env, "try_join_all", "vec", |e| {
        e.drive(futures::future::try_join_all(e.vec::<Fallible>()))
    });
    suite.cell(group, env, "FuturesUnordered", "vec", |e| {
        e.drive(UnorderedInOrder::new(e.vec::<Fallible>()))
    });
    suite.cell(group, env, "futures_concurrency", "vec", |e| {
        e.drive(e.vec::<Fallible>().try_join())
    });
    suite.cell(group, env, "futures_buffered", "vec", |e| {
        e.drive(futures_buffered::try_join_all(e.vec::<Fallible>()))
    });
    suite.cell(group, env, "floor", "vec", |e| {
        floor::vec(e, floor::Kind::Least)
    });
    if has_wake_floor(env) {
        suite.cell(group, env, "floor_wakers", "vec", wake_floor::vec);
    }
    if has_poll_all_floor(env) {
        suite.cell(group, env, "floor_poll_all", "vec", |e| {
            floor::vec(e, floor::Kind::PollAll)
        });
    }
    if env.workload == Workload::CrossThread {
        suite.cell(group, env, "floor_wakers", "vec", |e| {
            cross_wake_floor::vec(e, cross_wake_floor::Wait::Last)
        });
        suite.cell(group, env, "floor_wakers_prompt", "vec", |e| {
            cross_wake_floor::vec(e, cross_wake_floor::Wait::Prompt)
        });
    }
}

/// Array cells: sizes 8, 64 and 1024.
fn array_cells<const N: usize>(suite: &mut Suite, group: &mut Group<'_>, env: &Env) {
    let fails = env.workload.fails();
    suite.cell(group, env, "taskgroup_try_join", "array", |e| {
        e.drive(taskgroup::try_join(e.array::<Fallible, N>()))
    });
    if !fails {
        suite.cell(group, env, "taskgroup_join", "array", |e| {
            e.drive(taskgroup::join(e.array::<u64, N>()))
        });
        suite.cell(group, env, "embassy_join_array", "array", |e| {
            e.drive(embassy_futures::join::join_array(e.array::<u64, N>()))
        });
    }
    suite.cell(group, env, "futures_concurrency", "array", |e| {
        e.drive(e.array::<Fallible, N>().try_join())
    });
    suite.cell(group, env, "floor", "array", |e| {
        floor::array::<N>(e, floor::Kind::Least)
    });
    if has_wake_floor(env) {
        suite.cell(group, env, "floor_wakers", "array", wake_floor::array::<N>);
    }
    if has_poll_all_floor(env) {
        suite.cell(group, env, "floor_poll_all", "array", |e| {
            floor::array::<N>(e, floor::Kind::PollAll)
        });
    }
}

/// 8-tuple cells.
fn tuple_cells(suite: &mut Suite, group: &mut Group<'_>, env: &Env) {
    let fails = env.workload.fails();
    suite.cell(group, env, "taskgroup_try_join", "tuple", |e| {
        e.drive(taskgroup::try_join(e.tuple8::<Fallible>()))
    });
    if !fails {
        suite.cell(group, env, "taskgroup_join", "tuple", |e| {
            e.drive(taskgroup::join(e.tuple8::<u64>()))
        });
    }
    suite.cell(group, env, "tokio_try_join", "tuple", |e| {
        let (c0, c1, c2, c3, c4, c5, c6, c7) = e.tuple8::<Fallible>();
        e.drive(async move { tokio::try_join!(c0, c1, c2, c3, c4, c5, c6, c7) })
    });
    // The floor of eight children, the same loop as for an array of 8.
    suite.cell(group, env, "floor", "tuple", |e| {
        floor::array::<8>(e, floor::Kind::Least)
    });
    if has_wake_floor(env) {
        suite.cell(group, env, "floor_wakers", "tuple", wake_floor::array::<8>);
    }
    if has_poll_all_floor(env) {
        suite.cell(group, env, "floor_poll_all", "tuple", |e| {
            floor::array::<8>(e, floor::Kind::PollAll)
        });
    }
}

fn main() {
    let mut suite = Suite::from_env();
    let mut criterion = (!suite.check_only).then(|| suite.criterion());
    let started = Instant::now();
    if suite.check_only {
        eprintln!("suite: checks only; nothing timed or written");
    } else {
        eprintln!(
            "suite: {} mode; cells file {}",
            if suite.quick { "quick" } else { "full" },
            suite.path.display()
        );
    }
    for workload in Workload::ALL {
        let mut group = criterion
            .as_mut()
            .map(|criterion| criterion.benchmark_group(workload.name()));
        for &n in workload.sizes() {
            if !suite.may_match(workload, n) {
                continue;
            }
            let env = Env::new(workload, n);
            vec_cells(&mut suite, &mut group, &env);
            match n {
                8 => {
                    array_cells::<8>(&mut suite, &mut group, &env);
                    tuple_cells(&mut suite, &mut group, &env);
                }
                64 => array_cells::<64>(&mut suite, &mut group, &env),
                1024 => array_cells::<1024>(&mut suite, &mut group, &env),
                _ => {}
            }
        }
        if let Some(group) = group {
            group.finish();
        }
        if !suite.list_only && !suite.check_only {
            suite.write();
        }
    }
    if let Some(criterion) = criterion {
        criterion.final_summary();
    }
    eprintln!("suite: done in {:.1} s", started.elapsed().as_secs_f64());
}
