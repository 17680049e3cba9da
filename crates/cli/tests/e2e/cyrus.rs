//! The Cyrus fixture's own checks (not cutover's): it starts with either namespace, what
//! it writes is what Cyrus serves, its snapshot compares with a Dovecot one, and the admin
//! opens users' mailboxes with PLAIN authzid while wrong passwords are refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::support::{Cyrus, CyrusOptions, Dovecot, DovecotOptions, diff, fill_realistic_mailbox};

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";

#[test]
fn cyrus_holds_what_dovecot_holds_in_either_namespace() {
    // the realistic corpus has raw UTF-8 in headers: Cyrus must keep it to match Dovecot
    let exact = |opts: CyrusOptions| CyrusOptions {
        munge8bit: false,
        ..opts
    };
    let alt = thread::spawn(move || Cyrus::start("alt", exact(CyrusOptions::default())));
    let inbox =
        thread::spawn(move || Cyrus::start("inbox", exact(CyrusOptions::inbox_namespace())));
    let dovecot = Dovecot::start("reference", DovecotOptions::default());
    let (alt, inbox) = (alt.join().unwrap(), inbox.join().unwrap());
    assert_eq!((alt.separator(), alt.personal_prefix().as_str()), ('/', ""));
    assert_eq!(
        (inbox.separator(), inbox.personal_prefix().as_str()),
        ('.', "INBOX.")
    );

    // the same 30 messages (one of several MB) into each
    thread::scope(|scope| {
        scope.spawn(|| fill_realistic_mailbox(&alt, ALICE, 30, 11, true));
        scope.spawn(|| fill_realistic_mailbox(&inbox, ALICE, 30, 11, true));
        fill_realistic_mailbox(&dovecot, ALICE, 30, 11, true);
    });
    for server in [&alt, &inbox] {
        server.create_folder(ALICE, "Unsubscribed/Child");
        server.subscribe(ALICE, "Unsubscribed/Child");
        server.unsubscribe(ALICE, "Unsubscribed/Child");
    }
    dovecot.create_folder(ALICE, "Unsubscribed/Child");

    let reference = dovecot.mailbox(ALICE);
    assert_eq!(reference.message_count(), 30);
    for cyrus in [&alt, &inbox] {
        let snap = cyrus.mailbox(ALICE);
        assert_eq!(
            diff(&reference, &snap),
            Vec::<String>::new(),
            "Dovecot -> Cyrus {}:\n{}",
            cyrus.personal_prefix(),
            cyrus.log()
        );
        assert_eq!(snap.subscribed, reference.subscribed);
        assert_eq!(snap.message_count(), 30);
        // Cyrus makes the parents of a new folder real (selectable, empty) mailboxes,
        // where Dovecot's are \Noselect: the only difference between the two
        let parents = ["Archive", "Projects/a", "Unsubscribed"];
        for folder in &reference.selectable {
            assert!(snap.selectable.contains(folder), "{folder}");
        }
        let extra: Vec<&String> = snap.selectable.difference(&reference.selectable).collect();
        assert_eq!(extra, parents, "{:?}", snap.selectable);
        assert_eq!(
            snap.folders.keys().collect::<Vec<_>>(),
            reference.folders.keys().collect::<Vec<_>>()
        );
        for parent in parents {
            assert!(snap.folders[parent].is_empty());
        }
    }
    // both namespaces give the same snapshot
    assert_eq!(alt.mailbox(ALICE), inbox.mailbox(ALICE));

    // ... while the server's own names differ: the user's LIST, without the helper
    let listed = |cyrus: &Cyrus| {
        let mut s = Session::open(cyrus.port());
        s.ok(&format!("LOGIN {ALICE} pass"));
        let lines = s.ok("LIST \"\" \"*\"");
        let ns = s.ok("NAMESPACE");
        (lines.join("\n"), ns.join("\n"))
    };
    let (list, ns) = listed(&alt);
    assert!(list.contains("\"/\" Archive/2024"), "{list}");
    assert!(
        list.contains("\"/\" \"&AMk-l&AOk-ments envoy&AOk-s\""),
        "{list}"
    );
    assert!(ns.contains("((\"\" \"/\"))"), "{ns}");
    let (list, ns) = listed(&inbox);
    assert!(list.contains("\".\" INBOX.Archive.2024"), "{list}");
    assert!(list.contains("\".\" INBOX.Projects.a.b"), "{list}");
    assert!(ns.contains("((\"INBOX.\" \".\"))"), "{ns}");
}

#[test]
fn cyrus_fixture_writes_exact_bytes_and_edits_mail() {
    let cyrus = Cyrus::start("edits", CyrusOptions::inbox_namespace());
    // Cyrus's default munge8bit: 8-bit header bytes become 'X', the body keeps them
    let odd = b"From: <x@y.test>\r\nSubject: caf\xc3\xa9\r\n\r\nlf only\nbare cr \r here\r\n\xc3\xa9t\xc3\xa9\r\nno final newline";
    let uid = cyrus.append(
        ALICE,
        "Odd/Bytes",
        odd,
        &["\\Seen", "$Label1", "Custom"],
        1_600_000_000,
    );
    let second = cyrus.append(ALICE, "Odd/Bytes", b"Subject: two\n\nx\n", &[], 86_400);
    assert_eq!(cyrus.uids(ALICE, "Odd/Bytes"), [uid, second]);
    let snap = cyrus.mailbox(ALICE);
    let stored = &snap.folders["Odd/Bytes"];
    assert_eq!(
        stored[0].body,
        b"From: <x@y.test>\r\nSubject: cafXX\r\n\r\nlf only\r\nbare cr \r here\r\n\xc3\xa9t\xc3\xa9\r\nno final newline"
    );
    assert_eq!(stored[0].flags, ["$label1", "\\seen", "custom"]);
    assert_eq!(stored[0].internal_date, 1_600_000_000);
    assert_eq!(stored[1].body, b"Subject: two\r\n\r\nx\r\n");
    assert_eq!(
        (stored[1].flags.len(), stored[1].internal_date),
        (0, 86_400)
    );
    assert!(snap.selectable.contains("INBOX") && snap.folders["INBOX"].is_empty());
    assert!(snap.subscribed.is_empty());

    // what the helper reads is what a plain IMAP client receives
    let mut s = Session::open(cyrus.port());
    s.ok(&format!("LOGIN {ALICE} pass"));
    s.ok("EXAMINE INBOX.Odd.Bytes");
    let served = s.literals(&format!("UID FETCH {uid} BODY.PEEK[]"));
    assert_eq!(served, [stored[0].body.clone()]);

    cyrus.change_flags(ALICE, "Odd/Bytes", uid, false, &["\\Seen", "Custom"]);
    cyrus.change_flags(
        ALICE,
        "Odd/Bytes",
        second,
        true,
        &["\\Flagged", "$Forwarded"],
    );
    cyrus.expunge(ALICE, "Odd/Bytes", uid);
    cyrus.rename_folder(ALICE, "Odd/Bytes", "Renamed Été");
    cyrus.subscribe(ALICE, "Renamed Été");
    cyrus.create_folder(ALICE, "Gone");
    cyrus.delete_folder(ALICE, "Gone");
    let snap = cyrus.mailbox(ALICE);
    assert!(!snap.folders.contains_key("Gone") && !snap.folders.contains_key("Odd/Bytes"));
    let renamed = &snap.folders["Renamed Été"];
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].flags, ["$forwarded", "\\flagged"]);
    assert_eq!(snap.subscribed.iter().collect::<Vec<_>>(), ["Renamed Été"]);
    // bob's mailbox is his own
    assert_eq!(cyrus.mailbox(BOB).message_count(), 0);
}

#[test]
fn cyrus_admin_opens_mailboxes_with_authzid_and_wrong_passwords_fail() {
    let cyrus = Cyrus::start("auth", CyrusOptions::default());
    cyrus.create_folder(ALICE, "Only Alice");
    let plain = |authz: &str, authc: &str, password: &str| {
        B64.encode(format!("{authz}\0{authc}\0{password}"))
    };

    // the admin, as alice: alice's folders, and she can read and write them
    let mut s = Session::open(cyrus.port());
    let ok = s.ok(&format!(
        "AUTHENTICATE PLAIN {}",
        plain(ALICE, "admin", "adminpass")
    ));
    assert!(ok.last().unwrap().contains("OK"), "{ok:?}");
    let list = s.ok("LIST \"\" \"*\"").join("\n");
    assert!(list.contains("\"Only Alice\""), "{list}");
    s.ok("SELECT INBOX");
    s.ok("CREATE \"By Admin\"");
    assert!(cyrus.mailbox(ALICE).selectable.contains("By Admin"));

    for (what, command) in [
        ("wrong password", format!("LOGIN {ALICE} wrong")),
        ("unknown user", "LOGIN nobody@contoso.test pass".to_string()),
        (
            "wrong admin password",
            format!("AUTHENTICATE PLAIN {}", plain(ALICE, "admin", "wrong")),
        ),
        (
            "bob is no admin",
            format!("AUTHENTICATE PLAIN {}", plain(ALICE, BOB, "pass")),
        ),
    ] {
        let mut s = Session::open(cyrus.port());
        let answer = s.command(&command);
        assert!(
            answer.last().unwrap().starts_with("t NO"),
            "{what}: {answer:?}"
        );
    }

    // users log in with their own password and see only their own mailbox
    let mut s = Session::open(cyrus.port());
    s.ok(&format!("LOGIN {BOB} pass"));
    let list = s.ok("LIST \"\" \"*\"").join("\n");
    assert!(!list.contains("Only Alice"), "{list}");
    let mut s = Session::open(cyrus.port());
    s.ok(&format!("LOGIN {ALICE} pass"));
    assert!(s.ok("LIST \"\" \"*\"").join("\n").contains("Only Alice"));
}

/// A bare IMAP session over a socket (no cutover code): one command at a time, tag "t".
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    fn open(port: u16) -> Session {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut s = Session {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        };
        let greeting = s.line();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        s
    }

    fn line(&mut self) -> String {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(!line.is_empty(), "server closed the connection");
        String::from_utf8_lossy(&line).trim_end().to_string()
    }

    /// The untagged lines, then the tagged one; literals are skipped.
    fn command(&mut self, command: &str) -> Vec<String> {
        write!(self.writer, "t {command}\r\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if let Some(n) = literal_len(&line) {
                let mut skip = vec![0; n];
                self.reader.read_exact(&mut skip).unwrap();
            }
            let done = line.starts_with("t ");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    fn ok(&mut self, command: &str) -> Vec<String> {
        let lines = self.command(command);
        assert!(
            lines.last().unwrap().starts_with("t OK"),
            "{command}: {lines:?}"
        );
        lines
    }

    /// The literals of the answer to `command` (which must succeed), in order.
    fn literals(&mut self, command: &str) -> Vec<Vec<u8>> {
        write!(self.writer, "t {command}\r\n").unwrap();
        let mut out = Vec::new();
        loop {
            let line = self.line();
            if let Some(n) = literal_len(&line) {
                let mut body = vec![0; n];
                self.reader.read_exact(&mut body).unwrap();
                out.push(body);
            }
            if line.starts_with("t ") {
                assert!(line.starts_with("t OK"), "{command}: {line}");
                return out;
            }
        }
    }
}

fn literal_len(line: &str) -> Option<usize> {
    let open = line.rfind('{')?;
    line.strip_suffix('}')?[open + 1..].parse().ok()
}
