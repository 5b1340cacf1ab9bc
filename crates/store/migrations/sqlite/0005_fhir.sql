-- FHIR R4 resources created through /fhir/R4 (Observation, DiagnosticReport). The resource
-- itself is sealed; what searches need (patient, FHIR category codes, effective time) is not.
CREATE TABLE fhir_resources (
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- The data category access policy decides on (results, imaging, ...).
    data_category TEXT NOT NULL,
    -- The resource's category codes, space separated with a space at each end: ' laboratory '.
    category_codes TEXT NOT NULL,
    -- effective[x] (or issued), in seconds; NULL when the resource has none.
    effective_at INTEGER,
    body_sealed BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resources_patient ON fhir_resources(patient_id, resource_type, effective_at);
