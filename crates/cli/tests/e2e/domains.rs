//! Accepted domains (verified by a TXT record), `dns check`, and the MX-switch guard of
//! `batch remove`, against dnsmasq serving the test zone and real Dovecot servers.

use serde_json::Value;

use crate::support::{Cutover, Dnsmasq, Zone, field, pair, users_csv};

fn skip_verified_endpoint(cutover: &Cutover) {
    cutover.ok(&[
        "endpoint",
        "new",
        "--name",
        "CutoverEndpoint",
        "--server",
        "127.0.0.1",
        "--port",
        "1",
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "SRC_ADMIN_PASSWORD",
        "--skip-verification",
    ]);
}

fn new_batch(cutover: &Cutover, csv: &str) -> std::process::Output {
    cutover.run(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "CutoverEndpoint",
        "--users-csv",
        csv,
    ])
}

#[test]
fn a_batch_needs_every_users_domain_accepted_and_verified_by_its_txt_record() {
    let cutover = Cutover::new();
    skip_verified_endpoint(&cutover);
    let csv = cutover.write(
        "users.csv",
        &users_csv(&[
            ("a@contoso.test", "", ""),
            ("b@fabrikam.test", "", ""),
            ("c@fabrikam.test", "", ""),
        ]),
    );
    let added = cutover.json(&["domain", "add", "Contoso.Test"]);
    assert_eq!(field(&added, "DomainName"), "contoso.test");
    assert_eq!(field(&added, "Status"), "Unverified");
    let token = field(&added, "TxtRecordValue")
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("cutover-verification="), "{token}");
    let err = cutover.fails(&["domain", "add", "contoso.test"]);
    assert!(err.contains("already exists"), "{err}");

    // Neither domain can migrate yet: both are named, with their users.
    let out = new_batch(&cutover, &csv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("contoso.test is accepted but not verified (1 user(s): a@contoso.test)"),
        "{err}"
    );
    assert!(
        err.contains(
            "fabrikam.test is not an accepted domain (2 user(s): b@fabrikam.test, c@fabrikam.test)"
        ),
        "{err}"
    );

    // A TXT record that is not the token does not verify the domain.
    let wrong = Dnsmasq::start(&Zone::new().txt("contoso.test", "v=spf1 -all"));
    let err = cutover.fails(&[
        "domain",
        "verify",
        "contoso.test",
        "--dns-server",
        &wrong.addr(),
    ]);
    assert!(
        err.contains("not found") && err.contains(&token) && err.contains("v=spf1 -all"),
        "{err}"
    );
    drop(wrong);

    let dns = Dnsmasq::start(
        &Zone::new()
            .txt("contoso.test", "v=spf1 -all")
            .txt("contoso.test", &token),
    );
    let verified = cutover.json(&[
        "domain",
        "verify",
        "contoso.test",
        "--dns-server",
        &dns.addr(),
    ]);
    assert_eq!(field(&verified, "Status"), "Verified");
    assert!(field(&verified, "VerifiedTime").is_string());

    let out = new_batch(&cutover, &csv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("contoso.test is"), "{err}");
    assert!(
        err.contains("fabrikam.test is not an accepted domain"),
        "{err}"
    );

    cutover.accept_domains(&["b@fabrikam.test"]);
    let out = new_batch(&cutover, &csv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = cutover.json(&["domain", "get"]);
    let names: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["DomainName"])
        .collect();
    assert_eq!(names, ["contoso.test", "fabrikam.test"]);

    cutover.ok(&["batch", "remove", "CutoverBatch"]);
    cutover.ok(&["domain", "remove", "fabrikam.test"]);
    let err = cutover.fails(&["domain", "get", "fabrikam.test"]);
    assert!(err.contains("was not found"), "{err}");

    // A lab or a benchmark may skip the check, on purpose, and is told so.
    let out = cutover
        .command(&[
            "batch",
            "new",
            "--name",
            "LabBatch",
            "--source-endpoint",
            "CutoverEndpoint",
            "--users-csv",
            &csv,
        ])
        .env("CUTOVER_SKIP_DOMAIN_CHECK", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("accepted-domain check is skipped"), "{err}");
}

#[test]
fn dns_check_reports_mx_autodiscover_and_txt_and_remembers_the_first_switch() {
    let cutover = Cutover::new();
    let added = cutover.json(&["domain", "add", "contoso.test"]);
    let token = field(&added, "TxtRecordValue")
        .as_str()
        .unwrap()
        .to_string();

    // Before: MX and Autodiscover still point to the old system.
    let before = Dnsmasq::start(
        &Zone::new()
            .mx("contoso.test", "mx.old.test", 10)
            .host("mail.old.test")
            .cname("autodiscover.contoso.test", "mail.old.test"),
    );
    let r = cutover.json(&[
        "dns",
        "check",
        "--domain",
        "contoso.test",
        "--expect-mx",
        "mx.new.test",
        "--expect-autodiscover",
        "autodiscover.new.test",
        "--dns-server",
        &before.addr(),
    ]);
    assert_eq!(
        field(&r, "MxRecords"),
        &serde_json::json!(["10 mx.old.test"])
    );
    assert_eq!(field(&r, "MxState"), "Source");
    assert_eq!(field(&r, "MxPointsToTarget"), false);
    assert_eq!(field(&r, "MxSwitchFirstSeen"), &Value::Null);
    assert_eq!(field(&r, "AutodiscoverCname"), "mail.old.test");
    assert_eq!(field(&r, "AutodiscoverPointsToTarget"), false);
    assert_eq!(field(&r, "AcceptedDomain"), true);
    assert_eq!(field(&r, "VerificationTxtFound"), false);
    drop(before);

    // Halfway: one MX host moved.
    let half = Dnsmasq::start(&Zone::new().mx("contoso.test", "mx.new.test", 10).mx(
        "contoso.test",
        "mx.old.test",
        20,
    ));
    let r = cutover.json(&[
        "dns",
        "check",
        "--domain",
        "contoso.test",
        "--dns-server",
        &half.addr(),
    ]);
    assert_eq!(field(&r, "MxState"), "Mixed");
    assert_eq!(field(&r, "ExpectedMx"), &serde_json::json!(["mx.new.test"]));
    assert_eq!(field(&r, "MxSwitchFirstSeen"), &Value::Null);
    drop(half);

    // After: everything points to the new system; the expected MX was remembered.
    let after = Dnsmasq::start(
        &Zone::new()
            .mx("contoso.test", "mx.new.test", 10)
            .host("autodiscover.new.test")
            .cname("autodiscover.contoso.test", "autodiscover.new.test")
            .txt("contoso.test", &token),
    );
    let check = || {
        cutover.json(&[
            "dns",
            "check",
            "--domain",
            "contoso.test",
            "--expect-autodiscover",
            "autodiscover.new.test",
            "--dns-server",
            &after.addr(),
        ])
    };
    let r = check();
    assert_eq!(field(&r, "MxState"), "Target");
    assert_eq!(field(&r, "MxPointsToTarget"), true);
    assert_eq!(field(&r, "AutodiscoverPointsToTarget"), true);
    assert_eq!(field(&r, "VerificationTxtFound"), true);
    let first = field(&r, "MxSwitchFirstSeen").clone();
    assert!(first.is_string(), "{r:#}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = check();
    assert_eq!(
        field(&again, "MxSwitchFirstSeen"),
        &first,
        "the first sighting is kept"
    );
}

#[test]
fn batch_remove_waits_for_the_mx_switch_and_a_sync_after_it() {
    let users = ["alice@contoso.test"];
    let (src, dst) = pair(&users, '/');
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", users[0]);
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");

    // MX never seen at the target: refused, with what to do.
    let err = cutover.fails(&["batch", "remove", "CutoverBatch"]);
    assert!(
        err.contains("MX switch was never seen")
            && err.contains("contoso.test")
            && err.contains("--force"),
        "{err}"
    );

    // MX moves; the batch last synced before that.
    let dns = Dnsmasq::start(&Zone::new().mx("contoso.test", "mx.new.test", 10));
    let r = cutover.json(&[
        "dns",
        "check",
        "--domain",
        "contoso.test",
        "--expect-mx",
        "mx.new.test",
        "--dns-server",
        &dns.addr(),
    ]);
    assert_eq!(field(&r, "MxPointsToTarget"), true);
    let err = cutover.fails(&["batch", "remove", "CutoverBatch"]);
    assert!(err.contains("before the MX switch was first seen"), "{err}");

    // An incremental sync after the switch: removal goes, with the 72-hour warning.
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    let out = cutover.run(&["batch", "remove", "CutoverBatch"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("less than 72 h"),
        "{stderr}"
    );
    assert_eq!(cutover.json(&["batch", "get"]), Value::Array(vec![]));
}
