//! How a background loop (the interview engine, the webhook dispatcher) lives through a store
//! outage: it logs the first failure and the recovery, once each, instead of a line per poll,
//! and waits longer between tries while the store stays down, with jitter so that replicas do
//! not retry in step. It resumes by itself: the next try that works ends the outage.

use std::time::{Duration, Instant};

use crate::rng::Rng;

/// The longest wait between tries during an outage.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One loop's view of the store's health.
pub struct Outage {
    /// Which loop, for the log.
    name: &'static str,
    /// The loop's usual wait between polls.
    poll: Duration,
    /// When the current outage began, and how many tries have failed in it.
    down: Option<(Instant, u32)>,
    jitter: Rng,
}

impl Outage {
    pub fn new(name: &'static str, poll: Duration, owner: &str) -> Outage {
        Outage { name, poll, down: None, jitter: Rng::new(0, owner, 0) }
    }

    /// Records a try that worked; logs the recovery if the store was down.
    pub fn succeeded(&mut self) {
        if let Some((since, failures)) = self.down.take() {
            tracing::info!(
                loop_name = self.name,
                down_for_ms = since.elapsed().as_millis() as u64,
                failed_tries = failures,
                "the store answers again; resuming"
            );
        }
    }

    /// Records a failed try (logged only when it starts an outage) and returns how long to wait
    /// before the next: the poll interval doubled per failure up to [`MAX_BACKOFF`], then a
    /// random point between half of that and all of it.
    pub fn failed(&mut self, error: &dyn std::fmt::Display) -> Duration {
        let failures = match &mut self.down {
            Some((_, failures)) => {
                *failures += 1;
                *failures
            }
            None => {
                tracing::warn!(
                    loop_name = self.name,
                    %error,
                    "the store cannot serve background work; retrying with backoff, logging again when it recovers"
                );
                self.down = Some((Instant::now(), 1));
                1
            }
        };
        let ceiling = self.poll.saturating_mul(1 << failures.min(16)).min(MAX_BACKOFF).max(self.poll);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_millis() as u64;
        half + Duration::from_millis(self.jitter.below(spread + 1))
    }

    /// Whether an outage is going on.
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_ceiling_with_jitter_and_resets_on_success() {
        let poll = Duration::from_millis(250);
        let mut outage = Outage::new("test", poll, "srv_a");
        let waits: Vec<Duration> = (0..10).map(|_| outage.failed(&"down")).collect();
        assert!(outage.is_down());
        assert!(waits[0] >= poll / 2 && waits[0] <= poll * 2, "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF), "{waits:?}");
        assert!(waits[9] >= MAX_BACKOFF / 2, "reaches the ceiling: {waits:?}");
        assert!(waits.windows(2).any(|w| w[0] != w[1]), "jittered: {waits:?}");
        outage.succeeded();
        assert!(!outage.is_down());
        assert!(outage.failed(&"down again") <= poll * 2);
    }
}
