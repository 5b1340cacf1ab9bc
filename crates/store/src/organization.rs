//! Departments and staff assignments.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepartmentRow {
    pub id: String,
    pub name: String,
    /// `care`, `laboratory` or `administration`.
    pub kind: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: String,
    pub user_id: String,
    pub department_id: String,
    pub role: String,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub temporary: i64,
    pub confirmed: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// A staff member as messaging sees them.
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub status: String,
    /// Departments whose inboxes they read now (confirmed assignments in force).
    pub departments: Vec<String>,
    /// Their current signing key (id, private half wrapped under the master key), if made.
    pub signing_key: Option<(String, Vec<u8>)>,
}

const ASSIGNMENT_COLUMNS: &str =
    "id, user_id, department_id, role, valid_from, valid_until, temporary, confirmed, created_by, created_at";

impl Store {
    pub async fn insert_department(&self, d: &DepartmentRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO departments (id, name, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&d.id).bind(&d.name).bind(&d.kind).bind(d.created_at)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "department name"))
    }

    pub async fn department(&self, id: &str) -> Result<Option<DepartmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, kind, created_at FROM departments WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?)
    }

    pub async fn department_by_name(&self, name: &str) -> Result<Option<DepartmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, kind, created_at FROM departments WHERE name = $1")
            .bind(name).fetch_optional(pool).await)?)
    }

    pub async fn list_departments(&self) -> Result<Vec<DepartmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, kind, created_at FROM departments ORDER BY name")
            .fetch_all(pool).await)?)
    }

    pub async fn insert_assignment(&self, a: &AssignmentRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO assignments (id, user_id, department_id, role, valid_from, valid_until, temporary, confirmed, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(&a.id).bind(&a.user_id).bind(&a.department_id).bind(&a.role)
            .bind(a.valid_from).bind(a.valid_until).bind(a.temporary).bind(a.confirmed)
            .bind(&a.created_by).bind(a.created_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn assignment(&self, id: &str) -> Result<Option<AssignmentRow>> {
        let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Every assignment of a person, past, present and future.
    pub async fn assignments_of(&self, user_id: &str) -> Result<Vec<AssignmentRow>> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE user_id = $1 ORDER BY valid_from, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// What reading and writing messages needs of a staff member, in one query (every read
    /// and send starts here); None if there is no such user.
    pub async fn staff_member(&self, user_id: &str, now: i64) -> Result<Option<StaffMember>> {
        type Row = (String, Option<String>, Option<String>, Option<Vec<u8>>);
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT u.status, a.department_id, k.id, k.wrapped_private FROM users u \
             LEFT JOIN assignments a ON a.user_id = u.id AND a.confirmed = 1 \
             AND a.valid_from <= $2 AND (a.valid_until IS NULL OR $2 < a.valid_until) \
             LEFT JOIN signing_keys k ON k.user_id = u.id AND k.retired_at IS NULL \
             WHERE u.id = $1 ORDER BY a.valid_from, a.id"
        ).bind(user_id).bind(now).fetch_all(pool).await)?;
        let Some((status, _, key_id, wrapped)) = rows.first().cloned() else {
            return Ok(None);
        };
        let mut departments: Vec<String> = Vec::new();
        for d in rows.into_iter().filter_map(|(_, d, _, _)| d) {
            if !departments.contains(&d) {
                departments.push(d);
            }
        }
        Ok(Some(StaffMember {
            status,
            departments,
            signing_key: key_id.zip(wrapped),
        }))
    }

    /// Assignments of a department in force at `now` (confirmed or waiting).
    pub async fn assignments_in(
        &self,
        department_id: &str,
        now: i64,
    ) -> Result<Vec<AssignmentRow>> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE department_id = $1 \
             AND (valid_until IS NULL OR valid_until > $2) ORDER BY user_id, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(department_id).bind(now).fetch_all(pool).await)?,
        )
    }

    /// End an assignment at `at` (if it would run longer). Returns whether it changed.
    pub async fn end_assignment(&self, id: &str, at: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE assignments SET valid_until = CASE WHEN valid_from > $2 THEN valid_from ELSE $2 END \
             WHERE id = $1 AND (valid_until IS NULL OR valid_until > $2)")
            .bind(id).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// End every assignment of a person at `at`. Returns how many ended.
    pub async fn end_assignments_of(&self, user_id: &str, at: i64) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE assignments SET valid_until = CASE WHEN valid_from > $2 THEN valid_from ELSE $2 END \
             WHERE user_id = $1 AND (valid_until IS NULL OR valid_until > $2)")
            .bind(user_id).bind(at).execute(pool).await.map(|r| r.rows_affected()))?)
    }

    pub async fn confirm_assignment(&self, id: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE assignments SET confirmed = 1 WHERE id = $1 AND confirmed = 0")
            .bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
