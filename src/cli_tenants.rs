//! `seqhook tenants create NAME`: the operator's way to make a tenant without the API.

use anyhow::Context;

use crate::store::postgres::PgStore;
use crate::tenant::{create_tenant, parse_tenant_name};

pub async fn create(database_url: &str, name: &str) -> anyhow::Result<()> {
    let name = parse_tenant_name(name)?;
    let store = PgStore::connect(database_url, 1)
        .await
        .context("connecting to PostgreSQL")?;
    store.migrate().await.context("migrating the database")?;
    let created = create_tenant(&store, name).await?;
    let body = serde_json::json!({ "tenant": created.tenant, "apiKey": created.key.with_secret(&created.secret) });
    println!("{}", serde_json::to_string_pretty(&body)?);
    store.close().await;
    Ok(())
}
