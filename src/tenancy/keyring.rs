//! Authentication: presented key → live `ApiKey`. Keys are cached for a minute so the hot
//! path costs no query; a revocation evicts at once in the revoking process and, through
//! the listener, in every other one (a reconnected listener clears the whole cache, since
//! it may have missed one). Requests that outlive their authentication (held long-polls,
//! streams) watch their key (`KeyWatch`) and end when it is revoked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::key::{ApiKey, KeyHash};
use crate::id::ApiKeyId;
use crate::store::{Store, StoreResult};

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_CAP: usize = 10_000;
/// Revocations remembered by key, so a watch learns whether its own key was among them
/// without a look-up; a watch that fell further behind looks its key up.
const FORGOTTEN_CAP: usize = 1_024;
/// How soon a watch whose look-up failed (the database is down) tries again.
const RECHECK_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub struct Keyring {
    store: Arc<dyn Store>,
    cache: Mutex<Cache>,
    /// The cache's generation, for watches to wait on.
    revocations: watch::Sender<u64>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<KeyHash, (ApiKey, KeyHash, Instant)>,
    /// Moves with every revocation. A look-up that began before a move does not cache what
    /// it found: it may have read the key just before it was revoked.
    generation: u64,
    /// The keys forgotten at the latest generations (`None`: every key), oldest first.
    forgotten: VecDeque<(u64, Option<ApiKeyId>)>,
}

impl Cache {
    /// Whether `key` may have been revoked after generation `since`.
    fn may_have_forgotten(&self, key: ApiKeyId, since: u64) -> bool {
        let remembered_from = self
            .forgotten
            .front()
            .map_or(self.generation + 1, |(generation, _)| *generation);
        remembered_from > since + 1
            || self
                .forgotten
                .iter()
                .any(|&(generation, id)| generation > since && id.is_none_or(|id| id == key))
    }

    fn forget(&mut self, id: Option<ApiKeyId>) -> u64 {
        match id {
            Some(id) => self.keys.retain(|_, (key, _, _)| key.id != id),
            None => self.keys.clear(),
        }
        self.generation += 1;
        if self.forgotten.len() == FORGOTTEN_CAP {
            self.forgotten.pop_front();
        }
        self.forgotten.push_back((self.generation, id));
        self.generation
    }
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
        let (cached, generation) = {
            let cache = self.cache.lock().expect("keyring lock");
            (cache.keys.get(&hash).cloned(), cache.generation)
        };
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
        if cache.generation == generation {
            if cache.keys.len() >= CACHE_CAP {
                cache.keys.clear();
            }
            cache
                .keys
                .entry(hash)
                .or_insert_with(|| (key.clone(), stored, Instant::now()));
        }
        Ok(Some(key))
    }

    /// The current generation: read it before authenticating a request that may outlive
    /// the check, and watch from it (`watch`), so a revocation in between is not missed.
    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn generation(&self) -> u64 {
        self.cache.lock().expect("keyring lock").generation
    }

    pub fn forget(&self, id: ApiKeyId) {
        self.forget_some(Some(id));
    }

    pub fn forget_all(&self) {
        self.forget_some(None);
    }

    fn forget_some(&self, id: Option<ApiKeyId>) {
        let generation = self.cache.lock().expect("keyring lock").forget(id);
        self.revocations.send_replace(generation);
    }

    /// Watches a key, authenticated at `generation`, for its revocation.
    pub fn watch(self: &Arc<Self>, key: &ApiKey, hash: KeyHash, generation: u64) -> KeyWatch {
        KeyWatch {
            keyring: Arc::clone(self),
            key: key.id,
            hash,
            checked: generation,
            revocations: self.revocations.subscribe(),
        }
    }
}

/// One key, watched for its revocation. A revocation of another key costs nothing; one
/// of this key (or of every key, after the listener reconnected) costs a look-up.
pub struct KeyWatch {
    keyring: Arc<Keyring>,
    key: ApiKeyId,
    hash: KeyHash,
    /// The generation at which the key was last known to be live. Moved only once that is
    /// known, so a look-up cut short (its request answered meanwhile) is made again.
    checked: u64,
    revocations: watch::Receiver<u64>,
}

/// What a watch learned.
enum Check {
    Live,
    Revoked,
    /// The look-up failed: the database is down.
    Unknown,
}

impl KeyWatch {
    /// Resolves once the key is known to be revoked. A look-up that fails proves nothing,
    /// so it is tried again shortly.
    pub async fn revoked(&mut self) {
        loop {
            match self.check().await {
                Check::Revoked => return,
                Check::Unknown => tokio::time::sleep(RECHECK_AFTER_FAILURE).await,
                Check::Live => {
                    if self.revocations.changed().await.is_err() {
                        return std::future::pending().await; // the keyring is gone, and the app
                    }
                }
            }
        }
    }

    /// Whether the key was revoked since it was last checked. An answer about to go out
    /// asks this, so a revocation that lands while it is being made is not missed. If the
    /// database cannot say, the key is taken as live, as it was.
    pub async fn revoked_meanwhile(&mut self) -> bool {
        matches!(self.check().await, Check::Revoked)
    }

    async fn check(&mut self) -> Check {
        let generation = *self.revocations.borrow_and_update();
        if generation == self.checked {
            return Check::Live;
        }
        let concerned = self
            .keyring
            .cache
            .lock()
            .expect("keyring lock")
            .may_have_forgotten(self.key, self.checked);
        if !concerned {
            self.checked = generation;
            return Check::Live;
        }
        match self.keyring.authenticate_hash(self.hash).await {
            Ok(None) => Check::Revoked,
            Ok(Some(_)) => {
                self.checked = generation;
                Check::Live
            }
            Err(_) => Check::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_is_concerned_only_by_its_own_key_or_every_key_or_a_gap_in_memory() {
        let (mine, other) = (ApiKeyId::generate(), ApiKeyId::generate());
        let mut cache = Cache::default();
        assert!(!cache.may_have_forgotten(mine, 0), "nothing forgotten yet");
        cache.forget(Some(other));
        assert!(!cache.may_have_forgotten(mine, 0));
        cache.forget(Some(mine));
        assert!(cache.may_have_forgotten(mine, 0));
        assert!(cache.may_have_forgotten(mine, 1));
        assert!(!cache.may_have_forgotten(mine, 2), "checked after it");
        cache.forget(None);
        assert!(cache.may_have_forgotten(mine, 2), "every key");
        for _ in 0..FORGOTTEN_CAP {
            cache.forget(Some(other));
        }
        assert!(
            cache.may_have_forgotten(mine, 2),
            "further back than remembered"
        );
        assert!(
            !cache.may_have_forgotten(mine, 3),
            "only other keys since, all remembered"
        );
    }
}
