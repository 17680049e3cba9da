//! Private OpenLDAP `slapd`s (Debian `slapd`), each started once per test binary on a
//! free 127.0.0.1 port, StartTLS with a certificate from the tests' CA: the source
//! organization of `fixtures/ldap/openldap` plus [`Slapd::EXTRA_PEOPLE`] people (more
//! than one page of 500), the target organization of the preflight test
//! (`target.ldif`), and the target organization provisioning writes into
//! (`provisioning-target.ldif`, with the password-policy overlay). Stopped when the
//! test process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::tls::TestCa;
use super::watchdog::{free_port, stop_when_tests_end, wait_for_port};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

pub struct Slapd {
    pub port: u16,
    /// The CA that signed slapd's certificate (for --directory-ca-file).
    pub ca_file: PathBuf,
    dir: PathBuf,
    _ca: TestCa,
}

impl Slapd {
    pub const BASE: &str = "dc=contoso,dc=test";
    /// The non-root reader: held to 500 entries per plain search, like AD.
    pub const READER: &str = "cn=reader,dc=contoso,dc=test";
    pub const READER_PASSWORD: &str = "readerpass";
    pub const EXTRA_PEOPLE: usize = 600;

    pub const ADMIN: &str = "cn=admin,dc=contoso,dc=test";
    pub const ADMIN_PASSWORD: &str = "adminpass";

    /// The source organization's slapd of this test binary.
    pub fn shared() -> &'static Slapd {
        static SLAPD_SERVER: OnceLock<Slapd> = OnceLock::new();
        SLAPD_SERVER.get_or_init(|| Slapd::start("organization.ldif", Self::EXTRA_PEOPLE))
    }

    /// A second slapd, the target organization of the preflight test
    /// (`fixtures/ldap/openldap/target.ldif`), which that test changes.
    pub fn target() -> &'static Slapd {
        static TARGET_SERVER: OnceLock<Slapd> = OnceLock::new();
        TARGET_SERVER.get_or_init(|| Slapd::start("target.ldif", 0))
    }

    /// The target organization provisioning writes into
    /// (`fixtures/ldap/openldap/provisioning-target.ldif`), with the `ppolicy` overlay
    /// and a default policy with `pwdLockout`: an entry whose `pwdAccountLockedTime` is
    /// `000001010000Z` cannot bind, so it cannot log in to a Dovecot that checks
    /// passwords with `auth_bind` ([`super::TargetOrganization`]). Tests share it: each
    /// uses addresses of its own.
    pub fn provisioning_target() -> &'static Slapd {
        static PROVISIONING_SERVER: OnceLock<Slapd> = OnceLock::new();
        PROVISIONING_SERVER.get_or_init(|| Slapd::start("provisioning-target.ldif", 0))
    }

    /// Whether `dn` can bind with `password` (`ldapwhoami`): what the target Dovecot's
    /// `auth_bind` asks of the directory.
    pub fn can_bind(&self, dn: &str, password: &str) -> bool {
        Command::new("/usr/bin/ldapwhoami")
            .args(["-x", "-H", &self.url(), "-D", dn, "-w", password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ldapwhoami (apt-get install ldap-utils)")
            .success()
    }

    /// Reads entries as the root DN (`ldapsearch`, LDIF without wrapping): under
    /// `base` (subtree), matching `filter`, with `attrs`.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> String {
        let out = Command::new("/usr/bin/ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-E",
                "pr=500/noprompt",
                "-H",
                &self.url(),
                "-D",
                Self::ADMIN,
                "-w",
                Self::ADMIN_PASSWORD,
                "-b",
                base,
                filter,
            ])
            .args(attrs)
            .output()
            .expect("run ldapsearch (apt-get install ldap-utils)");
        assert!(
            out.status.success(),
            "ldapsearch {base} {filter} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Applies an LDIF as the root DN (`ldapmodify`, changetype in the LDIF).
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("/usr/bin/ldapmodify")
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                Self::ADMIN,
                "-w",
                Self::ADMIN_PASSWORD,
            ])
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
            "ldapmodify into slapd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn start(organization: &str, extra_people: usize) -> Slapd {
        // The password-policy overlay, for the organization whose policy entry it reads.
        let ppolicy = organization == "provisioning-target.ldif";
        for tool in [SLAPD, SLAPADD] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: apt-get install slapd ldap-utils (listed in .ci/packages)"
            );
        }
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ldap/openldap");
        let dir = tempfile::Builder::new()
            .prefix("cutover-slapd-")
            .tempdir()
            .expect("temp dir for slapd")
            .keep();
        std::fs::create_dir(dir.join("data")).unwrap();
        let ca = TestCa::new();
        let tls = ca.server("slapd", &[]);
        let conf = std::fs::read_to_string(fixtures.join("slapd.conf"))
            .unwrap()
            .replace(
                "@FIXTURES@",
                &fixtures.canonicalize().unwrap().display().to_string(),
            )
            .replace("@DIR@", &dir.display().to_string())
            .replace("@CERT@", &tls.cert.display().to_string())
            .replace("@KEY@", &tls.key.display().to_string())
            .replace("@CA@", &ca.cert.display().to_string())
            .replace("@MODULES@", if ppolicy { "moduleload ppolicy" } else { "" })
            .replace(
                "@OVERLAYS@",
                if ppolicy {
                    "overlay ppolicy\nppolicy_default \"cn=default,ou=policies,dc=contoso,dc=test\""
                } else {
                    ""
                },
            );
        std::fs::write(dir.join("slapd.conf"), conf).unwrap();
        let mut ldif = std::fs::read_to_string(fixtures.join(organization)).unwrap();
        for i in 0..extra_people {
            ldif.push_str(&format!(
                "\ndn: uid=person{i:04},ou=people,dc=contoso,dc=test\nobjectClass: inetOrgPerson\n\
                 uid: person{i:04}\ncn: Person {i}\nsn: {i}\nmail: person{i:04}@contoso.test\n"
            ));
        }
        std::fs::write(dir.join("organization.ldif"), ldif).unwrap();
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("organization.ldif"))
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.join("slapd.log")).unwrap();
            let mut child = Command::new(SLAPD)
                // -d keeps it in the foreground (the watchdog stops it by pid).
                .args(["-d", "0", "-h", &format!("ldap://127.0.0.1:{port}/"), "-f"])
                .arg(dir.join("slapd.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("run /usr/sbin/slapd");
            match wait_for_port(&mut child, port, Duration::from_secs(20)) {
                Ok(()) => {
                    stop_when_tests_end(child.id(), &[&dir, ca.dir()]);
                    std::mem::forget(child);
                    return Slapd {
                        port,
                        ca_file: ca.cert.clone(),
                        dir,
                        _ca: ca,
                    };
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = format!(
                        "{e}: {}",
                        std::fs::read_to_string(dir.join("slapd.log")).unwrap_or_default()
                    );
                }
            }
        }
        panic!("slapd did not start: {last}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }
}
