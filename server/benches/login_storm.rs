//! The login storm: the release server, pinned to one CPU, on a fresh database, driven from the
//! other CPU at a chosen concurrency through
//!
//! 1. N distinct first-time SAML sign-ins at `POST /sso/saml/acs` (the JIT path), with responses
//!    signed in advance by a test IdP key;
//! 2. N returning SAML sign-ins of the same people;
//! 3. N starts of an OIDC sign-in (`/sso/oidc/login`), then N OIDC callbacks (new people, JIT)
//!    against a local provider signing with ES256;
//! 4. N renders of the Identity Configuration page for a signed-in admin;
//!
//! then, for the server's CPU per request (its p50 and p99), up to 500 more of phases 1 to 3 and
//! of the page, one at a time; and, in the same run, the floor: the responses of phase 1
//! verified by xmlsec in a tight loop on the server's CPU, with nothing else, just before and
//! just after the concurrent SAML phases. After the storm it checks that every account the
//! sign-ins made exists, JIT-flagged, in the default pool, with the User role, and that nothing
//! answered 5xx.
//!
//!     cargo bench -p portal --bench login_storm --profile storm -- [--logins N] [--concurrency C] [--postgres URL] [--cpu-each DIR]
//!
//! `--cpu-each` writes, for each phase sent one at a time, the server's CPU for each request in
//! turn (microseconds, one per line) to a file in DIR named after the phase.
//!
//! `--postgres` takes a server URL (`postgres://postgres@127.0.0.1:5432/postgres`) and runs on a
//! fresh database there, dropped afterwards. The `storm` profile is the release profile built
//! into target/storm, so that the release binary the browser tests run stays as it is.

#[path = "../tests/support/metrics.rs"]
#[allow(dead_code)]
mod metrics;
#[path = "../tests/support/oidc.rs"]
#[allow(dead_code)]
mod oidc_support;
#[path = "support/portal_process.rs"]
mod portal_process;
#[path = "../tests/support/saml.rs"]
#[allow(dead_code)]
mod saml_support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use leptos::server_fn::ServerFn;
use oidc_support::{OpKey, Person, Signing, TestOp, TokenSpec};
use portal_process::{Launch, PortalProcess};
use reqwest::{header, redirect, Client, StatusCode};
use saml_support::{ResponseSpec, TestIdp};
use serde_json::{json, Value};

const ADMIN_EMAIL: &str = "admin@bench.example";
const ADMIN_PASSWORD: &str = "a long bench admin password";

struct Args {
    logins: usize,
    concurrency: usize,
    postgres: Option<String>,
    cpu_each: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        logins: 2000,
        concurrency: 32,
        postgres: None,
        cpu_each: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--logins" => args.logins = it.next().context("--logins N")?.parse()?,
            "--concurrency" => args.concurrency = it.next().context("--concurrency C")?.parse()?,
            "--postgres" => args.postgres = Some(it.next().context("--postgres URL")?),
            "--cpu-each" => args.cpu_each = Some(it.next().context("--cpu-each DIR")?.into()),
            // `cargo bench` adds --bench; nothing else is expected.
            "--bench" => {}
            other => {
                bail!("unknown argument {other}; see the comment at the top of login_storm.rs")
            }
        }
    }
    Ok(args)
}

/// What one phase measured.
struct Phase {
    name: &'static str,
    count: usize,
    concurrency: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    server_cpu: Duration,
    /// The server's CPU for each request, when the phase sends one at a time (empty otherwise).
    cpu_each: Vec<Duration>,
    statements: f64,
    /// Times the server sent SQL to the database (several statements may travel together).
    round_trips: f64,
    server_errors: usize,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.count as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

fn percentile(durations: &[Duration], p: f64) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// User plus system CPU time of process `pid` so far, every thread of it, to the nanosecond
/// (the kernel's CPU-time clock of that process; /proc's ticks are 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are to live locals of the types the calls write.
    let read = unsafe {
        libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) == 0
            && libc::clock_gettime(clock, &mut now) == 0
    };
    assert!(read, "cannot read the CPU clock of process {pid}");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A line of /proc/PID/status in megabytes (VmRSS, VmHWM).
fn memory_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The statements the server has run and the times it sent some, from its /metrics.
async fn database_counts(client: &Client, base: &str) -> anyhow::Result<(f64, f64)> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let statements = portal::metrics::DB_STATEMENTS;
    let statements = metrics::sample(&text, statements)
        .with_context(|| format!("/metrics has no {statements}"))?;
    // A server from before round trips were counted has none: NaN, printed as such.
    let round_trips = metrics::sample(&text, portal::metrics::DB_ROUND_TRIPS).unwrap_or(f64::NAN);
    Ok((statements, round_trips))
}

/// Runs `work(i)` for i in 0..count with `concurrency` at once; each answers its status. One at
/// a time, it also reads the server's CPU clock around each request: what the server did from
/// just before the request was sent until its answer was read (work the server finishes after
/// answering is counted with the next request, and its timers with whichever is in flight).
async fn drive<F, Fut>(
    name: &'static str,
    server: &PortalProcess,
    client: &Client,
    count: usize,
    concurrency: usize,
    work: F,
) -> anyhow::Result<Phase>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<StatusCode>> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let cpu_each = Arc::new(Mutex::new(Vec::new()));
    let pid = server.pid();
    let errors = Arc::new(AtomicUsize::new(0));
    let counts_before = database_counts(client, &server.base).await?;
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (work, next, latencies, cpu_each, errors) = (
            work.clone(),
            next.clone(),
            latencies.clone(),
            cpu_each.clone(),
            errors.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let t = Instant::now();
                let cpu = (concurrency == 1).then(|| cpu_time(pid));
                let status = work(i).await?;
                latencies.lock().unwrap().push(t.elapsed());
                if let Some(cpu) = cpu {
                    cpu_each.lock().unwrap().push(cpu_time(pid) - cpu);
                }
                if status.is_server_error() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let wall = started.elapsed();
    let server_cpu = cpu_time(pid).saturating_sub(cpu_before);
    let (statements, round_trips) = database_counts(client, &server.base).await?;
    let (statements, round_trips) = (statements - counts_before.0, round_trips - counts_before.1);
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    let cpu_each = std::mem::take(&mut *cpu_each.lock().unwrap());
    Ok(Phase {
        name,
        count,
        concurrency,
        wall,
        latencies,
        server_cpu,
        cpu_each,
        statements,
        round_trips,
        server_errors: errors.load(Ordering::Relaxed),
    })
}

/// Pins every thread of this process to `cpu`: the runtime's workers, which drive the requests,
/// as well as the main thread (`taskset -p` without `-a` moves the main thread alone, leaving the
/// workers free to run on the server's CPU).
fn pin_self(cpu: usize) {
    let _ = Command::new("taskset")
        .args([
            "-a",
            "-cp",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status();
}

/// The floor: the decoded `responses` verified by xmlsec alone (the server's own call,
/// `sso::saml::verify::signed_part`), one after another on the server's CPU; per second.
fn measure_floor(
    responses: &[String],
    certificates: &[samael::crypto::CertificateDer],
) -> anyhow::Result<f64> {
    pin_self(0);
    let started = Instant::now();
    for xml in responses {
        portal::sso::saml::verify::signed_part(xml, certificates)
            .map_err(|e| anyhow::anyhow!("the floor could not verify a response: {e}"))?;
    }
    let rate = responses.len() as f64 / started.elapsed().as_secs_f64();
    pin_self(1);
    Ok(rate)
}

/// The status of a sign-in that ended as it should, signed in: a redirect that starts a
/// session. Anything else stops the storm with what the server said.
async fn expect_signed_in(what: &str, response: reqwest::Response) -> anyhow::Result<StatusCode> {
    let status = response.status();
    if status != StatusCode::SEE_OTHER || !session_cookie(&response) {
        bail!(
            "{what} answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(status)
}

fn session_cookie(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|c| {
            c.to_str().is_ok_and(|c| {
                c.starts_with("portal_session=") && !c.starts_with("portal_session=;")
            })
        })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let n = args.logins;
    pin_self(1);
    let dir = tempfile::tempdir()?;
    let database_url = match &args.postgres {
        Some(server) => portal_process::create_database(server, "portal_bench").await?,
        None => format!("sqlite://{}/portal.db", dir.path().display()),
    };
    let env = [
        ("PORTAL_DATABASE_URL", database_url.as_str()),
        ("PORTAL_ADMIN_EMAIL", ADMIN_EMAIL),
        ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("RUST_LOG", "warn"),
        // One client address drives the whole storm; the limiter still runs on every call.
        ("PORTAL_SSO_RATE_PER_SECOND", "1000000"),
        ("PORTAL_SSO_RATE_BURST", "1000000"),
    ];
    let server = PortalProcess::start(
        env!("CARGO_BIN_EXE_portal"),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Launch {
            dir: Some(dir.path()),
            cpu: Some(0),
            show_log: true,
        },
    )?;
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    server.ready(&client).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = memory_mb(server.pid(), "VmRSS");
    // The SQLite write-ahead log's size, sampled through the storm.
    let log = dir.path().join("portal.db-wal");
    let largest_log = Arc::new(AtomicU64::new(0));
    let log_sampler = tokio::spawn({
        let (log, largest_log) = (log.clone(), largest_log.clone());
        async move {
            loop {
                if let Ok(metadata) = std::fs::metadata(&log) {
                    largest_log.fetch_max(metadata.len(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let token = server.token(ADMIN_EMAIL, "bench")?;
    let base = server.base.clone();

    // SAML with SSO JIT on, as an admin configures it.
    let idp = TestIdp::new("http://www.okta.com/exkbench");
    let saml_document = json!({
        "login_method": "sso",
        "sso": {"protocol": "saml", "saml": {
            "idp_entity_id": idp.entity_id,
            "idp_sso_url": "https://bench.okta.example/app/sso/saml",
            "idp_certificates": [idp.cert_pem()],
            "allow_idp_initiated": true}},
        "provisioning": {"method": "sso_jit"}
    });
    put_identity(&client, &base, &token, &saml_document).await?;

    eprintln!("signing {} SAML responses in advance…", 2 * n);
    let sign = |email: &str| {
        ResponseSpec::new(
            &idp,
            &format!("{base}/sso/saml/metadata"),
            &format!("{base}/sso/saml/acs"),
            email,
        )
        .encoded(&idp)
    };
    // A first and a returning response for each of `count` people named after `prefix`.
    let first_and_returning = |prefix: &str, count: usize| {
        let emails: Vec<String> = (0..count)
            .map(|i| format!("{prefix}{i:06}@bench.example"))
            .collect();
        let signed = || Arc::new(emails.iter().map(|e| sign(e)).collect::<Vec<String>>());
        (signed(), signed())
    };
    let (first, returning) = first_and_returning("saml", n);
    // Other people sign in one at a time, for the server's CPU per sign-in (its p99).
    let one_by_one = n.min(500);
    let (first_one, returning_one) = first_and_returning("saml-one", one_by_one);

    let acs = format!("{base}/sso/saml/acs");
    let post_acs = |responses: Arc<Vec<String>>| {
        let (client, acs) = (client.clone(), acs.clone());
        move |i: usize| {
            let (client, acs, responses) = (client.clone(), acs.clone(), responses.clone());
            async move {
                let response = client
                    .post(&acs)
                    .form(&[("SAMLResponse", responses[i].as_str())])
                    .send()
                    .await?;
                expect_signed_in("a SAML sign-in", response).await
            }
        }
    };
    // The floor is measured just before and just after the SAML phases, and each phase is
    // compared with the mean of the two: this machine's speed drifts over a run.
    let certificates = vec![samael::crypto::CertificateDer::from(idp.cert.to_der()?)];
    let decoded: Vec<String> = first
        .iter()
        .map(|r| portal::sso::saml::verify::decode(r).expect("decodes"))
        .collect();
    let floor_before = measure_floor(&decoded, &certificates)?;
    let mut phases = Vec::new();
    phases.push(
        drive(
            "SAML first sign-in (JIT)",
            &server,
            &client,
            n,
            args.concurrency,
            post_acs(first.clone()),
        )
        .await?,
    );
    let rss_after_sessions = memory_mb(server.pid(), "VmRSS");
    phases.push(
        drive(
            "SAML returning sign-in",
            &server,
            &client,
            n,
            args.concurrency,
            post_acs(returning),
        )
        .await?,
    );
    // Each returning sign-in starts a session of its own: 2N live sessions now.
    let rss_after_more_sessions = memory_mb(server.pid(), "VmRSS");
    let floor_after = measure_floor(&decoded, &certificates)?;
    let floor = (floor_before + floor_after) / 2.0;
    phases.push(
        drive(
            "SAML first sign-in, one at a time",
            &server,
            &client,
            one_by_one,
            1,
            post_acs(first_one),
        )
        .await?,
    );
    phases.push(
        drive(
            "SAML returning, one at a time",
            &server,
            &client,
            one_by_one,
            1,
            post_acs(returning_one),
        )
        .await?,
    );

    // OIDC: a provider signing with ES256 (cheap for it), new people, SSO JIT on.
    let op = TestOp::start().await;
    let es = op.add_key(OpKey::ec("bench-es256"), true);
    let mut oidc_document = oidc_support::oidc_document(&op, true);
    oidc_document["login_method"] = json!("sso");
    put_identity(&client, &base, &token, &oidc_document).await?;
    // Each start keeps where it sent the browser and the cookies it set, for its callback.
    let started = Arc::new(Mutex::new(vec![None; n + one_by_one]));
    let start = |first: usize| {
        let (client, base, started) = (client.clone(), base.clone(), started.clone());
        move |i: usize| {
            let (client, base, started) = (client.clone(), base.clone(), started.clone());
            async move {
                let response = client.get(format!("{base}/sso/oidc/login")).send().await?;
                let status = response.status();
                if status != StatusCode::SEE_OTHER {
                    bail!("the start of an OIDC sign-in answered {status}");
                }
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .context("the start names the provider")?
                    .to_str()?
                    .to_string();
                let cookies: Vec<String> = response
                    .headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .filter_map(|c| c.to_str().ok()?.split(';').next().map(str::to_string))
                    .collect();
                started.lock().unwrap()[first + i] = Some((location, cookies.join("; ")));
                Ok(status)
            }
        }
    };
    phases.push(
        drive(
            "OIDC start",
            &server,
            &client,
            n,
            args.concurrency,
            start(0),
        )
        .await?,
    );
    phases.push(
        drive(
            "OIDC start, one at a time",
            &server,
            &client,
            one_by_one,
            1,
            start(n),
        )
        .await?,
    );
    eprintln!("signing {} people in at the provider…", n + one_by_one);
    let started = std::mem::take(&mut *started.lock().unwrap());
    let mut callbacks = Vec::with_capacity(n + one_by_one);
    for (i, start) in started.into_iter().enumerate() {
        let (location, cookies) = start.context("every start was answered")?;
        let person = Person::new(&format!("oidc{i:06}.bench@bench.example"));
        let spec = TokenSpec {
            signing: Signing::Key(es),
            ..TokenSpec::default()
        };
        callbacks.push((op.authorize(&location, &person, spec), cookies));
    }
    let callbacks_one = Arc::new(callbacks.split_off(n));
    let callbacks = Arc::new(callbacks);
    let call_back = |callbacks: Arc<Vec<(String, String)>>| {
        let client = client.clone();
        move |i: usize| {
            let (client, callbacks) = (client.clone(), callbacks.clone());
            async move {
                let (url, cookie) = &callbacks[i];
                let response = client
                    .get(url)
                    .header(header::COOKIE, cookie)
                    .send()
                    .await?;
                expect_signed_in("an OIDC callback", response).await
            }
        }
    };
    phases.push(
        drive(
            "OIDC callback (JIT)",
            &server,
            &client,
            n,
            args.concurrency,
            call_back(callbacks),
        )
        .await?,
    );
    phases.push(
        drive(
            "OIDC callback, one at a time",
            &server,
            &client,
            one_by_one,
            1,
            call_back(callbacks_one),
        )
        .await?,
    );

    // The Identity Configuration page, for an admin signed in with the local form.
    let admin = Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()?;
    // The pages' server functions answer in postcard, as the browser reads them.
    let login = admin
        .post(format!("{base}{}", app::api::GetLoginPage::PATH))
        .form(&[("", "")])
        .send()
        .await?;
    if login.status() != StatusCode::OK {
        bail!("the sign-in page's data answered {}", login.status());
    }
    let csrf = postcard::from_bytes::<app::model::LoginPageInfo>(&login.bytes().await?)
        .context("the login page's CSRF token")?
        .csrf_token
        .expose();
    let signed_in = admin
        .post(format!("{base}{}", app::api::SignIn::PATH))
        .header(
            header::ACCEPT,
            <leptos::server_fn::codec::PostcardEncoding as leptos::server_fn::ContentType>::CONTENT_TYPE,
        )
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await?;
    if !session_cookie(&signed_in) {
        bail!("the admin could not sign in: {}", signed_in.status());
    }
    let get_page = || {
        let (admin, url) = (admin.clone(), format!("{base}/settings/iam/identity"));
        move |_| {
            let (admin, url) = (admin.clone(), url.clone());
            async move {
                let response = admin.get(&url).send().await?;
                let status = response.status();
                let page = response.text().await?;
                if status != StatusCode::OK || !page.contains("Identity Configuration") {
                    bail!("the Identity Configuration page answered {status}");
                }
                Ok(status)
            }
        }
    };
    phases.push(
        drive(
            "Identity Configuration page",
            &server,
            &client,
            n,
            args.concurrency,
            get_page(),
        )
        .await?,
    );
    // The same page with nothing queued before it: how long one admin waits for it.
    phases.push(
        drive(
            "the same page, one at a time",
            &server,
            &client,
            n.min(500),
            1,
            get_page(),
        )
        .await?,
    );
    let peak_rss = memory_mb(server.pid(), "VmHWM");
    log_sampler.abort();
    let log_at_end = std::fs::metadata(&log).map_or(0, |m| m.len());

    // Correctness after the storm.
    let mut accounts = 0;
    let mut page = 1;
    loop {
        let listing: Vec<Value> = client
            .get(format!(
                "{base}/api/v1/users?source=sso_jit&per_page=500&page={page}"
            ))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if listing.is_empty() {
            break;
        }
        for person in &listing {
            let ok = person["jit_provisioned"] == true
                && person["pools"] == json!(["default"])
                && person["roles"] == json!(["user"]);
            if !ok {
                bail!("a JIT account is not as the storm should leave it: {person}");
            }
            accounts += 1;
        }
        page += 1;
    }
    let expected = 2 * (n + one_by_one);
    if accounts != expected {
        bail!("{accounts} JIT accounts after the storm, expected {expected}");
    }

    drop(server);

    if let Some(server) = &args.postgres {
        portal_process::drop_database(server, &database_url).await?;
    }

    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synchronous=NORMAL)"
    };
    println!();
    println!(
        "login storm: {n} of each at concurrency {}, server pinned to CPU 0, client on CPU 1, {backend}",
        args.concurrency
    );
    println!(
        "{:<34} {:>10} {:>7} {:>7} {:>8} {:>8} {:>8} {:>10} {:>11} {:>4} {:>7}",
        "phase",
        "per second",
        "p50 ms",
        "p99 ms",
        "CPU ms",
        "CPU p50",
        "CPU p99",
        "statements",
        "round trips",
        "5xx",
        "÷ floor"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for phase in &phases {
        // A rate is compared with the floor only when requests queue, as the floor's do.
        let ratio = if phase.name.starts_with("SAML") && phase.concurrency > 1 {
            format!("{:.0}%", 100.0 * phase.rate() / floor)
        } else {
            "-".into()
        };
        let cpu_percentile = |p| {
            if phase.cpu_each.is_empty() {
                "-".to_string()
            } else {
                format!("{:.3}", ms(percentile(&phase.cpu_each, p)))
            }
        };
        println!(
            "{:<34} {:>10.0} {:>7.2} {:>7.2} {:>8.3} {:>8} {:>8} {:>10.1} {:>11.1} {:>4} {:>7}",
            phase.name,
            phase.rate(),
            ms(phase.percentile(0.5)),
            ms(phase.percentile(0.99)),
            ms(phase.server_cpu) / phase.count as f64,
            cpu_percentile(0.5),
            cpu_percentile(0.99),
            phase.statements / phase.count as f64,
            phase.round_trips / phase.count as f64,
            phase.server_errors,
            ratio,
        );
    }
    println!("(CPU ms: the server's CPU per request, the mean over the phase; CPU p50 and p99: per request, measured one at a time)");
    if let Some(dir) = &args.cpu_each {
        std::fs::create_dir_all(dir)?;
        for phase in phases.iter().filter(|p| !p.cpu_each.is_empty()) {
            let file = dir.join(format!("{}.txt", phase.name.replace([' ', ','], "_")));
            let lines: String = phase
                .cpu_each
                .iter()
                .map(|cpu| format!("{}\n", cpu.as_micros()))
                .collect();
            std::fs::write(&file, lines).with_context(|| format!("writing {}", file.display()))?;
        }
    }
    println!(
        "{:<34} {:>10.0}   (xmlsec verification alone, one CPU: {floor_before:.0} before the SAML phases, {floor_after:.0} after)",
        "floor", floor
    );
    println!(
        "memory: idle {idle_rss:.1} MB; with {n} live sessions {rss_after_sessions:.1} MB; with {} {rss_after_more_sessions:.1} MB; peak {peak_rss:.1} MB",
        2 * n
    );
    if args.postgres.is_none() {
        println!(
            "SQLite write-ahead log: largest {:.1} MB, at the end {:.1} MB",
            largest_log.load(Ordering::Relaxed) as f64 / 1e6,
            log_at_end as f64 / 1e6
        );
    }
    println!(
        "checked: {accounts} JIT accounts, each flagged, in the default pool, with the User role"
    );
    Ok(())
}

async fn put_identity(
    client: &Client,
    base: &str,
    token: &str,
    document: &Value,
) -> anyhow::Result<()> {
    let response = client
        .put(format!("{base}/api/v1/identity"))
        .bearer_auth(token)
        .json(document)
        .send()
        .await?;
    if response.status() != StatusCode::OK {
        bail!(
            "PUT /api/v1/identity answered {}: {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}
