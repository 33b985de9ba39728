//! A client-side rate limiter that finds an API quota and collects at it.
//!
//! AWS throttles an account that calls a service above its quota in a region. The SDK's
//! adaptive retry mode halves its rate on every throttle and recovers slowly; its standard mode
//! does not slow down at all. This limiter paces the requests of one service in one account
//! and region (every task that calls it shares it) and adjusts the pace from what the service
//! answers, window by window (a window is [`WINDOW`] answers):
//!
//! - **fast start**: the pace doubles every window that saw no throttling;
//! - **on throttling** (a window whose throttled share is above what is tolerated): the pace
//!   drops to the rate at which the service *accepted* requests during that window. Against a
//!   quota that is the quota itself, found in one step;
//! - **a test of that drop**: if the next window is throttled about as much as before, the
//!   throttling did not come from the pace (a service that throttles at random, whatever the
//!   rate): the pace is restored and that share of throttling is tolerated from then on (it is
//!   forgotten slowly, so a later real quota is still found);
//! - **probing**: otherwise the pace grows by 5% a window, so a quota that rises is found too.
//!
//! Throttled requests are sent again at the limiter's pace, not retried by the SDK
//! ([`LimiterRetries`]); other errors keep the SDK's retries. Every attempt is reported to the
//! limiter ([`Limiter::record`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_backup::config::interceptors::InterceptorContext;
use aws_sdk_backup::config::retry::{ClassifyRetry, RetryAction};

/// Answers per adjustment window.
pub const WINDOW: u32 = 20;
/// How much the pace grows per window of the fast start.
const FAST_GROWTH: f64 = 1.5;
/// Answers per window while the pace is still growing fast: the fast start is short.
const FAST_WINDOW: u32 = 10;
/// A window also ends after this long, if it has at least [`MIN_WINDOW`] answers.
const MAX_WINDOW: Duration = Duration::from_secs(1);
const MIN_WINDOW: u32 = 8;
/// Requests a limiter lets start at once before it paces: AWS token buckets allow a burst
/// (usually at least a second's quota), and a run starts with many requests.
const START_BURST: u32 = 20;
/// The pace a limiter starts at, in requests per second.
const START_RATE: f64 = 50.0;
/// Never slower than this.
const MIN_RATE: f64 = 0.5;
/// Never faster than this (the concurrency limit bounds it long before).
const MAX_RATE: f64 = 10_000.0;
/// A window throttled by more than the tolerated share plus this margin slows the pace.
const MARGIN: f64 = 0.03;

/// What one attempt's answer said about the pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The service answered (successfully or with an error that is not throttling).
    Accepted,
    /// The service throttled the request.
    Throttled,
}

/// Paces the requests of one service in one account and region.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    /// Waiters take their turn in order; only the first waits for a slot, so a change of pace
    /// applies to every request not yet sent.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Requests per second.
    rate: f64,
    /// When the next request may start.
    next: Instant,
    /// Requests that may still start unpaced: a first burst, as AWS quotas allow one.
    credit: u32,
    fast_start: bool,
    /// Whether the pace was ever dropped (the first drop is not tested).
    dropped_before: bool,
    /// Whether the first throttle of the fast start halved the pace already.
    halved: bool,
    /// The throttled share that is not the pace's doing (random throttling), learnt.
    tolerated: f64,
    /// The state before the last drop, until the next window tests the drop.
    before_drop: Option<Lowered>,
    window_start: Instant,
    accepted: u32,
    throttled: u32,
    /// The window's first throttled answer, and the answers accepted since: the service's
    /// rate once any saved-up burst is spent.
    first_throttle: Option<(Instant, u32)>,
    /// When the latest counted attempt was sent: rates are measured over send times, so the
    /// answers still on their way do not make a short window look slow.
    last_sent: Instant,
}

/// What a drop of the pace is tested against: the window before it.
#[derive(Debug, Clone, Copy)]
struct Lowered {
    rate: f64,
    share: f64,
    accepted_rate: f64,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter::new(Instant::now())
    }
}

impl Limiter {
    pub fn new(now: Instant) -> Limiter {
        Limiter {
            state: Mutex::new(State {
                rate: START_RATE,
                next: now,
                credit: START_BURST,
                fast_start: true,
                dropped_before: false,
                halved: false,
                tolerated: 0.0,
                before_drop: None,
                window_start: now,
                accepted: 0,
                throttled: 0,
                first_throttle: None,
                last_sent: now,
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        loop {
            let wait = self.reserve(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes the slot if it is due at `now` (zero), else says how long until it is.
    fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.credit > 0 {
            s.credit -= 1;
            return Duration::ZERO;
        }
        if s.next > now {
            return s.next - now;
        }
        // An idle limiter does not save up a burst: the pace starts again from now.
        s.next = now + Duration::from_secs_f64(1.0 / s.rate);
        Duration::ZERO
    }

    /// The pace now, in requests per second.
    pub fn rate(&self) -> f64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rate
    }

    /// Records the answer, at `now`, to an attempt sent at `sent`, and adjusts the pace at the
    /// end of a window. Answers to attempts sent before the window began were paced by the
    /// window before and do not count.
    pub fn record(&self, answer: Answer, sent: Instant, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if sent < s.window_start {
            return;
        }
        s.last_sent = s.last_sent.max(sent);
        match answer {
            Answer::Accepted => {
                s.accepted += 1;
                if let Some((t, n)) = &mut s.first_throttle
                    && sent >= *t
                {
                    *n += 1;
                }
            }
            Answer::Throttled => {
                s.throttled += 1;
                s.first_throttle.get_or_insert((sent, 0));
            }
        }
        let answers = s.accepted + s.throttled;
        let long = now - s.window_start >= MAX_WINDOW && answers >= MIN_WINDOW;
        let full = if s.fast_start { FAST_WINDOW } else { WINDOW };
        // The first throttle of the first fast start ends the window at once: the pace is far
        // above the quota by then, and each moment costs throttled requests.
        let first = answer == Answer::Throttled && s.fast_start && !s.dropped_before && !s.halved;
        if first {
            // Halve at once; the next window, throttled or not, measures the service.
            s.halved = true;
            s.rate = (s.rate / 2.0).max(MIN_RATE);
            s.credit = 0;
            s.next = s.next.min(now + Duration::from_secs_f64(1.0 / s.rate));
            s.window_start = now;
            s.last_sent = now;
            s.accepted = 0;
            s.throttled = 0;
            s.first_throttle = None;
            tracing::debug!(rate = s.rate, "rate limiter: first throttle");
            return;
        }
        if answers < full && !long {
            return;
        }
        let share = f64::from(s.throttled) / f64::from(answers);
        let seconds = (s.last_sent - s.window_start).as_secs_f64().max(1e-3);
        let accepted_rate = f64::from(s.accepted) / seconds;
        // A window counts as throttled by the pace when its share is above the tolerated share
        // by more than chance explains (two standard deviations of a binomial share).
        let p = s.tolerated.max(0.01);
        let threshold = s.tolerated + MARGIN + 2.0 * (p * (1.0 - p) / f64::from(answers)).sqrt();
        // A drop is tested by the next window. Against a quota the service accepts as much as
        // before at the lower pace (or much less, once a saved-up burst is spent), or throttles
        // far less; when it throttles at random, it accepts less in proportion to the pace and
        // throttles as often.
        let paced = s.rate;
        let proportional = |before: &Lowered| {
            let pace = paced / before.rate;
            (0.8 * pace..=(1.0 + pace) / 2.0).contains(&(accepted_rate / before.accepted_rate))
        };
        if let Some(before) = s.before_drop.take()
            && share > before.share * 0.25
            && proportional(&before)
        {
            // The drop did not help: this throttling does not depend on the pace. Back to the
            // pace before, and up again quickly.
            s.rate = before.rate;
            s.fast_start = true;
            s.tolerated = s.tolerated.max(before.share.min(share));
        } else if share > threshold {
            // The first drop ends the fast start and is not tested: a burst the service had
            // saved up makes the window before it look faster than the service is.
            s.before_drop = s.dropped_before.then_some(Lowered { rate: s.rate, share, accepted_rate });
            s.dropped_before = true;
            s.fast_start = false;
            // The rate the service accepted once it began to throttle; the whole window's rate
            // would count a saved-up burst as quota.
            let last_sent = s.last_sent;
            let since = s.first_throttle.map(|(t, n)| (f64::from(n), (last_sent - t).as_secs_f64()));
            // A window throttled throughout measured the quota from its start.
            // Too few accepted answers say little: a quarter of the pace then.
            let quota = match since {
                _ if s.accepted < 2 => s.rate / 4.0,
                _ if share >= 0.5 => accepted_rate,
                Some((n, secs)) if n >= 2.0 && secs > 0.0 => n / secs,
                _ => accepted_rate,
            };
            s.rate = quota.clamp(s.rate / 8.0, s.rate * 0.75);
        } else if s.fast_start {
            s.rate *= FAST_GROWTH;
        } else if share > s.tolerated {
            // A little over: ease off a little.
            s.rate *= 0.98;
        } else if share == 0.0 {
            s.rate *= 1.1;
        } else {
            s.rate *= 1.02;
        }
        s.rate = s.rate.clamp(MIN_RATE, MAX_RATE);
        tracing::debug!(share, accepted_rate, paced, rate = s.rate, tolerated = s.tolerated, "rate limiter window");
        s.tolerated *= 0.97;
        s.window_start = now;
        s.last_sent = now;
        s.accepted = 0;
        s.throttled = 0;
        s.first_throttle = None;
        // A slower pace applies from now, not after slots already handed out at the old one.
        let earliest = now + Duration::from_secs_f64(1.0 / s.rate);
        if s.next > earliest {
            s.next = earliest;
        }
    }
}

/// AWS error codes that mean throttling (services differ).
const THROTTLING_CODES: [&str; 7] = [
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
];

/// Whether an error code (or a text that carries one) names throttling.
pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.iter().any(|c| code.contains(c))
}

/// Whether an HTTP answer is throttling: 429, or a 400/503 whose error code says so.
/// REST-JSON carries the code in `x-amzn-ErrorType`; query and XML protocols in the body.
pub fn is_throttling(status: u16, error_type: Option<&str>, body: &[u8]) -> bool {
    match status {
        429 => true,
        400 | 503 => {
            error_type.is_some_and(is_throttling_code)
                || std::str::from_utf8(&body[..body.len().min(512)]).is_ok_and(is_throttling_code)
        }
        _ => false,
    }
}

/// Forbids the SDK to retry a throttled attempt: with a limiter, `captured!` sends it again at
/// the limiter's pace instead of at the SDK's backoff, which would come on top of the pace.
#[derive(Debug, Clone, Copy)]
pub struct LimiterRetries;

impl ClassifyRetry for LimiterRetries {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(response) = ctx.response() else { return RetryAction::NoActionIndicated };
        let body = response.body().bytes().unwrap_or_default();
        if is_throttling(response.status().as_u16(), response.headers().get("x-amzn-errortype"), body) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "backup-audit::collect::LimiterRetries"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a limiter against a token-bucket service: `quota` requests a second, a burst of
    /// `quota`, and `random` of the requests throttled whatever the pace. Returns
    /// (seconds, throttled) for `n` accepted requests.
    fn simulate(quota: f64, random: f64, n: u32) -> (f64, u32) {
        let start = Instant::now();
        let limiter = Limiter::new(start);
        let mut tokens = quota;
        let mut last = start;
        let (mut done, mut throttled) = (0, 0);
        let mut now = start;
        let mut roll = 0u64;
        while done < n {
            loop {
                let wait = limiter.reserve(now);
                if wait.is_zero() {
                    break;
                }
                now += wait;
            }
            tokens = (tokens + (now - last).as_secs_f64() * quota).min(quota);
            last = now;
            roll = roll.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let random_hit = ((roll >> 33) as f64 / (1u64 << 31) as f64) < random;
            if tokens >= 1.0 && !random_hit {
                tokens -= 1.0;
                done += 1;
                limiter.record(Answer::Accepted, now, now);
            } else {
                throttled += 1;
                limiter.record(Answer::Throttled, now, now);
            }
        }
        eprintln!(
            "quota {quota} random {random}: {:.2} s, {throttled} throttled, rate {:.1}",
            (now - start).as_secs_f64(),
            limiter.rate()
        );
        ((now - start).as_secs_f64(), throttled)
    }

    #[test]
    fn finds_a_quota_and_stays_near_it() {
        for (quota, n) in [(20.0, 150), (20.0, 1000), (5.0, 300), (200.0, 5000)] {
            let (seconds, throttled) = simulate(quota, 0.0, n);
            let floor = (f64::from(n) - quota) / quota;
            assert!(seconds <= floor * 1.3, "quota {quota}: {seconds:.1} s for a floor of {floor:.1} s");
            let share = f64::from(throttled) / f64::from(n + throttled);
            assert!(share <= 0.10, "quota {quota}: {throttled} throttled of {}", n + throttled);
        }
    }

    #[test]
    fn random_throttling_does_not_slow_it_down() {
        // 20% throttled at random and no quota (a very large one): the pace must not collapse.
        let (seconds, _) = simulate(1.0e6, 0.2, 1000);
        assert!(seconds < 5.0, "{seconds:.1} s for 1,000 requests");
    }

    #[test]
    fn throttling_answers() {
        assert!(is_throttling(400, Some("ThrottlingException"), b""));
        assert!(is_throttling(400, None, b"<Code>Throttling</Code>"));
        assert!(is_throttling(429, None, b""));
        assert!(is_throttling(503, None, b"<Code>SlowDown</Code>"));
        assert!(!is_throttling(400, Some("ValidationException"), b""));
        assert!(!is_throttling(500, None, b"Throttling"));
    }
}
