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
//! Its wakers are the counted wakers of [`counted_wakers`](super::counted_wakers).

use super::counted_wakers::Counted;
pub use super::counted_wakers::Wait;
use super::*;

/// The cross-thread floor with wakers over `children`, writing their outputs into `outputs`.
struct CrossWakeFloor<'s, 'a> {
    children: &'s mut [Child<'a, Fallible>],
    outputs: &'s mut [u64],
    wakers: Counted,
    started: bool,
    /// The lowest word with a child not finished (the prompt form's cursor).
    word: usize,
    /// Children finished in that word.
    done: u64,
}

impl<'s, 'a> CrossWakeFloor<'s, 'a> {
    fn new(children: &'s mut [Child<'a, Fallible>], outputs: &'s mut [u64], wait: Wait) -> Self {
        assert_eq!(children.len(), outputs.len());
        CrossWakeFloor {
            wakers: Counted::new(children.len(), wait),
            children,
            outputs,
            started: false,
            word: 0,
            done: 0,
        }
    }

    /// Polls child `index`, which was woken: the helper set its flag before the wake.
    fn finish(
        children: &mut [Child<'a, Fallible>],
        outputs: &mut [u64],
        wakers: &Counted,
        index: usize,
    ) {
        let waker = wakers.waker(index);
        match Pin::new(&mut children[index]).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(value)) => outputs[index] = value,
            _ => unreachable!("the helper sets a child's flag before its wake"),
        }
    }

    /// The prompt form's poll after the first: takes the cursor's word and polls the children it
    /// names, moving on while words complete; at a word that yields nothing, ends the poll and
    /// reads the word again (a wake during the poll left the parent alone).
    fn poll_prompt(&mut self) -> Poll<()> {
        let (header, words) = (self.wakers.header(), self.wakers.ready());
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
                Self::finish(self.children, self.outputs, &self.wakers, index);
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
}

impl Future for CrossWakeFloor<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let header = this.wakers.header();
        let last = header.last;
        header.parent.register(cx.waker());
        if !this.started {
            this.started = true;
            for index in 0..this.children.len() {
                let waker = this.wakers.waker(index);
                // Registers with the helper, which keeps a clone.
                let _ = Pin::new(&mut this.children[index]).poll(&mut Context::from_waker(&waker));
            }
        }
        if header.wait == Wait::Prompt {
            return this.poll_prompt();
        }
        let words = this.wakers.ready();
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
                Self::finish(this.children, this.outputs, &this.wakers, index);
            }
        }
        Poll::Ready(())
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
