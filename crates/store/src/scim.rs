//! SCIM resources as the provisioning client sent them, and group membership.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimResourceRow {
    pub id: String,
    /// `User` or `Group`.
    pub resource_type: String,
    pub user_name_key: Option<String>,
    /// The resource's attributes as JSON, without `id` and `meta`.
    pub document: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, resource_type, user_name_key, document, version, created_at, updated_at";

impl Store {
    /// Insert a resource; a taken userName is a conflict.
    pub async fn insert_scim_resource(&self, r: &ScimResourceRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO scim_resources (id, resource_type, user_name_key, document, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&r.id).bind(&r.resource_type).bind(&r.user_name_key).bind(&r.document)
            .bind(r.version).bind(r.created_at).bind(r.updated_at)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "userName"))
    }

    /// Replace a resource's document if it is still at `expected_version`; returns whether it
    /// was (a concurrent change makes the caller retry or report a conflict).
    pub async fn update_scim_resource(
        &self,
        id: &str,
        user_name_key: Option<&str>,
        document: &str,
        expected_version: i64,
        at: i64,
    ) -> Result<bool> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE scim_resources SET user_name_key = $1, document = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5")
            .bind(user_name_key).bind(document).bind(at).bind(id).bind(expected_version)
            .execute(pool).await.map(|r| r.rows_affected() == 1))
        .map_err(|e| conflict_on_unique(e, "userName"))
    }

    pub async fn scim_resource(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<ScimResourceRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM scim_resources WHERE resource_type = $1 AND id = $2");
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(resource_type).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Every resource of a type (or of every type), oldest first.
    pub async fn scim_resources(
        &self,
        resource_type: Option<&str>,
    ) -> Result<Vec<ScimResourceRow>> {
        Ok(match resource_type {
            Some(t) => {
                let sql = format!("SELECT {COLUMNS} FROM scim_resources WHERE resource_type = $1 ORDER BY created_at, id");
                on_pool!(self, pool => sqlx::query_as(&sql).bind(t).fetch_all(pool).await)?
            }
            None => {
                let sql = format!("SELECT {COLUMNS} FROM scim_resources ORDER BY created_at, id");
                on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?
            }
        })
    }

    /// A User by its lowercased userName (the index behind `filter=userName eq "…"`).
    pub async fn scim_user_by_name_key(&self, key: &str) -> Result<Option<ScimResourceRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE resource_type = 'User' AND user_name_key = $1"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?)
    }

    pub async fn delete_scim_resource(&self, id: &str) -> Result<bool> {
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 OR member_id = $1")
                .bind(id).execute(&mut *tx).await?;
            let gone = sqlx::query("DELETE FROM scim_resources WHERE id = $1")
                .bind(id).execute(&mut *tx).await?.rows_affected() == 1;
            tx.commit().await?;
            gone
        }))
    }

    /// Set a group's members to exactly `members`.
    pub async fn set_scim_group_members(&self, group_id: &str, members: &[String]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1").bind(group_id).execute(&mut *tx).await?;
            for m in members {
                sqlx::query("INSERT INTO scim_group_members (group_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(group_id).bind(m).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The groups a member belongs to.
    pub async fn scim_groups_of(&self, member_id: &str) -> Result<Vec<ScimResourceRow>> {
        let sql = format!(
            "SELECT {} FROM scim_resources r JOIN scim_group_members m ON m.group_id = r.id \
             WHERE m.member_id = $1 ORDER BY r.created_at, r.id",
            COLUMNS
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(member_id).fetch_all(pool).await)?)
    }

    /// Change a staff account's e-mail address and display name (provisioning).
    pub async fn set_user_identity(
        &self,
        user_id: &str,
        email: &str,
        display_name: &str,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET email = $1, display_name = $2, updated_at = $3 WHERE id = $4")
            .bind(email).bind(display_name).bind(now).bind(user_id).execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "e-mail address"))
    }
}
