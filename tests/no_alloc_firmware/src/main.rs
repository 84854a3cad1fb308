//! Proof that `taskgroup` runs arrays and tuples with no allocator: no `alloc` crate, no
//! `#[global_allocator]`, a bare-metal target. It polls a tuple group and an array group with a
//! no-op waker and reports the outcome through its exit code.
#![no_std]
#![no_main]

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

/// Children dropped so far (proves siblings are dropped on failure).
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A child that returns `Pending` `pending` times, then `result`.
struct Countdown {
    pending: u32,
    result: Result<u32, u8>,
}

impl Future for Countdown {
    type Output = Result<u32, u8>;

    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.pending == 0 {
            return Poll::Ready(self.result);
        }
        self.pending -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Polls `future` to completion with a no-op waker (the children wake themselves).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn child(pending: u32, result: Result<u32, u8>) -> Countdown {
    Countdown { pending, result }
}

/// Runs the scenario; 0 on success, the number of the failed check otherwise.
fn run() -> u32 {
    let tuple = block_on(taskgroup::try_join((
        child(2, Ok(1)),
        child(0, Ok(2)),
        child(1, Ok(3)),
    )));
    if tuple != Ok((1, 2, 3)) {
        return 1;
    }
    let array = block_on(taskgroup::try_join([child(3, Ok(10)), child(1, Ok(20))]));
    if array != Ok([10, 20]) {
        return 2;
    }
    DROPPED.store(0, Ordering::Relaxed);
    let failed = block_on(taskgroup::try_join([
        child(5, Ok(1)),
        child(1, Err(7)),
        child(9, Ok(3)),
    ]));
    let Err(errors) = failed else { return 3 };
    if errors.first() != (1, &7) || errors.cancelled() != 2 || DROPPED.load(Ordering::Relaxed) != 3
    {
        return 4;
    }
    let joined = block_on(taskgroup::join([
        core::future::ready(1u8),
        core::future::ready(2u8),
    ]));
    if joined != [1, 2] {
        return 5;
    }
    0
}

/// Entry point for the linker; a real board's runtime would call `run` from its reset handler.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let code = run();
    // No OS to report to: park with the code in a register-visible place.
    loop {
        core::hint::black_box(code);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
