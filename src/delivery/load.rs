//! What each webhook holds in this process, and so how much more it may take: its prefetch
//! less what it has claimed or been leased. Claims and leasing appends draw on the same
//! room, so one receiver cannot fill the process.

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

/// The room each webhook has: `room` for those listed, `default_room` for any other.
pub struct Room {
    pub room: Vec<(WebhookId, u32)>,
    pub default_room: u32,
    /// How many answers `Load` had seen when this was read.
    answers: u64,
}

#[derive(Default)]
pub struct Load {
    /// Claimed and not yet answered, per webhook: requests in flight plus those queued.
    busy: HashMap<WebhookId, u32>,
    /// Each webhook's recent request duration (a moving average) and rate limit.
    pace: HashMap<WebhookId, Pace>,
    /// Webhooks a claim gave no more room than they took (none, for one at its prefetch),
    /// so due rows of theirs may have stayed behind: their next answer calls for another
    /// claim.
    left_behind: HashSet<WebhookId>,
    /// Answers so far, to tell which came while a claim was under way.
    answers: u64,
    /// Each webhook's last answer, as a count of `answers`, kept while a claim that read
    /// the room before it may still be under way.
    last_answer: HashMap<WebhookId, u64>,
}

impl Load {
    /// What each webhook may take now: its prefetch less what it holds. Listed: those
    /// holding something, and those whose prefetch is below the default (a low rate limit);
    /// any other has the default.
    pub fn room(&self, limits: &Limits) -> Room {
        let default_room = Pace::UNKNOWN.prefetch(limits);
        let mut room: Vec<(WebhookId, u32)> = self
            .busy
            .keys()
            .chain(self.pace.iter().filter_map(|(webhook, pace)| {
                (pace.prefetch(limits) < default_room && !self.busy.contains_key(webhook))
                    .then_some(webhook)
            }))
            .map(|webhook| (*webhook, self.free(*webhook, limits)))
            .collect();
        room.sort_unstable_by_key(|(webhook, _)| *webhook);
        Room {
            room,
            default_room,
            answers: self.answers,
        }
    }

    /// The room an append may lease into: only the webhooks with less than the default
    /// are listed. Appends under way at once may each take it, so a webhook can briefly
    /// hold a few appends' worth beyond its prefetch; what then waits too long is handed
    /// back, not sent late.
    pub fn lease_room(&self, limits: &Limits) -> Room {
        let mut room = self.room(limits);
        let default_room = room.default_room;
        room.room.retain(|(_, free)| *free < default_room);
        room
    }

    /// Notes what a claim given `room` took. True if it should claim again at once: it
    /// left a webhook's rows behind and that webhook was answered during the claim, which
    /// the answer could not know to wake.
    pub fn claimed(&mut self, room: &Room, claimed: impl IntoIterator<Item = WebhookId>) -> bool {
        let mut taken: HashMap<WebhookId, u32> = HashMap::new();
        for webhook in claimed {
            *taken.entry(webhook).or_default() += 1;
        }
        let mut given: Vec<(WebhookId, u32, u32)> = room
            .room
            .iter()
            .map(|(webhook, free)| (*webhook, *free, taken.remove(webhook).unwrap_or(0)))
            .collect();
        given.extend(
            taken
                .into_iter()
                .map(|(webhook, taken)| (webhook, room.default_room, taken)),
        );
        let mut again = false;
        for (webhook, free, taken) in given {
            if taken >= free {
                self.left_behind.insert(webhook);
                again |= self
                    .last_answer
                    .get(&webhook)
                    .is_some_and(|answer| *answer > room.answers);
            } else {
                self.left_behind.remove(&webhook);
            }
        }
        // Only answers after this claim's look at the room can matter to the next claim.
        self.last_answer.retain(|_, answer| *answer > room.answers);
        again
    }

    pub fn started(&mut self, webhook: WebhookId) {
        *self.busy.entry(webhook).or_default() += 1;
    }

    /// A request of `webhook`'s was answered (or handed back unsent). True if a claim may
    /// have left rows of it behind, which the room this frees lets go.
    pub fn answered(&mut self, webhook: WebhookId) -> bool {
        self.answers += 1;
        self.last_answer.insert(webhook, self.answers);
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
    /// pace, in half a lease, between 2 and 8 rounds; and for a rate-limited webhook, no
    /// more than its rate lets through in half the time a delivery may wait and still be
    /// sent within its lease (the lease less the timeout), so the last one's turn comes
    /// well before then. A webhook not yet timed is assumed to take the full timeout. A
    /// delivery that waits past its lease anyway is handed back, not sent.
    fn prefetch(&self, limits: &Limits) -> u32 {
        let rounds = prefetch_rounds(limits.lease, self.request.unwrap_or(limits.timeout));
        let by_pace = (f64::from(limits.per_webhook) * rounds) as u32;
        match self.rate_limit {
            Some(per_second) => {
                let may_wait = limits.lease.saturating_sub(limits.timeout);
                let by_rate = f64::from(per_second) * may_wait.as_secs_f64() / 2.0;
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
    fn a_rate_limit_bounds_the_prefetch_to_what_it_lets_through_before_its_turn_could_come_too_late()
     {
        let fast = |rate_limit| Pace {
            request: Some(Duration::from_millis(2)),
            rate_limit,
        };
        assert_eq!(fast(None).prefetch(&LIMITS), 128);
        // (60 s lease - 15 s timeout) / 2 = 22.5 s of turns.
        assert_eq!(fast(Some(1)).prefetch(&LIMITS), 22);
        assert_eq!(fast(Some(100)).prefetch(&LIMITS), 128);
        assert_eq!(Pace::UNKNOWN.prefetch(&LIMITS), 32);
        let tight = Limits {
            lease: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            ..LIMITS
        };
        assert_eq!(fast(Some(4)).prefetch(&tight), 2);
    }

    #[test]
    fn only_busy_or_tightly_limited_webhooks_are_listed_and_appends_see_only_those_with_less() {
        let (slow, fast, throttled, idle) = (
            WebhookId::generate(),
            WebhookId::generate(),
            WebhookId::generate(),
            WebhookId::generate(),
        );
        let mut load = Load::default();
        load.record_pace(slow, Duration::from_secs(15), None); // prefetch 32
        load.record_pace(fast, Duration::from_millis(2), None); // prefetch 128
        load.record_pace(throttled, Duration::from_millis(2), Some(1)); // prefetch 22
        load.record_pace(idle, Duration::from_millis(2), None);
        for _ in 0..30 {
            load.started(slow);
        }
        load.started(fast);

        let claims = load.room(&LIMITS);
        assert_eq!(claims.default_room, 32);
        assert_eq!(
            claims.room.len(),
            3,
            "the idle fast webhook takes the default"
        );
        assert_eq!(free_of(&claims, slow), 2);
        assert_eq!(free_of(&claims, fast), 127);
        assert_eq!(free_of(&claims, throttled), 22);
        assert_eq!(free_of(&claims, idle), 32);

        let appends = load.lease_room(&LIMITS);
        assert_eq!(free_of(&appends, slow), 2);
        assert_eq!(free_of(&appends, throttled), 22);
        assert_eq!(
            free_of(&appends, fast),
            32,
            "not listed for appends: it gets the default"
        );
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
        assert!(!load.claimed(&room, [roomy]), "nothing came back meanwhile");
        load.started(roomy);

        assert!(!load.answered(roomy), "it was given more room than it took");
        assert!(load.answered(full), "its rows were left behind");
        assert!(
            !load.answered(full),
            "once is enough until a claim leaves it again"
        );
    }

    #[test]
    fn an_answer_during_a_claim_that_left_its_rows_behind_calls_for_another_at_once() {
        let (full, other) = (WebhookId::generate(), WebhookId::generate());
        let busy_load = || {
            let mut load = Load::default();
            for _ in 0..32 {
                load.started(full);
            }
            load.started(other);
            load
        };

        let mut load = busy_load();
        let room = load.room(&LIMITS);
        // Another webhook answered during the claim: no reason to claim again.
        assert!(!load.answered(other));
        assert!(!load.claimed(&room, []));

        let mut load = busy_load();
        let room = load.room(&LIMITS);
        // The full one answered during the claim: not yet marked, so it woke nobody.
        assert!(!load.answered(full));
        assert!(load.claimed(&room, []), "the claim must look again");
        let room = load.room(&LIMITS);
        assert!(
            !load.claimed(&room, [full]),
            "that answer was seen by this claim"
        );
    }

    #[test]
    fn a_webhook_given_more_room_than_it_took_is_no_longer_left_behind() {
        let (listed, unlisted) = (WebhookId::generate(), WebhookId::generate());
        let mut load = Load::default();
        for _ in 0..32 {
            load.started(listed);
        }
        let room = load.room(&LIMITS);
        assert_eq!(free_of(&room, listed), 0);
        // Not listed, so it had the default room, 32, and took all of it.
        load.claimed(&room, std::iter::repeat_n(unlisted, 32));
        load.answered(listed);
        load.started(listed);
        load.answered(listed);

        let room = load.room(&LIMITS);
        assert_eq!(free_of(&room, listed), 1);
        load.claimed(&room, []);
        assert!(
            !load.answered(listed),
            "given room it did not use: no rows of it were left"
        );
        assert!(
            load.answered(unlisted),
            "it took all the default room: rows of it may be left"
        );
    }
}
