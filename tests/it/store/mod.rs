//! The store's contract, held against each backend directly, below the HTTP API: every
//! trait method, and the guarantees the rest of seqhook builds on — gap-free seqs under
//! parallel appends, claims that never hand one delivery to two claimers, leases that run
//! out and come back, one event filter on both backends.

mod events;
mod notices;
mod outbox;
mod records;
mod retention;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use seqhook::domain::event::{EventType, NewEvent, StoredEvent};
use seqhook::domain::identity::{Identity, IdentityHandle};
use seqhook::domain::secret::SigningSecret;
use seqhook::domain::target::WebhookUrl;
use seqhook::domain::webhook::{EventFilter, Webhook};
use seqhook::id::{EventId, WebhookId};
use seqhook::store::{AppendRequest, Database, Store};
use seqhook::tenancy::provisioning::{CreatedTenant, create_tenant};

use crate::support::{Backend, TestDatabase};

/// The database a test database's URL names, on the suite's backend.
pub fn database(db: &TestDatabase) -> Database {
    match crate::BACKEND {
        Backend::Postgres => Database::Postgres(db.url.clone()),
        Backend::Sqlite => Database::Sqlite(db.url.clone()),
    }
}

/// A store on `db`, as a process opens it.
pub async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    seqhook::store::open(&database(db), 8)
        .await
        .expect("store opens")
}

/// A store, a tenant, and its identity `alice`.
pub struct Fixture {
    pub db: TestDatabase,
    pub store: Arc<dyn Store>,
    pub tenant: CreatedTenant,
    pub alice: Identity,
}

impl Fixture {
    pub async fn new() -> Self {
        let db = TestDatabase::create().await;
        let store = open(&db).await;
        let tenant = create_tenant(store.as_ref(), "Acme".into()).await.unwrap();
        let alice = identity(store.as_ref(), &tenant, "alice").await;
        Fixture {
            db,
            store,
            tenant,
            alice,
        }
    }

    pub async fn identity(&self, handle: &str) -> Identity {
        identity(self.store.as_ref(), &self.tenant, handle).await
    }

    /// A webhook of the tenant taking every event, changed by `shape` before it is stored.
    pub async fn webhook(&self, shape: impl FnOnce(&mut Webhook)) -> Webhook {
        let id = WebhookId::generate();
        let mut webhook = Webhook {
            id,
            tenant_id: self.tenant.tenant.id,
            url: WebhookUrl::trusted(format!("http://127.0.0.1:9/{id}").parse().unwrap()),
            events: EventFilter::default(),
            identities: None,
            description: String::new(),
            ordered: false,
            rate_limit: None,
            dialect: Default::default(),
            active: true,
            disabled_reason: None,
            created_at: Utc::now(),
        };
        shape(&mut webhook);
        self.store
            .create_webhook(&webhook, &SigningSecret::generate())
            .await
            .unwrap();
        webhook
    }

    /// Appends one event of each type to `identity`, in one request, with no lease.
    pub async fn append(&self, identity: &Identity, types: &[&str]) -> Vec<StoredEvent> {
        let events: Vec<NewEvent> = types.iter().map(|name| event(name)).collect();
        let request = AppendRequest {
            identity: identity.key,
            events: &events,
        };
        let mut appended = self.store.append_events(&[request], None).await.unwrap();
        appended.events.pop().unwrap()
    }

    pub async fn finish(self) {
        self.store.close().await;
        self.db.drop().await;
    }
}

/// An event of `event_type` with a fresh id.
pub fn event(event_type: &str) -> NewEvent {
    NewEvent {
        id: EventId::generate(),
        client_id: false,
        event_type: EventType::parse(event_type).unwrap(),
        data: serde_json::value::RawValue::from_string(r#"{"n":1}"#.into()).unwrap(),
    }
}

/// Returns once the store's clock (the wall clock, stamping to the millisecond) has moved
/// past `stamp`, so the next append is stamped later than the last one.
pub async fn past(stamp: DateTime<Utc>) {
    use chrono::SubsecRound;
    while Utc::now().trunc_subsecs(3) <= stamp {
        tokio::task::yield_now().await;
    }
}

/// Whole seconds from `at`, as the delivery clock counts.
pub fn after(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    at + chrono::Duration::seconds(seconds)
}

async fn identity(store: &dyn Store, tenant: &CreatedTenant, handle: &str) -> Identity {
    let handle = IdentityHandle::parse(handle).unwrap();
    store
        .create_identity(tenant.tenant.id, &handle)
        .await
        .unwrap()
        .0
}
