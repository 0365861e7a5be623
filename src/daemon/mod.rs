//! Mechanisms shared by every mode of tend: the signal mask and signalfd, the one
//! reaper, the one fork/exec site. Each mode's loop is built from these.

pub mod cgroup;
pub mod control;
pub mod deps;
pub mod events;
pub mod forward;
pub mod gateway;
pub mod ingress;
pub mod jobinput;
pub mod jobreq;
pub mod jobs;
pub mod logfile;
pub mod logfmt;
pub mod logging;
pub mod logserve;
pub mod logview;
pub mod notify;
pub mod output;
pub mod probe;
pub mod readiness;
pub mod reap;
pub mod requests;
pub mod service;
pub mod signals;
pub mod spawn;
pub mod supervisor;
pub mod timers;
