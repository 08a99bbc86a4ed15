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
        self.authenticate_hash(KeyHash::of(presented)).await
    }

    /// The live key whose hash is `hash`, if any.
    pub async fn authenticate_hash(&self, hash: KeyHash) -> StoreResult<Option<ApiKey>> {
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

    /// Watches the key whose hash is `hash`, for a request that outlives its
    /// authentication: a held long-poll, a stream.
    pub fn watch(self: &Arc<Self>, hash: KeyHash) -> KeyWatch {
        let revocations = self.revocations.subscribe();
        let checked = *revocations.borrow();
        KeyWatch {
            keyring: Arc::clone(self),
            hash,
            checked,
            revocations,
        }
    }
}

/// One key, watched for its revocation. A revocation anywhere moves the keyring's
/// generation; the key is then looked up again, which costs a query only for a key that
/// was evicted from the cache, the revoked one.
pub struct KeyWatch {
    keyring: Arc<Keyring>,
    hash: KeyHash,
    /// The generation at which the key was last known to be live. Moved only once a
    /// look-up has finished, so a look-up cut short (its request answered meanwhile) is
    /// made again by `revoked_meanwhile`.
    checked: u64,
    revocations: watch::Receiver<u64>,
}

impl KeyWatch {
    /// Resolves once the key is known to be revoked. A look-up that fails (the database is
    /// down) proves nothing, so it keeps watching.
    pub async fn revoked(&mut self) {
        loop {
            if self.revoked_meanwhile().await {
                return;
            }
            if self.revocations.changed().await.is_err() {
                return std::future::pending().await; // the keyring is gone, and with it the app
            }
        }
    }

    /// Whether the key was revoked since it was last checked: a look-up only if any key was
    /// forgotten meanwhile. An answer about to go out asks this, so a revocation that lands
    /// while it is being made is not missed.
    pub async fn revoked_meanwhile(&mut self) -> bool {
        let generation = *self.revocations.borrow_and_update();
        if generation == self.checked {
            return false;
        }
        match self.keyring.authenticate_hash(self.hash).await {
            Ok(None) => true,
            Ok(Some(_)) => {
                self.checked = generation;
                false
            }
            Err(_) => false,
        }
    }
}
