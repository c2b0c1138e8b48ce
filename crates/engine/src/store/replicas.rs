//! Server processes sharing one database, by heartbeat: how replicas split a provider's rate
//! limit between them.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    /// Says `replica` is alive now, and returns how many replicas have said so within
    /// `alive_ms` (itself included).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replica_heartbeat(&self, replica: &str, alive_ms: i64) -> Result<i64, StoreError> {
        let now = now_ms();
        let updated = sqlx::query("UPDATE replicas SET heartbeat_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(replica)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO replicas (id, heartbeat_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(replica)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        // Replicas long gone are forgotten.
        sqlx::query("DELETE FROM replicas WHERE heartbeat_ms < $1")
            .bind(now - 100 * alive_ms)
            .execute(&self.pool)
            .await?;
        let alive: i64 = sqlx::query("SELECT COUNT(*) AS n FROM replicas WHERE heartbeat_ms >= $1")
            .bind(now - alive_ms)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(alive.max(1))
    }

    /// Says `replica` has stopped: the others take its share at their next heartbeat.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replica_gone(&self, replica: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(replica).execute(&self.pool).await?;
        Ok(())
    }
}
