//! The fixture's own check: what it writes is what Dovecot serves, and what it reads is exact.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;

use crate::support::{Dovecot, DovecotOptions, diff, fill_realistic_mailbox};

#[test]
fn dovecot_pair_starts_and_serves_written_mail() {
    let user = "alice@contoso.test";
    let opts = || DovecotOptions {
        users: vec![user.to_string(), "bob@contoso.test".to_string()],
        ..DovecotOptions::default()
    };
    let src = thread::spawn(move || Dovecot::start("src", opts()));
    let dst = thread::spawn(move || Dovecot::start("dst", opts()));
    let (src, dst) = (src.join().unwrap(), dst.join().unwrap());
    assert_ne!(src.port(), dst.port());

    fill_realistic_mailbox(&src, user, 40, 7, true);
    // bytes Dovecot serves differently from how they are stored: bare LF, bare CR, NUL, no final newline
    let odd = b"From: <x@y.test>\r\nSubject: caf\xc3\xa9 \xff\r\n\r\nlf only\nbare cr \r here\r\nnul \0 byte\r\nno final newline";
    src.write_message(
        user,
        "Odd/Bytes",
        odd,
        &["\\Seen", "$Label1", "Custom"],
        1_600_000_000,
    );
    src.index(user);

    let snap = src.mailbox(user);
    assert_eq!(snap.message_count(), 41, "{:#?}", snap.folders.keys());
    for folder in [
        "INBOX",
        "Sent",
        "Drafts",
        "Archive/2024",
        "Archive/2025",
        "Archive/Empty",
        "Projects",
        "Projects/a/b",
        "Éléments envoyés",
        "R&D",
        "Odd/Bytes",
    ] {
        assert!(
            snap.selectable.contains(folder),
            "{folder} not selectable: {:?}",
            snap.selectable
        );
    }
    assert!(!snap.selectable.contains("Archive") && snap.folders.contains_key("Archive"));
    assert!(snap.subscribed.contains("Éléments envoyés") && !snap.subscribed.contains("Odd/Bytes"));
    assert!(snap.folders["Archive/Empty"].is_empty());
    let all: Vec<_> = snap.folders.values().flatten().collect();
    for flag in [
        "\\seen",
        "\\answered",
        "\\flagged",
        "\\draft",
        "$label1",
        "nonjunk",
        "projectx",
    ] {
        assert!(
            all.iter().any(|m| m.flags.iter().any(|f| f == flag)),
            "no message has {flag}"
        );
    }
    assert!(
        all.iter().any(|m| m.body.len() > 3_000_000),
        "no big message"
    );
    assert!(
        all.iter()
            .all(|m| !m.body.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'))
    );
    let odd_stored = &snap.folders["Odd/Bytes"][0];
    assert_eq!(odd_stored.flags, ["$label1", "\\seen", "custom"]);
    assert_eq!(odd_stored.internal_date, 1_600_000_000);

    // what doveadm reports is what an IMAP client receives, byte for byte
    for folder in ["Odd/Bytes", "Éléments envoyés", "Archive/2024"] {
        let mbox = if folder == "Éléments envoyés" {
            "&AMk-l&AOk-ments envoy&AOk-s"
        } else {
            folder
        };
        let served = imap_bodies(src.port(), user, mbox);
        let stored: Vec<&[u8]> = snap.folders[folder]
            .iter()
            .map(|m| m.body.as_slice())
            .collect();
        assert_eq!(served.len(), stored.len(), "{folder}");
        for (a, b) in served.iter().zip(&stored) {
            assert!(
                a.as_slice() == *b,
                "{folder}: IMAP served {} bytes, snapshot has {}",
                a.len(),
                b.len()
            );
        }
    }

    // the target starts empty; copying the snapshot with write_message reproduces it exactly
    let empty = dst.mailbox(user);
    assert_eq!(empty.message_count(), 0);
    assert!(
        diff(&snap, &empty).len() >= 10,
        "{:#?}",
        diff(&snap, &empty)
    );
    assert!(diff(&snap, &snap).is_empty());
    for (folder, msgs) in &snap.folders {
        for m in msgs {
            let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
            dst.write_message(user, folder, &m.body, &flags, m.internal_date);
        }
    }
    dst.create_folder(user, "Archive/Empty");
    dst.index(user);
    let copy = dst.mailbox(user);
    assert_eq!(
        diff(&snap, &copy),
        Vec::<String>::new(),
        "log:\n{}",
        dst.log()
    );

    // a user's first message can go straight to INBOX
    let bob = "bob@contoso.test";
    dst.write_message(
        bob,
        "INBOX",
        b"Subject: hi\r\n\r\nbody\r\n",
        &["\\Seen"],
        86_400,
    );
    dst.index(bob);
    let inbox = &dst.mailbox(bob).folders["INBOX"];
    assert_eq!(
        (inbox.len(), inbox[0].body.as_slice()),
        (1, &b"Subject: hi\r\n\r\nbody\r\n"[..])
    );

    // an extra message is reported
    dst.write_message(user, "INBOX", b"Subject: stray\n\nx\n", &[], 0);
    dst.index(user);
    let lines = diff(&snap, &dst.mailbox(user));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("extra") && l.contains("stray")),
        "{lines:#?}"
    );
    assert!(!src.log().contains("Error"), "{}", src.log());
}

/// Minimal IMAP reader: LOGIN as master user, SELECT, UID FETCH 1:* BODY.PEEK[] in UID order.
fn imap_bodies(port: u16, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut line = Vec::new();
    let read_line = |r: &mut BufReader<TcpStream>, line: &mut Vec<u8>| {
        line.clear();
        r.read_until(b'\n', line).unwrap();
        assert!(!line.is_empty(), "server closed the connection");
    };
    read_line(&mut r, &mut line);
    write!(w, "a LOGIN \"{user}*admin\" adminpass\r\nb SELECT \"{mailbox}\"\r\nc UID FETCH 1:* BODY.PEEK[]\r\n").unwrap();
    let mut bodies = Vec::new();
    loop {
        read_line(&mut r, &mut line);
        if line.starts_with(b"a ") || line.starts_with(b"b ") {
            assert!(
                line[2..].starts_with(b"OK"),
                "{}",
                String::from_utf8_lossy(&line)
            );
        }
        if line.starts_with(b"c ") {
            assert!(
                line[2..].starts_with(b"OK"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            break;
        }
        if line.starts_with(b"* ") && line.ends_with(b"}\r\n") {
            let open = line.iter().rposition(|&b| b == b'{').unwrap();
            let n: usize = std::str::from_utf8(&line[open + 1..line.len() - 3])
                .unwrap()
                .parse()
                .unwrap();
            let mut body = vec![0; n];
            r.read_exact(&mut body).unwrap();
            bodies.push(body);
        }
    }
    bodies
}
