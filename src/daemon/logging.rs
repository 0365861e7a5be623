//! The loop's side of log files (tend.toml(5), "Log files"): what each service's
//! captured output adds to its file's batch, when batches go to the writer thread
//! (`logfile.rs`), pausing a service's pipes while its file is behind, tend.log,
//! LOG_ROTATE requests and SIGUSR1, events for write errors, and writing everything
//! out before tend exits.
//!
//! Batching: a service's bytes are collected in one batch, handed over once it holds
//! [`BATCH_MAX`] bytes or its first byte has waited [`FLUSH_DELAY`], so a service
//! writing small pieces costs the writer one wake-up per batch, not per read.
//!
//! No copy: while a service's output comes from one stream, its batch is a view of
//! that stream's ring buffer (`output::RingView`), which the writer thread writes to
//! the file from; the ring does not overwrite what a view covers until the writer is
//! done with it. A batch mixing both streams, or in a ring too small to lend its bytes
//! out ([`VIEW_RING_MIN`]), is a copy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use crate::config::defaults;
use crate::daemon::logfile::{Budget, FileOpts, LogWriter, Report, TEND_LOG};
use crate::daemon::logfmt::{self, Batch};
use crate::daemon::output::Ring;
use crate::daemon::supervisor::Supervisor;
use crate::proto::msg::{ErrorCode, EventInfo, OutputLine, RotateReq};

/// A batch is handed to the writer once it holds this much, and reads are cut so that
/// it never holds more (a copy's buffer never grows).
pub const BATCH_MAX: usize = 128 << 10;
/// ... or once its first byte has waited this long.
pub const FLUSH_DELAY: Duration = Duration::from_millis(2);
/// Bytes queued to one file (beyond the batch being filled) before tend stops
/// reading the service's pipes. The writer wakes the loop when the queue is down to
/// half of it: while the file is the bottleneck, each wake-up reads half a queue.
const FILE_QUEUE: usize = 512 << 10;
/// The smallest ring whose batches are views of it. The writer holds at most
/// FILE_QUEUE bytes (or one batch) plus the batch being filled, and a read adds at most
/// READ_MAX (128 KiB, BATCH_MAX): 768 KiB, so that in a ring this large the loop never
/// has to wait for the writer to let go of a view before it can read (it waits on the
/// queue's budget first). Smaller rings' batches are copies.
const VIEW_RING_MIN: usize = FILE_QUEUE + 2 * BATCH_MAX;
/// Bytes of tend.log queued before its lines are dropped (and counted).
const TEND_LOG_QUEUE: usize = 256 << 10;
/// How long tend waits at exit for the files to be written.
const FINISH_LIMIT: Duration = Duration::from_secs(10);
/// How often the wall clock is read again (between, read times are the monotonic
/// clock's progress from the last reading).
const WALL_CLOCK_EVERY: Duration = Duration::from_secs(1);
/// Drops of passthrough output are recorded as events at most this often per service.
const DROP_EVENT_EVERY: Duration = Duration::from_secs(1);

/// One service's log state.
pub struct SvcLog {
    /// The path and options the writer has for its file (None: no file).
    file: Option<(PathBuf, FileOpts)>,
    budget: Arc<Budget>,
    batch: Batch,
    /// When the batch's first byte was read.
    since: Option<Instant>,
    /// Reading is paused: the file's queue is full.
    blocked: bool,
    /// Failed attempts to write the file, and the current failure.
    pub errors: u64,
    pub error: Option<String>,
    /// The lines written before the last exit.
    pub last_output: Vec<OutputLine>,
    last_drop_event: Option<Instant>,
}

impl Default for SvcLog {
    fn default() -> Self {
        SvcLog {
            file: None,
            budget: Budget::new(FILE_QUEUE),
            batch: Batch::default(),
            since: None,
            blocked: false,
            errors: 0,
            error: None,
            last_output: Vec::new(),
            last_drop_event: None,
        }
    }
}

impl SvcLog {
    /// How many bytes of stream `stream` may be read now into `ring`, at most `max`:
    /// without a file, `max`; with one, what the batch has room for (a full batch, or
    /// a view that the next read would not continue, is handed over first). None when
    /// the file's queue is full, or all the ring could take is still lent to the
    /// writer: the writer wakes the loop when that changes.
    pub fn room(&mut self, w: Option<&LogWriter>, id: usize, max: usize, ring: &mut Ring) -> Option<usize> {
        let (Some(_), Some(w)) = (&self.file, w) else { return Some(max) };
        let breaks_view = self.batch.view.as_ref().is_some_and(|v| !ring.continues(v));
        if (self.batch.len() >= BATCH_MAX || breaks_view) && !self.send(w, id) {
            self.blocked = true;
            return None;
        }
        if ring.writable() == 0 {
            // Only while some of the ring's bytes written before the file was opened
            // again are not let go of yet (see VIEW_RING_MIN): wait for the writer.
            // Asked before looking again, so a release in between is not missed.
            self.budget.want_wake();
            if ring.writable() == 0 {
                self.blocked = true;
                return None;
            }
        }
        Some(max.min(BATCH_MAX - self.batch.len()))
    }

    /// The file's path, for status.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// The last `n` bytes committed to `ring` (stream `stream`'s, read at `t_us`): into
    /// the batch (`id` is the service's index, its file's id in the writer), as a view
    /// of the ring if it can be. `logs` gives the time of the wake-up and learns of a
    /// batch that was empty.
    pub fn capture(&mut self, logs: &mut Logs, id: usize, stream: u8, t_us: u64, ring: &mut Ring, n: usize) {
        let (true, Some(w)) = (self.file.is_some(), logs.writer.as_ref()) else { return };
        if self.batch.is_empty() {
            if self.since.is_none() {
                logs.pending.push(id);
            }
            self.since = Some(logs.woke);
        }
        let viewed = ring.cap() >= VIEW_RING_MIN && self.batch.push_view(stream, t_us, ring, n);
        if !viewed {
            if self.batch.is_empty() && self.batch.data.capacity() < BATCH_MAX {
                self.batch = w.batch();
            }
            self.batch.push(stream, t_us, ring.recent(n));
        }
        if self.batch.len() >= BATCH_MAX {
            self.send(w, id);
        }
    }

    /// Hand the batch to the writer if the file's queue has room.
    fn send(&mut self, w: &LogWriter, id: usize) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let n = self.batch.len();
        if !self.budget.has_room(n) && self.budget.wait_for_room(n) {
            return false;
        }
        // The next batch takes a buffer only if it has to copy (see capture).
        let b = std::mem::take(&mut self.batch);
        w.write(id, &self.budget, b);
        self.since = None;
        true
    }

    /// A passthrough drop happened: true if it is time to record it as an event.
    pub fn drop_event_due(&mut self, now: Instant) -> bool {
        if self.last_drop_event.is_some_and(|t| now.saturating_duration_since(t) < DROP_EVENT_EVERY) {
            return false;
        }
        self.last_drop_event = Some(now);
        true
    }
}

/// tend's side of all log files.
pub struct Logs {
    writer: Option<LogWriter>,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// log_dir, as configured.
    dir: Option<PathBuf>,
    tend_budget: Arc<Budget>,
    /// tend.log lines not handed over yet.
    tend_lines: Vec<u8>,
    /// The last read time given out (µs since the epoch): read times never go back.
    clock: u64,
    /// The loop's last wake-up, and the wall-clock time then (µs since the epoch),
    /// derived from `base` rather than asked of the kernel at every wake-up (on some
    /// virtual machines reading the clock is a system call).
    woke: Instant,
    now_us: u64,
    /// (instant, wall-clock µs) read together, at most WALL_CLOCK_EVERY apart.
    base: (Instant, u64),
    /// Services whose batch holds bytes (the only ones flush_logs looks at).
    pending: Vec<usize>,
    /// LOG_ROTATE requests waiting for the writer: (connection, request id, ack).
    rotations: Vec<(Token, u64, u64)>,
    next_ack: u64,
    /// tend.log lines dropped because its queue was full.
    pub tend_dropped: u64,
}

impl Logs {
    /// `wake` wakes the loop (the writer calls it).
    pub fn new(dir: Option<PathBuf>, wake: Arc<dyn Fn() + Send + Sync>) -> Logs {
        Logs {
            writer: None,
            wake,
            dir,
            tend_budget: Budget::new(TEND_LOG_QUEUE),
            tend_lines: Vec::new(),
            clock: 0,
            woke: Instant::now(),
            now_us: crate::timefmt::now_us(),
            base: (Instant::now(), crate::timefmt::now_us()),
            pending: Vec::new(),
            rotations: Vec::new(),
            next_ack: 1,
            tend_dropped: 0,
        }
    }

    /// The writer, started at first use (threads inherit the loop's blocked signals).
    fn writer(&mut self) -> std::io::Result<&LogWriter> {
        if self.writer.is_none() {
            self.writer = Some(LogWriter::spawn(Arc::clone(&self.wake))?);
        }
        self.writer.as_ref().ok_or_else(|| std::io::Error::other("no log writer"))
    }

    /// The loop woke up at `now`: the time given to what it reads until the next one.
    pub fn woke(&mut self, now: Instant) {
        if now.saturating_duration_since(self.base.0) >= WALL_CLOCK_EVERY {
            self.base = (now, crate::timefmt::now_us());
        }
        self.woke = now;
        self.now_us = self.base.1 + now.saturating_duration_since(self.base.0).as_micros() as u64;
    }

    /// The time of a read: the last wake-up's, but never before the previous read's.
    pub fn next_time(&mut self) -> u64 {
        self.clock = self.clock.max(self.now_us);
        self.clock
    }

    /// The writer, if it was started.
    pub fn writer_ref(&self) -> Option<&LogWriter> {
        self.writer.as_ref()
    }

    /// Add a line (without its newline) to tend.log.
    pub fn tend_line(&mut self, line: &str) {
        if self.dir.is_none() {
            return;
        }
        self.tend_lines.extend_from_slice(line.as_bytes());
        self.tend_lines.push(b'\n');
    }

    /// Open (or move) tend.log in the current log_dir.
    fn open_tend_log(&mut self) {
        let Some(dir) = self.dir.clone() else { return };
        let budget = Arc::clone(&self.tend_budget);
        let opts = FileOpts { max_size: defaults::LOG_MAX_SIZE, keep: defaults::LOG_KEEP, timestamps: false };
        match self.writer() {
            Ok(w) => w.open(TEND_LOG, dir.join(defaults::TEND_LOG), opts, budget),
            Err(e) => {
                let msg = format!("tend: cannot start the log writer thread: {e}; not writing tend.log\n");
                crate::diag::err(&msg);
                self.dir = None;
            }
        }
    }

    /// Hand tend.log's lines to the writer (dropped and counted if it is behind).
    fn flush_tend(&mut self) {
        if self.tend_lines.is_empty() {
            return;
        }
        let n = self.tend_lines.len();
        if !self.tend_budget.has_room(n) {
            self.tend_dropped += self.tend_lines.iter().filter(|&&b| b == b'\n').count() as u64;
            self.tend_lines.clear();
            return;
        }
        let Some(w) = self.writer.as_ref() else { return };
        let mut b = w.batch();
        b.push(0, 0, &self.tend_lines);
        w.write(TEND_LOG, &self.tend_budget, b);
        self.tend_lines.clear();
    }
}

impl Supervisor {
    /// Set up log_dir at start: tend.log is opened.
    pub(super) fn logs_start(&mut self) {
        self.logs.open_tend_log();
    }

    /// Hand service `idx`'s batch to the writer if its queue has room.
    fn send_batch(&mut self, idx: usize) -> bool {
        let Some(w) = self.logs.writer.as_ref() else { return false };
        self.svcs[idx].logs.send(w, idx)
    }

    /// Stream `stream` of service `idx` ended (its pipe closed).
    pub(super) fn log_stream_end(&mut self, idx: usize, stream: u8) {
        if self.svcs[idx].logs.file.is_none() {
            return;
        }
        self.send_batch(idx);
        if let Some(w) = self.logs.writer.as_ref() {
            w.end_stream(idx, stream);
        }
    }

    /// Hand over the batches that are due (or all, with `all`); returns when the next
    /// one is due.
    pub(super) fn flush_logs(&mut self, now: Instant, all: bool) -> Option<Instant> {
        let mut due: Option<Instant> = None;
        let mut i = 0;
        while i < self.logs.pending.len() {
            let idx = self.logs.pending[i];
            let Some(since) = self.svcs.get(idx).and_then(|s| s.logs.since) else {
                self.logs.pending.swap_remove(i);
                continue;
            };
            let at = since + FLUSH_DELAY;
            if (all || at <= now) && self.send_batch(idx) {
                self.logs.pending.swap_remove(i);
                continue;
            }
            // Not sent (not due, or the queue is full: the wake-up retries it).
            if at > now {
                due = Some(due.map_or(at, |d| d.min(at)));
            }
            i += 1;
        }
        self.logs.flush_tend();
        due
    }

    /// The writer woke the loop: act on its reports; return the services whose file
    /// queue has room again (their pipes are to be read).
    pub(super) fn on_log_wake(&mut self) -> Vec<usize> {
        while let Some(r) = self.logs.writer.as_ref().and_then(|w| w.report()) {
            self.on_log_report(r);
        }
        let mut resumed = Vec::new();
        for idx in 0..self.svcs.len() {
            let l = &mut self.svcs[idx].logs;
            if l.blocked && l.budget.has_room(l.batch.len()) {
                l.blocked = false;
                self.send_batch(idx);
                resumed.push(idx);
            } else if l.since.is_some() && l.batch.len() >= BATCH_MAX {
                self.send_batch(idx);
            }
        }
        resumed
    }

    fn on_log_report(&mut self, r: Report) {
        match r {
            Report::Failed { id, path, error, attempt } => {
                let file = path.display().to_string();
                if id == TEND_LOG {
                    if attempt == 1 {
                        self.note(&format!("cannot write {file}: {error} (retrying)"));
                    }
                    return;
                }
                let Some(svc) = self.svcs.get_mut(id) else { return };
                svc.logs.errors += 1;
                let rotating = error.starts_with("rotating");
                if !rotating {
                    svc.logs.error = Some(error.clone());
                }
                if attempt == 1 {
                    let name = svc.cfg.name.clone();
                    let reason = if rotating {
                        format!("log file {file}: {error} (writing goes on in the current file)")
                    } else {
                        format!("cannot write log file {file}: {error} (output is held and retried)")
                    };
                    let line = format!("{name}: {reason}");
                    self.announce(
                        &line,
                        EventInfo { service: name, kind: "log_error".into(), reason, ..Default::default() },
                    );
                }
            }
            Report::Recovered { id, path, attempts } => {
                let file = path.display().to_string();
                if id == TEND_LOG {
                    self.note(&format!("writing {file} again after {attempts} failed attempt(s)"));
                    return;
                }
                let Some(svc) = self.svcs.get_mut(id) else { return };
                svc.logs.error = None;
                let name = svc.cfg.name.clone();
                let reason = format!("writing log file {file} again after {attempts} failed attempt(s)");
                let line = format!("{name}: {reason}");
                self.announce(&line, EventInfo { service: name, kind: "log".into(), reason, ..Default::default() });
            }
            Report::Rotated { ack, rotated } => {
                if let Some(i) = self.logs.rotations.iter().position(|r| r.2 == ack) {
                    let (token, id, _) = self.logs.rotations.swap_remove(i);
                    self.done(token, id, format!("rotated {rotated} log file(s)"));
                    self.dirty.push(token);
                }
            }
        }
    }

    /// Make the writer's view of service `idx`'s file match its configuration (at
    /// each spawn, and after a reload).
    pub(super) fn log_configure(&mut self, idx: usize) {
        let (file, dir) = (self.svcs[idx].cfg.log.file, self.logs.dir.clone());
        let want = match (file, dir) {
            (true, Some(dir)) => {
                let c = &self.svcs[idx].cfg;
                let opts = FileOpts { max_size: c.log.max_size, keep: c.log.keep, timestamps: c.log.timestamps };
                Some((logfmt::file_path(&dir, &c.name), opts))
            }
            _ => None,
        };
        if self.svcs[idx].logs.file == want {
            return;
        }
        match &want {
            Some((path, opts)) => {
                let budget = Arc::clone(&self.svcs[idx].logs.budget);
                match self.logs.writer() {
                    Ok(w) => w.open(idx, path.clone(), *opts, budget),
                    Err(e) => {
                        let name = self.svcs[idx].cfg.name.clone();
                        self.note(&format!(
                            "{name}: cannot start the log writer thread: {e}; not writing its log file"
                        ));
                        return;
                    }
                }
            }
            None => self.log_close(idx),
        }
        self.svcs[idx].logs.file = want;
    }

    /// Service `idx` no longer writes a file (removed, or `log.file` turned off).
    pub(super) fn log_close(&mut self, idx: usize) {
        if self.svcs[idx].logs.file.is_none() {
            return;
        }
        self.send_batch(idx);
        if let Some(w) = self.logs.writer.as_ref() {
            w.close(idx);
        }
        self.svcs[idx].logs.file = None;
        // Its pipes may be unwatched while its queue was full: nothing holds them now.
        self.reread_parked(idx);
    }

    /// A reload may have changed log_dir: tend.log and the open files move.
    pub(super) fn logs_reloaded(&mut self, dir: Option<PathBuf>) {
        if self.logs.dir == dir {
            return;
        }
        self.logs.dir = dir;
        if self.logs.dir.is_none() {
            if let Some(w) = self.logs.writer.as_ref() {
                w.close(TEND_LOG);
            }
        } else {
            self.logs.open_tend_log();
        }
        for idx in 0..self.svcs.len() {
            if !self.svcs[idx].removed && self.svcs[idx].logs.file.is_some() {
                self.log_configure(idx);
            }
        }
    }

    /// SIGUSR1: close every log file; each is opened again by its path at its next
    /// write (after an outside tool moved it away).
    pub(super) fn reopen_logs(&mut self) {
        if let Some(w) = self.logs.writer.as_ref() {
            w.reopen();
        }
    }

    /// LOG_ROTATE: rotate one service's file, or all of them and tend.log.
    pub(super) fn rotate_request(&mut self, token: Token, r: RotateReq) {
        if self.logs.dir.is_none() {
            let msg = "no log files: log_dir is not set in the configuration";
            self.control.error(token, r.id, ErrorCode::Failed, msg);
            return;
        }
        let ids = match &r.service {
            Some(name) => {
                let Some(idx) = self.find(token, r.id, name) else { return };
                if !self.svcs[idx].cfg.log.file {
                    let msg = format!("{name} writes no log file (log.file is not set)");
                    self.control.error(token, r.id, ErrorCode::Failed, msg);
                    return;
                }
                if self.svcs[idx].logs.file.is_none() {
                    // Not started since it was configured: no file yet.
                    self.done(token, r.id, "rotated 0 log file(s)".into());
                    return;
                }
                Some(vec![idx])
            }
            None => None,
        };
        self.flush_logs(Instant::now(), true);
        let ack = self.logs.next_ack;
        self.logs.next_ack += 1;
        match self.logs.writer() {
            Ok(w) => {
                w.rotate(ids, ack);
                self.logs.rotations.push((token, r.id, ack));
            }
            Err(e) => {
                let msg = format!("cannot start the log writer thread: {e}");
                self.control.error(token, r.id, ErrorCode::Failed, msg);
            }
        }
    }

    /// At exit, after the last read: every stream's last line, then the files are
    /// closed and written out (for at most FINISH_LIMIT).
    pub(super) fn finish_logs(&mut self) {
        self.flush_logs(Instant::now(), true);
        let Some(w) = self.logs.writer.as_mut() else { return };
        for (idx, s) in self.svcs.iter().enumerate() {
            if s.logs.file.is_some() {
                w.close(idx);
            }
        }
        w.close(TEND_LOG);
        let unsent: usize = self.svcs.iter().map(|s| s.logs.batch.len()).sum();
        let ok = w.finish(Instant::now() + FINISH_LIMIT);
        if !ok || unsent > 0 {
            crate::diag::err(&format!(
                "tend: log files not completely written at exit ({} bytes were never handed over)\n",
                unsent
            ));
        }
    }

    /// True while some service's file is behind (its pipes are paused).
    pub(super) fn logs_blocked(&self) -> bool {
        self.svcs.iter().any(|s| s.logs.blocked || (s.logs.file.is_some() && !s.logs.batch.is_empty()))
    }
}
