//! The job messages on the wire, as another client would use them: ATTACH to a job
//! spawned elsewhere, STDIN and JOB_SIGNAL with their errors, WAIT answered without
//! holding the connection up, JOB_LIST as JOB frames then END, and a bad descriptor.

mod support;

use support::{jobs_config, start_serving, Raw, TestDir};
use tend::proto::msg::{
    AttachReq, ErrorCode, JobListReq, JobRef, JobSignalReq, JobSpec, Plain, Reply, SignalSpec, SpawnReq, StdinReq,
    Stream,
};
use tend::proto::Request;

fn spec(cmd: &[&str]) -> JobSpec {
    JobSpec { command: cmd.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

/// SPAWN on `r`: the new job's number.
#[track_caller]
fn spawn(r: &mut Raw, id: u64, spec: JobSpec) -> u64 {
    r.req(&Request::Spawn(SpawnReq { id, spec, attach: false }));
    match r.reply() {
        Reply::Job(j) if j.id == id => j.job.job,
        other => panic!("expected JOB {id}, got {other:?}"),
    }
}

#[track_caller]
fn error(r: &mut Raw, id: u64) -> tend::proto::msg::ErrorMsg {
    match r.reply() {
        Reply::Error(e) if e.id == id => e,
        other => panic!("expected ERROR {id}, got {other:?}"),
    }
}

#[test]
fn attach_streams_a_jobs_output_then_its_end() {
    let dir = TestDir::new("jobs-proto-attach");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut a = Raw::connect(&dir.join("tend.sock"));
    a.hello();
    let n = spawn(&mut a, 1, JobSpec { stdin: true, ..spec(&["sh", "-c", "echo early; read x; echo \"got $x\" >&2"]) });
    // Another client attaches: the output from the start, then the end.
    let mut b = Raw::connect(&dir.join("tend.sock"));
    b.hello();
    b.req(&Request::Attach(AttachReq { id: 7, job: n }));
    match b.reply() {
        Reply::LogData(d) => assert_eq!((d.id, d.stream, d.data.as_slice()), (7, Stream::Stdout, &b"early\n"[..])),
        other => panic!("{other:?}"),
    }
    // A WAIT on the first connection does not hold it up: a LIST is answered first.
    a.req(&Request::Wait(JobRef { id: 2, job: n }));
    a.req(&Request::List(Plain { id: 3 }));
    assert!(matches!(a.reply(), Reply::List(l) if l.id == 3));
    // Feed its stdin from the first connection: no reply when it works.
    a.req(&Request::Stdin(StdinReq { id: 4, job: n, data: b"hello\n".to_vec(), eof: true }));
    match b.reply() {
        Reply::LogData(d) => assert_eq!((d.id, d.stream, d.data.as_slice()), (7, Stream::Stderr, &b"got hello\n"[..])),
        other => panic!("{other:?}"),
    }
    match b.reply() {
        Reply::Job(j) => assert_eq!((j.id, j.job.job, j.job.status), (7, n, Some(0))),
        other => panic!("{other:?}"),
    }
    match a.reply() {
        Reply::Job(j) => assert_eq!((j.id, j.job.status), (2, Some(0))),
        other => panic!("{other:?}"),
    }
    // Its stdin is closed now, and an unknown job is unknown.
    a.req(&Request::Stdin(StdinReq { id: 5, job: n, data: b"more".to_vec(), eof: false }));
    let e = error(&mut a, 5);
    assert!(e.code == ErrorCode::Failed && e.message.contains("is closed"), "{e:?}");
    a.req(&Request::Attach(AttachReq { id: 6, job: 999 }));
    assert_eq!(error(&mut a, 6).code, ErrorCode::UnknownJob);
}

#[test]
fn signals_stdin_errors_lists_and_bad_descriptors() {
    let dir = TestDir::new("jobs-proto-misc");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut r = Raw::connect(&dir.join("tend.sock"));
    r.hello();
    let n = spawn(&mut r, 1, JobSpec { name: "sleepy".into(), ..spec(&["sleep", "100"]) });
    // No stdin pipe without `stdin`.
    r.req(&Request::Stdin(StdinReq { id: 2, job: n, data: b"x".to_vec(), eof: false }));
    let e = error(&mut r, 2);
    assert!(e.code == ErrorCode::Failed && e.message.contains("has no stdin pipe"), "{e:?}");
    // A bad signal, then a good one.
    r.req(&Request::JobSignal(JobSignalReq { id: 3, job: n, signal: SignalSpec::Name("NOPE".into()), group: false }));
    assert_eq!(error(&mut r, 3).code, ErrorCode::BadSignal);
    r.req(&Request::JobSignal(JobSignalReq { id: 4, job: n, signal: SignalSpec::Number(15), group: true }));
    assert!(matches!(r.reply(), Reply::Done(d) if d.id == 4 && d.message.contains("sent SIGTERM to process group")));
    r.req(&Request::Wait(JobRef { id: 5, job: n }));
    match r.reply() {
        Reply::Job(j) => assert_eq!((j.id, j.job.status, j.job.state.as_str()), (5, Some(143), "failed")),
        other => panic!("{other:?}"),
    }
    // Signalling an ended job fails; so does RETRY of an unknown one.
    r.req(&Request::JobSignal(JobSignalReq { id: 6, job: n, signal: SignalSpec::Number(15), group: false }));
    assert_eq!(error(&mut r, 6).code, ErrorCode::Failed);
    r.req(&Request::Retry(JobRef { id: 7, job: 42 }));
    assert_eq!(error(&mut r, 7).code, ErrorCode::UnknownJob);
    // JOB_LIST: one JOB per job, then END.
    let m = spawn(&mut r, 8, spec(&["true"]));
    r.req(&Request::JobList(JobListReq { id: 9, ..Default::default() }));
    let mut listed = Vec::new();
    loop {
        match r.reply() {
            Reply::Job(j) if j.id == 9 => listed.push(j.job.job),
            Reply::End(e) if e.id == 9 => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(listed, [n, m]);
    r.req(&Request::JobList(JobListReq { id: 10, name: Some("sleep?".into()), ..Default::default() }));
    assert!(matches!(r.reply(), Reply::Job(j) if j.id == 10 && j.job.job == n));
    assert!(matches!(r.reply(), Reply::End(e) if e.id == 10));
    r.req(&Request::JobList(JobListReq { id: 11, state: Some("done".into()), ..Default::default() }));
    assert_eq!(error(&mut r, 11).code, ErrorCode::BadRequest);
    // Bad descriptors: precise errors, and the connection stays open.
    for (id, s) in [
        (12, spec(&[])),
        (13, JobSpec { cwd: Some("relative/dir".into()), ..spec(&["true"]) }),
        (14, JobSpec { env: vec![("A=B".into(), "1".into())], ..spec(&["true"]) }),
        (15, JobSpec { timeout_ms: Some(0), ..spec(&["true"]) }),
        (16, JobSpec { user: Some("no-such-user-xyz".into()), ..spec(&["true"]) }),
    ] {
        r.req(&Request::Spawn(SpawnReq { id, spec: s, attach: false }));
        let e = error(&mut r, id);
        assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
    }
    r.req(&Request::List(Plain { id: 17 }));
    assert!(matches!(r.reply(), Reply::List(l) if l.id == 17));
}
