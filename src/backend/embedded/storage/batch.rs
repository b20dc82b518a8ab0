//! Under `fsync: always`, the produces one sync round of a partition settles. A produce holds
//! its round's batch and waits for its outcome, not for an offset: a round whose write fails
//! (a full disk) takes its records back out of the log, and the next produce reuses their
//! offsets, so "the offset is below what was synced" would answer those producers wrongly.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::GatewayError;

#[derive(Default)]
pub(crate) struct Batch(Mutex<State>);

#[derive(Default)]
struct State {
    outcome: Option<Result<(), GatewayError>>,
    waiters: Vec<Waker>,
}

fn lock(b: &Batch) -> std::sync::MutexGuard<'_, State> {
    b.0.lock().unwrap_or_else(|p| p.into_inner())
}

impl Batch {
    pub(crate) fn new() -> Arc<Batch> {
        Arc::new(Batch::default())
    }

    /// Ends the batch; the produces it held are handed back to be woken once, by the caller,
    /// with those of every other partition of the round. A second outcome is ignored.
    pub(crate) fn settle(&self, outcome: Result<(), GatewayError>) -> Vec<Waker> {
        let mut st = lock(self);
        if st.outcome.is_some() {
            return Vec::new();
        }
        st.outcome = Some(outcome);
        std::mem::take(&mut st.waiters)
    }

    /// The outcome, or the task registered to hear it. `registered` is the waker this produce
    /// left last time, so a poll with the same waker adds nothing; true in the pair when this
    /// poll registered the produce for the first time.
    pub(crate) fn poll(
        &self,
        cx: &Context<'_>,
        registered: &mut Option<Waker>,
    ) -> (Poll<Result<(), GatewayError>>, bool) {
        let mut st = lock(self);
        if let Some(outcome) = &st.outcome {
            return (Poll::Ready(outcome.clone()), false);
        }
        if registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return (Poll::Pending, false);
        }
        st.waiters.push(cx.waker().clone());
        let first = registered.replace(cx.waker().clone()).is_none();
        (Poll::Pending, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_batch_hands_back_each_registered_produce_once_and_answers_later_polls_itself() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let b = Batch::new();
        let mut reg = None;
        let (p, first) = b.poll(&cx, &mut reg);
        assert!(p.is_pending() && first);
        let (p, first) = b.poll(&cx, &mut reg);
        assert!(
            p.is_pending() && !first,
            "the same waker is not added twice"
        );
        let woken = b.settle(Err(GatewayError::InsufficientStorage("full".into())));
        assert_eq!(woken.len(), 1);
        assert!(
            b.settle(Ok(())).is_empty(),
            "the first outcome stands, nobody is woken twice"
        );
        let (p, _) = b.poll(&cx, &mut reg);
        assert_eq!(
            p,
            Poll::Ready(Err(GatewayError::InsufficientStorage("full".into())))
        );
    }
}
