//! One user's DAV pass as a process of its own, for the crash tests (which kill it with
//! SIGKILL at a pause point, see `cutover_sync::test_hooks`) and for trying a server by
//! hand. Passwords come from the environment, never from the command line.
//!
//!   DAV_SOURCE_PASSWORD=.. DAV_TARGET_PASSWORD=.. \
//!   dav_pass STATE.db USER SOURCE_URL SOURCE_LOGIN TARGET_URL TARGET_LOGIN

use cutover_dav::client::DavAccount;
use cutover_dav::pass::run_pass;
use cutover_imap::TlsOptions;
use cutover_store::SqliteStore;
use secrecy::SecretString;

fn account(url: &str, login: &str, password_env: &str) -> Result<DavAccount, String> {
    let password = std::env::var(password_env)
        .map_err(|_| format!("set {password_env} to the password of {login} at {url}"))?;
    Ok(DavAccount {
        url: url.into(),
        user: login.into(),
        password: SecretString::from(password),
        tls: TlsOptions::default(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        state,
        user,
        source_url,
        source_login,
        target_url,
        target_login,
    ] = &args[..]
    else {
        return Err("usage: dav_pass STATE.db USER SOURCE_URL SOURCE_LOGIN TARGET_URL TARGET_LOGIN (passwords in DAV_SOURCE_PASSWORD, DAV_TARGET_PASSWORD)".into());
    };
    let source = account(source_url, source_login, "DAV_SOURCE_PASSWORD")?;
    let target = account(target_url, target_login, "DAV_TARGET_PASSWORD")?;
    let store = SqliteStore::open(&format!("sqlite://{state}"), None)
        .await
        .map_err(|e| format!("opening {state}: {e}"))?;
    let summary = run_pass(&source, &target, &store, user)
        .await
        .map_err(|e| format!("the pass of {user}: {e}"))?;
    let a = summary.applied;
    println!(
        "steps={} collections_created={} events={} tasks={} contacts={} updated={} deleted={} skipped={}",
        summary.steps.len(),
        a.collections_created,
        a.copied.events,
        a.copied.tasks,
        a.copied.contacts,
        a.updated,
        a.deleted,
        a.skipped.len()
    );
    Ok(())
}
