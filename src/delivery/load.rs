//! What each webhook holds in this process, and so how much more it may take: its prefetch
//! less what it has claimed and what appends under way may still lease to it. Claims and
//! leasing appends draw on the same room, so one receiver cannot fill the process.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::id::WebhookId;

/// A webhook may have up to this many times its in-flight cap claimed; the rest wait in
/// memory. One webhook's throughput is bounded by what one claim hands it per claim round
/// trip, so for a fast receiver the buffer must outlast a claim even when the database is
/// slow to answer; for a slow one it stays small.
const MAX_PREFETCH_ROUNDS: f64 = 8.0;
const MIN_PREFETCH_ROUNDS: f64 = 2.0;

/// What sizes a prefetch: the per-webhook cap on requests in flight, the lease and the
/// request timeout.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_webhook: u32,
    pub lease: Duration,
    pub timeout: Duration,
}

/// The room each webhook has: `room` for those this process knows, `default_room` for
/// any other.
pub struct Room {
    pub room: Vec<(WebhookId, u32)>,
    pub default_room: u32,
}

#[derive(Default)]
pub struct Load {
    /// Claimed and not yet answered, per webhook: requests in flight plus those queued.
    busy: HashMap<WebhookId, u32>,
    /// Each webhook's recent request duration (a moving average) and rate limit.
    pace: HashMap<WebhookId, Pace>,
    /// The most that appends under way may still lease to any one webhook.
    promised: u32,
    /// Webhooks a claim gave all the room they had, so due rows may have stayed behind:
    /// room they get back calls for another claim.
    left_behind: HashSet<WebhookId>,
    /// A claim found no room at all for webhooks this process does not know yet.
    unknown_left_behind: bool,
}

impl Load {
    /// What each webhook may take now: its prefetch less what it holds and what appends
    /// under way may still lease to it.
    pub fn room(&self, limits: &Limits) -> Room {
        let mut room: Vec<(WebhookId, u32)> = self
            .pace
            .keys()
            .chain(
                self.busy
                    .keys()
                    .filter(|webhook| !self.pace.contains_key(webhook)),
            )
            .map(|webhook| (*webhook, self.free(*webhook, limits)))
            .collect();
        room.sort_unstable_by_key(|(webhook, _)| *webhook);
        Room {
            room,
            default_room: Pace::UNKNOWN.prefetch(limits).saturating_sub(self.promised),
        }
    }

    /// The room for an append of `events` events to lease into, promised to it until
    /// `unpromise`: the default room for every webhook, except those known to have less.
    /// Each event yields at most one delivery per webhook, so no webhook can be given
    /// more than `min(events, default_room)`.
    pub fn promise(&mut self, events: usize, limits: &Limits) -> (Room, u32) {
        let Room { room, default_room } = self.room(limits);
        let constrained = room
            .into_iter()
            .filter(|(_, free)| *free < default_room)
            .collect();
        let promise = u32::try_from(events).unwrap_or(u32::MAX).min(default_room);
        self.promised += promise;
        let room = Room {
            room: constrained,
            default_room,
        };
        (room, promise)
    }

    /// Takes back what an append was promised. True if a claim may have left rows behind
    /// for lack of the room this frees.
    pub fn unpromise(&mut self, promise: u32) -> bool {
        self.promised -= promise;
        promise > 0
            && (std::mem::take(&mut self.unknown_left_behind) || !self.left_behind.is_empty())
    }

    /// Notes what a claim given `room` took, to know which webhooks it may have left rows
    /// of behind.
    pub fn claimed(&mut self, room: &Room, claimed: impl IntoIterator<Item = WebhookId>) {
        let mut taken: HashMap<WebhookId, u32> = HashMap::new();
        for webhook in claimed {
            *taken.entry(webhook).or_default() += 1;
        }
        for (webhook, free) in &room.room {
            if taken.remove(webhook).unwrap_or(0) >= *free {
                self.left_behind.insert(*webhook);
            }
        }
        for (webhook, taken) in taken {
            if taken >= room.default_room {
                self.left_behind.insert(webhook);
            }
        }
        self.unknown_left_behind |= room.default_room == 0;
    }

    pub fn started(&mut self, webhook: WebhookId) {
        *self.busy.entry(webhook).or_default() += 1;
    }

    /// A request of `webhook`'s was answered (or handed back unsent). True if a claim may
    /// have left rows of it behind, which the room this frees lets go.
    pub fn answered(&mut self, webhook: WebhookId) -> bool {
        if let Some(busy) = self.busy.get_mut(&webhook) {
            *busy -= 1;
            if *busy == 0 {
                self.busy.remove(&webhook);
            }
        }
        self.left_behind.remove(&webhook)
    }

    pub fn record_pace(&mut self, webhook: WebhookId, took: Duration, rate_limit: Option<u32>) {
        let pace = self.pace.entry(webhook).or_insert(Pace {
            request: Some(took),
            rate_limit,
        });
        let average = pace.request.get_or_insert(took);
        *average = average.mul_f64(0.8) + took.mul_f64(0.2);
        pace.rate_limit = rate_limit;
    }

    fn free(&self, webhook: WebhookId, limits: &Limits) -> u32 {
        let busy = self.busy.get(&webhook).copied().unwrap_or(0);
        self.pace
            .get(&webhook)
            .unwrap_or(&Pace::UNKNOWN)
            .prefetch(limits)
            .saturating_sub(busy)
            .saturating_sub(self.promised)
    }
}

/// What is known of a webhook's receiver, to size its prefetch.
#[derive(Clone, Copy, Debug)]
struct Pace {
    request: Option<Duration>,
    rate_limit: Option<u32>,
}

impl Pace {
    const UNKNOWN: Pace = Pace {
        request: None,
        rate_limit: None,
    };

    /// What a webhook may have claimed: beyond its cap, deliveries wait here, in memory, so
    /// a request that finishes is followed at once instead of after the next claim's round
    /// trip to the database. As many rounds of `cap` requests as fit, at the webhook's
    /// pace, in half a lease, between 2 and 8 rounds, and no more than its rate limit lets
    /// through in half a lease. A webhook not yet timed is assumed to take the full
    /// timeout. A delivery that waits past its lease anyway is handed back, not sent.
    fn prefetch(&self, limits: &Limits) -> u32 {
        let rounds = prefetch_rounds(limits.lease, self.request.unwrap_or(limits.timeout));
        let by_pace = (f64::from(limits.per_webhook) * rounds) as u32;
        match self.rate_limit {
            Some(per_second) => {
                let by_rate = f64::from(per_second) * limits.lease.as_secs_f64() / 2.0;
                by_pace.min(by_rate as u32).max(1)
            }
            None => by_pace,
        }
    }
}

fn prefetch_rounds(lease: Duration, pace: Duration) -> f64 {
    let pace = pace.max(Duration::from_millis(1));
    (lease.as_secs_f64() / 2.0 / pace.as_secs_f64()).clamp(MIN_PREFETCH_ROUNDS, MAX_PREFETCH_ROUNDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_webhook: 16,
        lease: Duration::from_secs(60),
        timeout: Duration::from_secs(15),
    };

    fn free_of(room: &Room, webhook: WebhookId) -> u32 {
        room.room
            .iter()
            .find(|(known, _)| *known == webhook)
            .map_or(room.default_room, |(_, free)| *free)
    }

    #[test]
    fn a_fast_receiver_gets_a_deep_prefetch_and_a_slow_or_unknown_one_a_shallow_one() {
        let lease = Duration::from_secs(60);
        assert_eq!(prefetch_rounds(lease, Duration::from_millis(2)), 8.0);
        assert_eq!(prefetch_rounds(lease, Duration::ZERO), 8.0);
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(5)), 6.0);
        // The default timeout: every buffered round still fits in half the lease.
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(15)), 2.0);
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(60)), 2.0);
    }

    #[test]
    fn a_rate_limit_bounds_the_prefetch_to_what_it_lets_through_in_half_a_lease() {
        let fast = |rate_limit| Pace {
            request: Some(Duration::from_millis(2)),
            rate_limit,
        };
        assert_eq!(fast(None).prefetch(&LIMITS), 128);
        assert_eq!(fast(Some(1)).prefetch(&LIMITS), 30);
        assert_eq!(fast(Some(100)).prefetch(&LIMITS), 128);
        assert_eq!(Pace::UNKNOWN.prefetch(&LIMITS), 32);
    }

    #[test]
    fn appends_under_way_take_their_share_of_every_webhooks_room() {
        let (slow, fast) = (WebhookId::generate(), WebhookId::generate());
        let mut load = Load::default();
        load.record_pace(slow, Duration::from_secs(15), None); // prefetch 32
        load.record_pace(fast, Duration::from_millis(2), None); // prefetch 128
        for _ in 0..30 {
            load.started(slow);
        }

        // One append of 100 events: the slow webhook is known to have only 2 left.
        let (first, promised) = load.promise(100, &LIMITS);
        assert_eq!(promised, 32);
        assert_eq!(first.default_room, 32);
        assert_eq!(
            first.room,
            vec![(slow, 2)],
            "only the webhooks with less are listed"
        );
        // A second append, while the first is under way, gets what is left after it:
        // nothing, as the first may still lease 32 to a webhook this process never saw.
        let (second, promised) = load.promise(100, &LIMITS);
        assert_eq!((second.default_room, promised), (0, 0));
        assert_eq!(free_of(&second, slow), 0);
        let claims = load.room(&LIMITS);
        assert_eq!(free_of(&claims, fast), 128 - 32);
        assert_eq!(free_of(&claims, slow), 0);
        assert!(!load.unpromise(32), "no claim was left without room");
        assert_eq!(free_of(&load.room(&LIMITS), fast), 128);
    }

    #[test]
    fn room_a_claim_used_up_calls_for_another_claim_once_it_comes_back() {
        let (full, roomy) = (WebhookId::generate(), WebhookId::generate());
        let mut load = Load::default();
        for _ in 0..32 {
            load.started(full);
        }
        load.started(roomy);
        let room = load.room(&LIMITS);
        assert_eq!(free_of(&room, full), 0);
        load.claimed(&room, [roomy]);
        load.started(roomy);

        assert!(!load.answered(roomy), "it was given more room than it took");
        assert!(load.answered(full), "its rows were left behind");
        assert!(
            !load.answered(full),
            "once is enough until a claim leaves it again"
        );

        let (_, promised) = load.promise(1, &LIMITS);
        let room = load.room(&LIMITS);
        load.claimed(&room, std::iter::repeat_n(full, 31));
        assert!(load.unpromise(promised), "a webhook was left with no room");
    }
}
