//! The credentials users bring from older guides, over real HTTP against the whole
//! simulator: the legacy User Key exchange (`/oauth/token`, account.uipath.com's) and a
//! machine's robot client id/secret at the identity server's token endpoint.

mod common;

use common::{values, Client};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT, DEMO_USER};
use uipath_sim::identity::{MachineConfig, UserKeyConfig, LEGACY_CLIENT_ID, ROBOT_SCOPE};

const KEY: &str = "user-key-3f9c1a";
const MACHINE_ID: &str = "machine-7d2e";
const MACHINE_SECRET: &str = "machine-secret-44b1";

fn config() -> SimConfig {
    let mut c = SimConfig::default();
    c.identity.user_key_token_ttl_secs = 120;
    c.identity.user_keys = vec![UserKeyConfig {
        key: KEY.into(),
        user: DEMO_USER.into(),
        org: DEMO_ORG.into(),
        tenant: DEMO_TENANT.into(),
    }];
    c.identity.machines = vec![MachineConfig {
        client_id: MACHINE_ID.into(),
        client_secret: MACHINE_SECRET.into(),
        org: DEMO_ORG.into(),
    }];
    c
}

async fn exchange(
    c: &Client,
    client_id: &str,
    key: &str,
    tenant: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = c.http.post(c.sim.user_key_url()).json(&json!({
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": key,
    }));
    if let Some(t) = tenant {
        req = req.header("X-UIPATH-TenantName", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(!text.contains(KEY), "the key was echoed: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn a_user_key_gets_a_token_with_the_users_rights_until_it_is_revoked() {
    let c = Client::start(config()).await;
    let (status, body) = exchange(&c, LEGACY_CLIENT_ID, KEY, Some(DEMO_TENANT)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 120);
    assert!(
        body.get("refresh_token").is_none(),
        "the key does not rotate: {body}"
    );
    let token = body["access_token"].as_str().unwrap().to_owned();
    // No OR scopes, yet every Orchestrator list endpoint of the tenant reads.
    for entity in ["Folders", "Users", "AuditLogs"] {
        c.get_ok(entity, &token, None, &[("$top", "1")]).await;
    }
    let folder = c.folders().await.remove(0);
    let jobs = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "1")])
        .await;
    assert_eq!(values(&jobs).len(), 1);

    // The fixed client id and the tenant header are part of the exchange.
    let (status, body) = exchange(&c, "another-client", KEY, Some(DEMO_TENANT)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = exchange(&c, LEGACY_CLIENT_ID, KEY, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let revoked = c
        .control(reqwest::Method::POST, "/_sim/user-keys/revoke", json!({}))
        .await;
    assert_eq!(revoked["revoked"], 1);
    let (status, body) = exchange(&c, LEGACY_CLIENT_ID, KEY, Some(DEMO_TENANT)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Unknown or invalid refresh token."
    );

    let stats = c.stats().await;
    assert_eq!(stats["token_grants"]["user_key"], 1);
    assert_eq!(stats["requests"]["account/oauth-token"]["403"], 1);
}

#[tokio::test]
async fn a_machine_gets_robot_scopes_that_no_list_endpoint_accepts() {
    let c = Client::start(config()).await;
    let resp = c
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", MACHINE_ID),
            ("client_secret", MACHINE_SECRET),
            ("scope", "OR.Jobs.Read OR.Folders.Read"),
        ])
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], ROBOT_SCOPE);
    let token = body["access_token"].as_str().unwrap();
    for entity in ["Folders", "Jobs", "QueueItems", "RobotLogs", "Robots"] {
        let resp = c.get(entity, token, None, &[("$top", "1")]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{entity}");
    }
    let wrong = c
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", MACHINE_ID),
            ("client_secret", "not-it"),
            ("scope", "OR.Jobs.Read"),
        ])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}
