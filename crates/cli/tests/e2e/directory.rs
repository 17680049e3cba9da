//! The source organization's directory of an endpoint (issue 13), read over LDAP from
//! real servers: a private OpenLDAP `slapd` (the openldap profile, StartTLS with a
//! private CA, paged results past its 500-entry limit, a refused bind, an untrusted
//! certificate, a wrong base) and a private Samba AD DC with Exchange's attributes (the
//! active-directory profile: kinds, addresses, a group of more than 1,500 members read
//! by range, the security bit, a manager outside the organization). Both servers are
//! started once for the test binary.

use serde_json::Value;

use crate::support::{Cutover, SambaDc, Slapd};

const ENDPOINT: &str = "CutoverEndpoint";

/// An installation with an endpoint whose IMAP side is not tested (these tests are about
/// its directory).
fn with_endpoint() -> Cutover {
    let cutover = Cutover::new();
    cutover.ok(&[
        "endpoint",
        "new",
        "--name",
        ENDPOINT,
        "--server",
        "127.0.0.1",
        "--port",
        "143",
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "SRC_ADMIN_PASSWORD",
        "--skip-verification",
    ]);
    cutover
}

/// `endpoint set ENDPOINT` with the slapd's settings and `extra`; the bind password
/// from a file. Returns the command's output.
fn set_slapd(cutover: &Cutover, password: &str, extra: &[&str]) -> std::process::Output {
    let slapd = Slapd::shared();
    let pw = cutover.write("directory-password", &format!("{password}\n"));
    let url = slapd.url();
    let mut args = vec![
        "endpoint",
        "set",
        ENDPOINT,
        "--directory",
        &url,
        "--directory-bind",
        Slapd::READER,
        "--directory-password-file",
        &pw,
        "--directory-profile",
        "openldap",
    ];
    if !extra.contains(&"--directory-base") {
        args.extend(["--directory-base", Slapd::BASE]);
    }
    args.extend_from_slice(extra);
    cutover.run(&args)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn by_address<'a>(recipients: &'a [Value], address: &str) -> &'a Value {
    recipients
        .iter()
        .find(|r| r["PrimarySmtpAddress"] == address)
        .unwrap_or_else(|| panic!("no recipient {address} in {recipients:#?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn openldap_directory_over_starttls_lists_people_contacts_and_groups() {
    let slapd = Slapd::shared();
    let cutover = with_endpoint();
    let ca = slapd.ca_file.display().to_string();
    let out = set_slapd(
        &cutover,
        Slapd::READER_PASSWORD,
        &["--directory-starttls", "--directory-ca-file", &ca],
    );
    assert!(out.status.success(), "endpoint set: {}", stderr(&out));
    assert!(
        stderr(&out).contains("directory verified"),
        "{}",
        stderr(&out)
    );

    let endpoint = cutover.json(&["endpoint", "get", ENDPOINT]);
    assert_eq!(endpoint["Directory"], slapd.url());
    assert_eq!(endpoint["DirectoryBase"], Slapd::BASE);
    assert_eq!(endpoint["DirectoryBind"], Slapd::READER);
    assert_eq!(endpoint["DirectoryStartTls"], true);
    assert_eq!(endpoint["DirectoryProfile"], "openldap");
    let shown = cutover.ok(&["endpoint", "get", ENDPOINT, "--format", "list"]);
    assert!(shown.contains("DirectoryBase"), "{shown}");
    let state = std::fs::read(cutover.state_path()).unwrap();
    for text in [shown.as_bytes(), &state] {
        assert!(
            !text
                .windows(Slapd::READER_PASSWORD.len())
                .any(|w| w == Slapd::READER_PASSWORD.as_bytes()),
            "the bind password is in the clear"
        );
    }

    // 604 recipients: more than slapd gives one plain search (500), so paged.
    let all = cutover.json(&["directory", "get", ENDPOINT, "--members"]);
    let all = all.as_array().unwrap().clone();
    assert_eq!(
        all.len(),
        4 + Slapd::EXTRA_PEOPLE,
        "every person, the contact, the group"
    );
    let alice = by_address(&all, "alice@contoso.test");
    assert_eq!(alice["RecipientType"], "UserMailbox");
    assert_eq!(alice["Kind"], "Mailbox");
    assert_eq!(alice["Name"], "Alice Smith");
    assert_eq!(
        strings(&alice["EmailAddresses"]),
        ["asmith@contoso.test", "alice.smith@contoso.test"]
    );
    assert_eq!(alice["Manager"], "uid=bob,ou=people,dc=contoso,dc=test");
    assert_eq!(alice["UserPrincipalName"], "alice");
    let partner = by_address(&all, "partner@fabrikam.test");
    assert_eq!(partner["RecipientType"], "MailContact");
    let staff = by_address(&all, "staff@contoso.test");
    assert_eq!(staff["RecipientType"], "MailUniversalDistributionGroup");
    assert_eq!(staff["MemberCount"], 3);
    assert_eq!(
        strings(&staff["Members"]),
        [
            "uid=alice,ou=people,dc=contoso,dc=test",
            "uid=bob,ou=people,dc=contoso,dc=test",
            "cn=Partner Contact,ou=contacts,dc=contoso,dc=test"
        ]
    );
    assert!(all.iter().all(|r| r.get("Members").is_some()));

    let contacts = cutover.json(&["directory", "get", ENDPOINT, "--kind", "MailContact"]);
    assert_eq!(contacts.as_array().unwrap().len(), 1, "{contacts:#}");
    assert!(
        contacts[0].get("Members").is_none(),
        "members only when asked"
    );

    let tested = cutover.json(&["directory", "test", ENDPOINT]);
    assert_eq!(tested["Result"], "Success");
    assert_eq!(tested["Security"], "StartTls");
    assert_eq!(tested["Recipients"], 4 + Slapd::EXTRA_PEOPLE);
    assert_eq!(tested["Mailboxes"], 2 + Slapd::EXTRA_PEOPLE);
    assert_eq!(tested["MailContacts"], 1);
    assert_eq!(tested["DistributionGroups"], 1);

    // An attribute renamed: aliases not read at all.
    cutover.ok(&[
        "endpoint",
        "set",
        ENDPOINT,
        "--directory-attribute",
        "aliases=",
    ]);
    let alice = cutover.json(&["directory", "get", ENDPOINT, "--kind", "Mailbox"]);
    let alice = by_address(alice.as_array().unwrap(), "alice@contoso.test").clone();
    assert_eq!(alice["EmailAddresses"], Value::Array(vec![]));

    // The API shows the same.
    let serve = cutover.serve(&[], &[]);
    let groups = serve.get(&format!(
        "/api/v1/endpoints/{ENDPOINT}/directory?kind=DistributionGroup&members=true"
    ));
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups:#}");
    assert_eq!(groups[0]["MemberCount"], 3);
    let endpoint = serve.get(&format!("/api/v1/endpoints/{ENDPOINT}"));
    assert_eq!(endpoint["DirectoryProfile"], "openldap");
    let missing = serve.call("GET", "/api/v1/endpoints/Nope/directory", None);
    assert_eq!(missing.status, 404, "{missing:?}");
}

#[test]
fn a_refused_bind_names_the_server_and_the_bind_dn() {
    let slapd = Slapd::shared();
    let cutover = with_endpoint();
    let out = set_slapd(&cutover, "not-the-password", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("refused the bind"), "{err}");
    assert!(err.contains(Slapd::READER), "{err}");
    assert!(err.contains(&slapd.url()), "{err}");
    assert!(err.contains("invalidCredentials"), "{err}");
    assert!(err.contains("--directory-password-file"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    let endpoint = cutover.json(&["endpoint", "get", ENDPOINT]);
    assert!(
        endpoint.get("Directory").is_none(),
        "nothing stored: {endpoint:#}"
    );
}

#[test]
fn an_untrusted_certificate_asks_for_the_ca_file() {
    let slapd = Slapd::shared();
    let cutover = with_endpoint();
    let out = set_slapd(&cutover, Slapd::READER_PASSWORD, &["--directory-starttls"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not trusted"), "{err}");
    assert!(err.contains("--directory-ca-file"), "{err}");
    assert!(err.contains(&slapd.url()), "{err}");
}

#[test]
fn a_wrong_base_dn_is_named_with_what_the_server_has() {
    Slapd::shared();
    let cutover = with_endpoint();
    let out = set_slapd(
        &cutover,
        Slapd::READER_PASSWORD,
        &["--directory-base", "ou=nowhere,dc=contoso,dc=test"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("ou=nowhere,dc=contoso,dc=test"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("--directory-base"), "{err}");
}

/// `endpoint set ENDPOINT` with the Samba DC's settings and `extra`.
fn set_samba(cutover: &Cutover, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "endpoint",
        "set",
        ENDPOINT,
        "--directory-base",
        SambaDc::BASE,
        "--directory-bind",
        SambaDc::ADMIN,
        "--directory-password-env",
        "AD_PASSWORD",
    ];
    args.extend_from_slice(extra);
    cutover
        .command(&args)
        .env("AD_PASSWORD", SambaDc::ADMIN_PASSWORD)
        .output()
        .unwrap()
}

#[test]
fn active_directory_is_read_with_kinds_addresses_and_every_member() {
    let dc = SambaDc::shared();
    eprintln!(
        "the Samba AD DC took {:?} to provision, start and load",
        dc.startup
    );
    let cutover = with_endpoint();
    let out = set_samba(&cutover, &["--directory", SambaDc::URL]);
    assert!(
        out.status.success(),
        "endpoint set: {}\n{}",
        stderr(&out),
        dc.log()
    );

    let all = cutover.json(&["directory", "get", ENDPOINT, "--members"]);
    let all = all.as_array().unwrap().clone();
    let types: Vec<(String, String)> = all
        .iter()
        .map(|r| {
            (
                r["DistinguishedName"].as_str().unwrap().to_string(),
                r["RecipientType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Not the service account (no address), nor the boss (outside the base).
    assert_eq!(all.len(), 8, "{types:#?}");

    let alice = by_address(&all, "alice.smith@contoso.test");
    assert_eq!(alice["RecipientType"], "UserMailbox");
    assert_eq!(
        strings(&alice["EmailAddresses"]),
        ["alice@contoso.test", "asmith@contoso.test"]
    );
    assert_eq!(alice["UserPrincipalName"], "alice@contoso.test");
    assert_eq!(
        alice["Manager"],
        format!("CN=Outside Boss,OU=Elsewhere,{}", SambaDc::DOMAIN)
    );
    assert_eq!(
        strings(&alice["Delegates"]),
        [format!("CN=Bob Jones,{}", SambaDc::BASE)]
    );
    assert_eq!(alice["UMEnabled"], false);
    assert_eq!(alice["RecipientTypeDetails"], "1");

    let carol = by_address(&all, "carol@contoso.test");
    assert_eq!(carol["UMEnabled"], true);
    assert_eq!(carol["HiddenFromAddressListsEnabled"], true);

    let mallory = by_address(&all, "mallory@fabrikam.test");
    assert_eq!(mallory["RecipientType"], "MailUser");
    let partner = by_address(&all, "partner@fabrikam.test");
    assert_eq!(partner["RecipientType"], "MailContact");
    assert_eq!(
        by_address(&all, "bob@contoso.test")["RecipientType"],
        "UserMailbox"
    );

    let finance = by_address(&all, "finance@contoso.test");
    assert_eq!(finance["RecipientType"], "MailUniversalSecurityGroup");
    assert_eq!(finance["Kind"], "SecurityGroup");
    assert_eq!(finance["MemberCount"], 1);
    let printers = all
        .iter()
        .find(|r| r["DistinguishedName"] == format!("CN=Printers,{}", SambaDc::BASE))
        .expect("the security group without mail is listed");
    assert_eq!(printers["Kind"], "SecurityGroup");
    assert_eq!(printers["RecipientType"], "Group");
    assert_eq!(printers["PrimarySmtpAddress"], Value::Null);

    // More members than AD sends in one read: every one, read range by range.
    let everyone = by_address(&all, "everyone@contoso.test");
    assert_eq!(everyone["RecipientType"], "MailUniversalDistributionGroup");
    assert_eq!(strings(&everyone["EmailAddresses"]), ["all@contoso.test"]);
    let (_, planted) = SambaDc::everyone();
    assert_eq!(everyone["MemberCount"], planted.len());
    let mut got = strings(&everyone["Members"]);
    let mut want = planted.clone();
    got.sort_by_key(|m| m.to_lowercase());
    want.sort_by_key(|m| m.to_lowercase());
    let lower = |v: &[String]| v.iter().map(|m| m.to_lowercase()).collect::<Vec<_>>();
    assert_eq!(lower(&got), lower(&want));

    let security = cutover.json(&["directory", "get", ENDPOINT, "--kind", "SecurityGroup"]);
    assert_eq!(security.as_array().unwrap().len(), 2, "{security:#}");

    let tested = cutover.json(&["directory", "test", ENDPOINT]);
    assert_eq!(tested["Result"], "Success");
    assert_eq!(tested["Recipients"], 8);
    assert_eq!(tested["Mailboxes"], 3);
    assert_eq!(tested["MailUsers"], 1);
    assert_eq!(tested["MailContacts"], 1);
    assert_eq!(tested["DistributionGroups"], 1);
    assert_eq!(tested["SecurityGroups"], 2);
}

#[test]
fn active_directory_over_ldaps_with_a_private_ca() {
    let dc = SambaDc::shared();
    let cutover = with_endpoint();
    let ca = dc.ca_file.display().to_string();
    let out = set_samba(&cutover, &["--directory", SambaDc::LDAPS_URL]);
    assert_eq!(out.status.code(), Some(1), "untrusted: {}", stderr(&out));
    assert!(
        stderr(&out).contains("--directory-ca-file"),
        "{}",
        stderr(&out)
    );
    let out = set_samba(
        &cutover,
        &[
            "--directory",
            SambaDc::LDAPS_URL,
            "--directory-ca-file",
            &ca,
        ],
    );
    assert!(out.status.success(), "endpoint set: {}", stderr(&out));
    let tested = cutover.json(&["directory", "test", ENDPOINT]);
    assert_eq!(tested["Security"], "Tls");
    assert_eq!(tested["Recipients"], 8);
}

#[test]
fn endpoint_new_stores_a_directory_and_remove_directory_forgets_it() {
    let slapd = Slapd::shared();
    let cutover = Cutover::new();
    let url = slapd.url();
    let new = |extra: &[&str]| {
        let mut args = vec![
            "endpoint",
            "new",
            "--name",
            ENDPOINT,
            "--server",
            "127.0.0.1",
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "SRC_ADMIN_PASSWORD",
            "--skip-verification",
            "--directory",
            &url,
            "--directory-profile",
            "openldap",
        ];
        args.extend_from_slice(extra);
        cutover
            .command(&args)
            .env("LDAP_PASSWORD", Slapd::READER_PASSWORD)
            .output()
            .unwrap()
    };
    let out = new(&["--directory-password-env", "LDAP_PASSWORD"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--directory-base DN") && err.contains("--directory-bind DN"),
        "{err}"
    );
    let out = new(&[
        "--directory-base",
        Slapd::BASE,
        "--directory-bind",
        Slapd::READER,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--directory-password-env VAR"),
        "{}",
        stderr(&out)
    );
    assert!(
        cutover
            .json(&["endpoint", "get"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let out = new(&[
        "--directory-base",
        Slapd::BASE,
        "--directory-bind",
        Slapd::READER,
        "--directory-password-env",
        "LDAP_PASSWORD",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tested = cutover.json(&["directory", "test", ENDPOINT]);
    assert_eq!(tested["Security"], "None");
    assert_eq!(tested["Recipients"], 4 + Slapd::EXTRA_PEOPLE);
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("directory_password=<redacted>"), "{dump}");
    assert!(!dump.contains(Slapd::READER_PASSWORD), "{dump}");

    cutover.ok(&["endpoint", "set", ENDPOINT, "--remove-directory"]);
    let endpoint = cutover.json(&["endpoint", "get", ENDPOINT]);
    assert!(endpoint.get("Directory").is_none(), "{endpoint:#}");
    let err = cutover.fails(&["directory", "get", ENDPOINT]);
    assert!(err.contains("has no source directory"), "{err}");
    assert!(err.contains("--directory"), "{err}");
}
