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

/// Password sign-ins one client address may try per minute once its burst is spent.
pub const PASSWORD_ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::new(30).unwrap();
pub const PASSWORD_BURST: NonZeroU32 = NonZeroU32::new(20).unwrap();

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
        Some(Self::keyed(
            Quota::per_second(per_second).allow_burst(burst),
            config,
        ))
    }

    /// The password sign-in's limit, on whenever the `/sso/*` one is: fewer attempts, since
    /// each costs an Argon2 computation and only a local admin signs in with a password.
    pub fn for_passwords(config: &Config) -> Option<SignInRateLimit> {
        NonZeroU32::new(config.sso_rate_per_second)?;
        Some(Self::keyed(
            Quota::per_minute(PASSWORD_ATTEMPTS_PER_MINUTE).allow_burst(PASSWORD_BURST),
            config,
        ))
    }

    /// One bucket of `quota` per client address, the client found as `config` says.
    fn keyed(quota: Quota, config: &Config) -> SignInRateLimit {
        SignInRateLimit {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            trust_forwarded_for: config.trust_forwarded_for,
            checks: Arc::default(),
        }
    }

    /// Takes one request of `client`'s from its bucket; when the bucket is empty, the whole
    /// seconds to wait.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// The client a request counts against: the connection's `peer`, or behind a trusted
    /// balancer the address it saw. An IPv6 client counts as its /64, the block one host
    /// usually has to itself, so that it cannot take a fresh bucket per address.
    pub fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let address = if self.trust_forwarded_for {
            // The balancer appends the address it saw; what comes before it is the client's
            // word.
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .next_back()
                .and_then(|last| last.trim().parse().ok())
                .unwrap_or(peer)
        } else {
            peer
        };
        match address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked above")),
            v4 => v4,
        }
    }
}

pub async fn limit(
    State(rate): State<SignInRateLimit>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = rate.client(request.headers(), peer.ip());
    let Err(seconds) = rate.take(client) else {
        return next.run(request).await;
    };
    crate::metrics::sign_in_rate_limited();
    let correlation_id = request
        .extensions()
        .get::<CorrelationId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    tracing::warn!(correlation_id, %client, "sign-in rate limit reached");
    let mut response = SsoFailure::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many sign-in attempts from your network. Try again in {seconds} seconds."),
        "Portal limits how often one address may start or finish a sign-in.",
        &correlation_id,
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
