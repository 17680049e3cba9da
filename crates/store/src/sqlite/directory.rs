//! [`DirectoryStore`] on SQLite: the settings as JSON, the bind password sealed.

use async_trait::async_trait;
use chrono::Utc;
use cutover_model::SourceDirectory;
use secrecy::SecretString;
use sqlx::Row;

use super::{SqliteStore, corrupt};
use crate::directory::DirectoryStore;
use crate::rows::{TARGET_DIRECTORY_OWNER, directory_owner};
use crate::{Result, StoreError};

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
