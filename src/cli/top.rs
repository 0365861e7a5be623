//! `tend top`: the services of a running tend, live in a terminal, refreshed every
//! interval (1 s): state, pid, uptime, restarts, CPU %, RSS, readiness, health and the
//! request rate, sorted, fitted to the terminal's width and height. When standard
//! output is not a terminal (or with `--once`, `--json`) it prints one table and exits.
//!
//! CPU % and the request rate are rates: they come from the difference between two
//! LIST replies (`cpu_ms` of the same process; the `requests` counter), so the first
//! screen shows them as a dash and the one-shot table waits one interval.
//!
//! The request rate reads a `requests` counter from each service map of the LIST
//! reply, straight from the frame: a daemon that counts the requests it forwards to a
//! service fills the column, one that does not leaves a dash, and this client needs
//! no change either way (the protocol lets either side add fields).
//!
//! Everything that decides what is shown is pure (samples -> rows -> sorted rows ->
//! lines fitted to a size; key bytes -> actions) and unit-tested below; [`term`] is the
//! I/O shell: the terminal in raw mode on the alternate screen, restored however top
//! ends (q, Ctrl-C, SIGINT/SIGTERM/SIGHUP/SIGQUIT, an error).

mod term;

use std::cmp::Ordering;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use argh::FromArgs;
use serde::{Deserialize, Serialize};

use super::client::{code, Client, ClientError};
use crate::daemon::control::socket_path;
use crate::proto::msg::{decode_body, Plain, Reply, ServiceInfo};
use crate::proto::Request;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "top")]
/// Show the services live, refreshed every second (q quits; a table when stdout is
/// not a terminal).
pub struct TopCmd {
    /// sort by this column: cpu (the default), rss, name, state, pid, uptime, restarts,
    /// ready, health or req
    #[argh(option, short = 's', default = "Col::Cpu", from_str_fn(parse_col))]
    sort: Col,
    /// reverse the sort order
    #[argh(switch, short = 'r')]
    reverse: bool,
    /// time between refreshes, at least 100ms (default 1s)
    #[argh(option, short = 'd', default = "String::from(\"1s\")")]
    interval: String,
    /// print one table, one interval after the first look, and exit (what top does
    /// when stdout is not a terminal)
    #[argh(switch)]
    once: bool,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print the table as JSON (implies --once)
    #[argh(switch)]
    json: bool,
}

/// The columns, in display order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Name,
    State,
    Pid,
    Uptime,
    Restarts,
    Cpu,
    Rss,
    Ready,
    Health,
    Req,
}

const COLS: [Col; 10] = [
    Col::Name,
    Col::State,
    Col::Pid,
    Col::Uptime,
    Col::Restarts,
    Col::Cpu,
    Col::Rss,
    Col::Ready,
    Col::Health,
    Col::Req,
];

/// The columns given up first when the terminal is too narrow; NAME and STATE stay.
const DROP_ORDER: [Col; 8] =
    [Col::Pid, Col::Req, Col::Restarts, Col::Uptime, Col::Ready, Col::Health, Col::Rss, Col::Cpu];

/// A name column is cut to this width before any column is dropped, and below it only
/// once every droppable column is gone.
const NAME_SOFT_MIN: usize = 12;
const NAME_HARD_MIN: usize = 4;

impl Col {
    fn index(self) -> usize {
        self as usize
    }

    fn header(self) -> &'static str {
        match self {
            Col::Name => "NAME",
            Col::State => "STATE",
            Col::Pid => "PID",
            Col::Uptime => "UPTIME",
            Col::Restarts => "RESTARTS",
            Col::Cpu => "CPU%",
            Col::Rss => "RSS",
            Col::Ready => "READY",
            Col::Health => "HEALTH",
            Col::Req => "REQ/S",
        }
    }

    /// The name `--sort` takes.
    fn key(self) -> &'static str {
        match self {
            Col::Name => "name",
            Col::State => "state",
            Col::Pid => "pid",
            Col::Uptime => "uptime",
            Col::Restarts => "restarts",
            Col::Cpu => "cpu",
            Col::Rss => "rss",
            Col::Ready => "ready",
            Col::Health => "health",
            Col::Req => "req",
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Col::Pid | Col::Uptime | Col::Restarts | Col::Cpu | Col::Rss | Col::Req)
    }

    /// The default order: largest first for the measures; names and pids ascending;
    /// state, readiness and health with the services that need attention first.
    fn descending(self) -> bool {
        matches!(self, Col::Uptime | Col::Restarts | Col::Cpu | Col::Rss | Col::Req)
    }
}

fn parse_col(s: &str) -> Result<Col, String> {
    let s = s.to_ascii_lowercase();
    let alias = match s.as_str() {
        "mem" | "memory" => "rss",
        "cpu%" => "cpu",
        "requests" | "req/s" => "req",
        other => other,
    };
    COLS.iter().copied().find(|c| c.key() == alias).ok_or_else(|| {
        let keys: Vec<&str> = COLS.iter().map(|c| c.key()).collect();
        format!("unknown sort column {s:?}: expected one of {}", keys.join(", "))
    })
}

/// The sort order in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub col: Col,
    /// Against the column's default direction.
    pub reverse: bool,
}

impl Sort {
    fn describe(self) -> String {
        let desc = self.col.descending() != self.reverse;
        let dir = match (self.col.numeric() || self.col == Col::Name, desc) {
            (true, true) => "descending",
            (true, false) => "ascending",
            (false, false) => "trouble first",
            (false, true) => "trouble last",
        };
        format!("{} {dir}", self.col.key())
    }
}

// --- samples and rows --------------------------------------------------------------------

/// One LIST reply and when it arrived.
pub struct Sample {
    pub at: Instant,
    pub services: Vec<ServiceInfo>,
    /// Each service's `requests` counter, where the daemon sends one.
    pub requests: Vec<Option<u64>>,
}

/// One line of the table, as numbers (formatted by [`cells`]; as is for `--json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub name: String,
    pub state: String,
    pub paused: bool,
    pub pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    /// Percent of one CPU over the last interval.
    #[serde(rename = "cpu_percent")]
    pub cpu: Option<f64>,
    pub rss: Option<u64>,
    pub ready: bool,
    /// "" without a health check.
    pub health: String,
    /// Requests per second over the last interval.
    #[serde(rename = "requests_per_s")]
    pub req: Option<f64>,
}

/// The service maps' `requests` counters, read from the LIST body itself (unknown to
/// [`ServiceInfo`]); all None when the body has none, or not one per service.
pub fn request_counts(body: &[u8], n: usize) -> Vec<Option<u64>> {
    #[derive(Deserialize)]
    struct Counters {
        #[serde(default)]
        services: Vec<Counter>,
    }
    #[derive(Deserialize)]
    struct Counter {
        #[serde(default)]
        requests: Option<u64>,
    }
    match decode_body::<Counters>(body) {
        Ok(c) if c.services.len() == n => c.services.into_iter().map(|c| c.requests).collect(),
        _ => vec![None; n],
    }
}

/// CPU % of the service's process between two samples `dt` apart: from the `cpu_ms`
/// delta while it is the same process; for a process started since the previous
/// sample, its CPU time over its uptime. None without a process or a CPU time.
pub fn cpu_percent(prev: Option<&ServiceInfo>, cur: &ServiceInfo, dt: Duration) -> Option<f64> {
    let (pid, cpu) = (cur.pid?, cur.cpu_ms?);
    let dt_ms = dt.as_secs_f64() * 1000.0;
    if dt_ms <= 0.0 {
        return None;
    }
    match prev {
        Some(p) if p.pid == Some(pid) => {
            let delta = cpu.checked_sub(p.cpu_ms?)?;
            Some(delta as f64 * 100.0 / dt_ms)
        }
        _ => {
            let up = (cur.uptime_ms? as f64).min(dt_ms);
            (up > 0.0).then(|| cpu as f64 * 100.0 / up)
        }
    }
}

/// Per second between two readings of a counter `dt` apart; None if either is missing
/// or the counter went back (a new counter).
pub fn rate(prev: Option<u64>, cur: Option<u64>, dt: Duration) -> Option<f64> {
    let delta = cur?.checked_sub(prev?)?;
    let s = dt.as_secs_f64();
    (s > 0.0).then(|| delta as f64 / s)
}

/// The rows of `cur`, with rates against `prev` (None: the first look, no rates).
pub fn rows(prev: Option<&Sample>, cur: &Sample) -> Vec<Row> {
    cur.services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let before = prev.map(|p| {
                let j = p.services.iter().position(|q| q.name == s.name);
                (j.and_then(|j| p.services.get(j)), j.and_then(|j| p.requests.get(j).copied().flatten()), p.at)
            });
            let (cpu, req) = match before {
                None => (None, None),
                Some((ps, pr, at)) => {
                    let dt = cur.at.saturating_duration_since(at);
                    (cpu_percent(ps, s, dt), rate(pr, cur.requests.get(i).copied().flatten(), dt))
                }
            };
            Row {
                name: s.name.clone(),
                state: s.state.clone(),
                paused: s.paused,
                pid: s.pid,
                uptime_ms: s.uptime_ms,
                restarts: s.restarts,
                cpu,
                rss: s.rss,
                ready: s.ready,
                health: s.health.clone(),
                req,
            }
        })
        .collect()
}

/// Where a state sorts with "trouble first": failures, then changes under way,
/// then the steady states.
fn state_rank(state: &str) -> u8 {
    match state {
        "failed" => 0,
        "backoff" => 1,
        "stopping" => 2,
        "starting" => 3,
        "waiting" => 4,
        "running" => 5,
        "exited" => 6,
        "stopped" => 7,
        _ => 8,
    }
}

fn health_rank(h: &str) -> Option<u8> {
    match h {
        "unhealthy" => Some(0),
        "unknown" => Some(1),
        "healthy" => Some(2),
        "" => None,
        _ => Some(3),
    }
}

/// A row's value in `col`, ascending in its natural order; None sorts last whatever
/// the direction.
fn sort_value(r: &Row, col: Col) -> Option<f64> {
    match col {
        Col::Name => None,
        Col::State => Some(f64::from(state_rank(&r.state))),
        Col::Pid => r.pid.map(f64::from),
        Col::Uptime => r.uptime_ms.map(|v| v as f64),
        Col::Restarts => Some(f64::from(r.restarts)),
        Col::Cpu => r.cpu,
        Col::Rss => r.rss.map(|v| v as f64),
        Col::Ready => Some(if r.ready { 1.0 } else { 0.0 }),
        Col::Health => health_rank(&r.health).map(f64::from),
        Col::Req => r.req,
    }
}

/// How `a` and `b` compare under `sort`.
fn order(a: &Row, b: &Row, sort: Sort) -> Ordering {
    let desc = sort.col.descending() != sort.reverse;
    let dir = |o: Ordering| if desc { o.reverse() } else { o };
    if sort.col == Col::Name {
        return dir(a.name.cmp(&b.name));
    }
    match (sort_value(a, sort.col), sort_value(b, sort.col)) {
        (Some(x), Some(y)) => dir(x.partial_cmp(&y).unwrap_or(Ordering::Equal)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sort in place; ties (and rows without a value) keep the daemon's order, which is
/// the configuration's. An insertion sort: stable, quick for the few hundred rows a
/// screen holds, and a fraction of the code std's stable sort instantiates per type.
pub fn sort_rows(rows: &mut [Row], sort: Sort) {
    for i in 1..rows.len() {
        let mut j = i;
        while j > 0 && order(&rows[j], &rows[j - 1], sort) == Ordering::Less {
            rows.swap(j, j - 1);
            j -= 1;
        }
    }
}

// --- text ----------------------------------------------------------------------------------

// Uptimes and sizes are written as `tend ls` writes them.
use super::commands::{bytes, duration};

fn dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// A row's cells, in [`COLS`] order.
fn cells(r: &Row) -> [String; 10] {
    [
        r.name.clone(),
        if r.paused { format!("{} (paused)", r.state) } else { r.state.clone() },
        dash(r.pid, |p| p.to_string()),
        dash(r.uptime_ms, duration),
        r.restarts.to_string(),
        dash(r.cpu, |c| format!("{c:.1}")),
        dash(r.rss, bytes),
        if r.ready { "yes" } else { "no" }.into(),
        if r.health.is_empty() { "-".into() } else { r.health.clone() },
        dash(r.req, |q| format!("{q:.1}")),
    ]
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `w` characters, the cut marked with `~`.
fn cut(s: &str, w: usize) -> String {
    if width_of(s) <= w {
        return s.to_string();
    }
    match w {
        0 => String::new(),
        _ => s.chars().take(w - 1).chain(std::iter::once('~')).collect(),
    }
}

/// Which columns fit in `width`, and how wide the name column may be: names are cut
/// to [`NAME_SOFT_MIN`] first, then columns go in [`DROP_ORDER`], then names are cut
/// further; what still does not fit is cut at the edge.
fn fit(natural: &[usize; 10], width: usize) -> (Vec<Col>, usize) {
    let total = |vis: &[Col], name_w: usize| -> usize {
        vis.iter().map(|c| if *c == Col::Name { name_w } else { natural[c.index()] }).sum::<usize>()
            + 2 * vis.len().saturating_sub(1)
    };
    let mut vis = COLS.to_vec();
    let full = natural[Col::Name.index()];
    let soft = full.min(NAME_SOFT_MIN);
    let mut name_w = full;
    let over = total(&vis, name_w).saturating_sub(width);
    name_w = name_w.saturating_sub(over).max(soft);
    for c in DROP_ORDER {
        if total(&vis, name_w) <= width {
            break;
        }
        vis.retain(|v| *v != c);
    }
    // Room freed by dropping goes back to the names.
    name_w = (name_w + width.saturating_sub(total(&vis, name_w))).min(full);
    let over = total(&vis, name_w).saturating_sub(width);
    name_w = name_w.saturating_sub(over).max(full.min(NAME_HARD_MIN));
    (vis, name_w)
}

/// What a screen or a table shows.
#[derive(Debug, PartialEq)]
pub struct Screen {
    pub lines: Vec<String>,
    /// The line with the column headers.
    pub header: usize,
    /// Where the sorted column's header is on that line (character offsets).
    pub sorted: Option<(usize, usize)>,
}

/// The table of `rows` (already sorted), fitted to `width` columns when given.
pub fn table(rows: &[Row], sort: Sort, width: Option<usize>) -> Screen {
    let head: [String; 10] = COLS.map(|c| c.header().to_string());
    let body: Vec<[String; 10]> = rows.iter().map(cells).collect();
    let mut natural = [0usize; 10];
    for r in std::iter::once(&head).chain(&body) {
        for (w, cell) in natural.iter_mut().zip(r) {
            *w = (*w).max(width_of(cell));
        }
    }
    let (vis, name_w) = match width {
        Some(w) => fit(&natural, w),
        None => (COLS.to_vec(), natural[Col::Name.index()]),
    };
    let mut sorted = None;
    let mut line_of = |r: &[String; 10], is_head: bool| -> String {
        let mut line = String::new();
        for (k, c) in vis.iter().enumerate() {
            let w = if *c == Col::Name { name_w } else { natural[c.index()] };
            let text = cut(&r[c.index()], w);
            let pad = " ".repeat(w - width_of(&text));
            if k > 0 {
                line.push_str("  ");
            }
            let start = width_of(&line);
            if c.numeric() {
                line.push_str(&pad);
                line.push_str(&text);
            } else {
                line.push_str(&text);
                line.push_str(&pad);
            }
            if is_head && *c == sort.col {
                sorted = Some((start, start + w));
            }
        }
        let line = line.trim_end().to_string();
        match width {
            Some(w) => cut(&line, w),
            None => line,
        }
    };
    let mut lines = vec![line_of(&head, true)];
    lines.extend(body.iter().map(|r| line_of(r, false)));
    if rows.is_empty() {
        lines.push("(no services)".into());
    }
    Screen { lines, header: 0, sorted }
}

/// `3 running, 1 failed`: how many services are in each state.
fn summary(rows: &[Row]) -> String {
    let order = ["running", "starting", "waiting", "backoff", "stopping", "failed", "exited", "stopped"];
    let mut parts = Vec::new();
    for st in order {
        let n = rows.iter().filter(|r| r.state == st).count();
        if n > 0 {
            parts.push(format!("{n} {st}"));
        }
    }
    let other = rows.iter().filter(|r| !order.contains(&r.state.as_str())).count();
    if other > 0 {
        parts.push(format!("{other} other"));
    }
    parts.join(", ")
}

/// The live screen for a `width` x `height` terminal: a title line, the table, and
/// `... N more` when not every row fits.
pub fn screen(rows: &[Row], sort: Sort, width: usize, height: usize) -> Screen {
    // What changes the order comes first: the end of a long title is cut.
    let title = format!(
        "sort: {} | {} service{}: {} | q quit, < > sort, r reverse",
        sort.describe(),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if rows.is_empty() { "none".to_string() } else { summary(rows) },
    );
    let mut t = table(rows, sort, Some(width));
    // Title, header and the rows that fit; the last line says how many did not.
    let room = height.saturating_sub(1).max(1);
    if t.lines.len() > room {
        let shown = room.saturating_sub(2);
        let hidden = t.lines.len() - 1 - shown;
        t.lines.truncate(1 + shown);
        if room >= 2 {
            t.lines.push(cut(&format!("... {hidden} more"), width));
        }
    }
    t.lines.insert(0, cut(&title, width));
    t.header = 1;
    t
}

// --- keys ------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    SortBy(Col),
    SortNext,
    SortPrev,
    Reverse,
    Refresh,
}

/// The actions in what the terminal sent: q, Ctrl-C and Ctrl-\ quit; < > (also , .
/// and the left and right arrows) move the sort column; r reverses; c m n p s u sort
/// by CPU, memory, name, pid, state, uptime; space refreshes. Anything else
/// (unknown escape sequences included) is ignored.
pub fn keys(input: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        i += 1;
        let a = match b {
            b'q' | b'Q' | 0x03 | 0x1c => Some(Action::Quit),
            b'<' | b',' => Some(Action::SortPrev),
            b'>' | b'.' => Some(Action::SortNext),
            b'r' | b'R' => Some(Action::Reverse),
            b' ' => Some(Action::Refresh),
            b'c' => Some(Action::SortBy(Col::Cpu)),
            b'm' => Some(Action::SortBy(Col::Rss)),
            b'n' => Some(Action::SortBy(Col::Name)),
            b'p' => Some(Action::SortBy(Col::Pid)),
            b's' => Some(Action::SortBy(Col::State)),
            b'u' => Some(Action::SortBy(Col::Uptime)),
            0x1b => {
                // CSI (ESC [ params final) or SS3 (ESC O final): arrows are C and D.
                match input.get(i) {
                    Some(b'[') => {
                        let start = i + 1;
                        let end = input[start..].iter().position(|b| (0x40..=0x7e).contains(b)).map(|p| start + p);
                        match end {
                            Some(e) => {
                                i = e + 1;
                                arrow(input[e])
                            }
                            None => {
                                i = input.len();
                                None
                            }
                        }
                    }
                    Some(b'O') => {
                        let a = input.get(i + 1).and_then(|b| arrow(*b));
                        i = (i + 2).min(input.len());
                        a
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        out.extend(a);
    }
    out
}

fn arrow(b: u8) -> Option<Action> {
    match b {
        b'C' => Some(Action::SortNext),
        b'D' => Some(Action::SortPrev),
        _ => None,
    }
}

/// The sort order after `a` (other actions leave it). Choosing the sorted column
/// again reverses it.
pub fn apply(sort: Sort, a: Action) -> Sort {
    let step = |d: isize| {
        let i = sort.col.index() as isize;
        let n = COLS.len() as isize;
        Sort { col: COLS[(i + d).rem_euclid(n) as usize], reverse: false }
    };
    match a {
        Action::SortBy(c) if c == sort.col => Sort { col: c, reverse: !sort.reverse },
        Action::SortBy(c) => Sort { col: c, reverse: false },
        Action::SortNext => step(1),
        Action::SortPrev => step(-1),
        Action::Reverse => Sort { reverse: !sort.reverse, ..sort },
        Action::Quit | Action::Refresh => sort,
    }
}

// --- the command ---------------------------------------------------------------------------

/// One LIST round trip.
fn fetch(cl: &mut Client) -> Result<Sample, ClientError> {
    let id = cl.next_id();
    cl.send(&Request::List(Plain { id }))?;
    let f = cl.recv_frame()?;
    let at = Instant::now();
    let reply = Reply::decode(f.kind, &f.body)
        .map_err(|e| ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}")))?;
    match reply {
        Reply::List(l) if l.id == id => {
            let requests = request_counts(&f.body, l.services.len());
            Ok(Sample { at, services: l.services, requests })
        }
        Reply::Error(e) => Err(ClientError::from_reply(&e)),
        r => Err(ClientError::new(code::PROTOCOL, format!("unexpected reply {r:?}"))),
    }
}

/// How long to wait between samples, from `--interval`.
fn interval(s: &str) -> Result<Duration, ClientError> {
    let d = crate::config::units::parse_duration(s)
        .map_err(|m| ClientError::new(code::USAGE, format!("--interval: {m}")))?;
    if d < Duration::from_millis(100) {
        // tend samples CPU time at most every 100 ms: a shorter interval measures noise.
        return Err(ClientError::new(code::USAGE, format!("--interval {s}: must be at least 100ms")));
    }
    Ok(d)
}

pub fn main(c: TopCmd) -> Result<(), ClientError> {
    let every = interval(&c.interval)?;
    let sort = Sort { col: c.sort, reverse: c.reverse };
    let mut cl = Client::connect(&socket_path(c.socket.as_deref().map(Path::new), None))?;
    // A daemon that does not answer ends top instead of freezing it.
    cl.set_read_timeout(Some(Duration::from_secs(10)))?;
    if c.once || c.json || !term::stdout_is_tty() {
        return once(&mut cl, sort, every, c.json);
    }
    live(&mut cl, sort, every)
}

/// Write to stdout; a closed stdout (`| head`) ends the command quietly.
fn out(s: &[u8]) -> Result<(), ClientError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s).and_then(|_| o.flush()).map_err(|_| ClientError::new(0, ""))
}

fn once(cl: &mut Client, sort: Sort, every: Duration, json: bool) -> Result<(), ClientError> {
    let first = fetch(cl)?;
    std::thread::sleep(every);
    let second = fetch(cl)?;
    let mut rows = rows(Some(&first), &second);
    sort_rows(&mut rows, sort);
    if json {
        let round = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
        for r in &mut rows {
            r.cpu = round(r.cpu);
            r.req = round(r.req);
        }
        let mut s = serde_json::to_vec(&rows).map_err(|e| ClientError::new(code::FAILED, e.to_string()))?;
        s.push(b'\n');
        return out(&s);
    }
    let mut text = table(&rows, sort, None).lines.join("\n");
    text.push('\n');
    out(text.as_bytes())
}

fn live(cl: &mut Client, mut sort: Sort, every: Duration) -> Result<(), ClientError> {
    let term_err = |e: std::io::Error| ClientError::new(code::FAILED, format!("terminal: {e}"));
    // Signals first: from here on SIGINT, SIGTERM, SIGHUP and SIGQUIT only ask the
    // loop to quit, so the terminal is always restored.
    let signals = term::Signals::block().map_err(term_err)?;
    let mut tty = term::Terminal::enter().map_err(term_err)?;
    let mut prev: Option<Sample> = None;
    let mut rows_now: Vec<Row> = Vec::new();
    let mut next = Instant::now();
    let mut dirty = true;
    loop {
        let now = Instant::now();
        if now >= next {
            let s = fetch(cl)?;
            rows_now = rows(prev.as_ref(), &s);
            prev = Some(s);
            next = now + every;
            dirty = true;
        }
        if dirty {
            sort_rows(&mut rows_now, sort);
            let (w, h) = term::size();
            tty.draw(&screen(&rows_now, sort, w, h), w).map_err(term_err)?;
            dirty = false;
        }
        let wait = next.saturating_duration_since(Instant::now());
        for ev in tty.wait(&signals, wait).map_err(term_err)? {
            match ev {
                term::Event::Quit => return Ok(()),
                term::Event::Resize => dirty = true,
                term::Event::Keys(bytes) => {
                    for a in keys(&bytes) {
                        match a {
                            Action::Quit => return Ok(()),
                            Action::Refresh => next = Instant::now(),
                            a => {
                                sort = apply(sort, a);
                                dirty = true;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, state: &str, pid: Option<u32>, cpu_ms: Option<u64>, uptime_ms: Option<u64>) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            state: state.into(),
            pid,
            uptime_ms,
            started: None,
            restarts: 0,
            last_exit: None,
            rss: pid.map(|_| 2 << 20),
            cpu_ms,
            ready: state == "running",
            healthy: None,
            paused: false,
            autostart: true,
            reason: String::new(),
            command: vec![],
            stdout_bytes: 0,
            stderr_bytes: 0,
            dropped_bytes: 0,
            probe: String::new(),
            status_text: String::new(),
            depends_on: vec![],
            health: String::new(),
            ..Default::default()
        }
    }

    fn row(name: &str, state: &str, cpu: Option<f64>, rss: Option<u64>) -> Row {
        Row {
            name: name.into(),
            state: state.into(),
            paused: false,
            pid: Some(100),
            uptime_ms: Some(5000),
            restarts: 0,
            cpu,
            rss,
            ready: true,
            health: String::new(),
            req: None,
        }
    }

    fn names(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn cpu_from_the_delta_of_the_same_process() {
        let a = svc("w", "running", Some(7), Some(1000), Some(60_000));
        let b = svc("w", "running", Some(7), Some(1500), Some(61_000));
        let p = cpu_percent(Some(&a), &b, Duration::from_secs(1)).unwrap();
        assert!((p - 50.0).abs() < 1e-9, "{p}");
        // Two busy threads: more than one CPU.
        let c = svc("w", "running", Some(7), Some(3500), Some(62_000));
        assert!((cpu_percent(Some(&b), &c, Duration::from_secs(1)).unwrap() - 200.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_of_a_process_started_since_the_last_look() {
        let a = svc("w", "running", Some(7), Some(9000), Some(60_000));
        // Restarted: a new pid, 200 ms old, 100 ms of CPU: 50 %, not a negative delta.
        let b = svc("w", "running", Some(8), Some(100), Some(200));
        assert!((cpu_percent(Some(&a), &b, Duration::from_secs(1)).unwrap() - 50.0).abs() < 1e-9);
        // A service that was not there before (a reload) counts the same way.
        assert!((cpu_percent(None, &b, Duration::from_secs(1)).unwrap() - 50.0).abs() < 1e-9);
        // Started 0 ms ago: no figure rather than a division by zero.
        let c = svc("w", "running", Some(9), Some(0), Some(0));
        assert_eq!(cpu_percent(Some(&b), &c, Duration::from_secs(1)), None);
    }

    #[test]
    fn no_cpu_without_a_process() {
        let a = svc("w", "running", Some(7), Some(1000), Some(1000));
        let b = svc("w", "exited", None, None, None);
        assert_eq!(cpu_percent(Some(&a), &b, Duration::from_secs(1)), None);
        assert_eq!(cpu_percent(Some(&a), &a, Duration::ZERO), None);
    }

    #[test]
    fn rates_need_two_readings_that_grow() {
        let s = Duration::from_millis(500);
        assert_eq!(rate(Some(10), Some(60), s), Some(100.0));
        assert_eq!(rate(None, Some(60), s), None);
        assert_eq!(rate(Some(10), None, s), None);
        // A counter that went back (a new daemon, a reset): no rate this time.
        assert_eq!(rate(Some(60), Some(10), s), None);
        assert_eq!(rate(Some(1), Some(2), Duration::ZERO), None);
    }

    #[test]
    fn rows_match_services_by_name_and_the_first_look_has_no_rates() {
        let t0 = Instant::now();
        let first = Sample {
            at: t0,
            services: vec![
                svc("a", "running", Some(1), Some(100), Some(10_000)),
                svc("b", "running", Some(2), Some(0), Some(10_000)),
            ],
            requests: vec![Some(5), None],
        };
        let r = rows(None, &first);
        assert_eq!(r[0].cpu, None);
        assert_eq!(r[0].req, None);
        // The daemon's order changed (a reload): matched by name all the same.
        let second = Sample {
            at: t0 + Duration::from_secs(2),
            services: vec![
                svc("b", "running", Some(2), Some(1000), Some(12_000)),
                svc("a", "running", Some(1), Some(100), Some(12_000)),
            ],
            requests: vec![None, Some(25)],
        };
        let r = rows(Some(&first), &second);
        assert_eq!(names(&r), ["b", "a"]);
        assert_eq!(r[0].cpu, Some(50.0));
        assert_eq!(r[0].req, None);
        assert_eq!(r[1].cpu, Some(0.0));
        assert_eq!(r[1].req, Some(10.0));
    }

    #[test]
    fn request_counters_come_from_the_frame_when_the_daemon_sends_them() {
        let body = rmp_serde::to_vec_named(&serde_json::json!({
            "id": 3,
            "services": [
                { "name": "web", "state": "running", "requests": 42 },
                { "name": "db", "state": "running" },
            ],
        }))
        .unwrap();
        assert_eq!(request_counts(&body, 2), vec![Some(42), None]);
        // A daemon without the field, or a body that does not add up: all dashes.
        let plain = rmp_serde::to_vec_named(&serde_json::json!({ "id": 3, "services": [{ "name": "web" }] })).unwrap();
        assert_eq!(request_counts(&plain, 1), vec![None]);
        assert_eq!(request_counts(&body, 3), vec![None, None, None]);
        let odd =
            rmp_serde::to_vec_named(&serde_json::json!({ "id": 3, "services": [{ "requests": "many" }] })).unwrap();
        assert_eq!(request_counts(&odd, 1), vec![None]);
    }

    #[test]
    fn sorting_puts_missing_values_last_in_either_direction() {
        let mut r = vec![
            row("a", "running", Some(1.0), Some(10)),
            row("b", "exited", None, None),
            row("c", "running", Some(30.0), Some(5)),
            row("d", "running", Some(2.0), Some(20)),
        ];
        sort_rows(&mut r, Sort { col: Col::Cpu, reverse: false });
        assert_eq!(names(&r), ["c", "d", "a", "b"]);
        sort_rows(&mut r, Sort { col: Col::Cpu, reverse: true });
        assert_eq!(names(&r), ["a", "d", "c", "b"]);
        sort_rows(&mut r, Sort { col: Col::Rss, reverse: false });
        assert_eq!(names(&r), ["d", "a", "c", "b"]);
        sort_rows(&mut r, Sort { col: Col::Name, reverse: false });
        assert_eq!(names(&r), ["a", "b", "c", "d"]);
        sort_rows(&mut r, Sort { col: Col::Name, reverse: true });
        assert_eq!(names(&r), ["d", "c", "b", "a"]);
    }

    #[test]
    fn state_sorts_trouble_first_and_ties_keep_the_config_order() {
        let mut r = vec![
            row("z", "running", None, None),
            row("y", "stopped", None, None),
            row("x", "failed", None, None),
            row("w", "running", None, None),
            row("v", "backoff", None, None),
        ];
        sort_rows(&mut r, Sort { col: Col::State, reverse: false });
        assert_eq!(names(&r), ["x", "v", "z", "w", "y"]);
        let mut h =
            vec![row("a", "running", None, None), row("b", "running", None, None), row("c", "running", None, None)];
        h[0].health = "healthy".into();
        h[2].health = "unhealthy".into();
        sort_rows(&mut h, Sort { col: Col::Health, reverse: false });
        assert_eq!(names(&h), ["c", "a", "b"]);
    }

    #[test]
    fn keys_to_actions() {
        use Action::*;
        assert_eq!(keys(b"q"), [Quit]);
        assert_eq!(keys(&[0x03]), [Quit]);
        assert_eq!(
            keys(b"<>r cmnpsu"),
            [
                SortPrev,
                SortNext,
                Reverse,
                Refresh,
                SortBy(Col::Cpu),
                SortBy(Col::Rss),
                SortBy(Col::Name),
                SortBy(Col::Pid),
                SortBy(Col::State),
                SortBy(Col::Uptime)
            ]
        );
        // Arrows in both cursor modes; other sequences and stray bytes are ignored.
        assert_eq!(keys(b"\x1b[C\x1b[D\x1bOC\x1bOD"), [SortNext, SortPrev, SortNext, SortPrev]);
        assert_eq!(keys(b"\x1b[1;5A\x1b[200~x\x1b"), []);
        assert_eq!(keys(b"\x1b[12"), []);
        assert_eq!(keys(b"\x1bO"), []);
        assert_eq!(keys(b"\x1b[Aq"), [Quit]);
    }

    #[test]
    fn sort_actions() {
        let s = Sort { col: Col::Cpu, reverse: false };
        assert_eq!(apply(s, Action::SortBy(Col::Name)), Sort { col: Col::Name, reverse: false });
        assert_eq!(apply(s, Action::SortBy(Col::Cpu)), Sort { col: Col::Cpu, reverse: true });
        assert_eq!(apply(s, Action::Reverse), Sort { col: Col::Cpu, reverse: true });
        assert_eq!(apply(s, Action::SortNext), Sort { col: Col::Rss, reverse: false });
        let first = Sort { col: Col::Name, reverse: true };
        assert_eq!(apply(first, Action::SortPrev), Sort { col: Col::Req, reverse: false });
        assert_eq!(apply(Sort { col: Col::Req, reverse: false }, Action::SortNext).col, Col::Name);
        assert_eq!(apply(s, Action::Refresh), s);
    }

    #[test]
    fn sort_keys_parse() {
        assert_eq!(parse_col("cpu"), Ok(Col::Cpu));
        assert_eq!(parse_col("MEM"), Ok(Col::Rss));
        assert_eq!(parse_col("req"), Ok(Col::Req));
        let e = parse_col("colour").unwrap_err();
        assert!(e.contains("\"colour\"") && e.contains("cpu, rss"), "{e}");
    }

    fn sample_rows() -> Vec<Row> {
        let mut a = row("web", "running", Some(12.5), Some(9 << 20));
        a.health = "healthy".into();
        a.req = Some(3.0);
        let mut b = row("a-worker-with-a-long-name.1", "backoff", None, None);
        b.pid = None;
        b.uptime_ms = None;
        b.restarts = 3;
        b.ready = false;
        vec![a, b]
    }

    #[test]
    fn a_wide_table_shows_every_column() {
        let t = table(&sample_rows(), Sort { col: Col::Cpu, reverse: false }, None);
        assert_eq!(
            t.lines,
            [
                "NAME                         STATE    PID  UPTIME  RESTARTS  CPU%     RSS  READY  HEALTH   REQ/S",
                "web                          running  100      5s         0  12.5  9.0MiB  yes    healthy    3.0",
                "a-worker-with-a-long-name.1  backoff    -       -         3     -       -  no     -            -",
            ]
        );
        let (a, b) = t.sorted.unwrap();
        assert_eq!(&t.lines[0][a..b], "CPU%");
    }

    #[test]
    fn narrow_terminals_cut_names_then_drop_columns() {
        let rows = sample_rows();
        let sort = Sort { col: Col::Name, reverse: false };
        let widths = |w: usize| {
            let t = table(&rows, sort, Some(w));
            for l in &t.lines {
                assert!(l.chars().count() <= w, "{w}: {l:?}");
            }
            t
        };
        // Names cut first, as far as needed but not below 12, every column still there.
        let t = widths(88);
        assert!(t.lines[2].starts_with("a-worker-with-a-lo~  backoff"), "{:?}", t.lines);
        let t = widths(81);
        assert!(t.lines[0].starts_with("NAME          STATE    PID"), "{:?}", t.lines);
        assert!(t.lines[2].starts_with("a-worker-wi~  backoff"), "{:?}", t.lines);
        assert!(t.lines[0].ends_with("REQ/S"));
        // Then PID goes, and the names get back what they can.
        let t = widths(80);
        assert!(!t.lines[0].contains("PID") && t.lines[0].ends_with("REQ/S"), "{:?}", t.lines);
        assert!(t.lines[2].starts_with("a-worker-with-a~  backoff"), "{:?}", t.lines);
        // Then REQ/S.
        let t = widths(75);
        assert!(!t.lines[0].contains("PID") && !t.lines[0].contains("REQ/S"), "{:?}", t.lines);
        assert!(t.lines[0].contains("HEALTH"));
        // Very narrow: NAME and STATE only, names cut further, then the line itself.
        let t = widths(20);
        assert_eq!(t.lines[0], "NAME         STATE");
        assert_eq!(t.lines[2], "a-worker-w~  backoff");
        let t = widths(10);
        assert_eq!(t.lines[1], "web   run~");
        let (a, b) = widths(40).sorted.unwrap();
        assert_eq!((a, b), (0, 17));
    }

    #[test]
    fn the_screen_has_a_title_and_says_what_does_not_fit() {
        let rows: Vec<Row> = (0..10).map(|i| row(&format!("s{i}"), "running", Some(0.0), None)).collect();
        let sort = Sort { col: Col::Cpu, reverse: false };
        let s = screen(&rows, sort, 80, 24);
        assert_eq!(s.lines.len(), 12);
        assert_eq!(s.lines[0], "sort: cpu descending | 10 services: 10 running | q quit, < > sort, r reverse");
        assert_eq!(s.header, 1);
        let s = screen(&rows, sort, 80, 6);
        assert_eq!(s.lines.len(), 6);
        assert_eq!(s.lines[2], s.lines[2].trim_end());
        assert!(s.lines[2].starts_with("s0 "), "{:?}", s.lines);
        assert_eq!(s.lines[5], "... 7 more");
        let s = screen(&[], sort, 80, 24);
        assert!(s.lines[0].contains("| 0 services: none |"), "{:?}", s.lines);
        assert_eq!(s.lines[2], "(no services)");
        // A title wider than the terminal is cut.
        let s = screen(&rows, sort, 30, 24);
        assert!(s.lines.iter().all(|l| l.chars().count() <= 30), "{:?}", s.lines);
    }

    #[test]
    fn formats() {
        assert_eq!(duration(59_999), "59s");
        assert_eq!(duration(3_600_000 + 120_000), "1h2m");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(cut("abcdef", 4), "abc~");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("abc", 0), "");
        let mut p = row("x", "running", None, None);
        p.paused = true;
        assert_eq!(cells(&p)[1], "running (paused)");
        assert_eq!(Sort { col: Col::State, reverse: false }.describe(), "state trouble first");
        assert_eq!(Sort { col: Col::Name, reverse: true }.describe(), "name descending");
    }
}
