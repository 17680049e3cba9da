//! Provisioning the target organization (issue 13): the Samba AD DC of `directory.rs`
//! as the source, and as the target an OpenLDAP that a target Dovecot authenticates
//! against ([`TargetOrganization`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{
    Cutover, Dovecot, DovecotOptions, SambaDc, Slapd, TargetOrganization, simple_message,
};

/// The fixture itself: a user whose entry exists logs in with the directory's
/// password; the password policy's lock stops that login (and only that: cutover's
/// master user still reaches the mailbox); removing the lock lets the user in again.
#[test]
fn the_target_dovecot_logs_in_the_directory_users_unless_locked() {
    let target = TargetOrganization::shared();
    let user = "fixture.lock@contoso.test";
    let dn = TargetOrganization::person_dn(user);
    target.directory.modify(&format!(
        "dn: {dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {user}\ncn: Fixture Lock\n\
         sn: Lock\nmail: {user}\nuserPassword: Secret.1\n"
    ));
    assert!(
        target.can_log_in(user, "Secret.1"),
        "{}",
        target.dovecot.log()
    );
    assert!(!target.can_log_in(user, "wrong"));
    assert!(!target.can_log_in("nobody@contoso.test", "Secret.1"));

    target.lock(&dn);
    assert!(
        !target.can_log_in(user, "Secret.1"),
        "a locked entry logged in: {}",
        target.directory.log()
    );
    assert!(!target.directory.can_bind(&dn, "Secret.1"));
    assert!(
        target.can_log_in(&format!("{user}*admin"), "adminpass"),
        "the master user: {}",
        target.dovecot.log()
    );

    target.unlock(&dn);
    assert!(target.can_log_in(user, "Secret.1"));
}

const ENDPOINT: &str = "CutoverEndpoint";
/// The provisioning test's own organization in the shared Samba DC (other tests read
/// other OUs): two mailboxes, a mail user, a contact, a distribution group with more
/// members than AD returns in one read, and a mail-enabled security group whose empty
/// counterpart the target holds (`staff@contoso.test`, see provisioning-target.ldif).
const BASE: &str = "OU=Provisioning,DC=contoso,DC=test";
/// Contacts in the big group, beside Pia: more than 1,500.
const MANY: usize = 1510;

fn dn(cn: &str) -> String {
    format!("CN={cn},{BASE}")
}

fn member_dn(i: usize) -> String {
    format!("CN=many{i:04},OU=Many,{BASE}")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plant_the_organization(dc: &SambaDc) {
    let mut ldif = format!(
        "dn: {BASE}\nchangetype: add\nobjectClass: organizationalUnit\n\n\
         dn: OU=Many,{BASE}\nchangetype: add\nobjectClass: organizationalUnit\n\n\
         dn: {pia}\nchangetype: add\nobjectClass: user\nsAMAccountName: pia\n\
         displayName: Pia Prov\nuserPrincipalName: pia@contoso.test\nmail: pia@contoso.test\n\
         proxyAddresses: SMTP:pia.prov@contoso.test\nproxyAddresses: smtp:pia@contoso.test\n\
         msExchRecipientTypeDetails: 1\n\n\
         dn: {quinn}\nchangetype: add\nobjectClass: user\nsAMAccountName: quinn\n\
         displayName: Quinn Prov\nuserPrincipalName: quinn@contoso.test\n\
         mail: quinn@contoso.test\nproxyAddresses: SMTP:quinn@contoso.test\n\
         msExchRecipientTypeDetails: 1\n\n\
         dn: {mia}\nchangetype: add\nobjectClass: user\nsAMAccountName: mia\n\
         displayName: Mia Mailuser\nuserPrincipalName: mia@contoso.test\n\
         mail: mia@fabrikam.test\ntargetAddress: SMTP:mia@fabrikam.test\n\
         msExchRecipientTypeDetails: 128\n\n\
         dn: {kim}\nchangetype: add\nobjectClass: contact\ndisplayName: Kim Contact\n\
         mail: kim@fabrikam.test\n\n",
        pia = dn("Pia Prov"),
        quinn = dn("Quinn Prov"),
        mia = dn("Mia Mailuser"),
        kim = dn("Kim Contact"),
    );
    for i in 0..MANY {
        ldif.push_str(&format!(
            "dn: {}\nchangetype: add\nobjectClass: contact\nmail: many{i:04}@fabrikam.test\n\n",
            member_dn(i)
        ));
    }
    ldif.push_str(&format!(
        "dn: {big}\nchangetype: add\nobjectClass: group\nsAMAccountName: provbig\ngroupType: 8\n\
         mail: big@contoso.test\nproxyAddresses: SMTP:big@contoso.test\nmember: {pia}\n",
        big = dn("Big"),
        pia = dn("Pia Prov"),
    ));
    for i in 0..MANY {
        ldif.push_str(&format!("member: {}\n", member_dn(i)));
    }
    ldif.push_str(&format!(
        "\ndn: {staff}\nchangetype: add\nobjectClass: group\nsAMAccountName: provstaff\n\
         groupType: -2147483640\nmail: staff@contoso.test\nproxyAddresses: SMTP:staff@contoso.test\n\
         member: {pia}\nmember: {quinn}\n",
        staff = dn("Staff"),
        pia = dn("Pia Prov"),
        quinn = dn("Quinn Prov"),
    ));
    dc.modify(&ldif);
}

/// `target set` to the target organization's Dovecot, its directory provisioned
/// (bound as the directory's admin, who may write).
fn provisioned_target(cutover: &Cutover, target: &TargetOrganization) {
    let port = target.dovecot.port().to_string();
    let ca = target.directory.ca_file.display().to_string();
    let url = target.directory.url();
    let out = cutover
        .command(&[
            "target",
            "set",
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "DST_ADMIN_PASSWORD",
            "--skip-verification",
            "--directory",
            &url,
            "--directory-starttls",
            "--directory-ca-file",
            &ca,
            "--directory-base",
            Slapd::BASE,
            "--directory-bind",
            Slapd::ADMIN,
            "--directory-password-env",
            "TARGET_LDAP_PASSWORD",
            "--directory-profile",
            "openldap",
            "--directory-provision",
        ])
        .env("TARGET_LDAP_PASSWORD", Slapd::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "target set: {}", stderr(&out));
}

/// `endpoint new` to the source Dovecot, reading the Samba DC under `base`.
fn endpoint(cutover: &Cutover, src: &Dovecot, base: &str) {
    let sp = src.port().to_string();
    let out = cutover
        .command(&[
            "endpoint",
            "new",
            "--name",
            ENDPOINT,
            "--server",
            "127.0.0.1",
            "--port",
            &sp,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "SRC_ADMIN_PASSWORD",
            "--skip-verification",
            "--directory",
            SambaDc::URL,
            "--directory-base",
            base,
            "--directory-bind",
            SambaDc::ADMIN,
            "--directory-password-env",
            "AD_PASSWORD",
        ])
        .env("AD_PASSWORD", SambaDc::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "endpoint new: {}", stderr(&out));
}

/// The rows of a passwords CSV (BOM, header, CRLF): address -> password.
fn passwords(path: &std::path::Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next(), Some("EmailAddress,Password"));
    lines
        .map(|l| {
            let (e, p) = l.split_once(',').expect("EmailAddress,Password");
            (e.to_string(), p.to_string())
        })
        .collect()
}

fn report(cutover: &Cutover, out: &std::path::Path) -> Value {
    let dir = out.display().to_string();
    cutover.json(&["batch", "report", "CutoverBatch", "--out", &dir])
}

fn members(target: &TargetOrganization, group: &str) -> BTreeSet<String> {
    let ldif = target
        .directory
        .search(Slapd::BASE, &format!("(mail={group})"), &["member"]);
    ldif.lines()
        .filter_map(|l| l.strip_prefix("member: "))
        .map(str::to_string)
        .collect()
}

/// The organization of the Samba AD DC becomes the target's: every user an entry of
/// the target's OpenLDAP whose ID and address are its primary SMTP address (its other
/// addresses aliases), the contact and the groups there with every member, and the
/// users log in to the target Dovecot with the passwords of the CSV, their mail copied.
/// A user added to the source between passes joins the batch and is provisioned, and
/// a changed alias and a new member follow.
#[test]
fn the_organization_is_provisioned_into_the_target_and_follows_the_source() {
    let dc = SambaDc::shared();
    let target = TargetOrganization::shared();
    plant_the_organization(dc);
    let src = Dovecot::start(
        "provisioning-src",
        DovecotOptions {
            users: vec![
                "pia@contoso.test".into(),
                "quinn@contoso.test".into(),
                "ray@contoso.test".into(),
            ],
            ..DovecotOptions::default()
        },
    );
    for (user, n) in [
        ("pia@contoso.test", 3),
        ("quinn@contoso.test", 2),
        ("ray@contoso.test", 1),
    ] {
        for i in 0..n {
            src.write_message(
                user,
                "INBOX",
                &simple_message(user, &format!("m{i}")),
                &["\\Seen"],
                1_700_000_000 + i,
            );
        }
        src.index(user);
    }

    let cutover = Cutover::new();
    provisioned_target(&cutover, target);
    endpoint(&cutover, &src, BASE);
    cutover.accept_domains(&["pia@contoso.test"]);
    let created = cutover.json(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        ENDPOINT,
        "--all-mailboxes",
    ]);
    // Pia, Quinn, Mia, Kim, the contacts of the big group, Big, Staff.
    assert_eq!(created["TotalCount"], 5 + MANY + 1, "{created:#}");
    let started = cutover.json(&["batch", "start", "CutoverBatch"]);
    assert_eq!(started["Status"], "Syncing", "{started:#}");

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");

    // Each user's entry: the primary SMTP address is its ID and address, the others
    // aliases; the mail is on the target under that ID.
    let pia = target.directory.search(
        TargetOrganization::PEOPLE,
        "(uid=pia.prov@contoso.test)",
        &["uid", "mail", "mailAlternateAddress"],
    );
    assert!(
        pia.contains("dn: uid=pia.prov@contoso.test,ou=people,dc=contoso,dc=test")
            && pia.contains("mail: pia.prov@contoso.test")
            && pia.contains("mailAlternateAddress: pia@contoso.test"),
        "{pia}"
    );
    let user = cutover.json(&["user", "get", "pia.prov@contoso.test"]);
    assert_eq!(user["Status"], "Synced", "{user:#}");
    assert_eq!(
        user["TargetDn"],
        "uid=pia.prov@contoso.test,ou=people,dc=contoso,dc=test"
    );
    assert!(user["ProvisionedDateTime"].is_string(), "{user:#}");
    for (from, to, n) in [
        ("pia@contoso.test", "pia.prov@contoso.test", 3),
        ("quinn@contoso.test", "quinn@contoso.test", 2),
    ] {
        // Newest first on the target: compared in order of arrival.
        let inbox = |mut m: Vec<crate::support::StoredMessage>| {
            m.sort_by_key(|m| m.internal_date);
            m
        };
        let source = inbox(src.mailbox(from).folders["INBOX"].clone());
        assert_eq!(source.len(), n);
        assert_eq!(
            inbox(target.dovecot.mailbox(to).folders["INBOX"].clone()),
            source,
            "{to}'s INBOX"
        );
    }
    let kim = cutover.json(&["user", "get", "kim@fabrikam.test"]);
    assert_eq!(kim["StatusDetail"], "Provisioned", "{kim:#}");
    let serve = cutover.serve(&[], &[]);
    let api = serve.get("/api/v1/users/kim@fabrikam.test");
    assert_eq!(api["StatusDetail"], "Provisioned", "{api:#}");
    assert_eq!(
        api["TargetDn"],
        "cn=kim@fabrikam.test,ou=contacts,dc=contoso,dc=test"
    );
    drop(serve);
    assert!(
        target
            .directory
            .search(Slapd::BASE, "(mail=kim@fabrikam.test)", &["uid"])
            .contains("dn: cn=kim@fabrikam.test,ou=contacts,dc=contoso,dc=test")
    );

    // The big group has every member; the pre-created security group got its two.
    let big = members(target, "big@contoso.test");
    assert_eq!(big.len(), MANY + 1);
    assert!(big.contains("uid=pia.prov@contoso.test,ou=people,dc=contoso,dc=test"));
    assert!(big.contains("cn=many1509@fabrikam.test,ou=contacts,dc=contoso,dc=test"));
    assert_eq!(
        members(target, "staff@contoso.test"),
        BTreeSet::from([
            "uid=pia.prov@contoso.test,ou=people,dc=contoso,dc=test".to_string(),
            "uid=quinn@contoso.test,ou=people,dc=contoso,dc=test".to_string(),
        ])
    );

    // The passwords: in a 0600 CSV beside the reports, once; they log the users in;
    // the state forgets them.
    let out = tempfile::tempdir().unwrap();
    let written = report(&cutover, out.path());
    assert_eq!(written["PasswordCount"], 3, "{written:#}");
    let file = std::path::PathBuf::from(written["PasswordsFile"].as_str().unwrap());
    assert_eq!(file.parent(), Some(out.path()));
    assert!(out.path().join("MigrationStatistics.csv").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = passwords(&file);
    assert_eq!(
        first.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "mia@fabrikam.test",
            "pia.prov@contoso.test",
            "quinn@contoso.test"
        ]
    );
    for (email, password) in &first {
        assert!(
            target.can_log_in(email, password),
            "{email} with the CSV's password: {}",
            target.dovecot.log()
        );
        assert!(!target.can_log_in(email, "wrong"));
    }
    let state = std::fs::read(cutover.state_path()).unwrap();
    for password in first.values() {
        assert!(
            !state
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "a password is in the state in the clear"
        );
    }
    let again = report(&cutover, out.path());
    assert_eq!(again["PasswordCount"], 0, "handed out once: {again:#}");

    // Between passes: Ray joins the source, Quinn gets an alias and joins Big.
    dc.modify(&format!(
        "dn: {ray}\nchangetype: add\nobjectClass: user\nsAMAccountName: ray\n\
         userPrincipalName: ray@contoso.test\nmail: ray@contoso.test\n\
         proxyAddresses: SMTP:ray@contoso.test\nmsExchRecipientTypeDetails: 1\n\n\
         dn: {quinn}\nchangetype: modify\nadd: proxyAddresses\nproxyAddresses: smtp:q@contoso.test\n\n\
         dn: {big}\nchangetype: modify\nadd: member\nmember: {quinn}\n",
        ray = dn("Ray New"),
        quinn = dn("Quinn Prov"),
        big = dn("Big"),
    ));
    let started = cutover.json(&["batch", "start", "CutoverBatch"]);
    assert_eq!(started["Status"], "Synced", "{started:#}");
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    let ray = cutover.json(&["user", "get", "ray@contoso.test"]);
    assert_eq!(ray["Status"], "Synced", "{ray:#}");
    assert_eq!(ray["RecipientType"], "UserMailbox");
    assert_eq!(
        target.dovecot.mailbox("ray@contoso.test").folders["INBOX"].len(),
        1
    );
    assert!(
        target
            .directory
            .search(
                TargetOrganization::PEOPLE,
                "(uid=quinn@contoso.test)",
                &["mailAlternateAddress"]
            )
            .contains("mailAlternateAddress: q@contoso.test")
    );
    let big = members(target, "big@contoso.test");
    assert_eq!(big.len(), MANY + 2);
    assert!(big.contains("uid=quinn@contoso.test,ou=people,dc=contoso,dc=test"));
    let written = report(&cutover, out.path());
    assert_eq!(written["PasswordCount"], 1, "{written:#}");
    let second = passwords(std::path::Path::new(
        written["PasswordsFile"].as_str().unwrap(),
    ));
    assert_eq!(second.keys().collect::<Vec<_>>(), ["ray@contoso.test"]);
    assert!(target.can_log_in("ray@contoso.test", &second["ray@contoso.test"]));
    // The first users' passwords did not change.
    assert!(target.can_log_in("quinn@contoso.test", &first["quinn@contoso.test"]));
}

/// A crash after a user's entry was written and before its initial password was set
/// on the target: the password was kept sealed before the write, so the next run sets
/// that same password, the CSV hands it out, the user logs in with it, and the entry
/// is there once.
#[test]
fn a_crash_before_the_password_is_set_leaves_no_user_without_one() {
    let dc = SambaDc::shared();
    let target = TargetOrganization::shared();
    let base = "OU=ProvisioningCrash,DC=contoso,DC=test";
    dc.modify(&format!(
        "dn: {base}\nchangetype: add\nobjectClass: organizationalUnit\n\n\
         dn: CN=Cleo Crash,{base}\nchangetype: add\nobjectClass: user\nsAMAccountName: cleo\n\
         userPrincipalName: cleo@contoso.test\nmail: cleo@contoso.test\n\
         proxyAddresses: SMTP:cleo@contoso.test\nmsExchRecipientTypeDetails: 1\n"
    ));
    let src = Dovecot::start(
        "provisioning-crash-src",
        DovecotOptions {
            users: vec!["cleo@contoso.test".into()],
            ..DovecotOptions::default()
        },
    );
    src.write_message(
        "cleo@contoso.test",
        "INBOX",
        &simple_message("cleo@contoso.test", "c0"),
        &[],
        1_700_000_000,
    );
    src.index("cleo@contoso.test");
    let cutover = Cutover::new();
    provisioned_target(&cutover, target);
    endpoint(&cutover, &src, base);
    cutover.accept_domains(&["cleo@contoso.test"]);
    cutover.ok(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        ENDPOINT,
        "--all-mailboxes",
    ]);
    cutover.ok(&["batch", "start", "CutoverBatch"]);

    crate::crash::kill_at(&cutover, "provision-after-write", 1);
    let dn = TargetOrganization::person_dn("cleo@contoso.test");
    let entry = target.directory.search(
        TargetOrganization::PEOPLE,
        "(uid=cleo@contoso.test)",
        &["userPassword"],
    );
    assert!(
        entry.contains(&format!("dn: {dn}")),
        "the write happened: {entry}"
    );
    assert!(
        !entry.contains("userPassword"),
        "no password set yet: {entry}"
    );
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        report(&cutover, out.path())["PasswordCount"],
        0,
        "none set, none handed out"
    );
    // The jobs show the provision job the crash left, and the mailbox pass behind it.
    let jobs = cutover.json(&["job", "get"]);
    let kinds: Vec<(&str, &str)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["Kind"].as_str().unwrap(), j["Identity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("provision", "cleo@contoso.test"),
            ("mailbox-pass", "cleo@contoso.test")
        ],
        "{jobs:#}"
    );
    let cleo = cutover.json(&["user", "get", "cleo@contoso.test"]);
    assert_eq!(cleo["Status"], "Provisioning", "{cleo:#}");

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    let written = report(&cutover, out.path());
    assert_eq!(written["PasswordCount"], 1, "{written:#}");
    let handed = passwords(std::path::Path::new(
        written["PasswordsFile"].as_str().unwrap(),
    ));
    assert!(target.can_log_in("cleo@contoso.test", &handed["cleo@contoso.test"]));
    assert_eq!(
        target
            .directory
            .search(Slapd::BASE, "(mail=cleo@contoso.test)", &["1.1"])
            .matches("dn: ")
            .count(),
        1
    );
    assert_eq!(
        target.dovecot.mailbox("cleo@contoso.test").folders["INBOX"].len(),
        1
    );
}

/// Initial passwords never cross the network in clear: a provisioned target directory
/// over plain LDAP to another machine is refused, naming what to use; so is one the
/// writer cannot write (Active Directory).
#[test]
fn a_provisioned_directory_over_plain_ldap_is_refused() {
    let cutover = Cutover::new();
    let out = cutover
        .command(&[
            "target",
            "set",
            "--server",
            "127.0.0.1",
            "--port",
            "143",
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "DST_ADMIN_PASSWORD",
            "--skip-verification",
            "--directory",
            "ldap://ldap.example.test:389",
            "--directory-base",
            Slapd::BASE,
            "--directory-bind",
            Slapd::ADMIN,
            "--directory-password-env",
            "TARGET_LDAP_PASSWORD",
            "--directory-profile",
            "openldap",
            "--directory-provision",
        ])
        .env("TARGET_LDAP_PASSWORD", Slapd::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("use ldaps:// or --directory-starttls"),
        "{}",
        stderr(&out)
    );
    // Nor into Active Directory, which the writer does not know yet.
    let out = cutover
        .command(&[
            "target",
            "set",
            "--server",
            "127.0.0.1",
            "--port",
            "143",
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "DST_ADMIN_PASSWORD",
            "--skip-verification",
            "--directory",
            "ldaps://dc.example.test:636",
            "--directory-base",
            "DC=example,DC=test",
            "--directory-bind",
            "CN=admin,DC=example,DC=test",
            "--directory-password-env",
            "TARGET_LDAP_PASSWORD",
            "--directory-provision",
        ])
        .env("TARGET_LDAP_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--directory-profile openldap"),
        "{}",
        stderr(&out)
    );
    // Nothing was stored.
    let err = cutover.fails(&["target", "get"]);
    assert!(err.contains("no target is set"), "{err}");
}
