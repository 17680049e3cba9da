//! Licenses (the seed's Section 7), end to end.
//!
//! On an OpenLDAP target, the provisioning tests' target organization
//! ([`TargetOrganization`]: a slapd with the password-policy overlay and a Dovecot that
//! logs its users in by binding as them, `auth_bind`): a source organization of two
//! mailboxes in the shared Samba DC is provisioned into it by a batch of the whole
//! organization, and the users log in with their initial passwords. One gets a license,
//! the other none. With the grace period shortened to seconds (`license grace set 3s`),
//! the scheduler's loop (`cutover run --once`) locks the unlicensed user's entry
//! (`pwdAccountLockedTime: 000001010000Z`) and the target Dovecot refuses its login,
//! while the licensed one still logs in; a license gives the login back at once, also
//! after the batch is removed (the seed licenses users after its Step 6).
//!
//! On an Active Directory target (Samba's DC): ACCOUNTDISABLE. Provisioning does not
//! write into AD yet, so that test makes the user and its provisioning record itself.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Browser, Cutover, Dovecot, DovecotOptions, SambaDc, Slapd, TargetOrganization,
};

const LICENSED: &str = "lic.alice@contoso.test";
const UNLICENSED: &str = "lic.bob@contoso.test";

fn user<'a>(list: &'a Value, email: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|u| u["UserPrincipalName"] == email)
        .unwrap_or_else(|| panic!("{email} is not in {list}"))
}

/// `target set` to the IMAP port `imap` as the Dovecot master user (tested with
/// `test_mailbox`, or not), its directory given by `directory` (`--directory*` options)
/// and bound with `directory_password`.
fn set_target(
    cutover: &Cutover,
    imap: u16,
    test_mailbox: Option<&str>,
    directory: &[&str],
    directory_password: &str,
) {
    let port = imap.to_string();
    let mut args = vec![
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
        "--impersonation",
        "template:{user}*{admin}",
        "--directory-password-env",
        "TARGET_LDAP_PASSWORD",
    ];
    match test_mailbox {
        Some(m) => args.extend(["--test-mailbox", m]),
        None => args.push("--skip-verification"),
    }
    args.extend_from_slice(directory);
    let out = cutover
        .command(&args)
        .env("TARGET_LDAP_PASSWORD", directory_password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "target set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The source endpoint (a Dovecot with `users`), the started cutover batch of them, and
/// their provisioning records (as the provisioning job writes them once it has made
/// their entries on the target).
fn batch_of_provisioned(cutover: &Cutover, users: &[&str], dns: &[String]) {
    let src = Dovecot::start(
        "src",
        DovecotOptions {
            users: users.iter().map(|u| u.to_string()).collect(),
            ..DovecotOptions::default()
        },
    );
    cutover.new_endpoint(src.port(), "template:{user}*{admin}", users[0], &[]);
    let rows: Vec<(&str, &str, &str)> = users.iter().map(|u| (*u, "", "")).collect();
    cutover.start_batch(&rows, &[]);
    // Not provisioned yet: not governed by licenses.
    assert_eq!(cutover.json(&["license", "get"]), serde_json::json!([]));
    for (email, dn) in users.iter().zip(dns) {
        cutover.state_sql(
            "INSERT INTO provisioning (email, target_dn, provisioned_at, updated_at)
             VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            &[email, dn],
        );
    }
}

fn locked(target: &TargetOrganization, email: &str) -> bool {
    target
        .directory
        .search(
            &TargetOrganization::person_dn(email),
            "(objectClass=*)",
            &["pwdAccountLockedTime"],
        )
        .contains(&format!(
            "pwdAccountLockedTime: {}",
            TargetOrganization::LOCKED_FOREVER
        ))
}

/// The source organization of the OpenLDAP test, in the shared Samba DC (other tests
/// read other OUs): two mailboxes.
const SOURCE_BASE: &str = "OU=LicenseOrg,DC=contoso,DC=test";

fn plant_the_source(dc: &SambaDc) {
    let mut ldif =
        format!("dn: {SOURCE_BASE}\nchangetype: add\nobjectClass: organizationalUnit\n\n");
    for (login, email) in [("licalice", LICENSED), ("licbob", UNLICENSED)] {
        ldif.push_str(&format!(
            "dn: CN={login},{SOURCE_BASE}\nchangetype: add\nobjectClass: user\n\
             sAMAccountName: {login}\nuserPrincipalName: {email}\nmail: {email}\n\
             proxyAddresses: SMTP:{email}\nmsExchRecipientTypeDetails: 1\n\n"
        ));
    }
    dc.modify(&ldif);
}

/// The initial passwords of the batch's report (`InitialPasswords.csv`): address ->
/// password.
fn initial_passwords(cutover: &Cutover) -> std::collections::BTreeMap<String, String> {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let written = cutover.json(&["batch", "report", "CutoverBatch", "--out", &dir]);
    let file = written["PasswordsFile"]
        .as_str()
        .unwrap_or_else(|| panic!("no passwords file: {written:#}"));
    let text = std::fs::read_to_string(file).unwrap();
    text.trim_start_matches('\u{feff}')
        .lines()
        .skip(1)
        .map(|l| {
            let (e, p) = l.split_once(',').expect("EmailAddress,Password");
            (e.to_string(), p.to_string())
        })
        .collect()
}

#[test]
fn an_unlicensed_user_loses_its_target_login_after_the_grace_period_and_a_license_gives_it_back() {
    let dc = SambaDc::shared();
    let target = TargetOrganization::shared();
    plant_the_source(dc);
    let src = Dovecot::start(
        "licenses-src",
        DovecotOptions {
            users: vec![LICENSED.into(), UNLICENSED.into()],
            ..DovecotOptions::default()
        },
    );
    let cutover = Cutover::new();
    let url = target.directory.url();
    let ca = target.directory.ca_file.display().to_string();
    set_target(
        &cutover,
        target.dovecot.port(),
        None,
        &[
            "--directory",
            &url,
            "--directory-starttls",
            "--directory-ca-file",
            &ca,
            "--directory-base",
            Slapd::BASE,
            // Provisioning and the lock attribute are written by an administrator.
            "--directory-bind",
            Slapd::ADMIN,
            "--directory-profile",
            "openldap",
            "--directory-provision",
        ],
        Slapd::ADMIN_PASSWORD,
    );
    let sp = src.port().to_string();
    let out = cutover
        .command(&[
            "endpoint",
            "new",
            "--name",
            "CutoverEndpoint",
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
            SOURCE_BASE,
            "--directory-bind",
            SambaDc::ADMIN,
            "--directory-password-env",
            "AD_PASSWORD",
        ])
        .env("AD_PASSWORD", SambaDc::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "endpoint new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cutover.accept_domains(&[LICENSED]);
    cutover.ok(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "CutoverEndpoint",
        "--all-mailboxes",
    ]);
    // Not provisioned yet: not governed by licenses.
    assert_eq!(cutover.json(&["license", "get"]), serde_json::json!([]));
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    let passwords = initial_passwords(&cutover);
    let password = |email: &str| passwords[email].clone();
    for email in [LICENSED, UNLICENSED] {
        assert!(
            target.can_log_in(email, &password(email)),
            "{email} after provisioning: {}",
            target.dovecot.log()
        );
    }

    // A SKU of one unit; the default grace period: 30 days left each.
    let sku = cutover.json(&["license", "sku", "add", "E3", "--units", "1"]);
    assert_eq!(
        (
            &sku["AccountSkuId"],
            &sku["ActiveUnits"],
            &sku["ConsumedUnits"]
        ),
        (&Value::from("E3"), &Value::from(1), &Value::from(0))
    );
    let before = cutover.json(&["license", "get"]);
    for email in [LICENSED, UNLICENSED] {
        let u = user(&before, email);
        assert_eq!(u["LicenseStatus"], "Unlicensed", "{u}");
        assert_eq!(u["DaysLeft"], 30, "{u}");
        assert_eq!(u["LoginDisabled"], false, "{u}");
    }
    cutover.ok(&["license", "assign", LICENSED, "e3"]);

    // The grace period ends: the scheduler's loop disables the unlicensed login only.
    cutover.ok(&["license", "grace", "set", "3s"]);
    std::thread::sleep(Duration::from_secs(4));
    cutover.ok(&["run", "--once"]);
    assert!(locked(target, UNLICENSED), "{}", target.directory.log());
    assert!(!locked(target, LICENSED));
    assert!(
        !target.can_log_in(UNLICENSED, &password(UNLICENSED)),
        "the unlicensed user still logs in"
    );
    assert!(
        target.can_log_in(LICENSED, &password(LICENSED)),
        "the licensed user: {}",
        target.dovecot.log()
    );
    let after = cutover.json(&["license", "get"]);
    let bob = user(&after, UNLICENSED);
    assert_eq!(
        (
            &bob["LicenseStatus"],
            &bob["DaysLeft"],
            &bob["LoginDisabled"]
        ),
        (
            &Value::from("GracePeriodEnded"),
            &Value::from(0),
            &Value::from(true)
        ),
        "{bob}"
    );
    let alice = user(&after, LICENSED);
    assert_eq!(alice["Licenses"], serde_json::json!(["E3"]), "{alice}");
    assert_eq!(alice["DaysLeft"], Value::Null, "{alice}");
    let unlicensed = cutover.json(&["license", "get", "--unlicensed-only"]);
    assert_eq!(unlicensed.as_array().unwrap().len(), 1, "{unlicensed}");

    // The API and the dashboard's Licenses panel (headless Chromium) show the same.
    {
        let serve = cutover.serve(&[], &[]);
        let listed = serve.call("GET", "/api/v1/licenses?unlicensed_only=true", None);
        assert_eq!(listed.status, 200, "{listed:?}");
        assert_eq!(
            listed.json()[0]["UserPrincipalName"],
            UNLICENSED,
            "{listed:?}"
        );
        assert_eq!(listed.json()[0]["DaysLeft"], 0, "{listed:?}");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let browser = Browser::signed_in(&serve).await;
            let bob = browser
                .wait_css(
                    &format!("#license-users tr[data-user='{UNLICENSED}']"),
                    "the unlicensed user's row",
                    |t| t.contains("GracePeriodEnded"),
                )
                .await;
            assert!(bob.contains("disabled since"), "{bob}");
            let alice = browser
                .css_text(&format!("#license-users tr[data-user='{LICENSED}']"))
                .await;
            assert!(
                alice.contains("E3") && alice.contains("Licensed") && alice.contains("enabled"),
                "{alice}"
            );
            let skus = browser.text("license-skus").await;
            assert!(skus.contains("E3: 1 of 1 assigned"), "{skus}");
            browser.close().await;
        });
    }

    // The SKU is full: a clear refusal; with a second unit the license gives the login
    // back at once.
    let full = cutover.fails(&["license", "assign", UNLICENSED, "E3"]);
    assert!(
        full.contains("every unit of license SKU 'E3' is assigned (1 of 1)"),
        "{full}"
    );
    assert!(locked(target, UNLICENSED));
    cutover.ok(&["license", "sku", "set", "E3", "--units", "2"]);
    cutover.ok(&["license", "assign", UNLICENSED, "E3"]);
    assert!(!locked(target, UNLICENSED));
    assert!(
        target.can_log_in(UNLICENSED, &password(UNLICENSED)),
        "a license did not give the login back: {}",
        target.dovecot.log()
    );
    let licensed = cutover.json(&["license", "get", UNLICENSED]);
    assert_eq!(licensed["LicenseStatus"], "Licensed", "{licensed}");
    assert_eq!(licensed["LoginDisabled"], false, "{licensed}");

    // In the cmdlet shell: the license taken back (the grace period long over), the
    // next enforcement disables the login again.
    let ps = cutover.ok(&[
        "ps",
        "-c",
        &format!(
            "Set-MsolUserLicense -UserPrincipalName {UNLICENSED} -RemoveLicenses contoso:E3; \
             Get-MsolUser -UnlicensedUsersOnly | Format-List UserPrincipalName,LicenseStatus; \
             Get-MsolAccountSku | Format-List AccountSkuId,ConsumedUnits"
        ),
    ]);
    assert!(
        ps.contains(&format!("UserPrincipalName : {UNLICENSED}"))
            && ps.contains("LicenseStatus     : GracePeriodEnded")
            && ps.contains("ConsumedUnits : 1"),
        "{ps}"
    );
    cutover.ok(&["license", "enforce"]);
    assert!(locked(target, UNLICENSED));
    assert!(!target.can_log_in(UNLICENSED, &password(UNLICENSED)));
    assert!(target.can_log_in(LICENSED, &password(LICENSED)));

    // Step 6 removes the batch (and its provisioning records); Section 7 licenses the
    // users after it: they are still known, and a license still gives the login back.
    cutover.ok(&["batch", "remove", "CutoverBatch", "--force"]);
    let after_removal = cutover.json(&["license", "get"]);
    assert_eq!(
        after_removal.as_array().unwrap().len(),
        2,
        "{after_removal}"
    );
    assert_eq!(user(&after_removal, UNLICENSED)["LoginDisabled"], true);
    cutover.ok(&["license", "assign", UNLICENSED, "E3"]);
    assert!(target.can_log_in(UNLICENSED, &password(UNLICENSED)));
    cutover.check_state();
}

const AD_USER: &str = "lic.carol@contoso.test";
const AD_PASSWORD: &str = "Carol.Pass.1";
const AD_OU: &str = "OU=Licenses,DC=contoso,DC=test";

/// `userAccountControl` of the AD user, read as the domain's Administrator.
fn user_account_control(dn: &str) -> u32 {
    let out = std::process::Command::new("/usr/bin/ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            SambaDc::URL,
            "-D",
            SambaDc::ADMIN,
            "-w",
            SambaDc::ADMIN_PASSWORD,
            "-b",
            dn,
            "-s",
            "base",
            "(objectClass=*)",
            "userAccountControl",
        ])
        .output()
        .expect("run ldapsearch (apt-get install ldap-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("userAccountControl: "))
        .unwrap_or_else(|| panic!("no userAccountControl on {dn}: {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Whether the AD user can bind (what a target authenticating against AD asks), and
/// what ldapsearch said.
fn ad_bind(dn: &str, password: &str) -> (bool, String) {
    // A search of the root DSE as the user (Samba has no WhoAmI operation).
    let out = std::process::Command::new("/usr/bin/ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            SambaDc::URL,
            "-D",
            dn,
            "-w",
            password,
            "-b",
            "",
            "-s",
            "base",
            "(objectClass=*)",
            "1.1",
        ])
        .output()
        .expect("run ldapsearch (apt-get install ldap-utils)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// An Active Directory target (Samba's AD DC): the grace period over, the unlicensed
/// user's `userAccountControl` gets ACCOUNTDISABLE (its other bits kept) and AD refuses
/// its bind; a license clears the bit and the bind works again.
#[test]
fn on_active_directory_the_accountdisable_bit_stops_an_unlicensed_login() {
    let dc = SambaDc::shared();
    dc.modify(&format!(
        "dn: {AD_OU}\nchangetype: add\nobjectClass: organizationalUnit\nou: Licenses\n"
    ));
    let out = std::process::Command::new("/usr/bin/samba-tool")
        .args([
            "user",
            "create",
            "lic.carol",
            AD_PASSWORD,
            "--mail-address",
            AD_USER,
            "--userou",
            "OU=Licenses",
            "-H",
            SambaDc::URL,
            "-U",
            &format!("Administrator%{}", SambaDc::ADMIN_PASSWORD),
        ])
        .output()
        .expect("run samba-tool (apt-get install samba)");
    assert!(
        out.status.success(),
        "samba-tool user create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dn = format!("CN=lic.carol,{AD_OU}");
    let enabled = user_account_control(&dn);
    assert_eq!(enabled & 2, 0, "a new user is enabled: {enabled}");
    let (bound, said) = ad_bind(&dn, AD_PASSWORD);
    assert!(bound, "{said}");

    let dst = Dovecot::start(
        "dst",
        DovecotOptions {
            users: vec![AD_USER.into()],
            ..DovecotOptions::default()
        },
    );
    let cutover = Cutover::new();
    set_target(
        &cutover,
        dst.port(),
        Some(AD_USER),
        &[
            "--directory",
            SambaDc::URL,
            "--directory-base",
            AD_OU,
            "--directory-bind",
            SambaDc::ADMIN,
            "--directory-profile",
            "active-directory",
        ],
        SambaDc::ADMIN_PASSWORD,
    );
    batch_of_provisioned(&cutover, &[AD_USER], std::slice::from_ref(&dn));
    cutover.ok(&["license", "sku", "add", "E3"]);
    cutover.ok(&["license", "grace", "set", "0s"]);
    cutover.ok(&["license", "enforce"]);
    assert_eq!(user_account_control(&dn), enabled | 2);
    let (bound, said) = ad_bind(&dn, AD_PASSWORD);
    assert!(!bound, "a disabled user bound: {said}");
    let got = cutover.json(&["license", "get", AD_USER]);
    assert_eq!(got["LoginDisabled"], true, "{got}");

    cutover.ok(&["license", "assign", AD_USER, "E3"]);
    assert_eq!(user_account_control(&dn), enabled);
    let (bound, said) = ad_bind(&dn, AD_PASSWORD);
    assert!(bound, "{said}");
    let got = cutover.json(&["license", "get", AD_USER]);
    assert_eq!(
        (&got["LicenseStatus"], &got["LoginDisabled"]),
        (&Value::from("Licensed"), &Value::from(false)),
        "{got}"
    );
}
