//! FHIR resources created through the FHIR API (Observation, DiagnosticReport): sealed
//! bodies, with the patient, category codes and effective time searches need.

use crate::{conflict_on_unique, on_pool, Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FhirRow {
    pub resource_type: String,
    pub id: String,
    pub patient_id: String,
    pub data_category: String,
    pub category_codes: String,
    pub effective_at: Option<i64>,
    pub body_sealed: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "resource_type, id, patient_id, data_category, category_codes, effective_at, body_sealed, created_by, created_at";

/// A search within one patient's resources of one type.
#[derive(Debug, Clone, Default)]
pub struct FhirSearch {
    /// Any of these codes (exact, as stored in `category_codes`: no spaces).
    pub category_codes: Vec<String>,
    /// `effective_at >= from`.
    pub from: Option<i64>,
    /// `effective_at < until`.
    pub until: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn insert_fhir(&self, r: &FhirRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO fhir_resources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&r.resource_type).bind(&r.id).bind(&r.patient_id).bind(&r.data_category)
            .bind(&r.category_codes).bind(r.effective_at).bind(&r.body_sealed)
            .bind(&r.created_by).bind(r.created_at)
            .execute(pool).await.map(|_| ()))
        .map_err(|e| conflict_on_unique(e, "fhir resource"))?;
        Ok(())
    }

    pub async fn fhir_resource(&self, resource_type: &str, id: &str) -> Result<Option<FhirRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM fhir_resources WHERE resource_type = $1 AND id = $2");
        Ok(
            on_pool!(self, pool => sqlx::query_as(&sql).bind(resource_type).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// A patient's resources of one type, newest effective first.
    pub async fn search_fhir(
        &self,
        resource_type: &str,
        patient_id: &str,
        search: &FhirSearch,
    ) -> Result<Vec<FhirRow>> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM fhir_resources WHERE resource_type = $1 AND patient_id = $2"
        );
        let mut n = 2;
        let mut next = || {
            n += 1;
            n
        };
        if search.from.is_some() {
            sql.push_str(&format!(" AND effective_at >= ${}", next()));
        }
        if search.until.is_some() {
            sql.push_str(&format!(" AND effective_at < ${}", next()));
        }
        if !search.category_codes.is_empty() {
            let any: Vec<String> = search
                .category_codes
                .iter()
                .map(|_| format!("category_codes LIKE ${} ESCAPE '\\'", next()))
                .collect();
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        sql.push_str(&format!(
            " ORDER BY effective_at DESC, created_at DESC, id LIMIT ${}",
            next()
        ));
        let patterns: Vec<String> = search
            .category_codes
            .iter()
            .map(|c| {
                let escaped = c
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("% {escaped} %")
            })
            .collect();
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(resource_type).bind(patient_id);
            if let Some(f) = search.from {
                q = q.bind(f);
            }
            if let Some(u) = search.until {
                q = q.bind(u);
            }
            for p in &patterns {
                q = q.bind(p);
            }
            q.bind(search.limit).fetch_all(pool).await
        })?)
    }
}
