//! taskgroup on a real microcontroller: an LM3S6965 (Cortex-M3) as QEMU emulates it, with
//! embassy-executor's thread-mode executor and no global allocator.
//!
//! One embassy task runs three groups whose children really wait: each returns `Pending` and
//! wakes itself, so the executor's pender fires, the executor wakes from `WFE` and polls the task
//! again, and the task polls the group again. The checks cover what a firmware author relies on:
//!
//! 1. `try_join` over a tuple of different children, all succeeding: outputs in input order;
//! 2. `try_join` over an array in which child 1 fails while its siblings are pending: the
//!    `ErrorGroup` names child 1, counts the three dropped siblings, and each sibling has been
//!    dropped exactly once by the time the error comes back;
//! 3. `join` over an array.
//!
//! Each result is printed over semihosting; any failed check prints why and exits QEMU with a
//! failure status, and the end of the run exits with success.
//!
//! Built with `--no-default-features`, the same children are awaited one after another instead
//! (the baseline that measures what taskgroup adds to the binary); the checks then expect what a
//! sequential program does.
#![no_std]
#![no_main]

use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hprintln;
use embassy_executor::Spawner;
use panic_semihosting as _;

/// Why a child failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    SensorTimeout,
}

/// How many times each tracked child (by slot) has been dropped.
static DROPS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// A child that yields to the executor `yields` times, then completes with its output.
///
/// Yielding means returning `Pending` after waking its own waker, as `yield_now` does: the
/// wake reaches the executor (without `alloc`, children are handed the group's waker, which is
/// the task's), so the executor has to poll the task, and so the group, again.
struct Child<T> {
    yields: u32,
    output: Option<T>,
    /// Index into [`DROPS`], for the children whose drops are checked.
    slot: Option<usize>,
}

fn child<T>(yields: u32, output: T) -> Child<T> {
    Child {
        yields,
        output: Some(output),
        slot: None,
    }
}

fn tracked<T>(slot: usize, yields: u32, output: T) -> Child<T> {
    Child {
        yields,
        output: Some(output),
        slot: Some(slot),
    }
}

impl<T: Unpin> Future for Child<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if this.yields == 0 {
            return Poll::Ready(this.output.take().expect("child polled after completion"));
        }
        this.yields -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<T> Drop for Child<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            DROPS[slot].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Awaits `future`, counting how many times the executor polled it.
async fn counting_polls<F: Future>(future: F) -> (F::Output, u32) {
    let mut future = pin!(future);
    let mut polls = 0;
    let output = poll_fn(|cx| {
        polls += 1;
        future.as_mut().poll(cx)
    })
    .await;
    (output, polls)
}

fn drops() -> [usize; 4] {
    DROPS.each_ref().map(|count| count.load(Ordering::Relaxed))
}

/// Prints what went wrong and ends the run with a failure status.
fn fail(what: fmt::Arguments<'_>) -> ! {
    hprintln!("check failed: {}", what);
    debug::exit(EXIT_FAILURE);
    // Only reached if the host did not act on the exit request.
    loop {
        cortex_m::asm::wfi();
    }
}

macro_rules! check {
    ($ok:expr, $($what:tt)+) => {
        if !$ok {
            fail(format_args!($($what)+));
        }
    };
}

/// What the run expects, which depends on how the children are run.
struct Expect {
    /// Polls of the tuple group, of the failing array group and of the join group.
    polls: [u32; 3],
    /// Children of the failing array not finished when it fails (dropped unfinished).
    cancelled: usize,
}

/// Concurrent: every poll of a group polls each unfinished child once, so a group takes as many
/// polls as its slowest child (its yields, plus the poll that completes it).
#[cfg(feature = "taskgroup")]
const EXPECT: Expect = Expect {
    polls: [4, 3, 5],
    cancelled: 3,
};

/// Sequential: a poll per yield of every child awaited, plus the final one.
#[cfg(not(feature = "taskgroup"))]
const EXPECT: Expect = Expect {
    polls: [6, 8, 6],
    cancelled: 2,
};

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let mode = if cfg!(feature = "taskgroup") {
        "taskgroup"
    } else {
        "baseline"
    };
    hprintln!("mode: {}", mode);

    // 1. A tuple of three different children (one an `async` block), all succeeding.
    let tuple = (
        child(3, Ok::<u8, Fault>(1)),
        child(0, Ok::<u16, Fault>(2)),
        async {
            let a: u32 = child(1, 1).await;
            let b: u32 = child(1, 2).await;
            Ok::<u32, Fault>(a + b)
        },
    );
    let (outputs, polls) = counting_polls(try_join_tuple(tuple)).await;
    check!(
        outputs == Ok((1, 2, 3)),
        "tuple: expected Ok((1, 2, 3)), got {:?}",
        outputs
    );
    check!(
        polls == EXPECT.polls[0],
        "tuple: expected {} polls, got {}",
        EXPECT.polls[0],
        polls
    );
    hprintln!("tuple: ok {:?} in {} polls", outputs.unwrap(), polls);

    // 2. An array in which child 1 fails on its third poll, while its siblings still have
    //    yields to go: they must be dropped before the error comes back.
    let array = [
        tracked(0, 5, Ok::<u32, Fault>(10)),
        tracked(1, 2, Err(Fault::SensorTimeout)),
        tracked(2, 8, Ok(30)),
        tracked(3, 50, Ok(40)),
    ];
    {
        let (outcome, polls) = counting_polls(try_join_failing_array(array)).await;
        let dropped = drops();
        let (index, error, cancelled) = match outcome {
            Ok(outputs) => fail(format_args!(
                "array: expected an error, got Ok({outputs:?})"
            )),
            Err(failure) => failure,
        };
        check!(
            (index, error) == (1, Fault::SensorTimeout),
            "array: expected child 1 to fail with SensorTimeout, got child {} with {:?}",
            index,
            error
        );
        check!(
            cancelled == EXPECT.cancelled,
            "array: expected {} cancelled, got {}",
            EXPECT.cancelled,
            cancelled
        );
        check!(
            [dropped[0], dropped[2], dropped[3]] == [1, 1, 1],
            "array: siblings not each dropped once when the error was returned: drops {:?}",
            dropped
        );
        check!(
            dropped[1] <= 1,
            "array: failed child dropped {} times",
            dropped[1]
        );
        check!(
            polls == EXPECT.polls[1],
            "array: expected {} polls, got {}",
            EXPECT.polls[1],
            polls
        );
        hprintln!(
            "array: err child {} failed ({:?}), {} cancelled, siblings dropped once, in {} polls",
            index,
            error,
            cancelled,
            polls
        );
    }
    // The group is gone now: nothing may have been dropped twice, and the failed child once.
    let dropped = drops();
    check!(
        dropped == [1; 4],
        "array: expected every child dropped exactly once, drops {:?}",
        dropped
    );

    // 3. `join` over an array of children that cannot fail.
    let array = [child(1, 100u32), child(4, 200), child(0, 300)];
    let (outputs, polls) = counting_polls(join_array(array)).await;
    check!(
        outputs == [100, 200, 300],
        "join: expected [100, 200, 300], got {:?}",
        outputs
    );
    check!(
        polls == EXPECT.polls[2],
        "join: expected {} polls, got {}",
        EXPECT.polls[2],
        polls
    );
    hprintln!("join: ok {:?} in {} polls", outputs, polls);

    hprintln!("all checks passed");
    debug::exit(EXIT_SUCCESS);
}

/// What the failing array reports: the failed child's index, its error, and how many children
/// were dropped unfinished.
type Failure = (usize, Fault, usize);

#[cfg(feature = "taskgroup")]
async fn try_join_tuple<A, B, C>(children: (A, B, C)) -> Result<(u8, u16, u32), Fault>
where
    A: Future<Output = Result<u8, Fault>>,
    B: Future<Output = Result<u16, Fault>>,
    C: Future<Output = Result<u32, Fault>>,
{
    taskgroup::try_join(children)
        .await
        .map_err(|errors| *errors.first().1)
}

#[cfg(feature = "taskgroup")]
async fn try_join_failing_array<F, const N: usize>(children: [F; N]) -> Result<[u32; N], Failure>
where
    F: Future<Output = Result<u32, Fault>>,
{
    let errors = match taskgroup::try_join(children).await {
        Ok(outputs) => return Ok(outputs),
        Err(errors) => errors,
    };
    let (index, error) = errors.first();
    if errors.len() != 1 || errors.omitted() != 0 {
        fail(format_args!(
            "array: expected exactly one error, got {} kept and {} omitted",
            errors.len(),
            errors.omitted()
        ));
    }
    Err((index, *error, errors.cancelled()))
}

#[cfg(feature = "taskgroup")]
async fn join_array<F, const N: usize>(children: [F; N]) -> [u32; N]
where
    F: Future<Output = u32>,
{
    taskgroup::join(children).await
}

#[cfg(not(feature = "taskgroup"))]
async fn try_join_tuple<A, B, C>(children: (A, B, C)) -> Result<(u8, u16, u32), Fault>
where
    A: Future<Output = Result<u8, Fault>>,
    B: Future<Output = Result<u16, Fault>>,
    C: Future<Output = Result<u32, Fault>>,
{
    let (a, b, c) = children;
    Ok((a.await?, b.await?, c.await?))
}

#[cfg(not(feature = "taskgroup"))]
async fn try_join_failing_array<F, const N: usize>(children: [F; N]) -> Result<[u32; N], Failure>
where
    F: Future<Output = Result<u32, Fault>>,
{
    let mut outputs = [0; N];
    for (index, child) in children.into_iter().enumerate() {
        match child.await {
            Ok(output) => outputs[index] = output,
            // The children not yet awaited are dropped when the iterator is, on return.
            Err(error) => return Err((index, error, N - index - 1)),
        }
    }
    Ok(outputs)
}

#[cfg(not(feature = "taskgroup"))]
async fn join_array<F, const N: usize>(children: [F; N]) -> [u32; N]
where
    F: Future<Output = u32>,
{
    let mut outputs = [0; N];
    for (index, child) in children.into_iter().enumerate() {
        outputs[index] = child.await;
    }
    outputs
}
