//! Patients, care episodes, tests and patient records. Personal data arrives sealed; lookups
//! use the blind indexes the caller computed.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatientRow {
    pub id: String,
    pub mrn: String,
    pub demographics_sealed: Vec<u8>,
    pub name_birth_index: String,
    pub national_id_sealed: Option<Vec<u8>>,
    pub national_id_index: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

const PATIENT_COLUMNS: &str = "id, mrn, demographics_sealed, name_birth_index, national_id_sealed, national_id_index, created_by, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EpisodeRow {
    pub id: String,
    pub patient_id: String,
    pub department_id: String,
    pub admitted_at: i64,
    pub admitted_by: String,
    pub ended_at: Option<i64>,
    /// `transfer` or `discharge`.
    pub end_reason: Option<String>,
    pub ended_by: Option<String>,
}

const EPISODE_COLUMNS: &str =
    "id, patient_id, department_id, admitted_at, admitted_by, ended_at, end_reason, ended_by";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestRow {
    pub id: String,
    pub patient_id: String,
    pub laboratory_department_id: String,
    pub ordered_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub id: String,
    pub patient_id: String,
    pub category: String,
    pub author_id: String,
    pub created_at: i64,
    pub body_sealed: Vec<u8>,
}

/// A patient in a department now, for "my patients".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CurrentPatientRow {
    pub id: String,
    pub mrn: String,
    pub demographics_sealed: Vec<u8>,
    pub department_id: String,
    pub admitted_at: i64,
}

impl Store {
    pub async fn insert_patient(&self, p: &PatientRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO patients (id, mrn, demographics_sealed, name_birth_index, national_id_sealed, national_id_index, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&p.id).bind(&p.mrn).bind(&p.demographics_sealed).bind(&p.name_birth_index)
            .bind(&p.national_id_sealed).bind(&p.national_id_index).bind(&p.created_by).bind(p.created_at)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "patient identifier or national identifier"))
    }

    pub async fn patient(&self, id: &str) -> Result<Option<PatientRow>> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn patient_by_mrn(&self, mrn: &str) -> Result<Option<PatientRow>> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE mrn = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(mrn).fetch_optional(pool).await)?)
    }

    pub async fn patient_by_national_index(&self, index: &str) -> Result<Option<PatientRow>> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE national_id_index = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(index).fetch_optional(pool).await)?)
    }

    pub async fn patients_by_name_birth_index(
        &self,
        index: &str,
        limit: i64,
    ) -> Result<Vec<PatientRow>> {
        let sql = format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE name_birth_index = $1 ORDER BY mrn LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(index).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Admit: open an episode. Refused with a conflict if the patient is already admitted.
    pub async fn insert_episode(&self, e: &EpisodeRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO care_episodes (id, patient_id, department_id, admitted_at, admitted_by, ended_at, end_reason, ended_by) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL)")
            .bind(&e.id).bind(&e.patient_id).bind(&e.department_id).bind(e.admitted_at).bind(&e.admitted_by)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "open care episode"))
    }

    /// Transfer: end the open episode and open one in the new department, in one transaction.
    /// Returns `false` (and changes nothing) if the patient has no open episode.
    pub async fn transfer_episode(&self, patient_id: &str, next: &EpisodeRow) -> Result<bool> {
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE care_episodes SET ended_at = $2, end_reason = 'transfer', ended_by = $3 \
                 WHERE patient_id = $1 AND ended_at IS NULL")
                .bind(patient_id).bind(next.admitted_at).bind(&next.admitted_by)
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query(
                    "INSERT INTO care_episodes (id, patient_id, department_id, admitted_at, admitted_by, ended_at, end_reason, ended_by) \
                     VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL)")
                    .bind(&next.id).bind(&next.patient_id).bind(&next.department_id)
                    .bind(next.admitted_at).bind(&next.admitted_by)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                true
            } else {
                tx.rollback().await?;
                false
            }
        });
        Ok(done)
    }

    /// Discharge: end the open episode. Returns whether there was one.
    pub async fn discharge_episode(&self, patient_id: &str, at: i64, by: &str) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE care_episodes SET ended_at = $2, end_reason = 'discharge', ended_by = $3 \
             WHERE patient_id = $1 AND ended_at IS NULL")
            .bind(patient_id).bind(at).bind(by).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    pub async fn episode(&self, id: &str) -> Result<Option<EpisodeRow>> {
        let sql = format!("SELECT {EPISODE_COLUMNS} FROM care_episodes WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn episodes_of(&self, patient_id: &str) -> Result<Vec<EpisodeRow>> {
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM care_episodes WHERE patient_id = $1 ORDER BY admitted_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(patient_id).fetch_all(pool).await)?)
    }

    /// Patients currently admitted to any of `departments`, newest admission first.
    pub async fn current_patients(
        &self,
        departments: &[String],
        limit: i64,
    ) -> Result<Vec<CurrentPatientRow>> {
        if departments.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT p.id, p.mrn, p.demographics_sealed, e.department_id, e.admitted_at \
             FROM care_episodes e JOIN patients p ON p.id = e.patient_id \
             WHERE e.ended_at IS NULL AND e.department_id IN ({}) \
             ORDER BY e.admitted_at DESC, p.id LIMIT $1",
            crate::numbered_params(2, departments.len())
        );
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(limit);
            for d in departments {
                q = q.bind(d);
            }
            q.fetch_all(pool).await
        })?)
    }

    pub async fn insert_test(&self, t: &TestRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO tests (id, patient_id, laboratory_department_id, ordered_by, created_at, closed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(&t.id).bind(&t.patient_id).bind(&t.laboratory_department_id).bind(&t.ordered_by).bind(t.created_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn tests_of(&self, patient_id: &str) -> Result<Vec<TestRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, patient_id, laboratory_department_id, ordered_by, created_at, closed_at \
             FROM tests WHERE patient_id = $1 ORDER BY created_at, id")
            .bind(patient_id).fetch_all(pool).await)?)
    }

    pub async fn insert_record(&self, r: &RecordRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO patient_records (id, patient_id, category, author_id, created_at, body_sealed) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&r.id).bind(&r.patient_id).bind(&r.category).bind(&r.author_id).bind(r.created_at).bind(&r.body_sealed)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records of a patient in the given categories, newest first.
    pub async fn records_of(
        &self,
        patient_id: &str,
        categories: &[String],
    ) -> Result<Vec<RecordRow>> {
        if categories.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, patient_id, category, author_id, created_at, body_sealed FROM patient_records \
             WHERE patient_id = $1 AND category IN ({}) ORDER BY created_at DESC, id",
            crate::numbered_params(2, categories.len())
        );
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(patient_id);
            for c in categories {
                q = q.bind(c);
            }
            q.fetch_all(pool).await
        })?)
    }
}
