//! Builds the running portal: database, first admin, router, listener. `main` and the tests
//! use the same builder, so the tests exercise what ships.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use app::{backend::SharedBackend, shell, App};
use axum::{
    extract::{ConnectInfo, FromRef, Request},
    http::{HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{Redirect, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer, timeout::TimeoutLayer};

use crate::config::Config;
use crate::identity::ClientSecretAtStart;
use crate::people::{self, FirstAdmin};
use crate::secret_key::SecretKey;
use crate::state::{CorrelationId, Portal};

#[derive(Clone, FromRef)]
struct AppState {
    leptos_options: LeptosOptions,
    portal: Portal,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    portal: Portal,
    first_admin: FirstAdmin,
}

impl Application {
    /// Connects and migrates the database, makes sure an admin exists, and binds the listener
    /// (`PORTAL_ADDR` with port 0 picks a free port).
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let cannot_open = |e: sea_orm::DbErr| {
            anyhow::anyhow!("PORTAL_DATABASE_URL: cannot open the database: {e}")
        };
        let (secret_key, made) = SecretKey::load_or_create(&config.secret_key_file)
            .map_err(|e| anyhow::anyhow!("PORTAL_SECRET_KEY_FILE: {e}"))?;
        if made {
            tracing::info!(
                path = %config.secret_key_file.display(),
                key = secret_key.id(),
                "made a new secret key; keep it out of the database's backups, and give every server of this database the same file"
            );
        }
        let mut db = crate::db::connect(&config.database_url)
            .await
            .map_err(cannot_open)?;
        let setup = crate::db::begin_setup(&db).await.map_err(cannot_open)?;
        crate::db::migrate(&setup).await.map_err(cannot_open)?;
        let first_admin = people::ensure_first_admin(&setup, &config).await?;
        match crate::identity::client_secret_at_start(&setup, &secret_key)
            .await
            .map_err(cannot_open)?
        {
            ClientSecretAtStart::Fine => {}
            ClientSecretAtStart::SealedNow => tracing::info!(
                key = secret_key.id(),
                "sealed the OIDC client secret that was stored in clear"
            ),
            ClientSecretAtStart::Unreadable(why) => tracing::error!(
                path = %config.secret_key_file.display(),
                "the stored OIDC client secret cannot be read: {why}; nobody signs in over OIDC \
                 until this server has the key file the secret was sealed with, or an admin \
                 enters the secret again"
            ),
        }
        setup.commit().await.map_err(cannot_open)?;
        crate::metrics::count_statements(&mut db);
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("PORTAL_ADDR: cannot listen on {}: {e}", config.addr))?;
        if config.public_url.port() == Some(0) {
            // Derived from an address with port 0: the port is known only now.
            let bound = listener.local_addr()?;
            config.public_url = url::Url::parse(&format!("http://{bound}/"))?;
        }
        let portal = Portal::new(db, config, secret_key);
        // Installed before the first request, so that no sign-in goes uncounted.
        crate::metrics::handle();
        crate::janitor::spawn(portal.db.clone());
        crate::db::wal::spawn(portal.db.clone())
            .await
            .map_err(cannot_open)?;
        let router = router(portal.clone(), listener.local_addr()?);
        Ok(Application {
            listener,
            router,
            portal,
            first_admin,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn portal(&self) -> &Portal {
        &self.portal
    }

    pub fn first_admin(&self) -> &FirstAdmin {
        &self.first_admin
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        serve(
            self.listener,
            self.router,
            self.portal.config.request_timeout,
            shutdown_signal(),
        )
        .await
    }

    /// Serves until the process ends; for tests, which drop the runtime instead.
    pub async fn run(self) -> std::io::Result<()> {
        let forever = std::future::pending::<()>();
        serve(
            self.listener,
            self.router,
            self.portal.config.request_timeout,
            forever,
        )
        .await
    }
}

/// Accepts connections until `stop`, then lets the requests in flight finish. A client gets
/// `head_timeout` to send each request's head (the request timeout covers the body), so a
/// connection that trickles its headers, or sits idle, is closed instead of held open.
///
/// HTTP/1.1 only, without upgrades (Portal has no WebSocket): HTTP/2 without TLS (h2c) has no
/// such timeout in hyper, so anyone could hold idle connections open for ever. Browsers never
/// speak it, and TLS ends in front of Portal.
async fn serve(
    listener: TcpListener,
    router: Router,
    head_timeout: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::{conn::auto, graceful::GracefulShutdown};
    let mut connections = auto::Builder::new(TokioExecutor::new()).http1_only();
    connections
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let app = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        let service = hyper_util::service::TowerToHyperService::new(app);
        let connection = connections
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or times out is not Portal's error.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn router(portal: Portal, addr: SocketAddr) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("portal")
        .site_root(portal.config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(leptos::config::Env::PROD)
        .build();
    let backend: SharedBackend = Arc::new(portal.clone());
    let routes = page_routes();
    let state = AppState {
        leptos_options: leptos_options.clone(),
        portal: portal.clone(),
    };

    // The front end's files, served with the request's own headers (Leptos' file handler passes
    // on only Accept-Encoding), so that a browser that asks again gets a 304 when unchanged.
    // `no-cache` has browsers ask again at every page load, so that after an upgrade no browser
    // hydrates this release's pages with the last release's module, which reads other answers.
    let front_end = SetResponseHeaderLayer::overriding(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    )
    .layer(
        ServeDir::new(portal.config.site_root.join("pkg"))
            .precompressed_br()
            .precompressed_gzip(),
    );
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, move || provide_context(backend.clone()), {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .nest_service("/pkg", front_end)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(with_request_reads))
        .with_state(state);

    let https = portal.config.cookies_secure();
    let routes = Router::new()
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/iam/identity") }),
        )
        .route(
            "/settings/iam",
            get(|| async { Redirect::to("/settings/iam/identity") }),
        )
        .merge(crate::api::router().with_state(portal.clone()))
        .merge(sign_in_routes(portal.clone()))
        .merge(pages)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            portal.config.request_timeout,
        ));
    with_security_headers(routes, https)
        .layer(middleware::from_fn(with_correlation_id))
        .layer(
            // The path only: a query may carry an authorization code or state.
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
}

/// What every answer tells the browser, unless it says otherwise itself: never to show it in a
/// frame (no page of another site can lay Portal's buttons under its own), to take its type as
/// given, to send no referrer beyond Portal, to keep it in no cache (a page holds its form's
/// token and people's details, and would outlive a sign-out in the back button), and over https
/// to come back over https only.
fn with_security_headers(routes: Router, https: bool) -> Router {
    use axum::http::{header, HeaderName};
    let unless_set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let routes = routes
        .layer(unless_set(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
        ))
        .layer(unless_set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(unless_set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(unless_set(header::REFERRER_POLICY, "same-origin"))
        .layer(unless_set(header::CACHE_CONTROL, "no-store"));
    match https {
        // A year, this host only: a sibling host may still be served over http.
        true => routes.layer(unless_set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        )),
        false => routes,
    }
}

/// The pages' routes, found once per process by rendering the app with its data reads held
/// back. Leptos holds them back with a flag that every page of the process sees: a page whose
/// read first ran while another portal in the same process (a replica in the tests, a restart)
/// was finding its routes would wait for that read forever. Found once, before any portal of
/// the process serves a page, the flag is never up while one does (leptos-rs/leptos#4773).
pub fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// `/sso/*`, behind the per-client rate limit when it is on.
fn sign_in_routes(portal: Portal) -> Router {
    let routes = crate::sso::saml::router()
        .merge(crate::sso::oidc::router())
        .with_state(portal.clone());
    match crate::sso::rate_limit::SignInRateLimit::from_config(&portal.config) {
        Some(rate) => routes.route_layer(middleware::from_fn_with_state(
            rate,
            crate::sso::rate_limit::limit,
        )),
        None => routes,
    }
}

/// Gives every request a correlation id, visible to handlers and echoed in `X-Correlation-Id`.
async fn with_correlation_id(mut request: Request, next: Next) -> Response {
    let id = CorrelationId::new();
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

/// Gives every page request a place to keep what it has read: its caller and the page's data
/// (see `app::api::RequestReads`).
async fn with_request_reads(mut request: Request, next: Next) -> Response {
    request
        .extensions_mut()
        .insert(app::api::RequestReads::default());
    next.run(request).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
