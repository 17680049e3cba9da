//! Files only their owner may read: the state database (with SQLite's `-wal`, `-shm`
//! and `-journal` beside it), the secrets key file, and the service's API token file.
//! They are created with mode 0600 whatever the umask, and refused when group or
//! others have any permission on them: the database holds sealed passwords and the
//! message map, the key opens the passwords, the token opens the API.

use std::fs::File;
use std::path::{Path, PathBuf};

/// A private file that group or others may read or change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{} can be read or changed by group or others (mode {mode:04o}); it must be the \
     owner's alone: run `chmod 600 {}`",
    path.display(),
    path.display()
)]
pub struct OpenToOthers {
    pub path: PathBuf,
    pub mode: u32,
}

/// The permission bits that make a private file open to others.
const OTHERS: u32 = 0o077;

/// Whether a file's mode (its permission bits) keeps it private. Pure, for tests.
pub fn is_private(mode: u32) -> bool {
    mode & OTHERS == 0
}

/// Creates `path`, which must not exist, with mode 0600. The mode is set explicitly
/// after creation, so a umask of 0277 (which would leave 0400) or 0 changes nothing.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Refuses `path` when group or others have any permission on it. A file that does
/// not exist passes (there is nothing to read yet); other errors are reported.
pub fn check(path: &Path) -> Result<(), CheckError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o7777;
                if !is_private(mode) {
                    return Err(CheckError::Open(OpenToOthers {
                        path: path.to_path_buf(),
                        mode,
                    }));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CheckError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Why a private file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Open(#[from] OpenToOthers),
    #[error("cannot read the permissions of {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files SQLite keeps beside a database: its write-ahead log, the log's shared
/// memory index, and the rollback journal.
pub fn sqlite_side_files(db: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    unsafe extern "C" {
        /// umask(2): cannot fail and touches no memory.
        safe fn umask(mask: u32) -> u32;
    }

    const UMASK_CHILD: &str = "CUTOVER_TEST_UMASK_CHILD";

    /// The umask is the whole process's: changed here, it would change the files other
    /// tests create at the same time. So the test runs again alone in a child process.
    #[test]
    fn new_files_are_0600_whatever_the_umask() {
        if std::env::var_os(UMASK_CHILD).is_none() {
            let name = "private_file::tests::new_files_are_0600_whatever_the_umask";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1"])
                .env(UMASK_CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for (i, mask) in [0o000, 0o022, 0o077, 0o277].into_iter().enumerate() {
            let path = dir.path().join(format!("f{i}"));
            let old = umask(mask);
            let created = create_new(&path);
            umask(old);
            created.unwrap();
            assert_eq!(mode_of(&path), 0o600, "umask {mask:03o}");
            check(&path).unwrap();
        }
        // create_new never takes over an existing file.
        let err = create_new(&dir.path().join("f0")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        create_new(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o601] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display()))
                    && err.contains(&format!("{mode:04o}")),
                "{err}"
            );
        }
        for mode in [0o600, 0o400, 0o700] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            check(&path).unwrap();
        }
        // Nothing there yet: nothing to protect.
        check(&dir.path().join("absent")).unwrap();
    }

    #[test]
    fn side_files_sit_beside_the_database() {
        let names: Vec<String> = sqlite_side_files(Path::new("/s/state.db"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            ["/s/state.db-wal", "/s/state.db-shm", "/s/state.db-journal"]
        );
    }
}
