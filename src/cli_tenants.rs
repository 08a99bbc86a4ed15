//! `seqhook tenants create NAME`: the operator's way to make a tenant without the API.

use crate::config::DatabaseArgs;
use crate::domain::tenant::parse_tenant_name;
use crate::tenancy::provisioning::create_tenant;

pub async fn create(database: &DatabaseArgs, name: &str) -> anyhow::Result<()> {
    let name = parse_tenant_name(name)?;
    let database = database.database()?;
    let store = crate::store::open(&database, 1).await?;
    let created = create_tenant(store.as_ref(), name).await?;
    let body = serde_json::json!({ "tenant": created.tenant, "apiKey": created.key.with_secret(&created.secret) });
    println!("{}", serde_json::to_string_pretty(&body)?);
    store.close().await;
    Ok(())
}
