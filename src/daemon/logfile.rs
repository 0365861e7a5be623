//! Log files: one writer thread owns every file under `log_dir` (each service's
//! `NAME.log` and tend's own `tend.log`), formats what the loop read (`logfmt`),
//! writes it, rotates by size, and retries what it could not write.
//!
//! What must hold (tend.toml(5), "Log files"):
//! - The loop never blocks on a file: it hands batches to this thread over a channel
//!   and counts the bytes queued per file in a [`Budget`]. When a service's budget is
//!   full the loop stops reading that service's pipes (so the service blocks in
//!   write(2) once its pipe is full) until this thread has written enough and wakes
//!   it: nothing meant for the file is dropped, and memory stays bounded.
//! - A write that fails (disk full, permissions, a removed directory) is kept, in
//!   order, and retried with a growing delay (100 ms to 2 s), reopening the file; the
//!   loop gets a [`Report`] at the first failure of a run of them and when writing
//!   works again. Other files are not held up by one that fails.
//! - Rotation happens between lines: a file is rotated before a line that would take
//!   it past `max_size` (a single longer line goes into a fresh file alone).
//! - Files are created mode 0640 and opened append-only, close-on-exec.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};

use crate::daemon::logfmt::{fit, rotation, Batch, Chunk, Formatter};

/// The id of tend.log among the files (services use their index).
pub const TEND_LOG: usize = usize::MAX;

/// First and longest delay between attempts to write a failing file.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Batches kept for reuse (their buffers are 64 KiB and more): enough to cover a full
/// file queue (`logging::FILE_QUEUE`) and the batches being filled and written, so
/// that a steady flood allocates nothing (musl gives freed buffers of this size back
/// to the kernel, and every new one is page faults); and the largest buffer worth
/// keeping.
const FREE_BATCHES: usize = 8;
const FREE_BATCH_MAX: usize = 128 << 10;

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOpts {
    /// Rotate before a line that would take the file past this size (0: never).
    pub max_size: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// Each line as `TIME STREAM TAG TEXT`.
    pub timestamps: bool,
}

/// Bytes queued for one file and not yet written, shared by the loop (which adds)
/// and the writer (which releases).
pub struct Budget {
    queued: AtomicUsize,
    waiting: AtomicBool,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { queued: AtomicUsize::new(0), waiting: AtomicBool::new(false), limit })
    }

    /// True if `n` more bytes may be queued. The first batch always may (so a
    /// service is never stopped by a budget smaller than one read).
    pub fn has_room(&self, n: usize) -> bool {
        let q = self.queued.load(Ordering::SeqCst);
        q == 0 || q + n <= self.limit
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Ask to be woken when the writer has written enough; false if there is room
    /// already (the writer may have released everything before it could see the
    /// wish: checked again after publishing it, so no wake-up is lost).
    pub fn wait_for_room(&self, n: usize) -> bool {
        self.waiting.store(true, Ordering::SeqCst);
        if self.has_room(n) {
            self.waiting.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Ask to be woken at the next release that leaves the queue at most half full.
    pub fn want_wake(&self) {
        self.waiting.store(true, Ordering::SeqCst);
    }

    fn add(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::SeqCst);
    }

    /// Bytes written; true if the loop asked to be woken and the queue is down to
    /// half its limit (waking it at every batch would cost a wake-up per batch while
    /// the file is the bottleneck).
    fn release(&self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        let left = self.queued.fetch_sub(n, Ordering::SeqCst) - n;
        left <= self.limit / 2 && self.waiting.swap(false, Ordering::SeqCst)
    }
}

/// What the writer tells the loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// Writing (or opening, or rotating) `path` failed; `attempt` counts the failures
    /// in a row (1 for the first). The bytes are kept and retried, except for a
    /// failed rotation, after which writing goes on in the current file.
    Failed { id: usize, path: PathBuf, error: String, attempt: u32 },
    /// `path` is written again after `attempts` failures.
    Recovered { id: usize, path: PathBuf, attempts: u32 },
    /// A rotation asked for by [`LogWriter::rotate`] is done: `rotated` files were
    /// rotated (empty ones are only reopened).
    Rotated { ack: u64, rotated: usize },
}

enum Msg {
    Open {
        id: usize,
        path: PathBuf,
        opts: FileOpts,
        budget: Arc<Budget>,
    },
    Data {
        id: usize,
        batch: Batch,
    },
    /// Stream `stream` of `id` ended: its unterminated line is written.
    End {
        id: usize,
        stream: u8,
    },
    /// Finish both streams' lines and close (after what is queued is written).
    Close {
        id: usize,
    },
    /// Rotate these files now (None: all).
    Rotate {
        ids: Option<Vec<usize>>,
        ack: u64,
    },
    /// Close every file; the next write opens it again by its path.
    Reopen,
    /// No more messages: write what is held until `deadline`, then end.
    Finish {
        deadline: Instant,
    },
}

/// The loop's handle on the writer thread.
pub struct LogWriter {
    tx: Option<Sender<Msg>>,
    reports: Receiver<Report>,
    free: Receiver<Batch>,
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Start the thread. `wake` is called after each report and when a budget the
    /// loop waits on has room again. Signals must already be blocked (threads inherit
    /// the mask).
    pub fn spawn(wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<LogWriter> {
        let (tx, rx) = unbounded();
        let (rtx, reports) = unbounded();
        let (ftx, free) = bounded(FREE_BATCHES);
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let handle = std::thread::Builder::new().name("tend-logs".into()).spawn(move || {
            let mut w = Writer { files: HashMap::new(), reports: rtx, free: ftx, wake, chunks: Vec::new() };
            w.run(rx);
            d.store(true, Ordering::Release);
        })?;
        Ok(LogWriter { tx: Some(tx), reports, free, done, handle: Some(handle) })
    }

    fn send(&self, m: Msg) {
        if let Some(tx) = &self.tx {
            // The receiver lives as long as the thread, which ends only after Finish.
            let _ = tx.send(m);
        }
    }

    /// Write file `id` at `path` (opened at its first write), or change how.
    pub fn open(&self, id: usize, path: PathBuf, opts: FileOpts, budget: Arc<Budget>) {
        self.send(Msg::Open { id, path, opts, budget });
    }

    /// Queue `batch` for file `id`, counted in the budget given at open (the caller
    /// checked it has room).
    pub fn write(&self, id: usize, budget: &Budget, batch: Batch) {
        budget.add(batch.len());
        self.send(Msg::Data { id, batch });
    }

    pub fn end_stream(&self, id: usize, stream: u8) {
        self.send(Msg::End { id, stream });
    }

    pub fn close(&self, id: usize) {
        self.send(Msg::Close { id });
    }

    pub fn rotate(&self, ids: Option<Vec<usize>>, ack: u64) {
        self.send(Msg::Rotate { ids, ack });
    }

    pub fn reopen(&self) {
        self.send(Msg::Reopen);
    }

    /// An empty batch, reused if the writer gave one back.
    pub fn batch(&self) -> Batch {
        self.free.try_recv().unwrap_or_else(|_| Batch {
            data: Vec::with_capacity(crate::daemon::logging::BATCH_MAX),
            view: None,
            parts: Vec::new(),
        })
    }

    /// The next report, if any.
    pub fn report(&self) -> Option<Report> {
        self.reports.try_recv().ok()
    }

    /// Write everything queued (retrying failures) until `deadline`, then stop the
    /// thread. Returns true if it finished in time.
    pub fn finish(&mut self, deadline: Instant) -> bool {
        self.send(Msg::Finish { deadline });
        self.tx = None;
        // A little past the deadline: a write the thread is in may take a moment.
        let limit = deadline + Duration::from_millis(500);
        while !self.done.load(Ordering::Acquire) && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(2));
        }
        if !self.done.load(Ordering::Acquire) {
            return false;
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        true
    }
}

/// A file that failed: when to try again.
struct Failing {
    attempts: u32,
    next: Instant,
    delay: Duration,
}

struct LogFile {
    path: PathBuf,
    opts: FileOpts,
    budget: Arc<Budget>,
    fmt: Formatter,
    f: Option<File>,
    size: u64,
    /// Formatted bytes not written yet because of a failure, in order; and the
    /// budget bytes they stand for.
    backlog: Vec<u8>,
    backlog_raw: usize,
    failing: Option<Failing>,
    /// Closed by the loop: dropped once the backlog is written.
    closed: bool,
}

struct Writer {
    files: HashMap<usize, LogFile>,
    reports: Sender<Report>,
    free: Sender<Batch>,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// Reused list of formatted chunks.
    chunks: Vec<Chunk>,
}

/// Open `path` for appending, creating it (mode 0640, whatever the umask) and its
/// directory if missing; returns the file and its size.
fn open_append(path: &Path) -> std::io::Result<(File, u64)> {
    let mut o = OpenOptions::new();
    o.append(true).mode(0o640);
    let f = match o.clone().create_new(true).open(path) {
        Ok(f) => {
            f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
            f
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => o.open(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = o.create(true).open(path)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
            f
        }
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    Ok((f, size))
}

/// Rotate `path`: shift the old files, keeping `keep` (errors other than a missing
/// file are returned after trying every step).
fn rotate_files(path: &Path, keep: u32) -> std::io::Result<()> {
    let mut first_err = None;
    for (from, to) in rotation(path, keep) {
        if let Err(e) = std::fs::rename(&from, &to) {
            if e.kind() != std::io::ErrorKind::NotFound && first_err.is_none() {
                first_err = Some(e);
            }
        }
    }
    if keep == 0 {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound && first_err.is_none() {
                first_err = Some(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

impl LogFile {
    fn file(&mut self) -> std::io::Result<&mut File> {
        if self.f.is_none() {
            let (f, size) = open_append(&self.path)?;
            self.f = Some(f);
            self.size = size;
        }
        // Just opened if it was not.
        self.f.as_mut().ok_or_else(|| std::io::Error::other("no file"))
    }

    /// Rotate now. The file is closed; the next write opens a new one.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.f = None;
        self.size = 0;
        rotate_files(&self.path, self.opts.keep)
    }

    /// Write whole lines `bytes`, rotating between lines as needed. On an error,
    /// returns how many bytes were written.
    fn write_lines(
        &mut self,
        mut bytes: &[u8],
        rotate_err: &mut Option<std::io::Error>,
    ) -> Result<(), (usize, std::io::Error)> {
        let total = bytes.len();
        while !bytes.is_empty() {
            let done = total - bytes.len();
            if let Err(e) = self.file() {
                return Err((done, e));
            }
            let mut n = bytes.len();
            if self.opts.max_size > 0 {
                n = fit(bytes, self.opts.max_size.saturating_sub(self.size));
                if n == 0 && self.size > 0 {
                    if let Err(e) = self.rotate() {
                        // Writing goes on in the current file; rotation is tried again
                        // once it has grown by another max_size.
                        rotate_err.get_or_insert(e);
                    }
                    if let Err(e) = self.file() {
                        return Err((done, e));
                    }
                    // If rotation did not empty it, write here anyway.
                    self.size = 0;
                }
                if n == 0 {
                    // A fresh file: as many lines as fit, and at least one.
                    n = fit(bytes, self.opts.max_size).max(first_line(bytes)).min(bytes.len());
                }
            }
            let f = match self.file() {
                Ok(f) => f,
                Err(e) => return Err((done, e)),
            };
            let mut w = 0;
            while w < n {
                match f.write(&bytes[w..n]) {
                    Ok(0) => return Err((done + w, std::io::ErrorKind::WriteZero.into())),
                    Ok(k) => w += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.size += w as u64;
                        // Reopened on the retry (the file may be gone or replaced).
                        self.f = None;
                        return Err((done + w, e));
                    }
                }
            }
            self.size += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

fn chunk_bytes<'a>(c: &'a Chunk, data: &'a [u8]) -> &'a [u8] {
    match c {
        Chunk::Owned(v) => v,
        Chunk::Batch(r) => &data[r.clone()],
    }
}

/// Length of the first line of `bytes` (all of it without a newline).
fn first_line(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1)
}

impl Writer {
    fn run(&mut self, rx: Receiver<Msg>) {
        let mut deadline = None;
        loop {
            let next_retry = self.files.values().filter_map(|f| f.failing.as_ref().map(|x| x.next)).min();
            let msg = match (deadline, next_retry) {
                (Some(d), _) if Instant::now() >= d => break,
                (Some(_), None) if rx.is_empty() => break,
                (d, r) => match d.into_iter().chain(r).min() {
                    Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                },
            };
            match msg {
                Ok(Msg::Finish { deadline: d }) => deadline = Some(d),
                Ok(m) => self.handle(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) if deadline.is_none() => deadline = Some(Instant::now()),
                Err(RecvTimeoutError::Disconnected) => {}
            }
            self.retry_due();
        }
    }

    fn handle(&mut self, m: Msg) {
        match m {
            Msg::Open { id, path, opts, budget } => match self.files.get_mut(&id) {
                Some(f) => {
                    if f.path != path {
                        f.f = None;
                        f.path = path;
                    }
                    f.opts = opts;
                    f.fmt.set_stamped(opts.timestamps);
                    f.budget = budget;
                    f.closed = false;
                }
                None => {
                    let f = LogFile {
                        path,
                        opts,
                        budget,
                        fmt: Formatter::new(opts.timestamps),
                        f: None,
                        size: 0,
                        backlog: Vec::new(),
                        backlog_raw: 0,
                        failing: None,
                        closed: false,
                    };
                    self.files.insert(id, f);
                }
            },
            Msg::Data { id, mut batch } => {
                let raw = batch.len();
                let mut chunks = std::mem::take(&mut self.chunks);
                chunks.clear();
                // A file not open (never, or closed and gone) has nothing to write to.
                let mut written = false;
                if let Some(f) = self.files.get_mut(&id) {
                    f.fmt.feed(&batch, &mut chunks);
                    written = self.put(id, &chunks, batch.bytes());
                }
                self.chunks = chunks;
                // The ring's bytes are let go of (the view dropped) before the budget
                // says they are written: the loop may overwrite them from then on.
                batch.clear();
                if batch.data.capacity() > 0 && batch.data.capacity() <= FREE_BATCH_MAX {
                    let _ = self.free.try_send(batch);
                }
                if written {
                    self.release(id, raw);
                }
            }
            Msg::End { id, stream } => {
                let mut chunks = Vec::new();
                if let Some(f) = self.files.get_mut(&id) {
                    f.fmt.end(stream, &mut chunks);
                    self.put(id, &chunks, &[]);
                }
            }
            Msg::Close { id } => {
                let mut chunks = Vec::new();
                if let Some(f) = self.files.get_mut(&id) {
                    f.fmt.end_all(&mut chunks);
                    f.closed = true;
                    self.put(id, &chunks, &[]);
                }
                self.drop_closed();
            }
            Msg::Rotate { ids, ack } => {
                let mut rotated = 0;
                let mut failed = Vec::new();
                for (&id, f) in self.files.iter_mut() {
                    if ids.as_ref().is_some_and(|v| !v.contains(&id)) {
                        continue;
                    }
                    let nonempty = f.size > 0 || std::fs::metadata(&f.path).map(|m| m.len() > 0).unwrap_or(false);
                    if !nonempty {
                        f.f = None;
                        continue;
                    }
                    match f.rotate() {
                        Ok(()) => rotated += 1,
                        Err(e) => failed.push((id, f.path.clone(), e.to_string())),
                    }
                }
                for (id, path, error) in failed {
                    self.report(Report::Failed { id, path, error: format!("rotating: {error}"), attempt: 1 });
                }
                self.report(Report::Rotated { ack, rotated });
            }
            Msg::Reopen => {
                for f in self.files.values_mut() {
                    f.f = None;
                }
            }
            Msg::Finish { .. } => {}
        }
    }

    fn report(&self, r: Report) {
        let _ = self.reports.send(r);
        (self.wake)();
    }

    /// Release `raw` budget bytes of file `id` (they are written), waking the loop if
    /// it waits for them.
    fn release(&mut self, id: usize, raw: usize) {
        if self.files.get(&id).is_some_and(|f| f.budget.release(raw)) {
            (self.wake)();
        }
    }

    /// Write `chunks` (ranges into `data`) to file `id`, or keep them (copied) if it is
    /// failing. Returns true if they were written: the caller then releases their
    /// budget bytes; otherwise they are counted in the backlog, released once written.
    fn put(&mut self, id: usize, chunks: &[Chunk], data: &[u8]) -> bool {
        let raw = data.len();
        let Some(f) = self.files.get_mut(&id) else { return false };
        let bytes = |c| chunk_bytes(c, data);
        if f.failing.is_some() || !f.backlog.is_empty() {
            for c in chunks {
                f.backlog.extend_from_slice(bytes(c));
            }
            f.backlog_raw += raw;
            return false;
        }
        let mut rotate_err = None;
        let mut failed = None;
        for (i, c) in chunks.iter().enumerate() {
            if let Err((written, e)) = f.write_lines(bytes(c), &mut rotate_err) {
                f.backlog.extend_from_slice(&bytes(c)[written..]);
                for c in &chunks[i + 1..] {
                    f.backlog.extend_from_slice(bytes(c));
                }
                f.backlog_raw += raw;
                failed = Some(e);
                break;
            }
        }
        let path = f.path.clone();
        if let Some(e) = rotate_err {
            self.report(Report::Failed { id, path, error: format!("rotating: {e}"), attempt: 1 });
        }
        match failed {
            Some(e) => {
                self.fail(id, e);
                false
            }
            None => true,
        }
    }

    fn fail(&mut self, id: usize, e: std::io::Error) {
        let Some(f) = self.files.get_mut(&id) else { return };
        let now = Instant::now();
        let failing = f.failing.get_or_insert(Failing { attempts: 0, next: now, delay: RETRY_FIRST / 2 });
        failing.attempts += 1;
        failing.delay = (failing.delay * 2).min(RETRY_MAX);
        failing.next = now + failing.delay;
        let attempt = failing.attempts;
        let path = f.path.clone();
        self.report(Report::Failed { id, path, error: e.to_string(), attempt });
    }

    /// Try the failing files whose time has come: write their backlog.
    fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<usize> = self
            .files
            .iter()
            .filter(|(_, f)| f.failing.as_ref().is_some_and(|x| x.next <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(f) = self.files.get_mut(&id) else { continue };
            let backlog = std::mem::take(&mut f.backlog);
            let mut rotate_err = None;
            let res = f.write_lines(&backlog, &mut rotate_err);
            let path = f.path.clone();
            if let Some(e) = rotate_err {
                self.report(Report::Failed { id, path: path.clone(), error: format!("rotating: {e}"), attempt: 1 });
            }
            let Some(f) = self.files.get_mut(&id) else { continue };
            match res {
                Ok(()) => {
                    let attempts = f.failing.take().map_or(0, |x| x.attempts);
                    let raw = std::mem::take(&mut f.backlog_raw);
                    f.backlog = backlog;
                    f.backlog.clear();
                    f.backlog.shrink_to(64 << 10);
                    if f.budget.release(raw) {
                        (self.wake)();
                    }
                    self.report(Report::Recovered { id, path, attempts });
                }
                Err((written, e)) => {
                    f.backlog = backlog;
                    f.backlog.drain(..written);
                    self.fail(id, e);
                }
            }
        }
        self.drop_closed();
    }

    /// Closed files with nothing left to write are dropped (and their files closed).
    fn drop_closed(&mut self) {
        self.files.retain(|_, f| !(f.closed && f.backlog.is_empty() && !f.fmt.has_pending()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tend-unit-logfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn writer() -> LogWriter {
        LogWriter::spawn(Arc::new(|| {})).unwrap()
    }

    fn data(w: &LogWriter, id: usize, b: &Budget, bytes: &[u8]) {
        let mut batch = w.batch();
        batch.push(0, 1, bytes);
        w.write(id, b, batch);
    }

    #[test]
    fn budget_wakes_at_half_and_never_misses_room() {
        let b = Budget::new(100);
        assert!(b.has_room(1000), "an empty queue takes any batch");
        b.add(80);
        assert!(!b.has_room(30));
        assert!(b.wait_for_room(30), "no room: wait");
        assert!(!b.release(20), "60 left: above half, no wake-up yet");
        assert!(b.release(20), "40 left: the waiting loop is woken");
        assert!(!b.release(10), "woken once");
        // Room came before the wish was published: no waiting, no wake-up owed.
        assert!(!b.wait_for_room(30));
        assert!(!b.release(30));
    }

    #[test]
    fn writes_rotates_and_keeps() {
        let d = dir("rotate");
        let path = d.join("s.log");
        let mut w = writer();
        let b = Budget::new(1 << 20);
        w.open(0, path.clone(), FileOpts { max_size: 10, keep: 2, timestamps: false }, Arc::clone(&b));
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ff"] {
            data(&w, 0, &b, line.as_bytes());
        }
        w.close(0);
        assert!(w.finish(Instant::now() + Duration::from_secs(5)));
        assert_eq!(b.queued(), 0);
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        // The marked last line does not fit with "eeee": a rotation before it.
        assert_eq!(read(&path), "ff [tend: no newline at end of output]\n");
        assert_eq!(read(&d.join("s.log.1")), "eeee\n");
        assert_eq!(read(&d.join("s.log.2")), "cccc\ndddd\n");
        assert!(!d.join("s.log.3").exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_big_first_write_is_cut_too() {
        let d = dir("first");
        let path = d.join("b.log");
        let mut w = writer();
        let b = Budget::new(1 << 20);
        w.open(0, path.clone(), FileOpts { max_size: 12, keep: 5, timestamps: false }, Arc::clone(&b));
        data(&w, 0, &b, b"aaaa\nbbbb\ncccc\nthis line is too long\ndddd\n");
        assert!(w.finish(Instant::now() + Duration::from_secs(5)));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        assert_eq!(read(&d.join("b.log.3")), "aaaa\nbbbb\n");
        assert_eq!(read(&d.join("b.log.2")), "cccc\n");
        assert_eq!(read(&d.join("b.log.1")), "this line is too long\n");
        assert_eq!(read(&path), "dddd\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn rotate_on_request_and_keep_zero() {
        let d = dir("request");
        let path = d.join("t.log");
        let mut w = writer();
        let b = Budget::new(1 << 20);
        w.open(7, path.clone(), FileOpts { max_size: 0, keep: 0, timestamps: false }, Arc::clone(&b));
        data(&w, 7, &b, b"one\n");
        w.rotate(None, 42);
        data(&w, 7, &b, b"two\n");
        let got = (0..500).find_map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            w.report()
        });
        assert_eq!(got, Some(Report::Rotated { ack: 42, rotated: 1 }));
        assert!(w.finish(Instant::now() + Duration::from_secs(5)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        assert!(!d.join("t.log.1").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_failing_file_keeps_its_bytes_and_reports() {
        let d = dir("fail");
        // A directory where the file should be: opening fails until it is removed.
        let path = d.join("x.log");
        std::fs::create_dir_all(path.join("in-the-way")).unwrap();
        let mut w = writer();
        let b = Budget::new(1 << 20);
        w.open(1, path.clone(), FileOpts { max_size: 0, keep: 1, timestamps: false }, Arc::clone(&b));
        data(&w, 1, &b, b"kept\n");
        let first = (0..500).find_map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            w.report()
        });
        assert!(matches!(first, Some(Report::Failed { id: 1, attempt: 1, .. })), "{first:?}");
        assert_eq!(b.queued(), 5, "the bytes stay counted until written");
        data(&w, 1, &b, b"more\n");
        std::fs::remove_dir_all(&path).unwrap();
        let back = (0..1000).find_map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            match w.report() {
                Some(r @ Report::Recovered { .. }) => Some(r),
                _ => None,
            }
        });
        assert!(matches!(back, Some(Report::Recovered { id: 1, .. })), "{back:?}");
        assert!(w.finish(Instant::now() + Duration::from_secs(5)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\nmore\n");
        assert_eq!(b.queued(), 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
