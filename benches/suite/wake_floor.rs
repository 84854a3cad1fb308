//! The floor with wakers: the cheapest join of up to 64 children we could write that gives each
//! child a counted waker of its own (usable from any thread, keeping the shared state alive with
//! a reference count, as `Arc`-based wakers do) and polls only the children that were woken.
//! Like the floor it is not a peer. It is written for the chain workload, where every child
//! keeps its waker and a sibling wakes it: it measures what a link costs in any design with such
//! wakers, however little bookkeeping it does, and so where a target asks for less than that.
//!
//! One allocation per group holds a ready word, a reference count, a `polling` flag and the
//! parent's `AtomicWaker`. Child `i`'s waker points `i` bytes past the allocation, which is
//! aligned to 64, so no memory is read to know whose waker it is. Per link it does what no
//! design with counted wakers can skip: the kept waker's clone (count up), the wake (`fetch_or`
//! into the ready word), the woken waker's drop (count down) and the poll taking the word
//! (`swap`). A wake that finds the word empty while the group is polling leaves the parent
//! alone: the end of the poll reads the word again with a read-modify-write (the protocol of
//! `taskgroup`'s wake set, one level deep). The parent is registered only when the group is
//! about to return `Pending`.
//!
//! It sets nothing aside for children past the 64th, for errors, for panics or for a child that
//! is woken after it finished, beyond skipping it: what `taskgroup` also handles is not part of
//! the bound.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64};
use std::task::{RawWaker, RawWakerVTable};

use futures::task::AtomicWaker;

use super::*;

/// The state the wakers of one group share (see the module docs).
#[repr(C, align(64))]
struct Shared {
    /// Children woken since the poll last took the word.
    ready: AtomicU64,
    /// One for the group, one for each waker clone.
    refs: AtomicUsize,
    /// The group is polling: it reads `ready` again before it returns.
    polling: AtomicBool,
    parent: AtomicWaker,
}

/// The state and child index behind a waker's data pointer.
///
/// # Safety
///
/// `data` must be a data pointer made by [`WakeFloor`]'s poll (or copied by [`clone`]), and the
/// reference it stands for (the group's while the group lends a borrowed waker, or the clone's
/// own) must still be held.
unsafe fn shared(data: *const ()) -> (NonNull<Shared>, u32) {
    let index = (data as usize % 64) as u32;
    // SAFETY: the pointer is the state's address plus an index below 64 (derived from the
    // allocation's own pointer, so it may reach all of it), and the state is aligned to 64, so
    // stepping back by the index gives the state; the caller holds a reference, so it is alive.
    let state = unsafe { NonNull::new_unchecked(data.cast::<u8>().sub(index as usize).cast_mut()) };
    (state.cast(), index)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the caller clones a waker it holds (the vtable contract), so the state is alive.
    let state = unsafe { shared(data).0.as_ref() };
    if state.refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
        std::process::abort();
    }
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: the caller gives up the waker it holds, which is alive until `drop_waker` here.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the caller holds the waker (the vtable contract), so the state is alive.
    let (state, index) = unsafe { shared(data) };
    // SAFETY: as above.
    let state = unsafe { state.as_ref() };
    if state.ready.fetch_or(1 << index, Ordering::AcqRel) == 0
        && !state.polling.load(Ordering::Acquire)
    {
        state.parent.wake();
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the caller drops a waker it holds (the vtable contract), so the state is alive
    // until the count below says otherwise.
    let state = unsafe { shared(data).0 };
    // SAFETY: as above; the reference is not used after the count is given up.
    if unsafe { state.as_ref() }
        .refs
        .fetch_sub(1, Ordering::Release)
        == 1
    {
        fence(Ordering::Acquire);
        // SAFETY: this was the last reference, so nothing else can reach the state.
        unsafe { release(state) };
    }
}

/// Drops and frees the state.
///
/// # Safety
///
/// `state` came from [`WakeFloor::state`] and no reference to it is left.
unsafe fn release(state: NonNull<Shared>) {
    // SAFETY: the state was written by `WakeFloor::state` into an allocation of this layout, and
    // nothing refers to it any more.
    unsafe {
        std::ptr::drop_in_place(state.as_ptr());
        dealloc(state.as_ptr().cast(), Layout::new::<Shared>());
    }
}

/// The floor with wakers over `children` (at most 64), writing their outputs into `outputs`.
/// `Ready(true)` once every child returned `Ok`, `Ready(false)` at an `Err`.
pub struct WakeFloor<'s, 'a> {
    children: &'s mut [Child<'a, Fallible>],
    outputs: &'s mut [u64],
    /// Children that finished.
    done: u64,
    left: usize,
    state: Option<NonNull<Shared>>,
}

impl<'s, 'a> WakeFloor<'s, 'a> {
    pub fn new(children: &'s mut [Child<'a, Fallible>], outputs: &'s mut [u64]) -> Self {
        assert!(
            children.len() <= 64,
            "the floor with wakers takes at most 64 children"
        );
        assert_eq!(children.len(), outputs.len());
        WakeFloor {
            left: children.len(),
            children,
            outputs,
            done: 0,
            state: None,
        }
    }

    /// The shared state, made at the first poll with every child due.
    fn state(&mut self) -> NonNull<Shared> {
        *self.state.get_or_insert_with(|| {
            let layout = Layout::new::<Shared>();
            // SAFETY: `Shared` is not zero-sized.
            let state = NonNull::new(unsafe { alloc(layout) }.cast::<Shared>())
                .unwrap_or_else(|| handle_alloc_error(layout));
            let all = u64::MAX >> (64 - self.children.len());
            // SAFETY: freshly allocated for this layout.
            unsafe {
                state.as_ptr().write(Shared {
                    ready: AtomicU64::new(all),
                    refs: AtomicUsize::new(1),
                    polling: AtomicBool::new(false),
                    parent: AtomicWaker::new(),
                })
            };
            state
        })
    }
}

impl Future for WakeFloor<'_, '_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(true);
        }
        let raw = this.state();
        // SAFETY: the group holds a reference to the state until it is dropped, and this one is
        // used only during this poll.
        let state = unsafe { raw.as_ref() };
        state.polling.store(true, Ordering::Relaxed);
        loop {
            let mut due = state.ready.swap(0, Ordering::AcqRel) & !this.done;
            if due == 0 {
                state.parent.register(cx.waker());
                state.polling.store(false, Ordering::Release);
                if state.ready.fetch_or(0, Ordering::AcqRel) & !this.done == 0 {
                    return Poll::Pending;
                }
                state.polling.store(true, Ordering::Relaxed);
                continue;
            }
            while due != 0 {
                let index = due.trailing_zeros() as usize;
                due &= due - 1;
                // From the allocation's own pointer, so that a clone may free it through this one.
                let data = raw.as_ptr().cast::<u8>().wrapping_add(index);
                // SAFETY: the data pointer is the state plus an index below 64, as `shared`
                // expects, and the waker is only lent for this poll, while the group holds its
                // reference; `ManuallyDrop` keeps it from giving that reference up.
                let waker = ManuallyDrop::new(unsafe {
                    Waker::from_raw(RawWaker::new(data.cast(), &VTABLE))
                });
                let mut child_cx = Context::from_waker(&waker);
                match Pin::new(&mut this.children[index]).poll(&mut child_cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(value)) => {
                        this.outputs[index] = value;
                        this.done |= 1 << index;
                        this.left -= 1;
                        if this.left == 0 {
                            return Poll::Ready(true);
                        }
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                }
            }
        }
    }
}

impl Drop for WakeFloor<'_, '_> {
    fn drop(&mut self) {
        if let Some(state) = self.state {
            // SAFETY: the group gives up the reference it holds; a waker data pointer with index
            // 0 is the state's own address.
            unsafe { drop_waker(state.as_ptr().cast()) };
        }
    }
}

/// The floor with wakers with children and outputs in `Vec`s.
#[inline]
pub fn vec(env: &Env) -> Option<Vec<u64>> {
    let mut children = env.vec::<Fallible>();
    let mut outputs = vec![0; children.len()];
    let all_ok = env.drive(WakeFloor::new(&mut children, &mut outputs))?;
    all_ok.then_some(outputs)
}

/// The floor with wakers with children and outputs in arrays.
#[inline]
pub fn array<const N: usize>(env: &Env) -> Option<[u64; N]> {
    let mut children = env.array::<Fallible, N>();
    let mut outputs = [0; N];
    let all_ok = env.drive(WakeFloor::new(&mut children, &mut outputs))?;
    // Inline: the group, the children and the outputs.
    env.size
        .set(env.size.get() + std::mem::size_of_val(&children) + std::mem::size_of_val(&outputs));
    all_ok.then_some(outputs)
}
