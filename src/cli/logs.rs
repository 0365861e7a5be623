//! `tend logs`: print (and follow) a service's captured output, by line and time when
//! asked (`-t`, `--json`, `--since`, `--until`), or rotate log files (`--rotate`).

use std::io::Write;
use std::path::Path;

use argh::FromArgs;

use super::client::{code, Client, ClientError};
use crate::daemon::control::socket_path;
use crate::proto::msg::{Done, LogsReq, Reply, RotateReq, Stream};
use crate::proto::Request;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "logs")]
/// Print a service's captured output (stdout to stdout, stderr to stderr), or rotate
/// log files with --rotate.
pub struct LogsCmd {
    /// the service (optional with --rotate: then every log file)
    #[argh(positional)]
    service: Option<String>,
    /// keep printing new output until interrupted
    #[argh(switch, short = 'f')]
    follow: bool,
    /// only the last N lines of each stream
    #[argh(option, short = 'n')]
    lines: Option<u64>,
    /// only the last N bytes of each stream
    #[argh(option)]
    bytes: Option<u64>,
    /// only stderr
    #[argh(switch)]
    stderr: bool,
    /// only stdout
    #[argh(switch)]
    stdout: bool,
    /// both streams, in the order tend read them (the default)
    #[argh(switch)]
    all: bool,
    /// only lines read since TIME: a duration ago ("10m", "1h") or an RFC 3339 time
    #[argh(option)]
    since: Option<String>,
    /// only lines read before TIME: a duration ago or an RFC 3339 time
    #[argh(option)]
    until: Option<String>,
    /// start each line with the time tend read it (RFC 3339, UTC, microseconds)
    #[argh(switch, short = 't')]
    timestamps: bool,
    /// rotate the service's log file now (every log file and tend.log without a service)
    #[argh(switch)]
    rotate: bool,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON, one object per line: service, stream, ts, line
    #[argh(switch)]
    json: bool,
}

fn usage(msg: impl Into<String>) -> ClientError {
    ClientError::new(code::USAGE, msg)
}

/// A `--since`/`--until` value: a duration before `now_us`, or an RFC 3339 time.
pub fn parse_time(s: &str, now_us: u64) -> Result<u64, String> {
    if let Ok(d) = crate::config::units::parse_duration(s) {
        return Ok(now_us.saturating_sub(d.as_micros() as u64));
    }
    crate::timefmt::parse_rfc3339(s).ok_or_else(|| {
        format!("bad time {s:?}: expected a duration such as \"10m\" or \"1h\", or an RFC 3339 time such as \"2026-11-22T15:52:01Z\"")
    })
}

/// Write to stdout; a closed stdout (`| head`) ends the command quietly.
fn out(s: &[u8]) -> Result<(), ClientError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s).and_then(|_| o.flush()).map_err(|_| ClientError::new(0, ""))
}

fn stream_name(s: Stream) -> &'static str {
    if s == Stream::Stderr {
        "stderr"
    } else {
        "stdout"
    }
}

/// Splits each stream's chunks into lines, each with the time its first byte was
/// read, and prints them (`-t` or `--json`).
struct LinePrinter {
    service: String,
    json: bool,
    /// Per stream: the unterminated line and its time.
    partial: [(Vec<u8>, Option<u64>); 2],
}

/// Longest line held while waiting for its newline; longer ones print in pieces.
const LINE_MAX: usize = 64 * 1024;

impl LinePrinter {
    fn feed(&mut self, stream: Stream, t: Option<u64>, data: &[u8]) -> Result<(), ClientError> {
        let s = usize::from(stream == Stream::Stderr);
        let mut rest = data;
        while !rest.is_empty() {
            if self.partial[s].0.is_empty() {
                self.partial[s].1 = t;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.partial[s].0.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    self.emit(s)?;
                }
                None => {
                    self.partial[s].0.extend_from_slice(rest);
                    rest = &[];
                    if self.partial[s].0.len() >= LINE_MAX {
                        self.emit(s)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Print stream `s`'s pending line (if any) as a line.
    fn emit(&mut self, s: usize) -> Result<(), ClientError> {
        let (line, t) = (std::mem::take(&mut self.partial[s].0), self.partial[s].1.take());
        let ts = t.map(crate::timefmt::rfc3339_us).unwrap_or_else(|| "-".into());
        let stream = if s == 1 { Stream::Stderr } else { Stream::Stdout };
        if self.json {
            let v = serde_json::json!({
                "service": self.service,
                "stream": stream_name(stream),
                "ts": ts,
                "line": String::from_utf8_lossy(&line),
            });
            let mut b = serde_json::to_vec(&v).map_err(|e| ClientError::new(code::FAILED, e.to_string()))?;
            b.push(b'\n');
            return out(&b);
        }
        let mut b = Vec::with_capacity(line.len() + 29);
        b.extend_from_slice(ts.as_bytes());
        b.push(b' ');
        b.extend_from_slice(&line);
        b.push(b'\n');
        if s == 1 {
            let _ = std::io::stderr().lock().write_all(&b);
            Ok(())
        } else {
            out(&b)
        }
    }

    /// The end: unterminated lines print as lines.
    fn finish(&mut self) -> Result<(), ClientError> {
        for s in 0..2 {
            if !self.partial[s].0.is_empty() {
                self.emit(s)?;
            }
        }
        Ok(())
    }
}

pub fn logs(c: LogsCmd) -> Result<(), ClientError> {
    let socket = socket_path(c.socket.as_deref().map(Path::new), None);
    if c.rotate {
        let reading = c.follow || c.lines.is_some() || c.bytes.is_some() || c.since.is_some() || c.until.is_some();
        if reading || c.timestamps || c.stdout || c.stderr || c.all {
            return Err(usage("--rotate takes only a service name, --socket and --json"));
        }
        let mut cl = Client::connect(&socket)?;
        let id = cl.next_id();
        let d = cl.call_as::<Done>(Request::LogRotate(RotateReq { id, service: c.service }))?;
        return super::commands::done(d, c.json);
    }
    let Some(service) = c.service else {
        return Err(usage("tend logs: name a service (or give --rotate)"));
    };
    if c.follow && c.until.is_some() {
        return Err(usage("--until cannot be combined with -f: a follow has no end"));
    }
    let now = crate::timefmt::now_us();
    let since_us = c.since.as_deref().map(|s| parse_time(s, now)).transpose().map_err(usage)?;
    let until_us = c.until.as_deref().map(|s| parse_time(s, now)).transpose().map_err(usage)?;
    let stream = match (c.stdout, c.stderr, c.all) {
        (true, false, false) => Stream::Stdout,
        (false, true, false) => Stream::Stderr,
        _ => Stream::All,
    };
    let mut cl = Client::connect(&socket)?;
    let id = cl.next_id();
    let req = LogsReq {
        id,
        service: service.clone(),
        stream,
        lines: c.lines,
        bytes: c.bytes,
        follow: c.follow,
        since_us,
        until_us,
    };
    cl.send(&Request::Logs(req))?;
    let by_line = c.json || c.timestamps;
    let mut lp = LinePrinter { service, json: c.json, partial: Default::default() };
    loop {
        match cl.recv()? {
            Reply::LogData(d) if d.id == id => {
                if by_line {
                    lp.feed(d.stream, d.time_us, &d.data)?;
                } else if d.stream == Stream::Stderr {
                    let _ = std::io::stderr().lock().write_all(&d.data);
                } else {
                    out(&d.data)?;
                }
            }
            Reply::LogLost(l) if l.id == id => {
                let s = stream_name(l.stream);
                if by_line {
                    // What came before the gap is a line of its own.
                    if !lp.partial[usize::from(l.stream == Stream::Stderr)].0.is_empty() {
                        lp.emit(usize::from(l.stream == Stream::Stderr))?;
                    }
                }
                if c.json {
                    let v = serde_json::json!({ "service": lp.service, "stream": s, "lost_bytes": l.bytes });
                    let mut b = serde_json::to_vec(&v).unwrap_or_default();
                    b.push(b'\n');
                    out(&b)?;
                } else {
                    crate::diag::err(&format!("tend: {} bytes of {s} lost: this client was not keeping up\n", l.bytes));
                }
            }
            Reply::End(e) if e.id == id => return lp.finish(),
            Reply::Error(e) => return Err(ClientError::from_reply(&e)),
            r => return Err(ClientError::new(code::PROTOCOL, format!("unexpected reply {r:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_durations_ago_or_rfc3339() {
        let now = 1_795_362_721_000_000;
        assert_eq!(parse_time("10m", now), Ok(now - 600_000_000));
        assert_eq!(parse_time("1.5s", now), Ok(now - 1_500_000));
        assert_eq!(parse_time("2026-11-22T15:52:01Z", now), Ok(now));
        assert!(parse_time("yesterday", now).unwrap_err().contains("RFC 3339"));
        assert!(parse_time("-5m", now).is_err());
    }
}
