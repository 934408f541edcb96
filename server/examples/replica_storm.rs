//! The replica storm: two Portal replicas on one PostgreSQL, a client spreading N distinct first
//! SAML sign-ins and then N returning ones across both at concurrency C, and PostgreSQL
//! restarted once while the first sign-ins are under way. A 503 is what a person sees while the
//! database is away; the client does what that page says (starts the sign-in again, so a new
//! assertion) until it succeeds. Afterwards it counts, straight from the database:
//! each person exactly once, none without the default pool and the User role, one
//! `account.jit_created` audit event per person; and that nothing but 503 answered 5xx.
//!
//!     cargo run -p portal --example replica_storm -- --postgres URL [--binary target/release/portal]
//!         [--people 10000] [--concurrency 64] [--restart "COMMAND"]
//!
//! `--postgres` is a server URL (`postgres://postgres@127.0.0.1:5432/postgres`); the storm runs on
//! a fresh database there and drops it afterwards. `--restart` defaults to restarting the
//! machine's cluster with `pg_ctlcluster`. `scripts/storm` runs it as CI does.

#[path = "../benches/support/portal_process.rs"]
mod portal_process;
#[path = "../tests/support/saml.rs"]
#[allow(dead_code)]
mod saml_support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portal_process::{Launch, PortalProcess};
use reqwest::{redirect, Client, StatusCode};
use saml_support::{ResponseSpec, TestIdp};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

const ADMIN_EMAIL: &str = "admin@storm.example";
const ADMIN_PASSWORD: &str = "a long storm admin password";
/// How long a person keeps retrying a sign-in that answers 503.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

struct Args {
    postgres: String,
    binary: String,
    people: usize,
    concurrency: usize,
    restart: String,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        postgres: String::new(),
        binary: "target/release/portal".into(),
        people: 10_000,
        concurrency: 64,
        restart: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => args.postgres = value()?,
            "--binary" => args.binary = value()?,
            "--people" => args.people = value()?.parse()?,
            "--concurrency" => args.concurrency = value()?.parse()?,
            "--restart" => args.restart = value()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if args.postgres.is_empty() {
        bail!("--postgres URL is required");
    }
    if args.restart.is_empty() {
        let version = std::fs::read_dir("/etc/postgresql")
            .context("no --restart given and no /etc/postgresql to find the cluster in")?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().to_string())
            .next()
            .context("/etc/postgresql is empty")?;
        args.restart =
            format!("pg_ctlcluster --skip-systemctl-redirect {version} main restart -m fast");
    }
    Ok(args)
}

/// A replica: the release binary on its own port, on the shared database, with the shared
/// secret key.
fn start_replica(binary: &str, database_url: &str, key: &Path) -> anyhow::Result<PortalProcess> {
    PortalProcess::start(binary, replica_env(database_url, key), Launch::default())
}

fn replica_env(database_url: &str, key: &Path) -> Vec<(String, String)> {
    let key = key.display().to_string();
    [
        ("PORTAL_DATABASE_URL", database_url),
        ("PORTAL_SECRET_KEY_FILE", key.as_str()),
        ("PORTAL_PUBLIC_URL", "https://portal.storm.example"),
        ("PORTAL_ADMIN_EMAIL", ADMIN_EMAIL),
        ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        // One client address drives everything. The burst too: after the PostgreSQL restart
        // stalls the replicas, the requests queued meanwhile reach the limiter within
        // microseconds, and a burst of 100 once answered one of them 429.
        ("PORTAL_SSO_RATE_PER_SECOND", "1000000"),
        ("PORTAL_SSO_RATE_BURST", "1000000"),
        ("RUST_LOG", "error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[derive(Default)]
struct Tally {
    signed_in: AtomicUsize,
    unavailable: AtomicUsize,
    other_5xx: AtomicUsize,
    other: AtomicUsize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let database_url = portal_process::create_database(&args.postgres, "portal_storm").await?;
    let outcome = storm(&args, &database_url).await;
    portal_process::drop_database(&args.postgres, &database_url).await?;
    outcome
}

async fn storm(args: &Args, database_url: &str) -> anyhow::Result<()> {
    let n = args.people;
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Both start at once on the empty database: one migrates, the other waits for it; one
    // makes the secret key, the other reads it.
    let keys = tempfile::tempdir()?;
    let key = keys.path().join("secret.key");
    let replicas = [
        start_replica(&args.binary, database_url, &key)?,
        start_replica(&args.binary, database_url, &key)?,
    ];
    for replica in &replicas {
        replica.ready(&client).await?;
    }
    let token = replicas[0].token(ADMIN_EMAIL, "storm")?;
    let idp = Arc::new(TestIdp::new("http://www.okta.com/exkstorm"));
    let document = json!({
        "login_method": "sso",
        "sso": {"protocol": "saml", "saml": {
            "idp_entity_id": idp.entity_id,
            "idp_sso_url": "https://storm.okta.example/app/sso/saml",
            "idp_certificates": [idp.cert_pem()],
            "allow_idp_initiated": true}},
        "provisioning": {"method": "sso_jit"}
    });
    let saved = client
        .put(format!("{}/api/v1/identity", replicas[0].base))
        .bearer_auth(&token)
        .json(&document)
        .send()
        .await?;
    if saved.status() != StatusCode::OK {
        bail!("PUT /api/v1/identity answered {}", saved.status());
    }

    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());
    let tally = Arc::new(Tally::default());
    let restarted = Arc::new(tokio::sync::OnceCell::new());
    let started = Instant::now();
    for phase in ["first", "returning"] {
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency {
            let (client, bases, idp, tally, next, restarted) = (
                client.clone(),
                bases.clone(),
                idp.clone(),
                tally.clone(),
                next.clone(),
                restarted.clone(),
            );
            let restart = args.restart.clone();
            workers.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    if phase == "first" && i == n / 2 {
                        // PostgreSQL goes away while sign-ins keep arriving.
                        let restart = restart.clone();
                        let handle = tokio::task::spawn_blocking(move || {
                            Command::new("sh").args(["-c", &restart]).status()
                        });
                        restarted.set(handle).ok();
                    }
                    sign_in(&client, &bases, &idp, &tally, i).await?;
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done??;
        }
        eprintln!(
            "{phase} sign-ins done after {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let elapsed = started.elapsed();
    if let Some(restart) = Arc::try_unwrap(restarted)
        .ok()
        .and_then(|cell| cell.into_inner())
    {
        let status = restart.await??;
        if !status.success() {
            bail!("the PostgreSQL restart failed: {status}");
        }
    } else {
        bail!("the storm never restarted PostgreSQL");
    }

    let db = Database::connect(database_url).await?;
    let count = |sql: &'static str| {
        let db: &DatabaseConnection = &db;
        async move {
            db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await?
                .context("a count")?
                .try_get_by_index::<i64>(0)
                .map_err(anyhow::Error::from)
        }
    };
    let people = count("SELECT COUNT(*) FROM users WHERE jit_provisioned").await?;
    let distinct =
        count("SELECT COUNT(DISTINCT email_normalized) FROM users WHERE jit_provisioned").await?;
    let without_pool = count(
        "SELECT COUNT(*) FROM users u WHERE u.jit_provisioned AND NOT EXISTS (SELECT 1 FROM pool_members m JOIN agent_pools p ON p.id = m.pool_id WHERE m.user_id = u.id AND p.is_default)",
    )
    .await?;
    let without_role = count(
        "SELECT COUNT(*) FROM users u WHERE u.jit_provisioned AND NOT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.key = 'user')",
    )
    .await?;
    let created_events =
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'account.jit_created'").await?;
    let created_targets = count(
        "SELECT COUNT(DISTINCT target) FROM audit_events WHERE action = 'account.jit_created'",
    )
    .await?;
    db.close().await.ok();

    let signed_in = tally.signed_in.load(Ordering::Relaxed);
    let unavailable = tally.unavailable.load(Ordering::Relaxed);
    let other_5xx = tally.other_5xx.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    println!(
        "replica storm: 2 replicas, one PostgreSQL restarted once, {n} first and {n} returning sign-ins at concurrency {}",
        args.concurrency
    );
    println!(
        "  sign-ins that ended signed in        {signed_in} of {}",
        2 * n
    );
    println!("  503 answers, each retried to success {unavailable}");
    println!("  other 5xx                            {other_5xx}");
    println!("  other refusals                       {other}");
    println!("  JIT accounts                         {people} ({distinct} distinct emails)");
    println!("  accounts without the default pool    {without_pool}");
    println!("  accounts without the User role       {without_role}");
    println!("  account.jit_created audit events     {created_events} ({created_targets} people)");
    println!(
        "  wall time                            {:.1} s ({:.0} sign-ins per second)",
        elapsed.as_secs_f64(),
        (signed_in + unavailable) as f64 / elapsed.as_secs_f64()
    );
    let n = n as i64;
    let mut failures = Vec::new();
    if signed_in != 2 * args.people {
        failures.push("not every sign-in ended signed in");
    }
    if other_5xx > 0 || other > 0 {
        failures.push("an answer other than success or 503");
    }
    if people != n || distinct != n {
        failures.push("not exactly one account per person");
    }
    if without_pool > 0 || without_role > 0 {
        failures.push("an account without its pool or role");
    }
    if created_events != n || created_targets != n {
        failures.push("not one created event per person");
    }
    if unavailable == 0 {
        failures.push("no 503 seen: the restart did not land during the storm");
    }
    if !failures.is_empty() {
        bail!("the storm failed: {}", failures.join("; "));
    }
    println!("  passed");
    Ok(())
}

/// One person's sign-in, retried as the 503 page says until it succeeds.
async fn sign_in(
    client: &Client,
    bases: &[String],
    idp: &TestIdp,
    tally: &Tally,
    i: usize,
) -> anyhow::Result<()> {
    let email = format!("person{i:06}@storm.example");
    let began = Instant::now();
    let mut attempt = 0;
    loop {
        // Each attempt may land on either replica, as behind a load balancer.
        let base = &bases[(i + attempt) % bases.len()];
        attempt += 1;
        let encoded = ResponseSpec::new(
            idp,
            "https://portal.storm.example/sso/saml/metadata",
            "https://portal.storm.example/sso/saml/acs",
            &email,
        )
        .encoded(idp);
        let answer = client
            .post(format!("{base}/sso/saml/acs"))
            .form(&[("SAMLResponse", encoded)])
            .send()
            .await;
        let status = match answer {
            Ok(response) => response.status(),
            Err(error) => {
                // The replicas stay up throughout: no answer at all is a failure.
                tally.other_5xx.fetch_add(1, Ordering::Relaxed);
                eprintln!("{email}: no answer from {base}: {error}");
                return Ok(());
            }
        };
        if status == StatusCode::SEE_OTHER {
            tally.signed_in.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tally.unavailable.fetch_add(1, Ordering::Relaxed);
            if began.elapsed() > GIVE_UP_AFTER {
                bail!("{email} still got 503 after {GIVE_UP_AFTER:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if status.is_server_error() {
            tally.other_5xx.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.other.fetch_add(1, Ordering::Relaxed);
        }
        eprintln!("{email}: {status}");
        return Ok(());
    }
}
