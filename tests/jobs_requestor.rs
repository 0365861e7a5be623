//! Who asked for a job is what the socket's peer credentials say: a client run as
//! uid 65534 (let in by allow_uids) is recorded as 65534, and its job runs as 65534;
//! it cannot ask for another user.

mod support;

use support::{can_setpriv, ctl_ok, job_json, jobs_config, setpriv_ctl, start_serving, wait_job, TestDir};

const IDS: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

#[test]
fn the_requestor_is_the_real_uid_of_the_client() {
    const TEST: &str = "the_requestor_is_the_real_uid_of_the_client";
    let dir = TestDir::new("jobs-requestor");
    let cfg = jobs_config(&dir, "[control]\nmode = \"0666\"\nallow_uids = [65534]\n");
    let _tend = start_serving(&dir, &cfg);
    if !can_setpriv(TEST, &dir, IDS) {
        return;
    }
    let o = setpriv_ctl(&dir, IDS, &["spawn", "--", "id", "-u"]);
    assert_eq!(o.code, Some(0), "{}", o.show());
    let id = o.out.trim().to_string();
    assert_eq!(wait_job(&dir, &id), 0);
    let j = job_json(&dir, &id);
    assert_eq!(j["requestor"]["uid"], 65534, "{j}");
    assert_eq!(j["requestor"]["gid"], 65534, "{j}");
    // setpriv execs tend: the client's pid is the one this test started.
    assert_eq!(j["requestor"]["pid"], o.pid, "{j}");
    assert_eq!(j["requestor"]["name"], "tend", "{j}");
    // The job ran as that user, not as tend's root.
    assert_eq!(ctl_ok(&dir, &["logs", &id]).out, "65534\n");
    // It may not choose another user.
    let o = setpriv_ctl(&dir, IDS, &["spawn", "--user", "root", "--", "id", "-u"]);
    assert_eq!(o.code, Some(6), "{}", o.show());
    assert!(o.err.contains("uid 65534 may run jobs only as itself"), "{}", o.show());
    // Root may choose the user.
    let id = ctl_ok(&dir, &["spawn", "--user", "nobody", "--", "id", "-u"]).out.trim().to_string();
    assert_eq!(wait_job(&dir, &id), 0);
    assert_eq!(ctl_ok(&dir, &["logs", &id]).out, "65534\n");
    // Retried by root, the new job records root as its requestor.
    let again = ctl_ok(&dir, &["retry", &id]).out.trim().to_string();
    assert_eq!(wait_job(&dir, &again), 0);
    assert_eq!(job_json(&dir, &again)["requestor"]["uid"], 0);
}
