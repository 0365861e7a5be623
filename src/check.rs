//! Whether services are ready and healthy, from their status: one pure verdict shared
//! by `tend check` / `tend wait-ready` (the client) and the ingress's `/_tend/health`
//! and `/_tend/ready` (the daemon).

use crate::proto::msg::ServiceInfo;

/// Where a service stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotYet(String),
    Failed(String),
}

/// One service's verdict; `need_healthy` also requires a passing health check (when
/// one is configured).
pub fn readiness(s: &ServiceInfo, need_healthy: bool) -> Readiness {
    match s.state.as_str() {
        "failed" => return Readiness::Failed(format!("{}: failed: {}", s.name, s.reason)),
        "exited" => return Readiness::Ready,
        _ => {}
    }
    if !s.ready {
        return Readiness::NotYet(format!("{}: {}: {}", s.name, s.state, s.reason));
    }
    if need_healthy && !(s.health.is_empty() || s.health == "healthy") {
        return Readiness::NotYet(format!("{}: {} ({})", s.name, s.health, s.probe));
    }
    Readiness::Ready
}

/// Services expected to run: autostarted ones, and any that is not stopped.
pub fn expected(s: &ServiceInfo) -> bool {
    s.autostart || s.state != "stopped"
}

/// What keeps the expected services of `all` from being ready (and healthy, with
/// `need_healthy`): one line per service; empty when all are.
pub fn problems(all: &[ServiceInfo], need_healthy: bool) -> Vec<String> {
    all.iter()
        .filter(|s| expected(s))
        .filter_map(|s| match readiness(s, need_healthy) {
            Readiness::Ready => None,
            Readiness::NotYet(w) | Readiness::Failed(w) => Some(w),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, state: &str, ready: bool, health: &str) -> ServiceInfo {
        let mut s: ServiceInfo = crate::proto::msg::decode_body(
            &rmp_serde::to_vec_named(&serde_json::json!({
                "name": name, "state": state
            }))
            .unwrap(),
        )
        .unwrap();
        s.ready = ready;
        s.health = health.into();
        s.autostart = true;
        s
    }

    #[test]
    fn verdicts() {
        let all = vec![
            svc("a", "running", true, ""),
            svc("b", "running", true, "unhealthy"),
            svc("c", "starting", false, ""),
            svc("d", "exited", false, ""),
            svc("e", "failed", false, ""),
        ];
        assert_eq!(problems(&all, false).len(), 2);
        assert_eq!(problems(&all, true).len(), 3);
        let mut off = svc("f", "stopped", false, "");
        off.autostart = false;
        assert!(problems(&[off], true).is_empty());
    }
}
