//! `TenantStore`, `IdentityStore`, `EventTypeStore` and `WebhookStore`: the records the API
//! creates, finds, lists, changes and removes.

use chrono::Utc;
use seqhook::domain::event::EventType;
use seqhook::domain::identity::IdentityHandle;
use seqhook::domain::key::{ApiKey, KeySecret, Scope};
use seqhook::domain::secret::SigningSecret;
use seqhook::domain::target::WebhookUrl;
use seqhook::domain::webhook::EventFilter;
use seqhook::id::{ApiKeyId, TenantId, WebhookId};
use seqhook::store::WebhookPatch;
use serde_json::json;

use super::{Fixture, after};

fn handle(text: &str) -> IdentityHandle {
    IdentityHandle::parse(text).unwrap()
}

#[tokio::test]
async fn keys_are_found_by_hash_listed_by_id_and_gone_once_revoked() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let (found, hash) = fx
        .store
        .find_api_key(&fx.tenant.secret.hash())
        .await
        .unwrap()
        .expect("the first key");
    assert_eq!(found.id, fx.tenant.key.id);
    assert_eq!(found.scopes, Scope::ALL.to_vec());
    assert!(hash.matches(&fx.tenant.secret.hash()));

    let secret = KeySecret::generate();
    let scoped = ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: tenant,
        name: None,
        scopes: vec![Scope::EventsRead],
        identity: Some(handle("alice")),
        created_at: Utc::now(),
    };
    fx.store
        .create_api_key(&scoped, &secret.hash())
        .await
        .unwrap();
    let (read_back, _) = fx
        .store
        .find_api_key(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_back.scopes, [Scope::EventsRead]);
    assert_eq!(read_back.identity, Some(handle("alice")));
    assert_eq!(read_back.name, None);

    let all = fx.store.list_api_keys(tenant, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    let after_first = fx
        .store
        .list_api_keys(tenant, Some(all[0].id), 10)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1);
    assert!(after_first[0].id > all[0].id);

    assert!(fx.store.revoke_api_key(tenant, scoped.id).await.unwrap());
    assert!(
        !fx.store.revoke_api_key(tenant, scoped.id).await.unwrap(),
        "once"
    );
    assert!(
        fx.store
            .find_api_key(&secret.hash())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        fx.store
            .list_api_keys(tenant, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let stranger = TenantId::generate();
    assert!(
        !fx.store
            .revoke_api_key(stranger, fx.tenant.key.id)
            .await
            .unwrap(),
        "another tenant's key is not there"
    );
    fx.finish().await;
}

#[tokio::test]
async fn an_identity_is_created_once_and_listed_by_handle() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let (again, created) = fx
        .store
        .create_identity(tenant, &handle("alice"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.key, fx.alice.key);
    fx.identity("carol").await;
    fx.identity("bob").await;
    let listed = fx
        .store
        .list_identities(tenant, None, None, 10)
        .await
        .unwrap();
    let handles: Vec<&str> = listed
        .iter()
        .map(|identity| identity.handle.as_str())
        .collect();
    assert_eq!(handles, ["alice", "bob", "carol"]);
    let after_bob = fx
        .store
        .list_identities(tenant, Some(&handle("bob")), None, 10)
        .await
        .unwrap();
    assert_eq!(after_bob.len(), 1);
    assert_eq!(after_bob[0].handle.as_str(), "carol");
    fx.identity("bo.b@x").await;
    fx.identity("bz").await;
    let prefixed = fx
        .store
        .list_identities(tenant, None, Some("bo"), 10)
        .await
        .unwrap();
    let handles: Vec<&str> = prefixed
        .iter()
        .map(|identity| identity.handle.as_str())
        .collect();
    assert_eq!(
        handles,
        ["bo.b@x", "bob"],
        "a prefix is a range, in handle order"
    );
    let paged = fx
        .store
        .list_identities(tenant, Some(&handle("bo.b@x")), Some("bo"), 10)
        .await
        .unwrap();
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].handle.as_str(), "bob");

    let other = seqhook::tenancy::provisioning::create_tenant(fx.store.as_ref(), "Other".into())
        .await
        .unwrap();
    let theirs = fx
        .store
        .find_identity(other.tenant.id, &handle("alice"))
        .await
        .unwrap();
    assert!(theirs.is_none(), "handles are per tenant");
    fx.finish().await;
}

#[tokio::test]
async fn an_event_type_upsert_tells_create_from_replace_and_keeps_when_it_was_created() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let name = EventType::parse("deal.won").unwrap();
    let (first, created) = fx
        .store
        .upsert_event_type(tenant, &name, "first", &json!({ "type": "object" }))
        .await
        .unwrap();
    assert!(created);
    let (second, created) = fx
        .store
        .upsert_event_type(
            tenant,
            &name,
            "second",
            &json!({ "type": "object", "required": ["x"] }),
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.description, "second");
    let found = fx
        .store
        .find_event_type(tenant, &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.schema["required"], json!(["x"]));
    assert_eq!(fx.store.list_event_types(tenant).await.unwrap().len(), 1);
    assert!(
        fx.store
            .find_event_type(TenantId::generate(), &name)
            .await
            .unwrap()
            .is_none()
    );
    fx.finish().await;
}

#[tokio::test]
async fn a_webhook_patch_changes_what_it_carries_and_reactivation_releases_held_rows() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let webhook = fx
        .webhook(|webhook| {
            webhook.identities = Some(vec![handle("alice")]);
            webhook.rate_limit = Some(5);
            webhook.description = "before".into();
        })
        .await;
    let found = fx
        .store
        .find_webhook(tenant, webhook.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.identities, Some(vec![handle("alice")]));
    assert_eq!(found.rate_limit, Some(5));
    assert_eq!(found.url, webhook.url);

    let now = Utc::now();
    let url = WebhookUrl::trusted("https://example.com/moved".parse().unwrap());
    let moved = WebhookPatch {
        url: Some(url.clone()),
        events: Some(EventFilter::parse(Some(&["email.*".to_owned()])).unwrap()),
        identities: Some(None),
        rate_limit: Some(None),
        active: Some(false),
        ..WebhookPatch::default()
    };
    let patched = fx
        .store
        .update_webhook(tenant, webhook.id, &moved, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.url, url);
    assert_eq!(patched.events.prefixes, Some(vec!["email.".to_owned()]));
    assert_eq!(patched.identities, None, "cleared");
    assert_eq!(patched.rate_limit, None, "cleared");
    assert_eq!(patched.description, "before", "left as it was");
    assert!(!patched.active);
    assert!(patched.disabled_reason.is_some());

    // An event while inactive is held; switching back on makes it due at once.
    fx.append(&fx.alice, &["email.sent"]).await;
    assert!(
        super::outbox::claim_all(fx.store.as_ref(), now)
            .await
            .is_empty()
    );
    let on = WebhookPatch {
        active: Some(true),
        ordered: Some(true),
        ..WebhookPatch::default()
    };
    let patched = fx
        .store
        .update_webhook(tenant, webhook.id, &on, after(now, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(patched.active && patched.ordered);
    assert_eq!(patched.disabled_reason, None);
    let due = super::outbox::claim_all(fx.store.as_ref(), after(now, 1)).await;
    assert_eq!(due.len(), 1);

    let stranger = TenantId::generate();
    let theirs = fx
        .store
        .update_webhook(stranger, webhook.id, &on, now)
        .await
        .unwrap();
    assert!(theirs.is_none(), "another tenant's webhook is not there");
    fx.finish().await;
}

#[tokio::test]
async fn webhooks_list_by_id_and_a_delete_takes_its_secrets_and_deliveries() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let first = fx.webhook(|_| {}).await;
    let second = fx.webhook(|_| {}).await;
    let listed = fx.store.list_webhooks(tenant, None, 10).await.unwrap();
    let mut ids: Vec<WebhookId> = vec![first.id, second.id];
    ids.sort();
    assert_eq!(listed.iter().map(|w| w.id).collect::<Vec<_>>(), ids);
    let rest = fx
        .store
        .list_webhooks(tenant, Some(ids[0]), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);

    fx.append(&fx.alice, &["email.sent"]).await;
    assert_eq!(fx.store.pending_deliveries().await.unwrap(), 2);
    assert!(
        !fx.store
            .delete_webhook(TenantId::generate(), first.id)
            .await
            .unwrap()
    );
    assert!(fx.store.delete_webhook(tenant, first.id).await.unwrap());
    assert!(
        !fx.store.delete_webhook(tenant, first.id).await.unwrap(),
        "once"
    );
    assert!(
        fx.store
            .find_webhook(tenant, first.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        fx.store.pending_deliveries().await.unwrap(),
        1,
        "its rows went with it"
    );
    let secrets = fx
        .store
        .webhook_secrets(tenant, first.id, Utc::now())
        .await
        .unwrap();
    assert!(secrets.is_empty());
    fx.finish().await;
}

#[tokio::test]
async fn a_rotated_secret_signs_first_and_the_old_one_until_it_retires() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let webhook = fx.webhook(|_| {}).await;
    let now = Utc::now();
    let old = fx
        .store
        .webhook_secrets(tenant, webhook.id, now)
        .await
        .unwrap();
    assert_eq!(old.len(), 1);

    let new = SigningSecret::generate();
    let rotated = fx
        .store
        .rotate_webhook_secret(tenant, webhook.id, &new, after(now, 1), after(now, 60))
        .await
        .unwrap();
    assert!(rotated);
    let both = fx
        .store
        .webhook_secrets(tenant, webhook.id, after(now, 2))
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], new, "newest first");
    assert_eq!(both[1], old[0]);
    let later = fx
        .store
        .webhook_secrets(tenant, webhook.id, after(now, 61))
        .await
        .unwrap();
    assert_eq!(later, std::slice::from_ref(&new));

    let elsewhere = fx
        .store
        .rotate_webhook_secret(TenantId::generate(), webhook.id, &new, now, now)
        .await
        .unwrap();
    assert!(!elsewhere, "another tenant's webhook is not there");
    fx.finish().await;
}

#[tokio::test]
async fn a_store_answers_a_ping() {
    let fx = Fixture::new().await;
    fx.store.ping().await.unwrap();
    fx.finish().await;
}
