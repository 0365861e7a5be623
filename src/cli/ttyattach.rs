//! `tend spawn -t --attach` and `tend attach %N`: a terminal session with a job that
//! runs on a pseudo-terminal. The client's terminal is in raw mode (restored however
//! the session ends), keystrokes go to the job's terminal as STDIN frames, its output
//! comes back as the job's log stream, and the window size follows the client's
//! (RESIZE at the start and on each SIGWINCH). Ctrl-P Ctrl-Q, or SIGINT, SIGTERM,
//! SIGHUP or SIGQUIT sent to the client, detach: the job keeps running and
//! `tend attach %N` comes back to it.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use argh::FromArgs;

use super::client::{code, Client, ClientError};
use super::jobs::poll_session;
use super::tty::{window_size, DetachKeys, RawMode, SignalEvent, Signals};
use crate::proto::msg::{job_name, parse_job, AttachReq, JobInfo, JobRef, JobReply, Reply, ResizeReq, StdinReq};
use crate::proto::Request;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "attach")]
/// Attach this terminal to a running job started with --tty (detach: Ctrl-P Ctrl-Q).
pub struct AttachCmd {
    /// the job (%N or N)
    #[argh(positional)]
    job: String,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON: the job as ended (nothing when detached)
    #[argh(switch)]
    json: bool,
}

/// How a session ended.
pub enum Outcome {
    /// The job ended (and all its output was shown).
    Ended(Box<JobInfo>),
    /// The user detached; the job goes on.
    Detached,
}

pub fn attach_main(c: AttachCmd) -> Result<(), ClientError> {
    let num = parse_job(&c.job, true).ok_or_else(|| {
        ClientError::new(code::USAGE, format!("bad job id {:?}: expected %N or N, such as %3", c.job))
    })?;
    let path = crate::daemon::control::socket_path(c.socket.as_deref().map(std::path::Path::new), None);
    let mut cl = Client::connect(&path)?;
    let status_id = cl.next_id();
    let info = cl.call_as::<JobReply>(Request::JobStatus(JobRef { id: status_id, job: num }))?.job;
    if !info.spec.tty {
        let msg =
            format!("job {} has no terminal (it was not spawned with --tty): see tend logs -f {0}", job_name(num));
        return Err(ClientError::new(code::FAILED, msg));
    }
    if info.ended() {
        let msg = format!("job {} has ended: see tend status {0} and tend logs {0}", job_name(num));
        return Err(ClientError::new(code::FAILED, msg));
    }
    let id = cl.next_id();
    let mut pending = Vec::new();
    Request::Attach(AttachReq { id, job: num }).encode(&mut pending);
    match session(&mut cl, id, num, pending)? {
        Outcome::Ended(j) => {
            if c.json {
                let line = serde_json::to_string(&*j).map_err(|e| ClientError::new(code::FAILED, e.to_string()))?;
                let mut o = std::io::stdout().lock();
                // A closed stdout does not change the job's status.
                let _ = writeln!(o, "{line}").and_then(|_| o.flush());
            }
            exit_status(&j)
        }
        Outcome::Detached => Ok(()),
    }
}

/// The exit code for an ended job: its status.
pub fn exit_status(j: &JobInfo) -> Result<(), ClientError> {
    match j.status {
        Some(0) => Ok(()),
        Some(s) => Err(ClientError::new(s, "")),
        None => Err(ClientError::new(code::PROTOCOL, format!("job {} has not ended", job_name(j.job)))),
    }
}

fn resize(cl: &mut Client, num: u64, out: &mut Vec<u8>) {
    if let Some(ws) = window_size() {
        Request::Resize(ResizeReq { id: cl.next_id(), job: num, rows: ws.rows, cols: ws.cols }).encode(out);
    }
}

/// The session loop on a connection already attached (or about to be, by the frames
/// in `pending`) to job `num` with request id `id`.
pub fn session(cl: &mut Client, id: u64, num: u64, mut pending: Vec<u8>) -> Result<Outcome, ClientError> {
    let failed = |what: &str, e: std::io::Error| ClientError::new(code::FAILED, format!("{what}: {e}"));
    // Signals first, so that none can end the process between raw mode and its restore.
    let signals = Signals::block().map_err(|e| failed("signalfd", e))?;
    let raw = RawMode::enter().map_err(|e| failed("setting the terminal to raw mode", e))?;
    resize(cl, num, &mut pending);
    cl.set_nonblocking(true)?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut keys = DetachKeys::default();
    let mut stdin_open = true;
    let mut sent = 0usize;
    let mut inbuf = vec![0u8; 16 * 1024];
    let mut typed = Vec::new();
    let outcome = loop {
        let mut ended = None;
        while let Some(r) = cl.next_reply()? {
            match r {
                Reply::LogData(d) if d.id == id => {
                    // A gone terminal is the end of the session, not an error of the job.
                    let _ = stdout.write_all(&d.data).and_then(|_| stdout.flush());
                }
                Reply::Job(j) if j.id == id => ended = Some(Box::new(j.job)),
                Reply::End(e) if e.id == id => {
                    return Err(ClientError::new(code::FAILED, format!("job {} was removed", job_name(num))))
                }
                Reply::Error(e) if e.id == id => return Err(ClientError::from_reply(&e)),
                // A failed STDIN or RESIZE: the job's terminal is gone, the end follows.
                Reply::Error(_) | Reply::LogLost(_) | Reply::Done(_) => {}
                r => return Err(ClientError::new(code::PROTOCOL, format!("unexpected reply: {r:?}"))),
            }
        }
        if let Some(j) = ended {
            break Outcome::Ended(j);
        }
        let want_out = sent < pending.len();
        // Keystrokes are read only once the earlier ones are sent (the daemon stops
        // reading this connection while the job's terminal is full).
        let read_stdin = stdin_open && !want_out;
        let ready = match poll_session(cl, want_out, signals.fd(), read_stdin.then(|| stdin.as_fd())) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => return Err(failed("poll", e)),
        };
        if ready.signals {
            let evs = signals.drain().map_err(|e| failed("signalfd", e))?;
            if evs.contains(&SignalEvent::Quit) {
                break Outcome::Detached;
            }
            resize(cl, num, &mut pending);
        }
        if ready.stdin {
            let got = match stdin.lock().read(&mut inbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if got == 0 {
                // No more keys (stdin closed): keep showing the output.
                stdin_open = false;
            } else {
                typed.clear();
                let detach = keys.feed(&inbuf[..got], &mut typed);
                if !typed.is_empty() {
                    let data = std::mem::take(&mut typed);
                    Request::Stdin(StdinReq { id: cl.next_id(), job: num, data, eof: false }).encode(&mut pending);
                }
                if detach {
                    break Outcome::Detached;
                }
            }
        }
        if sent < pending.len() {
            sent += cl.write_some(&pending[sent..])?;
            if sent == pending.len() {
                pending.clear();
                sent = 0;
            }
        }
        if ready.conn && !cl.read_some()? {
            while let Some(r) = cl.next_reply()? {
                match r {
                    Reply::LogData(d) if d.id == id => {
                        let _ = stdout.write_all(&d.data).and_then(|_| stdout.flush());
                    }
                    Reply::Job(j) if j.id == id => return Ok(Outcome::Ended(Box::new(j.job))),
                    _ => {}
                }
            }
            return Err(ClientError::new(code::PROTOCOL, "the daemon closed the connection"));
        }
    };
    // Whatever is still queued (the last keys) goes before the connection closes.
    if sent < pending.len() {
        let _ = cl.set_nonblocking(false);
        let _ = cl.write_some(&pending[sent..]);
    }
    drop(raw);
    if let Outcome::Detached = outcome {
        let msg = format!("\ntend: detached from job {0}; `tend attach {0}` to come back\n", job_name(num));
        crate::diag::err(&msg);
    }
    Ok(outcome)
}
