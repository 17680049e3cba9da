//! Calendars, contacts and tasks beside mail, through the `cutover` binary: a real batch
//! whose source has Dovecot and Radicale (found from the user's address by an SRV record
//! in a private dnsmasq) and whose target has Dovecot and Xandikos.
//! `batch start` copies mail and DAV both (mail checked by doveadm, DAV by
//! `fixtures/dav/davtool.py`, neither through the engine); an incremental pass follows
//! an item added, changed and deleted; statistics show the counts beside mail.

use crate::support::{
    Cutover, DavServer, Dnsmasq, Zone, assert_same_mailbox, field, fill_realistic_mailbox, pair,
    simple_message,
};

const ANN: &str = "ann@contoso.test";

#[test]
fn a_batch_copies_calendars_contacts_and_tasks_beside_mail_and_follows_changes() {
    let (src, dst) = pair(&[ANN], '/');
    fill_realistic_mailbox(&src, ANN, 20, 14, false);
    src.index(ANN);
    // Radicale signs ann in with the password the users CSV gives (Dovecot's is the same).
    let radicale = DavServer::radicale(ANN, "pass");
    let xandikos = DavServer::xandikos();
    DavServer::davtool("seed", &[&radicale], &[]);

    let cutover = Cutover::new();
    let target_dav = xandikos.url();
    cutover.set_target(dst.port(), "authzid", ANN, &["--dav-url", &target_dav]);
    // the source's server is found from ann's domain (RFC 6764): plain http is taken
    // only because the SRV target is loopback
    let dns = Dnsmasq::start(&Zone::new().srv(
        "_caldav._tcp.contoso.test",
        "localhost",
        radicale.port,
        0,
    ));
    let dns_addr = dns.addr();
    cutover.new_endpoint(
        src.port(),
        "authzid",
        ANN,
        &["--dav-discover", "--dav-dns-server", &dns_addr],
    );
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "DavDiscover"), true, "{endpoint:#}");
    assert_eq!(field(&endpoint, "DavAuth"), "per-user", "{endpoint:#}");
    let target = cutover.json(&["target", "get"]);
    assert_eq!(field(&target, "DavUrl"), target_dav.as_str(), "{target:#}");

    cutover.start_batch(&[(ANN, "", "pass")], &[]);
    let plan = cutover.ok(&["batch", "plan", "CutoverBatch"]);
    assert!(
        plan.contains(&format!("{ANN} calendars and contacts: ")),
        "{plan}"
    );
    assert!(plan.contains("create "), "{plan}");
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");

    assert_same_mailbox(&src, &dst, ANN);
    // Xandikos 0.2.8 does not keep a calendar's description (it answers 409).
    let report = DavServer::davtool(
        "compare",
        &[&radicale, &xandikos],
        &["--unkept", "description"],
    );
    assert!(
        report.contains("identical: 5 collections, 11 items"),
        "{report}"
    );

    let user = cutover.json(&["user", "get", ANN]);
    assert_eq!(field(&user, "Status"), "Synced", "{user:#}");
    assert_eq!(field(&user, "ItemsSynced"), 20, "{user:#}");
    assert_eq!(field(&user, "CalendarItemsSynced"), 5, "{user:#}");
    assert_eq!(field(&user, "TaskItemsSynced"), 2, "{user:#}");
    assert_eq!(field(&user, "ContactItemsSynced"), 4, "{user:#}");
    assert_eq!(field(&user, "DavItemsSkipped"), 0, "{user:#}");
    assert!(user["DavError"].is_null(), "{user:#}");
    assert!(user["DavLastSyncedDateTime"].is_string(), "{user:#}");
    let stats = cutover.json(&["user", "stats", ANN, "--include-skipped-items"]);
    assert_eq!(field(&stats, "CalendarItemsSynced"), 5, "{stats:#}");
    assert_eq!(field(&stats, "SyncedItemCount"), 20, "{stats:#}");
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "ContactItemsSynced"), 4, "{batch:#}");
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("dav records (11)"), "{dump}");
    assert!(dump.contains("dav passes (1)"), "{dump}");
    // a dav-pass job ran beside the mailbox pass, and both are done
    assert!(dump.contains("jobs (0)"), "{dump}");

    // Nothing changed: the next pass plans nothing for the calendars.
    let plan = cutover.ok(&["batch", "plan", "CutoverBatch"]);
    assert!(
        plan.contains(&format!("{ANN} calendars and contacts: nothing to do")),
        "{plan}"
    );

    // The source changes: an event and a contact added, one changed, one deleted; new mail.
    DavServer::davtool("mutate", &[&radicale], &[]);
    src.write_message(
        ANN,
        "INBOX",
        &simple_message(ANN, "after"),
        &[],
        1_790_000_000,
    );
    src.index(ANN);
    let (run, log) = cutover.pass("info,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_same_mailbox(&src, &dst, ANN);
    let report = DavServer::davtool(
        "compare",
        &[&radicale, &xandikos],
        &["--unkept", "description"],
    );
    assert!(
        report.contains("identical: 5 collections, 12 items"),
        "{report}"
    );
    let user = cutover.json(&["user", "get", ANN]);
    assert_eq!(field(&user, "ItemsSynced"), 21, "{user:#}");
    let items: u64 = [
        "CalendarItemsSynced",
        "TaskItemsSynced",
        "ContactItemsSynced",
    ]
    .iter()
    .map(|k| field(&user, k).as_u64().unwrap())
    .sum();
    assert_eq!(items, 12, "{user:#}");
    assert_eq!(field(&user, "DavItemsSkipped"), 0, "{user:#}");
}

#[test]
fn a_user_without_a_password_for_the_dav_server_is_told_why() {
    let (src, dst) = pair(&[ANN], '/');
    let radicale = DavServer::radicale(ANN, "pass");
    let xandikos = DavServer::xandikos();
    let cutover = Cutover::new();
    let target_dav = xandikos.url();
    cutover.set_target(dst.port(), "authzid", ANN, &["--dav-url", &target_dav]);
    let source_dav = radicale.url();
    cutover.new_endpoint(src.port(), "authzid", ANN, &["--dav-url", &source_dav]);
    // the CSV gives no password: mail moves (the admin acts for ann), calendars cannot
    cutover.start_batch(&[(ANN, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    let user = cutover.json(&["user", "get", ANN]);
    let error = user["DavError"].as_str().unwrap_or_default();
    assert!(
        error.contains("no Password for ann@contoso.test") && error.contains("per-user"),
        "{user:#}"
    );

    // a DAV URL that would send passwords in clear is refused, naming the option
    let refused = cutover.fails(&[
        "endpoint",
        "set",
        "CutoverEndpoint",
        "--dav-url",
        "http://dav.example.org/",
    ]);
    assert!(
        refused.contains("--dav-url") && refused.contains("in clear"),
        "{refused}"
    );
    // and a server that does not answer is named
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/", free.local_addr().unwrap().port());
    drop(free);
    let refused = cutover.fails(&["endpoint", "set", "CutoverEndpoint", "--dav-url", &dead]);
    assert!(refused.contains("did not answer"), "{refused}");
    // removed: the batch moves mail only again
    cutover.ok(&["endpoint", "set", "CutoverEndpoint", "--remove-dav"]);
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert!(endpoint.get("DavUrl").is_none(), "{endpoint:#}");
}

#[test]
fn a_dav_pass_killed_after_a_put_and_run_again_leaves_each_item_once() {
    let (src, dst) = pair(&[ANN], '/');
    fill_realistic_mailbox(&src, ANN, 10, 15, false);
    src.index(ANN);
    let radicale = DavServer::radicale(ANN, "pass");
    let xandikos = DavServer::xandikos();
    DavServer::davtool("seed", &[&radicale], &[]);
    let cutover = Cutover::new();
    let target_dav = xandikos.url();
    cutover.set_target(dst.port(), "authzid", ANN, &["--dav-url", &target_dav]);
    let source_dav = radicale.url();
    cutover.new_endpoint(src.port(), "authzid", ANN, &["--dav-url", &source_dav]);
    cutover.start_batch(&[(ANN, "", "pass")], &[]);
    // SIGKILL once the target took the 4th item and before its record is written
    crate::crash::kill_at(&cutover, "dav-after-put", 4);
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("dav intents (1)"), "{dump}");

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_same_mailbox(&src, &dst, ANN);
    // the item that landed before the kill was recorded, not put twice
    let report = DavServer::davtool(
        "compare",
        &[&radicale, &xandikos],
        &["--unkept", "description"],
    );
    assert!(
        report.contains("identical: 5 collections, 11 items"),
        "{report}"
    );
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("dav records (11)"), "{dump}");
    assert!(dump.contains("dav intents (0)"), "{dump}");
    let user = cutover.json(&["user", "get", ANN]);
    let items: u64 = [
        "CalendarItemsSynced",
        "TaskItemsSynced",
        "ContactItemsSynced",
    ]
    .iter()
    .map(|k| field(&user, k).as_u64().unwrap())
    .sum();
    assert_eq!(items, 11, "{user:#}");
}
