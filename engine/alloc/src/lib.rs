//! A global allocator wrapper that counts the allocations of each thread,
//! so `wangge bench` can say what one evaluation allocates. Counters are
//! thread-local (`Cell`s with a const initialiser: no allocation, no
//! destructor, no shared cache line), so the server's threads pay a couple
//! of plain increments per allocation and never contend.
//!
//! This is the workspace's only unsafe code: `GlobalAlloc` is an unsafe
//! trait. Every method forwards to the wrapped allocator unchanged.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// Wraps an allocator (mimalloc in the binary) and counts what goes
/// through it per thread.
pub struct Counting<A>(pub A);

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Allocations made on one thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocations {
    /// Allocations and reallocations.
    pub count: u64,
    /// Bytes asked for by them.
    pub bytes: u64,
}

impl Allocations {
    /// What happened between `earlier` and `self` (both of one thread).
    pub fn since(self, earlier: Allocations) -> Allocations {
        Allocations {
            count: self.count.wrapping_sub(earlier.count),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

/// The calling thread's running totals (zero when [`Counting`] is not the
/// global allocator: see [`installed`]).
pub fn this_thread() -> Allocations {
    Allocations {
        count: COUNT.try_with(Cell::get).unwrap_or(0),
        bytes: BYTES.try_with(Cell::get).unwrap_or(0),
    }
}

/// Whether [`Counting`] is the global allocator (so a count of zero means
/// nothing was allocated, not that nothing was counted).
pub fn installed() -> bool {
    let before = this_thread();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    this_thread().count != before.count
}

fn count(bytes: usize) {
    // During a thread's teardown its locals may be gone: not counted.
    let _ = COUNT.try_with(|c| c.set(c.get().wrapping_add(1)));
    let _ = BYTES.try_with(|c| c.set(c.get().wrapping_add(bytes as u64)));
}

// SAFETY: every method forwards its arguments unchanged to the wrapped
// allocator, which upholds the `GlobalAlloc` contract, and returns its
// result unchanged. Counting touches only const-initialised thread-locals
// without destructors, so it never allocates or re-enters the allocator.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller upholds `realloc`'s contract: `ptr` came from
        // this allocator with `layout`.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract: `ptr` came from
        // this allocator with `layout`.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}
