//! The state database, SQLite's files beside it and the key file are the owner's
//! alone: created 0600, and refused with the fix when group or others may read them.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cutover_store::{SqliteStore, StateInspection, Store};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

async fn open(db: &Path) -> Result<SqliteStore, String> {
    SqliteStore::open(&format!("sqlite://{}", db.display()), None)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_new_state_its_wal_and_its_key_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/state.db");
    let store = open(&db).await.unwrap();
    // The migrations wrote; the WAL and its index exist while the store is open.
    store.endpoints().await.unwrap();
    assert_eq!(store.check_invariants().await.unwrap(), []);
    for path in [
        db.clone(),
        beside(&db, "-wal"),
        beside(&db, "-shm"),
        beside(&db, ".key"),
    ] {
        assert!(path.exists(), "{} expected", path.display());
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[tokio::test]
async fn a_state_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    open(&db).await.unwrap().close().await;

    chmod(&db, 0o644);
    let err = open(&db).await.unwrap_err();
    assert!(
        err.contains(&format!("chmod 600 {}", db.display())) && err.contains("0644"),
        "{err}"
    );
    chmod(&db, 0o600);
    open(&db).await.unwrap().close().await;

    let key = beside(&db, ".key");
    chmod(&key, 0o640);
    let err = open(&db).await.unwrap_err();
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    chmod(&key, 0o600);

    // A side file left readable (by an older version, or a copy) is refused too.
    let wal = beside(&db, "-wal");
    std::fs::write(&wal, b"").unwrap();
    chmod(&wal, 0o604);
    let err = open(&db).await.unwrap_err();
    assert!(
        err.contains(&format!("chmod 600 {}", wal.display())),
        "{err}"
    );
    chmod(&wal, 0o600);
    open(&db).await.unwrap().close().await;
}

#[tokio::test]
async fn an_existing_private_database_made_elsewhere_opens() {
    // A database file made by someone else first (0600, empty) is used, not replaced.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    std::fs::write(&db, b"").unwrap();
    chmod(&db, 0o600);
    let store = open(&db).await.unwrap();
    assert!(store.endpoints().await.unwrap().is_empty());
}
