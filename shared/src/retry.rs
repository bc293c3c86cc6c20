//! The one retry helper of the binaries: exponential backoff with full jitter, bounded in
//! attempts, applied only to errors that say they are retryable.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How patient a retried call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first delay; each later ceiling doubles up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Calls made in all, the first included.
    pub max_attempts: u32,
}

impl Backoff {
    /// For control-plane calls (queue stats, enqueue, announcements): rides out a Redis restart
    /// of about half a minute.
    pub const CONTROL: Backoff = Backoff {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(3),
        max_attempts: 20,
    };

    /// The delay before retry number `retry` (1 for the first retry): uniform in
    /// `0..=min(max_delay, base_delay * 2^retry)` (full jitter).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        rand::rng().random_range(Duration::ZERO..=ceiling)
    }

    /// Calls `call` until it succeeds, fails with an error `retryable` rejects, or the attempts
    /// run out; `on_retry` sees each error that is retried (for a log line and a metric).
    pub async fn retry<T, E, F, Fut>(
        &self,
        call: F,
        retryable: impl Fn(&E) -> bool,
        on_retry: impl FnMut(&E, u32),
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.retry_with_hint(call, retryable, |_| None, on_retry).await
    }

    /// [`Backoff::retry`] for servers that say how long to wait (HTTP `Retry-After`): a retry
    /// waits at least `wait_hint(error)`, or the jittered backoff when that is longer.
    pub async fn retry_with_hint<T, E, F, Fut>(
        &self,
        mut call: F,
        retryable: impl Fn(&E) -> bool,
        wait_hint: impl Fn(&E) -> Option<Duration>,
        mut on_retry: impl FnMut(&E, u32),
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if attempt < self.max_attempts && retryable(&error) => {
                    on_retry(&error, attempt);
                    let delay = self.delay(attempt).max(wait_hint(&error).unwrap_or_default());
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn delays_stay_under_the_growing_ceiling() {
        let backoff = Backoff {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_attempts: 5,
        };
        for _ in 0..100 {
            assert!(backoff.delay(1) <= Duration::from_millis(20));
            assert!(backoff.delay(2) <= Duration::from_millis(40));
            assert!(backoff.delay(9) <= Duration::from_millis(50));
            assert!(backoff.delay(u32::MAX) <= Duration::from_millis(50));
        }
    }

    #[tokio::test]
    async fn retries_only_retryable_errors_and_only_so_often() {
        let backoff = Backoff {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_attempts: 3,
        };
        let calls = Cell::new(0);
        let result: Result<(), &str> = backoff
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("transient") }
                },
                |_| true,
                |_, _| {},
            )
            .await;
        assert_eq!((result, calls.get()), (Err("transient"), 3));

        calls.set(0);
        let result: Result<(), &str> = backoff
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("fatal") }
                },
                |error| *error != "fatal",
                |_, _| {},
            )
            .await;
        assert_eq!((result, calls.get()), (Err("fatal"), 1));

        calls.set(0);
        let result = backoff
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    let succeed = calls.get() == 2;
                    async move {
                        if succeed {
                            Ok(7)
                        } else {
                            Err("transient")
                        }
                    }
                },
                |_| true,
                |_, _| {},
            )
            .await;
        assert_eq!((result, calls.get()), (Ok(7), 2));
    }

    #[tokio::test]
    async fn a_server_hint_lengthens_the_wait_before_a_retry() {
        let backoff = Backoff {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_attempts: 2,
        };
        let started = tokio::time::Instant::now();
        let result: Result<(), &str> = backoff
            .retry_with_hint(
                || async { Err("busy") },
                |_| true,
                |_| Some(Duration::from_millis(150)),
                |_, _| {},
            )
            .await;
        assert_eq!(result, Err("busy"));
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
    }
}
