//! The batch of the whole organization and preflight (issue 13), against the real
//! directories of `directory.rs`: the Samba AD DC as the source (its organization under
//! OU=Cutover, and the preflight test's own under OU=Preflight, with one of each problem
//! of the seed's Step 1 planted), a second private slapd as the target's directory, and a
//! Dovecot pair for the mail. Preflight must find exactly the planted problems; once the
//! test fixes them, in the directories and by accepting the domain, `batch start` goes on
//! and the pass runs.

use serde_json::Value;

use crate::support::{Cutover, DovecotOptions, SambaDc, Slapd, start_pair};

const ENDPOINT: &str = "CutoverEndpoint";
const PREFLIGHT_BASE: &str = "OU=Preflight,DC=contoso,DC=test";
const BOSS: &str = "CN=Outside Boss,OU=Elsewhere,DC=contoso,DC=test";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `endpoint new` to the IMAP port `imap` (not tested unless `test_mailbox`), reading
/// the Samba DC under `base`.
fn endpoint(cutover: &Cutover, imap: u16, test_mailbox: Option<&str>, base: &str) {
    let port = imap.to_string();
    let mut args = vec![
        "endpoint",
        "new",
        "--name",
        ENDPOINT,
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "SRC_ADMIN_PASSWORD",
        "--directory",
        SambaDc::URL,
        "--directory-base",
        base,
        "--directory-bind",
        SambaDc::ADMIN,
        "--directory-password-env",
        "AD_PASSWORD",
    ];
    match test_mailbox {
        Some(m) => args.extend(["--test-mailbox", m]),
        None => args.push("--skip-verification"),
    }
    let out = cutover
        .command(&args)
        .env("AD_PASSWORD", SambaDc::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "endpoint new: {}", stderr(&out));
}

/// (Severity, Code, Objects) of a preflight report, in its order.
fn findings(report: &Value) -> Vec<(String, String, Vec<String>)> {
    report["Findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report:#}"))
        .iter()
        .map(|f| {
            (
                f["Severity"].as_str().unwrap().to_string(),
                f["Code"].as_str().unwrap().to_string(),
                strings(&f["Objects"]),
            )
        })
        .collect()
}

fn finding(severity: &str, code: &str, objects: &[&str]) -> (String, String, Vec<String>) {
    (
        severity.to_string(),
        code.to_string(),
        objects.iter().map(|o| o.to_string()).collect(),
    )
}

/// `batch preflight CutoverBatch --format json`, which exits 1 while a finding blocks.
fn preflight(cutover: &Cutover, blocked: bool) -> Value {
    let out = cutover.run(&["batch", "preflight", "CutoverBatch", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(if blocked { 1 } else { 0 }),
        "{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("the preflight report")
}

fn kinds(cutover: &Cutover) -> Vec<(String, String)> {
    let users = cutover.json(&["user", "get", "--batch", "CutoverBatch"]);
    let mut kinds: Vec<(String, String)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["Identity"].as_str().unwrap().to_string(),
                u["RecipientType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn batch_new_without_a_csv_takes_every_recipient_of_active_directory_with_its_kind() {
    SambaDc::shared();
    let cutover = Cutover::new();
    endpoint(&cutover, 143, None, SambaDc::BASE);

    let created = cutover.json(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        ENDPOINT,
    ]);
    // Every mail-enabled recipient under the base; the security group without an address
    // (Printers) and the service account (no address) are not migration users.
    assert_eq!(created["TotalCount"], 7, "{created:#}");
    assert_eq!(
        kinds(&cutover),
        pairs(&[
            ("alice.smith@contoso.test", "UserMailbox"),
            ("bob@contoso.test", "UserMailbox"),
            ("carol@contoso.test", "UserMailbox"),
            ("mallory@fabrikam.test", "MailUser"),
            ("partner@fabrikam.test", "MailContact"),
            ("finance@contoso.test", "MailUniversalSecurityGroup"),
            ("everyone@contoso.test", "MailUniversalDistributionGroup"),
        ])
    );
    // Mailboxes log in to the source with their UPN; the rest have no login.
    let alice = cutover.json(&["user", "stats", "alice.smith@contoso.test"]);
    assert_eq!(alice["SourceLogin"], "alice@contoso.test");
    assert_eq!(alice["RecipientType"], "UserMailbox");
    let everyone = cutover.json(&["user", "get", "everyone@contoso.test"]);
    assert_eq!(everyone["RecipientType"], "MailUniversalDistributionGroup");
    assert_eq!(everyone["Status"], "Queued");

    // --all-mailboxes says the same, and --users-csv is refused beside it.
    let out = cutover.run(&[
        "batch",
        "new",
        "--name",
        "Other",
        "--source-endpoint",
        ENDPOINT,
        "--all-mailboxes",
        "--users-csv",
        "users.csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // This organization has its own problems: no accepted domain, no target directory,
    // Carol's Unified Messaging, Finance a security group, Alice's manager outside.
    let report = preflight(&cutover, true);
    assert_eq!(report["Result"], "Blocked");
    let found = findings(&report);
    let codes: Vec<(&str, &str)> = found
        .iter()
        .map(|(s, c, _)| (s.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("Blocking", "DomainNotAccepted"),
            ("Blocking", "UnifiedMessagingEnabled"),
            ("Blocking", "SecurityGroupNotOnTarget"),
            ("Blocking", "ManagerNotMigrated"),
            ("Warning", "HiddenFromAddressLists"),
            ("Warning", "GroupMembersNotMigrated"),
            ("Warning", "GroupNotMailEnabled"),
            // Not AliasDomainNotAccepted: contoso.test is named above already.
            ("Warning", "TargetDirectoryNotSet"),
        ],
        "{report:#}"
    );
    assert_eq!(
        found[0].2,
        [
            "contoso.test",
            "alice.smith@contoso.test",
            "bob@contoso.test",
            "carol@contoso.test",
            "everyone@contoso.test",
            "finance@contoso.test"
        ]
    );
    assert_eq!(found[3].2[2], BOSS);
    // The crowd of the big group lives outside the base: 1,600 members not migrated.
    assert_eq!(found[5].2[0], "everyone@contoso.test");
    assert_eq!(found[5].2.len(), 1 + SambaDc::CROWD);

    let err = cutover.fails(&["batch", "start", "CutoverBatch"]);
    assert!(err.contains("cannot be started"), "{err}");
    assert!(err.contains("UnifiedMessagingEnabled"), "{err}");
    assert!(
        err.contains("cutover batch preflight CutoverBatch"),
        "{err}"
    );
    assert_eq!(
        cutover.json(&["batch", "get", "CutoverBatch"])["Status"],
        "Created"
    );
}

#[test]
fn preflight_finds_exactly_the_planted_problems_and_lets_the_batch_start_once_fixed() {
    let dc = SambaDc::shared();
    let target = Slapd::target();
    let mailboxes = ["dana", "uma", "hugo", "erin", "paul"];
    let at = |u: &str, d: &str| format!("{u}@{d}");
    // The source logs in with the UPN (nora@contoso.test), the target with the primary
    // SMTP address (nora@northwind.test).
    let mut src_users: Vec<String> = mailboxes.iter().map(|u| at(u, "contoso.test")).collect();
    let mut dst_users = src_users.clone();
    src_users.push("nora@contoso.test".into());
    dst_users.push("nora@northwind.test".into());
    let (src, dst) = start_pair(
        DovecotOptions {
            users: src_users,
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users: dst_users,
            ..DovecotOptions::default()
        },
    );

    let cutover = Cutover::new();
    let dp = dst.port().to_string();
    let ca = target.ca_file.display().to_string();
    let url = target.url();
    let out = cutover
        .command(&[
            "target",
            "set",
            "--server",
            "127.0.0.1",
            "--port",
            &dp,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "DST_ADMIN_PASSWORD",
            "--test-mailbox",
            "dana@contoso.test",
            "--directory",
            &url,
            "--directory-starttls",
            "--directory-ca-file",
            &ca,
            "--directory-base",
            Slapd::BASE,
            "--directory-bind",
            Slapd::READER,
            "--directory-password-env",
            "TARGET_LDAP_PASSWORD",
            "--directory-profile",
            "openldap",
        ])
        .env("TARGET_LDAP_PASSWORD", Slapd::READER_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "target set: {}", stderr(&out));
    assert!(
        stderr(&out).contains("target directory verified"),
        "{}",
        stderr(&out)
    );
    let shown = cutover.json(&["target", "get"]);
    assert_eq!(shown["Directory"], url);
    assert_eq!(shown["DirectoryProfile"], "openldap");
    let state = std::fs::read(cutover.state_path()).unwrap();
    assert!(
        !state
            .windows(Slapd::READER_PASSWORD.len())
            .any(|w| w == Slapd::READER_PASSWORD.as_bytes()),
        "the target directory's password is in the clear"
    );

    endpoint(
        &cutover,
        src.port(),
        Some("dana@contoso.test"),
        PREFLIGHT_BASE,
    );
    cutover.accept_domains(&["dana@contoso.test"]);
    cutover.ok(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        ENDPOINT,
        "--all-mailboxes",
    ]);
    assert_eq!(
        kinds(&cutover),
        pairs(&[
            ("dana@contoso.test", "UserMailbox"),
            ("erin@contoso.test", "UserMailbox"),
            ("hugo@contoso.test", "UserMailbox"),
            ("ledger@contoso.test", "MailUniversalSecurityGroup"),
            ("nora@northwind.test", "UserMailbox"),
            ("paul@contoso.test", "UserMailbox"),
            ("uma@contoso.test", "UserMailbox"),
        ])
    );

    let dn = |cn: &str| format!("CN={cn},{PREFLIGHT_BASE}");
    let report = preflight(&cutover, true);
    assert_eq!(report["Result"], "Blocked");
    assert_eq!(report["BlockingCount"], 6);
    assert_eq!(report["WarningCount"], 1);
    assert_eq!(
        findings(&report),
        [
            finding(
                "Blocking",
                "DomainNotAccepted",
                &["northwind.test", "nora@northwind.test"]
            ),
            finding(
                "Blocking",
                "UnifiedMessagingEnabled",
                &["uma@contoso.test", &dn("Uma Voice")]
            ),
            finding(
                "Blocking",
                "SecurityGroupNotOnTarget",
                &["ledger@contoso.test", &dn("Ledger")]
            ),
            finding(
                "Blocking",
                "ManagerNotMigrated",
                &["dana@contoso.test", &dn("Dana Lead"), BOSS]
            ),
            finding(
                "Blocking",
                "DuplicateAddress",
                &["dana@contoso.test", &dn("Dana Lead"), &dn("Erin Echo")]
            ),
            finding(
                "Blocking",
                "AddressUsedOnTarget",
                &[
                    "pp@contoso.test",
                    &dn("Paul Prior"),
                    "uid=pp,ou=people,dc=contoso,dc=test"
                ]
            ),
            finding(
                "Warning",
                "HiddenFromAddressLists",
                &["hugo@contoso.test", &dn("Hugo Hidden")]
            ),
        ],
        "{report:#}"
    );
    for f in report["Findings"].as_array().unwrap() {
        assert!(!f["Message"].as_str().unwrap().is_empty(), "{f:#}");
        assert!(!f["Action"].as_str().unwrap().is_empty(), "{f:#}");
    }
    // The list form names them too.
    let out = cutover.run(&["batch", "preflight", "CutoverBatch"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("AddressUsedOnTarget")
            && listed.contains("cutover domain add northwind.test"),
        "{listed}"
    );
    assert!(
        stderr(&out).contains("Blocked (6 blocking, 1 warning(s))"),
        "{}",
        stderr(&out)
    );

    // The API answers the same findings.
    let serve = cutover.serve(&[], &[]);
    let api = serve.get("/api/v1/batches/CutoverBatch/preflight");
    assert_eq!(api["Findings"], report["Findings"], "{api:#}");
    assert_eq!(api["Result"], "Blocked");
    drop(serve);

    // Start refuses, naming every blocking finding; the batch stays Created.
    let err = cutover.fails(&["batch", "start", "CutoverBatch"]);
    for code in [
        "DomainNotAccepted",
        "UnifiedMessagingEnabled",
        "SecurityGroupNotOnTarget",
        "ManagerNotMigrated",
        "DuplicateAddress",
        "AddressUsedOnTarget",
    ] {
        assert!(err.contains(code), "{code}: {err}");
    }
    assert_eq!(
        cutover.json(&["batch", "get", "CutoverBatch"])["Status"],
        "Created"
    );

    // The admin fixes them: in the source directory, on the target, and the domain.
    dc.modify(&format!(
        "dn: {dana}\nchangetype: modify\ndelete: manager\n\n\
         dn: {uma}\nchangetype: modify\ndelete: msExchUMEnabledFlags\n\n\
         dn: {erin}\nchangetype: modify\ndelete: proxyAddresses\nproxyAddresses: smtp:dana@contoso.test\n",
        dana = dn("Dana Lead"),
        uma = dn("Uma Voice"),
        erin = dn("Erin Echo"),
    ));
    target.modify(
        "dn: uid=pp,ou=people,dc=contoso,dc=test\nchangetype: delete\n\n\
         dn: cn=ledger,ou=groups,dc=contoso,dc=test\nchangetype: add\n\
         objectClass: groupOfNames\nobjectClass: mailAlternateRecipient\ncn: ledger\n\
         mail: ledger@contoso.test\nmember:\n",
    );
    cutover.accept_domains(&["nora@northwind.test"]);

    let report = preflight(&cutover, false);
    assert_eq!(report["Result"], "PassedWithWarnings", "{report:#}");
    assert_eq!(
        findings(&report),
        [finding(
            "Warning",
            "HiddenFromAddressLists",
            &["hugo@contoso.test", &dn("Hugo Hidden")]
        )]
    );
    let started = cutover.json(&["batch", "start", "CutoverBatch"]);
    assert_eq!(started["Status"], "Syncing", "{started:#}");

    // The pass: mailboxes copied over IMAP, the group has no mailbox to copy.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    let ledger = cutover.json(&["user", "get", "ledger@contoso.test"]);
    assert_eq!(ledger["Status"], "Synced");
    assert_eq!(ledger["StatusDetail"], "NotProvisioned");
    assert_eq!(ledger["RecipientType"], "MailUniversalSecurityGroup");
    let nora = cutover.json(&["user", "get", "nora@northwind.test"]);
    assert_eq!(nora["Status"], "Synced", "{nora:#}");
    assert_eq!(nora["StatusDetail"], Value::Null);
}

/// The dashboard shows preflight's findings (read from the Samba DC as the batch
/// appears), each user's kind, and a Start that preflight refused.
#[test]
fn the_dashboard_shows_the_findings_and_the_kinds() {
    SambaDc::shared();
    let cutover = Cutover::new();
    endpoint(&cutover, 143, None, SambaDc::BASE);
    let serve = cutover.serve(&[], &[]);
    // The API makes the batch of the organization too: AllMailboxes, or no users at all.
    let both = serde_json::json!({
        "Name": "CutoverBatch", "SourceEndpoint": ENDPOINT, "AllMailboxes": true,
        "UsersCsv": "EmailAddress,UserName,Password\nbob@contoso.test,,\n",
    });
    let refused = serve.call("POST", "/api/v1/batches", Some(&both));
    assert_eq!(refused.status, 422, "{refused:?}");
    let created = serve.call(
        "POST",
        "/api/v1/batches",
        Some(&serde_json::json!({"Name": "CutoverBatch", "SourceEndpoint": ENDPOINT})),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["TotalCount"], 7);
    let start = serve.call("POST", "/api/v1/batches/CutoverBatch/start", None);
    assert_eq!(start.status, 409, "{start:?}");
    assert_eq!(start.json()["Code"], "PreflightBlocked");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = crate::support::Browser::signed_in(&serve).await;
        browser
            .wait_text("preflight-result", "preflight's result", |t| t == "Blocked")
            .await;
        let caption = browser.text("preflight-caption").await;
        assert!(caption.starts_with("4 blocking, 4 warning(s)"), "{caption}");
        let findings = browser.text("preflight-findings").await;
        for text in [
            "UnifiedMessagingEnabled",
            "carol@contoso.test",
            "ManagerNotMigrated",
            "CN=Outside Boss,OU=Elsewhere,DC=contoso,DC=test",
            "cutover domain add contoso.test",
            // 1,600 members outside the base, counted rather than listed.
            "and 1,597 more",
        ] {
            assert!(findings.contains(text), "{text}: {findings}");
        }
        let partner = browser
            .wait_css(
                "#users tr[data-email='partner@fabrikam.test']",
                "the contact's row",
                |t| t.contains("MailContact"),
            )
            .await;
        assert!(partner.contains("Queued"), "{partner}");
        // Start: refused, with the service's reason.
        browser.click("btn-start").await;
        browser
            .wait_text("toast", "the refusal", |t| t.contains("cannot be started"))
            .await;
        assert_eq!(browser.text("batch-status").await, "Created");
        browser.close().await;
    });
}
