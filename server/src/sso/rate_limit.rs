//! The sign-in endpoints' per-client rate limit: a flood from one address is answered 429 with
//! `Retry-After` before it costs a signature check or a database statement, so it cannot crowd
//! out everyone else's sign-ins.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::SsoFailure;
use crate::config::Config;
use crate::state::CorrelationId;

/// One bucket per client address; addresses quiet for long are forgotten now and then.
#[derive(Clone)]
pub struct SignInRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
    checks: Arc<AtomicU64>,
}

impl SignInRateLimit {
    /// `None` when the configuration turns the limit off.
    pub fn from_config(config: &Config) -> Option<SignInRateLimit> {
        let per_second = NonZeroU32::new(config.sso_rate_per_second)?;
        let burst = NonZeroU32::new(config.sso_rate_burst).unwrap_or(per_second);
        Some(SignInRateLimit {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
            trust_forwarded_for: config.trust_forwarded_for,
            checks: Arc::default(),
        })
    }

    fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.trust_forwarded_for {
            return peer;
        }
        // The balancer appends the address it saw; what comes before it is the client's word.
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }
}

pub async fn limit(
    State(rate): State<SignInRateLimit>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if rate.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        rate.limiter.retain_recent();
        rate.limiter.shrink_to_fit();
    }
    let client = rate.client(request.headers(), peer.ip());
    let Err(not_until) = rate.limiter.check_key(&client) else {
        return next.run(request).await;
    };
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    crate::metrics::sign_in_rate_limited();
    let correlation_id = request
        .extensions()
        .get::<CorrelationId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    tracing::warn!(correlation_id, %client, "sign-in rate limit reached");
    let mut response = SsoFailure {
        status: StatusCode::TOO_MANY_REQUESTS,
        headline: format!(
            "Too many sign-in attempts from your network. Try again in {seconds} seconds."
        ),
        detail: "Portal limits how often one address may start or finish a sign-in.".into(),
        correlation_id,
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
