//! Sealing of secrets at rest: XChaCha20-Poly1305 with a random nonce, and the
//! secret's owner (e.g. `endpoint:CutoverEndpoint`) as associated data, so a sealed
//! value copied to another row does not open. The key lives in a file outside the
//! database, created with mode 0600 on first use and refused when group or others may
//! read it.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::{StoreError, private_file};

const PREFIX: &str = "v1.";
const KEY_LEN: usize = 32;

/// Seals and opens secrets with the installation's key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    path: PathBuf,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_file", &self.path)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Loads the key file, or creates it (0600) when it does not exist yet. A key file
    /// that group or others may read is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        let key_err = |source: std::io::Error| StoreError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        private_file::check(path)?;
        let key: Zeroizing<Vec<u8>> =
            match std::fs::read_to_string(path) {
                Ok(text) => Zeroizing::new(B64.decode(text.trim()).map_err(|_| {
                    StoreError::KeyFileInvalid {
                        path: path.to_path_buf(),
                    }
                })?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let key = Zeroizing::new(<[u8; KEY_LEN]>::generate().to_vec());
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(key_err)?;
                    }
                    let mut file = private_file::create_new(path).map_err(key_err)?;
                    file.write_all(Zeroizing::new(B64.encode(&*key)).as_bytes())
                        .and_then(|_| file.write_all(b"\n"))
                        .and_then(|_| file.sync_all())
                        .map_err(key_err)?;
                    tracing::info!(key_file = %path.display(), "created a new secrets key file");
                    key
                }
                Err(e) => return Err(key_err(e)),
            };
        if key.len() != KEY_LEN {
            return Err(StoreError::KeyFileInvalid {
                path: path.to_path_buf(),
            });
        }
        let key = Key::try_from(&key[..]).map_err(|_| StoreError::KeyFileInvalid {
            path: path.to_path_buf(),
        })?;
        let cipher = XChaCha20Poly1305::new(&key);
        Ok(Self {
            cipher,
            path: path.to_path_buf(),
        })
    }

    pub fn seal(&self, secret: &SecretString, owner: &str) -> Result<String, StoreError> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Seal {
                owner: owner.to_string(),
            })?;
        Ok(format!(
            "{PREFIX}{}.{}",
            B64.encode(nonce),
            B64.encode(sealed)
        ))
    }

    pub fn open(&self, sealed: &str, owner: &str) -> Result<SecretString, StoreError> {
        let unseal_err = || StoreError::Unseal {
            owner: owner.to_string(),
            key_file: self.path.clone(),
        };
        let rest = sealed.strip_prefix(PREFIX).ok_or_else(unseal_err)?;
        let (nonce, body) = rest.split_once('.').ok_or_else(unseal_err)?;
        let nonce = B64.decode(nonce).map_err(|_| unseal_err())?;
        let body = B64.decode(body).map_err(|_| unseal_err())?;
        let nonce = XNonce::try_from(&nonce[..]).map_err(|_| unseal_err())?;
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &body,
                        aad: owner.as_bytes(),
                    },
                )
                .map_err(|_| unseal_err())?,
        );
        let text = String::from_utf8(plain.to_vec()).map_err(|_| unseal_err())?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_owner_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/cutover.key");
        let sealer = Sealer::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let secret = SecretString::from("hunter2".to_string());
        let sealed = sealer.seal(&secret, "endpoint:E").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            sealer.open(&sealed, "endpoint:E").unwrap().expose_secret(),
            "hunter2"
        );
        assert!(sealer.open(&sealed, "endpoint:F").is_err());
        // A second load reads the same key.
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(
            again.open(&sealed, "endpoint:E").unwrap().expose_secret(),
            "hunter2"
        );
        // Two seals of the same secret differ (random nonce).
        assert_ne!(sealed, sealer.seal(&secret, "endpoint:E").unwrap());
    }

    #[test]
    fn a_wrong_key_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::load_or_create(&dir.path().join("a.key")).unwrap();
        let b = Sealer::load_or_create(&dir.path().join("b.key")).unwrap();
        let sealed = a
            .seal(&SecretString::from("x".to_string()), "target")
            .unwrap();
        let err = b.open(&sealed, "target").unwrap_err().to_string();
        assert!(err.contains("b.key"), "{err}");
    }
}
