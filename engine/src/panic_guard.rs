//! Defence in depth: a bug that panics while one connection is processed
//! costs that connection, not the sensor. The shard runs each connection's
//! work through `contain`; a panic there is caught, the connection is
//! dropped by the caller and counted (`connection_panics`), and its
//! message is logged once per shard rather than printed by Rust's default
//! hook for every occurrence.
//!
//! Rust prints a panic's message from a process-wide hook before unwinding
//! starts, so `install_hook` wraps that hook: inside `contain` it keeps the
//! message for the shard to log instead of printing it; anywhere else the
//! usual hook runs.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside `contain`.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic caught on this thread.
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs the hook once per process (idempotent; tests call it freely).
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                LAST.with(|l| *l.borrow_mut() = format!("{msg}{at}"));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f`; a panic in it comes back as `Err(message)`.
///
/// `AssertUnwindSafe`: after a panic the caller throws away the state `f`
/// was changing (the connection), so no half-updated value is used again.
pub fn contain<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    result.map_err(|_| LAST.with(|l| std::mem::take(&mut *l.borrow_mut())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_returned_with_its_message() {
        install_hook();
        assert_eq!(contain(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let err = contain(|| v[usize::MAX / 2]).unwrap_err();
        assert!(err.contains("index out of bounds"), "{err}");
        assert!(err.contains("panic_guard.rs"), "{err}");
        // Nesting keeps the outer guard in place.
        let err = contain(|| {
            let _ = contain(|| panic!("inner"));
            panic!("outer")
        })
        .unwrap_err();
        assert!(err.starts_with("outer"), "{err}");
    }
}
