//! [`DirectoryStore`] on SQLite: the settings as JSON, the bind password sealed.

use async_trait::async_trait;
use chrono::Utc;
use cutover_model::SourceDirectory;
use secrecy::SecretString;
use sqlx::Row;

use super::{SqliteStore, corrupt};
use crate::directory::DirectoryStore;
use crate::{Result, StoreError};

/// The sealed password's owner: a directory password does not open as another's.
fn directory_owner(endpoint: &str) -> String {
    format!("directory:{}", endpoint.to_lowercase())
}

/// The target directory's password owner (no endpoint's: those start `directory:`).
const TARGET_DIRECTORY_OWNER: &str = "target-directory";

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn set_endpoint_directory(
        &self,
        endpoint: &str,
        directory: &SourceDirectory,
        password: Option<&SecretString>,
    ) -> Result<()> {
        let stored: String = sqlx::query_scalar("SELECT name FROM endpoints WHERE name = ?")
            .bind(endpoint)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "endpoint",
                name: endpoint.to_string(),
            })?;
        let settings = serde_json::to_string(directory)
            .map_err(|e| corrupt(format!("directory settings: {e}")))?;
        let sealed = password
            .map(|p| self.sealer.seal(p, &directory_owner(&stored)))
            .transpose()?;
        let done = sqlx::query(
            "INSERT INTO endpoint_directories (endpoint, settings, password_sealed, updated_at)
             SELECT ?1, ?2, ?3, ?4 WHERE ?3 IS NOT NULL
             ON CONFLICT (endpoint) DO UPDATE SET settings = excluded.settings,
               password_sealed = excluded.password_sealed, updated_at = excluded.updated_at",
        )
        .bind(&stored)
        .bind(&settings)
        .bind(&sealed)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            // No password given: only an existing directory's settings change.
            let done = sqlx::query(
                "UPDATE endpoint_directories SET settings = ?, updated_at = ? WHERE endpoint = ?",
            )
            .bind(&settings)
            .bind(Utc::now())
            .bind(&stored)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound {
                    what: "directory password of endpoint",
                    name: format!(
                        "{stored} (a new directory needs --directory-password-file or --directory-password-env)"
                    ),
                });
            }
        }
        Ok(())
    }

    async fn endpoint_directory(&self, endpoint: &str) -> Result<Option<SourceDirectory>> {
        let settings: Option<String> =
            sqlx::query_scalar("SELECT settings FROM endpoint_directories WHERE endpoint = ?")
                .bind(endpoint)
                .fetch_optional(&self.pool)
                .await?;
        settings
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| corrupt(format!("directory settings: {e}")))
            })
            .transpose()
    }

    async fn endpoint_directory_password(&self, endpoint: &str) -> Result<SecretString> {
        let row = sqlx::query(
            "SELECT endpoint, password_sealed FROM endpoint_directories WHERE endpoint = ?",
        )
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "directory of endpoint",
            name: endpoint.to_string(),
        })?;
        let stored: String = row.try_get("endpoint")?;
        let sealed: String = row.try_get("password_sealed")?;
        self.sealer.open(&sealed, &directory_owner(&stored))
    }

    async fn remove_endpoint_directory(&self, endpoint: &str) -> Result<()> {
        sqlx::query("DELETE FROM endpoint_directories WHERE endpoint = ?")
            .bind(endpoint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_target_directory(
        &self,
        directory: Option<(&SourceDirectory, &SecretString)>,
    ) -> Result<()> {
        let Some((directory, password)) = directory else {
            sqlx::query("DELETE FROM target_directory")
                .execute(&self.pool)
                .await?;
            return Ok(());
        };
        let settings = serde_json::to_string(directory)
            .map_err(|e| corrupt(format!("target directory settings: {e}")))?;
        let sealed = self.sealer.seal(password, TARGET_DIRECTORY_OWNER)?;
        sqlx::query(
            "INSERT INTO target_directory (id, settings, password_sealed, updated_at)
             VALUES (1, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
               password_sealed = excluded.password_sealed, updated_at = excluded.updated_at",
        )
        .bind(&settings)
        .bind(&sealed)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn target_directory(&self) -> Result<Option<SourceDirectory>> {
        let settings: Option<String> =
            sqlx::query_scalar("SELECT settings FROM target_directory WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        settings
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| corrupt(format!("target directory settings: {e}")))
            })
            .transpose()
    }

    async fn target_directory_password(&self) -> Result<SecretString> {
        let sealed: String =
            sqlx::query_scalar("SELECT password_sealed FROM target_directory WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "target directory",
                    name: "(set it with `cutover target set ... --directory URL`)".into(),
                })?;
        self.sealer.open(&sealed, TARGET_DIRECTORY_OWNER)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cutover_model::DirectoryProfile;
    use secrecy::ExposeSecret;

    use super::*;
    use crate::sqlite::tests::{endpoint, store as open};
    use crate::{StateInspection, Store};

    fn directory() -> SourceDirectory {
        SourceDirectory {
            url: "ldap://127.0.0.1:3890".into(),
            base_dn: "dc=contoso,dc=test".into(),
            bind_dn: "cn=admin,dc=contoso,dc=test".into(),
            starttls: true,
            ca_file: None,
            profile: DirectoryProfile::OpenLdap,
            attributes: BTreeMap::from([("aliases".into(), "otherMailbox".into())]),
        }
    }

    #[tokio::test]
    async fn a_directory_is_stored_with_its_password_sealed() {
        let (_dir, store) = open().await;
        let e = endpoint("CutoverEndpoint");
        store
            .insert_endpoint(&e, &SecretString::from("imappass"))
            .await
            .unwrap();
        assert!(
            store
                .set_endpoint_directory("CutoverEndpoint", &directory(), None)
                .await
                .is_err(),
            "a new directory needs a password"
        );
        store
            .set_endpoint_directory(
                "CutoverEndpoint",
                &directory(),
                Some(&SecretString::from("bindpass")),
            )
            .await
            .unwrap();
        let mut changed = directory();
        changed.base_dn = "ou=people,dc=contoso,dc=test".into();
        store
            .set_endpoint_directory("CutoverEndpoint", &changed, None)
            .await
            .unwrap();
        assert_eq!(
            store.endpoint_directory("CutoverEndpoint").await.unwrap(),
            Some(changed)
        );
        assert_eq!(
            store
                .endpoint_directory_password("CutoverEndpoint")
                .await
                .unwrap()
                .expose_secret(),
            "bindpass"
        );
        let raw: Vec<String> =
            sqlx::query_scalar("SELECT settings || password_sealed FROM endpoint_directories")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert!(!raw[0].contains("bindpass"));
        let dump = store.dump_state().await.unwrap();
        assert!(
            dump.contains("directory={\"url\":\"ldap://127.0.0.1:3890\"")
                && dump.contains("directory_password=<redacted>"),
            "{dump}"
        );
        assert!(!dump.contains("bindpass"));
        store.remove_endpoint("CutoverEndpoint").await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM endpoint_directories")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, 0, "the directory goes with its endpoint");
    }

    #[tokio::test]
    async fn the_target_directory_is_stored_sealed_and_forgotten_with_none() {
        let (_dir, store) = open().await;
        assert_eq!(store.target_directory().await.unwrap(), None);
        assert!(store.target_directory_password().await.is_err());
        let mut target = directory();
        target.base_dn = "dc=target,dc=test".into();
        store
            .set_target_directory(Some((&target, &SecretString::from("targetpass"))))
            .await
            .unwrap();
        assert_eq!(
            store.target_directory().await.unwrap(),
            Some(target.clone())
        );
        assert_eq!(
            store
                .target_directory_password()
                .await
                .unwrap()
                .expose_secret(),
            "targetpass"
        );
        let raw: String =
            sqlx::query_scalar("SELECT settings || password_sealed FROM target_directory")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(!raw.contains("targetpass"));
        // Sealed for the target: an endpoint's directory password does not open as it.
        let e = endpoint("target");
        store
            .insert_endpoint(&e, &SecretString::from("imappass"))
            .await
            .unwrap();
        store
            .set_endpoint_directory("target", &directory(), Some(&SecretString::from("other")))
            .await
            .unwrap();
        assert_eq!(
            store
                .endpoint_directory_password("target")
                .await
                .unwrap()
                .expose_secret(),
            "other"
        );
        store
            .set_target(
                &cutover_model::Target {
                    connection: endpoint("T").connection,
                    updated_at: chrono::Utc::now(),
                    folds_case: None,
                },
                &SecretString::from("imapadmin"),
            )
            .await
            .unwrap();
        let dump = store.dump_state().await.unwrap();
        assert!(
            dump.contains("target_directory={\"url\"")
                && dump.contains("target_directory_password=<redacted>")
                && !dump.contains("targetpass"),
            "{dump}"
        );
        store.set_target_directory(None).await.unwrap();
        assert_eq!(store.target_directory().await.unwrap(), None);
    }
}
