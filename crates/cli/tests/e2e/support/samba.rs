//! A private Samba Active Directory domain controller (Debian `samba`, `samba-ad-dc`,
//! `samba-ad-provision`), provisioned once per test binary in a temporary directory
//! (realm CONTOSO.TEST), its schema extended with Exchange's recipient attributes
//! (`fixtures/ldap/samba/exchange-schema.ldif`) and loaded with the organization of
//! `fixtures/ldap/samba/organization.ldif` plus [`SambaDc::CROWD`] contacts in one
//! distribution group. Only its LDAP service runs, on 127.0.0.1:389 and :636 (Samba's
//! LDAP ports are fixed), LDAPS with a certificate from the tests' CA. Stopped when the
//! test process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::tls::TestCa;
use super::watchdog::{stop_when_tests_end, wait_for_port};

const SAMBA: &str = "/usr/sbin/samba";
const SAMBA_TOOL: &str = "/usr/bin/samba-tool";
const LDAPMODIFY: &str = "/usr/bin/ldapmodify";
const PROVISION_DATA: &str = "/usr/share/samba/setup/ad-schema";

pub struct SambaDc {
    /// The CA that signed the LDAPS certificate (for --directory-ca-file).
    pub ca_file: PathBuf,
    /// How long provisioning, starting and loading took.
    pub startup: Duration,
    dir: PathBuf,
    _ca: TestCa,
}

impl SambaDc {
    pub const DOMAIN: &str = "DC=contoso,DC=test";
    /// What the tests read: the organization, without its manager's OU.
    pub const BASE: &str = "OU=Cutover,DC=contoso,DC=test";
    pub const ADMIN: &str = "CN=Administrator,CN=Users,DC=contoso,DC=test";
    pub const ADMIN_PASSWORD: &str = "Cutover.Test.1";
    pub const CROWD: usize = 1600;
    pub const URL: &str = "ldap://127.0.0.1:389";
    pub const LDAPS_URL: &str = "ldaps://127.0.0.1:636";

    /// The one domain controller of this test binary.
    pub fn shared() -> &'static SambaDc {
        static SAMBA_DC: OnceLock<SambaDc> = OnceLock::new();
        SAMBA_DC.get_or_init(SambaDc::start)
    }

    /// The big group's DN, and its members' DNs (the crowd, then Alice and Bob).
    pub fn everyone() -> (String, Vec<String>) {
        let mut members: Vec<String> = (0..Self::CROWD)
            .map(|i| format!("CN=crowd{i:04},OU=Crowd,{}", Self::DOMAIN))
            .collect();
        members.push(format!("CN=Alice Smith,{}", Self::BASE));
        members.push(format!("CN=Bob Jones,{}", Self::BASE));
        (format!("CN=Everyone,{}", Self::BASE), members)
    }

    fn start() -> SambaDc {
        let began = Instant::now();
        for (path, package) in [
            (SAMBA, "samba"),
            (SAMBA_TOOL, "samba-ad-dc"),
            (PROVISION_DATA, "samba-ad-provision"),
            (LDAPMODIFY, "ldap-utils"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: apt-get install {package} (Samba's AD DC needs samba, \
                 samba-ad-dc, samba-ad-provision; listed in .ci/packages)"
            );
        }
        // Samba's ports are fixed: LDAP, and the RPC endpoint it opens even with only the
        // LDAP service (49154). Another test run's DC on this machine holds them too.
        for port in [389, 49154] {
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "127.0.0.1:{port} is taken (another Samba AD DC, maybe another test run's, or a \
                 slapd?): Samba's ports are fixed, stop that server or wait for that run first"
            );
        }
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ldap/samba");
        let dir = tempfile::Builder::new()
            .prefix("cutover-samba-")
            .tempdir()
            .expect("temp dir for samba")
            .keep();
        let target = dir.join("dc");
        let out = Command::new(SAMBA_TOOL)
            .args([
                "domain",
                "provision",
                "--use-rfc2307",
                "--realm=CONTOSO.TEST",
                "--domain=CONTOSO",
                "--server-role=dc",
                "--dns-backend=NONE",
                "--host-ip=127.0.0.1",
                &format!("--adminpass={}", Self::ADMIN_PASSWORD),
                &format!("--targetdir={}", target.display()),
                "--option=interfaces=lo",
                "--option=bind interfaces only=yes",
            ])
            .output()
            .expect("run samba-tool domain provision");
        assert!(
            out.status.success(),
            "samba-tool domain provision failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let ca = TestCa::new();
        let tls = ca.server("samba", &[]);
        set_mode_600(&tls.key);
        let conf_path = target.join("etc/smb.conf");
        let run = target.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let extra = format!(
            "[global]\n\
             \tserver services = ldap\n\
             \tldap server require strong auth = no\n\
             \tdsdb:schema update allowed = true\n\
             \tpid directory = {run}\n\
             \tlog file = {log}\n\
             \ttls enabled = yes\n\
             \ttls certfile = {cert}\n\
             \ttls keyfile = {key}\n\
             \ttls cafile = {ca}\n",
            run = run.display(),
            log = dir.join("samba.log").display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
            ca = ca.cert.display(),
        );
        let conf = std::fs::read_to_string(&conf_path)
            .unwrap()
            .replacen("[global]\n", &extra, 1);
        std::fs::write(&conf_path, conf).unwrap();

        let stdout = std::fs::File::create(dir.join("samba.out")).unwrap();
        let mut child = Command::new(SAMBA)
            .args(["-i", "-M", "single", "-s"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().unwrap())
            .stderr(stdout)
            .spawn()
            .expect("run samba");
        if let Err(e) = wait_for_port(&mut child, 389, Duration::from_secs(60)) {
            let _ = child.kill();
            panic!(
                "samba {e}: {}",
                std::fs::read_to_string(dir.join("samba.out")).unwrap_or_default()
            );
        }
        stop_when_tests_end(child.id(), &[&dir, ca.dir()]);
        std::mem::forget(child);

        let domain = |text: String| text.replace("@BASE@", Self::DOMAIN);
        let schema =
            domain(std::fs::read_to_string(fixtures.join("exchange-schema.ldif")).unwrap());
        ldapmodify(&schema, false);
        let mut org = domain(std::fs::read_to_string(fixtures.join("organization.ldif")).unwrap());
        for i in 0..Self::CROWD {
            org.push_str(&format!(
                "\ndn: CN=crowd{i:04},OU=Crowd,{d}\nobjectClass: contact\nmail: crowd{i:04}@fabrikam.test\n",
                d = Self::DOMAIN
            ));
        }
        let (everyone, members) = Self::everyone();
        org.push_str(&format!(
            "\ndn: {everyone}\nobjectClass: group\nsAMAccountName: everyone\ngroupType: 8\n\
             mail: everyone@contoso.test\nproxyAddresses: SMTP:everyone@contoso.test\n\
             proxyAddresses: smtp:all@contoso.test\n"
        ));
        for m in &members {
            org.push_str(&format!("member: {m}\n"));
        }
        ldapmodify(&org, true);
        SambaDc {
            ca_file: ca.cert.clone(),
            startup: began.elapsed(),
            dir,
            _ca: ca,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("samba.out")).unwrap_or_default()
    }

    /// Applies an LDIF (changetypes in it) as the domain's Administrator.
    pub fn modify(&self, ldif: &str) {
        ldapmodify(ldif, false);
    }
}

fn set_mode_600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Applies an LDIF as the domain's Administrator (`-a`: every entry is an add).
fn ldapmodify(ldif: &str, add: bool) {
    use std::io::Write;
    let mut cmd = Command::new(LDAPMODIFY);
    cmd.args([
        "-x",
        "-H",
        SambaDc::URL,
        "-D",
        SambaDc::ADMIN,
        "-w",
        SambaDc::ADMIN_PASSWORD,
    ]);
    if add {
        cmd.arg("-a");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ldapmodify (apt-get install ldap-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ldapmodify into Samba failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
