//! A job's input: bytes from STDIN frames queued for a file descriptor the job reads
//! (its stdin pipe; a pseudo-terminal's master works the same way), written as the
//! descriptor takes them, never blocking the loop.
//!
//! The queue is bounded by the caller: past [`INPUT_LIMIT`] the connections feeding it
//! are not read from (`held`) until it drains below half of it, so a client piping a
//! large file waits for the job instead of growing tend. The descriptor is closed (the
//! job reads end of file) once an `eof` was pushed and everything before it written,
//! or when the value is dropped.

use std::io::Write;
use std::os::fd::OwnedFd;

use mio::unix::pipe::Sender;
use mio::{Interest, Registry, Token};

/// Bytes queued for one job before its feeders are held.
pub const INPUT_LIMIT: usize = 256 * 1024;

pub struct JobInput {
    tx: Option<Sender>,
    queue: Vec<u8>,
    pos: usize,
    eof: bool,
    pub token: Token,
    /// Connections not read from until the queue drains.
    pub held: Vec<Token>,
}

/// What a write turn came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Bytes are left; the descriptor is full (a writable event follows).
    Blocked,
    /// Everything queued is written; the descriptor stays open.
    Drained,
    /// The descriptor is closed: end of file sent, or the reader is gone (EPIPE) and
    /// whatever was queued is dropped.
    Closed,
}

impl JobInput {
    /// Take the write end `fd` (made non-blocking here) and watch it under `token`.
    pub fn new(fd: OwnedFd, token: Token, registry: &Registry) -> std::io::Result<JobInput> {
        let mut tx = Sender::from(fd);
        tx.set_nonblocking(true)?;
        registry.register(&mut tx, token, Interest::WRITABLE)?;
        Ok(JobInput { tx: Some(tx), queue: Vec::new(), pos: 0, eof: false, token, held: Vec::new() })
    }

    pub fn queued(&self) -> usize {
        self.queue.len() - self.pos
    }

    pub fn is_open(&self) -> bool {
        self.tx.is_some() && !self.eof
    }

    /// Whether feeders should be held.
    pub fn full(&self) -> bool {
        self.queued() >= INPUT_LIMIT
    }

    /// Queue `data`, then (with `eof`) the end of file.
    pub fn push(&mut self, data: &[u8], eof: bool) {
        if !self.is_open() {
            return;
        }
        self.queue.extend_from_slice(data);
        self.eof |= eof;
    }

    /// Write as much as the descriptor takes now.
    pub fn write(&mut self, registry: &Registry) -> Flow {
        let Some(tx) = &mut self.tx else { return Flow::Closed };
        while self.pos < self.queue.len() {
            match tx.write(&self.queue[self.pos..]) {
                Ok(0) => return Flow::Blocked,
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.compact();
                    return Flow::Blocked;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // EPIPE: nobody reads any more.
                    self.close(registry);
                    return Flow::Closed;
                }
            }
        }
        self.queue.clear();
        self.pos = 0;
        if self.queue.capacity() > INPUT_LIMIT {
            self.queue.shrink_to(64 * 1024);
        }
        if self.eof {
            self.close(registry);
            return Flow::Closed;
        }
        Flow::Drained
    }

    fn compact(&mut self) {
        if self.pos > 64 * 1024 && self.pos * 2 > self.queue.len() {
            self.queue.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Close the descriptor now, dropping what is queued.
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut tx) = self.tx.take() {
            let _ = registry.deregister(&mut tx);
        }
        self.queue = Vec::new();
        self.pos = 0;
        self.eof = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn queues_writes_and_closes_after_eof() {
        let poll = mio::Poll::new().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        let mut input = JobInput::new(w.into(), Token(9), poll.registry()).unwrap();
        input.push(b"hello ", false);
        input.push(b"world", true);
        assert_eq!(input.queued(), 11);
        assert!(!input.is_open());
        assert_eq!(input.write(poll.registry()), Flow::Closed);
        let mut got = String::new();
        let mut r = r;
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello world");
    }

    #[test]
    fn a_full_pipe_blocks_and_a_gone_reader_closes() {
        let poll = mio::Poll::new().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        let mut input = JobInput::new(w.into(), Token(9), poll.registry()).unwrap();
        input.push(&vec![b'x'; INPUT_LIMIT + 1], false);
        assert!(input.full());
        assert_eq!(input.write(poll.registry()), Flow::Blocked);
        assert!(input.queued() > 0 && input.queued() < INPUT_LIMIT + 1);
        drop(r);
        assert_eq!(input.write(poll.registry()), Flow::Closed);
        assert_eq!(input.queued(), 0);
    }
}
