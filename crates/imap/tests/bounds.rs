//! A server cannot make the client hang or balloon: lines, responses, a command's data
//! and inflated bytes are held against [`Limits`], and silence against the idle
//! timeout, with errors that name the server, the command and the limit.

mod support;

use std::time::{Duration, Instant};

use cutover_imap::{
    AppendMessage, ImapError, Limit, Limits, MailboxName, Security, ServerAddr, Session, TlsOptions,
};
use support::{Step, pause_ms, send, serve, serve_without_reading};
use tokio::io::AsyncWriteExt;

const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\r\n";

fn inbox() -> MailboxName {
    MailboxName::from_wire(b"INBOX".to_vec())
}

fn short(timeout_ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(timeout_ms),
        ..Limits::default()
    }
}

fn assert_limit(err: &ImapError, want: Limit, want_command: &str) {
    match err {
        ImapError::LimitExceeded { limit, command, .. } => {
            assert_eq!(*limit, want, "{err}");
            assert_eq!(*command, want_command, "{err}");
        }
        other => panic!("expected {want:?} during {want_command}, got {other:?}"),
    }
    assert!(!err.is_transient(), "{err}");
}

fn assert_timeout(err: &ImapError, want_command: &str) {
    match err {
        ImapError::Timeout { command, .. } => assert_eq!(*command, want_command, "{err}"),
        other => panic!("expected a timeout during {want_command}, got {other:?}"),
    }
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn a_line_without_end_fails_at_the_line_limit_and_drops_the_connection() {
    let mut line = b"* OK ".to_vec();
    line.resize(10 << 20, b'x');
    let mut s = Session::from_stream(serve(vec![send(GREETING), send(line)]))
        .await
        .unwrap();
    let err = s.noop().await.unwrap_err();
    assert_limit(&err, Limit::LineLength, "NOOP");
    assert_eq!(
        err.to_string(),
        "the server (stream) sent a line longer than 8388608 bytes during NOOP \
         (limit: line length; raise CUTOVER_IMAP_MAX_LINE if the server is right)"
    );
    // Out of step with the server now: no further command is sent.
    match s.noop().await.unwrap_err() {
        ImapError::ConnectionUnusable { cause, transient } => {
            assert!(cause.contains("CUTOVER_IMAP_MAX_LINE"), "{cause}");
            assert!(!transient);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_configured_line_limit_applies_to_the_greeting_too() {
    let limits = Limits {
        max_line: 1000,
        ..Limits::default()
    };
    let mut greeting = b"* OK ".to_vec();
    greeting.resize(5000, b'y');
    let err = Session::from_stream_limited(serve(vec![send(greeting)]), limits)
        .await
        .unwrap_err();
    assert_limit(&err, Limit::LineLength, "greeting");
}

#[tokio::test]
async fn too_many_responses_or_bytes_for_one_command_fail_it() {
    let flood: String = "* 1 EXISTS\r\n".repeat(1000);
    let limits = Limits {
        max_untagged_responses: 100,
        ..Limits::default()
    };
    let mut s = Session::from_stream_limited(serve(vec![send(GREETING), send(&flood)]), limits)
        .await
        .unwrap();
    assert_limit(
        &s.noop().await.unwrap_err(),
        Limit::UntaggedResponses,
        "NOOP",
    );

    let limits = Limits {
        max_untagged_bytes: 4096,
        ..Limits::default()
    };
    let mut s = Session::from_stream_limited(serve(vec![send(GREETING), send(&flood)]), limits)
        .await
        .unwrap();
    let err = s.noop().await.unwrap_err();
    assert_limit(&err, Limit::UntaggedBytes, "NOOP");
    assert!(
        err.to_string().contains("CUTOVER_IMAP_MAX_UNTAGGED"),
        "{err}"
    );
}

#[tokio::test]
async fn a_response_over_the_size_limit_fails_its_message_or_its_command() {
    let limits = Limits {
        max_literal: 1000,
        ..Limits::default()
    };
    // FETCH: that message fails, the others arrive.
    let body = "z".repeat(2000);
    let script = format!(
        "{GREETING}* 1 FETCH (UID 10 BODY[] {{2000}}\r\n{body})\r\n\
         * 2 FETCH (UID 11 BODY[] {{2}}\r\nok)\r\nC1 OK done\r\n"
    );
    let mut s = Session::from_stream_limited(serve(vec![send(script)]), limits.clone())
        .await
        .unwrap();
    let got = s.fetch_bodies(&[10, 11]).await.unwrap();
    let err = got[0].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("CUTOVER_IMAP_MAX_LITERAL"), "{err}");
    assert_eq!(got[1].1.as_ref().unwrap(), b"ok");

    // Anything else: the command cannot be answered without it.
    let script = format!("{GREETING}* LIST () \"/\" {{2000}}\r\n{body}\r\nC1 OK done\r\n");
    let mut s = Session::from_stream_limited(serve(vec![send(script)]), limits)
        .await
        .unwrap();
    assert_limit(&s.list().await.unwrap_err(), Limit::ResponseSize, "LIST");
}

#[tokio::test]
async fn a_deflate_bomb_hits_the_inflation_limit() {
    use async_compression::tokio::write::DeflateEncoder;
    // 32 MiB that compress about 1000:1, inside a FETCH the client asked for.
    let mut plain = b"* 1 FETCH (UID 1 BODY[] {33554432}\r\n".to_vec();
    plain.resize(plain.len() + (32 << 20), 0);
    plain.extend_from_slice(b")\r\nC2 OK done\r\n");
    let mut encoder = DeflateEncoder::new(Vec::new());
    encoder.write_all(&plain).await.unwrap();
    encoder.shutdown().await.unwrap();
    let bomb = encoder.into_inner();
    assert!(
        plain.len() / bomb.len() > 500,
        "ratio {}",
        plain.len() / bomb.len()
    );

    let script = vec![
        send("* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] ready\r\n"),
        send("C1 OK Begin compression.\r\n"),
        pause_ms(50),
        send(bomb),
    ];
    let mut s = Session::from_stream(serve(script)).await.unwrap();
    assert!(s.compress().await.unwrap());
    let err = s.fetch_bodies(&[1]).await.unwrap_err();
    assert_limit(&err, Limit::InflateRatio, "UID FETCH");
    assert!(
        err.to_string().contains("inflates more than 100:1"),
        "{err}"
    );
}

#[tokio::test]
async fn silence_after_the_greeting_times_out_the_command() {
    let mut s = Session::from_stream_limited(serve(vec![send(GREETING)]), short(300))
        .await
        .unwrap();
    let started = Instant::now();
    let err = s.examine(&inbox()).await.unwrap_err();
    let waited = started.elapsed();
    assert_timeout(&err, "EXAMINE");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server (stream) stopped answering during EXAMINE after 0.3 s"
    );
    // A late answer would be taken for the next command's: the connection is dropped.
    let err = s.noop().await.unwrap_err();
    assert!(
        matches!(
            err,
            ImapError::ConnectionUnusable {
                transient: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn no_greeting_times_out() {
    let err = Session::from_stream_limited(serve(vec![]), short(200))
        .await
        .unwrap_err();
    assert_timeout(&err, "greeting");
    // A greeting trickled slower than the timeout allows as a whole.
    let trickle: Vec<Step> = GREETING
        .bytes()
        .flat_map(|b| [send([b]), pause_ms(20)])
        .collect();
    let err = Session::from_stream_limited(serve(trickle), short(300))
        .await
        .unwrap_err();
    assert_timeout(&err, "greeting");
}

#[tokio::test]
async fn a_stall_inside_a_literal_times_out() {
    let script = vec![
        send(GREETING),
        send("* 1 FETCH (UID 1 BODY[] {100}\r\n"),
        send("x".repeat(50)),
    ];
    let mut s = Session::from_stream_limited(serve(script), short(300))
        .await
        .unwrap();
    assert_timeout(&s.fetch_bodies(&[1]).await.unwrap_err(), "UID FETCH");
}

#[tokio::test]
async fn a_literal_trickling_in_is_progress_not_a_stall() {
    // A byte every 100 ms for 1.5 s with a 1 s idle timeout.
    let mut script = vec![send(GREETING), send("* 1 FETCH (UID 1 BODY[] {15}\r\n")];
    for b in b"hello, trickle!" {
        script.push(pause_ms(100));
        script.push(send([*b]));
    }
    script.push(send(")\r\nC1 OK done\r\n"));
    let mut s = Session::from_stream_limited(serve(script), short(1000))
        .await
        .unwrap();
    let started = Instant::now();
    let got = s.fetch_bodies(&[1]).await.unwrap();
    assert!(started.elapsed() > Duration::from_millis(1000));
    assert_eq!(got[0].1.as_ref().unwrap(), b"hello, trickle!");
}

#[tokio::test]
async fn a_server_that_stops_reading_times_out_the_upload() {
    // The pipe holds 64 KiB; the message is 4 MiB and nobody reads it.
    let body = vec![b'a'; 4 << 20];
    let stream = serve_without_reading(vec![send(GREETING)], 64 << 10);
    let mut s = Session::from_stream_limited(stream, short(300))
        .await
        .unwrap();
    let started = Instant::now();
    let err = s
        .append(
            &inbox(),
            &[AppendMessage {
                flags: &[],
                internal_date: None,
                body: (&body).into(),
            }],
        )
        .await
        .unwrap_err();
    assert_timeout(&err, "APPEND");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A TCP server that greets as `greeting` says (or not at all), answers STARTTLS, and
/// then never says a word of TLS.
async fn mute_tls_server(greeting: Option<&'static str>) -> u16 {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        if let Some(greeting) = greeting {
            socket.write_all(greeting.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"C1 STARTTLS\r\n");
            socket.write_all(b"C1 OK Begin TLS.\r\n").await.unwrap();
        }
        let mut buf = [0u8; 4096];
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    port
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_times_out() {
    for (security, greeting) in [
        (Security::Tls, None),
        // The plaintext greeting's code names four billion UIDs; nothing expands it.
        (
            Security::StartTls,
            Some("* OK [APPENDUID 1 1:4294967295] hi\r\n"),
        ),
    ] {
        let port = mute_tls_server(greeting).await;
        let addr = ServerAddr {
            host: "127.0.0.1".into(),
            port,
            security,
        };
        let started = Instant::now();
        let err = Session::connect_limited(&addr, &[], &TlsOptions::default(), short(300))
            .await
            .unwrap_err();
        assert_timeout(&err, "TLS handshake");
        assert!(started.elapsed() < Duration::from_secs(3), "{security}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
