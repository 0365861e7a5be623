//! Scheduled jobs (`[job.NAME]` with `every` or `cron`): when a schedule fires next, and
//! what a firing does while an earlier run of the same job still goes on (`overlap`).
//!
//! Pure: the wall clock is always an argument, so the tests drive it with a fake one. The
//! daemon keeps one [`Scheduled`] per job, arms a timer for [`Scheduled::next`] (converted
//! to an `Instant` with [`deadline`]) and, when it expires, calls [`Scheduled::fire`].
//!
//! Cron expressions are parsed and evaluated by the `croner` crate, in UTC. Five fields
//! (`min hour dom month dow`) or six with seconds first; `@hourly`-style nicknames too.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// When a job runs.
#[derive(Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `every = "10m"`: one period after tend starts, then every period (missed periods
    /// are not made up).
    Every(Duration),
    /// `cron = "*/5 * * * *"`: at each matching second, in UTC.
    Cron(Box<Cron>),
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {d:?}"),
            Schedule::Cron(c) => write!(f, "cron {:?}", c.pattern.as_str()),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {d:?}"),
            Schedule::Cron(c) => write!(f, "cron \"{}\"", c.pattern.as_str()),
        }
    }
}

/// What a firing does while a run of the job is still going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    /// Skip this firing (the default).
    Skip,
    /// Start one run as soon as the running one ends; firings while one is already
    /// waiting are folded into it.
    Queue,
    /// Start another run alongside.
    Allow,
}

/// What to do now that a schedule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fire {
    /// Start a run.
    Start,
    /// A run is going on and `overlap = "skip"`: do nothing but say so.
    Skip,
    /// A run is going on and `overlap = "queue"`: start one when it ends.
    Queue,
    /// As `Queue`, but a run was already waiting: this firing is folded into it.
    AlreadyQueued,
}

/// Parse a cron expression: 5 fields, or 6 with seconds first, or a nickname such as
/// `@hourly`. The error says what is wrong, without the key or the position.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
    let cron = parser.parse(text).map_err(|e| format!("invalid cron expression {text:?}: {e}"))?;
    // A pattern that can match no date (`0 0 30 2 *`) parses; catch it here rather than
    // have a job that silently never runs.
    if next_cron(&cron, UNIX_EPOCH).is_none() {
        return Err(format!("cron expression {text:?} never fires"));
    }
    Ok(cron)
}

/// The first matching second strictly after `after` (sub-second parts are dropped), or
/// None if there is none croner can find.
fn next_cron(cron: &Cron, after: SystemTime) -> Option<SystemTime> {
    let secs = match after.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs_f64().ceil() as u64).ok()?,
    };
    let start: DateTime<Utc> = DateTime::from_timestamp(secs, 0)?;
    let next = cron.find_next_occurrence(&start, false).ok()?;
    let next = u64::try_from(next.timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(next))
}

impl Schedule {
    /// The first firing for a schedule armed at `now` (tend's start, or a reload that
    /// added or changed the job).
    pub fn first(&self, now: SystemTime) -> Option<SystemTime> {
        match self {
            Schedule::Every(d) => now.checked_add(*d),
            Schedule::Cron(c) => next_cron(c, now),
        }
    }

    /// The firing after the one due at `prev`, which was handled at `now`: always after
    /// both, so a late timer or a wall clock set back never fires twice for one slot, and
    /// slots missed while the clock jumped forward are skipped, not made up.
    pub fn after(&self, prev: SystemTime, now: SystemTime) -> Option<SystemTime> {
        match self {
            Schedule::Every(d) => {
                let mut next = prev.checked_add(*d)?;
                if next <= now {
                    // Skip whole periods, keeping the phase: prev + k*d, the first after now.
                    let behind = now.duration_since(next).unwrap_or_default();
                    let k = behind.as_nanos() / d.as_nanos().max(1) + 1;
                    let skip = d.checked_mul(u32::try_from(k).ok()?)?;
                    next = next.checked_add(skip)?;
                }
                Some(next)
            }
            Schedule::Cron(c) => next_cron(c, prev.max(now)),
        }
    }
}

/// The loop's deadline for a wall-clock time `at`, given the same moment as both clocks.
/// A time already past is due now.
pub fn deadline(now: Instant, wall_now: SystemTime, at: SystemTime) -> Instant {
    now + at.duration_since(wall_now).unwrap_or_default()
}

/// The scheduling state of one `[job.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// When it fires next; None if the schedule has no further firing.
    pub next: Option<SystemTime>,
    /// A run is waiting for the running one to end (`overlap = "queue"`).
    pub queued: bool,
}

impl Scheduled {
    /// Armed at `now`.
    pub fn new(schedule: &Schedule, now: SystemTime) -> Self {
        Scheduled { next: schedule.first(now), queued: false }
    }

    /// The timer for `next` expired at `now` while `running` runs of the job are going
    /// on: move `next` on and say what to do.
    pub fn fire(&mut self, schedule: &Schedule, overlap: Overlap, running: usize, now: SystemTime) -> Fire {
        let prev = self.next.unwrap_or(now);
        self.next = schedule.after(prev, now);
        if running == 0 {
            return Fire::Start;
        }
        match overlap {
            Overlap::Allow => Fire::Start,
            Overlap::Skip => Fire::Skip,
            Overlap::Queue if self.queued => Fire::AlreadyQueued,
            Overlap::Queue => {
                self.queued = true;
                Fire::Queue
            }
        }
    }

    /// A run of the job ended and `running` are left: true if a queued run starts now.
    pub fn ended(&mut self, running: usize) -> bool {
        if self.queued && running == 0 {
            self.queued = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z, a Thursday.
    const T0: u64 = 1_767_225_600;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn cron(s: &str) -> Schedule {
        Schedule::Cron(Box::new(parse_cron(s).unwrap()))
    }

    #[test]
    fn every_starts_one_period_after_arming() {
        let s = Schedule::Every(Duration::from_secs(600));
        assert_eq!(s.first(at(T0 + 7)), Some(at(T0 + 607)));
    }

    #[test]
    fn every_keeps_its_phase_and_skips_missed_periods() {
        let s = Schedule::Every(Duration::from_secs(10));
        // On time, or a little late: the next slot is prev + period.
        assert_eq!(s.after(at(T0), at(T0)), Some(at(T0 + 10)));
        assert_eq!(s.after(at(T0), at(T0 + 3)), Some(at(T0 + 10)));
        // Exactly one period late: that slot is now, so the one after.
        assert_eq!(s.after(at(T0), at(T0 + 10)), Some(at(T0 + 20)));
        // 35 s late (the machine was suspended): next is T0+40, not T0+10, 20, 30.
        assert_eq!(s.after(at(T0), at(T0 + 35)), Some(at(T0 + 40)));
    }

    #[test]
    fn every_with_subsecond_period() {
        let s = Schedule::Every(Duration::from_millis(250));
        let t = at(T0);
        assert_eq!(s.after(t, t + Duration::from_millis(600)), Some(t + Duration::from_millis(750)));
    }

    #[test]
    fn cron_five_fields_in_utc() {
        let s = cron("*/5 * * * *");
        assert_eq!(s.first(at(T0)), Some(at(T0 + 300)));
        assert_eq!(s.first(at(T0 + 1)), Some(at(T0 + 300)));
        assert_eq!(s.first(at(T0 + 299)), Some(at(T0 + 300)));
        // Strictly after: armed exactly on a slot, the next one.
        assert_eq!(s.first(at(T0 + 300)), Some(at(T0 + 600)));
        // 9:30 on weekdays: Thursday 2026-01-01 09:30 UTC.
        let s = cron("30 9 * * 1-5");
        assert_eq!(s.first(at(T0)), Some(at(T0 + 9 * 3600 + 30 * 60)));
        // Saturday 2026-01-03 10:00 -> Monday 2026-01-05 09:30.
        assert_eq!(s.first(at(T0 + 2 * 86400 + 36000)), Some(at(T0 + 4 * 86400 + 9 * 3600 + 1800)));
    }

    #[test]
    fn cron_six_fields_has_seconds() {
        let s = cron("* * * * * *");
        assert_eq!(s.first(at(T0)), Some(at(T0 + 1)));
        let s = cron("*/15 * * * * *");
        assert_eq!(s.first(at(T0 + 16)), Some(at(T0 + 30)));
        // Sub-second parts of now are dropped, and the result is strictly later.
        assert_eq!(s.first(at(T0 + 15) + Duration::from_millis(400)), Some(at(T0 + 30)));
    }

    #[test]
    fn cron_nicknames_and_names() {
        assert_eq!(cron("@hourly").first(at(T0 + 1)), Some(at(T0 + 3600)));
        assert_eq!(cron("0 0 1 jan *").first(at(T0 + 1)), Some(at(T0 + 365 * 86400)));
    }

    #[test]
    fn cron_day_fields_as_crontab() {
        // Sunday is 0 and 7.
        let sun = T0 + 3 * 86400;
        assert_eq!(cron("0 0 * * 0").first(at(T0)), Some(at(sun)));
        assert_eq!(cron("0 0 * * 7").first(at(T0)), Some(at(sun)));
        // Both day fields restricted: either matches (the 2nd, a Friday, comes first).
        assert_eq!(cron("0 0 2 * 0").first(at(T0)), Some(at(T0 + 86400)));
    }

    #[test]
    fn cron_after_never_fires_twice_for_one_slot() {
        let s = cron("0 * * * *");
        // The timer came early by the wall clock (it was set back): still the next hour.
        assert_eq!(s.after(at(T0 + 3600), at(T0 + 3500)), Some(at(T0 + 7200)));
        // Late by three hours (clock set forward): the next slot after now, no catch-up.
        assert_eq!(s.after(at(T0 + 3600), at(T0 + 4 * 3600 + 5)), Some(at(T0 + 5 * 3600)));
    }

    #[test]
    fn bad_cron_expressions() {
        for bad in ["", "* * * *", "61 * * * *", "* * * * * * * *", "*/0 * * * *", "hello", "* * 32 * *"] {
            let e = parse_cron(bad).unwrap_err();
            assert!(e.contains("invalid cron expression"), "{bad:?}: {e}");
        }
        let e = parse_cron("0 0 30 2 *").unwrap_err();
        assert!(e.contains("never fires"), "{e}");
    }

    #[test]
    fn deadline_maps_wall_to_monotonic() {
        let now = Instant::now();
        assert_eq!(deadline(now, at(T0), at(T0 + 5)), now + Duration::from_secs(5));
        assert_eq!(deadline(now, at(T0), at(T0 - 5)), now);
    }

    #[test]
    fn overlap_skip() {
        let s = Schedule::Every(Duration::from_secs(1));
        let mut st = Scheduled::new(&s, at(T0));
        assert_eq!(st.next, Some(at(T0 + 1)));
        assert_eq!(st.fire(&s, Overlap::Skip, 0, at(T0 + 1)), Fire::Start);
        assert_eq!(st.next, Some(at(T0 + 2)));
        assert_eq!(st.fire(&s, Overlap::Skip, 1, at(T0 + 2)), Fire::Skip);
        assert!(!st.queued);
        assert!(!st.ended(0));
    }

    #[test]
    fn overlap_queue_folds_firings_into_one_run() {
        let s = Schedule::Every(Duration::from_secs(1));
        let mut st = Scheduled::new(&s, at(T0));
        assert_eq!(st.fire(&s, Overlap::Queue, 0, at(T0 + 1)), Fire::Start);
        assert_eq!(st.fire(&s, Overlap::Queue, 1, at(T0 + 2)), Fire::Queue);
        assert_eq!(st.fire(&s, Overlap::Queue, 1, at(T0 + 3)), Fire::AlreadyQueued);
        assert!(st.ended(0));
        assert!(!st.ended(0));
    }

    #[test]
    fn overlap_queue_waits_for_every_run_to_end() {
        let mut st = Scheduled { next: Some(at(T0)), queued: true };
        assert!(!st.ended(1));
        assert!(st.queued);
        assert!(st.ended(0));
    }

    #[test]
    fn overlap_allow_starts_alongside() {
        let s = Schedule::Every(Duration::from_secs(1));
        let mut st = Scheduled::new(&s, at(T0));
        assert_eq!(st.fire(&s, Overlap::Allow, 3, at(T0 + 1)), Fire::Start);
        assert!(!st.queued);
    }
}
