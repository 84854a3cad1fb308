//! Per-child wakers and the ready set: all of the crate's waker `unsafe` lives here.
//!
//! # The design
//!
//! A group of `n` children owns at most one heap allocation, the [`WakeSet`], made the first time
//! a child clones its waker, or, in a group wider than one bitset word (64 children on 64-bit
//! targets), when a sweep must book self-wakes one by one (see [`LazySweep`]). Children that
//! finish without waiting, or that all wake themselves, never cause it:
//!
//! ```text
//! [ Header | poll epochs (u8 each) | live bits | next bits | taken bits ]
//! ```
//!
//! * The allocation is aligned to `2^k` bytes, the smallest power of two that is at least `n`
//!   (and `Header`'s alignment). Child `i`'s waker is a [`RawWaker`] whose data pointer is the
//!   header's address plus `i` bytes, and whose vtable is the one made for `k` (one static
//!   vtable per `k`). So the waker's functions find the header by clearing the pointer's low
//!   `k` bits and the index in those bits: no memory is read to know whose waker it is. (The
//!   index used to be stored in a `u32` slot per child, which cost 4 bytes per child and, in a
//!   large group, a cache miss at every wake.) Cloning a child waker bumps the header's
//!   reference count, which has a cache line of its own (see [`Header`]); no waker ever
//!   allocates. The poller-only epochs sit where the slots were, so the words that wakers
//!   write stay off the header's cache lines, as before.
//! * The **live bits** form a hierarchical bitset: level 0 has one bit per child, level `k + 1`
//!   one bit per word of level `k`, up to a top level of one word. Waking child `i` sets its bit
//!   and, only when that word was empty, the summary bit above it, and so on; only a waker that
//!   set a bit in an empty top word wakes the group's own (parent) waker. Every wake is `O(levels)`
//!   atomic operations (`levels = ceil(log64 n)`, 3 for a quarter of a million children) and a
//!   repeated wake of an already queued child stops after one `fetch_or`. In a set of more than
//!   one level, a waker that made a leaf word non-empty first tries to name that word in the
//!   header's **woken slot** instead of climbing: one compare-and-swap in place of the climb
//!   (see "The woken slot" below).
//! * The **next bits** have the same shape as the live bits, and only the poller writes them:
//!   they hold the children due at the next poll of the group, never in a later round of the
//!   current one.
//! * The **poll epochs** say in which poll of the group each child was last polled (modulo 255:
//!   a child last polled exactly 255 polls ago looks polled, which only delays it by one poll);
//!   a child woken again after the round that took it (by a sibling, by another thread or by
//!   itself) is moved to the next bits when a later round takes it, instead of being polled
//!   twice. Only the poller reads or writes them. A wake that lands between the round's
//!   snapshot and the child's turn in it is served by that turn and once more at the next
//!   poll: the engine does not read the child's live word before polling it to forget such a
//!   wake, because in a large group woken from another thread that word is the one the other
//!   thread is writing, and the read cost each child a cache miss (BENCHMARKS.md, "What
//!   changed"). A set of one level (at most [`BITS`] children) keeps no epochs: the poller
//!   holds the children polled in the current poll as one word in its handle
//!   ([`WakeSet`]'s `polled`), and a round masks them out; the epoch bytes stay in its
//!   allocation, unused, to keep every child's waker pointer inside it.
//! * The **taken bits** are the poller's private copy, same shape as the live bits. At the start of
//!   a sweep the poller swaps the live words it can reach from the top down to zero and ORs them
//!   into the taken bits: that is the snapshot of "children woken before the sweep began". The
//!   sweep then visits the taken bits in index order. A poll of the group starts by taking the
//!   next and live bits, and after each sweep takes the live bits again for another round of
//!   the same poll, until a round polls nobody. Between polls the taken bits may already hold
//!   children: those a lazy sweep booked for the next poll (see [`LazySweep`]), and the rest of
//!   a sweep cut short by a panic; the next poll visits them with its snapshot.
//!
//! Every wake goes to the live bits, a self-wake too: a waker reads nothing that the poller
//! writes per child. Wakes used to tell a self-wake by the child the group was polling, named
//! in the header, and send it to the next bits directly. That read cost a wake from another
//! thread a cache miss whenever the poller had polled a child since: cross-thread wakes of
//! 16384 children took 26–33 ns each in a harness outside the suite, and 16–17 without the
//! read (BENCHMARKS.md, "What changed"). A self-wake now costs its child one more round of the
//! poll (the round takes it and moves it to the next bits), which no poll serving only
//! siblings' and other threads' wakes pays.
//!
//! Only the owner of the [`WakeSet`] (the group, through `&mut`) touches the taken and next bits
//! and the epochs; wakers touch only the live bits and the woken slot, and use the parent
//! [`AtomicWaker`] and the reference count. The poller's own words are atomics used with
//! `Relaxed` loads and stores (and the swaps that take the next bits as they take the live
//! ones), which costs the same as plain memory on the targets we care about and keeps the code
//! free of `UnsafeCell` aliasing arguments.
//!
//! # Why the protocol never loses a wake
//!
//! Invariant: for every word `w` of level `k < top`, if `w` is non-zero then either its summary
//! bit in level `k + 1` is set, or the waker that made `w` non-zero is on its way to set it, or a
//! poller has swapped that summary bit and is about to swap `w`, or (a leaf word) the woken slot
//! names it. A waker that finds a word already
//! non-zero stops climbing: whoever made it non-zero climbs (and finally wakes the parent). All bit
//! operations are `AcqRel` read-modify-writes, so a poller that swaps a summary word synchronises
//! with every waker whose `fetch_or` it consumed, and therefore sees their lower-level bits when
//! it swaps the lower word. The poller registers the parent waker *before* taking the snapshot, so
//! a wake that climbs to the top after the snapshot wakes the waker of the current poll.
//!
//! # Wakes during a poll
//!
//! While the group is polled, a waker that climbs to an empty top word does not wake the parent:
//! the poll takes the live bits again in its next round, and a wake it leaves behind (a child
//! moved to the next bits, or a wake that lands after the last round) is announced by the end
//! of the poll, which clears the header's `polling` flag and wakes the parent if either top word
//! is non-empty. This saves an `AtomicWaker` wake (two read-modify-writes, and a clone of the
//! parent waker at the next registration) for every wake a poll serves itself: each link of a
//! chain of children waking one another, for instance.
//!
//! The waker's last step up is an `AcqRel` `fetch_or` on the live top word, then it loads the
//! flag. The end of the poll stores `false` to the flag, then reads the live top word with an
//! `AcqRel` read-modify-write (`fetch_or(0)`), not a load (the next bits' top word, which only
//! the poller writes, it loads). Two read-modify-writes of one word are
//! ordered, each reading the other's result or the one before it: if the poll's comes second,
//! it sees the waker's bit (or a round of the poll took it before, and served the child); if
//! the waker's comes second, it reads from the poll's, which is a release, so the store of
//! `false` happens before the waker's load of the flag, and the waker wakes the parent itself
//! (possibly both, which costs a spurious wake). So neither side needs a `SeqCst` fence: the
//! waker pays nothing for the flag beyond one load, and the poll one uncontended
//! read-modify-write (two in a set with a woken slot, below). The `loom` model
//! `loom_wakes_during_a_poll_are_announced_by_its_end` checks it, and every other model runs
//! its sweeps through the same poll guard; with the poll's read-modify-writes (the live top
//! word's and the woken slot's) turned into `Acquire` loads, eight of the eleven models fail.
//!
//! # Wakes during a lazy sweep
//!
//! A lazy sweep ([`LazySweep`]) that makes the set in the group's first poll (a child cloned its
//! waker) polls it from that moment on: the set is born with the `polling` flag set, and
//! nothing is registered. Wakes of the set's wakers during the rest of the sweep (a sibling
//! waking a child polled before it, or a scoped thread) leave the parent alone, like wakes
//! during a poll of the set. The sweep's end then does what a poll's end does, and one thing
//! more: it clears the flag and reads the top words as a poll's end does; if they hold
//! work, it wakes the parent *by reference* and registers nothing, because the next poll is
//! coming anyway and registers at its start; only if they are empty does it register the
//! parent, then read the top words again the same way (a waker that climbed between the two
//! reads found no waker; the second read sees its bit, and a waker that climbs after it reads
//! from it, so it sees the registration). A sweep that booked work skips the reads: it only
//! clears the flag, and wakes the parent by reference.
//!
//! Before, making the set registered the parent (a clone of its waker), the first sibling wake
//! took that waker out of the `AtomicWaker` and woke it, and the next poll registered it again.
//! A chain of eight children now finishes in two polls with one registration instead of two
//! and no `AtomicWaker` wake. The models `loom_wakes_during_a_lazy_sweep_are_announced_by_its_end`
//! and `loom_a_lazy_sweep_with_work_booked_loses_no_wake` check it; without the second read
//! (or without the registration) the first fails.
//!
//! A poll that completes or fails the group skips its end ([`Polling::finishing`]): the group
//! lets go of the set right after, and nobody is left to wake.
//!
//! # The woken slot
//!
//! A wake through the live bits costs one `fetch_or` per level it climbs, and the snapshot that
//! takes it one `swap` per level it descends: a chain of children waking one another, one wake
//! per round, paid six read-modify-writes per link at 16384 children against two at 64. So a
//! set of more than one level keeps one more word in the header. A waker
//! whose `fetch_or` made a live leaf word non-empty names that word there, by a compare-and-swap
//! from [`EMPTY`], instead of climbing; if the slot is full, it climbs as before. A waker that
//! filled the slot wakes the parent unless the group is being polled, as one that set a bit in
//! an empty top word does: the slot is a second top word. Wakers that find the leaf word
//! non-empty stop, as always: the slot makes the word reachable.
//!
//! Only the poller empties the slot: it loads it with `Acquire` and stores [`EMPTY`] (no waker
//! writes a full slot, so nothing lands between the two), then swaps the named leaf word out
//! of the live bits, which acquires every waker that set a bit in it. A poll's first snapshot
//! adds those bits to the taken bits; a later round that finds the slot full and the live top
//! word clear (a plain load: a bit set after it is taken by a later round or announced by the
//! poll's end) hands the word straight to the cursor. So a chain's link costs a `fetch_or`, a
//! compare-and-swap and a `swap` whatever the set's size. The end of a poll, and of a lazy
//! sweep, reads the slot with a `fetch_or(0)` as it reads the top words, for the same reason as
//! there: the waker's compare-and-swap is its last step before it loads the `polling` flag. A
//! one-level set never fills its slot: there a wake is one `fetch_or` already. With the end
//! reading the slot with a load instead, five of the eleven models fail
//! (`loom_a_wake_in_the_slot_during_a_poll_is_announced_by_its_end` among them); five fail if
//! a waker that filled the slot does not wake the parent.
//!
//! The slot names a word, not a child, so that a wake's first step stays the leaf `fetch_or`
//! it always was. A slot that named the child, tried before that `fetch_or`, cost a link one
//! compare-and-swap and the poll one `swap`, with no leaf word touched, and made chain over
//! 16384 children cost 1.17× chain over 64 (this form: 1.24–1.46× in alternating rounds).
//! But cross-thread wakes of 16384 and 131072 children read 6–90% slower in every
//! alternating pair of benchmarks, even with the attempt allowed only after eight rounds in a
//! row of one wake each, and when an instrumented build counted no fill at all; the same build
//! with the attempt compiled out did not (BENCHMARKS.md). The cause was not found.
//!
//! # Checking it
//!
//! The `loom` models at the end of this file check both protocols over the interleavings of a
//! poll with racing wakes (`RUSTFLAGS="--cfg taskgroup_loom" cargo test --release --lib loom`;
//! the cfg has the crate's name so that dependencies with `loom` support of their own stay as
//! they are). Under `loom` the parent's waker cell is loom's model of an `AtomicWaker`, so that
//! the models interleave other threads with its registration and its wakes. Every interleaving
//! takes longer than CI can wait (an unbounded run did not finish in fifteen minutes on two
//! cores), so CI bounds the preemptions per execution
//! (`LOOM_MAX_PREEMPTIONS=4`: 24 s for the eleven models here, on another machine with CI
//! running beside; on the Intel machine of BENCHMARKS.md, 22 s for the twelve there were since
//! a wake no longer reads which child the group is polling, 76–114 s before that, 9 s before
//! the woken slot added its steps to a wake), which still fails eight models for the mutation
//! above.
//! The cross-thread tests exercise the protocols under real threads and Miri.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop, MaybeUninit};
use core::ops::Deref;
use core::ptr::NonNull;
#[cfg(not(taskgroup_loom))]
use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use core::task::{RawWaker, RawWakerVTable, Waker};
#[cfg(taskgroup_loom)]
use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use alloc::alloc::{alloc, dealloc, handle_alloc_error};
#[cfg(not(taskgroup_loom))]
use futures_util::task::AtomicWaker;
#[cfg(taskgroup_loom)]
use loom_parent::AtomicWaker;

/// A lazy waker's wake flag ([`LazySweep`]): a core atomic even under `loom`, whose models do
/// not cover lazy sweeps (only the child's own poll and the poller touch a flag, in turn).
type Flag = core::sync::atomic::AtomicBool;

/// The wake flags of a lazy sweep over at most [`FEW`] children, one bit per child: a core
/// atomic for the same reason as [`Flag`].
type Flags = core::sync::atomic::AtomicUsize;

/// Up to this many children, a lazy sweep keeps its wake flags as the bits of one word
/// ([`LazySweep`]).
const FEW: usize = 8;

/// Under `loom`, the parent's waker cell is loom's model of an `AtomicWaker`, so that the models
/// interleave other threads with its registration and its wakes (futures-util's uses atomics
/// loom does not see). The same three calls as futures-util's.
#[cfg(taskgroup_loom)]
mod loom_parent {
    use core::task::Waker;

    pub(super) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(super) fn new() -> Self {
            AtomicWaker(loom::future::AtomicWaker::new())
        }

        pub(super) fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }

        pub(super) fn wake(&self) {
            self.0.wake();
        }

        pub(super) fn take(&self) -> Option<Waker> {
            self.0.take_waker()
        }
    }
}

/// Bits per word of the ready set.
pub(crate) const BITS: usize = usize::BITS as usize;

/// The most levels a ready set can need: `BITS^MAX_LEVELS` exceeds `u32::MAX` children.
const MAX_LEVELS: usize = 8;

/// The woken slot ([`Header::woken`]) names no leaf word.
const EMPTY: usize = usize::MAX;

/// The largest alignment exponent of a [`WakeSet`] allocation: one child waker vtable exists per
/// exponent up to this one (see [`VTABLES`]).
const MAX_SHIFT: u32 = 31;

/// The most children one [`WakeSet`] can index: their indices must fit below the allocation's
/// alignment, at most `2^MAX_SHIFT`.
pub(crate) const MAX_CHILDREN: usize = 1 << MAX_SHIFT;

/// Bytes in a cache line (64 on the machines we measure; a larger line only shares more).
const LINE: usize = 64;

/// Shared state at the start of the allocation: the state the poller writes and wakers read
/// ([`Shared`]), then the reference count on a cache line of its own.
///
/// A wake from another thread gives up its waker, a decrement of the count, while the poller
/// writes the poll epochs, which follow the header, at every child it polls, and the header's
/// other fields at every poll. With the count on a line the poller writes, each such wake waits
/// for the line to come back from the poller. When the count shared the header's first line
/// with a field the poller wrote at every child, `perf` put 83–87% of the waker's samples on the
/// decrement in cross-thread over a `Vec` of 16384; with the count unpadded at the header's end,
/// next to the epochs, a harness's cross-thread wakes took 30 ns each against 16–17 with this
/// layout (BENCHMARKS.md, "What changed"). The padding keeps the header's alignment at a
/// word's, so a small set stays an ordinary allocation; the count has a line of its own
/// whenever the set is aligned to a line (more than 32 children).
#[repr(C)]
struct Header {
    shared: Shared,
    _before_refs: [MaybeUninit<u8>; REFS_PAD],
    /// Number of owners: the group's [`WakeSet`] counts one, each live cloned child waker one.
    /// Whoever decrements it to zero frees the allocation.
    refs: AtomicUsize,
    _after_refs: [MaybeUninit<u8>; LINE - size_of::<AtomicUsize>()],
}

/// Padding from the end of [`Shared`] to the next cache line.
const REFS_PAD: usize = size_of::<Shared>().next_multiple_of(LINE) - size_of::<Shared>();

// The count starts a line of the header and nothing else shares that line.
const _: () =
    assert!(core::mem::offset_of!(Header, refs) % LINE == 0 && size_of::<Header>() % LINE == 0);

/// The header's fields other than the reference count ([`Header`]).
///
/// Everything in it is either immutable after construction or an atomic, so `&Header` may be
/// formed from any thread that holds a reference count.
#[repr(C)]
struct Shared {
    /// The waker of the task that polls the group. Registered at the start of every poll of the
    /// set, and at the end of a lazy sweep that leaves nothing behind (module docs, "Wakes
    /// during a lazy sweep"); taken and woken by the child wake that makes the ready set
    /// non-empty; taken and dropped when the group lets go of the set, so a late child wake is
    /// a no-op for the task.
    parent: AtomicWaker,
    /// The woken slot: in a set of more than one level, a leaf word of the live bits that a
    /// waker made non-empty without setting the summary bits above it, or [`EMPTY`] (module
    /// docs, "The woken slot"). Filled by a waker's compare-and-swap, emptied only by the
    /// poller.
    woken: AtomicUsize,
    /// Set while the group is being polled (from [`WakeSet::poll`] to the end of the returned
    /// [`Polling`], or by a lazy sweep from the set's making to the sweep's end). A waker that
    /// climbs to an empty top word while it is set leaves the parent alone: the poll takes the
    /// live bits again before it ends, and checks both top words after clearing this flag
    /// (module docs, "Wakes during a poll").
    polling: AtomicBool,
    /// Number of the group's current poll (never 0), touched only by the poller: a child
    /// whose epoch equals it was polled in this poll already. Counts 1..=255 and wraps.
    epoch: AtomicU8,
    /// Number of children.
    len: usize,
    /// Where everything else sits in the allocation; immutable.
    plan: Plan,
}

/// The fields of [`Shared`] read as the header's own (`h.woken`, `h.plan`).
impl Deref for Header {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Word counts and offsets for a set of `len` children.
#[derive(Clone, Copy)]
struct Plan {
    /// Number of bitset levels in use (at least one).
    levels: usize,
    /// For each level, the index of its first word in the live (and taken) word arrays. Level 0
    /// (one bit per child) comes first, so the word of child `i` is word `i / BITS` of the array.
    level_start: [usize; MAX_LEVELS],
    /// Total words over all levels (the length of each word array).
    words: usize,
    /// Byte offset of the live words from the start of the allocation.
    live_offset: usize,
    /// Byte offset of the next-poll words (poller only) from the start of the allocation.
    next_offset: usize,
    /// Byte offset of the taken words from the start of the allocation.
    taken_offset: usize,
    /// Byte offset of the per-child poll epochs (`u8` each, poller only).
    epochs_offset: usize,
    /// The layout the allocation was made with, to free it. Its alignment, `2^k`, is at least
    /// `len`: child `i`'s waker data pointer is the header's address plus `i`, and its vtable
    /// is `VTABLES[k]` ([`Plan::shift`]).
    layout: Layout,
}

impl Plan {
    fn new(len: usize) -> Plan {
        assert!(
            len <= MAX_CHILDREN,
            "taskgroup: a group holds at most {MAX_CHILDREN} children, got {len}"
        );
        let mut level_start = [0; MAX_LEVELS];
        let mut words = 0;
        let mut levels = 0;
        let mut width = len.max(1);
        loop {
            let level_words = width.div_ceil(BITS);
            level_start[levels] = words;
            words += level_words;
            levels += 1;
            if level_words == 1 {
                break;
            }
            width = level_words;
        }
        let bits = Layout::array::<AtomicUsize>(words).expect("bitset layout overflows");
        let layout = Layout::new::<Header>();
        // At least `len`, so that every index fits in the low bits of an aligned address.
        let align = len.next_power_of_two().max(layout.align());
        let epochs = Layout::array::<AtomicU8>(len).expect("epoch layout overflows");
        let (layout, epochs_offset) = layout.extend(epochs).expect("wake set layout overflows");
        let (layout, live_offset) = layout.extend(bits).expect("wake set layout overflows");
        let (layout, next_offset) = layout.extend(bits).expect("wake set layout overflows");
        let (layout, taken_offset) = layout.extend(bits).expect("wake set layout overflows");
        let layout = layout.align_to(align).expect("wake set layout overflows");
        // The epochs alone take `len` bytes after the header, so the address of the header plus
        // any index stays inside the allocation.
        debug_assert!(layout.size() > len);
        Plan {
            levels,
            level_start,
            words,
            live_offset,
            next_offset,
            taken_offset,
            epochs_offset,
            layout,
        }
    }

    /// `k` for an allocation aligned to `2^k` bytes: the index of its child wakers' vtable.
    fn shift(&self) -> u32 {
        self.layout.align().trailing_zeros()
    }
}

/// The group's handle on the shared wake state of its children.
///
/// Owning a `WakeSet` is owning one reference count of the allocation. Dropping it takes the
/// parent waker out (so late child wakes wake nobody) and releases that count.
pub(crate) struct WakeSet {
    header: NonNull<Header>,
    /// The leaf word of the snapshot being visited, moved out of the taken bits by
    /// [`WakeSet::next_taken`] so that visiting its children costs no memory traffic: the
    /// children `cursor_base + bit` for each set bit. Poller-private, like the taken bits.
    cursor_base: usize,
    cursor_bits: usize,
    /// The taken bits are known to be all clear: a round's snapshot went straight into the
    /// cursor, so once the cursor is used up the round is, without a look at the taken bits.
    /// Poller-private.
    taken_clear: bool,
    /// A round after the poll's first is under way: a child whose leaf word enters the cursor
    /// may have been polled in this poll already ([`WakeSet::defer_polled`]). Poller-private.
    later_round: bool,
    /// The set has one level (at most [`BITS`] children): its live, next and taken bits are one
    /// word each, and it keeps the children polled in the current poll in `polled` instead of
    /// the poll epochs. Immutable.
    one_level: bool,
    /// In a set of one level, the children polled in the current poll, one bit each: what the
    /// poll epochs tell in a wider set, kept here where the poller's other words are, for a
    /// mask in place of a byte load per child. Poller-private.
    polled: usize,
}

// SAFETY: the allocation is only reached through `&Header` (atomics, an `AtomicWaker`, which is
// `Send + Sync`, and immutable sizes) and through the word arrays, which are atomics. The
// reference count makes the memory outlive every handle, whichever thread drops last.
unsafe impl Send for WakeSet {}
// SAFETY: as for `Send`: every shared access goes through atomics.
unsafe impl Sync for WakeSet {}

impl WakeSet {
    /// The handle of an existing allocation whose count this handle owns.
    fn from_header(header: NonNull<Header>) -> WakeSet {
        // SAFETY: the caller hands over a count of a live, initialised allocation.
        let levels = unsafe { header.as_ref() }.plan.levels;
        WakeSet {
            header,
            cursor_base: 0,
            cursor_bits: 0,
            taken_clear: false,
            later_round: false,
            one_level: levels == 1,
            polled: 0,
        }
    }

    /// Allocates the wake state for `len` children, with no child marked ready.
    ///
    /// # Panics
    /// If `len` exceeds [`MAX_CHILDREN`].
    pub(crate) fn new(len: usize) -> WakeSet {
        let plan = Plan::new(len);
        // SAFETY: the layout has a non-zero size (it contains the header).
        let base = unsafe { alloc(plan.layout) };
        let Some(base) = NonNull::new(base) else {
            handle_alloc_error(plan.layout)
        };
        let header = base.cast::<Header>();
        // SAFETY: `base` is a fresh allocation of `plan.layout`, which starts with a `Header` at
        // offset 0 (aligned, since the layout's alignment is at least `Header`'s), followed by
        // `len` `AtomicU8`s and three arrays of `plan.words` `AtomicUsize`s at the recorded
        // offsets, each in bounds and aligned by `Layout::extend`. We initialise every one of
        // them before any reference to them is formed. The header is written field by field
        // through raw pointers (no reference to the uninitialised header is made); its padding
        // fields are `MaybeUninit` and may stay uninitialised.
        unsafe {
            let at = header.as_ptr();
            (&raw mut (*at).shared).write(Shared {
                parent: AtomicWaker::new(),
                woken: AtomicUsize::new(EMPTY),
                polling: AtomicBool::new(false),
                epoch: AtomicU8::new(0),
                len,
                plan,
            });
            (&raw mut (*at).refs).write(AtomicUsize::new(1));
            for offset in [plan.live_offset, plan.next_offset, plan.taken_offset] {
                let words = base.as_ptr().add(offset).cast::<AtomicUsize>();
                for w in 0..plan.words {
                    words.add(w).write(AtomicUsize::new(0));
                }
            }
            let epochs = base.as_ptr().add(plan.epochs_offset).cast::<AtomicU8>();
            for i in 0..len {
                epochs.add(i).write(AtomicU8::new(0));
            }
        }
        WakeSet::from_header(header)
    }

    fn header(&self) -> &Header {
        // SAFETY: we own a reference count, so the header is initialised and alive; it is only
        // ever accessed through shared references after construction.
        unsafe { self.header.as_ref() }
    }

    /// Number of children this set was made for.
    pub(crate) fn len(&self) -> usize {
        self.header().len
    }

    fn live(&self) -> &[AtomicUsize] {
        // SAFETY: see `words`.
        unsafe { words(self.header, self.header().plan.live_offset) }
    }

    fn next_poll(&self) -> &[AtomicUsize] {
        // SAFETY: see `words`.
        unsafe { words(self.header, self.header().plan.next_offset) }
    }

    fn taken(&self) -> &[AtomicUsize] {
        // SAFETY: see `words`.
        unsafe { words(self.header, self.header().plan.taken_offset) }
    }

    fn epochs(&self) -> &[AtomicU8] {
        let h = self.header();
        // SAFETY: `epochs_offset` starts an initialised, aligned array of `len` `AtomicU8`s
        // inside the allocation, alive while we hold our count (and borrowed from `self`).
        unsafe {
            core::slice::from_raw_parts(
                self.header
                    .as_ptr()
                    .cast::<u8>()
                    .add(h.plan.epochs_offset)
                    .cast(),
                h.len,
            )
        }
    }

    /// Registers the waker of the task polling the group. Call before [`WakeSet::begin_poll`].
    pub(crate) fn register(&self, parent: &Waker) {
        self.header().parent.register(parent);
    }

    /// Marks the set as polled by a lazy sweep ([`LazySweep`]), which ends that poll itself
    /// ([`WakeSet::end_lazy_poll`], or [`WakeSet::end_poll_with_work`]). Nothing is registered:
    /// until the sweep ends, its wakes leave the parent alone.
    fn begin_lazy_poll(&self) {
        self.header().polling.store(true, Ordering::Relaxed);
    }

    /// Starts a poll of the group: a new epoch (in a set of one level, no child polled yet), and
    /// a snapshot of every child woken so far (live and next-poll bits) into the taken bits.
    /// Cost: `O(levels)` per woken child.
    pub(crate) fn begin_poll(&mut self) {
        self.restore_cursor();
        self.taken_clear = false;
        self.later_round = false;
        self.polled = 0;
        let h = self.header();
        // Before the snapshot, so that a wake the snapshot misses either sees the flag and is
        // caught by `end_poll`, or does not and wakes the parent. Either is correct, so the
        // store needs no ordering of its own: `end_poll` orders the flag's clearing, which is
        // what a skipped wake relies on.
        h.polling.store(true, Ordering::Relaxed);
        if !self.one_level {
            let epoch = h.epoch.load(Ordering::Relaxed).wrapping_add(1).max(1);
            h.epoch.store(epoch, Ordering::Relaxed);
        }
        let top = h.plan.levels - 1;
        self.take_word(self.next_poll(), top, 0);
        self.take_word(self.live(), top, 0);
        if let Some((word, bits)) = self.take_slot() {
            self.add_taken(0, word, bits);
        }
    }

    /// Empties the woken slot and swaps the leaf word it names out of the live bits: that word
    /// and its bits, if the slot was full and the word still holds a child (the poll of a child
    /// may have forgotten its wake since). A plain load first: the slot is empty in most rounds,
    /// and a wake that fills it after the load is seen by a later round or by the poll's end,
    /// which reads the slot with a read-modify-write.
    #[inline]
    fn take_slot(&self) -> Option<(usize, usize)> {
        let woken = &self.header().woken;
        let word = woken.load(Ordering::Acquire);
        if word == EMPTY {
            return None;
        }
        // A plain store empties it: wakers only fill an empty slot, and only the poller empties
        // it, so nobody writes it between the load and the store. The leaf word's swap acquires
        // the writes of every waker that set a bit in it and stopped there, finding it
        // non-empty; the load those of the filler.
        woken.store(EMPTY, Ordering::Relaxed);
        let bits = self.live()[word].swap(0, Ordering::AcqRel);
        (bits != 0).then_some((word, bits))
    }

    /// Starts a poll of the group ([`WakeSet::begin_poll`]) and returns the set, which ends the
    /// poll when dropped, also when a child's poll panics (see [`Polling`]).
    #[inline]
    pub(crate) fn poll(&mut self) -> Polling<'_> {
        self.begin_poll();
        Polling {
            set: self,
            finishing: false,
        }
    }

    /// Ends a poll: clears the polling flag, then wakes the parent if a wake that skipped it
    /// left work behind (a child in the live or the next bits).
    ///
    /// The live top word is read with a release read-modify-write after the store to the flag,
    /// not with a load: a waker whose `fetch_or` on it comes after this one in that word's order
    /// reads from it, so it sees the flag clear and wakes the parent itself; one whose
    /// `fetch_or` comes before is seen here (module docs, "Wakes during a poll"). The woken slot
    /// is read the same way; the next bits, which only the poller writes, with a load.
    pub(crate) fn end_poll(&self) {
        let h = self.header();
        h.polling.store(false, Ordering::Relaxed);
        if self.any_top() {
            h.parent.wake();
        }
    }

    /// Ends a lazy sweep's poll of the set ([`WakeSet::begin_lazy_poll`]) by the task whose
    /// waker is `parent`: clears the polling flag and tells whether a wake that skipped the
    /// parent left work behind, for the caller to wake `parent` by reference. Only if nothing is
    /// left is `parent` registered, for the wakes to come (module docs, "Wakes during a lazy
    /// sweep").
    ///
    /// The top words are read as in [`WakeSet::end_poll`]. When nothing is left, the parent is
    /// registered and the top words are read again the same way: a waker that climbed between
    /// the two reads found no waker registered, and the second read sees its bit; one that
    /// climbs after it reads from it, so it sees the registration.
    pub(crate) fn end_lazy_poll(&self, parent: &Waker) -> bool {
        let h = self.header();
        h.polling.store(false, Ordering::Relaxed);
        if self.any_top() {
            return true;
        }
        h.parent.register(parent);
        self.any_top()
    }

    /// Ends a lazy sweep's poll after which the group is polled again in any case (its task is
    /// woken by reference for work the sweep booked): clears the polling flag and nothing
    /// more. Until that next poll takes the live bits, a wake may find no waker registered,
    /// which loses nothing: the next poll's snapshot sees its bit.
    fn end_poll_with_work(&self) {
        self.header().polling.store(false, Ordering::Relaxed);
    }

    /// Reads the live top word, and in a set of more than one level the woken slot, with
    /// read-modify-writes ([`WakeSet::end_poll`]), and the next-poll top word, which only the
    /// poller writes, with a load: is any child marked in the live or the next bits?
    fn any_top(&self) -> bool {
        let h = self.header();
        let top = h.plan.level_start[h.plan.levels - 1];
        self.next_poll()[top].load(Ordering::Relaxed) != 0
            || self.live()[top].fetch_or(0, Ordering::AcqRel) != 0
            // `fetch_or(0)` leaves any value, `EMPTY` included, as it is. A one-level set never
            // fills its slot ([`mark`]).
            || (h.plan.levels > 1 && h.woken.fetch_or(0, Ordering::AcqRel) != EMPTY)
    }

    /// Takes the children woken (by others than themselves) since the last snapshot into the
    /// taken bits, for another round of the same poll; `true` if it took any.
    ///
    /// The snapshot is used up when a round starts, so the taken bits are all clear. While the
    /// live words on the way down hold one bit each (one woken leaf word: the common case of a
    /// round), that leaf word goes straight into the cursor and the taken bits stay untouched;
    /// at the first word with more bits, the rest is taken into the taken bits as in a poll's
    /// first snapshot, with the summary bits above it set.
    pub(crate) fn snapshot_live(&mut self) -> bool {
        debug_assert_eq!(
            self.cursor_bits, 0,
            "a round starts once the snapshot is used up"
        );
        self.later_round = true;
        if self.one_level {
            // One word, no summaries, and a slot that is never filled ([`mark`]): the loop below
            // in one step, without reading the plan.
            let bits = self.live()[0].swap(0, Ordering::AcqRel);
            if bits == 0 {
                return false;
            }
            self.cursor_base = 0;
            self.cursor_bits = self.defer_polled(0, bits);
            self.taken_clear = true;
            return true;
        }
        let h = self.header();
        let live = self.live();
        let mut level = h.plan.levels - 1;
        debug_assert_eq!(
            self.taken()[h.plan.level_start[level]].load(Ordering::Relaxed),
            0,
            "a round starts with the taken bits clear"
        );
        if let Some((leaf, bits)) = self.take_slot() {
            // The common round of a wide set: a sibling's wake left its leaf word in the slot.
            // A plain load of the live top word: a bit set after it is taken by a later round
            // or announced by the poll's end.
            if live[h.plan.level_start[level]].load(Ordering::Relaxed) == 0 {
                self.cursor_base = leaf * BITS;
                self.cursor_bits = self.defer_polled(leaf, bits);
                self.taken_clear = true;
                return true;
            }
            self.take_word(live, level, 0);
            self.add_taken(0, leaf, bits);
            self.taken_clear = false;
            return true;
        }
        let mut word = 0;
        loop {
            let at = h.plan.level_start[level] + word;
            let bits = live[at].swap(0, Ordering::AcqRel);
            if bits == 0 {
                // Nothing woken (a summary bit over an empty word yields nothing).
                return false;
            }
            if level == 0 {
                self.cursor_base = word * BITS;
                self.cursor_bits = self.defer_polled(word, bits);
                self.taken_clear = true;
                return true;
            }
            if bits & (bits - 1) == 0 {
                word = word * BITS + bits.trailing_zeros() as usize;
                level -= 1;
                continue;
            }
            let kept = self.take_below(live, level, word, bits);
            if kept == 0 {
                return false;
            }
            self.add_taken(level, word, kept);
            self.taken_clear = false;
            return true;
        }
    }

    /// Takes the words below the set `bits` of summary word `word` at `level > 0` (swapped out
    /// of `source` by the caller), each with [`WakeSet::take_word`]; returns the bits whose word
    /// yielded a child.
    fn take_below(&self, source: &[AtomicUsize], level: usize, word: usize, bits: usize) -> usize {
        let mut kept = bits;
        let mut rest = bits;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if !self.take_word(source, level - 1, word * BITS + bit) {
                kept &= !(1 << bit);
            }
        }
        kept
    }

    /// Swaps one word of `source` to zero and moves what it covered into the taken bits; `true`
    /// if it took any child. A summary bit is taken only if the word below it yielded a child,
    /// so every taken summary bit has a non-empty taken word below it.
    fn take_word(&self, source: &[AtomicUsize], level: usize, word: usize) -> bool {
        let h = self.header();
        let at = h.plan.level_start[level] + word;
        let bits = source[at].swap(0, Ordering::AcqRel);
        let kept = if level > 0 {
            self.take_below(source, level, word, bits)
        } else {
            bits
        };
        if kept == 0 {
            return false;
        }
        let taken = &self.taken()[at];
        taken.store(taken.load(Ordering::Relaxed) | kept, Ordering::Relaxed);
        true
    }

    /// Before polling child `index` (returned by [`WakeSet::next_taken`]) in the current poll:
    /// records the poll, so that a later round moves a new wake of the child to the next poll.
    /// A wake the child got since the round's snapshot stays in the live bits (module docs).
    #[inline]
    pub(crate) fn begin_child(&mut self, index: usize) {
        if self.one_level {
            self.polled |= 1 << index;
            return;
        }
        let now = self.header().epoch.load(Ordering::Relaxed);
        self.epochs()[index].store(now, Ordering::Relaxed);
    }

    /// In a round after the poll's first, moves the children of `bits` (leaf word `word`) that
    /// this poll polled already to the next-poll bits, and returns the others: a child woken
    /// after its poll, by a sibling, another thread or itself, is due at the next poll, not
    /// again in this one. In the first round no child can have been polled in this poll yet.
    /// One byte load per child, and nothing more per child moved: a child that wakes itself at
    /// every poll costs the round no visit of its own.
    ///
    /// The common case, nobody polled yet, is a loop of branches with no data flowing out of
    /// it, so the poll of the first child need not wait for the epochs' loads (a chain's next
    /// link is a cache miss away in a large group).
    #[inline]
    fn defer_polled(&self, word: usize, bits: usize) -> usize {
        if !self.later_round {
            return bits;
        }
        if self.one_level {
            // No loads at all: the poll's own mask ([`WakeSet::polled`]).
            let polled = bits & self.polled;
            if polled != 0 {
                self.add_bits(self.next_poll(), 0, word, polled);
            }
            return bits & !polled;
        }
        let now = self.header().epoch.load(Ordering::Relaxed);
        let epochs = &self.epochs()[word * BITS..];
        let mut rest = bits;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            if epochs[bit].load(Ordering::Relaxed) == now {
                return self.defer_polled_from(word, bits, rest, now);
            }
            rest &= rest - 1;
        }
        bits
    }

    /// The rest of [`WakeSet::defer_polled`] once it met a polled child: `rest` holds that
    /// child's bit and every higher bit still to check; `now` is the poll's epoch.
    fn defer_polled_from(&self, word: usize, bits: usize, mut rest: usize, now: u8) -> usize {
        let epochs = &self.epochs()[word * BITS..];
        let mut polled = 0;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            polled |= usize::from(epochs[bit].load(Ordering::Relaxed) == now) << bit;
        }
        self.add_bits(self.next_poll(), 0, word, polled);
        bits & !polled
    }

    /// Removes and returns the lowest taken child index, or `None` when the snapshot is used up.
    ///
    /// Children come one leaf word at a time: the lowest non-empty taken leaf word moves into the
    /// cursor (its summary bits cleared as it empties), and its children are handed out from
    /// there; in a round after the poll's first, those this poll polled already go to the next
    /// poll instead ([`WakeSet::defer_polled`]). If polling a returned child panics, the rest of
    /// the cursor goes back into the taken bits at the next [`WakeSet::begin_poll`], so the
    /// remaining snapshot is served then.
    #[inline]
    pub(crate) fn next_taken(&mut self) -> Option<usize> {
        while self.cursor_bits == 0 {
            if self.taken_clear || !self.load_cursor() {
                return None;
            }
        }
        let bit = self.cursor_bits.trailing_zeros() as usize;
        self.cursor_bits &= self.cursor_bits - 1;
        Some(self.cursor_base + bit)
    }

    /// Moves the lowest non-empty taken leaf word into the cursor; `false` if there is none.
    fn load_cursor(&mut self) -> bool {
        let h = self.header();
        let taken = self.taken();
        let levels = h.plan.levels;
        // Walk down the summaries, always into the lowest set bit, to a leaf word.
        let mut word = 0;
        for level in (1..levels).rev() {
            let bits = taken[h.plan.level_start[level] + word].load(Ordering::Relaxed);
            if bits == 0 {
                debug_assert_eq!(level, levels - 1, "summary bit set over an empty word");
                return false;
            }
            word = word * BITS + bits.trailing_zeros() as usize;
        }
        let bits = taken[word].swap(0, Ordering::Relaxed);
        if bits == 0 {
            debug_assert_eq!(levels, 1, "summary bit set over an empty word");
            return false;
        }
        // The leaf word is now empty: clear its summary bit, and upwards while words empty.
        let mut at = word;
        for level in 1..levels {
            let cell = &taken[h.plan.level_start[level] + at / BITS];
            let left = cell.load(Ordering::Relaxed) & !(1 << (at % BITS));
            cell.store(left, Ordering::Relaxed);
            if left != 0 {
                break;
            }
            at /= BITS;
        }
        self.cursor_base = word * BITS;
        self.cursor_bits = self.defer_polled(word, bits);
        true
    }

    /// Puts children left in the cursor (a sweep cut short by a panic) back into the taken bits,
    /// with their summary bits.
    fn restore_cursor(&mut self) {
        let bits = core::mem::take(&mut self.cursor_bits);
        if bits == 0 {
            return;
        }
        self.add_taken(0, self.cursor_base / BITS, bits);
    }

    /// ORs `bits` into taken word `word` (its index within `level`) and sets the summary bits
    /// above it, climbing only while the words it adds to were empty.
    fn add_taken(&self, level: usize, word: usize, bits: usize) {
        self.add_bits(self.taken(), level, word, bits);
    }

    /// [`WakeSet::add_taken`] for either of the poller's own hierarchies, the taken or the
    /// next-poll bits: plain loads and stores, since no waker touches them.
    #[inline]
    fn add_bits(&self, words: &[AtomicUsize], level: usize, word: usize, bits: usize) {
        let h = self.header();
        let cell = &words[h.plan.level_start[level] + word];
        let before = cell.load(Ordering::Relaxed);
        cell.store(before | bits, Ordering::Relaxed);
        if before == 0 {
            self.add_summary(words, level, word);
        }
    }

    /// The climb of [`WakeSet::add_bits`] once word `word` of `level` went from empty to
    /// non-empty: sets its summary bit, and so on up while the words it adds to were empty. Out
    /// of line: most additions land in a word that was already reachable.
    #[inline(never)]
    fn add_summary(&self, words: &[AtomicUsize], level: usize, mut word: usize) {
        let h = self.header();
        for level in level + 1..h.plan.levels {
            // Each level up holds one bit per word of the level below.
            let add = 1 << (word % BITS);
            word /= BITS;
            let cell = &words[h.plan.level_start[level] + word];
            let before = cell.load(Ordering::Relaxed);
            cell.store(before | add, Ordering::Relaxed);
            if before != 0 {
                // The word was already reachable: its summary bits are set.
                break;
            }
        }
    }

    /// Starts a poll and returns its whole snapshot, for tests.
    #[cfg(test)]
    pub(crate) fn drain(&mut self) -> alloc::vec::Vec<usize> {
        let mut poll = self.poll();
        core::iter::from_fn(|| poll.next_taken()).collect()
    }

    /// How many children the snapshot still holds: `O(len / BITS)`, for the failure path.
    pub(crate) fn taken_len(&self) -> usize {
        let leaf_words = self.len().div_ceil(BITS);
        self.taken()[..leaf_words]
            .iter()
            .map(|word| word.load(Ordering::Relaxed).count_ones() as usize)
            .sum::<usize>()
            + self.cursor_bits.count_ones() as usize
    }

    /// Does the snapshot hold any child outside the cursor (children booked for the next poll by
    /// a lazy sweep, or left by a sweep cut short)?
    fn any_taken(&self) -> bool {
        let h = self.header();
        self.taken()[h.plan.level_start[h.plan.levels - 1]].load(Ordering::Relaxed) != 0
    }

    /// Is any child marked in the live bits? (Used by tests and debug assertions.)
    #[cfg(all(test, not(taskgroup_loom)))]
    pub(crate) fn any_live(&self) -> bool {
        let h = self.header();
        self.live()[h.plan.level_start[h.plan.levels - 1]].load(Ordering::Acquire) != 0
    }

    /// The waker of child `index`, borrowed from `self`: it uses the set's own reference count,
    /// so making one costs no atomic operation. Cloning it yields an owned waker that keeps the
    /// allocation alive on its own.
    ///
    /// # Panics
    /// If `index` is not below [`WakeSet::len`].
    #[inline]
    pub(crate) fn waker(&self, index: usize) -> ChildWaker<'_> {
        assert!(index < self.len(), "child index out of range");
        // SAFETY: we own a count of the allocation and `index < len`.
        let raw = unsafe { child_waker(self.header, index) };
        // SAFETY: `child_waker` upholds the `RawWaker` contract for a live allocation. The `Waker`
        // is wrapped in `ManuallyDrop`, so it borrows our reference count instead of releasing
        // one it never took, and `ChildWaker` borrows `self`, so it cannot be used after the set
        // lets go of its count.
        let waker = unsafe { Waker::from_raw(raw) };
        ChildWaker {
            waker: ManuallyDrop::new(waker),
            _set: PhantomData,
        }
    }
}

/// A [`WakeSet`] in the middle of a poll of its group, from [`WakeSet::poll`]. Dropping it ends
/// the poll ([`WakeSet::end_poll`]), unless the poll is `finishing`.
pub(crate) struct Polling<'a> {
    set: &'a mut WakeSet,
    /// Set by the engine when the group completes or fails in this poll: it lets go of the set
    /// right after, so the poll's end need not read the bits. A panic leaves it clear, and the
    /// poll ends as usual.
    pub(crate) finishing: bool,
}

impl Deref for Polling<'_> {
    type Target = WakeSet;

    #[inline]
    fn deref(&self) -> &WakeSet {
        self.set
    }
}

impl core::ops::DerefMut for Polling<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut WakeSet {
        self.set
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if !self.finishing {
            self.set.end_poll();
        }
    }
}

/// A child's waker lent out by [`WakeSet::waker`] for as long as the set is borrowed.
pub(crate) struct ChildWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _set: PhantomData<&'a WakeSet>,
}

impl Deref for ChildWaker<'_> {
    type Target = Waker;

    fn deref(&self) -> &Waker {
        &self.waker
    }
}

/// A sweep made while the group has no [`WakeSet`]: it allocates one only if a child needs it.
///
/// Every child polled in a lazy sweep gets a *lazy* waker whose data pointer is this struct (on
/// the poller's stack) and whose vtable is [`LAZY_VTABLE`]. A lazy waker is only ever lent out
/// as `&Waker` for the duration of one child's poll, and `current` names that child.
///
/// * Cloning a lazy waker allocates the set (once; racing clones from scoped threads agree
///   through a compare-and-swap) and returns a real child waker of it, so no lazy waker ever
///   outlives the poll that lent it.
/// * Waking a lazy waker can only come from inside the child's own poll (from the poller's
///   thread, or from a scoped thread the child joins before it returns), so it is always a wake
///   of the current child, due at the group's next poll. It only sets the child's flag (a byte
///   of `flags`, indexed by `current`, or a bit, below): no read-modify-write.
/// * In a group of at most [`BITS`] children every child has a flag of its own, and nothing is
///   booked per child: the end of the sweep packs the flags into a word, eight at a time. A
///   child that only ever wakes itself (a yield) costs no allocation.
/// * In a group of at most [`FEW`] children the flags are the bits of one word, `woke`, which
///   a wake sets with a plain load and store, not a read-modify-write: every thread that can
///   wake during one child's poll sets that child's bit, and the poller writes the word only
///   between polls, so no store undoes another. The end of the sweep reads the word as it was
///   stored. With bytes it reads eight at once, and right after a child's one-byte store such a
///   load waits until the store completes (a failed store forward): yield over a `Vec` of one
///   reads about 13% faster with the word (BENCHMARKS.md). Larger groups keep the bytes: with
///   the word for every group, yield over arrays of 64 and a `Vec` of 1024 read 4% and 7%
///   slower (medians of 5 alternating pairs).
/// * Before either, one flag served the current child, and the poller read, cleared and booked
///   it after every poll; a flag per child made yield over the 8-tuple and arrays of 8 and 64
///   14–27% faster (BENCHMARKS.md).
/// * In a wider group the poller reads and clears the current child's flag after its poll
///   ([`LazySweep::end_child`]), booking a wake straight into the set's taken bits, which the
///   poller alone touches and which the next poll visits with its snapshot.
///
/// The end of a sweep that booked any wake wakes the parent waker, once, by reference.
///
/// A *full* sweep visits every slot: a group's first sweep, and the sweeps after a full sweep in
/// which every child still running woke itself (see below). A later sweep of a small group
/// without a set visits the children whose flags the sweep before packed.
///
/// # Groups wider than a word whose children only wake themselves
///
/// A full sweep of more than [`BITS`] children without a set starts *dense*: a child that wakes
/// itself is only counted (by the caller, in a register), not booked. As long as every child
/// that is still running after its poll woke itself, the next sweep is a full sweep again, which
/// polls exactly those children (a finished child's slot is skipped without a poll) and needs
/// neither the set nor any booking: a wide group of children that yield allocates nothing.
///
/// * The first child that stays pending without waking itself, or that clones its lazy waker
///   (which makes the set), ends the dense mode ([`LazySweep::end_dense`]). Every child still
///   running before it woke itself, so if any did, the whole range before it is booked into the
///   set's taken bits (finished slots among them are skipped by the next poll), and from there
///   on the sweep books each self-wake as usual. No child is ever polled without having been
///   woken, and children that wait without waking themselves (the usual case) end the dense
///   mode at the first of them without making the set.
/// * A dense sweep in which fewer than a quarter of the slots woke themselves makes the next
///   full sweep book its children into the set instead of counting them, so a long tail of a
///   few yielding children in a wide group does not revisit every finished slot on every poll.
/// * A dense sweep cut short by a panic books what it leaves: the children before the one that
///   panicked (the running ones among them woke themselves), those after it (still due), and
///   the one that panicked if it woke itself first. A first sweep leaves nothing: the group's
///   next poll makes its first sweep again.
///
/// When the sweep ends (or unwinds), the set, if any, goes to the group, and a small group's
/// packed flags go to the group's word of lazily woken children, or into the set's taken bits
/// if there is a set now.
/// A group whose children never touch their wakers, or only wake themselves, allocates nothing.
pub(crate) struct LazySweep<'a> {
    /// Wake flags: waking the lazy waker of child `index` sets `flags[index % BITS]`. In a group
    /// of at most [`BITS`] children each child has a flag of its own, and the flags are read
    /// once, when the sweep ends; in a wider group the poller reads and clears the current
    /// child's flag after its poll ([`LazySweep::end_child`]).
    flags: [Flag; BITS],
    /// The wake flags of a sweep over at most [`FEW`] children instead of `flags`: bit `index`.
    woke: Flags,
    /// Null until the set is allocated, then its header (owning the set's count).
    set: AtomicPtr<Header>,
    /// The child whose poll is under way.
    current: AtomicUsize,
    /// The children due in a sweep that is not full (those that woke their lazy waker in the
    /// one before); none in a full sweep, whose caller counts every child itself. Fixed for the
    /// sweep: the caller visits them in index order from a copy in a register
    /// ([`LazySweep::due`]), and a sweep cut short by a panic leaves those after `current`.
    due: usize,
    /// This sweep visits every slot.
    full: bool,
    /// This is the group's first sweep: if it is cut short, the group's next poll sweeps every
    /// child again.
    first: bool,
    /// Self-wakes are counted, not booked (module docs above). Poller-only, like `due`.
    dense: AtomicBool,
    /// What a dense sweep leaves for the next one, if it is still dense when it ends: set by
    /// [`LazySweep::end_full`] or [`LazySweep::stop`]; `None` for a sweep cut short by a panic.
    verdict: Option<FullSweep>,
    len: usize,
    parent: &'a Waker,
    /// Where the set goes when the sweep ends.
    home: &'a mut Option<WakeSet>,
    /// Where a small group's packed flags and the verdict go when the sweep ends.
    home_lazy: &'a mut LazyHome,
}

/// What a group without a wake set (or a group whose first sweep was cut short) keeps between
/// lazy sweeps.
#[derive(Debug, Default)]
pub(crate) struct LazyHome {
    /// Children (indices below [`BITS`]) that woke their lazy waker in the last sweep.
    pub(crate) woken: usize,
    /// Whether the next sweep is a full one, and how it handles self-wakes.
    pub(crate) full: FullSweep,
}

impl LazyHome {
    /// Does the next poll need a lazy sweep (rather than the set's snapshot, or nothing)?
    pub(crate) fn due(&self, has_set: bool) -> bool {
        self.full != FullSweep::No || (!has_set && self.woken != 0)
    }
}

/// Whether the next lazy sweep visits every slot, and how it treats self-wakes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FullSweep {
    /// Not a full sweep.
    #[default]
    No,
    /// Every child still running woke itself: visit every slot, counting self-wakes.
    Dense,
    /// Visit every slot and book self-wakes into the set (few woke, or a panic cut the sweep).
    Booking,
}

impl<'a> LazySweep<'a> {
    /// Starts a lazy sweep over `len` children. A full sweep (if `first`, or if the last sweep
    /// asked for one in `home_lazy`) visits every child, which the caller counts itself (nothing
    /// is due here; see [`LazySweep::is_full`]); else the sweep hands out the children in
    /// `home_lazy.woken` ([`LazySweep::due`]). `home` may already hold a set (a first sweep
    /// that a panicking child cut short made one): it is reused.
    #[inline]
    pub(crate) fn new(
        home: &'a mut Option<WakeSet>,
        home_lazy: &'a mut LazyHome,
        len: usize,
        parent: &'a Waker,
        first: bool,
    ) -> Self {
        let set = match home.take() {
            Some(set) => {
                set.begin_lazy_poll();
                ManuallyDrop::new(set).header.as_ptr()
            }
            None => core::ptr::null_mut(),
        };
        let next = core::mem::take(&mut home_lazy.full);
        let full = first || next != FullSweep::No;
        let due = if full {
            0
        } else {
            core::mem::take(&mut home_lazy.woken)
        };
        let dense = full && len > BITS && set.is_null() && next != FullSweep::Booking;
        // Only a small group books children for a later sweep outside the set (the engine
        // visits them as a small group's).
        debug_assert!(
            len <= BITS || due == 0,
            "lazily woken children in a wide group"
        );
        LazySweep {
            set: AtomicPtr::new(set),
            flags: [const { Flag::new(false) }; BITS],
            woke: Flags::new(0),
            current: AtomicUsize::new(0),
            due,
            full,
            first,
            dense: AtomicBool::new(dense),
            verdict: None,
            len,
            parent,
            home,
            home_lazy,
        }
    }

    /// Does this sweep visit every slot (the caller counting them, in index order)?
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// The end of a full sweep that ran to its end, in which `woken` children woke themselves:
    /// if the sweep is still dense, every child still running is among them, and the next sweep
    /// is a full one again (counting, unless fewer than a quarter of the slots woke).
    #[inline]
    pub(crate) fn end_full(&mut self, woken: usize) {
        self.verdict = Some(if woken == 0 {
            FullSweep::No
        } else if woken >= self.len / 4 {
            FullSweep::Dense
        } else {
            FullSweep::Booking
        });
    }

    /// The sweep stops early because the group is finishing (an error, or the winner of a race):
    /// nothing needs to be left for a next poll.
    #[inline]
    pub(crate) fn stop(&mut self) {
        self.verdict = Some(FullSweep::No);
    }

    /// The children due in a sweep that is not full, to be visited in index order (none in a
    /// full one).
    #[inline]
    pub(crate) fn due(&self) -> usize {
        self.due
    }

    /// The lazy waker of child `index`, for its poll. An `index` out of range is caught where it
    /// would matter, by a clone ([`lazy_clone`]).
    #[inline]
    pub(crate) fn waker(&self, index: usize) -> LazyWaker<'_> {
        self.current.store(index, Ordering::Relaxed);
        let data = (self as *const Self).cast::<()>();
        // SAFETY: `LAZY_VTABLE`'s functions read `data` as a `LazySweep`, which `self` is, and
        // the waker is only lent as `&Waker` while `self` is borrowed (see `LazyWaker`), so the
        // pointer stays valid for every call through it. It owns nothing (`ManuallyDrop`).
        let waker = unsafe { Waker::from_raw(RawWaker::new(data, &LAZY_VTABLE)) };
        LazyWaker {
            waker: ManuallyDrop::new(waker),
            _sweep: PhantomData,
        }
    }

    /// The set, allocated on first use (and polled by this sweep from then on).
    #[inline]
    fn get_or_make(&self) -> NonNull<Header> {
        match NonNull::new(self.set.load(Ordering::Acquire)) {
            Some(header) => header,
            None => self.make(),
        }
    }

    /// Allocates the set, polled by this sweep from now on (its wakes leave the parent alone
    /// until the sweep ends), unless a scoped thread beat us to it.
    #[cold]
    fn make(&self) -> NonNull<Header> {
        let made = WakeSet::new(self.len);
        made.begin_lazy_poll();
        let made = ManuallyDrop::new(made).header;
        match self.set.compare_exchange(
            core::ptr::null_mut(),
            made.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => made,
            Err(winner) => {
                // Another thread (a scoped thread inside this child's poll) made one first.
                drop(WakeSet::from_header(made));
                // SAFETY: the exchange failed, so `winner` is the non-null pointer stored.
                unsafe { NonNull::new_unchecked(winner) }
            }
        }
    }

    /// After child `index`'s poll (`pending`: it is still running and was polled; `woken`: how
    /// many children woke themselves earlier in this sweep), in a group wider than [`BITS`]: if
    /// it woke its lazy waker, books the child for the group's next poll (the end of the sweep
    /// wakes the parent for it), or in a dense sweep only reports it, for the caller to count. A
    /// child that stays pending without a self-wake, or that made the set, ends the dense mode.
    /// Returns whether the child woke itself. In a group of at most [`BITS`] children (`small`)
    /// it does nothing and returns `false`: the sweep's end reads every child's flag at once.
    ///
    /// The caller says whether the group is `small` (a constant for arrays and tuples, and a
    /// loop of its own for a `Vec`): the sweep's own length would be loaded again after every
    /// child's poll, since the child was lent the sweep's address.
    #[inline]
    pub(crate) fn end_child(&self, small: bool, index: usize, pending: bool, woken: usize) -> bool {
        if small {
            return false;
        }
        let flag = &self.flags[index % BITS];
        let woke = flag.load(Ordering::Relaxed);
        if !woke && !pending {
            // Finished (or not polled) without a self-wake: nothing to keep.
            return false;
        }
        if woke {
            flag.store(false, Ordering::Relaxed);
        }
        if self.dense.load(Ordering::Relaxed) {
            if woke && self.set.load(Ordering::Acquire).is_null() {
                return true;
            }
            self.end_dense(woken != 0);
        }
        if woke {
            self.book(index);
        }
        woke
    }

    /// Ends the dense mode at the current child (which stays pending without a self-wake, made
    /// the set, or panicked). Every child still running before it woke itself: if any may have
    /// (`any_woke`), the range before it goes into the set's taken bits (slots that finished
    /// meanwhile are skipped by the next poll without a poll).
    #[cold]
    #[inline(never)]
    fn end_dense(&self, any_woke: bool) {
        self.dense.store(false, Ordering::Relaxed);
        if any_woke {
            self.book_range(0, self.current.load(Ordering::Relaxed));
        }
    }

    /// Books children `start..end` into the set's taken bits (making the set), a word at a time.
    fn book_range(&self, start: usize, end: usize) {
        let set = borrow_set(self.get_or_make());
        let mut index = start;
        while index < end {
            let word = index / BITS;
            let upto = end.min((word + 1) * BITS);
            // Bits `index % BITS` up to (not including) `upto - word * BITS`.
            let high = match upto - word * BITS {
                BITS => usize::MAX,
                bits => (1 << bits) - 1,
            };
            set.add_taken(0, word, high & !((1 << (index % BITS)) - 1));
            index = upto;
        }
    }

    /// Books child `index` of a group wider than [`BITS`] (woken during its own poll in this
    /// sweep) into the set's taken bits, which the next poll visits with its snapshot. Out of
    /// line, which keeps the sweep's loop small for children that never wake themselves.
    #[inline(never)]
    fn book(&self, index: usize) {
        borrow_set(self.get_or_make()).add_taken(0, index / BITS, 1 << (index % BITS));
    }

    /// The children of a group of at most [`BITS`] whose flag is set: those that woke their
    /// lazy waker in this sweep: the word of a group of at most [`FEW`], else the bytes, eight
    /// at a time: each is a byte holding 0 or 1, and the multiplication moves the low bit of
    /// byte `i` to bit `56 + i` (its other products land on distinct bits, below 56 or past 63,
    /// so nothing carries into the top byte).
    #[inline]
    fn flagged(&mut self) -> usize {
        if self.len <= FEW {
            return *self.woke.get_mut();
        }
        let words = self.len.div_ceil(8);
        let mut bits = 0;
        for (word, flags) in self.flags.chunks_exact_mut(8).take(words).enumerate() {
            let bytes: [u8; 8] = core::array::from_fn(|i| u8::from(*flags[i].get_mut()));
            let packed = u64::from_le_bytes(bytes).wrapping_mul(0x0102_0408_1020_4080) >> 56;
            bits |= (packed as usize) << (word * 8);
        }
        bits
    }

    /// What a sweep over at most [`BITS`] children leaves for the next poll: the children that
    /// woke themselves in it, and (if a child panicked) those still due after child `current`,
    /// where it was cut short (none once it visited its last due child, which is `current`
    /// then). A wider group has no children due ([`LazySweep::new`]).
    #[inline]
    fn left_by_small(&mut self, current: usize) -> usize {
        let due_after = if current + 1 < BITS {
            self.due & !((1 << (current + 1)) - 1)
        } else {
            0
        };
        due_after | self.flagged()
    }
}

impl Drop for LazySweep<'_> {
    /// Ends the sweep: the children it leaves for the next poll go to the group, and the parent
    /// is woken once if there are any.
    ///
    /// A small group without a set, the common end, is handled here in a few instructions, and
    /// everything else out of line ([`LazySweep::end_with_set_or_wide`]). With the whole end in
    /// one body, the compiler called the drop out of line after every lazy sweep; this way it
    /// is inlined, and yield over the 8-tuple runs 819 instructions per group instead of 869
    /// (callgrind).
    #[inline]
    fn drop(&mut self) {
        if self.len > BITS || !self.set.load(Ordering::Acquire).is_null() {
            self.end_with_set_or_wide();
            return;
        }
        // Only a dense sweep, over more than `BITS` children, asks for a full sweep next.
        debug_assert_eq!(self.home_lazy.full, FullSweep::No);
        let woken = self.left_by_small(self.current.load(Ordering::Relaxed));
        self.home_lazy.woken |= woken;
        if woken != 0 {
            self.parent.wake_by_ref();
        }
    }
}

impl LazySweep<'_> {
    /// The rest of [`LazySweep`]'s drop: the end of a sweep over more than [`BITS`] children,
    /// or of one that has a set.
    #[cold]
    #[inline(never)]
    fn end_with_set_or_wide(&mut self) {
        let current = self.current.load(Ordering::Relaxed);
        // In a wider group, children are booked into the set, not left in `woken`.
        let mut woken = 0;
        if self.len <= BITS {
            woken = self.left_by_small(current);
        } else {
            // A child whose poll panicked may have woken itself first.
            let woke = *self.flags[current % BITS].get_mut();
            if self.dense.load(Ordering::Relaxed) {
                match self.verdict {
                    Some(full) => self.home_lazy.full = full,
                    None if self.first => {}
                    None => {
                        // Cut short by child `current`'s panic: book what the sweep leaves
                        // (whether any child before it woke itself is not known here, so the
                        // whole range).
                        self.end_dense(true);
                        self.book_range(current + 1, self.len);
                        if woke {
                            self.book(current);
                        }
                    }
                }
            } else if woke {
                self.book(current);
            }
        }
        let full_next = self.home_lazy.full != FullSweep::No;
        let booked = match NonNull::new(self.set.load(Ordering::Acquire)) {
            Some(header) => {
                // The set's count moves from this sweep to the group, and the children booked
                // locally (all in leaf word 0) join the taken bits, due at the next poll.
                let set = WakeSet::from_header(header);
                if woken != 0 {
                    set.add_taken(0, 0, woken);
                }
                // The sweep polled the set since it had it: end that poll. With work booked,
                // the parent is woken below in any case.
                let booked = if set.any_taken() || full_next {
                    set.end_poll_with_work();
                    true
                } else {
                    set.end_lazy_poll(self.parent)
                };
                *self.home = Some(set);
                booked
            }
            None => {
                self.home_lazy.woken |= woken;
                woken != 0
            }
        };
        // One wake of the parent for everything the sweep left for the next poll.
        if booked || full_next {
            self.parent.wake_by_ref();
        }
    }
}

/// The set headed by `header`, borrowed from the sweep that owns its count: dropping the
/// borrow gives up no count.
#[inline]
fn borrow_set(header: NonNull<Header>) -> ManuallyDrop<WakeSet> {
    ManuallyDrop::new(WakeSet::from_header(header))
}

/// A lazy waker lent out by [`LazySweep::waker`] for as long as the sweep is borrowed.
pub(crate) struct LazyWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _sweep: PhantomData<&'a ()>,
}

impl Deref for LazyWaker<'_> {
    type Target = Waker;

    fn deref(&self) -> &Waker {
        &self.waker
    }
}

static LAZY_VTABLE: RawWakerVTable =
    RawWakerVTable::new(lazy_clone, lazy_wake, lazy_wake_by_ref, lazy_drop);

/// The sweep behind a lazy waker's data pointer.
///
/// # Safety
/// `data` must come from [`LazySweep::waker`] and the sweep must still be borrowed by the
/// `LazyWaker` through which the call is made.
unsafe fn lazy_sweep<'s>(data: *const ()) -> &'s LazySweep<'s> {
    // SAFETY: per the contract, `data` points to a live `LazySweep`, which is `Sync`, so the
    // shared reference may be used from any thread the child lends its `&Waker` to.
    unsafe { &*data.cast::<LazySweep<'s>>() }
}

/// `clone` of a lazy waker: a real, owned waker of the current child (allocating the set).
unsafe fn lazy_clone(data: *const ()) -> RawWaker {
    // SAFETY: the vtable contract: `data` is a lazy waker lent for the current child's poll.
    let sweep = unsafe { lazy_sweep(data) };
    let index = sweep.current.load(Ordering::Relaxed);
    assert!(index < sweep.len, "child index out of range");
    let header = sweep.get_or_make();
    // SAFETY: the set is alive (the sweep owns a count) and `index < len` (checked above).
    unsafe {
        retain(header);
        child_waker(header, index)
    }
}

/// `wake` of a lazy waker. Unreachable in practice (a lazy waker is never owned; clones are real
/// wakers), so it only marks the child, like `wake_by_ref`.
unsafe fn lazy_wake(data: *const ()) {
    // SAFETY: forwarded contract.
    unsafe { lazy_wake_by_ref(data) }
}

/// `wake_by_ref` of a lazy waker: sets the current child's flag, for the poller to book (see
/// [`LazySweep`]). No read-modify-write. It needs no ordering of its own:
/// the poller reads the flag after the child's poll returned, and anything the child's poll
/// did, on its thread or on a scoped thread it joined, happens before that.
unsafe fn lazy_wake_by_ref(data: *const ()) {
    // SAFETY: the vtable contract: `data` is a lazy waker lent for the current child's poll.
    let sweep = unsafe { lazy_sweep(data) };
    let index = sweep.current.load(Ordering::Relaxed);
    if sweep.len <= FEW {
        // A load and a store, not a read-modify-write: see [`LazySweep`] for why none is lost.
        let flags = sweep.woke.load(Ordering::Relaxed);
        sweep.woke.store(flags | 1 << index, Ordering::Relaxed);
    } else {
        sweep.flags[index % BITS].store(true, Ordering::Relaxed);
    }
}

/// `drop` of a lazy waker: it owns nothing.
unsafe fn lazy_drop(_: *const ()) {}

impl Drop for WakeSet {
    fn drop(&mut self) {
        // Drop the task's waker now: a child waker that outlives the group must not keep the
        // task alive nor wake it.
        drop(self.header().parent.take());
        // SAFETY: we own one reference count and give it up exactly once, here.
        unsafe { release(self.header) }
    }
}

/// Child `index`'s waker, owning no count: the header's address plus `index` as data pointer,
/// with the vtable made for the allocation's alignment.
///
/// # Safety
/// `header` must point to a live allocation made by [`WakeSet::new`] and `index` must be below
/// its `len`.
unsafe fn child_waker(header: NonNull<Header>, index: usize) -> RawWaker {
    // SAFETY: the header is alive per the contract; `plan` is immutable.
    let shift = unsafe { header.as_ref() }.plan.shift();
    // SAFETY: the allocation is larger than `len` bytes (`Plan::new`), so the pointer stays
    // inside it; it is derived from the allocation's own pointer, so it carries its provenance.
    let data = unsafe { header.as_ptr().cast::<u8>().add(index) };
    RawWaker::new(data.cast(), &VTABLES[shift as usize])
}

/// The word array at byte `offset` of the allocation headed by `header`.
///
/// # Safety
/// `header` must point to a live, initialised allocation made by [`WakeSet::new`] and `offset`
/// must be its `live_offset`, `next_offset` or `taken_offset`. The returned slice must not
/// outlive the caller's reference count.
unsafe fn words<'a>(header: NonNull<Header>, offset: usize) -> &'a [AtomicUsize] {
    // SAFETY: per the contract, `offset` starts an initialised, aligned array of `words` atomics
    // inside the allocation, which is alive for as long as the caller's count.
    unsafe {
        let len = header.as_ref().plan.words;
        core::slice::from_raw_parts(header.as_ptr().cast::<u8>().add(offset).cast(), len)
    }
}

/// Takes one more reference count, for a new owned child waker.
///
/// # Safety
/// `header` must point to a live allocation made by [`WakeSet::new`] (the caller holds or
/// borrows a count).
unsafe fn retain(header: NonNull<Header>) {
    // SAFETY: per the contract the header is alive.
    let previous = unsafe { header.as_ref() }
        .refs
        .fetch_add(1, Ordering::Relaxed);
    if previous > isize::MAX as usize {
        // Someone leaked wakers (e.g. `mem::forget` in a loop) until the count could overflow:
        // refuse to continue, as `Arc` does.
        abort();
    }
}

/// Gives up one reference count, freeing the allocation if it was the last.
///
/// # Safety
/// The caller must own one reference count of the live allocation `header` and must not use it
/// afterwards.
unsafe fn release(header: NonNull<Header>) {
    // SAFETY: the caller owns a count, so the header is alive for this decrement.
    let previous = unsafe { header.as_ref() }
        .refs
        .fetch_sub(1, Ordering::Release);
    if previous != 1 {
        return;
    }
    // Synchronise with every other owner's `Release` decrement, so all their accesses happen
    // before the memory is freed.
    fence(Ordering::Acquire);
    // SAFETY: we held the last count: no other reference to the allocation exists. The header is
    // the only field with drop glue (the `AtomicWaker`); words and epochs are plain data.
    unsafe {
        let layout = header.as_ref().plan.layout;
        core::ptr::drop_in_place(header.as_ptr());
        dealloc(header.as_ptr().cast(), layout);
    }
}

/// Recovers the header and child index from the data pointer of a child waker whose vtable is
/// `VTABLES[K]`: the allocation is aligned to `2^K` bytes and the index is below `2^K`, so the
/// header is the pointer with its low `K` bits cleared and the index is those bits. No memory
/// is read.
///
/// # Safety
/// `data` must come from [`child_waker`] (or a clone of its waker) for an allocation aligned to
/// `2^K`.
#[inline(always)]
unsafe fn from_data<const K: u32>(data: *const ()) -> (NonNull<Header>, usize) {
    let low = (1usize << K) - 1;
    // `map_addr` keeps the allocation's provenance, which `data` carries.
    let header = data
        .map_addr(|addr| addr & !low)
        .cast::<Header>()
        .cast_mut();
    // SAFETY: per the contract `header` is the start of a live allocation, hence non-null.
    (unsafe { NonNull::new_unchecked(header) }, data.addr() & low)
}

/// Marks child `index` in the set's live bits, `live` (passed in because `header` is a
/// reference to the header alone, which cannot reach the word arrays that follow it). A wake
/// that climbed to an empty top word wakes the parent, unless the group is being polled; in a
/// set of more than one level, a wake that made its leaf word non-empty names it in the woken
/// slot instead of climbing, if the slot is empty ([`fill_slot`]).
fn mark(header: &Header, live: &[AtomicUsize], index: usize) {
    let mut at = index;
    for level in 0..header.plan.levels {
        let cell = &live[header.plan.level_start[level] + at / BITS];
        let previous = cell.fetch_or(1 << (at % BITS), Ordering::AcqRel);
        if previous != 0 {
            // The word was already non-empty: whoever made it so climbs and wakes the parent
            // (module docs, "Why the protocol never loses a wake").
            return;
        }
        if level == 0 && header.plan.levels > 1 && fill_slot(header, at / BITS) {
            // The slot names the leaf word instead of the summary bits above it.
            return;
        }
        at /= BITS;
    }
    // While the group is polled, the poll itself takes this wake, in a later round or by waking
    // the parent from `end_poll`. The last `fetch_or` above (on a top word) is what orders this
    // load after a poll's end (module docs, "Wakes during a poll").
    if !header.polling.load(Ordering::Relaxed) {
        header.parent.wake();
    }
}

/// [`mark`] in a set of one level, whose live bits are one word: the `fetch_or` on it, and the
/// parent's wake if it made the word non-empty outside a poll. What `mark` does there, without
/// its loop over the plan's levels.
#[inline(always)]
fn mark_one_level(header: &Header, live: &[AtomicUsize], index: usize) {
    debug_assert_eq!(header.plan.levels, 1, "a set of one level");
    if live[0].fetch_or(1 << index, Ordering::AcqRel) == 0
        && !header.polling.load(Ordering::Relaxed)
    {
        // The `fetch_or` on the top word orders this load after a poll's end, as in `mark`.
        header.parent.wake();
    }
}

/// A waker that made a live leaf word non-empty, in a set of more than one level, names it in the
/// woken slot instead of climbing, if the slot is empty: one compare-and-swap instead of one
/// `fetch_or` per level above (module docs, "The woken slot"). Wakes the parent as a waker that
/// set a bit in an empty top word does. `false` if the slot is full: the caller climbs.
#[inline]
fn fill_slot(header: &Header, word: usize) -> bool {
    let woken = &header.woken;
    // A plain load first, so that a full slot costs no failed compare-and-swap.
    if woken.load(Ordering::Relaxed) != EMPTY
        || woken
            .compare_exchange(EMPTY, word, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return false;
    }
    // The compare-and-swap is this wake's last step up, as a top word's `fetch_or` is: it
    // orders the load of the flag after a poll's end.
    if !header.polling.load(Ordering::Relaxed) {
        header.parent.wake();
    }
    true
}

/// A wake of child `index`, into the live bits: due in a later round of the current poll, or
/// at the next poll. A self-wake goes there too; the round that takes it finds the child polled
/// in this poll already and moves it to the next poll ([`WakeSet::defer_polled`]).
///
/// `K` is the alignment exponent of the allocation ([`from_data`]). The allocation is aligned
/// to at least its number of children, so `2^K <= BITS` proves a set of one level at compile
/// time, and such wakes take [`mark_one_level`] without reading the plan.
///
/// # Safety
/// `header` must point to a live allocation made by [`WakeSet::new`], aligned to `2^K` bytes,
/// and `index` be below its `len`.
#[inline(always)]
unsafe fn wake_child<const K: u32>(header: NonNull<Header>, index: usize) {
    // SAFETY: per the contract; the live word array is initialised atomics.
    unsafe {
        let h = header.as_ref();
        let live = words(header, h.plan.live_offset);
        if 1 << K <= BITS {
            mark_one_level(h, live, index);
        } else {
            mark(h, live, index);
        }
    }
}

/// The vtable of child wakers in a set aligned to `2^K` bytes, for each listed `K`.
macro_rules! child_vtables {
    ($($k:literal)*) => {
        [$(RawWakerVTable::new(
            waker_clone::<$k>,
            waker_wake::<$k>,
            waker_wake_by_ref::<$k>,
            waker_drop::<$k>,
        )),*]
    };
}

/// The child waker vtables, one per alignment exponent `K` of the allocation (see
/// [`from_data`]): `VTABLES[K]` serves every set whose allocation is aligned to `2^K` bytes.
static VTABLES: [RawWakerVTable; MAX_SHIFT as usize + 1] = child_vtables!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);

/// `RawWakerVTable::clone`: a new owned waker for the same child, one more reference count.
unsafe fn waker_clone<const K: u32>(data: *const ()) -> RawWaker {
    // SAFETY: the `RawWaker` contract gives us a live waker of ours (vtable `K`), hence a live
    // allocation aligned to `2^K`.
    let (header, _) = unsafe { from_data::<K>(data) };
    // SAFETY: as above, the header is alive.
    unsafe { retain(header) };
    RawWaker::new(data, &VTABLES[K as usize])
}

/// `RawWakerVTable::wake`: wake, then release the owned waker's count.
unsafe fn waker_wake<const K: u32>(data: *const ()) {
    // SAFETY: forwarded contract: `data` is an owned waker of ours.
    unsafe {
        waker_wake_by_ref::<K>(data);
        waker_drop::<K>(data);
    }
}

/// `RawWakerVTable::wake_by_ref`: mark the child ready.
unsafe fn waker_wake_by_ref<const K: u32>(data: *const ()) {
    // SAFETY: the waker is alive (owned or borrowed), so the allocation is, and the index it
    // names is below `len`.
    unsafe {
        let (header, index) = from_data::<K>(data);
        wake_child::<K>(header, index);
    }
}

/// `RawWakerVTable::drop`: release the owned waker's count.
unsafe fn waker_drop<const K: u32>(data: *const ()) {
    // SAFETY: an owned waker holds exactly one count, given up here.
    unsafe {
        let (header, _) = from_data::<K>(data);
        release(header);
    }
}

/// Aborts the process without `std`: a panic while panicking aborts.
#[cold]
fn abort() -> ! {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("taskgroup: aborting");
        }
    }
    let _bomb = PanicOnDrop;
    panic!("taskgroup: child waker reference count overflow");
}

/// A parent waker that counts its wakes, for the unit tests and the `loom` models. A std atomic
/// even under `loom`: only the test thread reads it, after the model's threads are joined.
#[cfg(test)]
#[derive(Default)]
struct Parent(std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl futures_util::task::ArcWake for Parent {
    fn wake_by_ref(this: &alloc::sync::Arc<Self>) {
        this.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Parent {
    /// A new count, and the waker that adds to it.
    fn waker() -> (alloc::sync::Arc<Parent>, Waker) {
        let parent = alloc::sync::Arc::new(Parent::default());
        let waker = futures_util::task::waker(parent.clone());
        (parent, waker)
    }
}

#[cfg(all(test, not(taskgroup_loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn plan_levels_grow_by_word_width() {
        assert_eq!(Plan::new(0).levels, 1);
        assert_eq!(Plan::new(BITS).levels, 1);
        assert_eq!(Plan::new(BITS + 1).levels, 2);
        assert_eq!(Plan::new(BITS * BITS).levels, 2);
        assert_eq!(Plan::new(BITS * BITS + 1).levels, 3);
    }

    #[test]
    fn snapshot_yields_woken_children_in_index_order_once() {
        for len in [1, 3, BITS, BITS + 1, BITS * 3 + 5, BITS * BITS + 7] {
            let mut set = WakeSet::new(len);
            let mut picks: Vec<usize> = [len - 1, 0, len / 2, len / 3, len - 1]
                .into_iter()
                .collect();
            for &i in &picks {
                set.waker(i).wake_by_ref();
            }
            picks.sort_unstable();
            picks.dedup();
            assert_eq!(set.drain(), picks, "len {len}");
            assert!(set.drain().is_empty(), "len {len}");
            assert!(!set.any_live());
        }
    }

    #[test]
    fn wakes_during_a_sweep_wait_for_the_next_snapshot() {
        let mut set = WakeSet::new(BITS * 2);
        set.waker(1).wake_by_ref();
        set.begin_poll();
        assert_eq!(set.next_taken(), Some(1));
        set.waker(1).wake_by_ref();
        set.waker(BITS + 1).wake_by_ref();
        assert_eq!(set.next_taken(), None);
        assert_eq!(set.drain(), [1, BITS + 1]);
    }

    #[test]
    fn a_sweep_cut_short_leaves_the_rest_of_its_snapshot_for_the_next_poll() {
        // Three levels; the cut comes in the middle of a leaf word, with other words pending.
        let len = BITS * BITS + 2;
        let mut set = WakeSet::new(len);
        let woken = [3, 5, BITS - 1, BITS + 2, BITS * BITS + 1];
        for &i in &woken {
            set.waker(i).wake_by_ref();
        }
        set.begin_poll();
        assert_eq!(set.next_taken(), Some(3));
        assert_eq!(set.taken_len(), woken.len() - 1);
        // A child panicked here: the next poll starts over and serves the rest, plus new wakes.
        set.waker(4).wake_by_ref();
        let mut rest = set.drain();
        rest.sort_unstable();
        assert_eq!(rest, [4, 5, BITS - 1, BITS + 2, BITS * BITS + 1]);
        assert!(set.drain().is_empty());
    }

    #[test]
    fn a_child_last_polled_255_polls_ago_is_delayed_one_poll_not_lost() {
        // Two levels: the poll epochs (a set of one level keeps a mask instead).
        let mut set = WakeSet::new(BITS + 2);
        set.begin_poll();
        set.begin_child(1);
        for _ in 0..255 {
            set.begin_poll();
        }
        // The epoch wrapped to the one child 1 was polled in; it is woken by a sibling.
        set.waker(1).wake_by_ref();
        assert!(set.snapshot_live());
        assert_eq!(
            set.next_taken(),
            None,
            "looks polled in this poll: deferred"
        );
        set.begin_poll();
        assert_eq!(set.next_taken(), Some(1), "due at the next poll");
    }

    #[test]
    fn a_set_of_one_level_forgets_its_polled_children_at_each_poll() {
        for polls in [1, 255, 256] {
            let mut set = WakeSet::new(BITS);
            set.begin_poll();
            set.begin_child(1);
            set.begin_child(BITS - 1);
            for _ in 0..polls {
                set.begin_poll();
            }
            // Polled in an earlier poll only: a sibling's wake is served in this poll's round.
            set.waker(BITS - 1).wake_by_ref();
            set.waker(1).wake_by_ref();
            assert!(set.snapshot_live());
            assert_eq!(set.next_taken(), Some(1));
            set.begin_child(1);
            assert_eq!(set.next_taken(), Some(BITS - 1));
            set.begin_child(BITS - 1);
            assert_eq!(set.next_taken(), None);
            // Woken again in the same poll: both wait for the next one.
            set.waker(1).wake_by_ref();
            set.waker(BITS - 1).wake_by_ref();
            assert!(set.snapshot_live());
            assert_eq!(set.next_taken(), None, "polled in this poll: deferred");
            assert!(!set.snapshot_live(), "nothing left in the live bits");
            set.begin_poll();
            assert_eq!(set.next_taken(), Some(1), "due at the next poll");
            assert_eq!(set.next_taken(), Some(BITS - 1));
            assert_eq!(set.next_taken(), None);
        }
    }

    #[test]
    fn a_self_wake_waits_for_the_next_poll() {
        let mut set = WakeSet::new(3);
        set.begin_poll();
        set.begin_child(2);
        set.waker(2).wake_by_ref();
        set.waker(0).wake_by_ref();
        // Both wakes go to the live bits: the round takes both, and moves the child it polled
        // already in this poll to the next poll.
        assert!(set.snapshot_live());
        assert_eq!(
            set.next_taken(),
            Some(0),
            "the sibling's wake is for this poll"
        );
        set.begin_child(0);
        assert_eq!(set.next_taken(), None, "the self-wake is not");
        assert!(!set.snapshot_live());
        set.begin_poll();
        assert_eq!(set.next_taken(), Some(2));
        set.begin_child(2);
        assert_eq!(set.next_taken(), None);
    }

    #[test]
    fn a_sibling_wake_in_a_wide_set_names_its_leaf_word_and_a_round_takes_it_alone() {
        let mut set = WakeSet::new(BITS * BITS + 1);
        let (parent, parent_waker) = Parent::waker();
        set.register(&parent_waker);
        set.begin_poll();
        set.begin_child(7);
        set.waker(BITS * 5 + 3).wake_by_ref();
        assert_eq!(set.header().woken.load(Ordering::Relaxed), 5);
        assert!(
            !set.any_live(),
            "the slot names the word: no summary bit was set"
        );
        assert!(set.snapshot_live());
        assert_eq!(set.next_taken(), Some(BITS * 5 + 3));
        assert_eq!(set.next_taken(), None);
        assert_eq!(set.header().woken.load(Ordering::Relaxed), EMPTY);
        assert!(!set.snapshot_live(), "nothing left");
        assert_eq!(
            parent.0.load(Ordering::Relaxed),
            0,
            "the poll serves its own wakes"
        );
        // A one-level set never fills its slot.
        let mut small = WakeSet::new(BITS);
        small.begin_poll();
        small.waker(3).wake_by_ref();
        assert_eq!(small.header().woken.load(Ordering::Relaxed), EMPTY);
        assert!(small.any_live());
    }

    #[test]
    fn wakes_into_a_named_word_stop_and_a_full_slot_makes_others_climb() {
        let mut set = WakeSet::new(BITS * 3);
        set.begin_poll();
        set.begin_child(0);
        set.waker(BITS * 2 + 1).wake_by_ref();
        // Same word: it is non-empty, so the waker stops there.
        set.waker(BITS * 2 + 5).wake_by_ref();
        assert!(!set.any_live());
        // Another word while the slot is full: the waker climbs.
        set.waker(BITS + 4).wake_by_ref();
        assert!(set.any_live());
        // Woken again: its word is non-empty, it stops.
        set.waker(BITS * 2 + 1).wake_by_ref();
        assert!(set.snapshot_live());
        let round: Vec<usize> = core::iter::from_fn(|| set.next_taken()).collect();
        assert_eq!(round, [BITS + 4, BITS * 2 + 1, BITS * 2 + 5]);
        assert!(!set.snapshot_live(), "nothing left");
    }

    #[test]
    fn the_end_of_a_poll_announces_a_word_left_in_the_slot() {
        let mut set = WakeSet::new(BITS + 1);
        let (parent, parent_waker) = Parent::waker();
        set.register(&parent_waker);
        {
            let poll = set.poll();
            // Another thread's wake after the poll's last round: it skips the parent.
            poll.waker(BITS).wake_by_ref();
            assert_eq!(poll.header().woken.load(Ordering::Relaxed), 1);
            assert_eq!(parent.0.load(Ordering::Relaxed), 0);
        }
        assert_eq!(parent.0.load(Ordering::Relaxed), 1, "the end announced it");
        assert_eq!(set.drain(), [BITS]);
        // Outside a poll, the waker that fills the slot wakes the parent itself.
        set.register(&parent_waker);
        set.waker(5).wake_by_ref();
        assert_eq!(parent.0.load(Ordering::Relaxed), 2);
        assert_eq!(set.drain(), [5]);
    }

    /// A wake that lands between a round's snapshot and the child's turn is served by that turn,
    /// and once more at the next poll: the engine does not look for it before the turn. The
    /// same in a one-level set and in a wider one, where the wake fills the slot.
    #[test]
    fn a_wake_before_its_turn_is_served_by_the_turn_and_again_at_the_next_poll() {
        for n in [BITS, BITS * 2] {
            let mut set = WakeSet::new(n);
            let child = n - 1;
            set.begin_poll();
            set.begin_child(0);
            // Child 0 wakes its sibling, which the round polls next.
            set.waker(child).wake_by_ref();
            set.begin_child(child);
            assert!(set.snapshot_live(), "n = {n}: a later round takes the wake");
            assert_eq!(
                set.next_taken(),
                None,
                "n = {n}: polled in this poll: deferred"
            );
            assert_eq!(set.header().woken.load(Ordering::Relaxed), EMPTY);
            set.begin_poll();
            assert_eq!(
                set.next_taken(),
                Some(child),
                "n = {n}: due at the next poll"
            );
            set.begin_child(child);
            assert_eq!(set.next_taken(), None);
            assert!(!set.snapshot_live(), "n = {n}: nothing left");
        }
    }

    #[test]
    fn the_largest_set_has_the_largest_vtable_and_one_more_child_is_refused() {
        // Plans only: nothing this large is allocated.
        let plan = Plan::new(MAX_CHILDREN);
        assert_eq!(plan.shift(), MAX_SHIFT);
        assert_eq!(plan.layout.align(), MAX_CHILDREN);
        assert_eq!(Plan::new(1).shift(), align_of::<Header>().trailing_zeros());
        assert_eq!(Plan::new(1000).shift(), 10);
        let Err(refused) = std::panic::catch_unwind(|| Plan::new(MAX_CHILDREN + 1)) else {
            panic!("a plan for more than MAX_CHILDREN children was made");
        };
        let message = refused.downcast_ref::<alloc::string::String>().unwrap();
        assert!(message.contains("at most 2147483648 children"), "{message}");
    }

    #[test]
    fn each_waker_names_its_own_child_at_every_alignment() {
        for len in [
            1,
            2,
            7,
            8,
            9,
            BITS - 1,
            BITS,
            BITS + 1,
            255,
            256,
            257,
            1000,
            4096,
            4097,
        ] {
            let mut set = WakeSet::new(len);
            let plan = set.header().plan;
            assert!(1usize << plan.shift() >= len, "len {len}");
            assert_eq!(
                set.header.as_ptr().addr() % (1 << plan.shift()),
                0,
                "len {len}"
            );
            let picks: Vec<usize> = if len <= BITS + 1 {
                (0..len).collect()
            } else {
                alloc::vec![0, 1, len / 2, len - 2, len - 1]
            };
            for &i in &picks {
                // An owned clone, woken by value: it must find its own child and its count.
                let owned: Waker = (*set.waker(i)).clone();
                assert!(owned.will_wake(&set.waker(i)), "len {len}, child {i}");
                assert!(
                    i == 0 || !owned.will_wake(&set.waker(i - 1)),
                    "len {len}, child {i}"
                );
                owned.wake();
                assert_eq!(set.drain(), [i], "len {len}");
            }
            assert_eq!(set.header().refs.load(Ordering::Relaxed), 1, "len {len}");
        }
    }

    #[test]
    fn cloned_waker_outlives_the_set_and_wakes_harmlessly() {
        let set = WakeSet::new(4);
        let owned: Waker = (*set.waker(2)).clone();
        let twin = owned.clone();
        drop(set);
        owned.wake_by_ref();
        owned.wake();
        twin.wake();
    }
}

/// Model checks of the wake protocol: every interleaving of racing wakes with a sweep.
#[cfg(all(test, taskgroup_loom))]
mod loom_models {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    /// A set of `len` children, and a parent waker that counts its wakes. Nothing is
    /// registered yet: a poll registers the parent at its start, a lazy sweep at its end when
    /// it leaves nothing behind.
    fn parented(len: usize) -> (Arc<Parent>, Waker, WakeSet) {
        let (parent, waker) = Parent::waker();
        (parent, waker, WakeSet::new(len))
    }

    /// One poll of the group by `parent` without rounds: the children its snapshot took.
    fn drain(set: &mut WakeSet, parent: &Waker) -> Vec<usize> {
        set.register(parent);
        set.drain()
    }

    /// Wakes `children` from two threads while the poller sweeps once. Afterwards every woken
    /// child was either in that sweep, or the parent was woken and the next sweep yields it.
    fn racing_wakes_are_never_lost(len: usize, children: [usize; 2]) {
        loom::model(move || {
            let (parent, parent_waker, mut set) = parented(len);
            let wakers: Vec<Waker> = children.iter().map(|&i| (*set.waker(i)).clone()).collect();
            let threads: Vec<_> = wakers
                .into_iter()
                .map(|waker| loom::thread::spawn(move || waker.wake()))
                .collect();
            let seen = drain(&mut set, &parent_waker);
            for thread in threads {
                thread.join().unwrap();
            }
            let missed: Vec<usize> = children
                .iter()
                .copied()
                .filter(|i| !seen.contains(i))
                .collect();
            if !missed.is_empty() {
                assert!(
                    parent.0.load(std::sync::atomic::Ordering::SeqCst) > 0,
                    "children {missed:?} woken after the snapshot, but the parent was not woken"
                );
                let mut next = drain(&mut set, &parent_waker);
                next.dedup();
                let mut missed = missed;
                missed.dedup();
                assert_eq!(next, missed);
            }
        });
    }

    #[test]
    fn loom_racing_wakes_in_one_word() {
        racing_wakes_are_never_lost(4, [1, 2]);
    }

    #[test]
    fn loom_racing_wakes_of_one_child() {
        racing_wakes_are_never_lost(4, [3, 3]);
    }

    #[test]
    fn loom_racing_wakes_across_words() {
        racing_wakes_are_never_lost(BITS * 2, [3, BITS + 5]);
    }

    /// Two wakes race into one leaf word of a two-level set: the first to make it non-empty
    /// names it in the woken slot (or climbs), the other stops there; neither is lost.
    #[test]
    fn loom_racing_wakes_into_a_named_word() {
        racing_wakes_are_never_lost(BITS * 2, [BITS + 1, BITS + 2]);
    }

    /// Two wakes of one child of a two-level set race: the poll takes it once, through the slot
    /// or the summary bits.
    #[test]
    fn loom_racing_wakes_of_one_child_of_a_wide_set() {
        racing_wakes_are_never_lost(BITS * 2, [BITS + 3, BITS + 3]);
    }

    /// A poll with rounds while two threads wake children in different words: no child is polled
    /// twice in the poll, and a child the poll did not reach was announced to the parent and
    /// is due at the next poll.
    #[test]
    fn loom_rounds_poll_each_child_once_and_lose_no_wake() {
        rounds_poll_each_child_once_and_lose_no_wake(BITS * 2, [1, BITS + 6]);
    }

    /// The same in a set of one level, which keeps its polled children in a mask instead of the
    /// epochs and whose wakes take [`mark_one_level`].
    #[test]
    fn loom_rounds_of_a_set_of_one_level_poll_each_child_once_and_lose_no_wake() {
        rounds_poll_each_child_once_and_lose_no_wake(4, [1, 3]);
    }

    fn rounds_poll_each_child_once_and_lose_no_wake(len: usize, children: [usize; 2]) {
        loom::model(move || {
            let (parent, parent_waker, mut set) = parented(len);
            let threads: Vec<_> = children
                .iter()
                .map(|&i| {
                    let waker: Waker = (*set.waker(i)).clone();
                    loom::thread::spawn(move || waker.wake())
                })
                .collect();
            let polled = poll_with_rounds(&mut set, &parent_waker, None);
            for thread in threads {
                thread.join().unwrap();
            }
            let mut once = polled.clone();
            once.sort_unstable();
            once.dedup();
            assert_eq!(once.len(), polled.len(), "a child polled twice in one poll");
            let missed: Vec<usize> = children
                .into_iter()
                .filter(|i| !polled.contains(i))
                .collect();
            if !missed.is_empty() {
                assert!(parent.0.load(std::sync::atomic::Ordering::SeqCst) > 0);
                set.begin_poll();
                let next: Vec<usize> = core::iter::from_fn(|| set.next_taken()).collect();
                assert!(
                    missed.iter().all(|i| next.contains(i)),
                    "{missed:?} not in {next:?}"
                );
            }
        });
    }

    /// One poll of the group as the engine does it: rounds until one polls nobody or takes
    /// nothing. `wake_self` is a child that, when polled, wakes itself. Returns the children
    /// polled, in order.
    fn poll_with_rounds(set: &mut WakeSet, parent: &Waker, wake_self: Option<usize>) -> Vec<usize> {
        set.register(parent);
        let mut poll = set.poll();
        let mut polled = Vec::new();
        loop {
            let mut any = false;
            while let Some(i) = poll.next_taken() {
                poll.begin_child(i);
                any = true;
                polled.push(i);
                if wake_self == Some(i) {
                    poll.waker(i).wake_by_ref();
                }
            }
            if !any || !poll.snapshot_live() {
                break;
            }
        }
        polled
    }

    /// Wakes that land while the group is polled do not wake the parent; the poll's end must
    /// then do it for whatever it left behind. Here a child wakes itself during the poll (due
    /// at the next poll) while another thread wakes a second child at any moment, before,
    /// during or after the poll: after the poll, every child due at the next poll was announced
    /// to the parent, and the second child was polled or is due.
    #[test]
    fn loom_wakes_during_a_poll_are_announced_by_its_end() {
        wakes_during_a_poll_are_announced_by_its_end(BITS * 2, BITS + 3);
    }

    /// The same in a set of one level.
    #[test]
    fn loom_wakes_during_a_poll_of_a_set_of_one_level_are_announced_by_its_end() {
        wakes_during_a_poll_are_announced_by_its_end(4, 3);
    }

    fn wakes_during_a_poll_are_announced_by_its_end(len: usize, other: usize) {
        loom::model(move || {
            let (parent, parent_waker, mut set) = parented(len);
            set.waker(0).wake_by_ref();
            let waker: Waker = (*set.waker(other)).clone();
            let thread = loom::thread::spawn(move || waker.wake());
            let polled = poll_with_rounds(&mut set, &parent_waker, Some(0));
            thread.join().unwrap();
            let woken = parent.0.load(std::sync::atomic::Ordering::SeqCst);
            let next = drain(&mut set, &parent_waker);
            assert!(next.contains(&0), "the self-wake is due at the next poll");
            assert!(woken > 0, "{next:?} due, but the parent was not woken");
            assert!(
                polled.contains(&other) || next.contains(&other),
                "the other thread's wake was lost"
            );
        });
    }

    /// The same for a wake that lands in the woken slot: a poll with rounds of a two-level set,
    /// nothing woken before it, while another thread wakes a child at any moment. If the wake
    /// fills the slot after the poll's last round, the poll's end must announce it: afterwards
    /// the child was polled, or the parent was woken and the next poll takes it.
    #[test]
    fn loom_a_wake_in_the_slot_during_a_poll_is_announced_by_its_end() {
        loom::model(|| {
            let (parent, parent_waker, mut set) = parented(BITS * 2);
            let other: Waker = (*set.waker(BITS + 3)).clone();
            let thread = loom::thread::spawn(move || other.wake());
            let polled = poll_with_rounds(&mut set, &parent_waker, None);
            thread.join().unwrap();
            if !polled.contains(&(BITS + 3)) {
                assert!(
                    parent.0.load(std::sync::atomic::Ordering::SeqCst) > 0,
                    "the wake was left in the slot, but the parent was not woken"
                );
                assert_eq!(drain(&mut set, &parent_waker), [BITS + 3]);
            }
        });
    }

    /// A lazy sweep polls the set from the moment it makes it, without snapshots, and ends that
    /// poll itself (`LazySweep`'s drop): with nothing booked, `end_lazy_poll` tells whether to
    /// wake the parent; with work booked, `end_poll_with_work` only clears the flag and the
    /// parent is woken anyway. Another thread wakes two children (in two words) at any moment, before or
    /// after the sweep's end, and a third child is woken (and, with work booked, booked) after
    /// the set was made: afterwards the parent was woken and the next poll takes every wake.
    fn lazy_sweep_wakes_are_announced(booked: bool) {
        loom::model(move || {
            let (parent, parent_waker, mut set) = parented(BITS * 2);
            set.begin_lazy_poll();
            let children = [2, BITS + 1];
            let wakers: Vec<Waker> = children.iter().map(|&i| (*set.waker(i)).clone()).collect();
            let thread = loom::thread::spawn(move || {
                for waker in wakers {
                    waker.wake();
                }
            });
            // The last child polled in the sweep wakes itself through a clone.
            (*set.waker(5)).clone().wake();
            let announce = if booked {
                set.end_poll_with_work();
                true
            } else {
                set.end_lazy_poll(&parent_waker)
            };
            if announce {
                parent_waker.wake_by_ref();
            }
            thread.join().unwrap();
            assert!(
                parent.0.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "work left, but the parent was not woken"
            );
            let mut next = drain(&mut set, &parent_waker);
            next.sort_unstable();
            assert_eq!(next, [2, 5, BITS + 1], "a wake was lost");
        });
    }

    #[test]
    fn loom_wakes_during_a_lazy_sweep_are_announced_by_its_end() {
        lazy_sweep_wakes_are_announced(false);
    }

    #[test]
    fn loom_a_lazy_sweep_with_work_booked_loses_no_wake() {
        lazy_sweep_wakes_are_announced(true);
    }

    #[test]
    fn loom_last_waker_frees_the_set() {
        loom::model(|| {
            let set = WakeSet::new(2);
            let waker: Waker = (*set.waker(1)).clone();
            let thread = loom::thread::spawn(move || waker.wake());
            drop(set);
            thread.join().unwrap();
        });
    }
}
