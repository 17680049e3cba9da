//! `cutover serve`: a batch created over the HTTP API is migrated by the service's
//! workers, survives a SIGKILL of the service in the middle of a mailbox, and ends byte
//! exact with nothing twice; the API wants its token, answers errors in JSON with a 4xx,
//! never shows a secret, and serves its generated OpenAPI document.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Cutover, EventStream, TestCa, assert_same_mailbox, field, fill_realistic_mailbox, pair,
    request, request_tls, verify_independently,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

fn new_batch(auto_start: bool) -> Value {
    json!({
        "Name": "CutoverBatch",
        "SourceEndpoint": "CutoverEndpoint",
        "Users": USERS.iter().map(|u| json!({"EmailAddress": u})).collect::<Vec<_>>(),
        "AutoStart": auto_start,
    })
}

#[test]
fn a_batch_created_over_the_api_survives_a_sigkill_of_serve_and_ends_byte_exact() {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 71, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 72, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.accept_domains(&USERS);

    // The first service freezes at its 4th recorded chunk (a debug-build test hook), in
    // the middle of a mailbox, and is killed there with SIGKILL.
    let marker = cutover.dir.path().join("paused");
    let marker_text = marker.display().to_string();
    let first = cutover.serve(
        &[],
        &[
            ("CUTOVER_TEST_PAUSE_AT", "after-record:4"),
            ("CUTOVER_TEST_PAUSE_FILE", &marker_text),
        ],
    );
    let created = first.call("POST", "/api/v1/batches", Some(&new_batch(true)));
    assert_eq!(created.status, 201, "{created:?}");
    let batch = created.json();
    assert_eq!(field(&batch, "Status"), "Syncing", "{batch:#}");
    assert_eq!(field(&batch, "TotalCount"), 2, "{batch:#}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !Path::new(&marker).exists() {
        assert!(
            Instant::now() < deadline,
            "the pass never reached its 4th chunk:\n{}",
            first.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_log = first.log();
    first.kill();

    // Killed mid-way: some mail is across, the batch is not done.
    let partial: usize = USERS.iter().map(|u| dst.mailbox(u).message_count()).sum();
    let total: usize = USERS.iter().map(|u| src.mailbox(u).message_count()).sum();
    assert!(
        partial > 0 && partial < total,
        "{partial} of {total} copied:\n{first_log}"
    );
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Syncing", "{batch:#}");

    // The restarted service takes the dead worker's leases back and carries on from
    // the checkpoints.
    let second = cutover.serve(&[], &[]);
    let done = second.wait_for(
        "/api/v1/batches/CutoverBatch",
        Duration::from_secs(180),
        |b| b["Status"] != "Syncing",
    );
    assert_eq!(
        field(&done, "Status"),
        "Synced",
        "{done:#}\n{}",
        second.log()
    );
    assert_eq!(field(&done, "SyncedCount"), 2, "{done:#}");
    assert_eq!(field(&done, "ItemsSynced"), total as u64, "{done:#}");
    assert!(done["InitialSyncDuration"].is_string(), "{done:#}");
    assert!(
        second
            .log()
            .contains("taking back the lease of a worker that is gone"),
        "{}",
        second.log()
    );
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &USERS);

    let users = second.get("/api/v1/batches/CutoverBatch/users");
    for u in users.as_array().unwrap() {
        assert_eq!(field(u, "Status"), "Synced", "{u:#}");
        assert!(field(u, "BytesTransferred").as_u64().unwrap() > 0, "{u:#}");
    }
    let stats = second.get(&format!(
        "/api/v1/users/{}/statistics?include_skipped_items=true",
        USERS[0]
    ));
    assert_eq!(field(&stats, "SkippedItems"), &json!([]), "{stats:#}");
    assert_eq!(field(&stats, "InitialSyncCompleted"), true, "{stats:#}");

    // SIGTERM: a clean exit.
    let status = second.terminate(Duration::from_secs(40));
    assert!(status.success(), "{status}");

    // A CLI pass afterwards finds nothing left to copy.
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
}

#[test]
fn serve_picks_up_a_batch_started_from_the_cli_and_stops_it_on_request() {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 73, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 74, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.accept_domains(&USERS);
    // Slow chunks, so that the stop lands while the passes run.
    let serve = cutover.serve(&[], &[("CUTOVER_TEST_CHUNK_DELAY_MS", "300")]);
    let mut events = EventStream::open(&serve);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    let copied = events.next_named("Copied");
    assert!(field(&copied, "Bytes").as_u64().unwrap() > 0, "{copied:#}");

    let stopped = serve.call("POST", "/api/v1/batches/CutoverBatch/stop", None);
    assert_eq!(stopped.status, 200, "{stopped:?}");
    let batch = serve.wait_for(
        "/api/v1/batches/CutoverBatch",
        Duration::from_secs(60),
        |b| b["Status"] == "Stopped",
    );
    assert_eq!(field(&batch, "StoppedCount"), 2, "{batch:#}");
    assert!(
        field(&batch, "ThroughputBytesPerSecond").as_u64().is_some(),
        "{batch:#}"
    );

    // Started again over the API, it finishes; then it is removed, mail staying put.
    let started = serve.call("POST", "/api/v1/batches/CutoverBatch/start", None);
    assert_eq!(started.status, 200, "{started:?}");
    let done = serve.wait_for(
        "/api/v1/batches/CutoverBatch",
        Duration::from_secs(180),
        |b| b["Status"] == "Synced",
    );
    assert_eq!(field(&done, "SyncedCount"), 2, "{done:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    // The MX records were never seen on the target: removing would lose what still
    // arrives at the source, so it takes force.
    let refused = serve.call("DELETE", "/api/v1/batches/CutoverBatch", None);
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(
        refused.json()["Message"]
            .as_str()
            .unwrap()
            .contains("MX switch was never seen"),
        "{refused:?}"
    );
    let removed = serve.call("DELETE", "/api/v1/batches/CutoverBatch?force=true", None);
    assert_eq!(removed.status, 204, "{removed:?}");
    assert_eq!(serve.get("/api/v1/batches"), json!([]));
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    assert!(serve.terminate(Duration::from_secs(40)).success());
}

/// A state with a target and an endpoint that are never reached (stored without a test).
fn offline_state() -> Cutover {
    let cutover = Cutover::new();
    for (noun, port, var) in [
        ("target", "1", "DST_ADMIN_PASSWORD"),
        ("endpoint", "1", "SRC_ADMIN_PASSWORD"),
    ] {
        let mut args = vec![noun];
        if noun == "target" {
            args.push("set");
        } else {
            args.extend(["new", "--name", "CutoverEndpoint"]);
        }
        args.extend([
            "--server",
            "127.0.0.1",
            "--port",
            port,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            var,
            "--skip-verification",
        ]);
        cutover.ok(&args);
    }
    cutover
}

#[test]
fn the_api_wants_its_token_and_answers_errors_in_json() {
    let cutover = offline_state();
    let serve = cutover.serve(&[], &[]);

    // The token file is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&serve.token_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A token file others can read is refused, with the fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let loose = cutover.write("loose-token", "a-token-others-can-read\n");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = cutover.fails(&["serve", "--listen", "127.0.0.1:0", "--token-file", &loose]);
        assert!(err.contains(&format!("chmod 600 {loose}")), "{err}");
    }

    // No token, a wrong one, another scheme: 401 with a JSON body, on every API path.
    for (path, token) in [
        ("/api/v1/batches", None),
        ("/api/v1/batches", Some("not-the-token")),
        ("/api/v1/openapi.json", None),
        ("/api/v1/no-such-thing", None),
    ] {
        let reply = request(serve.addr, "GET", path, token, None);
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
        assert_eq!(reply.json()["Code"], "Unauthorized", "{reply:?}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    let basic = format!("Basic {}", serve.token);
    let reply = request(serve.addr, "GET", "/api/v1/batches", Some(&basic), None);
    assert_eq!(reply.status, 401, "{reply:?}");
    // The dashboard's page holds no data and loads without it.
    let page = request(serve.addr, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);

    // Bad JSON, unknown fields, wrong types, missing resources.
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/batches",
            Some("{\"Name\": "),
            400,
            "as JSON",
        ),
        (
            "POST",
            "/api/v1/batches",
            Some(r#"{"Name":"B","SourceEndpoint":"CutoverEndpoint","Users":[],"Colour":"red"}"#),
            422,
            "Colour",
        ),
        (
            "POST",
            "/api/v1/batches",
            Some(r#"{"Name":"B","SourceEndpoint":"CutoverEndpoint","BadItemLimit":"many"}"#),
            422,
            "BadItemLimit",
        ),
        (
            "POST",
            "/api/v1/batches",
            Some(
                r#"{"Name":"B","SourceEndpoint":"Nowhere","Users":[{"EmailAddress":"a@contoso.test"}]}"#,
            ),
            404,
            "endpoint 'Nowhere' was not found",
        ),
        (
            "POST",
            "/api/v1/batches",
            Some(
                r#"{"Name":"B","SourceEndpoint":"CutoverEndpoint","Users":[{"EmailAddress":"not an address"}]}"#,
            ),
            422,
            "Users[0].EmailAddress",
        ),
        (
            "GET",
            "/api/v1/batches/Nope",
            None,
            404,
            "batch 'Nope' was not found",
        ),
        (
            "POST",
            "/api/v1/batches/Nope/start",
            None,
            404,
            "batch 'Nope' was not found",
        ),
        (
            "GET",
            "/api/v1/users/nobody@contoso.test",
            None,
            404,
            "was not found",
        ),
        ("GET", "/api/v1/users?colour=red", None, 400, "colour"),
        ("GET", "/api/v1/users?status=Done", None, 400, "Queued"),
        (
            "GET",
            "/api/v1/endpoints/Nope",
            None,
            404,
            "endpoint 'Nope'",
        ),
        ("GET", "/api/v1/no-such-thing", None, 404, "openapi.json"),
    ];
    for (method, path, body, status, says) in cases {
        let reply = request(serve.addr, method, path, Some(&serve.token), body);
        assert_eq!(reply.status, status, "{method} {path} {body:?}: {reply:?}");
        let error = reply.json();
        assert!(error["Code"].is_string(), "{error:#}");
        assert!(
            error["Message"].as_str().unwrap().contains(says),
            "{method} {path}: {error:#}"
        );
    }
    // A POST without a JSON content type.
    let mut raw = request(
        serve.addr,
        "POST",
        "/api/v1/batches",
        Some(&serve.token),
        None,
    );
    assert_eq!(raw.status, 415, "{raw:?}");
    assert!(raw.json()["Message"].is_string());

    // A batch with a user's own password: created, and the password is shown nowhere;
    // first refused while the user's domain is not an accepted, verified one.
    let secret = "hunter2-do-not-show";
    let body = json!({
        "Name": "CutoverBatch",
        "SourceEndpoint": "CutoverEndpoint",
        "Users": [{"EmailAddress": "alice@contoso.test", "UserName": "alice", "Password": secret}],
    });
    let refused = serve.call("POST", "/api/v1/batches", Some(&body));
    assert_eq!(refused.status, 422, "{refused:?}");
    let message = refused.json()["Message"].as_str().unwrap().to_string();
    assert!(
        message.contains("contoso.test is not an accepted domain")
            && message.contains("alice@contoso.test"),
        "{message}"
    );
    cutover.accept_domains(&["alice@contoso.test"]);
    let created = serve.call("POST", "/api/v1/batches", Some(&body));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(field(&created.json(), "Status"), "Created");
    let again = serve.call("POST", "/api/v1/batches", Some(&body));
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.body.contains("only one cutover batch"), "{again:?}");
    // Stopping a batch that never started is an illegal change.
    let stop = serve.call("POST", "/api/v1/batches/CutoverBatch/stop", None);
    assert_eq!(stop.status, 409, "{stop:?}");
    assert!(
        stop.json()["Message"]
            .as_str()
            .unwrap()
            .contains("never started")
    );
    for path in [
        "/api/v1/batches",
        "/api/v1/batches/CutoverBatch",
        "/api/v1/batches/CutoverBatch/users",
        "/api/v1/users",
        "/api/v1/users/alice@contoso.test",
        "/api/v1/users/alice@contoso.test/statistics?include_skipped_items=true",
        "/api/v1/endpoints",
        "/api/v1/endpoints/CutoverEndpoint",
        "/api/v1/jobs",
        "/api/v1/jobs?batch=CutoverBatch",
    ] {
        let reply = serve.call("GET", path, None);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        for hidden in [secret, "adminpass", &serve.token] {
            assert!(
                !reply.body.contains(hidden),
                "{path} shows a secret: {}",
                reply.body
            );
        }
    }
    let approved = serve.call(
        "POST",
        "/api/v1/batches/CutoverBatch/approve-skipped-items",
        None,
    );
    assert_eq!(approved.status, 200, "{approved:?}");
    assert!(approved.json()["SkippedItemApprovalTime"].is_string());
    let user = serve.get("/api/v1/users/alice@contoso.test");
    assert_eq!(field(&user, "Status"), "Queued");
    assert_eq!(field(&user, "BatchId"), "CutoverBatch");

    // The event stream tells of changes made through the API.
    let mut events = EventStream::open(&serve);
    let removed = serve.call("DELETE", "/api/v1/batches/CutoverBatch", None);
    assert_eq!(removed.status, 204, "{removed:?}");
    let change = events.next_named("BatchChanged");
    assert_eq!(change["Batch"], "CutoverBatch", "{change:#}");
    assert_eq!(change["Status"], "Removed", "{change:#}");
    // Removed: it cannot be started any more.
    let start = serve.call("POST", "/api/v1/batches/CutoverBatch/start", None);
    assert_eq!(start.status, 404, "{start:?}");
    raw = serve.call("GET", "/api/v1/batches", None);
    assert_eq!(raw.json(), json!([]));

    // The OpenAPI document comes from the code: every route and the views' schemas.
    let doc = serve.get("/api/v1/openapi.json");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{doc:#}"
    );
    for path in [
        "/api/v1/endpoints",
        "/api/v1/batches",
        "/api/v1/batches/{name}",
        "/api/v1/batches/{name}/start",
        "/api/v1/batches/{name}/stop",
        "/api/v1/batches/{name}/approve-skipped-items",
        "/api/v1/batches/{name}/users",
        "/api/v1/users",
        "/api/v1/users/{email}/statistics",
        "/api/v1/jobs",
        "/api/v1/events",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the document"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "BatchView",
        "UserView",
        "UserStatsView",
        "JobView",
        "NewBatchRequest",
        "ErrorBody",
    ] {
        assert!(schemas[schema].is_object(), "{schema} missing");
    }
    assert!(schemas["BatchView"]["properties"]["SyncedCount"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    assert!(serve.terminate(Duration::from_secs(30)).success());
}

#[test]
fn serve_wants_tls_off_loopback_and_speaks_it_when_given() {
    let cutover = offline_state();
    let err = cutover.fails(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(err.contains("--tls-cert"), "{err}");

    let ca = TestCa::new();
    let files = ca.server("api", &[]);
    let serve = cutover.serve(
        &[
            "--tls-cert",
            &files.cert.display().to_string(),
            "--tls-key",
            &files.key.display().to_string(),
        ],
        &[],
    );
    assert!(
        serve.log().contains("listening on https://"),
        "{}",
        serve.log()
    );
    let reply = request_tls(serve.addr, &ca.cert, "/api/v1/endpoints", &serve.token);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()[0]["Identity"], "CutoverEndpoint");
    assert!(serve.terminate(Duration::from_secs(30)).success());
}

#[test]
fn run_beside_serve_leaves_its_mailboxes_alone_and_sigterm_releases_the_leases() {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 75, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 76, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.accept_domains(&USERS);
    let serve = cutover.serve(&[], &[("CUTOVER_TEST_CHUNK_DELAY_MS", "300")]);
    let mut events = EventStream::open(&serve);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    events.next_named("Copied");
    assert!(cutover.leases() > 0);

    // A `run` at the same time finds both mailboxes leased by the service: it copies
    // nothing and leaves the batch to it.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "UsersProcessed"), 0, "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), 0, "{run:#}");

    // SIGTERM in the middle: the chunks in flight are recorded, the leases released,
    // and the process exits 0.
    let status = serve.terminate(Duration::from_secs(40));
    assert!(status.success(), "{status}");
    assert_eq!(cutover.leases(), 0);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Syncing", "{batch:#}");

    // The CLI finishes the job: nothing lost, nothing twice.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &USERS);
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    use std::io::{Read, Write};
    let cutover = offline_state();
    let serve = cutover.serve(&[], &[("CUTOVER_HTTP_HEADER_TIMEOUT_SECS", "2")]);

    // Half a request line, then nothing: the service closes the connection after 2 s.
    let mut slow = std::net::TcpStream::connect(serve.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let sent = Instant::now();
    slow.write_all(b"GET /api/v1/batches HT").unwrap();
    let mut answer = Vec::new();
    // EOF (or a reset) when the service closes; a read timeout (15 s) if it never does.
    let _ = slow.read_to_end(&mut answer);
    let after = sent.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(8),
        "closed after {after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{answer:?}"
    );

    // Meanwhile and afterwards, whole requests are answered.
    let reply = serve.call("GET", "/api/v1/batches", None);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(serve.terminate(Duration::from_secs(30)).success());
}

#[test]
fn the_dashboard_is_served_with_a_content_security_policy_and_no_framing() {
    let cutover = offline_state();
    let serve = cutover.serve(&[], &[]);
    for path in ["/", "/assets/dashboard.js", "/assets/dashboard.css"] {
        let reply = request(serve.addr, "GET", path, None, None);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let csp = reply
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy: {reply:?}"));
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        for wanted in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(directives.contains(&wanted), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
    }
    // The page needs nothing the policy forbids: no inline script or style.
    let page = request(serve.addr, "GET", "/", None, None).body;
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    assert!(page.contains(r#"<script src="/assets/dashboard.js""#));
    assert!(serve.terminate(Duration::from_secs(30)).success());
}
