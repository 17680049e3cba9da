//! The migration dashboard in a real browser (headless Chromium over WebDriver) against
//! `cutover serve` running a real, slowed-down migration: it shows the batch, its counts
//! and every mailbox as they change, a mailbox's skipped items, and its Stop and Start
//! buttons act on the batch; Remove before the MX switch shows the service's reason for
//! refusing. A wrong token gets the sign-in form, not data.

use std::time::Duration;

use fantoccini::Locator;

use crate::support::{Browser, Cutover, diff, field, fill_realistic_mailbox, pair_refusing_large};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

#[test]
fn the_dashboard_follows_a_migration_and_its_buttons_stop_and_start_it() {
    // Each mailbox's big message becomes a skipped item the detail must show.
    let (src, dst) = pair_refusing_large(&USERS);
    fill_realistic_mailbox(&src, USERS[0], 150, 91, true);
    fill_realistic_mailbox(&src, USERS[1], 100, 92, true);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    // Slow enough to watch and stop: each chunk waits 3 s (about 40 s in all).
    let serve = cutover.serve(&[], &[("CUTOVER_TEST_CHUNK_DELAY_MS", "3000")]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &["--large-item-limit", "5"]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::start().await;
        let page = format!("http://{}/", serve.addr);

        // Without a valid token: the sign-in form and an explanation, no batch.
        browser
            .client
            .goto(&format!("{page}#token=not-the-token"))
            .await
            .unwrap();
        browser
            .wait_text("login-error", "the refusal", |t| t.contains("refused"))
            .await;
        assert!(browser.visible("login").await);
        assert!(!browser.visible("batch").await);
        // The token is kept for the tab only and taken out of the address bar.
        let url = browser.client.current_url().await.unwrap();
        assert!(!url.as_str().contains("token"), "{url}");

        // Signed in by pasting the token, as an admin would.
        let input = browser
            .client
            .find(Locator::Id("token-input"))
            .await
            .unwrap();
        input.send_keys(&serve.token).await.unwrap();
        browser.click("login-submit").await;
        browser
            .wait_text("batch-name", "the batch", |t| t == "CutoverBatch")
            .await;
        assert_eq!(browser.text("count-total").await, "2");
        browser
            .wait_text("batch-status", "Syncing", |t| t == "Syncing")
            .await;
        browser
            .wait_text("count-syncing", "mailboxes syncing", |t| t != "0")
            .await;
        // Both mailboxes are listed, and their items grow while the pass runs.
        let rows = browser
            .client
            .find_all(Locator::Css("#users tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        let first = rows[0].text().await.unwrap();
        assert!(first.contains("alice@contoso.test"), "{first}");
        browser
            .wait_text("items-synced", "items copied", |t| {
                t.replace(',', "").parse::<u64>().is_ok_and(|n| n > 0)
            })
            .await;
        // Alice's row: the share of her source mailbox done and the time her pass has
        // left, both moving while it runs.
        let alice = "#users tr[data-email='alice@contoso.test'] .progress .text";
        let first = browser
            .wait_css(alice, "a share done and time left", |t| {
                percent(t).is_some_and(|p| p > 0 && p < 100) && t.ends_with(" left")
            })
            .await;
        let later = browser
            .wait_css(alice, "a larger share done", |t| {
                percent(t).is_some_and(|p| p > percent(&first).unwrap())
            })
            .await;
        assert!(percent(&later).unwrap() <= 100, "{later}");
        // The batch's throughput, drawn as a line with a point per stretch of time.
        browser
            .wait_text("chart-max", "a peak throughput", |t| t.starts_with("peak "))
            .await;
        let line = browser.attribute("throughput-line", "d").await.unwrap();
        assert!(line.starts_with('M') && line.contains('L'), "{line}");
        assert!(browser.text("chart-caption").await.contains("copied"));
        // The batch's size and time left, over both mailboxes.
        browser
            .wait_text("time-left", "the batch's time left", |t| {
                t.ends_with(['s', 'n'])
            })
            .await;
        assert!(browser.text("source-size").await.ends_with("B"));
        // The settings, without a password.
        browser
            .client
            .find(Locator::Css("#settings summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let settings = browser
            .wait_text("settings-target", "the target's settings", |t| {
                t.contains("127.0.0.1")
            })
            .await;
        assert!(settings.contains("admin"), "{settings}");
        assert!(
            browser
                .text("settings-endpoint")
                .await
                .contains("127.0.0.1")
        );
        let shown = browser.text("settings").await;
        assert!(!shown.contains("adminpass"), "{shown}");

        screenshot(&browser, "dashboard.png").await;

        // Stop asks first; Cancel leaves the batch running.
        browser.click("btn-stop").await;
        assert!(browser.visible("confirm").await);
        browser.click("confirm-cancel").await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(browser.text("batch-status").await, "Syncing");
        // OK stops it, in the store too, within seconds.
        browser.click("btn-stop").await;
        browser.click("confirm-ok").await;
        browser
            .wait_text("batch-status", "Stopped", |t| t == "Stopped")
            .await;
        let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
        assert_eq!(field(&batch, "Status"), "Stopped", "{batch:#}");

        // Start resumes; the batch ends Synced with both mailboxes' big message skipped.
        browser.click("btn-start").await;
        browser
            .wait_text("batch-status", "Synced", |t| t.starts_with("Synced"))
            .await;
        browser
            .wait_text("count-synced", "both synced", |t| t == "2")
            .await;
        browser
            .wait_text("items-skipped", "the skipped items", |t| t == "2")
            .await;
        // A mailbox's detail lists its skipped item with its reason.
        let bob = browser
            .client
            .find(Locator::Css("#users tr[data-email='bob@contoso.test']"))
            .await
            .unwrap();
        bob.click().await.unwrap();
        browser
            .wait_text("detail-title", "bob's detail", |t| t == "bob@contoso.test")
            .await;
        let skipped = browser
            .wait_text("skipped", "a skipped item", |t| t.contains("LargeItem"))
            .await;
        assert!(skipped.contains("refused"), "{skipped}");

        screenshot(&browser, "dashboard-mailbox.png").await;

        // Remove, before `dns check` has seen MX on the target: the service refuses
        // (409), and the page shows the service's own Message, not just the status.
        let refused = serve.call("DELETE", "/api/v1/batches/CutoverBatch", None);
        assert_eq!(refused.status, 409, "{refused:?}");
        let message = refused.json()["Message"].as_str().unwrap().to_string();
        assert!(message.contains("MX"), "{message}");
        browser.click("detail-close").await;
        browser.click("btn-remove").await;
        browser
            .wait_text("confirm-title", "the first question", |t| {
                t == "Remove the batch?"
            })
            .await;
        browser.click("confirm-ok").await;
        let shown = browser
            .wait_text("confirm-text", "the service's refusal", |t| {
                t.contains(&message)
            })
            .await;
        assert!(!shown.contains("409 Conflict"), "{shown}");
        // Cancel: the batch stays.
        browser.click("confirm-cancel").await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(browser.text("batch-name").await, "CutoverBatch");
        let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
        assert_eq!(field(&batch, "Identity"), "CutoverBatch", "{batch:#}");
        browser.close().await;
    });

    // What was copied is exact, the big messages aside (the target refuses them).
    for u in USERS {
        let mut source = src.mailbox(u);
        for messages in source.folders.values_mut() {
            messages.retain(|m| m.body.len() <= 1024 * 1024);
        }
        let lines = diff(&source, &dst.mailbox(u));
        assert!(lines.is_empty(), "{u}:\n{}", lines.join("\n"));
    }
}

/// The whole percent a progress cell starts with ("42% · 3 min left" is 42).
fn percent(text: &str) -> Option<u32> {
    text.split('%').next()?.trim().parse().ok()
}

/// With CUTOVER_DASHBOARD_SCREENSHOTS=DIR, saves what the browser shows (the pictures in
/// docs/ come from here).
async fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("CUTOVER_DASHBOARD_SCREENSHOTS") {
        browser
            .client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .unwrap();
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

/// A pass that would remove a third of a mailbox is held: the dashboard says so, shows
/// where in the mailbox's row, and its Approve button lets the next pass make them.
#[test]
fn the_dashboard_shows_held_removals_and_approves_them() {
    let user = USERS[0];
    let (src, dst) = crate::support::pair(&[user], '/');
    fill_realistic_mailbox(&src, user, 40, 93, false);
    src.index(user);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", user);
    cutover.start_batch(&[(user, "", "")], &[]);
    cutover.ok(&["run", "--once"]);
    // 14 of 40 messages go on the source.
    let mut gone = 0;
    for (folder, messages) in src.mailbox(user).folders {
        if messages.is_empty() {
            continue;
        }
        for uid in src.uids(user, &folder) {
            if gone < 14 {
                src.expunge(user, &folder, uid);
                gone += 1;
            }
        }
    }
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    cutover.ok(&["run", "--once"]);
    let held = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&held, "RemovalsHeldCount"), 1, "{held:#}");

    let serve = cutover.serve(&[], &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::signed_in(&serve).await;
        browser
            .wait_text("held-text", "the held removals", |t| {
                t.contains("Removals held for 1 mailbox")
            })
            .await;
        browser
            .wait_text("users", "the mailbox's held removals", |t| {
                t.contains("Removals held: 14 of 40 migrated messages")
            })
            .await;
        browser.click("btn-approve-removals").await;
        browser.click("confirm-ok").await;
        // The click returns before the page's POST is answered: wait for it.
        let mut stats = cutover.json(&["user", "stats", user]);
        for _ in 0..40 {
            if stats["RemovalsApprovedDateTime"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            stats = cutover.json(&["user", "stats", user]);
        }
        assert!(
            stats["RemovalsApprovedDateTime"].is_string(),
            "the approval did not reach the service: {stats:#}"
        );
        // Start: the next pass makes the removals, and the banner goes.
        browser.click("btn-start").await;
        browser
            .wait_text("batch-status", "Synced", |t| t == "Synced")
            .await;
        for _ in 0..20 {
            if !browser.visible("held").await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(!browser.visible("held").await, "the banner stayed");

        // The reports and the proof, downloaded as files from the page.
        browser.click("btn-report-statistics").await;
        let csv = browser.downloaded("MigrationStatistics.csv").await;
        let mut rows = csv::Reader::from_reader(csv.as_slice());
        let header = rows.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "{}", String::from_utf8_lossy(&csv));
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(&rows[0][column("EmailAddress")], user);
        assert_eq!(&rows[0][column("Status")], "Synced");
        assert_eq!(&rows[0][column("ItemsSynced")], "26");
        browser.click("btn-proof").await;
        let proof = browser
            .downloaded("completeness-proof-CutoverBatch.json")
            .await;
        let file = cutover.write(
            "from-the-dashboard.json",
            &String::from_utf8(proof).unwrap(),
        );
        let verified = cutover.ok(&["report", "verify", &file]);
        assert!(verified.contains("this installation's key"), "{verified}");
        browser.close().await;
    });
    let lines = diff(&src.mailbox(user), &dst.mailbox(user));
    assert!(lines.is_empty(), "{lines:#?}");
    drop(serve);
}

/// A batch of 1,000 mailboxes created from a users CSV uploaded in the page, then paged,
/// sorted and filtered by the service (the API pages the same way).
#[test]
fn the_dashboard_creates_a_batch_from_an_uploaded_csv_and_pages_through_1000_users() {
    let user = USERS[0];
    let (src, dst) = crate::support::pair(&[user], '/');
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", user);
    cutover.accept_domains(&[user]);
    let emails: Vec<String> = (0..1000)
        .map(|i| format!("user-{i:04}@contoso.test"))
        .collect();
    let rows: Vec<(&str, &str, &str)> = emails.iter().map(|e| (e.as_str(), "", "")).collect();
    let csv = cutover.write("thousand.csv", &crate::support::users_csv(&rows));
    let serve = cutover.serve(&[], &[]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::signed_in(&serve).await;
        browser
            .wait_text("new-batch-endpoint", "the endpoint to pick", |t| {
                t.contains("CutoverEndpoint")
            })
            .await;
        // The file input takes the file's path, as a person's file chooser would.
        let file = browser
            .client
            .find(Locator::Id("new-batch-csv"))
            .await
            .unwrap();
        file.send_keys(&csv).await.unwrap();
        browser.click("new-batch-submit").await;
        browser
            .wait_text("batch-name", "the new batch", |t| t == "CutoverBatch")
            .await;
        assert_eq!(browser.text("batch-status").await, "Created");
        browser
            .wait_text("count-total", "1,000 mailboxes", |t| t == "1,000")
            .await;
        browser
            .wait_text("page-info", "the first page", |t| t == "1–50 of 1,000")
            .await;
        let rows = |css: &'static str| {
            let client = browser.client.clone();
            async move { client.find_all(Locator::Css(css)).await.unwrap().len() }
        };
        assert_eq!(rows("#users tr").await, 50);
        assert!(browser.css_text("#users tr").await.contains("user-0000@"));

        browser.click("page-next").await;
        browser
            .wait_text("page-info", "the second page", |t| t == "51–100 of 1,000")
            .await;
        browser
            .wait_css("#users tr", "the 51st user first", |t| {
                t.contains("user-0050@")
            })
            .await;
        // Sorted by address, then the other way: the last address comes first.
        let mailbox = browser
            .client
            .find(Locator::Css("th[data-sort='email']"))
            .await
            .unwrap();
        mailbox.click().await.unwrap();
        browser
            .wait_text("page-info", "the first page again", |t| {
                t == "1–50 of 1,000"
            })
            .await;
        mailbox.click().await.unwrap();
        browser
            .wait_css("#users tr", "the last address first", |t| {
                t.contains("user-0999@")
            })
            .await;
        // Filtered by the service: one mailbox.
        let filter = browser.client.find(Locator::Id("filter")).await.unwrap();
        filter.send_keys("user-0123").await.unwrap();
        browser
            .wait_text("page-info", "one match", |t| t == "1–1 of 1")
            .await;
        assert_eq!(rows("#users tr").await, 1);
        assert!(browser.css_text("#users tr").await.contains("user-0123@"));
        assert!(browser.text("users").await.contains("Queued"));

        screenshot(&browser, "dashboard-pages.png").await;
        browser.close().await;
    });

    // The API's pages: a slice in the CSV's order, the total in a header.
    let page = serve.call(
        "GET",
        "/api/v1/batches/CutoverBatch/users?offset=990&limit=20",
        None,
    );
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.header("X-Total-Count"), Some("1000"));
    let users = page.json();
    let got: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["Identity"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        emails[990..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let bad = serve.call("GET", "/api/v1/batches/CutoverBatch/users?sort=size", None);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json()["Message"].as_str().unwrap().contains("progress"));
    drop(serve);
}
