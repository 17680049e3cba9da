//! [`StateInspection`] on PostgreSQL: the dump and the invariants (written once, in
//! `inspect::read`), each read in one REPEATABLE READ transaction, so that workers
//! writing meanwhile cannot make them disagree with themselves.

use async_trait::async_trait;

use super::PostgresStore;
use crate::Result;
use crate::inspect::{InvariantViolation, StateInspection, read};

#[async_trait]
impl StateInspection for PostgresStore {
    async fn dump_state(&self) -> Result<String> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let text = read::dump(&mut tx).await?;
        tx.commit().await?;
        Ok(text)
    }

    async fn check_invariants(&self) -> Result<Vec<InvariantViolation>> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let out = read::check(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}
