//! The cross-thread floor with wakers: the cross-thread floor ([`floor`](super::floor)), but every
//! child gets a counted waker of its own, as in any join whose wakers work from any thread. Like
//! the floor it is not a peer, and like the floor it knows the workload: the helper wakes the
//! children in index order, so it waits for the last child's wake only and then polls every
//! child once. What it adds to the floor is exactly what such wakers cannot skip, per child: the
//! clone the helper keeps (a count up, on the bench thread), the wake (a `fetch_or` into the
//! ready bits whose previous value is kept, as a join's wake needs it to decide whether to wake
//! the parent) and the woken waker's drop (a count down, on the helper), plus one `swap` per 64
//! children to take the bits. It tells how far any prompt join with counted wakers is from the
//! floor in this workload, and so where the 2× target asks for less than that.
//!
//! Its **prompt** form ([`Wait::Prompt`]) wakes its parent as a join must that does not know
//! which wake is the last: a wake that makes its word non-empty while the group is not polling
//! wakes the parent, and each poll takes and polls what was woken, then returns `Pending` until
//! the next wake. It still uses the workload to find the woken children (the helper wakes in
//! index order, so they are in the lowest unfinished word), where a join needs a summary of the
//! words. It tells what a prompt join with counted wakers pays in this workload: the wakers and
//! the parent's wakes and hand-offs between the two threads.
//!
//! One allocation per group holds a reference count, the parent's `AtomicWaker`, the index of the
//! last child and one ready bit per child. It is aligned to at least the number of children (and
//! at least as large), and child `i`'s waker points `i` bytes past it, so no memory is read to
//! know whose waker it is; the alignment's exponent selects the vtable.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64};
use std::task::{RawWaker, RawWakerVTable};

use futures::task::AtomicWaker;

use super::*;

/// How the floor waits for the helper's wakes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// For the last wake only: the floor knows it means every child is woken.
    Last,
    /// As a join does: any wake that finds nothing pending outside a poll wakes the parent.
    Prompt,
}

/// The head of the allocation; `words` ready words follow it.
#[repr(C)]
struct Header {
    /// One for the group, one for each waker clone.
    refs: AtomicUsize,
    parent: AtomicWaker,
    /// Set while a prompt floor polls: its end reads the bits again, so a wake leaves the
    /// parent alone.
    polling: AtomicBool,
    wait: Wait,
    /// The child whose wake is the last of the helper's loop.
    last: usize,
    words: usize,
    layout: Layout,
}

/// Bytes from the start of the allocation to the first ready word.
const WORDS_AT: usize = std::mem::size_of::<Header>().next_multiple_of(8);

/// The ready words of the allocation at `header`.
///
/// # Safety
///
/// `header` must be alive, made by [`CrossWakeFloor::new`].
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
/// `data` must come from [`CrossWakeFloor`]'s poll (or a clone of its waker) for an allocation
/// aligned to `2^K`, and the reference it stands for must still be held.
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
        _ => panic!("the cross-thread floor with wakers has no vtable for 2^{shift} bytes"),
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
/// `header` came from [`CrossWakeFloor::new`], the caller holds a reference and does not use
/// it after this call.
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
    // written into an allocation of the recorded layout, and the ready words need no drop.
    unsafe {
        let layout = header.as_ref().layout;
        std::ptr::drop_in_place(header.as_ptr());
        dealloc(header.as_ptr().cast(), layout);
    }
}

/// The cross-thread floor with wakers over `children`, writing their outputs into `outputs`.
struct CrossWakeFloor<'s, 'a> {
    children: &'s mut [Child<'a, Fallible>],
    outputs: &'s mut [u64],
    header: NonNull<Header>,
    vtable: &'static RawWakerVTable,
    started: bool,
    /// The lowest word with a child not finished (the prompt form's cursor).
    word: usize,
    /// Children finished in that word.
    done: u64,
}

impl<'s, 'a> CrossWakeFloor<'s, 'a> {
    fn new(children: &'s mut [Child<'a, Fallible>], outputs: &'s mut [u64], wait: Wait) -> Self {
        let n = children.len();
        assert!(n > 0 && n == outputs.len());
        let words = n.div_ceil(64);
        let align = n.next_power_of_two().max(64);
        // At least `n` bytes, so that the allocation plus any child index stays inside it.
        let size = (WORDS_AT + 8 * words).max(n);
        let layout = Layout::from_size_align(size, align).expect("cross wake floor layout");
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
        CrossWakeFloor {
            children,
            outputs,
            header,
            vtable: vtable(align.trailing_zeros()),
            started: false,
            word: 0,
            done: 0,
        }
    }

    /// Polls child `index`, which was woken: the helper set its flag before the wake.
    fn finish(&mut self, index: usize) {
        let waker = self.waker(index);
        match Pin::new(&mut self.children[index]).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(value)) => self.outputs[index] = value,
            _ => unreachable!("the helper sets a child's flag before its wake"),
        }
    }

    /// The prompt form's poll after the first: takes the cursor's word and polls the children it
    /// names, moving on while words complete; at a word that yields nothing, ends the poll and
    /// reads the word again (a wake during the poll left the parent alone).
    fn poll_prompt(&mut self, header: &Header, words: &[AtomicU64]) -> Poll<()> {
        header.polling.store(true, Ordering::Relaxed);
        loop {
            let n = self.children.len();
            let full = if self.word + 1 == words.len() && n % 64 != 0 {
                (1u64 << (n % 64)) - 1
            } else {
                u64::MAX
            };
            let mut bits = words[self.word].swap(0, Ordering::AcqRel);
            if bits == 0 {
                header.polling.store(false, Ordering::Relaxed);
                // The wakes to come go into this word first (index order): a wake whose
                // `fetch_or` follows this one sees the flag clear and wakes the parent.
                if words[self.word].fetch_or(0, Ordering::AcqRel) == 0 {
                    return Poll::Pending;
                }
                header.polling.store(true, Ordering::Relaxed);
                continue;
            }
            self.done |= bits;
            while bits != 0 {
                let index = self.word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.finish(index);
            }
            if self.done == full {
                self.done = 0;
                self.word += 1;
                if self.word == words.len() {
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Child `index`'s waker, lent for one poll while the group holds its reference.
    fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        // From the allocation's own pointer, so that a clone may free it through this one.
        let data = self.header.as_ptr().cast::<u8>().wrapping_add(index);
        // SAFETY: the data pointer is the allocation plus an index below its alignment, as
        // `from_data` expects with this vtable; `ManuallyDrop` keeps the lent waker from giving
        // up the group's reference.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data.cast(), self.vtable)) })
    }
}

impl Future for CrossWakeFloor<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // SAFETY: the group holds its reference until it is dropped.
        let (header, words) = unsafe { (this.header.as_ref(), ready(this.header)) };
        let last = header.last;
        header.parent.register(cx.waker());
        if !this.started {
            this.started = true;
            for index in 0..this.children.len() {
                let waker = this.waker(index);
                // Registers with the helper, which keeps a clone.
                let _ = Pin::new(&mut this.children[index]).poll(&mut Context::from_waker(&waker));
            }
        }
        if header.wait == Wait::Prompt {
            return this.poll_prompt(header, words);
        }
        if words[last / 64].load(Ordering::Acquire) & 1 << (last % 64) == 0 {
            return Poll::Pending;
        }
        // The helper wakes in index order: every bit is set. Take them as a join would, and
        // poll the children they name.
        for (w, word) in words.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::AcqRel);
            while bits != 0 {
                let index = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                this.finish(index);
            }
        }
        Poll::Ready(())
    }
}

impl Drop for CrossWakeFloor<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the group holds its reference until here, and gives it up exactly once, after
        // dropping the parent's waker (a waker the helper still holds wakes nobody).
        unsafe {
            drop(self.header.as_ref().parent.take());
            give_up(self.header);
        }
    }
}

/// The cross-thread floor with wakers that waits as `wait` says, with children and outputs in
/// `Vec`s.
#[inline]
pub fn vec(env: &Env, wait: Wait) -> Option<Vec<u64>> {
    let mut children = env.vec::<Fallible>();
    let mut outputs = vec![0; children.len()];
    env.drive(CrossWakeFloor::new(&mut children, &mut outputs, wait))?;
    Some(outputs)
}
