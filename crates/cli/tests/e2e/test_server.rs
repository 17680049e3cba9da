//! `cutover test-server` (Test-MigrationServerAvailability) against real Dovecot servers
//! with TLS: a certificate from a private CA (trusted with --ca-file), a self-signed one,
//! a wrong password, and a mailbox the admin cannot open.

use serde_json::Value;

use crate::support::{Cutover, Dovecot, DovecotOptions, TestCa, TlsFiles, field};

const ALICE: &str = "alice@contoso.test";

fn tls_server(files: TlsFiles) -> Dovecot {
    Dovecot::start(
        "tls",
        DovecotOptions {
            tls: Some(files),
            ..DovecotOptions::default()
        },
    )
}

/// Runs `test-server` with JSON output; returns the result, the exit code and stderr.
fn test_server(cutover: &Cutover, args: &[&str], password_var: &str) -> (Value, i32, String) {
    let mut all = vec![
        "test-server",
        "--server",
        "127.0.0.1",
        "--admin",
        "admin",
        "--password-env",
        password_var,
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let out = cutover
        .command(&all)
        .env("WRONG_PASSWORD", "not-it")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_certificate_from_a_trusted_private_ca_passes_over_tls_and_starttls() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mail.contoso.test"]));
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    for (port, security) in [(server.imaps_port(), "tls"), (server.port(), "starttls")] {
        let port = port.to_string();
        let (r, code, stderr) = test_server(
            &cutover,
            &[
                "--port",
                &port,
                "--security",
                security,
                "--ca-file",
                &ca_file,
                "--mailbox",
                ALICE,
            ],
            "SRC_ADMIN_PASSWORD",
        );
        assert_eq!(code, 0, "{r:#}\n{stderr}");
        assert_eq!(field(&r, "Result"), "Success", "{r:#}");
        assert_eq!(field(&r, "FailedStep"), &Value::Null);
        assert_eq!(field(&r, "InboxMessageCount"), 0);
        assert_eq!(field(&r, "TestedMailbox"), ALICE);
        let caps = field(&r, "Capabilities").as_array().unwrap();
        assert!(
            caps.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case("IMAP4rev1"))),
            "{caps:?}"
        );
        let settings = field(&r, "ConnectionSettings");
        assert_eq!(settings["Port"], port.parse::<u16>().unwrap());
        assert_eq!(settings["Authentication"], "Plain");
        assert!(
            !r.to_string().contains("adminpass"),
            "a password in the output: {r}"
        );
    }
    // Testing a server stores nothing.
    assert!(!cutover.state_path().exists());
}

#[test]
fn an_untrusted_certificate_fails_at_connect_with_what_to_do() {
    let ca = TestCa::new();
    let self_signed = tls_server(ca.self_signed("self"));
    let cutover = Cutover::new();
    let port = self_signed.imaps_port().to_string();
    let (r, code, stderr) = test_server(
        &cutover,
        &["--port", &port, "--security", "tls", "--mailbox", ALICE],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(field(&r, "Result"), "Failed");
    assert_eq!(field(&r, "FailedStep"), "Connect");
    let message = field(&r, "Message").as_str().unwrap();
    assert!(message.contains("not trusted"), "{message}");
    assert!(stderr.contains("--ca-file"), "{stderr}");

    // A certificate from a private CA is not trusted either until the CA is given.
    let private = tls_server(ca.server("private", &[]));
    let port = private.imaps_port().to_string();
    let (r, code, _) = test_server(
        &cutover,
        &["--port", &port, "--security", "tls", "--mailbox", ALICE],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Connect")),
        "{r:#}"
    );
}

#[test]
fn a_wrong_password_and_a_mailbox_out_of_reach_fail_at_login() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &[]));
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = server.imaps_port().to_string();
    let base = [
        "--port",
        port.as_str(),
        "--security",
        "tls",
        "--ca-file",
        ca_file.as_str(),
    ];

    let mut args = base.to_vec();
    args.extend(["--mailbox", ALICE]);
    let (r, code, _) = test_server(&cutover, &args, "WRONG_PASSWORD");
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Login")),
        "{r:#}"
    );
    assert!(
        !r.to_string().contains("not-it"),
        "the password is in the output: {r}"
    );

    // The admin has no mailbox to act for here: the server refuses the impersonation.
    let mut args = base.to_vec();
    args.extend(["--mailbox", "nobody@contoso.test"]);
    let (r, code, _) = test_server(&cutover, &args, "SRC_ADMIN_PASSWORD");
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Login")),
        "{r:#}"
    );
    let message = field(&r, "Message").as_str().unwrap();
    assert!(message.contains("nobody@contoso.test"), "{message}");
}
