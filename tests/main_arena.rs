//! The binary's global allocator (src/arena.rs), driven directly through `GlobalAlloc`
//! on arenas of its own. (Every black-box test also runs it: it is the allocator of the
//! tend binary they start.)

#[path = "../src/arena.rs"]
mod arena;

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashSet;

use arena::Arena;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// An arena that lives for the whole test binary, as the global one does.
fn leak<const N: usize>() -> &'static Arena<N> {
    Box::leak(Box::new(Arena::<N>::new()))
}

fn fill(p: *mut u8, len: usize, byte: u8) {
    unsafe { p.write_bytes(byte, len) };
}

fn all(p: *const u8, len: usize, byte: u8) -> bool {
    unsafe { std::slice::from_raw_parts(p, len) }.iter().all(|&b| b == byte)
}

#[test]
fn blocks_are_aligned_disjoint_and_inside() {
    let a = leak::<8192>();
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    for (i, (size, align)) in
        [(1, 1), (3, 2), (8, 8), (5, 16), (100, 64), (7, 4), (1, 256), (24, 8)].into_iter().enumerate()
    {
        let p = unsafe { a.alloc(layout(size, align)) };
        assert!(!p.is_null());
        assert!(a.contains(p), "block {i} not from the arena");
        assert_eq!(p as usize % align, 0, "block {i} misaligned");
        fill(p, size, i as u8 + 1);
        blocks.push((p as usize, size));
    }
    for (i, &(p, n)) in blocks.iter().enumerate() {
        assert!(all(p as *const u8, n, i as u8 + 1), "block {i} was overwritten by another");
    }
}

#[test]
fn touch_changes_nothing_before_or_after_allocations() {
    let a = leak::<4096>();
    a.touch();
    assert_eq!(a.used(), 0, "touch on a fresh arena");
    let l = layout(96, 8);
    let p = unsafe { a.alloc(l) };
    assert!(a.contains(p));
    let used = a.used();
    a.touch();
    assert_eq!(a.used(), used, "touch after an allocation");
    assert_eq!(unsafe { a.alloc(l) } as usize, p as usize + 96, "the next block follows the first");
}

#[test]
fn freeing_the_newest_block_gives_its_bytes_back() {
    let a = leak::<4096>();
    let l = layout(100, 8);
    let p = unsafe { a.alloc(l) };
    let q = unsafe { a.alloc(l) };
    let used = a.used();
    unsafe { a.dealloc(q, l) };
    assert_eq!(a.used(), used - 100);
    assert_eq!(unsafe { a.alloc(l) }, q, "the freed newest block is handed out again");
    // An older block stays used: the next block comes after the newest.
    unsafe { a.dealloc(p, l) };
    let r = unsafe { a.alloc(l) };
    assert!(r > q, "an older freed block must not be reused");
}

#[test]
fn the_newest_block_grows_and_shrinks_in_place() {
    let a = leak::<4096>();
    // Byte-aligned, so the first block starts at the arena's first byte.
    let l = layout(16, 1);
    let p = unsafe { a.alloc(l) };
    assert_eq!(a.used(), 16);
    fill(p, 16, 0xab);
    let q = unsafe { a.realloc(p, l, 1000) };
    assert_eq!(q, p);
    assert!(all(q, 16, 0xab));
    assert_eq!(a.used(), 1000);
    let r = unsafe { a.realloc(q, layout(1000, 1), 10) };
    assert_eq!(r, p);
    assert_eq!(a.used(), 10);
    // Growing past the end of the arena moves it out.
    let s = unsafe { a.realloc(r, layout(10, 1), 5000) };
    assert!(!a.contains(s));
    assert!(all(s, 10, 0xab));
    assert_eq!(a.used(), 0);
    unsafe { a.dealloc(s, layout(5000, 1)) };
}

#[test]
fn an_older_block_moves_when_it_grows_and_keeps_its_bytes() {
    let a = leak::<4096>();
    let l = layout(32, 8);
    let p = unsafe { a.alloc(l) };
    fill(p, 32, 0x5a);
    let _newer = unsafe { a.alloc(l) };
    let q = unsafe { a.realloc(p, l, 64) };
    assert!(!q.is_null());
    assert_ne!(q, p);
    assert!(a.contains(q));
    assert!(all(q, 32, 0x5a));
    // Shrinking an older block keeps it where it is.
    let r = unsafe { a.realloc(q, layout(64, 8), 8) };
    assert!(!r.is_null());
}

#[test]
fn what_does_not_fit_comes_from_the_system_and_goes_back_to_it() {
    let a = leak::<1024>();
    let big = layout(4096, 8);
    let p = unsafe { a.alloc(big) };
    assert!(!p.is_null());
    assert!(!a.contains(p));
    fill(p, 4096, 1);
    assert_eq!(a.used(), 0, "a refused request uses nothing");
    unsafe { a.dealloc(p, big) };

    // Fill the arena; the next request goes to the system.
    let l = layout(1000, 8);
    let q = unsafe { a.alloc(l) };
    assert!(a.contains(q));
    let r = unsafe { a.alloc(layout(100, 8)) };
    assert!(!r.is_null());
    assert!(!a.contains(r));
    unsafe { a.dealloc(r, layout(100, 8)) };

    // An arena block that outgrows the arena moves to the system, bytes and all.
    fill(q, 1000, 0x77);
    let s = unsafe { a.realloc(q, l, 10_000) };
    assert!(!s.is_null());
    assert!(!a.contains(s));
    assert!(all(s, 1000, 0x77));
    assert_eq!(a.used(), 0, "the moved newest block gave its bytes back");
    let t = unsafe { a.realloc(s, layout(10_000, 8), 20_000) };
    assert!(all(t, 1000, 0x77));
    unsafe { a.dealloc(t, layout(20_000, 8)) };
}

#[test]
fn zeroed_blocks_are_zero_even_where_bytes_were_given_back() {
    let a = leak::<4096>();
    let l = layout(256, 8);
    let p = unsafe { a.alloc(l) };
    fill(p, 256, 0xff);
    unsafe { a.dealloc(p, l) };
    let q = unsafe { a.alloc_zeroed(l) };
    assert_eq!(q, p);
    assert!(all(q, 256, 0));
    let big = layout(8192, 8);
    let r = unsafe { a.alloc_zeroed(big) };
    assert!(!a.contains(r));
    assert!(all(r, 8192, 0));
    unsafe { a.dealloc(r, big) };
}

#[test]
fn threads_get_disjoint_blocks() {
    let a = leak::<{ 256 * 1024 }>();
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..2000usize {
                    let size = 1 + (i * 7 + t as usize) % 61;
                    let l = layout(size, 1 << (i % 4));
                    let p = unsafe { a.alloc(l) };
                    fill(p, size, t + 1);
                    // Give some back at once (the newest, sometimes).
                    if i % 3 == 0 {
                        unsafe { a.dealloc(p, l) };
                    } else {
                        mine.push((p as usize, size));
                    }
                }
                for &(p, n) in &mine {
                    assert!(all(p as *const u8, n, t + 1), "thread {t}: a block was overwritten");
                }
                mine
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        for (p, _) in h.join().unwrap() {
            assert!(seen.insert(p), "two live blocks at {p:#x}");
        }
    }
}
