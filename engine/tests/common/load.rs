//! Keeps load-sensitive tests apart from CPU-heavy ones inside the one
//! test binary. Live tests (namespaces, real traffic at top speed) assert
//! that nothing was dropped, which holds only while no file run is
//! saturating the cores; when each was its own test binary, cargo ran
//! them one binary after another. Now a test enters a `Kind` before it
//! starts: tests of one kind run together (two at a time, as before), a
//! test of the other kind waits until they are done.
//!
//! A thread that already holds a pass does not take another: a live test
//! runs httpcap through `Run` too.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::{Condvar, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Traffic in network namespaces: packet sockets, tcpdump, tcpreplay.
    Live,
    /// httpcap on files or FIFOs, brokers, everything else that spawns it.
    Offline,
}

/// (the kind running now, how many passes of it are out)
static STATE: Mutex<(Option<Kind>, usize)> = Mutex::new((None, 0));
static CHANGED: Condvar = Condvar::new();

thread_local! {
    /// Passes this thread holds.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// Leave to run a test of `kind`, until dropped. Stays on its thread.
pub struct Pass {
    counted: bool,
    _on_this_thread: PhantomData<*const ()>,
}

/// Waits until tests of `kind` may run (none of the other kind is
/// running), unless this thread already holds a pass.
pub fn enter(kind: Kind) -> Pass {
    if HELD.with(Cell::get) > 0 {
        return Pass {
            counted: false,
            _on_this_thread: PhantomData,
        };
    }
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    while state.1 > 0 && state.0 != Some(kind) {
        state = CHANGED.wait(state).unwrap_or_else(|e| e.into_inner());
    }
    *state = (Some(kind), state.1 + 1);
    HELD.with(|h| h.set(h.get() + 1));
    Pass {
        counted: true,
        _on_this_thread: PhantomData,
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        HELD.with(|h| h.set(h.get() - 1));
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        state.1 -= 1;
        if state.1 == 0 {
            state.0 = None;
        }
        CHANGED.notify_all();
    }
}
