//! Mechanisms shared by every mode of tend: the signal mask and signalfd, the one
//! reaper, the one fork/exec site. Each mode's loop is built from these.

pub mod reap;
pub mod signals;
pub mod spawn;
