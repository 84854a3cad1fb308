//! What one uncontended atomic read-modify-write costs on this machine: the unit of a
//! per-child waker's work, measured so that BENCHMARKS.md can say what a chain link's wakes
//! must cost at least. And, for the cross-thread workload, what moving a cache line between two
//! threads costs.
//!
//! Each cell runs a batch of operations on one word that stays in the L1 cache of the one
//! thread touching it, the way a chain link's waker and the group's poll touch the wake set
//! (`Throughput::Elements` gives the operations, or links, per second):
//!
//! * `atomics/fetch_or`: `fetch_or` whose previous value is used, as a wake's climb uses it
//!   (on x86 a `lock cmpxchg` loop rather than a `lock or`).
//! * `atomics/swap`: `swap(0)`, as the poll takes a word of the ready set.
//! * `atomics/fetch_add+fetch_sub`: a reference count up and down, as a waker clone and its drop.
//! * `atomics/link`: the four operations of one link of a chain of children in a group of at
//!   most 64 (one bitset level): the kept waker's clone (count up), the wake (`fetch_or` into
//!   the ready bits), the woken waker's drop (count down) and the poll taking the bits (`swap`).
//! * `atomics/plain`: the same four steps as plain loads and stores of the words, for scale.
//! * `atomics/round_trip`: not uncontended: a cache line passed from this thread to a helper
//!   thread and back, once per element (each side waits for the other's store, then stores).
//!   Half of it is what moving one written line to the other core costs, the unit of what a
//!   join pays when its poller and a waker on another thread write the same line in turn
//!   (cross-thread in BENCHMARKS.md).
//!
//! `cargo bench --bench atomics`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};

/// Operations (or links) per measured iteration.
const BATCH: usize = 256;

fn atomics(c: &mut Criterion) {
    let mut group = c.benchmark_group("atomics");
    group.throughput(Throughput::Elements(BATCH as u64));
    let refs = AtomicUsize::new(1);
    let bits = AtomicUsize::new(0);
    group.bench_function("fetch_or", |b| {
        b.iter(|| {
            let mut seen = 0;
            for i in 0..BATCH {
                seen |= bits.fetch_or(1 << (i % 64), Ordering::AcqRel);
            }
            black_box(seen)
        })
    });
    group.bench_function("swap", |b| {
        b.iter(|| {
            let mut seen = 0;
            for i in 0..BATCH {
                seen += bits.swap(i, Ordering::AcqRel);
            }
            black_box(seen)
        })
    });
    group.bench_function("fetch_add+fetch_sub", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(refs.fetch_add(1, Ordering::Relaxed));
                black_box(refs.fetch_sub(1, Ordering::Release));
            }
        })
    });
    group.bench_function("link", |b| {
        b.iter(|| {
            let mut taken = 0;
            for i in 0..BATCH {
                black_box(refs.fetch_add(1, Ordering::Relaxed));
                if bits.fetch_or(1 << (i % 64), Ordering::AcqRel) == 0 {
                    taken += 1;
                }
                black_box(refs.fetch_sub(1, Ordering::Release));
                taken += bits.swap(0, Ordering::AcqRel).count_ones();
            }
            black_box(taken)
        })
    });
    group.bench_function("plain", |b| {
        b.iter(|| {
            let mut taken = 0;
            for i in 0..BATCH {
                let r = black_box(&refs);
                r.store(r.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                let w = black_box(&bits);
                let before = w.load(Ordering::Relaxed);
                w.store(before | 1 << (i % 64), Ordering::Relaxed);
                if before == 0 {
                    taken += 1;
                }
                r.store(r.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
                taken += w.load(Ordering::Relaxed).count_ones();
                w.store(0, Ordering::Relaxed);
            }
            black_box(taken)
        })
    });
    group.bench_function("round_trip", |b| {
        let shared = Passed::default();
        thread::scope(|scope| {
            scope.spawn(|| shared.serve());
            b.iter(|| {
                for _ in 0..BATCH {
                    shared.round_trip();
                }
            });
            shared.stop.0.store(true, Ordering::Relaxed);
        });
    });
    group.finish();
}

/// A counter on a cache line of its own that two threads pass back and forth: this thread
/// makes it odd, the helper makes it even. `stop`, on another line, ends the helper.
#[derive(Default)]
struct Passed {
    counter: Line,
    stop: Line<AtomicBool>,
}

/// A value alone on 128 bytes: its own cache line, and its own pair of lines on CPUs that
/// fetch lines two at a time.
#[derive(Default)]
#[repr(align(128))]
struct Line<T = AtomicUsize>(T);

impl Passed {
    /// Hands the line to the helper and waits until it hands it back.
    fn round_trip(&self) {
        let counter = &self.counter.0;
        let odd = counter.load(Ordering::Relaxed) + 1;
        counter.store(odd, Ordering::Release);
        let mut spins = 0u32;
        while counter.load(Ordering::Acquire) == odd {
            pause(&mut spins);
        }
    }

    /// The helper: hands every odd value back as the next even one, until told to stop.
    fn serve(&self) {
        let counter = &self.counter.0;
        let mut spins = 0u32;
        while !self.stop.0.load(Ordering::Relaxed) {
            let value = counter.load(Ordering::Acquire);
            if value % 2 == 1 {
                counter.store(value + 1, Ordering::Release);
                spins = 0;
            } else {
                pause(&mut spins);
            }
        }
    }
}

/// One step of a wait: a spin hint, and after many of them a yield, so that the two threads
/// still take turns on a machine with one core (where the cell then measures the scheduler).
fn pause(spins: &mut u32) {
    *spins += 1;
    if *spins % 4096 == 0 {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = atomics
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
