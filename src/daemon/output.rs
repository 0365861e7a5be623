//! Service output: child pipes read by the loop into bounded ring buffers, and passed
//! through to tend's own stdout/stderr as `NAME | line` by a writer thread per stream.
//!
//! What must hold (PITFALLS §7, §14):
//! - A child never blocks because tend is slow: pipes are drained until WouldBlock; the
//!   passthrough queue is bounded in bytes and overflow is dropped and counted, unless
//!   the service asked for backpressure (then tend stops reading that pipe until the
//!   writer catches up, and the writer wakes the loop).
//! - tend's inherited stdout/stderr are written by a thread with blocking writes, never
//!   switched to O_NONBLOCK (the flag would be shared with the container runtime).
//! - Memory is bounded: rings grow only as output arrives, up to their capacity.
//! - A pipe found full (a read returned all it holds: the child was about to block) is
//!   grown once to [`PIPE_FLOOD`], so a service writing flat out is read in fewer,
//!   larger reads and never waits on tend between them; quiet services keep the
//!   default size, which is what counts against the user's pipe limits (pipe(7)).

use std::collections::VecDeque;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

/// A byte ring holding the last `cap` bytes written to it, and when each part of them
/// was read. The loop reads a pipe straight into it ([`Ring::slot`], then
/// [`Ring::commit`]): captured output is copied once, by the kernel. The log file
/// writer thread reads its bytes from the ring too, through [`RingView`]s: the ring
/// never lets the loop overwrite a part of it that a view still covers (see
/// [`Ring::writable`]).
pub struct Ring {
    /// `cap` bytes once anything was written (allocated zeroed, so pages not yet
    /// written are not resident); None before.
    mem: Option<Arc<RingMem>>,
    cap: usize,
    /// Bytes ever pushed; the byte at absolute position `p` is at offset `p % cap`.
    pub total: u64,
    /// (absolute position, time in µs since the Unix epoch) of each push that began a
    /// new time, oldest first: the bytes from one mark to the next were read at the
    /// mark's time. At most `max_marks` are kept; bytes older than the oldest mark are
    /// given its time.
    marks: VecDeque<(u64, u64)>,
    max_marks: usize,
    /// The ranges (absolute start, end) handed out as views, oldest first, and the end
    /// of the last one the writer let go of (views are let go of in order).
    views: VecDeque<(u64, u64)>,
    released: Arc<AtomicU64>,
}

/// A ring's buffer. Shared with the log file writer through [`RingView`]s; every
/// access goes through raw parts of the ranges asked for, never a reference to the
/// whole buffer, since the loop writes one part while the writer reads another.
struct RingMem {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: the buffer is plain bytes owned by this struct. Which thread may touch which
// part is the ring's rule: the loop writes only the part Ring::writable leaves it, no
// view covers that part, and a view's bytes are written before the view is sent to
// the writer thread (the channel orders them) and rewritten only after the writer
// released the view (a Release store the loop reads with Acquire).
unsafe impl Send for RingMem {}
// SAFETY: as for Send: shared reads of a range, writes only to ranges no view covers.
unsafe impl Sync for RingMem {}

impl RingMem {
    fn new(cap: usize) -> RingMem {
        let layout = std::alloc::Layout::array::<u8>(cap).unwrap_or(std::alloc::Layout::new::<u8>());
        // SAFETY: the layout is not zero-sized (cap >= 1, see Ring::new).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(p) else { std::alloc::handle_alloc_error(layout) };
        RingMem { ptr, cap }
    }

    /// Bytes `i..i + n` (within the buffer).
    ///
    /// SAFETY: no one may write them while the slice lives (the ring's rule).
    unsafe fn get(&self, i: usize, n: usize) -> &[u8] {
        debug_assert!(i + n <= self.cap);
        // SAFETY: in bounds (the callers clamp to cap); allocated and initialized
        // (zeroed) for the life of self; nobody writes them meanwhile (the caller).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(i), n) }
    }

    /// Bytes `i..i + n`, to write.
    ///
    /// SAFETY: no one else may read or write them while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, i: usize, n: usize) -> &mut [u8] {
        debug_assert!(i + n <= self.cap);
        // SAFETY: as in get, and the caller has these bytes to itself.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(i), n) }
    }
}

impl Drop for RingMem {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::array::<u8>(self.cap).unwrap_or(std::alloc::Layout::new::<u8>());
        // SAFETY: allocated in new with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
    }
}

/// Bytes of a ring lent to the log file writer: contiguous in the buffer, not
/// overwritten until the view is dropped (which lets go of it).
pub struct RingView {
    mem: Arc<RingMem>,
    released: Arc<AtomicU64>,
    /// Absolute positions.
    start: u64,
    end: u64,
}

impl RingView {
    pub fn bytes(&self) -> &[u8] {
        let i = (self.start % self.mem.cap as u64) as usize;
        // SAFETY: the ring does not write these bytes before this view is dropped
        // (Ring::writable), and i..i + len lies in the buffer (Ring::view).
        unsafe { self.mem.get(i, (self.end - self.start) as usize) }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// True if it is a view of `ring`.
    pub fn of(&self, ring: &Ring) -> bool {
        ring.mem.as_ref().is_some_and(|m| Arc::ptr_eq(m, &self.mem))
    }
}

impl Drop for RingView {
    fn drop(&mut self) {
        // Release: the reads of the bytes come before the loop's next write to them.
        self.released.fetch_max(self.end, Ordering::SeqCst);
    }
}

impl Ring {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Ring {
            mem: None,
            cap,
            total: 0,
            marks: VecDeque::new(),
            max_marks: marks_for(cap),
            views: VecDeque::new(),
            released: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    fn idx(&self, pos: u64) -> usize {
        (pos % self.cap as u64) as usize
    }

    /// Bytes at offsets `i..i + n` of the buffer (empty before anything was written).
    fn get(&self, i: usize, n: usize) -> &[u8] {
        match &self.mem {
            // SAFETY: the loop's own reads; it writes only through slot(), which needs
            // &mut self, so not while this slice lives; the writer only reads.
            Some(m) if i + n <= self.cap => unsafe { m.get(i, n) },
            _ => &[],
        }
    }

    /// How many bytes may be written now without overwriting a part a view still
    /// covers (the whole capacity when no view is out).
    pub fn writable(&mut self) -> usize {
        let released = self.released.load(Ordering::SeqCst);
        while self.views.front().is_some_and(|&(_, end)| end <= released) {
            self.views.pop_front();
        }
        match self.views.front() {
            Some(&(start, _)) => self.cap.saturating_sub((self.total - start) as usize),
            None => self.cap,
        }
    }

    /// True while some view of this ring is out.
    pub fn has_views(&mut self) -> bool {
        self.writable();
        !self.views.is_empty()
    }

    /// A view of the last `n` bytes committed, which must be contiguous in the buffer
    /// (the bytes of one commit are).
    pub fn view(&mut self, n: usize) -> Option<RingView> {
        let mem = Arc::clone(self.mem.as_ref()?);
        let n = n.min(self.len());
        let start = self.total - n as u64;
        if self.idx(start) + n > self.cap {
            return None;
        }
        self.views.push_back((start, self.total));
        Some(RingView { mem, released: Arc::clone(&self.released), start, end: self.total })
    }

    /// True if the next bytes written would continue view `v`: it is this ring's
    /// newest, ends at the last byte written, and not at the end of the buffer.
    pub fn continues(&self, v: &RingView) -> bool {
        v.of(self)
            && self.views.back() == Some(&(v.start, v.end))
            && v.end == self.total
            && self.idx(v.start) + v.len() < self.cap
    }

    /// Extend `v`, the newest view of this ring, by the last `n` bytes committed; false
    /// (and `v` unchanged) unless they follow it, contiguous in the buffer.
    pub fn extend_view(&mut self, v: &mut RingView, n: usize) -> bool {
        let last = self.views.back().copied();
        if !v.of(self) || last != Some((v.start, v.end)) || v.end + n as u64 != self.total {
            return false;
        }
        if self.idx(v.start) + v.len() + n > self.cap {
            return false;
        }
        v.end = self.total;
        if let Some(b) = self.views.back_mut() {
            b.1 = self.total;
        }
        true
    }

    /// Where the next bytes go: at most `max` bytes, contiguous, overwriting the
    /// oldest, never a part a view still covers (empty if that is all there is). Fill
    /// some of it, then [`Ring::commit`] how many.
    pub fn slot(&mut self, max: usize) -> &mut [u8] {
        let room = self.writable();
        let i = self.idx(self.total);
        let n = max.min(self.cap - i).min(room);
        let cap = self.cap;
        let mem = self.mem.get_or_insert_with(|| Arc::new(RingMem::new(cap)));
        // SAFETY: &mut self: no slice of the loop's own lives; no view covers these
        // bytes (writable); the writer reads only through views.
        unsafe { mem.get_mut(i, n) }
    }

    /// The first `n` bytes of the last [`Ring::slot`] were written, read at `t_us` (µs
    /// since the epoch, not decreasing from one commit to the next).
    pub fn commit(&mut self, n: usize, t_us: u64) {
        if n == 0 {
            return;
        }
        if self.marks.back().is_none_or(|&(_, t)| t != t_us) {
            self.marks.push_back((self.total, t_us));
        }
        self.total += n as u64;
        // Marks whose bytes are all overwritten go; then the oldest beyond the bound.
        let start = self.start();
        while self.marks.len() > 1 && self.marks[1].0 <= start {
            self.marks.pop_front();
        }
        while self.marks.len() > self.max_marks {
            self.marks.pop_front();
        }
    }

    /// The last `n` bytes committed, when they are contiguous (as the bytes of one
    /// commit are).
    pub fn recent(&self, n: usize) -> &[u8] {
        let n = n.min(self.len());
        let i = self.idx(self.total - n as u64);
        self.get(i, n)
    }

    /// Append `data`, read at `t_us` (what a view covers stays: the rest is dropped).
    #[cfg(test)]
    pub fn push(&mut self, mut data: &[u8], t_us: u64) {
        if data.len() > self.cap {
            // Only the last `cap` bytes can stay; the others are counted as written.
            let skip = data.len() - self.cap;
            self.marks.push_back((self.total, t_us));
            self.total += skip as u64;
            data = &data[skip..];
        }
        while !data.is_empty() {
            let slot = self.slot(data.len());
            let n = slot.len();
            if n == 0 {
                break;
            }
            slot.copy_from_slice(&data[..n]);
            self.commit(n, t_us);
            data = &data[n..];
        }
    }

    /// Keep only the last `keep` bytes and their times, in a buffer of that size (for
    /// output that is done growing: an ended job's). Positions are unchanged, so a
    /// reader's cursor stays valid; what fell out of the ring is simply no longer
    /// retained.
    pub fn shrink_to(&mut self, keep: usize) {
        let keep = keep.max(1);
        if keep >= self.cap {
            return;
        }
        if self.mem.is_some() {
            let from = self.total.saturating_sub(keep as u64);
            let (a, b) = self.slices(from, self.total);
            let kept = [a, b].concat();
            let mem = RingMem::new(keep);
            let i = (from % keep as u64) as usize;
            let first = kept.len().min(keep - i);
            // SAFETY: a new buffer no one else has; both ranges lie in it (kept.len()
            // <= keep).
            unsafe {
                mem.get_mut(i, first).copy_from_slice(&kept[..first]);
                mem.get_mut(0, kept.len() - first).copy_from_slice(&kept[first..]);
            }
            // Views of the old buffer keep it alive until the writer is done with
            // them; none covers the new one.
            self.mem = Some(Arc::new(mem));
            self.views.clear();
            self.released = Arc::new(AtomicU64::new(0));
        }
        self.cap = keep;
        self.max_marks = marks_for(keep);
        let start = self.start();
        while self.marks.len() > 1 && self.marks[1].0 <= start {
            self.marks.pop_front();
        }
        while self.marks.len() > self.max_marks {
            self.marks.pop_front();
        }
        self.marks.shrink_to_fit();
    }

    /// The retained bytes, oldest first.
    #[cfg(test)]
    pub fn contents(&self) -> Vec<u8> {
        let (a, b) = self.slices(self.start(), self.total);
        [a, b].concat()
    }

    /// The most bytes it retains.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// How many bytes are retained.
    fn len(&self) -> usize {
        (self.total - self.start()) as usize
    }

    /// Absolute position (counted in bytes ever pushed) of the oldest retained byte.
    pub fn start(&self) -> u64 {
        self.total.saturating_sub(self.cap as u64)
    }

    /// The retained bytes from `from` to `to` (absolute, clamped to what is retained)
    /// as two slices, the second empty unless the range wraps.
    fn slices(&self, from: u64, to: u64) -> (&[u8], &[u8]) {
        let from = from.clamp(self.start(), self.total);
        let to = to.clamp(from, self.total);
        if from == to {
            return (&[], &[]);
        }
        let (i, n) = (self.idx(from), (to - from) as usize);
        if i + n <= self.cap {
            (self.get(i, n), &[])
        } else {
            (self.get(i, self.cap - i), self.get(0, i + n - self.cap))
        }
    }

    /// Append up to `max` retained bytes from absolute position `pos` to `out`;
    /// returns how many (0 if `pos` is not retained or is the end).
    pub fn copy_at(&self, pos: u64, max: usize, out: &mut Vec<u8>) -> usize {
        if pos < self.start() || pos >= self.total {
            return 0;
        }
        let end = pos.saturating_add(max as u64).min(self.total);
        let (a, b) = self.slices(pos, end);
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        a.len() + b.len()
    }

    /// When the byte at absolute position `pos` was read (µs since the epoch); None
    /// when nothing was ever pushed.
    pub fn time_at(&self, pos: u64) -> Option<u64> {
        let i = self.marks.partition_point(|&(p, _)| p <= pos);
        self.marks.get(i.saturating_sub(1)).map(|&(_, t)| t)
    }

    /// The position where the next mark after `pos` begins (or `total`): the bytes
    /// from `pos` up to there share one time.
    pub fn next_mark(&self, pos: u64) -> u64 {
        let i = self.marks.partition_point(|&(p, _)| p <= pos);
        self.marks.get(i).map_or(self.total, |&(p, _)| p)
    }

    /// The position of the first byte read at or after `t_us` (`total` if none).
    pub fn first_at_or_after(&self, t_us: u64) -> u64 {
        let i = self.marks.partition_point(|&(_, t)| t < t_us);
        match self.marks.get(i) {
            // Bytes before the oldest mark carry its time.
            Some(_) if i == 0 => self.start(),
            Some(&(p, _)) => p.max(self.start()),
            None => self.total,
        }
    }

    /// The retained byte at absolute position `pos`.
    pub fn byte_at(&self, pos: u64) -> Option<u8> {
        if pos < self.start() || pos >= self.total {
            return None;
        }
        self.get(self.idx(pos), 1).first().copied()
    }

    /// The first retained position at or after `pos` where a line begins: `pos`
    /// itself if it is the oldest retained byte or follows a newline, else just after
    /// the next newline (`total` if there is none).
    pub fn line_start_from(&self, pos: u64) -> u64 {
        let pos = pos.clamp(self.start(), self.total);
        if pos == self.start() || self.byte_at(pos - 1) == Some(b'\n') {
            return pos;
        }
        let (a, b) = self.slices(pos, self.total);
        let found =
            a.iter().position(|&c| c == b'\n').or_else(|| b.iter().position(|&c| c == b'\n').map(|i| a.len() + i));
        found.map_or(self.total, |i| pos + i as u64 + 1)
    }

    /// Absolute position where the last `lines` lines (a final newline ends the last
    /// line, it does not start one) and at most the last `bytes` bytes begin.
    pub fn tail_start(&self, lines: Option<u64>, bytes: Option<u64>) -> u64 {
        self.tail_before(self.start(), self.total, lines, bytes)
    }

    /// Like [`Ring::tail_start`] for the retained bytes between the absolute positions
    /// `from` and `end`: where the last `lines` lines and at most `bytes` bytes before
    /// `end` begin, never before `from`.
    pub fn tail_before(&self, from: u64, end: u64, lines: Option<u64>, bytes: Option<u64>) -> u64 {
        let from = from.clamp(self.start(), self.total);
        let end = end.clamp(from, self.total);
        let mut at = from;
        if let Some(n) = lines {
            at = end;
            if n > 0 {
                at = from;
                let body = if end > from && self.byte_at(end - 1) == Some(b'\n') { end - 1 } else { end };
                // Newlines from the back: the n-th one ends the line before the last n.
                let (a, b) = self.slices(from, body);
                let mut seen = 0;
                let hit = b
                    .iter()
                    .rposition(|&c| {
                        c == b'\n' && {
                            seen += 1;
                            seen == n
                        }
                    })
                    .map(|i| a.len() + i)
                    .or_else(|| {
                        a.iter().rposition(|&c| {
                            c == b'\n' && {
                                seen += 1;
                                seen == n
                            }
                        })
                    });
                if let Some(i) = hit {
                    at = from + i as u64 + 1;
                }
            }
        }
        if let Some(b) = bytes {
            at = at.max(end.saturating_sub(b));
        }
        at
    }
}

/// How many time marks a ring of `cap` bytes keeps: one per 64 bytes, at least 64
/// (16 KiB of marks for the default 1 MiB ring).
fn marks_for(cap: usize) -> usize {
    (cap / 64).max(64)
}

/// What a new pipe holds (pipe(7)).
pub const PIPE_DEFAULT: usize = 64 * 1024;
/// What a pipe found full is grown to: the largest size an unprivileged process may set
/// by default (/proc/sys/fs/pipe-max-size).
pub const PIPE_FLOOD: usize = 1 << 20;

/// Grow the pipe `fd` to hold `size` bytes (fcntl F_SETPIPE_SZ, pipe(7)); returns what it
/// holds now. Fails with EPERM past the user's pipe limits (pipe-user-pages-soft, or
/// pipe-max-size without CAP_SYS_RESOURCE): the pipe then keeps its size.
pub fn grow_pipe(fd: std::os::fd::BorrowedFd<'_>, size: usize) -> std::io::Result<usize> {
    let size = libc::c_int::try_from(size).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let got = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size))?;
    Ok(usize::try_from(got).unwrap_or(0))
}

/// Longest line passed through before it is split (a child that never writes '\n').
pub const MAX_LINE: usize = 64 * 1024;

/// Splits a byte stream into prefixed lines for passthrough. Keeps a partial line.
pub struct LineFramer {
    prefix: Vec<u8>,
    partial: Vec<u8>,
}

impl LineFramer {
    pub fn new(prefix: Vec<u8>) -> Self {
        LineFramer { prefix, partial: Vec::new() }
    }

    /// Append the complete lines in `data` (with the prefix) to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.prefix.is_empty() {
            out.extend_from_slice(data);
            return;
        }
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&self.prefix);
            if !self.partial.is_empty() {
                out.append(&mut self.partial);
            }
            out.extend_from_slice(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() >= MAX_LINE {
            self.flush(out);
        }
    }

    /// Emit a pending partial line (at EOF), terminated.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.partial.is_empty() {
            return;
        }
        out.extend_from_slice(&self.prefix);
        out.append(&mut self.partial);
        out.push(b'\n');
    }
}

/// Counters shared between the loop and a writer thread.
struct Shared {
    queued: AtomicUsize,
    waiting: AtomicBool,
}

/// A bounded queue to one of tend's own output fds, drained by a thread.
pub struct Sink {
    tx: Option<Sender<Vec<u8>>>,
    shared: Arc<Shared>,
    limit: usize,
    handle: Option<JoinHandle<()>>,
    pub is_tty: bool,
}

impl Sink {
    /// Start the writer thread for `fd` (1 or 2). `wake` is called when a producer that
    /// found the queue full may continue. Signals must already be blocked (threads
    /// inherit the mask).
    pub fn spawn(fd: i32, limit: usize, wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Sink> {
        let (tx, rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = bounded(4096);
        let shared = Arc::new(Shared { queued: AtomicUsize::new(0), waiting: AtomicBool::new(false) });
        let sh = Arc::clone(&shared);
        let handle = std::thread::Builder::new().name(format!("tend-out{fd}")).spawn(move || {
            // SAFETY: fd 1/2 stay open for the life of the process; ManuallyDrop keeps
            // this File from closing it.
            let mut f = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
            for chunk in rx {
                // A failed write (EPIPE: nobody reads tend's stdout) loses the chunk; the
                // service is never held up for it.
                let _ = f.write_all(&chunk);
                sh.queued.fetch_sub(chunk.len(), Ordering::SeqCst);
                if sh.waiting.swap(false, Ordering::SeqCst) {
                    wake();
                }
            }
        })?;
        // SAFETY: isatty only inspects the fd.
        let is_tty = unsafe { libc::isatty(fd) } == 1;
        Ok(Sink { tx: Some(tx), shared, limit, handle: Some(handle), is_tty })
    }

    /// True if `n` more bytes fit.
    pub fn has_room(&self, n: usize) -> bool {
        self.shared.queued.load(Ordering::SeqCst) + n <= self.limit
    }

    /// Queue `chunk`, or give it back if the queue is full (the writer then wakes the
    /// loop once it has made room).
    pub fn try_send(&self, chunk: Vec<u8>) -> Result<(), Vec<u8>> {
        if chunk.is_empty() {
            return Ok(());
        }
        if !self.has_room(chunk.len()) && !self.want_wake(chunk.len()) {
            return Err(chunk);
        }
        let Some(tx) = &self.tx else { return Err(chunk) };
        let n = chunk.len();
        self.shared.queued.fetch_add(n, Ordering::SeqCst);
        match tx.try_send(chunk) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.queued.fetch_sub(n, Ordering::SeqCst);
                self.shared.waiting.store(true, Ordering::SeqCst);
                Err(e.into_inner())
            }
        }
    }

    /// Ask to be woken when the writer has made room.
    ///
    /// Returns true if there is room for `n` bytes after all: the writer may have
    /// drained the queue between the caller's check and the flag, and then it wakes no
    /// one, so the caller must go on instead of waiting. (SeqCst on both sides: the
    /// flag's store must not pass the queue's load, nor the writer's decrement its
    /// swap of the flag.)
    pub fn want_wake(&self, n: usize) -> bool {
        self.shared.waiting.store(true, Ordering::SeqCst);
        self.has_room(n)
    }

    /// Close the queue and wait (up to `limit`) for the writer to finish.
    pub fn finish(&mut self, limit: Duration) {
        self.tx = None;
        let deadline = Instant::now() + limit;
        while self.shared.queued.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.shared.queued.load(Ordering::Acquire) == 0 {
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// The colored or plain `NAME | ` prefix.
/// One separator for both streams, as docker compose does.
pub fn prefix(name: &str, width: usize, color: bool) -> Vec<u8> {
    const COLORS: [u8; 6] = [32, 33, 34, 35, 36, 92];
    let pad = width.saturating_sub(name.len());
    let sep = "|";
    if color {
        let h = name.bytes().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
        format!("\x1b[{}m{name}{:pad$} {sep}\x1b[0m ", COLORS[h % COLORS.len()], "").into_bytes()
    } else {
        format!("{name}{:pad$} {sep} ", "").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(cap: usize, chunks: &[&[u8]]) -> Ring {
        let mut r = Ring::new(cap);
        for (i, c) in chunks.iter().enumerate() {
            r.push(c, i as u64);
        }
        r
    }

    fn from(r: &Ring, pos: u64) -> Vec<u8> {
        let mut v = Vec::new();
        r.copy_at(pos, usize::MAX, &mut v);
        v
    }

    #[test]
    fn ring_tail_by_lines_and_bytes() {
        let r = ring(100, &[b"a\nbb\nccc\n"]);
        assert_eq!(from(&r, r.tail_start(Some(1), None)), b"ccc\n");
        assert_eq!(from(&r, r.tail_start(Some(2), None)), b"bb\nccc\n");
        assert_eq!(from(&r, r.tail_start(Some(10), None)), b"a\nbb\nccc\n");
        assert_eq!(from(&r, r.tail_start(Some(0), None)), b"");
        assert_eq!(from(&r, r.tail_start(None, Some(4))), b"ccc\n");
        assert_eq!(from(&r, r.tail_start(Some(2), Some(5))), b"\nccc\n");
        assert_eq!(from(&r, r.tail_start(None, None)), b"a\nbb\nccc\n");
        let r = ring(100, &[b"x\ny"]);
        assert_eq!(from(&r, r.tail_start(Some(1), None)), b"y");
        let r = ring(100, &[]);
        assert_eq!(r.tail_start(Some(3), None), 0);
    }

    #[test]
    fn ring_copy_at_absolute_positions_across_the_wrap() {
        let r = ring(8, &[b"0123456", b"789ab"]);
        // Retained: "456789ab", positions 4..12.
        assert_eq!(r.start(), 4);
        assert_eq!(from(&r, 4), b"456789ab");
        assert_eq!(from(&r, 9), b"9ab");
        assert_eq!(from(&r, 3), b"", "an evicted position yields nothing");
        assert_eq!(from(&r, 12), b"");
        let mut v = Vec::new();
        assert_eq!(r.copy_at(5, 3, &mut v), 3);
        assert_eq!(v, b"567");
        for pos in 4..12 {
            for max in 0..10 {
                let mut v = Vec::new();
                let n = r.copy_at(pos, max, &mut v);
                assert_eq!(v, &r.contents()[(pos - 4) as usize..][..n]);
                assert_eq!(n, max.min((12 - pos) as usize));
            }
        }
    }

    #[test]
    fn ring_keeps_the_last_bytes() {
        let mut r = Ring::new(5);
        r.push(b"abc", 1);
        r.push(b"def", 2);
        assert_eq!(r.contents(), b"bcdef");
        r.push(b"0123456789", 3);
        assert_eq!(r.contents(), b"56789");
        assert_eq!(r.total, 16);
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn ring_shrinks_to_its_last_bytes_keeping_positions_and_times() {
        let mut r = Ring::new(16);
        r.push(b"abcdefghij", 1);
        r.push(b"klmnop", 2);
        r.push(b"qrs", 3);
        r.shrink_to(5);
        assert_eq!(r.contents(), b"opqrs");
        assert_eq!((r.total, r.start()), (19, 14));
        assert_eq!(r.time_at(14), Some(2));
        assert_eq!(r.time_at(17), Some(3));
        let mut out = Vec::new();
        assert_eq!(r.copy_at(15, 10, &mut out), 4);
        assert_eq!(out, b"pqrs");
        // It still works as a ring afterwards.
        r.push(b"tu", 4);
        assert_eq!(r.contents(), b"qrstu");
        // Fewer bytes than the new size, and an empty ring.
        let mut r = Ring::new(16);
        r.push(b"xy", 1);
        r.shrink_to(8);
        assert_eq!(r.contents(), b"xy");
        let mut e = Ring::new(16);
        e.shrink_to(4);
        assert_eq!((e.total, e.contents()), (0, vec![]));
    }

    #[test]
    fn ring_slots_are_contiguous_and_wrap() {
        let mut r = Ring::new(10);
        let s = r.slot(64);
        assert_eq!(s.len(), 10);
        s[..7].copy_from_slice(b"abc\ndef");
        r.commit(7, 1);
        assert_eq!(r.recent(7), b"abc\ndef");
        let s = r.slot(64);
        assert_eq!(s.len(), 3, "up to the end of the buffer");
        s.copy_from_slice(b"\ngh");
        r.commit(3, 2);
        let s = r.slot(64);
        s[..4].copy_from_slice(b"i\njk");
        r.commit(4, 3);
        assert_eq!(r.recent(4), b"i\njk");
        // Retained: "def\nghi\njk" (positions 4..14), wrapped in the buffer.
        assert_eq!(r.contents(), b"def\nghi\njk");
        assert_eq!(r.tail_start(Some(1), None), 12);
        assert_eq!(r.tail_start(Some(2), None), 8);
        assert_eq!(r.tail_start(Some(9), None), 4);
        assert_eq!(r.line_start_from(5), 8);
        assert_eq!((r.byte_at(3), r.byte_at(4), r.byte_at(13), r.byte_at(14)), (None, Some(b'd'), Some(b'k'), None));
        let mut v = Vec::new();
        assert_eq!(r.copy_at(6, 100, &mut v), 8);
        assert_eq!(v, b"f\nghi\njk");
        let mut r = Ring::new(4);
        r.push(b"0123456789", 5);
        assert_eq!((r.total, r.contents(), r.time_at(6)), (10, b"6789".to_vec(), Some(5)));
    }

    #[test]
    fn ring_times_follow_the_pushes() {
        let mut r = Ring::new(100);
        assert_eq!(r.time_at(0), None);
        r.push(b"ab\n", 10);
        r.push(b"cd", 10); // same time: no new mark
        r.push(b"e\nf", 20);
        assert_eq!(r.marks.len(), 2);
        assert_eq!((r.time_at(0), r.time_at(4), r.time_at(5), r.time_at(7)), (Some(10), Some(10), Some(20), Some(20)));
        assert_eq!((r.next_mark(0), r.next_mark(5), r.next_mark(6)), (5, 8, 8));
        assert_eq!((r.first_at_or_after(0), r.first_at_or_after(11), r.first_at_or_after(21)), (0, 5, 8));
        assert_eq!(r.line_start_from(0), 0);
        assert_eq!(r.line_start_from(1), 3);
        assert_eq!(r.line_start_from(3), 3);
        assert_eq!(r.line_start_from(5), 7);
        assert_eq!(r.line_start_from(8), 8);
        let mut r = Ring::new(4);
        r.push(b"12345", 1);
        r.push(b"678", 2);
        // Retained "5678" from position 4; the first mark (0) still covers byte 4.
        assert_eq!((r.start(), r.time_at(4), r.time_at(5)), (4, Some(1), Some(2)));
        r.push(b"9abc", 3);
        assert_eq!(r.marks.len(), 1, "marks of evicted bytes go");
        assert_eq!(r.first_at_or_after(0), 8);
        assert_eq!(r.line_start_from(9), 12, "no newline: the end");
    }

    fn fill(r: &mut Ring, bytes: &[u8]) -> usize {
        let s = r.slot(bytes.len());
        let n = s.len();
        s.copy_from_slice(&bytes[..n]);
        r.commit(n, 1);
        n
    }

    #[test]
    fn ring_views_are_not_overwritten_until_dropped() {
        let mut r = Ring::new(16);
        assert_eq!(fill(&mut r, b"0123456789"), 10);
        let v = r.view(10).expect("a view");
        assert_eq!(v.bytes(), b"0123456789");
        assert_eq!(r.writable(), 6);
        // Up to the end of the buffer, then nothing: the rest is the view's.
        assert_eq!(fill(&mut r, b"abcdefgh"), 6);
        assert_eq!(r.slot(8).len(), 0);
        assert!(r.has_views());
        assert_eq!(v.bytes(), b"0123456789", "a view's bytes stay");
        drop(v);
        assert!(!r.has_views());
        assert_eq!(r.writable(), 16);
        assert_eq!(fill(&mut r, b"ABCD"), 4);
        assert_eq!(r.contents(), b"456789abcdefABCD");
    }

    #[test]
    fn ring_views_grow_while_contiguous() {
        let mut r = Ring::new(16);
        fill(&mut r, b"abc");
        let mut v = r.view(3).expect("a view");
        assert!(r.continues(&v));
        fill(&mut r, b"defgh");
        assert!(r.extend_view(&mut v, 5));
        assert_eq!(v.bytes(), b"abcdefgh");
        assert!(!r.extend_view(&mut v, 1), "nothing new to extend it by");
        // An older view is not the newest: it cannot grow.
        let w = r.view(2).expect("a second view");
        assert!(!r.continues(&v));
        assert_eq!(w.bytes(), b"gh");
        drop(w);
        drop(v);
        // A view that reaches the end of the buffer is not continued by the wrap.
        fill(&mut r, b"ijklmnop");
        let v = r.view(8).expect("a view");
        assert_eq!(v.bytes(), b"ijklmnop");
        assert!(!r.continues(&v));
        fill(&mut r, b"qr");
        assert!(r.view(3).is_none(), "the last 3 bytes wrap: no view");
        let other = Ring::new(16);
        assert!(!other.continues(&v), "not a view of this ring");
        // Views are let go of in order; the ring waits for the oldest.
        drop(v);
        assert_eq!(r.writable(), 16);
    }

    #[test]
    fn ring_marks_are_bounded() {
        let mut r = Ring::new(4096);
        for t in 0..1000u64 {
            r.push(b"x", t);
        }
        assert_eq!(r.marks.len(), 64);
        assert_eq!(r.time_at(0), Some(936), "bytes older than the oldest mark get its time");
        assert_eq!(r.time_at(999), Some(999));
    }

    #[test]
    fn ring_tail_within_bounds() {
        let r = ring(100, &[b"a\nbb\nccc\ndd"]);
        assert_eq!(from_to(&r, r.tail_before(0, 9, Some(1), None), 9), b"ccc\n");
        assert_eq!(from_to(&r, r.tail_before(2, 9, Some(5), None), 9), b"bb\nccc\n");
        assert_eq!(from_to(&r, r.tail_before(2, 9, None, Some(3)), 9), b"cc\n");
        assert_eq!(from_to(&r, r.tail_before(0, 12, Some(1), None), 12), b"dd");
        assert_eq!(r.tail_before(5, 5, Some(1), None), 5);
    }

    fn from_to(r: &Ring, a: u64, b: u64) -> Vec<u8> {
        let mut v = Vec::new();
        r.copy_at(a, (b - a) as usize, &mut v);
        v
    }

    #[test]
    fn framer_prefixes_complete_lines() {
        let mut f = LineFramer::new(b"web | ".to_vec());
        let mut out = Vec::new();
        f.feed(b"hel", &mut out);
        assert!(out.is_empty());
        f.feed(b"lo\nwor", &mut out);
        f.feed(b"ld\n\n", &mut out);
        assert_eq!(out, b"web | hello\nweb | world\nweb | \n");
        out.clear();
        f.feed(b"tail", &mut out);
        f.flush(&mut out);
        assert_eq!(out, b"web | tail\n");
    }

    #[test]
    fn framer_splits_endless_lines() {
        let mut f = LineFramer::new(b"x | ".to_vec());
        let mut out = Vec::new();
        f.feed(&vec![b'a'; MAX_LINE + 10], &mut out);
        assert_eq!(out.len(), 4 + MAX_LINE + 10 + 1);
    }

    #[test]
    fn prefix_pads_names() {
        assert_eq!(prefix("ab", 4, false), b"ab   | ");
    }
}
