//! Notification e-mails through a real SMTP relay: `fixtures/smtp/relay.py` (aiosmtpd) on
//! 127.0.0.1 wants STARTTLS with a certificate of the tests' own CA and a login, and
//! delivers into the target Dovecot over LMTP; the tests read the admin's mail back over
//! IMAP and parse it with mail-parser: the subject, both CSVs attached, and their counts.

use base64::Engine;
use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::bad_items::large_message;
use crate::support::{
    Cutover, Dovecot, DovecotOptions, LMTP, REFUSE_OVER_1_MIB, SmtpRelay, TestCa, field,
    fill_realistic_mailbox, start_pair,
};

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";
/// Gets the notifications: a mailbox of the target, reached over LMTP by the relay.
const ADMIN: &str = "admin@contoso.test";
const RELAY_USER: &str = "cutover";
const RELAY_PASSWORD: &str = "relay-secret";

/// A source and a target with alice and bob, the target also holding the admin's
/// mailbox, refusing messages over 1 MiB, and taking mail over LMTP.
fn servers() -> (Dovecot, Dovecot) {
    start_pair(
        DovecotOptions {
            users: vec![ALICE.into(), BOB.into()],
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users: vec![ALICE.into(), BOB.into(), ADMIN.into()],
            extra_config: format!("{REFUSE_OVER_1_MIB}\n{LMTP}"),
            ..DovecotOptions::default()
        },
    )
}

/// The relay with a certificate of `ca`, delivering into `dst`.
fn relay(ca: &TestCa, dst: &Dovecot) -> SmtpRelay {
    let cert = ca.server("relay", &[]);
    SmtpRelay::start(&cert, RELAY_USER, RELAY_PASSWORD, &dst.lmtp_socket())
}

/// `cutover notify set` to the relay, with this password and (or not) the tests' CA.
fn notify_set(cutover: &Cutover, relay: &SmtpRelay, password: &str, ca: Option<&TestCa>) {
    let file = cutover.write("relay-password", &format!("{password}\n"));
    let port = relay.port().to_string();
    let mut args = vec![
        "notify",
        "set",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--tls",
        "starttls",
        "--from",
        "cutover@contoso.test",
        "--user",
        RELAY_USER,
        "--password-file",
        &file,
    ];
    let ca_path = ca.map(|ca| ca.cert.display().to_string());
    if let Some(path) = &ca_path {
        args.extend(["--ca-file", path.as_str()]);
    }
    let out = cutover.ok(&args);
    assert!(!out.contains(password), "the password is shown: {out}");
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a MIME message: {}", String::from_utf8_lossy(raw)))
}

/// The attachment of this name, as text (without the CSV's byte order mark).
fn attachment(message: &Message<'_>, name: &str) -> String {
    let part = message
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .unwrap_or_else(|| {
            let names: Vec<_> = message.attachments().map(|a| a.attachment_name()).collect();
            panic!("no attachment {name}; attachments: {names:?}")
        });
    assert_eq!(
        part.content_type()
            .map(|c| (c.ctype(), c.subtype().unwrap_or_default())),
        Some(("text", "csv")),
        "{name}"
    );
    String::from_utf8(part.contents().to_vec())
        .expect("UTF-8 CSV")
        .trim_start_matches('\u{feff}')
        .to_string()
}

/// A CSV's rows as maps from column to value.
fn rows(text: &str) -> Vec<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn col<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {row:?}"))
}

fn subjects(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| parse(m).subject().unwrap_or_default().to_string())
        .collect()
}

/// The batch's first pass fails alice (her large message is refused, over LargeItemLimit
/// 0) and syncs bob: the admin gets "initial sync finished" and "1 user failed", each with
/// MigrationStatistics.csv and MigrationErrors.csv carrying the right counts; a second
/// round sends nothing again.
#[test]
fn the_admin_receives_the_initial_sync_and_failure_mails_with_both_reports() {
    let (src, dst) = servers();
    fill_realistic_mailbox(&src, ALICE, 12, 41, false);
    fill_realistic_mailbox(&src, BOB, 9, 42, false);
    src.write_message(
        ALICE,
        "INBOX",
        &large_message("QmlnIG9uZQ=="),
        &["\\Seen"],
        1_750_000_000,
    );
    src.index(ALICE);
    src.index(BOB);
    let ca = TestCa::new();
    let relay = relay(&ca, &dst);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", ALICE);
    notify_set(&cutover, &relay, RELAY_PASSWORD, Some(&ca));
    let batch = cutover.start_batch(
        &[(ALICE, "", ""), (BOB, "", "")],
        &["--notification-emails", ADMIN],
    );
    assert_eq!(field(&batch, "NotificationEmails")[0], ADMIN, "{batch:#}");
    assert_eq!(
        field(&batch, "ReportInterval"),
        "1.00:00:00.000",
        "{batch:#}"
    );

    let run = cutover.run(&["run", "--once", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let inbox = dst.inbox_over_imap(ADMIN);
    assert_eq!(
        subjects(&inbox),
        [
            "Migration batch CutoverBatch: initial sync finished",
            "Migration batch CutoverBatch: 1 user failed"
        ],
        "{stderr}\nrelay log:\n{}",
        relay.log()
    );
    let alice_total = src.mailbox(ALICE).message_count();
    let bob_total = src.mailbox(BOB).message_count();
    for raw in &inbox {
        let mail = parse(raw);
        assert_eq!(
            mail.from()
                .and_then(|f| f.first())
                .and_then(|a| a.address()),
            Some("cutover@contoso.test")
        );
        let text = mail.body_text(0).expect("a plain-text summary");
        for line in ["CutoverBatch", "Users          2", "Failed         1"] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert!(
            text.contains("`cutover batch start CutoverBatch`"),
            "no next step in:\n{text}"
        );
        let stats = rows(&attachment(&mail, "MigrationStatistics.csv"));
        assert_eq!(stats.len(), 2, "{stats:?}");
        assert_eq!(col(&stats[0], "EmailAddress"), ALICE);
        assert_eq!(col(&stats[0], "Status"), "Failed");
        assert_eq!(
            col(&stats[0], "TotalItemsInSourceMailboxCount"),
            alice_total.to_string()
        );
        assert_eq!(col(&stats[0], "ItemsSynced"), (alice_total - 1).to_string());
        assert_eq!(col(&stats[0], "ItemsSkipped"), "1");
        assert_eq!(col(&stats[1], "EmailAddress"), BOB);
        assert_eq!(col(&stats[1], "Status"), "Synced");
        assert_eq!(col(&stats[1], "ItemsSynced"), bob_total.to_string());
        assert_eq!(col(&stats[1], "ItemsSkipped"), "0");
        let errors = rows(&attachment(&mail, "MigrationErrors.csv"));
        let kinds: Vec<&str> = errors.iter().map(|r| col(r, "Kind")).collect();
        assert_eq!(kinds, ["Error", "LargeItem"], "{errors:?}");
        assert!(errors.iter().all(|r| col(r, "EmailAddress") == ALICE));
    }
    let failed = parse(&inbox[1]);
    assert!(
        failed.body_text(0).unwrap().contains(ALICE),
        "the failure mail names alice"
    );

    // Nothing new: the next round mails nothing.
    cutover.ok(&["run", "--once"]);
    assert_eq!(dst.inbox_over_imap(ADMIN).len(), 2, "{}", relay.log());
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("batch notifications (1)"), "{dump}");
    assert!(!dump.contains(RELAY_PASSWORD), "{dump}");
}

/// A relay that refuses the password: the batch still completes, the log names the relay
/// and what to do, nothing is recorded as sent; after `notify set` with the right
/// password, the next round sends the mail.
#[test]
fn a_refused_login_does_not_stop_the_batch_and_the_mail_goes_after_the_fix() {
    let (src, dst) = servers();
    fill_realistic_mailbox(&src, ALICE, 6, 43, false);
    fill_realistic_mailbox(&src, BOB, 5, 44, false);
    src.index(ALICE);
    src.index(BOB);
    let ca = TestCa::new();
    let relay = relay(&ca, &dst);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", ALICE);
    notify_set(&cutover, &relay, "not-the-password", Some(&ca));
    cutover.start_batch(
        &[(ALICE, "", ""), (BOB, "", "")],
        &["--notification-emails", ADMIN],
    );

    let run = cutover.run(&["run", "--once", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the batch fails with the mail:\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(field(&summary[0], "Status"), "Synced", "{summary:#}");
    let relay_address = format!("127.0.0.1:{}", relay.port());
    for needle in [
        relay_address.as_str(),
        "refused the login of 'cutover'",
        "cutover notify set",
        "sent again on the next round",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in:\n{stderr}");
    }
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    assert!(dst.inbox_over_imap(ADMIN).is_empty(), "{}", relay.log());
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Synced");

    notify_set(&cutover, &relay, RELAY_PASSWORD, Some(&ca));
    cutover.ok(&["run", "--once"]);
    assert_eq!(
        subjects(&dst.inbox_over_imap(ADMIN)),
        ["Migration batch CutoverBatch: initial sync finished"],
        "{}",
        relay.log()
    );

    // Set-MigrationBatch: reports off, another interval, and no more addresses.
    let set = cutover.json(&[
        "batch",
        "set",
        "CutoverBatch",
        "--skip-reports",
        "true",
        "--report-interval",
        "6",
    ]);
    assert_eq!(field(&set, "SkipReports"), true, "{set:#}");
    assert_eq!(field(&set, "ReportInterval"), "06:00:00.000", "{set:#}");
    let err = cutover.fails(&["batch", "set", "CutoverBatch", "--report-interval", "0"]);
    assert!(err.contains("--report-interval"), "{err}");
    let set = cutover.json(&["batch", "set", "CutoverBatch", "--notification-emails", ""]);
    assert_eq!(field(&set, "NotificationEmails"), &serde_json::json!([]));
    // The cmdlet shell, in Exchange's words.
    cutover.ok(&[
        "ps",
        "-c",
        &format!("Set-MigrationBatch -Identity CutoverBatch -NotificationEmails {ADMIN},{BOB} -SkipReports:$false"),
    ]);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(
        field(&batch, "NotificationEmails"),
        &serde_json::json!([ADMIN, BOB]),
        "{batch:#}"
    );
    assert_eq!(field(&batch, "SkipReports"), false, "{batch:#}");
}

/// `notify test` sends through the relay; without the relay's CA its certificate is not
/// trusted (strict TLS) and the error says to give `--ca-file`; `notify show` never shows
/// the password.
#[test]
fn notify_test_sends_a_mail_over_verified_tls_only() {
    let dst = Dovecot::start(
        "dst",
        DovecotOptions {
            users: vec![ADMIN.into()],
            extra_config: LMTP.into(),
            ..DovecotOptions::default()
        },
    );
    let ca = TestCa::new();
    let relay = relay(&ca, &dst);
    let cutover = Cutover::new();

    let none = cutover.fails(&["notify", "test", ADMIN]);
    assert!(none.contains("cutover notify set"), "{none}");

    notify_set(&cutover, &relay, RELAY_PASSWORD, None);
    let untrusted = cutover.fails(&["notify", "test", ADMIN]);
    assert!(untrusted.contains("--ca-file"), "{untrusted}");
    assert!(dst.inbox_over_imap(ADMIN).is_empty());

    notify_set(&cutover, &relay, RELAY_PASSWORD, Some(&ca));
    let shown = cutover.json(&["notify", "show"]);
    assert_eq!(field(&shown, "Tls"), "StartTls");
    assert_eq!(field(&shown, "Password"), "(set)");
    assert!(!shown.to_string().contains(RELAY_PASSWORD), "{shown:#}");
    let out = cutover.run(&["notify", "test", ADMIN]);
    assert!(
        out.status.success(),
        "{}\nrelay log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        relay.log()
    );
    assert_eq!(
        subjects(&dst.inbox_over_imap(ADMIN)),
        ["cutover: test of the notification mail"]
    );
}

/// `cutover serve` sends the mails too: the addresses are set over the API (`PATCH
/// /api/v1/batches/{name}`, Set-MigrationBatch) while the service migrates, and the
/// "initial sync finished" mail arrives.
#[test]
fn serve_mails_a_batch_whose_addresses_were_set_over_the_api() {
    let (src, dst) = servers();
    fill_realistic_mailbox(&src, ALICE, 5, 45, false);
    fill_realistic_mailbox(&src, BOB, 5, 46, false);
    src.index(ALICE);
    src.index(BOB);
    let ca = TestCa::new();
    let relay = relay(&ca, &dst);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", ALICE);
    notify_set(&cutover, &relay, RELAY_PASSWORD, Some(&ca));
    cutover.start_batch(&[(ALICE, "", ""), (BOB, "", "")], &[]);
    let serve = cutover.serve(&[], &[]);

    let bad = serve.call(
        "PATCH",
        "/api/v1/batches/CutoverBatch",
        Some(&serde_json::json!({"NotificationEmails": ["not an address"]})),
    );
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(bad.body.contains("NotificationEmails[0]"), "{bad:?}");
    let set = serve.call(
        "PATCH",
        "/api/v1/batches/CutoverBatch",
        Some(&serde_json::json!({"NotificationEmails": [ADMIN], "ReportIntervalHours": 12})),
    );
    assert_eq!(set.status, 200, "{set:?}");
    let view = set.json();
    assert_eq!(field(&view, "NotificationEmails")[0], ADMIN, "{view:#}");
    assert_eq!(field(&view, "ReportInterval"), "12:00:00.000", "{view:#}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let inbox = loop {
        let inbox = dst.inbox_over_imap(ADMIN);
        if !inbox.is_empty() {
            break inbox;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail within 60 s:\n{}\nrelay log:\n{}",
            serve.log(),
            relay.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        subjects(&inbox),
        ["Migration batch CutoverBatch: initial sync finished"]
    );
    let mail = parse(&inbox[0]);
    let stats = rows(&attachment(&mail, "MigrationStatistics.csv"));
    assert_eq!(stats.len(), 2, "{stats:?}");
    assert!(
        stats.iter().all(|r| col(r, "Status") == "Synced"),
        "{stats:?}"
    );
    let log_file = serve.log.clone();
    let status = serve.terminate(std::time::Duration::from_secs(20));
    assert!(status.success(), "{status}");
    cutover.check_state();
    // Not even the debug log (serve runs with CUTOVER_LOG=debug here) holds the relay's
    // password, plain or as the AUTH PLAIN / LOGIN exchange sends it.
    let log = std::fs::read_to_string(log_file).unwrap();
    assert!(log.contains("notification mail sent"), "{log}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in [
        RELAY_PASSWORD.to_string(),
        b64(&format!("\0{RELAY_USER}\0{RELAY_PASSWORD}")),
        b64(RELAY_PASSWORD),
    ] {
        assert!(!log.contains(&secret), "{secret} is in the log:\n{log}");
    }
}
