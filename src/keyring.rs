//! Authentication: presented key → live `ApiKey`. Keys are cached for a minute so the hot
//! path costs no query; a revocation evicts at once in the revoking process and, through
//! the listener, in every other one (a reconnected listener clears the whole cache, since
//! it may have missed one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::id::{ApiKeyId, TenantId};
use crate::store::{Store, StoreResult};
use crate::tenant::{ApiKey, KeyHash};

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_CAP: usize = 10_000;

pub struct Keyring {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<KeyHash, (ApiKey, KeyHash, Instant)>>,
    /// Moves whenever keys are forgotten, so long-lived streams re-check theirs.
    revocations: watch::Sender<u64>,
}

impl Keyring {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::default(),
            revocations: watch::channel(0).0,
        }
    }

    /// The live key `presented` stands for, if any.
    pub async fn authenticate(&self, presented: &str) -> StoreResult<Option<ApiKey>> {
        let hash = KeyHash::of(presented);
        let cached = self.cache.lock().expect("keyring lock").get(&hash).cloned();
        let found = match cached {
            Some((key, stored, fetched)) if fetched.elapsed() < CACHE_TTL => Some((key, stored)),
            _ => self.store.find_api_key(&hash).await?,
        };
        let Some((key, stored)) = found else {
            return Ok(None);
        };
        if !stored.matches(&hash) {
            return Ok(None);
        }
        let mut cache = self.cache.lock().expect("keyring lock");
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache
            .entry(hash)
            .or_insert_with(|| (key.clone(), stored, Instant::now()));
        Ok(Some(key))
    }

    pub async fn revoke(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<bool> {
        let revoked = self.store.revoke_api_key(tenant, id).await?;
        self.forget(id);
        Ok(revoked)
    }

    pub fn forget(&self, id: ApiKeyId) {
        self.cache
            .lock()
            .expect("keyring lock")
            .retain(|_, (key, _, _)| key.id != id);
        self.revocations.send_modify(|generation| *generation += 1);
    }

    pub fn forget_all(&self) {
        self.cache.lock().expect("keyring lock").clear();
        self.revocations.send_modify(|generation| *generation += 1);
    }

    /// Changes whenever a key may have been revoked.
    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }
}
