//! Orchestrator OData as a client sees it over HTTP: envelope, query options, keyset paging
//! that stays stable while records are inserted, folder headers, scopes, 401s, the keyed
//! read, the standalone paths, and tenant isolation.

mod common;

use common::{values, Client};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_PASSWORD, DEMO_TENANT, DEMO_USER};

/// The folder with the most jobs, and its job count.
async fn busiest_folder(c: &Client) -> (String, u64) {
    let t = c
        .control(reqwest::Method::GET, "/_sim/tenants", Value::Null)
        .await;
    let counts = t[0]["records"]["Jobs"].as_array().unwrap();
    let (i, n) = counts
        .iter()
        .map(|v| v.as_u64().unwrap())
        .enumerate()
        .max_by_key(|(_, n)| *n)
        .unwrap();
    let name = t[0]["folders"][i]["FullyQualifiedName"]
        .as_str()
        .unwrap()
        .to_owned();
    (name, n)
}

#[tokio::test]
async fn envelope_count_top_skip_select_and_orderby() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let (folder, total) = busiest_folder(&c).await;
    assert!(total > 100, "the demo folder should hold jobs, got {total}");

    let body = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[("$top", "5"), ("$count", "true")],
        )
        .await;
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/odata/$metadata#Jobs"));
    assert_eq!(body["@odata.count"], total);
    assert_eq!(values(&body).len(), 5);

    // no count unless asked, as in the cloud since June 2024
    let body = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "1")])
        .await;
    assert!(body.get("@odata.count").is_none());

    // $skip continues where $top stopped; default order is by Id
    let first = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "10")])
        .await;
    let second = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[("$top", "5"), ("$skip", "5")],
        )
        .await;
    assert_eq!(values(&first)[5..], values(&second)[..]);
    let ids: Vec<i64> = values(&first)
        .iter()
        .map(|j| j["Id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // $select returns exactly the chosen fields
    let body = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[("$top", "3"), ("$select", "Id,State")],
        )
        .await;
    for job in values(&body) {
        let keys: BTreeSet<&str> = job
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, BTreeSet::from(["Id", "State"]));
    }

    // $orderby desc on two keys
    let body = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[("$top", "50"), ("$orderby", "CreationTime desc,Id desc")],
        )
        .await;
    let keys: Vec<(String, i64)> = values(&body)
        .iter()
        .map(|j| {
            (
                j["CreationTime"].as_str().unwrap().to_owned(),
                j["Id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] >= w[1]),
        "not descending: {keys:?}"
    );
}

#[tokio::test]
async fn top_limits_match_the_cloud() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let (folder, _) = busiest_folder(&c).await;
    let resp = c
        .get("Jobs", &token, Some(&folder), &[("$top", "1001")])
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("1000"), "{body}");
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[("$top", "1000")])
            .await
            .status(),
        200
    );
    let resp = c
        .get("QueueItems", &token, Some(&folder), &[("$top", "101")])
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        c.get("QueueItems", &token, Some(&folder), &[("$top", "100")])
            .await
            .status(),
        200
    );
    // a malformed filter is a 400 with a message, not a crash
    let resp = c
        .get(
            "Jobs",
            &token,
            Some(&folder),
            &[("$filter", "CreationTime ge")],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(!body["message"].as_str().unwrap().is_empty());
}

/// Reads a time slice in keyset order (time, then Id), the way the fleet does.
async fn keyset_read(c: &Client, token: &str, folder: &str, from: &str, to: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<(String, i64)> = None;
    loop {
        let mut filter = format!("CreationTime ge {from} and CreationTime lt {to}");
        if let Some((t, id)) = &cursor {
            filter = format!(
                "{filter} and (CreationTime gt {t} or (CreationTime eq {t} and Id gt {id}))"
            );
        }
        let body = c
            .get_ok(
                "Jobs",
                token,
                Some(folder),
                &[
                    ("$filter", filter.as_str()),
                    ("$orderby", "CreationTime asc,Id asc"),
                    ("$top", "100"),
                ],
            )
            .await;
        let page = values(&body).clone();
        if let Some(last) = page.last() {
            cursor = Some((
                last["CreationTime"].as_str().unwrap().to_owned(),
                last["Id"].as_i64().unwrap(),
            ));
        }
        let done = page.len() < 100;
        out.extend(page);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn keyset_paging_is_exact_and_stable_under_inserts() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let (folder, _) = busiest_folder(&c).await;
    let first = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[("$top", "1"), ("$orderby", "CreationTime asc")],
        )
        .await;
    let start = values(&first)[0]["CreationTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let from = format!("{}T00:00:00Z", &start[..10]);
    // a 20-day slice
    let to_day = chrono::NaiveDate::parse_from_str(&start[..10], "%Y-%m-%d").unwrap()
        + chrono::Days::new(20);
    let to = format!("{to_day}T00:00:00Z");

    let expected = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[
                (
                    "$filter",
                    format!("CreationTime ge {from} and CreationTime lt {to}").as_str(),
                ),
                ("$count", "true"),
                ("$top", "0"),
            ],
        )
        .await["@odata.count"]
        .as_u64()
        .unwrap();
    assert!(expected > 150, "want several pages, got {expected}");

    let all = keyset_read(&c, &token, &folder, &from, &to).await;
    assert_eq!(all.len() as u64, expected);
    let ids: BTreeSet<i64> = all.iter().map(|j| j["Id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "no duplicates");

    // Now page with $skip while inserting a record *before* the reader's position after
    // its first page: offset paging repeats a record, keyset paging does not.
    let page1 = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[
                (
                    "$filter",
                    format!("CreationTime ge {from} and CreationTime lt {to}").as_str(),
                ),
                ("$orderby", "CreationTime asc,Id asc"),
                ("$top", "100"),
            ],
        )
        .await;
    let early = values(&page1)[10]["CreationTime"]
        .as_str()
        .unwrap()
        .to_owned();
    c.control(
        reqwest::Method::POST,
        &format!("/_sim/data/{DEMO_ORG}/{DEMO_TENANT}/Jobs/insert"),
        json!({ "folder": folder, "fields": { "CreationTime": early } }),
    )
    .await;
    let page2 = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[
                (
                    "$filter",
                    format!("CreationTime ge {from} and CreationTime lt {to}").as_str(),
                ),
                ("$orderby", "CreationTime asc,Id asc"),
                ("$top", "100"),
                ("$skip", "100"),
            ],
        )
        .await;
    assert_eq!(
        values(&page1).last(),
        values(&page2).first(),
        "offset paging shifts by the inserted record"
    );
    // the keyset reader sees every original record once, plus the insert exactly once
    let again = keyset_read(&c, &token, &folder, &from, &to).await;
    assert_eq!(again.len(), all.len() + 1);
    let again_ids: BTreeSet<i64> = again.iter().map(|j| j["Id"].as_i64().unwrap()).collect();
    assert_eq!(again_ids.len(), again.len());
    assert!(ids.is_subset(&again_ids));
}

#[tokio::test]
async fn updates_move_last_modification_time_for_incremental_reads() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let (folder, _) = busiest_folder(&c).await;
    let body = c
        .get_ok("Jobs", &token, Some(&folder), &[("$top", "1")])
        .await;
    let id = values(&body)[0]["Id"].as_i64().unwrap();
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let changed = c
        .control(
            reqwest::Method::POST,
            &format!("/_sim/data/{DEMO_ORG}/{DEMO_TENANT}/Jobs/update"),
            json!({ "folder": folder, "id": id, "fields": { "State": "Faulted" } }),
        )
        .await;
    assert_eq!(changed["State"], "Faulted");
    let since = before.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let body = c
        .get_ok(
            "Jobs",
            &token,
            Some(&folder),
            &[
                (
                    "$filter",
                    format!("LastModificationTime ge {since}").as_str(),
                ),
                ("$orderby", "LastModificationTime asc,Id asc"),
            ],
        )
        .await;
    let got: Vec<i64> = values(&body)
        .iter()
        .map(|j| j["Id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![id]);
    assert_eq!(values(&body)[0]["State"], "Faulted");
    // the keyed read sees the new version too
    let resp = c
        .http
        .get(c.odata_url(&format!("Jobs({id})")))
        .bearer_auth(&token)
        .header("X-UIPATH-FolderPath", &folder)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let job: Value = resp.json().await.unwrap();
    assert_eq!(job["Id"], id);
    assert_eq!(job["State"], "Faulted");
}

#[tokio::test]
async fn folder_headers_are_required_and_checked() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let t = c
        .control(reqwest::Method::GET, "/_sim/tenants", Value::Null)
        .await;
    let f = &t[0]["folders"][0];
    let path = f["FullyQualifiedName"].as_str().unwrap();

    let resp = c.get("Jobs", &token, None, &[("$top", "1")]).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorCode"], 1101);
    assert_eq!(
        body["message"],
        "An organization unit is required for this action."
    );

    let resp = c
        .get("Jobs", &token, Some("No/Such/Folder"), &[("$top", "1")])
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorCode"], 1100);

    // the four header forms address the same folder
    let by_path = c.get_ok("Jobs", &token, Some(path), &[("$top", "3")]).await;
    let encoded = {
        use base64::Engine as _;
        let bytes: Vec<u8> = path.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    for (name, value) in [
        ("X-UIPATH-OrganizationUnitId", f["Id"].to_string()),
        ("X-UIPATH-FolderKey", f["Key"].as_str().unwrap().to_owned()),
        ("X-UIPATH-FolderPath-Encoded", encoded),
    ] {
        let resp = c
            .http
            .get(c.odata_url("Jobs"))
            .bearer_auth(&token)
            .header(name, value)
            .query(&[("$top", "3")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["value"],
            by_path["value"],
            "{name}"
        );
    }
    // tenant-level entities need no folder
    c.get_ok("AuditLogs", &token, None, &[("$top", "1")]).await;
    c.get_ok("Folders", &token, None, &[("$top", "1")]).await;
}

#[tokio::test]
async fn folder_permissions_and_scopes_are_enforced() {
    let mut config = SimConfig::default();
    let mut restricted = config.identity.apps[0].clone();
    restricted.client_id = "restricted".into();
    restricted.client_secret = Some("restricted-secret".into());
    restricted.app_scopes = vec!["OR.Jobs.Read".into(), "OR.Folders.Read".into()];
    let c0 = Client::demo().await;
    let folders = c0.folders().await;
    restricted.folders = Some(vec![folders[0].clone()]);
    config.identity.apps.push(restricted);
    let c = Client::start(config).await;
    let token = c
        .token_for("restricted", "restricted-secret", "OR.Jobs.Read")
        .await;

    c.get_ok("Jobs", &token, Some(&folders[0]), &[("$top", "1")])
        .await;
    let resp = c
        .get("Jobs", &token, Some(&folders[1]), &[("$top", "1")])
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["errorCode"], 1100);

    // a token without OR.Queues gets 403 on QueueItems
    let resp = c
        .get("QueueItems", &token, Some(&folders[0]), &[("$top", "1")])
        .await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errorMessage"].as_str().unwrap().contains("OR.Queues"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_missing_expired_and_revoked_tokens_get_401() {
    let mut config = SimConfig::default();
    config.identity.access_token_ttl_secs = 1;
    let c = Client::start(config).await;
    let (folder, _) = busiest_folder(&c).await;
    let resp = c
        .http
        .get(c.odata_url("Jobs"))
        .header("X-UIPATH-FolderPath", &folder)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        c.get("Jobs", "garbage", Some(&folder), &[]).await.status(),
        401
    );

    let token = c.all_scopes().await;
    c.get_ok("Jobs", &token, Some(&folder), &[("$top", "1")])
        .await;
    let revoked = c
        .control(reqwest::Method::POST, "/_sim/tokens/revoke", json!({}))
        .await;
    assert!(revoked["revoked"].as_u64().unwrap() >= 1);
    assert_eq!(
        c.get("Jobs", &token, Some(&folder), &[]).await.status(),
        401
    );

    let token = c.all_scopes().await;
    c.get_ok("Jobs", &token, Some(&folder), &[("$top", "1")])
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = c
            .get("Jobs", &token, Some(&folder), &[("$top", "1")])
            .await
            .status();
        if status == 401 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "token never expired");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let stats = c.stats().await;
    assert!(stats["unauthorized"].as_u64().unwrap() >= 4);
}

#[tokio::test]
async fn tokens_are_bound_to_their_organization() {
    let mut config = SimConfig::default();
    config.orgs.push(uipath_sim::config::OrgConfig {
        name: "other-org".into(),
        tenants: vec![uipath_sim::config::TenantConfig {
            name: "Prod".into(),
            data: None,
        }],
    });
    let c = Client::start(config).await;
    let token = c.all_scopes().await;
    let url = format!(
        "{}/odata/AuditLogs",
        c.sim.orchestrator_url("other-org", "Prod")
    );
    let resp = c.http.get(url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let url = format!(
        "{}/odata/AuditLogs",
        c.sim.orchestrator_url("no-org", "Prod")
    );
    let resp = c.http.get(url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn standalone_ropc_token_reads_the_plain_odata_path() {
    let c = Client::demo().await;
    let (folder, _) = busiest_folder(&c).await;
    let resp = c
        .http
        .post(format!("{}/api/Account/Authenticate", c.sim.base_url()))
        .json(&json!({
            "TenancyName": DEMO_TENANT,
            "UsernameOrEmailAddress": DEMO_USER,
            "Password": DEMO_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], true);
    let token = body["result"].as_str().unwrap();
    let resp = c
        .http
        .get(format!("{}/odata/Jobs", c.sim.base_url()))
        .bearer_auth(token)
        .header("X-UIPATH-FolderPath", &folder)
        .query(&[("$top", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(values(&resp.json::<Value>().await.unwrap()).len(), 2);
    let stats = c.stats().await;
    assert_eq!(stats["token_grants"]["password"], 1);
}
