//! The demo data set's documented contract, end to end through the whole simulator router:
//! the public `fleet-login` app logs `demo-user` in with authorization code + PKCE, the user
//! token reads Data Service, a refresh rotates the token, and the confidential `fleet-demo`
//! app is refused Data Service scopes exactly as UiPath refuses them.

mod common;

use base64::Engine as _;
use common::Client;
use serde_json::Value;
use sha2::Digest;
use uipath_sim::config::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOGIN_CLIENT_ID};

/// The registered redirect is `http://127.0.0.1:8765/callback`; a CLI login listens on a
/// port the OS picks, which loopback redirects allow (RFC 8252 §7.3).
const REDIRECT: &str = "http://127.0.0.1:49731/callback";

#[tokio::test]
async fn login_with_pkce_then_read_data_service_and_rotate() {
    let c = Client::demo().await;
    let verifier = "a-long-random-verifier-string-for-the-demo-login-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let resp = c
        .http
        .get(format!("{}/identity_/connect/authorize", c.sim.base_url()))
        .query(&[
            ("response_type", "code"),
            ("client_id", DEMO_LOGIN_CLIENT_ID),
            ("redirect_uri", REDIRECT),
            (
                "scope",
                "DataService.Data.Read DataService.Schema.Read offline_access",
            ),
            ("state", "xyz"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "xyz");
    let code = params["code"].clone();

    let resp = c
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_LOGIN_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let read = format!(
        "{}/demo-org/DefaultTenant/dataservice_/api/EntityService/Invoice/read",
        c.sim.base_url()
    );
    let resp = c
        .http
        .get(&read)
        .bearer_auth(access)
        .query(&[("limit", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Value"].as_array().unwrap().len(), 10);
    assert!(body["TotalRecordCount"].as_u64().unwrap() > 10);

    // rotation: the new refresh token works, the spent one is refused and kills the family
    let refresh_with = |rt: String| {
        let c = &c;
        async move {
            c.token_request(&[
                ("grant_type", "refresh_token"),
                ("client_id", DEMO_LOGIN_CLIENT_ID),
                ("refresh_token", &rt),
            ])
            .await
        }
    };
    let resp = refresh_with(refresh.clone()).await;
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let newer = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(newer, refresh);
    let resp = refresh_with(refresh).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let resp = refresh_with(newer).await;
    assert_eq!(resp.status(), 400, "the family is revoked after reuse");

    let stats = c.stats().await;
    assert_eq!(stats["token_grants"]["authorization_code"], 1);
    assert_eq!(stats["token_grants"]["refresh_token"], 1);
    assert_eq!(stats["token_errors"]["invalid_grant"], 2);
}

#[tokio::test]
async fn client_credentials_cannot_reach_data_service() {
    let c = Client::demo().await;
    let resp = c
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "DataService.Data.Read"),
        ])
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    // and an application token is refused by Data Service itself
    let app = c.all_scopes().await;
    let resp = c
        .http
        .get(format!(
            "{}/demo-org/DefaultTenant/dataservice_/api/EntityService/Invoice/read",
            c.sim.base_url()
        ))
        .bearer_auth(app)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn every_orchestrator_dataset_answers_the_demo_app() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let folder = c.folders().await.remove(0);
    for name in [
        "Jobs",
        "QueueItems",
        "QueueItemEvents",
        "QueueDefinitions",
        "Releases",
        "Robots",
        "Machines",
        "Sessions",
        "Folders",
        "Users",
        "AuditLogs",
        "RobotLogs",
        "ProcessSchedules",
    ] {
        let body = c
            .get_ok(
                name,
                &token,
                Some(&folder),
                &[("$top", "5"), ("$count", "true")],
            )
            .await;
        assert!(
            body["@odata.count"].as_u64().unwrap() > 0,
            "{name} is empty in the demo data set"
        );
    }
}
