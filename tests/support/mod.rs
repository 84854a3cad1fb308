//! Helpers shared by the integration tests: a scripted child future ([`Probe`]) that counts its
//! polls and drops, outputs whose drops are counted ([`Counted`]), and a parent waker that counts
//! its wakes ([`Parent`]), which also polls a future once by hand.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures::task::ArcWake;

/// A child future scripted through its [`Handle`]: it returns `Pending` until the handle gives it
/// a result, and records every poll, its drop, and the waker it was last polled with.
pub struct Probe<T, E> {
    shared: Arc<Shared<T, E>>,
}

/// The test's side of a [`Probe`]. It outlives the probe, so counts and the stored waker can be
/// read after the group dropped the child.
pub struct Handle<T, E> {
    shared: Arc<Shared<T, E>>,
}

type Hook = Box<dyn FnMut() + Send>;

struct Shared<T, E> {
    polls: AtomicUsize,
    drops: AtomicUsize,
    script: Mutex<Script<T, E>>,
}

struct Script<T, E> {
    /// What the next poll returns; `None` means `Pending`.
    reply: Option<Result<T, E>>,
    /// The waker of the last poll.
    waker: Option<Waker>,
    /// Wake the waker of the current poll before returning from it.
    wake_self: bool,
    /// Runs at the start of every poll (to wake a sibling, or to panic).
    on_poll: Option<Hook>,
}

/// A new probe, returning `Pending` until told otherwise, and its handle.
pub fn probe<T, E>() -> (Probe<T, E>, Handle<T, E>) {
    let shared = Arc::new(Shared {
        polls: AtomicUsize::new(0),
        drops: AtomicUsize::new(0),
        script: Mutex::new(Script {
            reply: None,
            waker: None,
            wake_self: false,
            on_poll: None,
        }),
    });
    (
        Probe {
            shared: Arc::clone(&shared),
        },
        Handle { shared },
    )
}

/// Probes and their handles, index for index.
pub type Probes<T, E> = (Vec<Probe<T, E>>, Vec<Handle<T, E>>);
/// `N` probes and their handles, index for index.
pub type ProbeArray<T, E, const N: usize> = ([Probe<T, E>; N], [Handle<T, E>; N]);

/// `n` probes and their handles, index for index.
pub fn probes<T, E>(n: usize) -> Probes<T, E> {
    (0..n).map(|_| probe()).unzip()
}

/// `N` probes and their handles, as arrays.
pub fn probe_array<T, E, const N: usize>() -> ProbeArray<T, E, N> {
    let pairs: [(Probe<T, E>, Handle<T, E>); N] = std::array::from_fn(|_| probe());
    let handles = std::array::from_fn(|i| pairs[i].1.clone());
    (pairs.map(|(probe, _)| probe), handles)
}

impl<T, E> Shared<T, E> {
    fn script(&self) -> MutexGuard<'_, Script<T, E>> {
        // A hook may panic on purpose; the script stays usable.
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T, E> Future for Probe<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let shared = &*self.shared;
        shared.polls.fetch_add(1, SeqCst);
        // Run the hook without holding the lock: it may lock other probes, or panic.
        let hook = shared.script().on_poll.take();
        if let Some(mut hook) = hook {
            hook();
            shared.script().on_poll.get_or_insert(hook);
        }
        let mut script = shared.script();
        script.waker = Some(cx.waker().clone());
        let reply = script.reply.take();
        let wake_self = script.wake_self;
        drop(script);
        if wake_self {
            cx.waker().wake_by_ref();
        }
        match reply {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl<T, E> Drop for Probe<T, E> {
    fn drop(&mut self) {
        self.shared.drops.fetch_add(1, SeqCst);
    }
}

impl<T, E> Clone for Handle<T, E> {
    fn clone(&self) -> Self {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, E> Handle<T, E> {
    /// How many times the probe was polled.
    pub fn polls(&self) -> usize {
        self.shared.polls.load(SeqCst)
    }

    /// How many times the probe was dropped (0 or 1, unless something is badly wrong).
    pub fn drops(&self) -> usize {
        self.shared.drops.load(SeqCst)
    }

    /// The next poll returns `Ready(Ok(value))`.
    pub fn succeed(&self, value: T) {
        self.shared.script().reply = Some(Ok(value));
    }

    /// The next poll returns `Ready(Err(error))`.
    pub fn fail(&self, error: E) {
        self.shared.script().reply = Some(Err(error));
    }

    /// Whether every later poll wakes its own waker before returning.
    pub fn wake_self_on_poll(&self, on: bool) {
        self.shared.script().wake_self = on;
    }

    /// Runs `hook` at the start of every later poll.
    pub fn on_poll(&self, hook: impl FnMut() + Send + 'static) {
        self.shared.script().on_poll = Some(Box::new(hook));
    }

    /// A clone of the waker of the last poll.
    ///
    /// # Panics
    /// If the probe was never polled.
    pub fn waker(&self) -> Waker {
        self.shared
            .script()
            .waker
            .clone()
            .expect("the probe was never polled, so it has no waker")
    }

    /// Wakes the waker of the last poll (by reference; the handle keeps it).
    ///
    /// # Panics
    /// If the probe was never polled.
    pub fn wake(&self) {
        self.shared
            .script()
            .waker
            .as_ref()
            .expect("the probe was never polled, so it has no waker")
            .wake_by_ref();
    }
}

/// Counts the drops of the [`Counted`] values it tags.
#[derive(Clone, Default)]
pub struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps `value` so that its drop is counted here.
    pub fn tag<T>(&self, value: T) -> Counted<T> {
        Counted {
            value,
            count: Arc::clone(&self.0),
        }
    }

    /// How many tagged values were dropped so far.
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// A value whose drop is counted by the [`DropCount`] that tagged it.
#[derive(Debug)]
pub struct Counted<T> {
    pub value: T,
    count: Arc<AtomicUsize>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.count.fetch_add(1, SeqCst);
    }
}

/// The waker of the task that polls the group: counts its wakes.
pub struct Parent {
    counter: Arc<WakeCounter>,
    waker: Waker,
}

struct WakeCounter(AtomicUsize);

impl ArcWake for WakeCounter {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, SeqCst);
    }
}

impl Parent {
    pub fn new() -> Self {
        let counter = Arc::new(WakeCounter(AtomicUsize::new(0)));
        let waker = futures::task::waker(Arc::clone(&counter));
        Parent { counter, waker }
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// How many times the waker (or a clone of it) was woken.
    pub fn wakes(&self) -> usize {
        self.counter.0.load(SeqCst)
    }

    /// A reading of [`Parent::wakes`] that can be taken from anywhere (a child's poll hook).
    pub fn wakes_reader(&self) -> impl Fn() -> usize + Send + 'static {
        let counter = Arc::clone(&self.counter);
        move || counter.0.load(SeqCst)
    }

    /// Polls `future` once with this waker.
    pub fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(&self.waker))
    }
}

impl Default for Parent {
    fn default() -> Self {
        Self::new()
    }
}

/// The value of a `Ready` poll.
///
/// # Panics
/// If the poll was `Pending`.
#[track_caller]
pub fn expect_ready<T>(poll: Poll<T>) -> T {
    match poll {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("expected the group to be Ready, it was Pending"),
    }
}

/// Wakes itself and returns `Pending` this many times, then is ready: a child that yields to
/// the executor.
pub struct Yield(pub usize);

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
