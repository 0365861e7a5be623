//! Jobs on a pseudo-terminal (`tend spawn -t`): each attempt gets a new pty
//! ([`crate::daemon::pty`]); the job has the slave as its standard streams and
//! controlling terminal, tend keeps the master. The master is read as the job's stdout
//! (so its output is captured, kept and streamed like any job's, and an ATTACH shows
//! it), written through the job's input queue (STDIN frames are keystrokes), and sized
//! by RESIZE.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use mio::Token;

use crate::daemon::pty::{self, Pty, WinSize};
use crate::daemon::spawn::SpawnError;
use crate::daemon::supervisor::Supervisor;
use crate::proto::msg::{job_name, ErrorCode, ResizeReq};

/// The size a terminal gets when the client gave none.
const DEFAULT_SIZE: WinSize = WinSize { rows: 24, cols: 80 };

/// The terminal of one job's current attempt.
pub struct JobTty {
    /// A descriptor of the master, for TIOCSWINSZ.
    master: OwnedFd,
    pub size: WinSize,
}

/// Terminals by job number.
pub type Ttys = HashMap<u64, JobTty>;

impl Supervisor {
    /// For the attempt about to be spawned in slot `idx`: a new pseudo-terminal if its
    /// job runs on one, sized as the last RESIZE (or the descriptor) says.
    pub(super) fn job_pty(&mut self, idx: usize) -> Result<Option<Pty>, SpawnError> {
        let Some(num) = self.svcs[idx].job else { return Ok(None) };
        let Some(job) = self.jobs.get(num) else { return Ok(None) };
        if !job.spec.tty {
            return Ok(None);
        }
        let size = match self.ttys.get(&num) {
            Some(t) => t.size,
            None if job.spec.rows > 0 && job.spec.cols > 0 => WinSize { rows: job.spec.rows, cols: job.spec.cols },
            None => DEFAULT_SIZE,
        };
        let owner = self.svcs[idx].cfg.run_as.as_ref().map(|r| (r.uid, r.gid));
        let pty = pty::open(Some(size), owner).map_err(SpawnError::parent)?;
        let master = pty.master.try_clone().map_err(SpawnError::parent)?;
        self.ttys.insert(num, JobTty { master, size });
        Ok(Some(pty))
    }

    /// RESIZE: set the terminal's size (the job gets SIGWINCH).
    pub(super) fn resize_request(&mut self, token: Token, r: ResizeReq) {
        if self.find_job(token, r.id, r.job).is_none() {
            return;
        }
        let name = job_name(r.job);
        if r.rows == 0 || r.cols == 0 {
            let msg = format!("bad window size {}x{}: rows and columns must be more than 0", r.cols, r.rows);
            self.control.error(token, r.id, ErrorCode::BadRequest, msg);
            return;
        }
        let Some(t) = self.ttys.get_mut(&r.job) else {
            let msg = if self.jobs.get(r.job).is_some_and(|j| j.spec.tty) {
                format!("job {name} has no terminal now (it has ended)")
            } else {
                format!("job {name} has no terminal (spawn it with --tty)")
            };
            self.control.error(token, r.id, ErrorCode::Failed, msg);
            return;
        };
        let size = WinSize { rows: r.rows, cols: r.cols };
        if let Err(e) = pty::set_size(t.master.as_fd(), size) {
            self.control.error(token, r.id, ErrorCode::Failed, format!("resizing the terminal of job {name}: {e}"));
            return;
        }
        t.size = size;
    }

    /// Job `num` has ended or is forgotten: close tend's extra master descriptor.
    pub(super) fn drop_job_tty(&mut self, num: u64) {
        self.ttys.remove(&num);
    }
}
