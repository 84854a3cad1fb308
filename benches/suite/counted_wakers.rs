//! Counted wakers for the floors with wakers ([`wake_floor`](super::wake_floor) and
//! [`cross_wake_floor`](super::cross_wake_floor)): the least a join does to give each child a
//! waker of its own that works from any thread, with the shared state kept alive by a reference
//! count, as `Arc`-based wakers do. Like the floors they serve, they are not a peer.
//!
//! One allocation per group holds a reference count, the parent's `AtomicWaker`, a `polling`
//! flag and one ready bit per child. It is aligned
//! to at least the number of children (and is at least as large), and child `i`'s waker points
//! `i` bytes past it, so no memory is read to know whose waker it is; the alignment's exponent
//! selects the vtable. Per wake a waker does what no such join can skip: a `fetch_or` into the
//! ready bits, whose previous value decides whether to wake the parent. A clone counts up and
//! a drop counts down.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64};
use std::task::{RawWaker, RawWakerVTable};

use futures::task::AtomicWaker;

use super::*;

/// When a wake wakes the group's parent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// At the last child's wake only: the cross-thread floor knows that it means every child
    /// is woken.
    Last,
    /// As a join does: a wake that makes its word non-empty while the group is not polling.
    Prompt,
}

/// The head of the allocation; the ready words follow it.
#[repr(C)]
pub struct Header {
    /// One for the group, one for each waker clone.
    refs: AtomicUsize,
    pub parent: AtomicWaker,
    /// Set while a prompt group polls: the end of its poll reads the bits again, so a wake
    /// leaves the parent alone.
    pub polling: AtomicBool,
    pub wait: Wait,
    /// The child whose wake is the last of the cross-thread helper's loop.
    pub last: usize,
    words: usize,
    layout: Layout,
}

/// Bytes from the start of the allocation to the first ready word.
const WORDS_AT: usize = std::mem::size_of::<Header>().next_multiple_of(8);

/// The ready words of the allocation at `header`.
///
/// # Safety
///
/// `header` must be alive, made by [`Counted::new`].
unsafe fn ready<'h>(header: NonNull<Header>) -> &'h [AtomicU64] {
    // SAFETY: the allocation holds `words` initialised `AtomicU64`s at `WORDS_AT`, aligned to 8.
    unsafe {
        let words = header.as_ref().words;
        std::slice::from_raw_parts(header.as_ptr().cast::<u8>().add(WORDS_AT).cast(), words)
    }
}

/// The header and the child index behind a waker's data pointer in an allocation aligned to
/// `2^K` bytes.
///
/// # Safety
///
/// `data` must come from [`Counted::waker`] (or a clone of its waker) for an allocation aligned
/// to `2^K`, and the reference it stands for must still be held.
unsafe fn from_data<const K: u32>(data: *const ()) -> (NonNull<Header>, usize) {
    let low = (1usize << K) - 1;
    let header = data
        .map_addr(|addr| addr & !low)
        .cast::<Header>()
        .cast_mut();
    // SAFETY: the allocation starts at the data pointer with its low `K` bits cleared, and it
    // is alive while the caller holds its reference.
    (unsafe { NonNull::new_unchecked(header) }, data.addr() & low)
}

/// The vtable of wakers whose allocation is aligned to `2^K` bytes.
struct Vtable<const K: u32>;

impl<const K: u32> Vtable<K> {
    const VTABLE: &'static RawWakerVTable =
        &RawWakerVTable::new(clone::<K>, wake::<K>, wake_by_ref::<K>, drop_waker::<K>);
}

/// The vtable for an allocation aligned to `2^shift` bytes: the alignments the suite's sizes
/// give (64 bytes up to 64 children, then the size itself).
fn vtable(shift: u32) -> &'static RawWakerVTable {
    match shift {
        6 => Vtable::<6>::VTABLE,
        10 => Vtable::<10>::VTABLE,
        14 => Vtable::<14>::VTABLE,
        17 => Vtable::<17>::VTABLE,
        _ => panic!("the counted wakers have no vtable for 2^{shift} bytes"),
    }
}

unsafe fn clone<const K: u32>(data: *const ()) -> RawWaker {
    // SAFETY: the caller clones a waker it holds (the vtable contract), so the state is alive.
    let header = unsafe { from_data::<K>(data).0.as_ref() };
    if header.refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
        std::process::abort();
    }
    RawWaker::new(data, Vtable::<K>::VTABLE)
}

unsafe fn wake<const K: u32>(data: *const ()) {
    // SAFETY: the caller gives up the waker it holds, which is alive until `drop_waker` here.
    unsafe {
        wake_by_ref::<K>(data);
        drop_waker::<K>(data);
    }
}

unsafe fn wake_by_ref<const K: u32>(data: *const ()) {
    // SAFETY: the caller holds the waker (the vtable contract), so the state is alive.
    let (header, index) = unsafe { from_data::<K>(data) };
    // SAFETY: as above.
    let words = unsafe { ready(header) };
    let previous = words[index / 64].fetch_or(1 << (index % 64), Ordering::AcqRel);
    // SAFETY: as above.
    let header = unsafe { header.as_ref() };
    let wake_parent = match header.wait {
        // The waiting floor knows that the last wake is the one to wait for, but keeps the
        // previous value, so that the operation stays the one a join needs (on x86 a
        // `lock cmpxchg` loop rather than a `lock or`).
        Wait::Last => {
            black_box(previous);
            index == header.last
        }
        // The `fetch_or` orders the flag's load after a poll's end, as in `taskgroup`.
        Wait::Prompt => previous == 0 && !header.polling.load(Ordering::Relaxed),
    };
    if wake_parent {
        header.parent.wake();
    }
}

unsafe fn drop_waker<const K: u32>(data: *const ()) {
    // SAFETY: the caller drops a waker it holds (the vtable contract), and gives up its
    // reference here.
    unsafe { give_up(from_data::<K>(data).0) }
}

/// Gives up one reference; the last one drops and frees the state.
///
/// # Safety
///
/// `header` came from [`Counted::new`], the caller holds a reference and does not use it after
/// this call.
unsafe fn give_up(header: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the state alive until the count is given up.
    if unsafe { header.as_ref() }
        .refs
        .fetch_sub(1, Ordering::Release)
        != 1
    {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: that was the last reference, so nothing else can reach the state; the header was
    // written into an allocation of the recorded layout, and the words need no drop.
    unsafe {
        let layout = header.as_ref().layout;
        std::ptr::drop_in_place(header.as_ptr());
        dealloc(header.as_ptr().cast(), layout);
    }
}

/// A group's handle on its counted wakers: owns the group's reference.
pub struct Counted {
    header: NonNull<Header>,
    vtable: &'static RawWakerVTable,
}

impl Counted {
    /// The wakers of `n` children (at least one), none woken.
    pub fn new(n: usize, wait: Wait) -> Counted {
        assert!(n > 0);
        let words = n.div_ceil(64);
        let align = n.next_power_of_two().max(64);
        // At least `n` bytes, so that the allocation plus any child index stays inside it.
        let size = (WORDS_AT + 8 * words).max(n);
        let layout = Layout::from_size_align(size, align).expect("counted wakers layout");
        // SAFETY: the layout is not zero-sized.
        let header = NonNull::new(unsafe { alloc(layout) }.cast::<Header>())
            .unwrap_or_else(|| handle_alloc_error(layout));
        // SAFETY: a fresh allocation of `layout`: the header at its start (aligned, as the
        // allocation is aligned to at least 64), then `words` `AtomicU64`s at `WORDS_AT`,
        // aligned to 8 and in bounds by the size above; all written before any reference.
        unsafe {
            header.as_ptr().write(Header {
                refs: AtomicUsize::new(1),
                parent: AtomicWaker::new(),
                polling: AtomicBool::new(false),
                wait,
                last: n - 1,
                words,
                layout,
            });
            let first = header
                .as_ptr()
                .cast::<u8>()
                .add(WORDS_AT)
                .cast::<AtomicU64>();
            for w in 0..words {
                first.add(w).write(AtomicU64::new(0));
            }
        }
        Counted {
            header,
            vtable: vtable(align.trailing_zeros()),
        }
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the group holds its reference until `self` is dropped.
        unsafe { self.header.as_ref() }
    }

    /// The ready words, which wakers set: child `i` is bit `i % 64` of word `i / 64`.
    pub fn ready(&self) -> &[AtomicU64] {
        // SAFETY: as in `header`.
        unsafe { ready(self.header) }
    }

    /// Child `index`'s waker, lent for one poll while the group holds its reference.
    pub fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        // From the allocation's own pointer, so that a clone may free it through this one.
        let data = self.header.as_ptr().cast::<u8>().wrapping_add(index);
        // SAFETY: the data pointer is the allocation plus an index below its alignment, as
        // `from_data` expects with this vtable; `ManuallyDrop` keeps the lent waker from giving
        // up the group's reference.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data.cast(), self.vtable)) })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // SAFETY: the group holds its reference until here, and gives it up exactly once, after
        // dropping the parent's waker (a waker still held elsewhere wakes nobody).
        unsafe {
            drop(self.header.as_ref().parent.take());
            give_up(self.header);
        }
    }
}
