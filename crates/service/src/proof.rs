//! The completeness proof: every folder of every mailbox, its messages on both servers
//! and the ones that differ, each explained ([`cutover_sync::audit`]), as one JSON
//! document the admin can hand to the business. Its `Content` is hashed (SHA-256 over
//! its compact JSON) and the digest signed with the installation's Ed25519 key (a 0600
//! file beside the state, never in the database); [`verify`] checks both, so a changed
//! byte anywhere in the content or the signature is caught.
//!
//! The document: `{"Content": {...}, "Digest": "sha256:<hex>", "PublicKey": "<hex>",
//! "Signature": "<hex>"}`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::control::ControlError;
use cutover_store::Store;

use chrono::{DateTime, Utc};
use cutover_store::private_file;
use cutover_sync::audit::MailboxAudit;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("signing key {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    NotPrivate(#[from] private_file::CheckError),
    #[error(
        "signing key {path} is not an Ed25519 key (64 hex digits); move it away and a new one is made"
    )]
    BadKey { path: PathBuf },
    #[error("cannot draw a random key: {0}")]
    Random(String),
    #[error("not a completeness proof: {0}")]
    Malformed(String),
    #[error(
        "the content was changed after it was signed (its digest is {actual}, the document says {claimed})"
    )]
    DigestMismatch { claimed: String, actual: String },
    #[error(
        "the signature does not match the content: the document was changed or not signed by key {0}"
    )]
    BadSignature(String),
}

/// The signing key's default place: beside the state database.
pub fn default_key_file(state_db: &Path) -> PathBuf {
    let mut p = state_db.as_os_str().to_owned();
    p.push(".signing-key");
    PathBuf::from(p)
}

/// The installation's signing key, if it has one yet.
pub fn load_key(path: &Path) -> Result<Option<SigningKey>, ProofError> {
    if !path.exists() {
        return Ok(None);
    }
    load_or_create_key(path).map(Some)
}

/// The installation's signing key, made (0600) on first use.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, ProofError> {
    let file_error = |source| ProofError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            private_file::check(path)?;
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| ProofError::BadKey {
                    path: path.to_path_buf(),
                })?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| ProofError::Random(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(file_error)?;
            }
            let mut file = private_file::create_new(path).map_err(file_error)?;
            writeln!(file, "{}", hex::encode(bytes)).map_err(file_error)?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) => Err(file_error(e)),
    }
}

/// A key's public half, as the document and `report verify` write it.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

fn digest_of(content: &Value) -> String {
    // Compact JSON, keys in the document's order (serde_json keeps it): what was
    // written is what is read back.
    let bytes = serde_json::to_vec(content).expect("a JSON value serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// Totals over the audits, for the document and the admin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub users: u64,
    pub folders: u64,
    pub matched: u64,
    pub differences: u64,
    /// Differences nothing explains.
    pub missing: u64,
    /// Users whose servers could not be read.
    pub unreadable: u64,
}

pub fn totals(audits: &[(String, Result<MailboxAudit, String>)]) -> Totals {
    let mut t = Totals::default();
    for (_, audit) in audits {
        t.users += 1;
        match audit {
            Ok(a) => {
                t.folders += a.folders.len() as u64;
                t.matched += a.folders.iter().map(|f| f.account.matched).sum::<u64>();
                t.differences += a
                    .folders
                    .iter()
                    .map(|f| f.account.differences.len() as u64)
                    .sum::<u64>();
                t.missing += a.missing();
            }
            Err(_) => t.unreadable += 1,
        }
    }
    t
}

/// The signed document for a batch's audits.
pub fn document(
    batch: &str,
    audits: &[(String, Result<MailboxAudit, String>)],
    generated_at: DateTime<Utc>,
    key: &SigningKey,
) -> Value {
    let t = totals(audits);
    let users: Vec<Value> = audits
        .iter()
        .map(|(email, audit)| match audit {
            Ok(a) => serde_json::to_value(a).expect("an audit serializes"),
            Err(e) => json!({ "User": email, "Error": e }),
        })
        .collect();
    let content = json!({
        "Batch": batch,
        "GeneratedDateTime": generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Users": t.users,
        "Folders": t.folders,
        "MessagesOnBoth": t.matched,
        "Differences": t.differences,
        "Unexplained": t.missing,
        "UnreadableUsers": t.unreadable,
        "Mailboxes": users,
    });
    let digest = digest_of(&content);
    let signature = key.sign(digest.as_bytes());
    json!({
        "Content": content,
        "Digest": digest,
        "PublicKey": public_key_hex(&key.verifying_key()),
        "Signature": hex::encode(signature.to_bytes()),
    })
}

/// Audits the batch's mailboxes (or `user`'s) and signs the document with the key in
/// `key_file` (made on first use): what `cutover report proof` and the API share.
pub async fn make(
    store: &dyn Store,
    batch: &str,
    user: Option<&str>,
    key_file: &Path,
) -> Result<(Value, Totals, String), ControlError> {
    let b = store
        .batch(batch)
        .await?
        .ok_or_else(|| ControlError::NotFound {
            what: "batch",
            name: batch.to_string(),
        })?;
    let audits = cutover_sync::audit_batch(store, &b, user)
        .await
        .map_err(|e| ControlError::Invalid(e.to_string()))?;
    if let Some(user) = user
        && audits.is_empty()
    {
        return Err(ControlError::NotFound {
            what: "user of the batch",
            name: user.to_string(),
        });
    }
    let key = load_or_create_key(key_file).map_err(|e| ControlError::Invalid(e.to_string()))?;
    let doc = document(batch, &audits, Utc::now(), &key);
    let errors = audits
        .iter()
        .filter_map(|(email, a)| a.as_ref().err().map(|e| format!("{email}: {e}")))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((doc, totals(&audits), errors))
}

/// What a verified document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub public_key: String,
    pub digest: String,
    pub content: Value,
}

/// The text of a document, as `report proof` writes it (and as [`verify_text`] wants it).
pub fn to_text(document: &Value) -> String {
    serde_json::to_string_pretty(document).expect("a JSON value serializes") + "\n"
}

/// Checks a document's text: it must be exactly as written (a key given twice, or any
/// other edit outside the content, would otherwise slip past a JSON reader), then as
/// [`verify`].
pub fn verify_text(text: &str) -> Result<Verified, ProofError> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| ProofError::Malformed(e.to_string()))?;
    if to_text(&document) != text {
        return Err(ProofError::Malformed(
            "the file is not as `report proof` wrote it (edited, reformatted, or a key given twice)".into(),
        ));
    }
    verify(&document)
}

/// Checks a document: its content hashes to its digest, and its signature over the
/// digest is good for its public key. Whose key that is, is for the caller to say.
pub fn verify(document: &Value) -> Result<Verified, ProofError> {
    // Nothing outside what is signed may say anything.
    let Some(fields) = document.as_object() else {
        return Err(ProofError::Malformed("it is not a JSON object".into()));
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !["Content", "Digest", "PublicKey", "Signature"].contains(&k.as_str()))
    {
        return Err(ProofError::Malformed(format!(
            "it has a field {extra} that is not signed"
        )));
    }
    let field = |name: &str| {
        document
            .get(name)
            .ok_or_else(|| ProofError::Malformed(format!("it has no {name}")))
    };
    let text = |name: &str| {
        field(name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ProofError::Malformed(format!("{name} is not text")))
    };
    let content = field("Content")?.clone();
    let (claimed, public_key, signature) =
        (text("Digest")?, text("PublicKey")?, text("Signature")?);
    let actual = digest_of(&content);
    if actual != claimed {
        return Err(ProofError::DigestMismatch { claimed, actual });
    }
    let key: [u8; 32] = hex::decode(&public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ProofError::Malformed("PublicKey is not 64 hex digits".into()))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| ProofError::Malformed("PublicKey is not an Ed25519 key".into()))?;
    let sig: [u8; 64] = hex::decode(&signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ProofError::Malformed("Signature is not 128 hex digits".into()))?;
    key.verify_strict(claimed.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| ProofError::BadSignature(public_key.clone()))?;
    Ok(Verified {
        public_key,
        digest: claimed,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn doc() -> Value {
        document(
            "CutoverBatch",
            &[("a@b.test".into(), Err("cannot connect".into()))],
            DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            &key(),
        )
    }

    #[test]
    fn an_untouched_document_verifies_after_a_round_trip_through_text() {
        let text = to_text(&doc());
        let v = verify_text(&text).unwrap();
        assert_eq!(v.public_key, public_key_hex(&key().verifying_key()));
        assert_eq!(v.content["UnreadableUsers"], 1);
    }

    #[test]
    fn a_changed_content_or_signature_is_caught() {
        let mut d = doc();
        d["Content"]["Users"] = json!(2);
        assert!(matches!(verify(&d), Err(ProofError::DigestMismatch { .. })));

        let mut d = doc();
        let other = SigningKey::from_bytes(&[8u8; 32]);
        d["PublicKey"] = json!(public_key_hex(&other.verifying_key()));
        assert!(matches!(verify(&d), Err(ProofError::BadSignature(_))));

        let mut d = doc();
        let mut sig = d["Signature"].as_str().unwrap().to_string();
        sig.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        d["Signature"] = json!(sig);
        assert!(matches!(verify(&d), Err(ProofError::BadSignature(_))));

        assert!(matches!(
            verify(&json!({"Content": {}})),
            Err(ProofError::Malformed(_))
        ));

        let mut d = doc();
        d["Note"] = json!("all fine");
        assert!(matches!(verify(&d), Err(ProofError::Malformed(_))));

        // A key given twice: a reader taking the last one would see 0, another the first.
        let text = to_text(&doc());
        let twice = text.replacen(
            "\"Unexplained\": 0",
            "\"Unexplained\": 9,\n    \"Unexplained\": 0",
            1,
        );
        assert_ne!(twice, text);
        assert!(matches!(verify_text(&twice), Err(ProofError::Malformed(_))));
    }

    #[test]
    fn the_key_file_is_made_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db.signing-key");
        let made = load_or_create_key(&path).unwrap();
        let read = load_or_create_key(&path).unwrap();
        assert_eq!(made.to_bytes(), read.to_bytes());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
