//! A controllable OpenID provider on port 0: discovery, JWKS, authorization (by the test, in the
//! person's place), token and UserInfo endpoints, signing ID tokens with its own keys. Each test
//! bends one rule at a time through [`TokenSpec`] and the provider's switches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{
    extract::{Form, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use openssl::{
    bn::BigNumContext,
    ec::{EcGroup, EcKey},
    ecdsa::EcdsaSig,
    hash::MessageDigest,
    nid::Nid,
    pkey::{PKey, Private},
    rsa::Rsa,
    sign::Signer,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "0oa-portal-test";
pub const CLIENT_SECRET: &str = "a-client-secret-for-the-test-provider";

/// A signing key the provider holds, with the JWK it publishes.
#[derive(Clone)]
pub struct OpKey {
    pub kid: String,
    pub alg: &'static str,
    key: PKey<Private>,
}

impl OpKey {
    pub fn rsa(kid: &str) -> OpKey {
        OpKey {
            kid: kid.into(),
            alg: "RS256",
            key: PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        }
    }

    pub fn ec(kid: &str) -> OpKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        OpKey {
            kid: kid.into(),
            alg: "ES256",
            key: PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap(),
        }
    }

    /// The public JWK, with or without its `kid`.
    pub fn jwk(&self, with_kid: bool) -> Value {
        let mut jwk = match self.alg {
            "RS256" => {
                let rsa = self.key.rsa().unwrap();
                json!({ "kty": "RSA", "use": "sig", "alg": "RS256",
                        "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec()) })
            }
            _ => {
                let ec = self.key.ec_key().unwrap();
                let mut ctx = BigNumContext::new().unwrap();
                let mut x = openssl::bn::BigNum::new().unwrap();
                let mut y = openssl::bn::BigNum::new().unwrap();
                ec.public_key()
                    .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                    .unwrap();
                json!({ "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256",
                        "x": B64.encode(x.to_vec_padded(32).unwrap()),
                        "y": B64.encode(y.to_vec_padded(32).unwrap()) })
            }
        };
        if with_kid {
            jwk["kid"] = json!(self.kid);
        }
        jwk
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
        signer.update(input).unwrap();
        let signature = signer.sign_to_vec().unwrap();
        if self.alg == "ES256" {
            // JWS wants r || s, each 32 bytes, not DER.
            let sig = EcdsaSig::from_der(&signature).unwrap();
            let mut raw = sig.r().to_vec_padded(32).unwrap();
            raw.extend(sig.s().to_vec_padded(32).unwrap());
            raw
        } else {
            signature
        }
    }
}

/// How the next ID token is signed.
#[derive(Clone)]
pub enum Signing {
    /// With the provider's key at this index of its published keys.
    Key(usize),
    /// With a key the provider never published (an attacker's).
    Foreign(OpKey),
    /// `alg: none`, no signature.
    Unsigned,
    /// HS256 with the client secret as the key.
    HmacWithClientSecret,
}

/// A change to an ID token's header and claims.
pub type Edit = Arc<dyn Fn(&mut Value, &mut Value) + Send + Sync>;

/// The next ID token, one rule bent at a time.
#[derive(Clone)]
pub struct TokenSpec {
    pub signing: Signing,
    /// Whether the header names the key's `kid`.
    pub with_kid: bool,
    /// Changes made to the header and claims after the defaults are set, before signing.
    pub edit: Edit,
    /// Whether email and names travel in the ID token (else only in UserInfo).
    pub profile_in_id_token: bool,
    /// Flip a byte of the signature after signing.
    pub tamper: bool,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec {
            signing: Signing::Key(0),
            with_kid: true,
            edit: Arc::new(|_, _| {}),
            profile_in_id_token: true,
            tamper: false,
        }
    }
}

impl TokenSpec {
    pub fn edit(f: impl Fn(&mut Value, &mut Value) + Send + Sync + 'static) -> TokenSpec {
        TokenSpec {
            edit: Arc::new(f),
            ..TokenSpec::default()
        }
    }
}

/// The person the provider signs in.
#[derive(Clone, Debug)]
pub struct Person {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub given_name: String,
    pub family_name: String,
}

impl Person {
    pub fn new(email: &str) -> Person {
        let local = email.split('@').next().unwrap();
        let (first, last) = local.split_once('.').unwrap_or((local, "Tester"));
        let cap = |s: &str| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        };
        Person {
            sub: format!(
                "00u{}",
                hex::encode(Sha256::digest(email.as_bytes()))[..12].to_owned()
            ),
            email: email.into(),
            email_verified: true,
            given_name: cap(first),
            family_name: cap(last),
        }
    }
}

struct Grant {
    person: Person,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    spec: TokenSpec,
}

#[derive(Default)]
struct Switches {
    token_delay: Option<Duration>,
    /// The discovery document is sent this long after it was asked for.
    discovery_delay: Option<Duration>,
    /// The discovery document carries a field of this many bytes more.
    discovery_padding: Option<usize>,
    /// The token endpoint waits for a permit of this before it answers.
    token_gate: Option<Arc<tokio::sync::Semaphore>>,
    userinfo_sub: Option<String>,
    discovery_issuer: Option<String>,
    token_endpoint: Option<String>,
    authorization_endpoint: Option<String>,
    jwks_status: Option<u16>,
    /// The token endpoint answers this status and body instead of tokens.
    token_answer: Option<(u16, &'static str)>,
    omit_id_token: bool,
    /// The discovery document leaves out RFC 9207's promise to name the issuer in responses.
    iss_not_promised: bool,
}

struct OpState {
    issuer: String,
    keys: Vec<OpKey>,
    /// Which keys the JWKS shows and whether their `kid` is in it.
    published: Vec<(usize, bool)>,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, (Person, TokenSpec)>,
    switches: Switches,
    jwks_fetches: usize,
    attacker_jwks_fetches: usize,
    token_requests: usize,
    discovery_requests: usize,
    auth_method: &'static str,
    /// PKCE verifiers received, ID and access tokens issued: what must never reach a log.
    token_secrets: Vec<String>,
}

#[derive(Clone)]
pub struct TestOp {
    pub issuer: String,
    state: Arc<Mutex<OpState>>,
}

impl TestOp {
    /// A provider with one RSA key, on a port of its own.
    pub async fn start() -> TestOp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(OpState {
            issuer: issuer.clone(),
            keys: vec![OpKey::rsa("key-1")],
            published: vec![(0, true)],
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            switches: Switches::default(),
            jwks_fetches: 0,
            attacker_jwks_fetches: 0,
            token_requests: 0,
            discovery_requests: 0,
            auth_method: "client_secret_basic",
            token_secrets: Vec::new(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/attacker-jwks", get(attacker_jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestOp { issuer, state }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    fn with<T>(&self, f: impl FnOnce(&mut OpState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Adds a key; `publish` says whether the JWKS shows it (with its kid).
    pub fn add_key(&self, key: OpKey, publish: bool) -> usize {
        self.with(|s| {
            s.keys.push(key);
            let index = s.keys.len() - 1;
            if publish {
                s.published.push((index, true));
            }
            index
        })
    }

    /// Publishes exactly these keys, `with_kid` saying whether each JWK names its kid.
    pub fn publish(&self, keys: &[(usize, bool)]) {
        self.with(|s| s.published = keys.to_vec());
    }

    pub fn jwks_fetches(&self) -> usize {
        self.with(|s| s.jwks_fetches)
    }

    /// How often anyone fetched the attacker's key set (a `jku` target).
    pub fn attacker_jwks_fetches(&self) -> usize {
        self.with(|s| s.attacker_jwks_fetches)
    }

    pub fn attacker_jwks_url(&self) -> String {
        format!("{}/attacker-jwks", self.issuer)
    }

    pub fn token_endpoint_answers(&self, status: u16, body: &'static str) {
        self.with(|s| s.switches.token_answer = Some((status, body)));
    }

    /// From now on the discovery document does not promise `iss` in authorization responses.
    pub fn stop_promising_iss(&self) {
        self.with(|s| s.switches.iss_not_promised = true);
    }

    pub fn omit_id_token(&self) {
        self.with(|s| s.switches.omit_id_token = true);
    }

    pub fn token_requests(&self) -> usize {
        self.with(|s| s.token_requests)
    }

    pub fn discovery_requests(&self) -> usize {
        self.with(|s| s.discovery_requests)
    }

    /// Every PKCE verifier the token endpoint received and every ID and access token it issued.
    pub fn token_secrets(&self) -> Vec<String> {
        self.with(|s| s.token_secrets.clone())
    }

    pub fn pad_discovery(&self, bytes: usize) {
        self.with(|s| s.switches.discovery_padding = Some(bytes));
    }

    pub fn delay_discovery(&self, delay: Duration) {
        self.with(|s| s.switches.discovery_delay = Some(delay));
    }

    pub fn delay_token_endpoint(&self, delay: Duration) {
        self.with(|s| s.switches.token_delay = Some(delay));
    }

    /// Holds every token request until the test adds a permit to what this answers, one
    /// request for each.
    pub fn hold_token_answers(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.with(|s| s.switches.token_gate = Some(gate.clone()));
        gate
    }

    pub fn userinfo_says_sub(&self, sub: &str) {
        self.with(|s| s.switches.userinfo_sub = Some(sub.into()));
    }

    pub fn discovery_claims_issuer(&self, issuer: &str) {
        self.with(|s| s.switches.discovery_issuer = Some(issuer.into()));
    }

    pub fn token_endpoint_at(&self, url: &str) {
        self.with(|s| s.switches.token_endpoint = Some(url.into()));
    }

    pub fn authorization_endpoint_at(&self, url: &str) {
        self.with(|s| s.switches.authorization_endpoint = Some(url.into()));
    }

    pub fn jwks_answers(&self, status: u16) {
        self.with(|s| s.switches.jwks_status = Some(status));
    }

    pub fn expect_auth_method(&self, method: &'static str) {
        self.with(|s| s.auth_method = method);
    }

    /// Opens `login_url` (a portal's `/sso/oidc/login`) in `browser` and plays `person` here
    /// ([`TestOp::authorize`]): the callback URL the provider sends the browser back to.
    pub async fn sign_in_from(
        &self,
        browser: &reqwest::Client,
        login_url: &str,
        person: &Person,
        spec: TokenSpec,
    ) -> String {
        let started = browser.get(login_url).send().await.unwrap();
        assert!(started.status().is_redirection(), "{}", started.status());
        let authorize = started.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap();
        self.authorize(authorize, person, spec)
    }

    /// Plays the person at the authorization endpoint: checks what Portal asked for, records a
    /// grant and returns the callback URL the provider redirects the browser to.
    pub fn authorize(&self, authorize_url: &str, person: &Person, spec: TokenSpec) -> String {
        let url = url::Url::parse(authorize_url).unwrap();
        assert!(
            authorize_url.starts_with(&format!("{}/authorize?", self.issuer)),
            "{authorize_url}"
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["code_challenge_method"], "S256");
        let scopes: Vec<&str> = query["scope"].split(' ').collect();
        for scope in ["openid", "email", "profile"] {
            assert!(scopes.contains(&scope), "scope {scope} asked: {scopes:?}");
        }
        assert!(!query["state"].is_empty() && !query["nonce"].is_empty());
        let code = hex::encode(rand::random::<[u8; 16]>());
        self.with(|s| {
            s.codes.insert(
                code.clone(),
                Grant {
                    person: person.clone(),
                    nonce: query.get("nonce").cloned(),
                    challenge: query["code_challenge"].clone(),
                    redirect_uri: query["redirect_uri"].clone(),
                    spec,
                },
            )
        });
        format!(
            "{}?code={code}&state={}&iss={}",
            query["redirect_uri"],
            urlencode(&query["state"]),
            urlencode(&self.issuer)
        )
    }
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

type Shared = State<Arc<Mutex<OpState>>>;

async fn discovery(State(state): Shared) -> Json<Value> {
    let delay = {
        let mut s = state.lock().unwrap();
        s.discovery_requests += 1;
        s.switches.discovery_delay
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let s = state.lock().unwrap();
    let issuer = s.issuer.clone();
    let padding = "x".repeat(s.switches.discovery_padding.unwrap_or(0));
    Json(json!({
        "x_padding": padding,
        "issuer": s.switches.discovery_issuer.clone().unwrap_or(issuer.clone()),
        "authorization_endpoint": s.switches.authorization_endpoint.clone().unwrap_or(format!("{issuer}/authorize")),
        "token_endpoint": s.switches.token_endpoint.clone().unwrap_or(format!("{issuer}/token")),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": !s.switches.iss_not_promised,
    }))
}

async fn jwks(State(state): Shared) -> Response {
    let mut s = state.lock().unwrap();
    s.jwks_fetches += 1;
    if let Some(status) = s.switches.jwks_status {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    let keys: Vec<Value> = s
        .published
        .iter()
        .map(|(index, with_kid)| s.keys[*index].jwk(*with_kid))
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

/// A key set that only an attacker would point a `jku` at; it is served so that a fetch of it
/// would succeed and be counted.
async fn attacker_jwks(State(state): Shared) -> Json<Value> {
    state.lock().unwrap().attacker_jwks_fetches += 1;
    Json(json!({ "keys": [OpKey::rsa("key-1").jwk(true)] }))
}

fn oauth_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(state): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (delay, gate) = {
        let mut s = state.lock().unwrap();
        s.token_requests += 1;
        (s.switches.token_delay, s.switches.token_gate.clone())
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    let mut s = state.lock().unwrap();
    if let Some((status, body)) = s.switches.token_answer {
        let kind = if body.starts_with('{') {
            "application/json"
        } else {
            "text/html"
        };
        return (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", kind)],
            body,
        )
            .into_response();
    }
    // Client authentication, by the method registered for the client.
    let authenticated = match s.auth_method {
        "client_secret_basic" => headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|raw| raw == format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes()),
        _ => {
            form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    };
    if !authenticated {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error("unsupported_grant_type");
    }
    // Codes are single-use: the first exchange removes it.
    let Some(grant) = form.get("code").and_then(|c| s.codes.remove(c)) else {
        return oauth_error("invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error("invalid_grant");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if B64.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return oauth_error("invalid_grant");
    }
    let id_token = id_token(&s, &grant);
    let access_token = hex::encode(rand::random::<[u8; 16]>());
    s.token_secrets
        .extend([verifier, id_token.clone(), access_token.clone()]);
    s.access_tokens.insert(
        access_token.clone(),
        (grant.person.clone(), grant.spec.clone()),
    );
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "openid email profile",
        "id_token": id_token,
    });
    if s.switches.omit_id_token {
        answer.as_object_mut().unwrap().remove("id_token");
    }
    Json(answer).into_response()
}

fn id_token(s: &OpState, grant: &Grant) -> String {
    let now = chrono::Utc::now().timestamp();
    let person = &grant.person;
    let mut claims = json!({
        "iss": s.issuer,
        "sub": person.sub,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
    });
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    if grant.spec.profile_in_id_token {
        claims["email"] = json!(person.email);
        claims["email_verified"] = json!(person.email_verified);
        claims["given_name"] = json!(person.given_name);
        claims["family_name"] = json!(person.family_name);
    }
    let spec = &grant.spec;
    let key = match &spec.signing {
        Signing::Key(index) => Some(s.keys[*index].clone()),
        Signing::Foreign(key) => Some(key.clone()),
        _ => None,
    };
    let mut header = match (&spec.signing, &key) {
        (Signing::Unsigned, _) => json!({ "alg": "none", "typ": "JWT" }),
        (Signing::HmacWithClientSecret, _) => json!({ "alg": "HS256", "typ": "JWT" }),
        (_, Some(key)) => json!({ "alg": key.alg, "typ": "JWT" }),
        _ => unreachable!(),
    };
    if let (true, Some(key)) = (spec.with_kid, &key) {
        header["kid"] = json!(key.kid);
    }
    (spec.edit)(&mut header, &mut claims);
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let mut signature = match (&spec.signing, &key) {
        (Signing::Unsigned, _) => vec![],
        (Signing::HmacWithClientSecret, _) => {
            let key = PKey::hmac(CLIENT_SECRET.as_bytes()).unwrap();
            let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
            signer.update(input.as_bytes()).unwrap();
            signer.sign_to_vec().unwrap()
        }
        (_, Some(key)) => key.sign(input.as_bytes()),
        _ => unreachable!(),
    };
    if spec.tamper {
        signature[10] ^= 0x01;
    }
    format!("{input}.{}", B64.encode(signature))
}

async fn userinfo(State(state): Shared, headers: HeaderMap) -> Response {
    let s = state.lock().unwrap();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some((person, _)) = s.access_tokens.get(bearer) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    Json(json!({
        "sub": s.switches.userinfo_sub.clone().unwrap_or(person.sub.clone()),
        "email": person.email,
        "email_verified": person.email_verified,
        "given_name": person.given_name,
        "family_name": person.family_name,
    }))
    .into_response()
}

/// The identity document that configures this provider, with SSO JIT on or off.
pub fn oidc_document(op: &TestOp, jit: bool) -> Value {
    json!({
        "login_method": "sso",
        "sso": {
            "protocol": "oidc",
            "oidc": {
                "discovery_url": op.discovery_url(),
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "token_auth_method": "client_secret_basic",
            }
        },
        "provisioning": { "method": if jit { "sso_jit" } else { "manual" } },
    })
}
