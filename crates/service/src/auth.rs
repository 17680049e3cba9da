//! The API's bearer token: made by `cutover serve` on first start into a file only its
//! owner can read (0600), or read from `--token-file`, which is refused when group or
//! others may read it. Every `/api` request must carry it as `Authorization: Bearer
//! TOKEN`.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use cutover_store::private_file;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot use the API token file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API token file {} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("no randomness for the API token: {0}")]
    Random(String),
    /// The token file is open to group or others.
    #[error(transparent)]
    NotPrivate(#[from] private_file::CheckError),
}

/// Reads the token from `path`, creating the file with a new random token (mode 0600)
/// if it does not exist. Returns the token and whether it was created. A file group or
/// others may read is refused (with `chmod 600 PATH` as the fix).
pub fn load_or_create(path: &Path) -> Result<(SecretString, bool), TokenError> {
    let file_error = |source| TokenError::File {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            private_file::check(path)?;
            let token = text.trim();
            if token.is_empty() {
                return Err(TokenError::Empty {
                    path: path.to_path_buf(),
                });
            }
            Ok((SecretString::from(token.to_string()), false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(file_error)?;
            }
            let mut file = private_file::create_new(path).map_err(file_error)?;
            writeln!(file, "{token}").map_err(file_error)?;
            Ok((SecretString::from(token), true))
        }
        Err(e) => Err(file_error(e)),
    }
}

/// Whether an `Authorization` header value carries the token; compared in constant
/// time, so that timing tells nothing about the token.
pub fn authorizes(header: Option<&str>, token: &SecretString) -> bool {
    let Some(given) = header.and_then(|h| {
        let (scheme, value) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
    }) else {
        return false;
    };
    let expected = token.expose_secret().as_bytes();
    let given = given.as_bytes();
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_file_is_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api-token");
        let (token, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert!(token.expose_secret().len() >= 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.expose_secret(), token.expose_secret());
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-token");
        std::fs::write(&path, "a-token-someone-wrote\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (token, created) = load_or_create(&path).unwrap();
        assert_eq!(
            (token.expose_secret(), created),
            ("a-token-someone-wrote", false)
        );
    }

    #[test]
    fn only_the_exact_bearer_token_authorizes() {
        let token = SecretString::from("s3cret-token".to_string());
        assert!(authorizes(Some("Bearer s3cret-token"), &token));
        assert!(authorizes(Some("bearer  s3cret-token "), &token));
        assert!(!authorizes(Some("Bearer s3cret-tokem"), &token));
        assert!(!authorizes(Some("Bearer s3cret"), &token));
        assert!(!authorizes(Some("Basic s3cret-token"), &token));
        assert!(!authorizes(Some("s3cret-token"), &token));
        assert!(!authorizes(None, &token));
    }
}
