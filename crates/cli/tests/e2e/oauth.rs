//! OAuth 2.0 sign-in (XOAUTH2 / OAUTHBEARER) against a real Dovecot whose `oauth2` passdb
//! validates tokens at the scripted identity provider of `support::idp`, which issues
//! short-lived tokens the way Google's and Microsoft's token endpoints do.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Cut, Cutover, CuttingProxy, Direction, Dovecot, DovecotOptions, Idp, IdpOptions, Serve, TestCa,
    assert_same_mailbox, field, fill_realistic_mailbox, start_pair,
};

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";
const CAROL: &str = "carol@contoso.test";
const SERVICE_ACCOUNT: &str = "migrator@cutover-test.iam.gserviceaccount.com";
const CLIENT_ID: &str = "6f1c2a7e-0000-4000-8000-00000000c0de";
const CLIENT_SECRET: &str = "cs~Zq8Q~very-secret-value-0123456789";

/// An RSA key pair and a self-signed certificate of it, made by openssl.
struct Keys {
    private_pem: String,
    public_pem: String,
    /// Certificate and private key in one PEM (what `--certificate-file` takes).
    cert_and_key: String,
    /// The certificate's SHA-256 thumbprint, base64url (the `x5t#S256` header).
    thumbprint: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keys(dir: &Path) -> Keys {
    use base64::Engine as _;
    use sha2::Digest as _;
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=cutover-test",
            "-days",
            "2",
            "-out",
            "cert.pem",
        ],
    );
    openssl(
        dir,
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
    );
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let der = std::fs::read(dir.join("cert.der")).unwrap();
    Keys {
        private_pem: read("key.pem"),
        public_pem: read("pub.pem"),
        cert_and_key: read("cert.pem") + &read("key.pem"),
        thumbprint: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(&der)),
    }
}

/// A Google service account's JSON key file, as the Cloud console makes it.
fn service_account_key(cutover: &Cutover, keys: &Keys, token_url: &str) -> String {
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "cutover-test",
        "private_key_id": "0123456789abcdef",
        "private_key": keys.private_pem,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "104729000000000000001",
        "token_uri": token_url,
    });
    cutover.write("service-account.json", &key.to_string())
}

fn idp(users: &[&str], keys: &Keys, lifetime_secs: u64) -> Idp {
    Idp::start(idp_options(users, keys, lifetime_secs))
}

fn idp_options(users: &[&str], keys: &Keys, lifetime_secs: u64) -> IdpOptions {
    IdpOptions {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        certificate: Some((keys.public_pem.clone(), keys.thumbprint.clone())),
        service_account: Some((SERVICE_ACCOUNT.into(), keys.public_pem.clone())),
        users: users.iter().map(|u| u.to_string()).collect(),
        lifetime_secs,
        tls: None,
    }
}

/// A source with password logins and a target that takes only the identity provider's
/// tokens for its users (its master user is never used).
fn servers(users: &[&str], idp: &Idp) -> (Dovecot, Dovecot) {
    let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    start_pair(
        DovecotOptions {
            users: users.clone(),
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users,
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
    )
}

fn endpoint_new(cutover: &Cutover, src: &Dovecot) {
    let port = src.port().to_string();
    cutover.ok(&[
        "endpoint",
        "new",
        "--name",
        "CutoverEndpoint",
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
        "--test-mailbox",
        ALICE,
    ]);
}

/// Nothing secret in `text`: no token the provider issued, no piece of the private key,
/// not the client secret.
fn assert_no_secrets(what: &str, text: &str, idp: &Idp, keys: &Keys) {
    let key_line = keys
        .private_pem
        .lines()
        .nth(3)
        .expect("a PEM body line")
        .to_string();
    for token in idp.issued_tokens() {
        assert!(!text.contains(&token), "{what} holds an access token");
    }
    assert!(!text.contains(&key_line), "{what} holds the private key");
    assert!(
        !text.contains(CLIENT_SECRET),
        "{what} holds the client secret"
    );
}

/// Waits until the batch's last sync is later than `after` and the batch is Synced.
fn wait_synced(cutover: &Cutover, serve: &Serve, after: &Value, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let b = cutover.json(&["batch", "get", "CutoverBatch"]);
        if b["Status"] == "Synced" && b["LastSyncedDateTime"] != *after {
            return b;
        }
        assert!(
            Instant::now() < deadline && b["Status"] != "SyncedWithErrors",
            "the batch did not sync again: {b:#}\n{:#}\n{}",
            cutover.json(&["user", "get"]),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_google_service_account_migrates_exactly_and_a_long_running_service_refreshes_its_tokens() {
    let users = [ALICE, BOB];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    // Tokens that live 3 seconds: every pass after the first needs new ones.
    let idp = idp(&users, &keys, 3);
    let (src, dst) = servers(&users, &idp);
    fill_realistic_mailbox(&src, ALICE, 30, 11, false);
    fill_realistic_mailbox(&src, BOB, 20, 12, false);
    for u in users {
        src.index(u);
    }
    endpoint_new(&cutover, &src);
    let key_file = service_account_key(&cutover, &keys, &idp.token_url());
    let dst_port = dst.port().to_string();
    let target = cutover.json(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &dst_port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "google",
        "--service-account-key",
        &key_file,
        "--test-mailbox",
        ALICE,
    ]);
    assert_eq!(field(&target, "Authentication"), "OAuth");
    assert_eq!(field(&target, "OAuthProvider"), "google");
    assert_eq!(field(&target, "ClientId"), SERVICE_ACCOUNT);
    assert_eq!(field(&target, "TokenUrl"), idp.token_url().as_str());
    // target set tested the token of the test mailbox.
    assert_eq!(idp.grants_for(ALICE), 1);

    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let serve = cutover.serve(&[], &[("CUTOVER_LOG", "debug,sqlx=warn,hyper=info")]);
    let first = wait_synced(&cutover, &serve, &Value::Null, Duration::from_secs(120));
    for u in users {
        assert_same_mailbox(&src, &dst, u);
        assert_eq!(idp.grants_for(u), if u == ALICE { 2 } else { 1 }, "{u}");
    }

    // The tokens expired: the next pass asks for new ones ahead of use (none refused).
    std::thread::sleep(Duration::from_secs(4));
    // From now on tokens die after 10 seconds while announcing an hour (long enough for
    // Dovecot's delays after a failed login, which it adds before the next one).
    idp.tokens_die_early(10, 3600);
    fill_realistic_mailbox(&src, ALICE, 5, 21, false);
    src.index(ALICE);
    let refused_before = idp.introspections().iter().filter(|i| !i.active).count();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let second = wait_synced(
        &cutover,
        &serve,
        &first["LastSyncedDateTime"],
        Duration::from_secs(120),
    );
    assert_eq!(field(&second, "FailedCount"), 0, "{second:#}");
    assert_eq!(idp.grants_for(ALICE), 3);
    assert_eq!(idp.grants_for(BOB), 2);
    assert_eq!(
        idp.introspections().iter().filter(|i| !i.active).count(),
        refused_before,
        "a token was used after it expired"
    );

    // The cached tokens look good for an hour but are dead: Dovecot refuses them, and
    // each login asks once for a fresh token and goes on.
    std::thread::sleep(Duration::from_secs(11));
    // New mail for both (a mailbox where nothing changed would end at a glance at the
    // source, without a target login).
    fill_realistic_mailbox(&src, BOB, 5, 22, false);
    src.index(BOB);
    fill_realistic_mailbox(&src, ALICE, 3, 23, false);
    src.index(ALICE);
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let third = wait_synced(
        &cutover,
        &serve,
        &second["LastSyncedDateTime"],
        Duration::from_secs(120),
    );
    assert_eq!(
        field(&third, "FailedCount"),
        0,
        "{third:#}\n{}",
        serve.log()
    );
    assert_eq!(idp.grants_for(ALICE), 4);
    assert_eq!(idp.grants_for(BOB), 3);
    let refused = idp.introspections().iter().filter(|i| !i.active).count();
    assert_eq!(refused - refused_before, 2, "one refused token per user");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    let log = serve.log();
    drop(serve);

    assert!(
        log.contains("got a token"),
        "the service logs its token requests:\n{log}"
    );
    assert_no_secrets("the service's debug log", &log, &idp, &keys);
    let state = std::fs::read(cutover.state_path()).unwrap();
    assert_no_secrets(
        "the state database",
        &String::from_utf8_lossy(&state),
        &idp,
        &keys,
    );
    let dump = cutover.ok(&["state", "dump"]);
    assert_no_secrets("the state dump", &dump, &idp, &keys);
}

#[test]
fn a_revoked_client_secret_fails_the_users_with_the_providers_error_and_no_retry_storm() {
    let users = [ALICE, BOB, CAROL];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    let idp = idp(&users, &keys, 60);
    let (src, dst) = servers(&users, &idp);
    for (i, u) in users.iter().enumerate() {
        fill_realistic_mailbox(&src, u, 10, 30 + i as u64, false);
        src.index(u);
    }
    endpoint_new(&cutover, &src);
    let secret_file = cutover.write("client-secret", &format!("{CLIENT_SECRET}\n"));
    let dst_port = dst.port().to_string();
    let token_url = idp.token_url();
    // The generic profile: a token per mailbox, named in the scope.
    cutover.ok(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &dst_port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "generic",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &secret_file,
        "--scope",
        "mail:{user}",
        "--test-mailbox",
        ALICE,
    ]);
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
        assert_eq!(idp.grants_for(u), if u == ALICE { 2 } else { 1 }, "{u}");
    }

    // The secret is deleted at the provider; a new process has no cached token.
    idp.revoke_client_secret();
    let before = idp.grants().len();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "debug,sqlx=warn")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    cutover.check_state();
    let refused: Vec<_> = idp.grants().into_iter().skip(before).collect();
    assert_eq!(
        refused.len(),
        1,
        "one token request for the application, not one per user or login: {refused:?}\n{log}"
    );
    assert_eq!(refused[0].error.as_deref(), Some("invalid_client"));
    for u in users {
        let user = cutover.json(&["user", "get", u]);
        assert_eq!(field(&user, "Status"), "Failed", "{user:#}");
        let summary = field(&user, "ErrorSummary")
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            summary.contains("invalid_client") && summary.contains("AADSTS7000215"),
            "{u}: {summary}"
        );
        assert!(summary.contains("--client-secret-file"), "{u}: {summary}");
    }
    assert_no_secrets("the pass's debug log", &log, &idp, &keys);
    // The admin stores a new secret; the next pass goes through.
    idp.rotate_client_secret("cs~the-new-secret");
    let new_secret = cutover.write("new-secret", "cs~the-new-secret\n");
    cutover.ok(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &dst_port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "generic",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &new_secret,
        "--scope",
        "mail:{user}",
        "--test-mailbox",
        ALICE,
    ]);
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "UsersFailed"), 0, "{run:#}");
    let state = std::fs::read(cutover.state_path()).unwrap();
    assert_no_secrets(
        "the state database",
        &String::from_utf8_lossy(&state),
        &idp,
        &keys,
    );
}

/// `test-server --auth oauth2 ...` against the OAuth target; JSON result and exit code.
fn test_server(cutover: &Cutover, dst: &Dovecot, args: &[&str]) -> (Value, i32, String) {
    let port = dst.port().to_string();
    let mut all = vec![
        "test-server",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let out = cutover.command(&all).output().unwrap();
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
fn test_server_says_which_oauth_step_failed_and_what_fixes_it() {
    let users = [ALICE];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    let idp = idp(&users, &keys, 60);
    let dst = Dovecot::start(
        "oauth",
        DovecotOptions {
            users: vec![ALICE.into()],
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
    );
    let secret = cutover.write("client-secret", CLIENT_SECRET);
    let wrong = cutover.write("wrong-secret", "not-the-secret");
    let cert = cutover.write("app-cert.pem", &keys.cert_and_key);
    let key_file = service_account_key(&cutover, &keys, &idp.token_url());
    let token_url = idp.token_url();
    let ms_url = idp.microsoft_token_url("contoso.onmicrosoft.com");

    // The generic profile, a token for the mailbox: logged in, INBOX opened.
    let (r, code, stderr) = test_server(
        &cutover,
        &dst,
        &[
            "--oauth-provider",
            "generic",
            "--token-url",
            &token_url,
            "--client-id",
            CLIENT_ID,
            "--client-secret-file",
            &secret,
            "--scope",
            "mail:{user}",
            "--mailbox",
            ALICE,
        ],
    );
    assert_eq!(
        (field(&r, "Result"), code),
        (&Value::from("Success"), 0),
        "{r:#}\n{stderr}"
    );
    // Dovecot took the token after asking the provider about it.
    assert!(
        idp.introspections()
            .iter()
            .any(|i| i.active && i.email.as_deref() == Some(ALICE)),
        "{:?}",
        idp.introspections()
    );

    // Microsoft, a wrong client secret: the token request fails with the provider's code.
    let ms = |credential: &[&str]| {
        let mut args = vec![
            "--oauth-provider",
            "microsoft",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            CLIENT_ID,
            "--token-url",
            &ms_url,
            "--mailbox",
            ALICE,
        ];
        args.extend_from_slice(credential);
        test_server(&cutover, &dst, &args)
    };
    let (r, code, _) = ms(&["--client-secret-file", &wrong]);
    assert_eq!(code, 1);
    assert_eq!(field(&r, "FailedStep"), "TokenRequest", "{r:#}");
    let message = field(&r, "Message").as_str().unwrap().to_string();
    assert!(
        message.contains("invalid_client")
            && message.contains("AADSTS7000215")
            && message.contains("Certificates & secrets"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");

    // Microsoft with the right secret, and with the certificate: the provider issues the
    // application's token, which this server cannot bind to the mailbox, as Exchange
    // Online refuses it before the service principal has access: the SASL step fails with
    // the server's JSON error and the Exchange steps that fix it.
    for credential in [
        ["--client-secret-file", &secret],
        ["--certificate-file", &cert],
    ] {
        let before = idp.grants().len();
        let (r, code, _) = ms(&credential);
        assert_eq!(code, 1);
        assert_eq!(field(&r, "FailedStep"), "Login", "{credential:?}: {r:#}");
        let message = field(&r, "Message").as_str().unwrap().to_string();
        assert!(
            message.contains("the server's error:")
                && message.contains("New-ServicePrincipal")
                && message.contains("FullAccess"),
            "{message}"
        );
        let grants: Vec<_> = idp.grants().into_iter().skip(before).collect();
        assert!(
            !grants.is_empty() && grants.iter().all(|g| g.error.is_none()),
            "{grants:?}"
        );
    }
    assert!(
        idp.grants()
            .iter()
            .any(|g| g.kind == "client_assertion" && g.error.is_none()),
        "the certificate's signed assertion was accepted"
    );

    // Google, a mailbox that is no user of the domain: the provider says so.
    let (r, code, _) = test_server(
        &cutover,
        &dst,
        &[
            "--oauth-provider",
            "google",
            "--service-account-key",
            &key_file,
            "--mailbox",
            "nobody@contoso.test",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(field(&r, "FailedStep"), "TokenRequest", "{r:#}");
    let message = field(&r, "Message").as_str().unwrap().to_string();
    assert!(
        message.contains("invalid_grant") && message.contains("Invalid email or User ID"),
        "{message}"
    );

    // Bad input is named with what to do.
    let err = cutover.fails(&[
        "test-server",
        "--server",
        "127.0.0.1",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "microsoft",
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &secret,
    ]);
    assert!(err.contains("--tenant"), "{err}");
    let err = cutover.fails(&[
        "test-server",
        "--server",
        "127.0.0.1",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "generic",
        "--client-id",
        CLIENT_ID,
        "--token-url",
        "http://idp.example/token",
        "--client-secret-file",
        &secret,
    ]);
    assert!(err.contains("plain HTTP"), "{err}");
}

#[test]
fn the_cmdlets_make_an_oauth_endpoint_from_the_tested_settings() {
    let users = [ALICE];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    let idp = idp(&users, &keys, 60);
    // A source that takes the application's tokens.
    let src = Dovecot::start(
        "oauth-src",
        DovecotOptions {
            users: vec![ALICE.into()],
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
    );
    let secret = cutover.write("client-secret", CLIENT_SECRET);
    let script = format!(
        "$TSMA = Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port {port} -Security None `
            -EmailAddress {ALICE} -Authentication OAuth -OAuthProvider Generic -ApplicationId {CLIENT_ID} `
            -ClientSecretFile {secret} -TokenUrl {url} -Scope 'mail:{{user}}'
$TSMA | Format-List Result,FailedStep
New-MigrationEndpoint -IMAP -Name CutoverEndpoint -ConnectionSettings $TSMA.ConnectionSettings
Get-MigrationEndpoint CutoverEndpoint | Format-List Authentication,OAuthProvider,ClientId
Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port {port} -Security None `
    -EmailAddress {ALICE} -Authentication OAuth -OAuthProvider Microsoft -ApplicationId {CLIENT_ID} `
    -ClientSecretFile {secret}
",
        port = src.port(),
        url = idp.token_url(),
    );
    let path = cutover.write("oauth.ps1", &script);
    let out = cutover
        .command(&["ps", &path])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stdout.contains("Result     : Success") || stdout.contains("Result : Success"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("OAuthProvider") && stdout.contains("generic"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains(CLIENT_ID), "{stdout}");
    // Microsoft without its tenant: the cmdlet names its own parameter.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("-TenantId"), "{stderr}");
    assert!(!stdout.contains(CLIENT_SECRET) && !stderr.contains(CLIENT_SECRET));
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "Authentication"), "OAuth");
    assert_eq!(field(&endpoint, "ClientId"), CLIENT_ID);
    // The test and New-MigrationEndpoint's own test logged in with one token: the shell
    // keeps it while it lives.
    assert_eq!(idp.grants_for(ALICE), 1, "{:?}", idp.grants());
    let logins = idp.introspections().iter().filter(|i| i.active).count();
    assert_eq!(logins, 2, "{:?}", idp.introspections());
    // A rotated secret goes in with `endpoint set`, tested before it is stored.
    idp.rotate_client_secret("cs~rotated");
    let rotated = cutover.write("rotated", "cs~rotated\n");
    let err = cutover.fails(&[
        "endpoint",
        "set",
        "CutoverEndpoint",
        "--client-secret-file",
        &secret,
        "--test-mailbox",
        ALICE,
    ]);
    assert!(err.contains("invalid_client"), "{err}");
    cutover.ok(&[
        "endpoint",
        "set",
        "CutoverEndpoint",
        "--client-secret-file",
        &rotated,
        "--test-mailbox",
        ALICE,
    ]);
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "OAuthProvider"), "generic");
    // And with Set-MigrationEndpoint.
    idp.rotate_client_secret("cs~third");
    let third = cutover.write("third", "cs~third\n");
    let out = cutover
        .command(&[
            "ps",
            "-c",
            &format!("Set-MigrationEndpoint CutoverEndpoint -ClientSecretFile {third} -EmailAddress {ALICE}"),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(idp.grants_for(ALICE), 3, "{:?}", idp.grants());
    let logins = idp.introspections().iter().filter(|i| i.active).count();
    assert_eq!(logins, 4, "{:?}", idp.introspections());
}

#[test]
fn the_token_endpoint_is_reached_over_https_trusting_the_ca_file() {
    let users = [ALICE];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    let ca = TestCa::new();
    let idp = Idp::start(IdpOptions {
        tls: Some(ca.server("idp", &[])),
        ..idp_options(&users, &keys, 60)
    });
    let dst = Dovecot::start(
        "oauth-https",
        DovecotOptions {
            users: vec![ALICE.into()],
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
    );
    let key_file = service_account_key(&cutover, &keys, &idp.token_url());
    assert!(idp.token_url().starts_with("https://"));
    let google = [
        "--oauth-provider",
        "google",
        "--service-account-key",
        &key_file,
        "--mailbox",
        ALICE,
    ];
    // Without the private CA the provider's certificate is not trusted.
    let (r, code, _) = test_server(&cutover, &dst, &google);
    assert_eq!(code, 1);
    assert_eq!(field(&r, "FailedStep"), "TokenRequest", "{r:#}");
    let message = field(&r, "Message").as_str().unwrap().to_string();
    assert!(message.contains(&idp.token_url()), "{message}");
    assert!(
        message.to_ascii_lowercase().contains("certificate"),
        "{message}"
    );
    assert!(idp.grants().is_empty());
    // With it (--ca-file covers the IMAP server and the token endpoint): signed in.
    let ca_file = ca.cert.display().to_string();
    let mut trusted = google.to_vec();
    trusted.extend(["--ca-file", &ca_file]);
    let (r, code, stderr) = test_server(&cutover, &dst, &trusted);
    assert_eq!(
        (field(&r, "Result"), code),
        (&Value::from("Success"), 0),
        "{r:#}\n{stderr}"
    );
    assert_eq!(idp.grants_for(ALICE), 1);
}

#[test]
fn a_connection_lost_mid_pass_logs_in_again_with_a_fresh_token() {
    let users = [ALICE];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    // Tokens of 2 seconds: the pass's retry (after a 2 s back-off) outlives the first.
    let idp = idp(&users, &keys, 2);
    let (src, dst) = servers(&users, &idp);
    fill_realistic_mailbox(&src, ALICE, 40, 41, false);
    src.index(ALICE);
    // The target's connection 0 is target set's test; the pass's is cut in an APPEND.
    let proxy = CuttingProxy::start(
        dst.port(),
        vec![Cut {
            connection: 1,
            direction: Direction::ClientToServer,
            after_bytes: 30_000,
        }],
    );
    endpoint_new(&cutover, &src);
    let secret = cutover.write("client-secret", CLIENT_SECRET);
    let port = proxy.port().to_string();
    let token_url = idp.token_url();
    cutover.ok(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "generic",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &secret,
        "--scope",
        "mail:{user}",
        "--test-mailbox",
        ALICE,
    ]);
    cutover.start_batch(&[(ALICE, "", "")], &[]);
    let before = idp.grants_for(ALICE);
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "info,sqlx=warn")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    cutover.check_state();
    assert!(out.status.success(), "{log}");
    assert_eq!(proxy.cuts_done(), 1, "the proxy did not cut:\n{log}");
    assert!(log.contains("retrying the pass"), "{log}");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_same_mailbox(&src, &dst, ALICE);
    // The retry did not use the expired token: it asked for a new one first.
    assert_eq!(idp.grants_for(ALICE) - before, 2, "{:?}", idp.grants());
    assert!(
        idp.introspections().iter().all(|i| i.active),
        "a token was used after it expired: {:?}",
        idp.introspections()
    );
}

#[test]
fn a_migration_from_an_oauth_source_to_an_oauth_target_is_exact() {
    let users = [ALICE, BOB];
    let cutover = Cutover::new();
    let keys = keys(cutover.dir.path());
    let idp = idp(&users, &keys, 60);
    let both: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    let (src, dst) = start_pair(
        DovecotOptions {
            users: both.clone(),
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users: both,
            oauth2_introspection_url: Some(idp.introspection_url()),
            ..DovecotOptions::default()
        },
    );
    fill_realistic_mailbox(&src, ALICE, 25, 51, true);
    fill_realistic_mailbox(&src, BOB, 15, 52, false);
    for u in users {
        src.index(u);
    }
    // The source as a Google Workspace (service account), the target as a generic
    // provider's application.
    let key_file = service_account_key(&cutover, &keys, &idp.token_url());
    let src_port = src.port().to_string();
    let endpoint = cutover.json(&[
        "endpoint",
        "new",
        "--name",
        "CutoverEndpoint",
        "--server",
        "127.0.0.1",
        "--port",
        &src_port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "google",
        "--service-account-key",
        &key_file,
        "--test-mailbox",
        ALICE,
    ]);
    assert_eq!(field(&endpoint, "Authentication"), "OAuth");
    assert_eq!(field(&endpoint, "Username"), SERVICE_ACCOUNT);
    let secret = cutover.write("client-secret", CLIENT_SECRET);
    let dst_port = dst.port().to_string();
    let token_url = idp.token_url();
    cutover.ok(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &dst_port,
        "--security",
        "none",
        "--auth",
        "oauth2",
        "--oauth-provider",
        "generic",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        &secret,
        "--scope",
        "mail:{user}",
        "--test-mailbox",
        ALICE,
    ]);
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
        let kinds: Vec<&str> = idp
            .grants()
            .iter()
            .filter(|g| g.error.is_none() && g.subject.as_deref() == Some(u))
            .map(|g| g.kind)
            .collect();
        assert!(
            kinds.contains(&"jwt_bearer") && kinds.contains(&"client_secret"),
            "{u}: a token from each application: {kinds:?}"
        );
    }
}
