//! The first real cutover: the seed's flow with our CLI between two real Dovecot servers,
//! checked from the target side by the fixture (doveadm), independently of our IMAP code.

use serde_json::Value;

use crate::support::{
    Cutover, assert_same_mailbox, field, fill_realistic_mailbox, pair, verify_independently,
};

#[test]
fn three_mailboxes_move_byte_exact_and_a_second_pass_copies_nothing() {
    let users = [
        "alice@contoso.test",
        "bob@contoso.test",
        "carol@contoso.test",
    ];
    let (src, dst) = pair(&users, '/');
    fill_realistic_mailbox(&src, users[0], 60, 1, true);
    fill_realistic_mailbox(&src, users[1], 40, 2, false);
    fill_realistic_mailbox(&src, users[2], 25, 3, true);
    for u in users {
        src.index(u);
    }
    let total: usize = users.iter().map(|u| src.mailbox(u).message_count()).sum();

    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", users[0]);
    let created = cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    assert_eq!(field(&created, "Status"), "Syncing");
    assert_eq!(field(&created, "TotalCount"), 3);

    let (run, log) = cutover.run_logged("info", &[]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), total as u64);
    // The three start together on empty target mailboxes: the target's case rule is
    // asked once (one probe folder), not once per mailbox.
    assert_eq!(
        log.matches("the target's folder names compare").count(),
        1,
        "{log}"
    );
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);

    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Synced");
    assert_eq!(field(&batch, "SyncedCount"), 3);
    assert_eq!(field(&batch, "FailedCount"), 0);
    assert_eq!(field(&batch, "ItemsSynced"), total as u64);
    assert!(field(&batch, "InitialSyncDateTime").is_string());
    assert!(field(&batch, "LastSyncedDateTime").is_string());
    let listed = cutover.json(&["user", "get"]);
    let statuses: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| field(u, "Status"))
        .collect();
    assert_eq!(statuses, ["Synced", "Synced", "Synced"]);
    let stats = cutover.json(&["user", "stats", users[0], "--include-skipped-items"]);
    assert_eq!(
        field(&stats, "TotalItemsInSourceMailboxCount"),
        field(&stats, "SyncedItemCount")
    );
    assert_eq!(field(&stats, "SkippedItems"), &Value::Array(vec![]));

    // A cutover batch stays Synced; nothing is due until its interval passes...
    let idle = cutover.run(&["run", "--once"]);
    assert!(String::from_utf8_lossy(&idle.stderr).contains("nothing is due"));
    // ...and `batch start` asks for an incremental pass now, which copies nothing twice.
    let before: Vec<_> = users.iter().map(|u| dst.mailbox(u)).collect();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    assert_eq!(field(&again[0], "Status"), "Synced");
    for (u, b) in users.iter().zip(&before) {
        assert_eq!(
            &dst.mailbox(u),
            b,
            "{u}: the second pass changed the target"
        );
    }
}

#[test]
fn a_failed_login_fails_that_user_only_and_names_change_separator() {
    let users = ["alice@contoso.test", "bob@contoso.test"];
    // The target uses '.' as its hierarchy separator; the source '/'.
    let (src, dst) = pair(&users, '.');
    fill_realistic_mailbox(&src, users[0], 30, 4, false);
    fill_realistic_mailbox(&src, users[1], 20, 5, false);
    for u in users {
        src.index(u);
    }

    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "template:{user}*{admin}", users[0]);
    // bob logs in with his own password (the CSV's Password column); the third mailbox
    // does not exist on the source, so its login fails.
    cutover.start_batch(
        &[
            (users[0], "", ""),
            (users[1], users[1], "pass"),
            ("ghost@contoso.test", "", ""),
        ],
        &[],
    );
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    assert_eq!(field(&run[0], "UsersFailed"), 1);
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    let ghost = cutover.json(&["user", "get", "ghost@contoso.test"]);
    assert_eq!(field(&ghost, "Status"), "Failed");
    let error = field(&ghost, "ErrorSummary").as_str().unwrap();
    assert!(
        error.contains("cannot log in to the source server")
            && error.contains("ghost@contoso.test*admin"),
        "{error}"
    );
    assert!(
        !error.contains("adminpass"),
        "a password leaked into an error: {error}"
    );
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "FailedCount"), 1);
    assert_eq!(field(&batch, "SyncedCount"), 2);
    let failed = cutover.json(&["user", "get", "--status", "Failed"]);
    assert_eq!(failed.as_array().unwrap().len(), 1);
}

#[test]
fn the_cli_guards_its_inputs_and_never_stores_a_plain_password() {
    let cutover = Cutover::new();
    // No Dovecot here: the endpoint is stored without a connection test.
    cutover.ok(&[
        "endpoint",
        "new",
        "--name",
        "CutoverEndpoint",
        "--server",
        "127.0.0.1",
        "--port",
        "1",
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "SRC_ADMIN_PASSWORD",
        "--skip-verification",
    ]);
    let listed = cutover.ok(&[
        "endpoint",
        "get",
        "CutoverEndpoint",
        "--select",
        "EndpointType,Max*",
    ]);
    assert_eq!(
        listed.trim(),
        "EndpointType                  : IMAP\n\
         MaxConcurrentMigrations       : 100\n\
         MaxConcurrentIncrementalSyncs : 20"
    );
    let err = cutover.fails(&["endpoint", "get", "CutoverEndpoint", "--select", "Nope*"]);
    assert!(err.contains("matches no property"), "{err}");

    // Passwords are never plain arguments (usage error, exit 2).
    let out = cutover.run(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--admin",
        "admin",
        "--password",
        "adminpass",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = cutover.fails(&[
        "target",
        "set",
        "--server",
        "127.0.0.1",
        "--port",
        "1",
        "--security",
        "none",
        "--admin",
        "admin",
        "--password-env",
        "NOT_SET_ANYWHERE",
        "--skip-verification",
    ]);
    assert!(err.contains("NOT_SET_ANYWHERE is not set"), "{err}");

    // A broken users CSV is refused with every problem and its line.
    let bad = cutover.write(
        "bad.csv",
        "EmailAddress,UserName,Password\na@contoso.test,,\nnot-an-address,,\nA@contoso.test,,\n",
    );
    let err = cutover.fails(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "CutoverEndpoint",
        "--users-csv",
        &bad,
    ]);
    assert!(
        err.contains("line 3") && err.contains("line 4: a@contoso.test is listed twice"),
        "{err}"
    );
    let header = cutover.write("header.csv", "Mail,Login\na@contoso.test,a\n");
    let err = cutover.fails(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "CutoverEndpoint",
        "--users-csv",
        &header,
    ]);
    assert!(err.contains("unknown column 'Mail'"), "{err}");
    let err = cutover.fails(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "Nowhere",
        "--users-csv",
        &header,
    ]);
    assert!(err.contains("endpoint 'Nowhere' was not found"), "{err}");

    // Only one cutover batch at a time.
    cutover.accept_domains(&["a@contoso.test"]);
    let good = cutover.write(
        "users.csv",
        "EmailAddress,UserName,Password\na@contoso.test,,secret-of-a\n",
    );
    cutover.ok(&[
        "batch",
        "new",
        "--name",
        "CutoverBatch",
        "--source-endpoint",
        "CutoverEndpoint",
        "--users-csv",
        &good,
    ]);
    let err = cutover.fails(&[
        "batch",
        "new",
        "--name",
        "Second",
        "--source-endpoint",
        "CutoverEndpoint",
        "--users-csv",
        &good,
    ]);
    assert!(
        err.contains("only one cutover batch may exist at a time"),
        "{err}"
    );
    let err = cutover.fails(&["batch", "stop", "CutoverBatch"]);
    assert!(err.contains("never started"), "{err}");
    let err = cutover.fails(&["endpoint", "remove", "CutoverEndpoint"]);
    assert!(err.contains("used by batch 'CutoverBatch'"), "{err}");

    // Neither the admin's nor the user's password is in the state in plain text.
    let mut files = 0;
    for entry in std::fs::read_dir(cutover.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        // The CSVs are the admin's input; the state is the database, its WAL and the key.
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("state.db")
        {
            continue;
        }
        // The database, its -wal and -shm and the key file are the owner's alone.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let bytes = std::fs::read(&path).unwrap();
        for secret in [&b"adminpass"[..], b"secret-of-a"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a password in plain text",
                path.display()
            );
        }
        files += 1;
    }
    assert!(files >= 2, "state and key file expected");
    let key = cutover.state_path().with_extension("db.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    cutover.ok(&["batch", "remove", "CutoverBatch"]);
    assert_eq!(cutover.json(&["batch", "get"]), Value::Array(vec![]));
    cutover.ok(&["endpoint", "remove", "CutoverEndpoint"]);
}
