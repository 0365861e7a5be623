//! `[job.NAME]` tables: scheduled jobs. The descriptor keys (`command`, `env`, `cwd`,
//! `user`, `timeout`, `retries`) mean what they mean for a service or for
//! `tend spawn`; `every` or `cron` says when a run starts and `overlap` what happens when
//! the previous run is still going on.

use std::time::Duration;

use super::{
    check_name, child, choice, command, duration, entries, env_table, integer_in, path_value, run_as, string, table,
    unknown_key, Cx, Key, Result, Value,
};
use crate::config::JobConfig;
use crate::daemon::jobs::MAX_RETRIES;
use crate::daemon::schedule::{parse_cron, Overlap, Schedule};

const JOB_KEYS: &[&str] = &["command", "env", "cwd", "user", "timeout", "retries", "every", "cron", "overlap"];

const OVERLAPS: &[(&str, Overlap)] = &[("skip", Overlap::Skip), ("queue", Overlap::Queue), ("allow", Overlap::Allow)];

/// The `[job]` table: every `[job.NAME]` in file order.
pub(super) fn jobs(cx: &Cx, v: &Value) -> Result<Vec<JobConfig>> {
    let mut out = Vec::new();
    for (k, v) in entries(table(cx, "job", v)?) {
        let path = child("job", k.get_ref().as_ref());
        check_name(cx, &path, k, "job", "")?;
        out.push(job(cx, &path, k, v)?);
    }
    Ok(out)
}

fn job(cx: &Cx, path: &str, name_key: &Key, v: &Value) -> Result<JobConfig> {
    let t = table(cx, path, v)?;
    let mut argv = None;
    let mut env = Default::default();
    let mut cwd = None;
    let mut user = None;
    let mut timeout = None;
    let mut retries = 0;
    // (key, schedule) of `every` or `cron`, whichever came first.
    let mut schedule: Option<(String, Schedule)> = None;
    let mut overlap = Overlap::Skip;
    for (k, v) in entries(t) {
        let name = k.get_ref().as_ref();
        let key = &child(path, name);
        match name {
            "command" => argv = Some(command(cx, key, v)?),
            "env" => env = env_table(cx, key, v)?,
            "cwd" => {
                let d = path_value(cx, key, v)?;
                if !d.is_absolute() {
                    return Err(cx.error(v.span(), key, "a job's cwd must be an absolute path"));
                }
                cwd = Some(d);
            }
            "user" => user = Some((key.clone(), v)),
            "timeout" => {
                let d = duration(cx, key, v)?;
                if d.is_zero() {
                    return Err(cx.error(v.span(), key, "timeout must be greater than 0"));
                }
                timeout = Some(d);
            }
            "retries" => retries = integer_in(cx, key, v, 0, MAX_RETRIES.into())? as u32,
            "every" | "cron" => {
                if let Some((first, _)) = &schedule {
                    let msg = format!("{first} is already set: give either every or cron, not both");
                    return Err(cx.error(k.span(), key, msg));
                }
                let s = if name == "every" { every(cx, key, v)? } else { cron(cx, key, v)? };
                schedule = Some((key.clone(), s));
            }
            "overlap" => overlap = choice(cx, key, v, OVERLAPS)?,
            _ => return Err(unknown_key(cx, path, k, JOB_KEYS)),
        }
    }
    let Some(command) = argv else {
        return Err(cx.error(name_key.span(), path, "missing required key \"command\""));
    };
    let Some((_, schedule)) = schedule else {
        let msg = "missing schedule: set every (such as \"10m\") or cron (such as \"*/5 * * * *\")";
        return Err(cx.error(name_key.span(), path, msg));
    };
    Ok(JobConfig {
        name: name_key.get_ref().to_string(),
        command,
        env: env.into_iter().collect(),
        cwd,
        run_as: run_as(cx, user, None)?,
        timeout,
        retries,
        schedule,
        overlap,
    })
}

/// `every`: a duration of at least a millisecond.
fn every(cx: &Cx, key: &str, v: &Value) -> Result<Schedule> {
    let d = duration(cx, key, v)?;
    if d < Duration::from_millis(1) {
        return Err(cx.error(v.span(), key, "every must be at least 1ms"));
    }
    Ok(Schedule::Every(d))
}

/// `cron`: a cron expression, parsed by croner.
fn cron(cx: &Cx, key: &str, v: &Value) -> Result<Schedule> {
    let text = string(cx, key, v)?;
    let c = parse_cron(text).map_err(|m| cx.error(v.span(), key, m))?;
    Ok(Schedule::Cron(Box::new(c)))
}
