//! The concurrency-limit benchmark of issue 4: 100 000 children made lazily by an iterator, at
//! most 16 in flight, outputs collected into a `Vec`.
//!
//! | implementation | output order |
//! |---|---|
//! | `taskgroup::try_join(taskgroup::lazy(iter)).limit(16)` | input |
//! | `taskgroup::join(taskgroup::lazy(iter)).limit(16)` | input |
//! | `futures::stream::iter(iter).buffered(16)` | input |
//! | `futures::stream::iter(iter).buffer_unordered(16)` | completion |
//! | futures-buffered `stream::iter(iter).buffered_ordered(16)` | input |
//! | futures-buffered `stream::iter(iter).buffered_unordered(16)` | completion |
//!
//! Workloads: `ready` (every child ready on its first poll) and `yield` (every child wakes itself
//! and returns `Pending` once, then is ready). Every implementation joins the same child type and
//! is driven by the same loop: polled with a no-op waker until `Ready`. Fallible children
//! (`Result<u64, u64>`) for `try_join`, infallible (`u64`) for the others.
//!
//! Besides criterion's own report, the bench prints (and writes to
//! `target/bench-limit/table.md`) the median ns per child of each cell, read back from criterion's
//! estimates, with the allocations and bytes one run makes, counted by a counting global
//! allocator in a separate, untimed run.
//!
//! Run: `cargo bench --bench limit`; quick (about 20 s): `TASKGROUP_BENCH_QUICK=1 cargo bench
//! --bench limit`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use futures_buffered::BufferedStreamExt;

/// Children per run.
const CHILDREN: u64 = 100_000;
/// The concurrency limit.
const LIMIT: usize = 16;

/// Counts every allocation and the bytes asked for.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One child: ready after `yields` self-wakes, with output `O` made from its value.
struct Child<O> {
    value: u64,
    yields: u8,
    output: PhantomData<fn() -> O>,
}

/// How a child's output is made from its value.
trait FromValue {
    fn from_value(value: u64) -> Self;
}

impl FromValue for u64 {
    fn from_value(value: u64) -> Self {
        value
    }
}

impl FromValue for Result<u64, u64> {
    fn from_value(value: u64) -> Self {
        Ok(value)
    }
}

impl<O> Unpin for Child<O> {}

impl<O: FromValue> Future for Child<O> {
    type Output = O;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        if self.yields == 0 {
            return Poll::Ready(O::from_value(self.value));
        }
        self.yields -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[derive(Clone, Copy)]
enum Workload {
    Ready,
    Yield,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Ready => "ready",
            Workload::Yield => "yield",
        }
    }

    /// The children, made lazily.
    fn children<O: FromValue>(self) -> impl Iterator<Item = Child<O>> {
        let yields = match self {
            Workload::Ready => 0,
            Workload::Yield => 1,
        };
        (0..CHILDREN).map(move |value| Child {
            value,
            yields,
            output: PhantomData,
        })
    }
}

/// Polls `future` with a no-op waker until it is ready.
fn poll_loop<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// An implementation: its name, the order of its outputs, and a run returning the outputs' sum
/// (checked against the expected one).
type Implementation = (&'static str, &'static str, fn(Workload) -> u64);

const IMPLEMENTATIONS: [Implementation; 6] = [
    ("taskgroup_try_join", "input", |w| {
        let group = taskgroup::try_join(taskgroup::lazy(w.children::<Result<u64, u64>>()));
        poll_loop(group.limit(LIMIT)).unwrap().into_iter().sum()
    }),
    ("taskgroup_join", "input", |w| {
        let group = taskgroup::join(taskgroup::lazy(w.children::<u64>()));
        poll_loop(group.limit(LIMIT)).into_iter().sum()
    }),
    ("futures_buffered", "input", |w| {
        let outputs = stream::iter(w.children::<u64>()).buffered(LIMIT);
        poll_loop(outputs.collect::<Vec<_>>()).into_iter().sum()
    }),
    ("futures_buffer_unordered", "completion", |w| {
        let outputs = stream::iter(w.children::<u64>()).buffer_unordered(LIMIT);
        poll_loop(outputs.collect::<Vec<_>>()).into_iter().sum()
    }),
    ("futures-buffered_buffered_ordered", "input", |w| {
        let outputs = stream::iter(w.children::<u64>()).buffered_ordered(LIMIT);
        poll_loop(outputs.collect::<Vec<_>>()).into_iter().sum()
    }),
    ("futures-buffered_buffered_unordered", "completion", |w| {
        let outputs = stream::iter(w.children::<u64>()).buffered_unordered(LIMIT);
        poll_loop(outputs.collect::<Vec<_>>()).into_iter().sum()
    }),
];

const WORKLOADS: [Workload; 2] = [Workload::Ready, Workload::Yield];

fn quick() -> bool {
    std::env::var_os("TASKGROUP_BENCH_QUICK").is_some() || std::env::args().any(|a| a == "--quick")
}

fn limit(c: &mut Criterion) {
    let expected: u64 = (0..CHILDREN).sum();
    for workload in WORKLOADS {
        let mut group = c.benchmark_group(format!("limit16-{}", workload.name()));
        group.throughput(Throughput::Elements(CHILDREN));
        for (name, _, run) in IMPLEMENTATIONS {
            assert_eq!(run(workload), expected, "{name} {}", workload.name());
            group.bench_function(name, |b| b.iter(|| black_box(run(black_box(workload)))));
        }
        group.finish();
    }
}

/// Reads criterion's median for one cell, in ns per run.
fn median_ns(workload: Workload, name: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(format!("limit16-{}", workload.name()))
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // The file is small JSON; find `"median":{"confidence_interval":{...},"point_estimate":X`.
    let median = text.split("\"median\"").nth(1)?;
    let point = median.split("\"point_estimate\":").nth(1)?;
    point.split([',', '}']).next()?.trim().parse().ok()
}

fn criterion_dir() -> PathBuf {
    target_dir().join("criterion")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Counts one untimed run's allocations and bytes.
fn count(workload: Workload, run: fn(Workload) -> u64) -> (usize, usize) {
    let (a, b) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    black_box(run(workload));
    (
        ALLOCATIONS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload | implementation | output order | median ns per child | allocations | bytes |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for workload in WORKLOADS {
        for (name, order, run) in IMPLEMENTATIONS {
            let (allocations, bytes) = count(workload, run);
            let per_child = median_ns(workload, name)
                .map(|ns| format!("{:.2}", ns / CHILDREN as f64))
                .unwrap_or_else(|| "not measured".into());
            let _ = writeln!(
                out,
                "| {} | {name} | {order} | {per_child} | {allocations} | {bytes} |",
                workload.name()
            );
        }
    }
    out
}

criterion_group! {
    name = benches;
    config = if quick() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
    } else {
        Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
    };
    targets = limit
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let table = table();
    println!("\n{table}");
    let dir = target_dir().join("bench-limit");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("table.md"), &table);
    }
}
