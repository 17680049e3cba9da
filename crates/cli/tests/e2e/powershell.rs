//! `cutover ps`: the seed's walkthrough (steps 1-4 and 6) as a PowerShell script against
//! two real Dovecot servers and a dnsmasq serving the domain's records, adapted only
//! where the README's decision says so (-IMAP with the server's settings instead of
//! -ExchangeOutlookAnywhere, and the users CSV as -CSVData); -Autodiscover against
//! dnsmasq and the HTTPS fixture; and the errors the unadapted commands get.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::{
    AutodiscoverHttps, Cutover, Dnsmasq, Dovecot, DovecotOptions, TestCa, Zone,
    assert_same_mailbox, field, fill_realistic_mailbox, pair, pox_xml, users_csv,
    verify_independently,
};

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";

/// Runs `cutover ps FILE` with the migration admin's credentials in the environment
/// (what Get-Credential reads when there is no terminal).
fn ps_file(cutover: &Cutover, name: &str, script: &str) -> Output {
    let path = cutover.write(name, script);
    cutover
        .command(&["ps", &path])
        .env("CUTOVER_CREDENTIAL_USER", "admin")
        .env("CUTOVER_CREDENTIAL_PASSWORD", "adminpass")
        .stdin(Stdio::null())
        .output()
        .expect("run cutover ps")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cutover ps failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("adminpass") && !stderr.contains("adminpass"),
        "a password was printed"
    );
    stdout
}

/// The values of `Name : Value` lines of Format-List output, in order.
fn list_values(out: &str, name: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(" : ")?;
            (n.trim_end() == name).then(|| v.trim().to_string())
        })
        .collect()
}

#[test]
fn the_seed_walkthrough_runs_as_a_script_and_the_mailboxes_move_byte_exact() {
    let users = [ALICE, BOB];
    let (src, dst) = pair(&users, '/');
    fill_realistic_mailbox(&src, ALICE, 40, 21, true);
    fill_realistic_mailbox(&src, BOB, 25, 22, false);
    for u in users {
        src.index(u);
    }
    let total: usize = users.iter().map(|u| src.mailbox(u).message_count()).sum();

    let cutover = Cutover::new();
    // The seed's "connect to Exchange Online": the target organization, set once.
    let dst_port = dst.port().to_string();
    cutover.ok(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        &dst_port,
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "DST_ADMIN_PASSWORD",
        "--test-mailbox",
        ALICE,
    ]);
    let csv = cutover.write("users.csv", &users_csv(&[(ALICE, "", ""), (BOB, "", "")]));

    // Step 1: the users' domain becomes an accepted domain of the target. Its TXT record
    // is published (in the test's dnsmasq), then `cutover domain verify` finds it: Exchange
    // has no cmdlet for that (the Microsoft 365 admin center verifies domains).
    let step_1 = "# Étape 1 : Préparez une migration à basculement (the domain as an accepted domain)\n\
                  New-AcceptedDomain -Name contoso.test -DomainName contoso.test | Format-List\n";
    let out = ok(&ps_file(&cutover, "step-1.ps1", step_1));
    assert_eq!(list_values(&out, "Status"), ["Unverified"], "{out}");
    let token = list_values(&out, "TxtRecordValue").remove(0);
    assert!(token.starts_with("cutover-verification="), "{out}");
    let published = Dnsmasq::start(&Zone::new().txt("contoso.test", &token));
    cutover.ok(&[
        "domain",
        "verify",
        "contoso.test",
        "--dns-server",
        &published.addr(),
    ]);
    let out = ok(&ps_file(
        &cutover,
        "domains.ps1",
        "Get-AcceptedDomain | Format-List DomainName,Status\n",
    ));
    assert_eq!(list_values(&out, "Status"), ["Verified"], "{out}");

    // Steps 2 to 4, as the seed writes them; the two adapted lines keep the seed's
    // command above them as a comment.
    let steps_2_to_4 = format!(
        r#"# Étape 2 : Créez un point de terminaison de migration
$Credentials = Get-Credential

# $TSMA = Test-MigrationServerAvailability -ExchangeOutlookAnywhere -Autodiscover -EmailAddress administrator@contoso.com -Credentials $credentials
$TSMA = Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port {port} -Security None `
    -EmailAddress {ALICE} -Credentials $credentials
$TSMA | Format-List Result,Message

# New-MigrationEndpoint -ExchangeOutlookAnywhere -Name CutoverEndpoint -ConnectionSettings $TSMA.ConnectionSettings
New-MigrationEndpoint -IMAP -Name CutoverEndpoint -ConnectionSettings $TSMA.ConnectionSettings

Get-MigrationEndpoint CutoverEndpoint | Format-List EndpointType,ExchangeServer,UseAutoDiscover,Max*

# Étape 3 : Créez le lot de migration à basculement
# New-MigrationBatch -Name CutoverBatch -SourceEndpoint CutoverEndpoint
New-MigrationBatch -Name CutoverBatch -SourceEndpoint CutoverEndpoint -CSVData ([System.IO.File]::ReadAllBytes("{csv}"))
Get-MigrationBatch | Format-List

# Étape 4 : Démarrez le lot de migration à basculement
Start-MigrationBatch -Identity CutoverBatch
Get-MigrationBatch -Identity CutoverBatch |  Format-List Status
"#,
        port = src.port(),
    );
    let out = ok(&ps_file(&cutover, "steps-2-4.ps1", &steps_2_to_4));
    assert_eq!(list_values(&out, "Result"), ["Success"], "{out}");
    assert_eq!(list_values(&out, "EndpointType"), ["IMAP"], "{out}");
    assert_eq!(list_values(&out, "UseAutoDiscover"), ["False"], "{out}");
    assert_eq!(
        list_values(&out, "MaxConcurrentMigrations"),
        ["100"],
        "{out}"
    );
    assert_eq!(
        list_values(&out, "MaxConcurrentIncrementalSyncs"),
        ["20"],
        "{out}"
    );
    // Get-MigrationBatch | Format-List shows every property of the new batch, then
    // step 4's check shows it Syncing.
    assert_eq!(list_values(&out, "Status"), ["Created", "Syncing"], "{out}");
    assert_eq!(list_values(&out, "TotalCount"), ["2"], "{out}");
    assert_eq!(
        list_values(&out, "SourceEndpoint"),
        ["CutoverEndpoint"],
        "{out}"
    );

    // The sync itself is `cutover run`'s work.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), total as u64);

    // Before MX moves, step 6 is refused: mail would still arrive at the source.
    let early = ps_file(
        &cutover,
        "too-early.ps1",
        "Remove-MigrationBatch -Identity CutoverBatch\n",
    );
    assert_eq!(early.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(
        stderr.contains("Remove-MigrationBatch : batch 'CutoverBatch' cannot be removed:")
            && stderr.contains("domains without a seen switch: contoso.test")
            && stderr.contains("`Remove-MigrationBatch CutoverBatch -Force`"),
        "{stderr}"
    );

    // Step 5: MX moves to the target; `cutover dns check` sees it and remembers when.
    let moved = Dnsmasq::start(&Zone::new().txt("contoso.test", &token).mx(
        "contoso.test",
        "mx.target.test",
        10,
    ));
    let check = cutover.json(&[
        "dns",
        "check",
        "--domain",
        "contoso.test",
        "--expect-mx",
        "mx.target.test",
        "--dns-server",
        &moved.addr(),
    ]);
    assert_eq!(field(&check, "MxState"), "Target", "{check:#}");

    // Before step 6: everyone synced, and a last incremental sync after the MX switch.
    let before_removal = format!(
        r#"Get-MigrationBatch -Identity CutoverBatch | Format-List Status,SyncedCount,FailedCount,LastSyncedDateTime
Get-MigrationUser | Where-Object {{ $_.Status -ne 'Synced' }}
Get-MigrationUser | Where-Object {{$_.Identity -like 'bob*' -and $_.ItemsSynced -gt 0}} | Select-Object -ExpandProperty Identity
Get-MigrationUser | Format-Table Identity,Status
Get-MigrationUserStatistics {ALICE} | Format-List SyncedItemCount,TotalItemsInSourceMailboxCount
Get-MigrationStatistics | Select-Object TotalCount,SyncedCount | Format-List
Set-MigrationBatch -Identity CutoverBatch -SyncNow
"#
    );
    let out = ok(&ps_file(&cutover, "check.ps1", &before_removal));
    assert_eq!(list_values(&out, "Status"), ["Synced"], "{out}");
    assert_eq!(list_values(&out, "SyncedCount"), ["2", "2"], "{out}");
    assert_eq!(list_values(&out, "FailedCount"), ["0"], "{out}");
    assert_eq!(list_values(&out, "TotalCount"), ["2"], "{out}");
    assert!(
        list_values(&out, "LastSyncedDateTime")[0].starts_with("20"),
        "{out}"
    );
    let synced = list_values(&out, "SyncedItemCount");
    assert_eq!(
        synced,
        list_values(&out, "TotalItemsInSourceMailboxCount"),
        "{out}"
    );
    // Format-Table: a header, its underline, one row per user.
    assert!(
        out.contains("\nIdentity           Status\n--------           ------\n"),
        "{out}"
    );
    assert!(out.contains(&format!("\n{ALICE} Synced\n")), "{out}");
    // Where-Object kept bob only, and no user that is not Synced.
    assert_eq!(out.lines().filter(|l| l.trim() == BOB).count(), 1, "{out}");
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");

    // Étape 6 : Supprimez le lot de migration à basculement. Within 72 hours of the
    // switch it is removed with a warning (servers may still deliver to the old MX).
    let step_6 = "Remove-MigrationBatch -Identity CutoverBatch\nGet-MigrationBatch\n";
    let removed = ps_file(&cutover, "step-6.ps1", step_6);
    let out = ok(&removed);
    assert_eq!(out.trim(), "", "{out}");
    let stderr = String::from_utf8_lossy(&removed.stderr);
    assert!(stderr.contains("less than 72 h"), "{stderr}");
    assert_eq!(cutover.json(&["batch", "get"]), serde_json::json!([]));

    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);
}

#[test]
fn the_unadapted_seed_commands_get_errors_that_say_what_to_use_instead() {
    let cutover = Cutover::new();
    let script = r#"$ErrorActionPreference = 'Continue'
$Credentials = Get-Credential
$TSMA = Test-MigrationServerAvailability -ExchangeOutlookAnywhere -Autodiscover -EmailAddress administrator@contoso.com -Credentials $credentials
New-MigrationEndpoint -ExchangeOutlookAnywhere -Name CutoverEndpoint -ConnectionSettings $TSMA.ConnectionSettings
Test-MigrationServerAvailability -IMAP -Autodiscover -RemoteServer mail.contoso.com -EmailAddress administrator@contoso.com -Credentials $credentials
New-MigrationBatch -Name CutoverBatch -SourceEndpoint CutoverEndpoint
Complete-MigrationBatch -Identity CutoverBatch
New-AcceptedDomain -Name Contoso -DomainName contoso.com -DomainType InternalRelay
New-MigrationEndpoint -IMAP -Name E -RemoteServer mail.contoso.test -Security Tls -Credentials $Credentials
Get-MigrationBatch -Identity Nowhere
"#;
    let out = ps_file(&cutover, "seed.ps1", script);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let path = cutover.dir.path().join("seed.ps1").display().to_string();
    for expected in [
        // The cmdlet, the parameter, why, and what to use instead, where it was written.
        "Test-MigrationServerAvailability : Cannot process parameter 'ExchangeOutlookAnywhere'. cutover does not speak Outlook Anywhere (MAPI over RPC/HTTP)",
        "Use -IMAP -RemoteServer HOST -Port 993 -Security Ssl -Credentials $Credentials",
        &format!("At {path}:3 char:42"),
        "New-MigrationEndpoint : Cannot process parameter 'ExchangeOutlookAnywhere'.",
        &format!("At {path}:4 char:23"),
        "Test-MigrationServerAvailability : Cannot process parameter 'RemoteServer'. -Autodiscover finds the server from -EmailAddress",
        "New-MigrationBatch : Cannot process command because of one or more missing mandatory parameters: CSVData.",
        "-CSVData ([System.IO.File]::ReadAllBytes(\"users.csv\"))",
        "Complete-MigrationBatch : A cutover batch is never completed",
        "New-AcceptedDomain : Cannot process parameter 'DomainType'. 'InternalRelay'",
        "New-MigrationEndpoint : Cannot process parameter 'Security'. 'Tls' is ambiguous",
        "Get-MigrationBatch : batch 'Nowhere' was not found",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("adminpass"), "{stderr}");
    // The underline sits under the parameter.
    let at = stderr.find(&format!("At {path}:3 char:42")).unwrap();
    let underline = stderr[at..].lines().nth(2).unwrap();
    assert_eq!(
        underline,
        format!(
            "+ {}{}",
            " ".repeat(41),
            "~".repeat("-ExchangeOutlookAnywhere".len())
        )
    );
}

#[test]
fn scripts_stop_at_the_first_error_and_parse_errors_give_line_and_column() {
    let cutover = Cutover::new();
    // Without $ErrorActionPreference = 'Continue', the first failure ends the script.
    let out = cutover
        .command(&[
            "ps",
            "-c",
            "Write-Output before\nGet-MigrationBatch -Identity Nowhere\nWrite-Output after",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("At line:2 char:1"), "{stderr}");

    // A script that does not parse runs nothing and exits 2.
    let path = cutover.write(
        "broken.ps1",
        "Write-Output never\nGet-MigrationUser |\n  Where-Object {$_.Status -eq 'Failed'\n",
    );
    let out = cutover.command(&["ps", &path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("At {path}:3 char:16")) && stderr.contains("Missing closing '}'"),
        "{stderr}"
    );

    // Without a terminal or the environment, Get-Credential says what to set.
    let out = cutover
        .command(&["ps", "-c", "$c = Get-Credential"])
        .env_remove("CUTOVER_CREDENTIAL_USER")
        .env_remove("CUTOVER_CREDENTIAL_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CUTOVER_CREDENTIAL_USER"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A script on stdin; the password comes from a file; the credential never prints.
    let pw = cutover.write("pw.txt", "s3cret-pass\n");
    let mut child = cutover
        .command(&["ps"])
        .env("CUTOVER_CREDENTIAL_USER", "admin")
        .env_remove("CUTOVER_CREDENTIAL_PASSWORD")
        .env("CUTOVER_CREDENTIAL_PASSWORD_FILE", &pw)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"$c = Get-Credential\n$c\n$c.UserName\n$c | Format-List\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(
        stdout.contains("System.Management.Automation.PSCredential\nadmin\n"),
        "{stdout}"
    );
}

/// Test-MigrationServerAvailability -Autodiscover and New-MigrationEndpoint -Autodiscover
/// find the server by Microsoft Autodiscover (POX, over the HTTPS fixture, every name
/// resolved by the test's dnsmasq), as `test-server --autodiscover` does.
#[test]
fn autodiscover_finds_the_server_from_an_address() {
    let ca = TestCa::new();
    let server = Dovecot::start(
        "ps-discover",
        DovecotOptions {
            tls: Some(ca.server("mail", &["mail.contoso.test"])),
            ..DovecotOptions::default()
        },
    );
    let https = AutodiscoverHttps::start(&ca.server("web", &["autodiscover.contoso.test"]));
    https.serve(
        "autodiscover.contoso.test",
        "/autodiscover/autodiscover.xml",
        &pox_xml("mail.contoso.test", server.imaps_port(), "SSL"),
    );
    let dns = Dnsmasq::start(
        &Zone::new()
            .host("mail.contoso.test")
            .host("autodiscover.contoso.test")
            // fabrikam's Autodiscover is contoso's: the admin's login goes there only
            // with -AllowRedirect.
            .srv(
                "_autodiscover._tcp.fabrikam.test",
                "autodiscover.contoso.test",
                https.port(),
                0,
            ),
    );
    let cutover = Cutover::new();
    let script = format!(
        r#"$Credentials = Get-Credential
$TSMA = Test-MigrationServerAvailability -IMAP -Autodiscover -EmailAddress admin@contoso.test `
    -Credentials $Credentials -CaFile "{ca}" -DnsServer {dns} -AutodiscoverPort {port}
$TSMA | Format-List Result,DiscoveryMethod
$TSMA.ConnectionSettings | Format-List RemoteServer,Port,Security
$Nothing = Test-MigrationServerAvailability -IMAP -Autodiscover -EmailAddress admin@nowhere.test `
    -Credentials $Credentials -CaFile "{ca}" -DnsServer {dns} -AutodiscoverPort {port}
$Nothing | Format-List Result,FailedStep
$Foreign = Test-MigrationServerAvailability -IMAP -Autodiscover -EmailAddress admin@fabrikam.test `
    -Credentials $Credentials -CaFile "{ca}" -DnsServer {dns} -AutodiscoverPort {port}
$Foreign.Message
$Allowed = Test-MigrationServerAvailability -IMAP -Autodiscover -EmailAddress admin@fabrikam.test `
    -Credentials $Credentials -CaFile "{ca}" -DnsServer {dns} -AutodiscoverPort {port} `
    -AllowRedirect autodiscover.contoso.test
$Allowed | Format-List Result
New-MigrationEndpoint -IMAP -Name CutoverEndpoint -Autodiscover -EmailAddress admin@contoso.test `
    -Credentials $Credentials -CaFile "{ca}" -DnsServer {dns} -AutodiscoverPort {port} | Out-Null
Get-MigrationEndpoint CutoverEndpoint | Format-List RemoteServer,UseAutoDiscover,DiscoveryMethod,DiscoveryEmailAddress
"#,
        ca = ca.cert.display(),
        dns = dns.addr(),
        port = https.port(),
    );
    let out = ok(&ps_file(&cutover, "discover.ps1", &script));
    assert_eq!(
        list_values(&out, "Result"),
        ["Success", "Failed", "Success"],
        "{out}"
    );
    assert_eq!(
        list_values(&out, "DiscoveryMethod"),
        ["Autodiscover", "Autodiscover"],
        "{out}"
    );
    assert_eq!(list_values(&out, "FailedStep"), ["Autodiscover"], "{out}");
    // The refusal names the cmdlet's parameter; given, discovery goes on there.
    assert!(
        out.contains("give -AllowRedirect autodiscover.contoso.test") && !out.contains("--allow"),
        "{out}"
    );
    assert_eq!(
        list_values(&out, "RemoteServer"),
        ["mail.contoso.test", "mail.contoso.test"],
        "{out}"
    );
    assert_eq!(
        list_values(&out, "Port"),
        [server.imaps_port().to_string()],
        "{out}"
    );
    assert_eq!(list_values(&out, "Security"), ["Tls"], "{out}");
    assert_eq!(list_values(&out, "UseAutoDiscover"), ["True"], "{out}");
    assert_eq!(
        list_values(&out, "DiscoveryEmailAddress"),
        ["admin@contoso.test"],
        "{out}"
    );
}

/// Remove-MigrationBatch goes through the same removal rules as `batch remove`: a batch in
/// its initial sync is refused with a PowerShell error that names -Force, and -Force
/// removes it.
#[test]
fn remove_migration_batch_refuses_as_batch_remove_does_and_takes_force() {
    let cutover = Cutover::new();
    let csv = cutover.write("users.csv", &users_csv(&[(ALICE, "", "")]));
    let script = format!(
        r#"$ErrorActionPreference = 'Continue'
$Credentials = Get-Credential
New-MigrationEndpoint -IMAP -Name CutoverEndpoint -RemoteServer 127.0.0.1 -Port 1 -Security None `
    -Credentials $Credentials -SkipVerification | Out-Null
New-MigrationBatch -Name CutoverBatch -SourceEndpoint CutoverEndpoint -SkipDomainCheck -AutoStart `
    -CSVData (Get-Content "{csv}" -Raw) | Out-Null
Remove-MigrationBatch -Identity CutoverBatch
Get-MigrationBatch | Format-List Status
Remove-MigrationBatch -Identity CutoverBatch -Force
Get-MigrationBatch
"#
    );
    let out = ps_file(&cutover, "remove.ps1", &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Remove-MigrationBatch : batch 'CutoverBatch' cannot be removed: it is still in its initial sync")
            && stderr.contains("`Remove-MigrationBatch CutoverBatch -Force`"),
        "{stderr}"
    );
    assert!(stderr.contains("At "), "{stderr}");
    assert_eq!(list_values(&stdout, "Status"), ["Syncing"], "{stdout}");
    assert_eq!(cutover.json(&["batch", "get"]), serde_json::json!([]));
}
