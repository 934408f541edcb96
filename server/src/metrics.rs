//! `GET /metrics` in the Prometheus text format: sign-ins and their refusals, JIT creations, the
//! SSO callbacks' latency and the database pool. Every label is a closed set of words from the
//! code (protocol, outcome, refusal code), never an email, an id or a subject.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;

pub const SIGN_INS: &str = "portal_sign_ins_total";
pub const REFUSALS: &str = "portal_sign_in_refusals_total";
pub const JIT_CREATED: &str = "portal_jit_accounts_created_total";
pub const CALLBACK_SECONDS: &str = "portal_sso_callback_duration_seconds";
pub const DB_CONNECTIONS: &str = "portal_db_pool_connections";
pub const DB_MAX_CONNECTIONS: &str = "portal_db_pool_max_connections";
pub const DB_STATEMENTS: &str = "portal_db_statements_total";
pub const DB_ROUND_TRIPS: &str = "portal_db_round_trips_total";
pub const RATE_LIMITED: &str = "portal_sign_in_rate_limited_total";

/// How a person signs in, as the `protocol` label says it.
pub const PROTOCOLS: [&str; 3] = ["saml", "oidc", "local"];

/// From a quick local check to an identity provider at the end of its timeout.
const CALLBACK_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's one recorder. Several portals in one process (the tests) share it, so a test
/// reads how a counter moved, not its value.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(CALLBACK_SECONDS.into()), &CALLBACK_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        // Histograms gather samples until this folds them in; without the exporter's own HTTP
        // listener, it is ours to call.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("a thread starts");
        handle
    })
}

fn describe() {
    describe_counter!(
        SIGN_INS,
        "Sign-ins that ended, by protocol (saml, oidc, local) and outcome (success, refused)."
    );
    describe_counter!(
        REFUSALS,
        "Refused sign-ins by protocol and reason: the code the audit event records."
    );
    describe_counter!(
        JIT_CREATED,
        "Accounts created just in time at a first SSO sign-in, by protocol."
    );
    describe_histogram!(
        CALLBACK_SECONDS,
        ::metrics::Unit::Seconds,
        "Time to answer the SAML ACS or the OIDC callback, identity provider round trips included."
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database connections of the pool, by state (in_use, idle)."
    );
    describe_gauge!(DB_MAX_CONNECTIONS, "The most connections the pool opens.");
    describe_counter!(
        DB_STATEMENTS,
        "SQL statements run through the pool, in transactions or not (BEGIN and COMMIT not counted)."
    );
    describe_counter!(
        DB_ROUND_TRIPS,
        "Times the pool sent SQL to the database: one statement, or several sent together (BEGIN and COMMIT not counted)."
    );
    describe_counter!(
        RATE_LIMITED,
        "Sign-in requests answered 429 because their client address went over the rate limit."
    );
    counter!(RATE_LIMITED).increment(0);
    // Known series start at zero, so that a rate is defined before the first sign-in.
    for protocol in PROTOCOLS {
        for outcome in ["success", "refused"] {
            counter!(SIGN_INS, "protocol" => protocol, "outcome" => outcome).increment(0);
        }
    }
    for protocol in ["saml", "oidc"] {
        counter!(JIT_CREATED, "protocol" => protocol).increment(0);
    }
}

pub fn signed_in(protocol: &'static str) {
    counter!(SIGN_INS, "protocol" => protocol, "outcome" => "success").increment(1);
}

/// A refused sign-in; `reason` is its code (`no_account`, `bad_signature`, ...).
pub fn refused(protocol: &'static str, reason: &'static str) {
    counter!(SIGN_INS, "protocol" => protocol, "outcome" => "refused").increment(1);
    counter!(REFUSALS, "protocol" => protocol, "reason" => reason).increment(1);
}

pub fn sign_in_rate_limited() {
    counter!(RATE_LIMITED).increment(1);
}

pub fn jit_created(protocol: &'static str) {
    counter!(JIT_CREATED, "protocol" => protocol).increment(1);
}

/// Times an SSO callback from its start until it is dropped, whatever the answer.
pub struct CallbackTimer {
    protocol: &'static str,
    started: Instant,
}

impl CallbackTimer {
    pub fn start(protocol: &'static str) -> CallbackTimer {
        CallbackTimer {
            protocol,
            started: Instant::now(),
        }
    }
}

impl Drop for CallbackTimer {
    fn drop(&mut self) {
        histogram!(CALLBACK_SECONDS, "protocol" => self.protocol)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// Counts every statement `db` and its clones run from now on, and every time they send some.
pub fn count_statements(db: &mut DatabaseConnection) {
    handle();
    let statements = counter!(DB_STATEMENTS);
    let round_trips = counter!(DB_ROUND_TRIPS);
    db.set_metric_callback(move |sent| {
        let batched = sent
            .statement
            .sql
            .matches(crate::db::batch::SEPARATOR)
            .count();
        statements.increment(1 + batched as u64);
        round_trips.increment(1);
    });
}

/// The exposition, with the pool's gauges read from `db` at this moment.
pub fn render(db: &DatabaseConnection) -> String {
    let handle = handle();
    if let Some((size, idle, max)) = pool_use(db) {
        gauge!(DB_CONNECTIONS, "state" => "in_use").set(size.saturating_sub(idle) as f64);
        gauge!(DB_CONNECTIONS, "state" => "idle").set(idle as f64);
        gauge!(DB_MAX_CONNECTIONS).set(max as f64);
    }
    handle.render()
}

/// Open connections, idle ones and the maximum, as sqlx's pool counts them.
fn pool_use(db: &DatabaseConnection) -> Option<(u64, u64, u64)> {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            Some((
                u64::from(pool.size()),
                pool.num_idle() as u64,
                u64::from(pool.options().get_max_connections()),
            ))
        }
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            Some((
                u64::from(pool.size()),
                pool.num_idle() as u64,
                u64::from(pool.options().get_max_connections()),
            ))
        }
        _ => None,
    }
}
