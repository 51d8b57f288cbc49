//! The simulated identity server over real HTTP: every OAuth flow a UiPath client uses
//! (client credentials, authorization code + PKCE, refresh rotation, ROPC), the errors
//! UiPath answers with, revocation, stats, and secret redaction.
//!
//! Each test starts its own server on an ephemeral port, so tests run in parallel.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uipath_sim::auth::{PrincipalKind, TokenRejection};
use uipath_sim::identity::{AppConfig, Identity, IdentityConfig, PatConfig, UserConfig};
use uipath_sim::stats::Stats;

const CC_SECRET: &str = "cc-secret-7f3a9";
const CONF_SECRET: &str = "conf-secret-2b8e1";
const ANA_PASSWORD: &str = "ana-password-5c4d";
const PAT: &str = "pat-token-9d1e6";
const PUBLIC_REDIRECT: &str = "http://localhost:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn config() -> IdentityConfig {
    IdentityConfig {
        apps: vec![
            AppConfig {
                client_id: "cc-app".into(),
                client_secret: Some(CC_SECRET.into()),
                org: "acme".into(),
                app_scopes: scopes(&["OR.Jobs.Read", "OR.Folders.Read", "OR.Queues.Read"]),
                folders: Some(scopes(&["Shared"])),
                ..AppConfig::default()
            },
            AppConfig {
                client_id: "public-app".into(),
                org: "acme".into(),
                user_scopes: scopes(&[
                    "OR.Jobs.Read",
                    "DataService.Data.Read",
                    "DataService.Schema.Read",
                ]),
                redirect_uris: vec![PUBLIC_REDIRECT.into()],
                ..AppConfig::default()
            },
            AppConfig {
                client_id: "conf-app".into(),
                client_secret: Some(CONF_SECRET.into()),
                org: "acme".into(),
                user_scopes: scopes(&["DataService.Data.Read"]),
                redirect_uris: vec!["https://app.example/cb?x=1".into()],
                ..AppConfig::default()
            },
            AppConfig {
                client_id: "globex-app".into(),
                client_secret: Some(CC_SECRET.into()),
                org: "globex".into(),
                app_scopes: scopes(&["OR.Jobs.Read"]),
                ..AppConfig::default()
            },
        ],
        users: vec![
            UserConfig {
                username: "ana".into(),
                password: ANA_PASSWORD.into(),
                org: "acme".into(),
                tenant: "DefaultTenant".into(),
                folders: Some(scopes(&["Shared", "Finance"])),
            },
            UserConfig {
                username: "bob".into(),
                password: "bob-password".into(),
                org: "acme".into(),
                tenant: "Default".into(),
                folders: None,
            },
        ],
        personal_access_tokens: vec![
            PatConfig {
                token: PAT.into(),
                user: "ana".into(),
                org: "acme".into(),
                scopes: scopes(&["OR.Jobs.Read"]),
                expires_in_secs: None,
            },
            PatConfig {
                token: "expired-pat".into(),
                user: "ana".into(),
                org: "acme".into(),
                scopes: scopes(&["OR.Jobs.Read"]),
                expires_in_secs: Some(0),
            },
        ],
        ..IdentityConfig::default()
    }
}

/// A running identity server; the serving task stops when this is dropped.
struct Server {
    id: Arc<Identity>,
    stats: Arc<Stats>,
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(config: IdentityConfig) -> Server {
    let stats = Arc::new(Stats::default());
    let id = Arc::new(Identity::new(config, Arc::clone(&stats)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = id.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("identity server stopped");
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Server {
        id,
        stats,
        base,
        http,
        task,
    }
}

/// A status and a body that is JSON when it parses as JSON, else a string.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
    json: Value,
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            text,
            json,
        }
    }

    async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    async fn token(&self, pairs: &[(&str, &str)]) -> Answer {
        self.post_form("/identity_/connect/token", pairs).await
    }

    async fn client_credentials(&self, client_id: &str, secret: &str, scope: &str) -> Answer {
        self.token(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .await
    }

    /// GETs the authorize endpoint and returns the redirect's query parameters.
    async fn authorize(
        &self,
        client_id: &str,
        redirect: &str,
        scope: &str,
        challenge: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", scope),
            ("state", "st-42"),
        ];
        if let Some(challenge) = challenge {
            query.extend([
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ]);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        let response = self
            .http
            .get(format!("{}/identity_/connect/authorize?{query}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = url::Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert!(
            location
                .as_str()
                .starts_with(redirect.split('?').next().unwrap()),
            "{location}"
        );
        location.query_pairs().into_owned().collect()
    }

    /// Runs authorize + exchange for the public app; returns the token response.
    async fn user_tokens(&self, scope: &str) -> Value {
        let params = self
            .authorize(
                "public-app",
                PUBLIC_REDIRECT,
                scope,
                Some(&challenge(VERIFIER)),
            )
            .await;
        let code = param(&params, "code").expect("a code");
        let answer = self.exchange("public-app", &code, VERIFIER).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json
    }

    async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "public-app"),
            ("refresh_token", refresh_token),
        ])
        .await
    }
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// The decoded payload of a JWT-shaped access token.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn client_credentials_grants_app_scopes_and_expires_on_time() {
    let server = start(IdentityConfig {
        access_token_ttl_secs: 2,
        ..config()
    })
    .await;
    let answer = server
        .client_credentials("cc-app", CC_SECRET, "OR.Jobs.Read OR.Folders.Read")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = &answer.json;
    assert_eq!(body["expires_in"], 2);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "OR.Jobs.Read OR.Folders.Read");
    assert!(
        body.get("refresh_token").is_none(),
        "client_credentials must never return a refresh token"
    );
    let token = str_of(body, "access_token");
    let c = claims(token);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 2);
    assert_eq!(c["client_id"], "cc-app");

    let principal = server.id.verify(token).expect("a fresh token verifies");
    assert_eq!(principal.kind, PrincipalKind::Application);
    assert_eq!(principal.client_id.as_deref(), Some("cc-app"));
    assert_eq!(principal.org.as_deref(), Some("acme"));
    assert_eq!(principal.tenant, None);
    assert_eq!(
        principal.scopes,
        BTreeSet::from(["OR.Jobs.Read".to_owned(), "OR.Folders.Read".to_owned()])
    );
    assert_eq!(principal.folders, Some(vec!["Shared".to_owned()]));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match server.id.verify(token) {
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(_) => panic!("token still valid 10 s after a 2 s lifetime"),
            Err(rejection) => {
                assert_eq!(rejection, TokenRejection::Expired);
                break;
            }
        }
    }
}

#[tokio::test]
async fn client_credentials_errors_match_uipath() {
    let server = start(config()).await;
    let cases: [(&str, &str, &str, StatusCode, &str); 7] = [
        (
            "cc-app",
            "wrong-secret",
            "OR.Jobs.Read",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "nobody",
            CC_SECRET,
            "OR.Jobs.Read",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "public-app",
            "",
            "OR.Jobs.Read",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "cc-app",
            CC_SECRET,
            "OR.Jobs.Read offline_access",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "cc-app",
            CC_SECRET,
            "OR.Jobs.Read DataService.Data.Read",
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "cc-app",
            CC_SECRET,
            "OR.Users.Read",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "cc-app",
            CC_SECRET,
            "",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (client, secret, scope, status, error) in cases {
        let answer = server.client_credentials(client, secret, scope).await;
        assert_eq!(
            (answer.status, str_of(&answer.json, "error")),
            (status, error),
            "{client} {scope:?}"
        );
        assert!(answer.json["error_description"].is_string());
        assert!(
            !answer.text.contains(CC_SECRET),
            "a secret leaked into an error body"
        );
    }
    // The organization in the path must be the app's.
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", "cc-app"),
        ("client_secret", CC_SECRET),
        ("scope", "OR.Jobs.Read"),
    ];
    let answer = server
        .post_form("/globex/identity_/connect/token", &pairs)
        .await;
    assert_eq!(answer.json["error"], "invalid_client");
    let answer = server
        .post_form("/acme/identity_/connect/token", &pairs)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // A JSON body is the classic mistake; missing or unknown grant types are named as such.
    let json_body = json!({"grant_type": "client_credentials", "client_id": "cc-app", "client_secret": CC_SECRET});
    let answer = server
        .send(
            server
                .http
                .post(format!("{}/identity_/connect/token", server.base))
                .json(&json_body),
        )
        .await;
    assert_eq!(
        (answer.status, &answer.json["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );
    let answer = server
        .token(&[("client_id", "cc-app"), ("client_secret", CC_SECRET)])
        .await;
    assert_eq!(answer.json["error"], "unsupported_grant_type");
    let answer = server
        .token(&[
            ("grant_type", "password"),
            ("username", "ana"),
            ("password", ANA_PASSWORD),
        ])
        .await;
    assert_eq!(answer.json["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn or_default_grants_every_application_scope() {
    let server = start(config()).await;
    let answer = server
        .client_credentials("cc-app", CC_SECRET, "OR.Default")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let principal = server
        .id
        .verify(str_of(&answer.json, "access_token"))
        .unwrap();
    let expected: BTreeSet<String> = ["OR.Jobs.Read", "OR.Folders.Read", "OR.Queues.Read"]
        .map(String::from)
        .into();
    assert_eq!(principal.scopes, expected);
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let server = start(config()).await;
    let scope = "openid OR.Jobs.Read DataService.Data.Read offline_access";

    // A wrong verifier fails, and consumes the code.
    let params = server
        .authorize(
            "public-app",
            PUBLIC_REDIRECT,
            scope,
            Some(&challenge(VERIFIER)),
        )
        .await;
    assert_eq!(param(&params, "state").as_deref(), Some("st-42"));
    let code = param(&params, "code").unwrap();
    let wrong = "x".repeat(43);
    assert_eq!(
        server.exchange("public-app", &code, &wrong).await.json["error"],
        "invalid_grant"
    );
    assert_eq!(
        server.exchange("public-app", &code, VERIFIER).await.json["error"],
        "invalid_grant"
    );

    // The right verifier gets user tokens with a refresh token.
    let params = server
        .authorize(
            "public-app",
            PUBLIC_REDIRECT,
            scope,
            Some(&challenge(VERIFIER)),
        )
        .await;
    let code = param(&params, "code").unwrap();
    let answer = server.exchange("public-app", &code, VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["token_type"], "Bearer");
    assert!(answer.json["refresh_token"].is_string());
    let access = str_of(&answer.json, "access_token");
    let principal = server.id.verify(access).unwrap();
    assert_eq!(principal.kind, PrincipalKind::User);
    assert_eq!(
        (principal.user.as_deref(), principal.client_id.as_deref()),
        (Some("ana"), Some("public-app"))
    );
    assert_eq!(
        (principal.org.as_deref(), principal.tenant.as_deref()),
        (Some("acme"), None)
    );
    assert_eq!(
        principal.scopes,
        BTreeSet::from([
            "OR.Jobs.Read".to_owned(),
            "DataService.Data.Read".to_owned()
        ])
    );
    assert_eq!(
        principal.folders,
        Some(vec!["Shared".to_owned(), "Finance".to_owned()])
    );

    // Replaying the code fails and revokes what its first exchange minted.
    let replay = server.exchange("public-app", &code, VERIFIER).await;
    assert_eq!(
        (replay.status, &replay.json["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(
        !replay.text.contains(&code),
        "the code leaked into an error body"
    );
    assert_eq!(
        server.id.verify(access).unwrap_err(),
        TokenRejection::Revoked
    );

    // Without offline_access there is no refresh token.
    let body = server.user_tokens("OR.Jobs.Read").await;
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn authorize_refuses_bad_requests() {
    let server = start(config()).await;
    // A public app must send a challenge; unknown scopes are refused; errors keep the state.
    let params = server
        .authorize("public-app", PUBLIC_REDIRECT, "OR.Jobs.Read", None)
        .await;
    assert_eq!(param(&params, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&params, "state").as_deref(), Some("st-42"));
    let params = server
        .authorize(
            "public-app",
            PUBLIC_REDIRECT,
            "OR.Users.Write",
            Some(&challenge(VERIFIER)),
        )
        .await;
    assert_eq!(param(&params, "error").as_deref(), Some("invalid_scope"));

    // An unregistered redirect URI gets a page, never a redirect.
    let url = format!(
        "{}/identity_/connect/authorize?response_type=code&client_id=public-app&redirect_uri=https%3A%2F%2Fevil.example%2F&scope=OR.Jobs.Read",
        server.base
    );
    let answer = server.send(server.http.get(url)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.content_type.starts_with("text/html"));

    // A confidential app may skip PKCE but must authenticate at the exchange; the
    // registered redirect's own query survives.
    let redirect = "https://app.example/cb?x=1";
    let params = server
        .authorize("conf-app", redirect, "DataService.Data.Read", None)
        .await;
    assert_eq!(param(&params, "x").as_deref(), Some("1"));
    let code = param(&params, "code").unwrap();
    // A failed client authentication does not consume the code.
    for (secret, status) in [
        ("", StatusCode::UNAUTHORIZED),
        (CONF_SECRET, StatusCode::OK),
    ] {
        let pairs = [
            ("grant_type", "authorization_code"),
            ("client_id", "conf-app"),
            ("client_secret", secret),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        let answer = server.token(&pairs).await;
        assert_eq!(answer.status, status, "{}", answer.text);
    }

    // The redirect URI of the exchange must be the one of the request.
    let params = server
        .authorize(
            "public-app",
            PUBLIC_REDIRECT,
            "OR.Jobs.Read",
            Some(&challenge(VERIFIER)),
        )
        .await;
    let code = param(&params, "code").unwrap();
    let answer = server
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", &code),
            ("redirect_uri", "http://localhost:8765/other"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(answer.json["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let server = start(config()).await;
    let first = server.user_tokens("OR.Jobs.Read offline_access").await;
    let rt1 = str_of(&first, "refresh_token").to_owned();

    let second = server.refresh(&rt1).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let rt2 = str_of(&second.json, "refresh_token").to_owned();
    let at2 = str_of(&second.json, "access_token").to_owned();
    assert_ne!(rt1, rt2);

    // The new refresh token works (and rotates again); scope may narrow but not widen.
    let widened = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "public-app"),
            ("refresh_token", &rt2),
            ("scope", "OR.Jobs.Read DataService.Data.Read"),
        ])
        .await;
    assert_eq!(widened.json["error"], "invalid_scope");
    let third = server.refresh(&rt2).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.text);
    let rt3 = str_of(&third.json, "refresh_token").to_owned();
    let at3 = str_of(&third.json, "access_token").to_owned();
    assert!(server.id.verify(&at3).is_ok());

    // Replaying a spent token fails and takes the whole family down with it.
    let replay = server.refresh(&rt1).await;
    assert_eq!(
        (replay.status, &replay.json["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(!replay.text.contains(&rt1));
    assert_eq!(server.refresh(&rt3).await.json["error"], "invalid_grant");
    assert_eq!(server.id.verify(&at2).unwrap_err(), TokenRejection::Revoked);
    assert_eq!(server.id.verify(&at3).unwrap_err(), TokenRejection::Revoked);
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client() {
    let server = start(config()).await;
    let tokens = server.user_tokens("OR.Jobs.Read offline_access").await;
    let rt = str_of(&tokens, "refresh_token");
    let stolen = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "conf-app"),
            ("client_secret", CONF_SECRET),
            ("refresh_token", rt),
        ])
        .await;
    assert_eq!(stolen.json["error"], "invalid_grant");
    // Another client's attempt neither spends the token nor revokes its family.
    assert_eq!(server.refresh(rt).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refresh_with_one_token_has_exactly_one_winner() {
    let server = Arc::new(start(config()).await);
    let tokens = server.user_tokens("OR.Jobs.Read offline_access").await;
    let rt = str_of(&tokens, "refresh_token").to_owned();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (server, barrier, rt) = (Arc::clone(&server), Arc::clone(&barrier), rt.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let answer = server.refresh(&rt).await;
                (answer.status, answer.json)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        if status == StatusCode::OK {
            winners.push(body);
        } else {
            assert_eq!(
                (status, &body["error"]),
                (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
            );
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent refresh may succeed"
    );
    // The losers' replays revoked the family, the winner's new tokens included.
    assert_eq!(
        server
            .refresh(str_of(&winners[0], "refresh_token"))
            .await
            .json["error"],
        "invalid_grant"
    );
    assert_eq!(
        server
            .id
            .verify(str_of(&winners[0], "access_token"))
            .unwrap_err(),
        TokenRejection::Revoked
    );
}

#[tokio::test]
async fn ropc_answers_in_abp_envelopes() {
    let server = start(IdentityConfig {
        standalone: true,
        ..config()
    })
    .await;
    let login = json!({"TenancyName": "DefaultTenant", "UsernameOrEmailAddress": "ana", "Password": ANA_PASSWORD});
    let answer = server
        .send(
            server
                .http
                .post(format!("{}/api/Account/Authenticate", server.base))
                .json(&login),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["success"], true);
    assert_eq!(
        (&answer.json["targetUrl"], &answer.json["error"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (&answer.json["unAuthorizedRequest"], &answer.json["__abp"]),
        (&json!(false), &json!(true))
    );
    let token = str_of(&answer.json, "result");
    let c = claims(token);
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        1800
    );
    let principal = server.id.verify(token).unwrap();
    assert_eq!(
        (principal.kind, principal.client_id.as_deref()),
        (PrincipalKind::User, None)
    );
    assert_eq!(principal.tenant.as_deref(), Some("DefaultTenant"));
    assert_eq!(principal.scopes, BTreeSet::from(["*".to_owned()]));

    // Automation Suite's path, lower case, with the tenant from the URL.
    let login = json!({"usernameOrEmailAddress": "bob", "password": "bob-password"});
    let url = format!("{}/acme/Default/api/account/authenticate", server.base);
    let answer = server.send(server.http.post(url).json(&login)).await;
    assert_eq!(answer.json["success"], true, "{}", answer.text);

    let bad = json!({"TenancyName": "DefaultTenant", "UsernameOrEmailAddress": "ana", "Password": "nope"});
    let answer = server
        .send(
            server
                .http
                .post(format!("{}/api/Account/Authenticate", server.base))
                .json(&bad),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (&answer.json["success"], &answer.json["result"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(answer.json["error"]["code"], 0);
    assert_eq!(answer.json["error"]["message"], "Login failed!");
    assert_eq!(
        answer.json["error"]["details"],
        "Invalid user name or password"
    );
}

#[tokio::test]
async fn identity_without_underscore_is_html_in_the_cloud_and_the_token_endpoint_standalone() {
    let cloud = start(config()).await;
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", "cc-app"),
        ("client_secret", CC_SECRET),
        ("scope", "OR.Jobs.Read"),
    ];
    let answer = cloud.post_form("/identity/connect/token", &pairs).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.content_type.starts_with("text/html"),
        "{}",
        answer.content_type
    );
    assert!(answer.text.contains("<html"));
    let answer = cloud
        .send(
            cloud
                .http
                .get(format!("{}/identity/connect/token", cloud.base)),
        )
        .await;
    assert!(answer.content_type.starts_with("text/html"));

    let standalone = start(IdentityConfig {
        standalone: true,
        ..config()
    })
    .await;
    let answer = standalone
        .post_form("/identity/connect/token", &pairs)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.json["access_token"].is_string());
}

#[tokio::test]
async fn revocation_reaches_verify() {
    let server = start(config()).await;
    let mut cc = Vec::new();
    for _ in 0..2 {
        cc.push(
            str_of(
                &server
                    .client_credentials("cc-app", CC_SECRET, "OR.Jobs.Read")
                    .await
                    .json,
                "access_token",
            )
            .to_owned(),
        );
    }
    let user = server.user_tokens("OR.Jobs.Read offline_access").await;
    let user_at = str_of(&user, "access_token");

    assert_eq!(server.id.revoke_access_tokens(Some("cc-app")), 2);
    for token in &cc {
        assert_eq!(
            server.id.verify(token).unwrap_err(),
            TokenRejection::Revoked
        );
    }
    assert!(
        server.id.verify(user_at).is_ok(),
        "another client's token is untouched"
    );
    assert_eq!(server.id.revoke_access_tokens(None), 1);
    assert_eq!(
        server.id.verify(user_at).unwrap_err(),
        TokenRejection::Revoked
    );

    assert_eq!(server.id.revoke_refresh_families(Some("cc-app")), 0);
    assert_eq!(server.id.revoke_refresh_families(None), 1);
    assert_eq!(
        server.refresh(str_of(&user, "refresh_token")).await.json["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn verify_tells_garbage_expiry_and_pats_apart() {
    let server = start(config()).await;
    assert_eq!(server.id.verify("").unwrap_err(), TokenRejection::Missing);
    assert_eq!(
        server.id.verify("not-a-token").unwrap_err(),
        TokenRejection::Invalid
    );
    assert_eq!(
        server.id.verify("a.b.c").unwrap_err(),
        TokenRejection::Invalid
    );
    let pat = server.id.verify(PAT).unwrap();
    assert_eq!(
        (pat.kind, pat.user.as_deref()),
        (PrincipalKind::User, Some("ana"))
    );
    assert_eq!(pat.scopes, BTreeSet::from(["OR.Jobs.Read".to_owned()]));
    assert_eq!(
        server.id.verify("expired-pat").unwrap_err(),
        TokenRejection::Expired
    );
    // A token from another server instance (another signing key) is not ours.
    let other = start(config()).await;
    let foreign = other
        .client_credentials("cc-app", CC_SECRET, "OR.Jobs.Read")
        .await;
    assert_eq!(
        server
            .id
            .verify(str_of(&foreign.json, "access_token"))
            .unwrap_err(),
        TokenRejection::Invalid
    );
}

#[tokio::test]
async fn stats_count_grants_and_errors() {
    let server = start(IdentityConfig {
        standalone: true,
        ..config()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            server
                .client_credentials("cc-app", CC_SECRET, "OR.Jobs.Read")
                .await
                .status,
            StatusCode::OK
        );
    }
    let tokens = server.user_tokens("OR.Jobs.Read offline_access").await;
    assert_eq!(
        server
            .refresh(str_of(&tokens, "refresh_token"))
            .await
            .status,
        StatusCode::OK
    );
    let login = json!({"TenancyName": "DefaultTenant", "UsernameOrEmailAddress": "ana", "Password": ANA_PASSWORD});
    server
        .send(
            server
                .http
                .post(format!("{}/api/Account/Authenticate", server.base))
                .json(&login),
        )
        .await;
    server
        .client_credentials("cc-app", "wrong", "OR.Jobs.Read")
        .await;
    server
        .client_credentials("cc-app", CC_SECRET, "offline_access")
        .await;
    server
        .client_credentials("cc-app", CC_SECRET, "DataService.Data.Read")
        .await;

    let snapshot = server.stats.snapshot();
    let grants: Vec<(&str, u64)> = snapshot
        .token_grants
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        grants,
        [
            ("authorization_code", 1),
            ("client_credentials", 2),
            ("password", 1),
            ("refresh_token", 1)
        ]
    );
    let errors: Vec<(&str, u64)> = snapshot
        .token_errors
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        errors,
        [
            ("invalid_client", 1),
            ("invalid_scope", 1),
            ("unauthorized_client", 1)
        ]
    );
    // Every response is counted by endpoint and status too.
    let requests = |endpoint: &str| snapshot.requests.get(endpoint).cloned().unwrap_or_default();
    assert_eq!(
        requests("identity/token"),
        [(200, 4), (400, 2), (401, 1)].into()
    );
    assert_eq!(requests("identity/authorize"), [(302, 1)].into());
    assert_eq!(requests("account/authenticate"), [(200, 1)].into());
    assert_eq!(snapshot.unauthorized, 1);
}

#[tokio::test]
async fn debug_output_redacts_every_secret() {
    let config = config();
    let server = start(config.clone()).await;
    for text in [
        format!("{config:?}"),
        format!("{:?}", server.id),
        format!("{:#?}", config.apps),
    ] {
        for secret in [
            CC_SECRET,
            CONF_SECRET,
            ANA_PASSWORD,
            "bob-password",
            PAT,
            "expired-pat",
        ] {
            assert!(!text.contains(secret), "Debug output leaks {secret}");
        }
        assert!(text.contains("<redacted>"));
        assert!(text.contains("cc-app"), "non-secret fields stay visible");
    }
}
