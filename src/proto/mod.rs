//! The control protocol: the sans-IO frame codec and the wire types (tend-protocol(7)).
//! Shared by the daemon, the client commands and the fuzz targets.

pub mod frame;
pub mod job;
pub mod msg;

pub use frame::{Decoder, Frame, FrameError};
pub use msg::{Reply, Request};
