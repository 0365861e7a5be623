//! The binary's global allocator: a small static arena in front of the C library's
//! `malloc`.
//!
//! Why: musl's malloc (mallocng) gives each size class its own group of slots, maps a
//! fresh page for it on first use and unmaps it again when its last slot is freed. A
//! short-lived tend process (`tend status`, `tend ls`, the init starting its child)
//! makes a few dozen allocations of a dozen sizes, so it spent ~5 mmap and ~3 munmap
//! calls (and a TLB flush each) on them: ~10% of a whole `tend status` (bench row 92).
//! Those allocations (~11 KiB for `tend -- CMD`, most of it the environment copied for
//! the child; 12-14 KiB for `tend status` or `tend version`; ~30 KiB for `tend ls` of
//! 10 services) now come from this arena, in the binary's .bss: no system call at all,
//! and only the pages actually used are ever touched.
//!
//! How: a bump pointer over a static buffer, moved with compare-and-swap (tend has
//! threads). Freeing or resizing the newest allocation moves the pointer back, which
//! covers the usual Vec growth and the short-lived temporaries; any other freed block
//! stays used. When a request does not fit, it goes to the system allocator, and so
//! does everything after the arena has filled up. A long-running tend (`tend run`)
//! thus keeps at most [`Arena`]'s size of memory it cannot reuse, from its start-up
//! (configuration, parsing), and allocates as before from then on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// An arena of `N` bytes, then [`System`].
///
/// Page-aligned, with the bytes right after the offset, so that a process touches no
/// more pages of it than it fills (its resident memory counts whole pages).
#[repr(C, align(4096))]
pub struct Arena<const N: usize> {
    /// Offset of the first byte not handed out.
    next: AtomicUsize,
    buf: UnsafeCell<[u8; N]>,
}

// SAFETY: the buffer is only reached through pointers handed out for disjoint ranges,
// and `next`, which decides those ranges, is atomic.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena { next: AtomicUsize::new(0), buf: UnsafeCell::new([0; N]) }
    }

    /// Bytes handed out and not given back (padding included).
    #[allow(dead_code)] // for tests/arena.rs
    pub fn used(&self) -> usize {
        self.next.load(Acquire)
    }

    /// True if `p` points into the arena (it was allocated here, not by the system).
    #[allow(dead_code)] // for tests/arena.rs
    pub fn contains(&self, p: *const u8) -> bool {
        self.offset(p).is_some()
    }

    fn base(&self) -> usize {
        self.buf.get() as usize
    }

    fn offset(&self, p: *const u8) -> Option<usize> {
        let o = (p as usize).wrapping_sub(self.base());
        (o < N).then_some(o)
    }

    /// Write to the arena's first page before anything reads it: a fresh .bss page read
    /// before it is written faults twice (the zero page, then its copy), and `next`
    /// shares that page with the first allocations. A locked read-modify-write is a
    /// write access, so the page faults once: one fault less for every tend process,
    /// paid once at start rather than on every allocation. Changes nothing. (A
    /// compare-exchange: an idempotent `fetch_add(0)` is lowered to a plain load on
    /// x86_64, which would fault as a read.)
    pub fn touch(&self) {
        let _ = self.next.compare_exchange(0, 0, AcqRel, Relaxed);
    }

    /// A block for `layout` from the arena, or null if it does not fit.
    fn bump(&self, layout: Layout) -> *mut u8 {
        let base = self.base();
        // Acquire/release on `next`: bytes given back by one thread (a release as the
        // offset moves back) may be handed to another, whose writes must come after.
        let mut cur = self.next.load(Acquire);
        loop {
            // Aligned as an address (alignments above a page's are allowed too).
            let Some(start) = (base + cur).checked_next_multiple_of(layout.align()) else {
                return ptr::null_mut();
            };
            let start = start - base;
            let end = match start.checked_add(layout.size()) {
                Some(e) if e <= N => e,
                _ => return ptr::null_mut(),
            };
            match self.next.compare_exchange_weak(cur, end, AcqRel, Acquire) {
                Ok(_) => return self.buf.get().cast::<u8>().wrapping_add(start),
                Err(now) => cur = now,
            }
        }
    }
}

// Not inlined: under LTO the allocator would otherwise be copied into each of the
// thousands of places that allocate (+100 KB of code).
// SAFETY: every block handed out is a range of the arena no other live block overlaps
// (`next` only moves back over the newest block, when that block is freed or resized),
// aligned and sized as asked; the rest is delegated to System with the caller's
// guarantees unchanged, and System never sees an arena pointer.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.bump(layout);
        if p.is_null() {
            // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
            unsafe { System.alloc(layout) }
        } else {
            p
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.bump(layout);
        if p.is_null() {
            // SAFETY: as in alloc.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: p is a fresh block of layout.size() bytes (which may have been used
        // and given back before, so it is zeroed here).
        unsafe { p.write_bytes(0, layout.size()) };
        p
    }

    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match self.offset(p) {
            // The newest block: the pointer moves back over it. Any other: left used.
            Some(o) => {
                let _ = self.next.compare_exchange(o + layout.size(), o, AcqRel, Relaxed);
            }
            // SAFETY: p came from System.alloc* with this layout (see contains).
            None => unsafe { System.dealloc(p, layout) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(o) = self.offset(p) else {
            // SAFETY: p came from System with this layout; the caller's new_size.
            return unsafe { System.realloc(p, layout, new_size) };
        };
        // The newest block grows or shrinks in place.
        if new_size <= N - o && self.next.compare_exchange(o + layout.size(), o + new_size, AcqRel, Relaxed).is_ok() {
            return p;
        }
        if new_size <= layout.size() {
            return p;
        }
        // SAFETY: GlobalAlloc::realloc guarantees that new_size with the old alignment
        // is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: new_layout has a non-zero size (it is larger than the old one).
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both blocks are live, distinct, and at least layout.size() long.
            unsafe { ptr::copy_nonoverlapping(p, q, layout.size()) };
            // SAFETY: p is an arena block with this layout.
            unsafe { self.dealloc(p, layout) };
        }
        q
    }
}
