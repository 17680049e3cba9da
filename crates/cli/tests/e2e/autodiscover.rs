//! `test-server --autodiscover` and `endpoint new --autodiscover` against real servers on
//! loopback: dnsmasq serving the test zone (SRV, MX, A records), the python HTTPS fixture
//! serving autoconfig and Autodiscover POX with a certificate of the test CA, and Dovecot
//! with a certificate of that CA (or a self-signed one). Every name is resolved by the
//! test's dnsmasq (`--dns-server`), the IMAP host found included.

use serde_json::Value;

use crate::support::{
    AutodiscoverHttps, Cutover, Dnsmasq, Dovecot, DovecotOptions, TestCa, TlsFiles, Zone,
    autoconfig_xml, field, pox_xml,
};

const ALICE: &str = "alice@contoso.test";

fn tls_server(files: TlsFiles) -> Dovecot {
    Dovecot::start(
        "discover",
        DovecotOptions {
            tls: Some(files),
            ..DovecotOptions::default()
        },
    )
}

/// `test-server --autodiscover` with JSON output: the result, the exit code, stderr.
fn discover(
    cutover: &Cutover,
    dns: &Dnsmasq,
    email: &str,
    extra: &[&str],
    password_var: &str,
) -> (Value, i32, String) {
    let addr = dns.addr();
    let mut all = vec![
        "test-server",
        "--autodiscover",
        "--email",
        email,
        "--admin",
        "admin",
        "--password-env",
        password_var,
        "--dns-server",
        &addr,
        "--format",
        "json",
    ];
    all.extend_from_slice(extra);
    let out = cutover
        .command(&all)
        .env("WRONG_PASSWORD", "not-it")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{stderr}\ndnsmasq log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            dns.log()
        )
    });
    (json, out.status.code().unwrap_or(-1), stderr)
}

fn log_lines(r: &Value) -> Vec<String> {
    field(r, "DiscoveryLog")
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn srv_records_find_the_server_and_tls_is_checked_against_the_name_found() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mail.contoso.test", "imap.fabrikam.test"]));
    let zone = Zone::new()
        .host("mail.contoso.test")
        .host("imap.fabrikam.test")
        .srv(
            "_imaps._tcp.contoso.test",
            "mail.contoso.test",
            server.imaps_port(),
            10,
        )
        // only the STARTTLS service for fabrikam
        .srv(
            "_imap._tcp.fabrikam.test",
            "imap.fabrikam.test",
            server.port(),
            10,
        );
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let base = ["--ca-file", ca_file.as_str(), "--mailbox", ALICE];

    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &base,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "Result"), "Success");
    assert_eq!(field(&r, "DiscoveryMethod"), "SRV");
    let settings = field(&r, "ConnectionSettings");
    assert_eq!(settings["RemoteServer"], "mail.contoso.test");
    assert_eq!(settings["Port"], server.imaps_port());
    assert_eq!(settings["Security"], "Tls");
    assert!(stderr.contains("SRV found mail.contoso.test"), "{stderr}");

    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@fabrikam.test",
        &base,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    let settings = field(&r, "ConnectionSettings");
    assert_eq!(settings["RemoteServer"], "imap.fabrikam.test");
    assert_eq!(settings["Security"], "StartTls");
    let log = log_lines(&r);
    assert!(
        log[0].contains("_imaps._tcp.fabrikam.test: no record")
            && log[0].contains("_imap._tcp.fabrikam.test: imap.fabrikam.test"),
        "{log:?}"
    );
    // Testing stores nothing.
    assert!(!cutover.state_path().exists());

    // endpoint new uses the same discovery, and stores what it found.
    let addr = dns.addr();
    cutover.ok(&[
        "endpoint",
        "new",
        "--name",
        "CutoverEndpoint",
        "--autodiscover",
        "--email",
        "admin@contoso.test",
        "--admin",
        "admin",
        "--password-env",
        "SRC_ADMIN_PASSWORD",
        "--dns-server",
        &addr,
        "--ca-file",
        &ca_file,
        "--test-mailbox",
        ALICE,
    ]);
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "RemoteServer"), "mail.contoso.test");
    assert_eq!(field(&endpoint, "Port"), server.imaps_port());
    assert_eq!(field(&endpoint, "UseAutoDiscover"), true);
    assert_eq!(field(&endpoint, "DiscoveryMethod"), "SRV");
    assert_eq!(
        field(&endpoint, "DiscoveryEmailAddress"),
        "admin@contoso.test"
    );
    // A server typed by hand replaces the discovered settings.
    let changed = cutover.json(&[
        "endpoint",
        "set",
        "CutoverEndpoint",
        "--server",
        "127.0.0.1",
        "--skip-verification",
    ]);
    assert_eq!(field(&changed, "UseAutoDiscover"), false);
    assert_eq!(field(&changed, "DiscoveryMethod"), &Value::Null);
}

#[test]
fn autoconfig_answers_when_no_srv_record_exists_at_either_place() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mail.contoso.test"]));
    let https =
        AutodiscoverHttps::start(&ca.server("web", &["autoconfig.contoso.test", "fabrikam.test"]));
    https.serve(
        "autoconfig.contoso.test",
        "/mail/config-v1.1.xml",
        &autoconfig_xml("mail.contoso.test", server.imaps_port(), "SSL"),
    );
    // fabrikam has no autoconfig host: its document is at the domain's .well-known.
    https.serve(
        "fabrikam.test",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        &autoconfig_xml("mail.contoso.test", server.port(), "STARTTLS"),
    );
    let zone = Zone::new()
        .host("mail.contoso.test")
        .host("autoconfig.contoso.test")
        .host("fabrikam.test");
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = https.port().to_string();
    let args = [
        "--ca-file",
        ca_file.as_str(),
        "--mailbox",
        ALICE,
        "--autodiscover-port",
        port.as_str(),
    ];

    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "Autoconfig");
    assert_eq!(field(&r, "ConnectionSettings")["Port"], server.imaps_port());
    let log = log_lines(&r);
    assert!(
        log[0].starts_with("SRV: ") && log[0].contains("no record"),
        "{log:?}"
    );
    assert!(stderr.contains("(SRV found nothing)"), "{stderr}");

    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@fabrikam.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "Autoconfig");
    assert_eq!(field(&r, "ConnectionSettings")["Security"], "StartTls");
    let log = log_lines(&r);
    assert!(
        log[1].contains("autoconfig.fabrikam.test: no address")
            && log[1].contains("/.well-known/autoconfig/mail/config-v1.1.xml"),
        "{log:?}"
    );
}

#[test]
fn autodiscover_pox_answers_with_the_admins_login_and_through_the_srv_redirect() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mail.contoso.test"]));
    let https = AutodiscoverHttps::start(
        &ca.server("web", &["autodiscover.contoso.test", "ad.fabrikam.test"]),
    );
    const POX: &str = "/autodiscover/autodiscover.xml";
    https.serve(
        "autodiscover.contoso.test",
        POX,
        &pox_xml("mail.contoso.test", server.imaps_port(), "SSL"),
    );
    https.serve(
        "ad.fabrikam.test",
        POX,
        &pox_xml("mail.contoso.test", server.port(), "TLS"),
    );
    let zone = Zone::new()
        .host("mail.contoso.test")
        .host("autodiscover.contoso.test")
        .host("ad.fabrikam.test")
        .srv(
            "_autodiscover._tcp.fabrikam.test",
            "ad.fabrikam.test",
            https.port(),
            0,
        );
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = https.port().to_string();
    let args = [
        "--ca-file",
        ca_file.as_str(),
        "--mailbox",
        ALICE,
        "--autodiscover-port",
        port.as_str(),
    ];

    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "Autodiscover");
    assert_eq!(field(&r, "ConnectionSettings")["Security"], "Tls");
    let log = log_lines(&r);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[1].contains("autoconfig.contoso.test: no address"),
        "{log:?}"
    );

    // Through the _autodiscover._tcp SRV record, to a host with its own port.
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@fabrikam.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "Autodiscover");
    assert_eq!(field(&r, "ConnectionSettings")["Security"], "StartTls");
    let log = log_lines(&r);
    assert!(
        log[2].contains("autodiscover.fabrikam.test: no address")
            && log[2].contains("_autodiscover._tcp.fabrikam.test: https://ad.fabrikam.test:"),
        "{log:?}"
    );

    // Autodiscover wants the admin's login: a wrong password finds nothing there.
    let (r, code, _) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "WRONG_PASSWORD",
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(field(&r, "FailedStep"), "Autodiscover");
    let log = log_lines(&r);
    assert!(
        log[2].contains("401") && log[2].contains("password was refused"),
        "{log:?}"
    );
    assert!(
        !r.to_string().contains("not-it"),
        "a password in the output"
    );
}

#[test]
fn host_names_guessed_from_mx_are_tried_last() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mx.contoso.test"]));
    let zone = Zone::new()
        .host("mx.contoso.test")
        .mx("contoso.test", "mx.contoso.test", 10);
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    // The guessed host's IMAP port is not 993 here: --port says which port to try.
    let port = server.imaps_port().to_string();
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &[
            "--ca-file",
            &ca_file,
            "--mailbox",
            ALICE,
            "--port",
            &port,
            "--security",
            "tls",
            "--autodiscover-port",
            "1",
        ],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "MxGuess");
    assert_eq!(
        field(&r, "ConnectionSettings")["RemoteServer"],
        "mx.contoso.test"
    );
    let log = log_lines(&r);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(
        log[3].contains("imap.contoso.test: no address")
            && log[3].contains("mx.contoso.test: port"),
        "{log:?}"
    );
}

#[test]
fn discovery_failures_say_which_step_failed_and_why() {
    let ca = TestCa::new();
    let trusted = tls_server(ca.server("mail", &["mail.contoso.test"]));
    let self_signed = tls_server(ca.self_signed("self"));
    // An autoconfig server with a certificate nobody trusts: skipped with the reason.
    let https = AutodiscoverHttps::start(&ca.self_signed("web"));
    https.serve(
        "autoconfig.fabrikam.test",
        "/mail/config-v1.1.xml",
        &autoconfig_xml("mail.contoso.test", trusted.imaps_port(), "SSL"),
    );
    let zone = Zone::new()
        .host("mail.contoso.test")
        .host("self.tailspin.test")
        .host("autoconfig.fabrikam.test")
        .host("other.wingtip.test")
        // the trusted server, under a name its certificate does not hold
        .srv(
            "_imaps._tcp.wingtip.test",
            "other.wingtip.test",
            trusted.imaps_port(),
            0,
        )
        .srv(
            "_imaps._tcp.contoso.test",
            "mail.contoso.test",
            trusted.imaps_port(),
            0,
        )
        .srv(
            "_imaps._tcp.tailspin.test",
            "self.tailspin.test",
            self_signed.imaps_port(),
            0,
        );
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = https.port().to_string();

    // untrusted certificate on the IMAP server found
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@tailspin.test",
        &["--ca-file", &ca_file, "--mailbox", ALICE],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Connect")),
        "{r:#}"
    );
    assert!(
        field(&r, "Message")
            .as_str()
            .unwrap()
            .contains("not trusted"),
        "{r:#}\n{stderr}"
    );

    // TLS is checked against the name found, not the address it resolved to
    let (r, code, _) = discover(
        &cutover,
        &dns,
        "admin@wingtip.test",
        &["--ca-file", &ca_file, "--mailbox", ALICE],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Connect")),
        "{r:#}"
    );
    let message = field(&r, "Message").as_str().unwrap();
    assert!(
        message.contains("does not match the host name \"other.wingtip.test\""),
        "{message}"
    );

    // wrong password, and an admin without rights on the mailbox
    let base = ["--ca-file", ca_file.as_str(), "--mailbox"];
    let mut args = base.to_vec();
    args.push(ALICE);
    let (r, code, _) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "WRONG_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Login")),
        "{r:#}"
    );
    let mut args = base.to_vec();
    args.push("nobody@contoso.test");
    let (r, code, _) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Login")),
        "{r:#}"
    );
    assert!(
        field(&r, "Message")
            .as_str()
            .unwrap()
            .contains("nobody@contoso.test")
    );

    // no record anywhere (the autoconfig server is there but not trusted)
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@fabrikam.test",
        &["--ca-file", &ca_file, "--autodiscover-port", &port],
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(
        (code, field(&r, "FailedStep").as_str()),
        (1, Some("Autodiscover")),
        "{r:#}"
    );
    assert_eq!(field(&r, "ConnectionSettings"), &Value::Null);
    let log = log_lines(&r);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log[1].to_lowercase().contains("certificate"), "{log:?}");
    assert!(log[3].contains("fabrikam.test: no MX record"), "{log:?}");
    assert!(
        stderr.contains("no method found an IMAP server for admin@fabrikam.test"),
        "{stderr}"
    );
}

/// An Autodiscover answer that sends the admin elsewhere: `redirectUrl`.
fn pox_redirect_url(url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <Action>redirectUrl</Action>
      <RedirectUrl>{url}</RedirectUrl>
    </Account>
  </Response>
</Autodiscover>"#
    )
}

/// Autodiscover sends the admin's login only to hosts of the address's domain: a
/// `redirectUrl`, an `_autodiscover._tcp` SRV record or an HTTP 302 to a host of another
/// domain stops discovery there, without a request to that host, and the output names
/// the host and `--allow-redirect HOST`; with that option discovery goes on there.
#[test]
fn autodiscover_sends_the_admins_login_to_another_domain_only_when_allowed() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["store.contoso.test"]));
    let https = AutodiscoverHttps::start(&ca.server(
        "web",
        &[
            "autodiscover.contoso.test",
            "autodiscover.wingtip.test",
            "ad.hoster.test",
        ],
    ));
    const POX: &str = "/autodiscover/autodiscover.xml";
    let hoster = format!("https://ad.hoster.test:{}{POX}", https.port());
    // contoso: its own Autodiscover answers redirectUrl to the hoster.
    https.serve("autodiscover.contoso.test", POX, &pox_redirect_url(&hoster));
    // wingtip: its own Autodiscover answers HTTP 302 to the hoster.
    https.redirect("autodiscover.wingtip.test", POX, &hoster);
    // fabrikam: no Autodiscover host of its own, an SRV record names the hoster.
    https.serve(
        "ad.hoster.test",
        POX,
        &pox_xml("store.contoso.test", server.imaps_port(), "SSL"),
    );
    let zone = Zone::new()
        .host("store.contoso.test")
        .host("autodiscover.contoso.test")
        .host("autodiscover.wingtip.test")
        .host("ad.hoster.test")
        .srv(
            "_autodiscover._tcp.fabrikam.test",
            "ad.hoster.test",
            https.port(),
            0,
        );
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = https.port().to_string();
    let args = [
        "--ca-file",
        ca_file.as_str(),
        "--mailbox",
        ALICE,
        "--autodiscover-port",
        port.as_str(),
    ];
    let mut allowed = args.to_vec();
    allowed.extend(["--allow-redirect", "AD.Hoster.test"]);

    for (email, first_host, how) in [
        (
            "admin@contoso.test",
            "autodiscover.contoso.test",
            "redirectUrl",
        ),
        ("admin@fabrikam.test", "", "SRV"),
        (
            "admin@wingtip.test",
            "autodiscover.wingtip.test",
            "HTTP 302",
        ),
    ] {
        let seen = https.requests().len();
        let (r, code, stderr) = discover(&cutover, &dns, email, &args, "SRC_ADMIN_PASSWORD");
        assert_eq!(code, 1, "{how}: {r:#}\n{stderr}");
        assert_eq!(field(&r, "FailedStep"), "Autodiscover", "{how}: {r:#}");
        let requests = https.requests()[seen..].to_vec();
        // Not a single request reached the hoster: neither the login nor the address.
        assert!(
            requests.iter().all(|q| q.host != "ad.hoster.test"),
            "{how}: {requests:?}"
        );
        // The domain's own Autodiscover host did get the login, as before.
        if !first_host.is_empty() {
            assert!(
                requests
                    .iter()
                    .any(|q| q.host == first_host && q.method == "POST" && q.authorization),
                "{how}: {requests:?}"
            );
        }
        // The output says which host asked and how to allow it.
        let message = field(&r, "Message").as_str().unwrap();
        let log = log_lines(&r).join("\n");
        for text in [message, log.as_str(), stderr.as_str()] {
            assert!(
                text.contains("ad.hoster.test") && text.contains("--allow-redirect ad.hoster.test"),
                "{how}: {text}"
            );
        }

        // Allowed by name (any case): discovery goes on at the hoster, with the login.
        let seen = https.requests().len();
        let (r, code, stderr) = discover(&cutover, &dns, email, &allowed, "SRC_ADMIN_PASSWORD");
        assert_eq!(code, 0, "{how}: {r:#}\n{stderr}");
        assert_eq!(field(&r, "DiscoveryMethod"), "Autodiscover", "{how}");
        assert_eq!(
            field(&r, "ConnectionSettings")["RemoteServer"],
            "store.contoso.test"
        );
        let requests = https.requests()[seen..].to_vec();
        assert!(
            requests
                .iter()
                .any(|q| q.host == "ad.hoster.test" && q.method == "POST" && q.authorization),
            "{how}: {requests:?}"
        );
    }

    // endpoint new refuses the same way, and takes the same option.
    let addr = dns.addr();
    let endpoint = |extra: &[&str]| {
        let mut all = vec![
            "endpoint",
            "new",
            "--name",
            "CutoverEndpoint",
            "--autodiscover",
            "--email",
            "admin@contoso.test",
            "--admin",
            "admin",
            "--password-env",
            "SRC_ADMIN_PASSWORD",
            "--dns-server",
            &addr,
            "--ca-file",
            &ca_file,
            "--autodiscover-port",
            &port,
            "--test-mailbox",
            ALICE,
        ];
        all.extend_from_slice(extra);
        cutover.run(&all)
    };
    let out = endpoint(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--allow-redirect ad.hoster.test"),
        "{stderr}"
    );
    let out = endpoint(&["--allow-redirect", "ad.hoster.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&stored, "RemoteServer"), "store.contoso.test");
}

/// Settings published without TLS (autoconfig `plain`) are not used with the admin's
/// password unless `--allow-plaintext` says so.
#[test]
fn settings_without_tls_are_used_only_with_allow_plaintext() {
    let ca = TestCa::new();
    let server = tls_server(ca.server("mail", &["mail.contoso.test"]));
    let https = AutodiscoverHttps::start(&ca.server("web", &["autoconfig.contoso.test"]));
    https.serve(
        "autoconfig.contoso.test",
        "/mail/config-v1.1.xml",
        &autoconfig_xml("mail.contoso.test", server.port(), "plain"),
    );
    let zone = Zone::new()
        .host("mail.contoso.test")
        .host("autoconfig.contoso.test");
    let dns = Dnsmasq::start(&zone);
    let cutover = Cutover::new();
    let ca_file = ca.cert.display().to_string();
    let port = https.port().to_string();
    // Guessed hosts are tried on a closed port: only autoconfig can find the server.
    let args = [
        "--ca-file",
        ca_file.as_str(),
        "--mailbox",
        ALICE,
        "--autodiscover-port",
        port.as_str(),
        "--port",
        "1",
        "--security",
        "tls",
    ];
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &args,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 1, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "FailedStep"), "Autodiscover");
    let message = field(&r, "Message").as_str().unwrap();
    assert!(
        message.contains(&format!(
            "mail.contoso.test:{} offers IMAP without TLS",
            server.port()
        )) && message.contains("--allow-plaintext"),
        "{message}"
    );

    let mut allowed = args.to_vec();
    allowed.push("--allow-plaintext");
    let (r, code, stderr) = discover(
        &cutover,
        &dns,
        "admin@contoso.test",
        &allowed,
        "SRC_ADMIN_PASSWORD",
    );
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(field(&r, "DiscoveryMethod"), "Autoconfig");
    assert_eq!(field(&r, "ConnectionSettings")["Security"], "None");
}
