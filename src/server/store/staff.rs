//! Staff accounts and their signed-in sessions. Sessions are kept by a hash
//! of their token, so the table alone cannot sign anyone in.

use sqlx::Row;

use super::{StockTransaction, Store, StoreError};

impl Store {
    /// Adds an account, or replaces its password (and its role, when one is
    /// given) if the name exists; a new account without a role is an owner.
    /// A new password ends every session of the account in the same
    /// transaction: whoever signed in with the old one (or the old role) is
    /// signed out on every node at their next request.
    pub async fn put_staff(
        &self,
        name: &str,
        password_hash: &str,
        role: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO staff (name, password_hash, created_at, role) \
             VALUES ($1, $2, $3, COALESCE($4, 'owner')) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, \
             role = COALESCE($4, staff.role)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(now_ms)
        .bind(role)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM staff_sessions WHERE staff_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn staff_password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM staff WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("password_hash")).transpose()?)
    }

    /// The staff member a live session belongs to, and their role.
    pub async fn staff_of_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.staff_name, a.role FROM staff_sessions s \
             JOIN staff a ON a.name = s.staff_name \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("staff_name")?, r.try_get("role")?)))
            .transpose()
    }
}

/// Sessions are written by the shop's one writer, like every other change:
/// SQLite has one write lock, and a second writer would make the stock's
/// writer wait behind it (and behind SQLite's busy back-off).
impl StockTransaction {
    pub async fn open_staff_session(
        &mut self,
        token_hash: &str,
        name: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_name, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(name)
        .bind(expires_at_ms)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Ends a session, and with it every session that has lapsed.
    pub async fn close_staff_session(
        &mut self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now_ms)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }
}
