//! `public-api export`: every table, read in one snapshot (a read-only REPEATABLE READ
//! transaction), so the export is consistent while replicas write.

use deadpool_postgres::{GenericClient, Object};
use serde::de::DeserializeOwned;
use tokio_postgres::IsolationLevel;

use super::sql::{pg_error, query};
use super::{keys, migrations, webhooks};
use crate::store::encoding::from_json;
use crate::store::{Export, ExportedKey, ExportedRecord, ExportedResult, StoreError};

pub(super) async fn export(client: &mut Object) -> Result<Export, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_error)?;
    let api_keys = keys::all_api_keys(&tx)
        .await?
        .into_iter()
        .map(|key| ExportedKey { organization_id: key.org_id.clone(), key })
        .collect();
    let export = Export {
        schema_version: migrations::current_version(&*tx).await?,
        organizations: keys::list_organizations(&tx).await?,
        api_keys,
        jobs: all_records(&tx, "jobs", "seq").await?,
        candidates: all_records(&tx, "candidates", "seq").await?,
        resumes: all_records(&tx, "resumes", "candidate_id").await?,
        applications: all_records(&tx, "applications", "seq").await?,
        call_results: call_results(&tx).await?,
        events: events(&tx).await?,
        webhook_endpoints: all_records(&tx, "webhook_endpoints WHERE NOT deleted", "seq").await?,
        webhook_deliveries: webhooks::export_deliveries(&tx).await?,
        audit_events: all_records(&tx, "audit_events", "seq").await?,
    };
    tx.commit().await.map_err(pg_error)?;
    Ok(export)
}

/// Every row of `table` (which may carry a `WHERE` clause) with its organisation.
async fn all_records<T: DeserializeOwned>(
    c: &impl GenericClient,
    table: &str,
    order: &str,
) -> Result<Vec<ExportedRecord<T>>, StoreError> {
    let rows = c.query(&format!("SELECT org_id, record FROM {table} ORDER BY {order}"), &[]).await.map_err(pg_error)?;
    rows.iter()
        .map(|r| Ok(ExportedRecord { organization_id: r.get(0), record: from_json(r.get::<_, &str>(1))? }))
        .collect()
}

async fn call_results(c: &impl GenericClient) -> Result<Vec<ExportedResult>, StoreError> {
    let rows =
        query(c, "SELECT org_id, application_id, record FROM call_results ORDER BY created_at, application_id", &[])
            .await?;
    rows.iter()
        .map(|r| {
            Ok(ExportedResult {
                organization_id: r.get(0),
                application_id: r.get(1),
                result: from_json(r.get::<_, &str>(2))?,
            })
        })
        .collect()
}

async fn events(c: &impl GenericClient) -> Result<Vec<ExportedRecord<serde_json::Value>>, StoreError> {
    let rows = query(c, "SELECT org_id, payload FROM outbox ORDER BY seq", &[]).await?;
    rows.iter()
        .map(|r| {
            Ok(ExportedRecord { organization_id: r.get(0), record: serde_json::from_slice(r.get::<_, &[u8]>(1))? })
        })
        .collect()
}
