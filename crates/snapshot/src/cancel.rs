//! Cancelling long copies and restores from outside: a [`Cancel`] token, and a scope
//! ([`cancellable`]) within which this crate's operations on the calling thread give up with
//! [`SnapshotError::Cancelled`] once the token is set.
//!
//! A scope rather than a parameter: the copies worth cancelling (a qualification room of a big
//! workspace, made in the background) run through the same public functions as every other copy,
//! several calls deep; the token reaches the worker threads of an operation from its scope.
//!
//! What a cancelled operation leaves: a copy-out leaves nothing (its staging directory is
//! removed); a restore leaves its target part-restored, and, like any restore that returns an
//! error, no journal, so the next `Store::open` does not finish it — the caller is abandoning the
//! target (and removes it).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::SnapshotError;

/// A cancellation flag shared between the thread that runs an operation and the one that wants
/// it stopped.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every operation running in a scope of this token to stop soon.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

/// Runs `f` with `token` as this thread's cancellation token: copies and restores inside stop
/// with [`SnapshotError::Cancelled`] once it is set.
pub fn cancellable<R>(token: &Cancel, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with_borrow_mut(|slot| slot.replace(token.clone()));
    // Put the outer scope back even if `f` panics.
    struct Restore(Option<Cancel>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with_borrow_mut(|slot| *slot = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The token of the current scope, for worker threads an operation starts.
pub(crate) fn current() -> Option<Cancel> {
    CURRENT.with_borrow(Clone::clone)
}

/// `Err(Cancelled)` once `token` is set.
pub(crate) fn check(token: Option<&Cancel>) -> Result<(), SnapshotError> {
    match token {
        Some(t) if t.is_cancelled() => Err(SnapshotError::Cancelled),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_per_thread_and_nests() {
        let outer = Cancel::new();
        let inner = Cancel::new();
        assert!(current().is_none());
        cancellable(&outer, || {
            inner.cancel();
            cancellable(&inner, || assert!(check(current().as_ref()).is_err()));
            assert!(check(current().as_ref()).is_ok(), "the outer token is back");
            std::thread::scope(|s| {
                s.spawn(|| assert!(current().is_none(), "not inherited by other threads"));
            });
        });
        assert!(current().is_none());
    }
}
