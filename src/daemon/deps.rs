//! Dependency conditions (`depends_on`), decided from plain data: what each instance
//! of a dependency looks like now. The loop gathers the views and acts on the verdict;
//! the shutdown order (dependents first) is decided here too.

use crate::config::{Condition, Dependency, ServiceConfig};
use crate::daemon::service::State;

/// What a dependent needs to know of one instance of a dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub state: State,
    /// Its process exists (spawned in the current run).
    pub spawned: bool,
    /// With a health check: the last verdict (None before the first one).
    pub healthy: Option<bool>,
    pub has_health: bool,
}

/// Whether a dependent may start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    /// Not yet: what is missing, as `db (ready), cache (started)`.
    Wait(String),
    /// A dependency failed: which, as `db (failed: exited with status 1)`.
    Failed(String),
}

/// True if the instance meets the condition now.
pub fn meets(c: Condition, v: &View) -> bool {
    match c {
        Condition::Started => {
            matches!(v.state, State::Running | State::Exited) || (v.state == State::Starting && v.spawned)
        }
        Condition::Ready => matches!(v.state, State::Running | State::Exited),
        Condition::Healthy => {
            v.state == State::Exited || (v.state == State::Running && (!v.has_health || v.healthy == Some(true)))
        }
        Condition::Completed => v.state == State::Exited,
    }
}

/// The verdict for `deps`, given the instances of each dependency: `views(name)` returns
/// (instance name, view, reason) for every instance of the `[service.NAME]` table.
pub fn evaluate<'a>(deps: &[Dependency], views: impl Fn(&str) -> Vec<(&'a str, View, &'a str)>) -> Verdict {
    let mut waiting = Vec::new();
    for d in deps {
        for (name, v, reason) in views(&d.service) {
            if v.state == State::Failed {
                return Verdict::Failed(format!("{name} ({}: {reason})", d.condition.as_str()));
            }
            if !meets(d.condition, &v) {
                waiting.push(format!("{name} ({})", d.condition.as_str()));
            }
        }
    }
    if waiting.is_empty() {
        Verdict::Met
    } else {
        Verdict::Wait(waiting.join(", "))
    }
}

/// True if service `of` (by table name) is depended on by `cfg`.
pub fn depends(cfg: &ServiceConfig, of: &str) -> bool {
    cfg.depends_on.iter().any(|d| d.service == of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: State) -> View {
        View { state, spawned: matches!(state, State::Running | State::Starting), healthy: None, has_health: false }
    }

    fn dep(service: &str, condition: Condition) -> Dependency {
        Dependency { service: service.into(), condition }
    }

    #[test]
    fn conditions() {
        use Condition::*;
        let starting = view(State::Starting);
        let unspawned = View { spawned: false, ..starting };
        assert!(meets(Started, &starting));
        assert!(!meets(Started, &unspawned));
        assert!(!meets(Ready, &starting));
        assert!(meets(Ready, &view(State::Running)));
        assert!(meets(Healthy, &view(State::Running)), "no health check: ready is enough");
        let checked = View { has_health: true, ..view(State::Running) };
        assert!(!meets(Healthy, &checked));
        assert!(meets(Healthy, &View { healthy: Some(true), ..checked }));
        assert!(!meets(Healthy, &View { healthy: Some(false), ..checked }));
        assert!(!meets(Completed, &view(State::Running)));
        assert!(meets(Completed, &view(State::Exited)));
        for s in [State::Stopped, State::Waiting, State::Backoff, State::Stopping] {
            for c in [Started, Ready, Healthy, Completed] {
                assert!(!meets(c, &view(s)), "{c:?} met by {s:?}");
            }
        }
    }

    #[test]
    fn verdicts_name_what_is_missing_or_failed() {
        let deps = [dep("db", Condition::Ready), dep("web", Condition::Started)];
        let all = |db: State, web: [State; 2]| {
            move |name: &str| -> Vec<(&'static str, View, &'static str)> {
                match name {
                    "db" => vec![("db", view(db), "exited with status 1")],
                    _ => vec![("web.0", view(web[0]), ""), ("web.1", view(web[1]), "")],
                }
            }
        };
        assert_eq!(evaluate(&deps, all(State::Running, [State::Running, State::Starting])), Verdict::Met);
        assert_eq!(
            evaluate(&deps, all(State::Starting, [State::Running, State::Backoff])),
            Verdict::Wait("db (ready), web.1 (started)".into())
        );
        assert_eq!(
            evaluate(&deps, all(State::Failed, [State::Running, State::Running])),
            Verdict::Failed("db (ready: exited with status 1)".into())
        );
        assert_eq!(evaluate(&[], all(State::Failed, [State::Failed; 2])), Verdict::Met);
    }
}
