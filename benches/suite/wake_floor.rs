//! The floor with wakers: the cheapest join we could write that gives each child a counted waker
//! of its own (the counted wakers of [`counted_wakers`](super::counted_wakers): usable from any
//! thread, keeping the shared state alive with a reference count, as `Arc`-based wakers do) and
//! polls only the children that were woken. Like the floor it is not a peer. It is written for
//! the chain workload, where every child keeps its waker and a sibling wakes it: it measures
//! what a link costs in any design with such wakers, however little bookkeeping it does, and so
//! where a target asks for less than that.
//!
//! Per link it does what no design with counted wakers can skip: the kept waker's clone (count
//! up), the wake (`fetch_or` into the ready bits), the woken waker's drop (count down) and the
//! poll taking the bits (`swap`). A wake that finds its word empty while the group is polling
//! leaves the parent alone: the end of the poll reads the word again with a read-modify-write
//! (the protocol of `taskgroup`'s wake set). The parent is registered only when the group is
//! about to return `Pending`.
//!
//! Like the floor it knows the workload: after the first sweep, which polls every child, it takes
//! only the ready word of the chain's next child and polls only that child, where a join needs a
//! summary of the words and must tell which of a word's children were woken. It sets nothing
//! aside for errors, for panics or for a child that is woken after it finished: what `taskgroup`
//! also handles is not part of the bound.

use super::counted_wakers::{Counted, Wait};
use super::*;

/// The floor with wakers over `children`, writing their outputs into `outputs`.
/// `Ready(true)` once every child returned `Ok`, `Ready(false)` at an `Err`.
struct WakeFloor<'s, 'a> {
    children: &'s mut [Child<'a, Fallible>],
    outputs: &'s mut [u64],
    /// The chain's order: child `k` wakes child `next[k]`.
    next: &'s [u32],
    /// The chain's next child to finish.
    due: usize,
    left: usize,
    wakers: Option<Counted>,
}

impl<'s, 'a> WakeFloor<'s, 'a> {
    fn new(
        children: &'s mut [Child<'a, Fallible>],
        outputs: &'s mut [u64],
        chain: &'s Chain,
    ) -> Self {
        assert_eq!(children.len(), outputs.len());
        assert_eq!(children.len(), chain.next.len());
        WakeFloor {
            left: children.len(),
            children,
            outputs,
            next: &chain.next,
            due: chain.head,
            wakers: None,
        }
    }

    /// Polls child `index` with its waker; `Some(all_ok)` once the group is finished.
    fn poll_child(&mut self, wakers: &Counted, index: usize) -> Option<bool> {
        let waker = wakers.waker(index);
        match Pin::new(&mut self.children[index]).poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => None,
            Poll::Ready(Ok(value)) => {
                self.outputs[index] = value;
                // Only the chain's due child can finish; the one after it is due next.
                debug_assert_eq!(index, self.due);
                self.due = self.next[index] as usize;
                self.left -= 1;
                (self.left == 0).then_some(true)
            }
            Poll::Ready(Err(_)) => Some(false),
        }
    }

    fn poll_wakers(&mut self, wakers: &Counted, first: bool, cx: &Context<'_>) -> Poll<bool> {
        let header = wakers.header();
        header.polling.store(true, Ordering::Relaxed);
        if first {
            // The first poll: every child, in index order.
            for index in 0..self.children.len() {
                if let Some(all_ok) = self.poll_child(wakers, index) {
                    return Poll::Ready(all_ok);
                }
            }
        }
        loop {
            // The due child's word, which its wake sets: the other bits of it are clear, as no
            // other child is woken before the due one finishes.
            let word = &wakers.ready()[self.due / 64];
            let bit = 1 << (self.due % 64);
            if word.swap(0, Ordering::AcqRel) & bit == 0 {
                header.parent.register(cx.waker());
                header.polling.store(false, Ordering::Release);
                if word.fetch_or(0, Ordering::AcqRel) & bit == 0 {
                    return Poll::Pending;
                }
                header.polling.store(true, Ordering::Relaxed);
                continue;
            }
            if let Some(all_ok) = self.poll_child(wakers, self.due) {
                return Poll::Ready(all_ok);
            }
        }
    }
}

impl Future for WakeFloor<'_, '_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(true);
        }
        let first = this.wakers.is_none();
        let wakers = match this.wakers.take() {
            Some(wakers) => wakers,
            None => Counted::new(this.children.len(), Wait::Prompt),
        };
        let result = this.poll_wakers(&wakers, first, cx);
        this.wakers = Some(wakers);
        result
    }
}

/// The floor with wakers with children and outputs in `Vec`s.
#[inline]
pub fn vec(env: &Env) -> Option<Vec<u64>> {
    let chain = env.chain.as_ref()?;
    let mut children = env.vec::<Fallible>();
    let mut outputs = vec![0; children.len()];
    let all_ok = env.drive(WakeFloor::new(&mut children, &mut outputs, chain))?;
    all_ok.then_some(outputs)
}

/// The floor with wakers with children and outputs in arrays.
#[inline]
pub fn array<const N: usize>(env: &Env) -> Option<[u64; N]> {
    let chain = env.chain.as_ref()?;
    let mut children = env.array::<Fallible, N>();
    let mut outputs = [0; N];
    let all_ok = env.drive(WakeFloor::new(&mut children, &mut outputs, chain))?;
    // Inline: the group, the children and the outputs.
    env.size
        .set(env.size.get() + std::mem::size_of_val(&children) + std::mem::size_of_val(&outputs));
    all_ok.then_some(outputs)
}
