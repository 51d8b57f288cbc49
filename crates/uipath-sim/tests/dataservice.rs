//! The simulated Data Service over real HTTP: the router runs on an ephemeral port and is
//! driven with reqwest, as an extractor would drive the real service. Expected answers are
//! computed on the client side from a full `read` of the entity, so every query result is
//! checked against an independent evaluation.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use uipath_sim::auth::{Principal, PrincipalKind, TokenRejection};
use uipath_sim::dataservice::{router, user_id, DataService, DataServiceConfig, Verifier};
use uipath_sim::stats::Stats;

const ALL_SCOPES: &[&str] = &[
    "DataService.Data.Read",
    "DataService.Data.Write",
    "DataService.Schema.Read",
];

fn principal(kind: PrincipalKind, org: &str, scopes: &[&str]) -> Principal {
    Principal {
        kind,
        client_id: Some("extractor".into()),
        user: (kind == PrincipalKind::User).then(|| "alice@acme.test".into()),
        org: Some(org.into()),
        tenant: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        folders: None,
    }
}

/// Tokens the test verifier knows; anything else is not a token it issued.
fn verifier() -> Verifier {
    Arc::new(|token: &str| match token {
        "rw" => Ok(principal(PrincipalKind::User, "acme", ALL_SCOPES)),
        "ro" => Ok(principal(
            PrincipalKind::User,
            "ACME",
            &["DataService.Data.Read"],
        )),
        "schema-only" => Ok(principal(
            PrincipalKind::User,
            "acme",
            &["DataService.Schema.Read"],
        )),
        "app" => Ok(principal(PrincipalKind::Application, "acme", ALL_SCOPES)),
        "foreign" => Ok(principal(PrincipalKind::User, "globex", ALL_SCOPES)),
        "expired" => Err(TokenRejection::Expired),
        _ => Err(TokenRejection::Invalid),
    })
}

/// A running simulator; the server task is aborted when this is dropped.
struct Sim {
    base: String,
    client: reqwest::Client,
    stats: Arc<Stats>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start() -> Sim {
    let config = DataServiceConfig::default();
    let mut tenants = HashMap::new();
    tenants.insert(
        ("Acme".to_string(), "Prod".to_string()),
        Arc::new(DataService::new(&config, "Acme", "Prod")),
    );
    tenants.insert(
        ("Acme".to_string(), "Dev".to_string()),
        Arc::new(DataService::new(&config, "Acme", "Dev")),
    );
    let stats = Arc::new(Stats::default());
    let app = router(tenants, verifier(), stats.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the simulator serves");
    });
    Sim {
        base,
        client: reqwest::Client::new(),
        stats,
        server,
    }
}

impl Sim {
    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/Acme/Prod/dataservice_/api/{path}", self.base)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.expect("the simulator answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON body")
        };
        (status, body)
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.url(path)), token).await
    }

    async fn post(&self, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
        self.send(self.client.post(self.url(path)).json(&body), token)
            .await
    }

    /// Every record of an entity through `read`, asserting the page contract on the way.
    async fn read_all(&self, entity: &str, level: u8) -> Vec<Value> {
        let mut records = Vec::new();
        loop {
            let path = format!(
                "EntityService/{entity}/read?start={}&limit=1000&expansionLevel={level}",
                records.len()
            );
            let (status, page) = self.get(Some("ro"), &path).await;
            assert_eq!(status, 200, "{page}");
            let value = page["Value"].as_array().expect("a Value array").clone();
            if value.is_empty() {
                assert_eq!(
                    page["TotalRecordCount"].as_u64(),
                    Some(records.len() as u64)
                );
                return records;
            }
            records.extend(value);
        }
    }

    /// Every record matching a query body, paging with `start`/`limit`.
    async fn query_all(&self, entity: &str, body: &Value, limit: u64) -> Vec<Value> {
        let mut records = Vec::new();
        loop {
            let mut body = body.clone();
            body["start"] = json!(records.len());
            body["limit"] = json!(limit);
            let (status, page) = self
                .post(
                    Some("ro"),
                    &format!("EntityService/{entity}/query?expansionLevel=1"),
                    body,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            let value = page["Value"].as_array().unwrap().clone();
            let done = (value.len() as u64) < limit;
            records.extend(value);
            if done {
                assert_eq!(
                    page["TotalRecordCount"].as_u64(),
                    Some(records.len() as u64)
                );
                return records;
            }
        }
    }
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["Id"].as_str().expect("an Id").to_string())
        .collect()
}

fn filter(field: &str, op: &str, value: Value) -> Value {
    json!({"fieldName": field, "operator": op, "value": value})
}

#[tokio::test]
async fn read_pages_cover_every_record_exactly_once_in_id_order() {
    let sim = start().await;
    let records = sim.read_all("Invoice", 2).await;
    let all_ids = ids(&records);
    assert_eq!(all_ids.len(), 5_000);
    assert!(
        all_ids.windows(2).all(|w| w[0] < w[1]),
        "strictly ascending Ids: no duplicates, stable order"
    );
    for record in &records {
        for field in [
            "Id",
            "CreateTime",
            "UpdateTime",
            "CreatedBy",
            "UpdatedBy",
            "InvoiceNumber",
            "Amount",
        ] {
            assert!(!record[field].is_null(), "{field} missing in {record}");
        }
        assert!(record["UpdateTime"].as_str() >= record["CreateTime"].as_str());
    }
    let snapshot = sim.stats.snapshot();
    assert_eq!(snapshot.records_served, 5_000);
    assert_eq!(snapshot.requests["dataservice/read"][&200], 6);

    // The datafabric_ prefix serves the same data; entities match in any letter case.
    let (status, page) = sim
        .get(
            Some("ro"),
            "/acme/PROD/datafabric_/api/EntityService/invoice/read?limit=3",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(page["Value"].as_array().unwrap()), all_ids[..3]);
    assert_eq!(page["TotalRecordCount"], 5_000);
}

#[tokio::test]
async fn paging_parameters_are_validated() {
    let sim = start().await;
    let (status, body) = sim
        .get(Some("ro"), "EntityService/Customer/read?limit=1001")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    for bad in [
        "limit=-1",
        "start=-5",
        "start=abc",
        "expansionLevel=0",
        "expansionLevel=4",
    ] {
        let (status, body) = sim
            .get(Some("ro"), &format!("EntityService/Customer/read?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, page) = sim.get(Some("ro"), "EntityService/Customer/read").await;
    assert_eq!(status, 200);
    assert_eq!(
        page["Value"].as_array().unwrap().len(),
        100,
        "default limit"
    );
    let (_, page) = sim
        .get(
            Some("ro"),
            "EntityService/Customer/read?start=450&limit=1000",
        )
        .await;
    assert_eq!(page["Value"].as_array().unwrap().len(), 50);
    let (status, body) = sim
        .post(
            Some("ro"),
            "EntityService/Customer/query",
            json!({"limit": 1001}),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str().unwrap().contains("limit")),
        (400, true)
    );
    let (status, _) = sim.get(Some("ro"), "EntityService/NoSuchEntity/read").await;
    assert_eq!(status, 404);
    let (status, _) = sim
        .get(Some("ro"), "EntityService/Customer/read/not-a-uuid")
        .await;
    assert_eq!(status, 400);
    let (status, _) = sim
        .get(
            Some("ro"),
            "EntityService/Customer/read/00000000-0000-4000-8000-000000000000",
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn query_operators_groups_and_null_semantics_match_a_client_side_evaluation() {
    let sim = start().await;
    let all = sim.read_all("Invoice", 1).await;
    let amount = |r: &Value| r["Amount"].as_f64().unwrap();
    let notes = |r: &Value| r["Notes"].as_str().map(str::to_ascii_lowercase);
    let lines = |r: &Value| r["LineCount"].as_i64().unwrap();
    let due = |r: &Value| r["DueDate"].as_str().map(str::to_owned);
    let cutoff = "2024-01-01T00:00:00.000Z";
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(Value, Pred)> = vec![
        (
            json!({"queryFilters": [filter("Amount", ">", json!("25000")), filter("Currency", "=", json!("EUR"))]}),
            Box::new(move |r| amount(r) > 25_000.0 && r["Currency"] == 1),
        ),
        (
            json!({"logicalOperator": 1, "queryFilters": [filter("LineCount", "<", json!(3)), filter("LineCount", ">=", json!("39"))]}),
            Box::new(move |r| lines(r) < 3 || lines(r) >= 39),
        ),
        (
            json!({"logicalOperator": 0, "queryFilters": [filter("LineCount", "<=", json!(20))],
                "filterGroups": [{"logicalOperator": 1, "queryFilters": [filter("Paid", "=", json!(true)), filter("Notes", "contains", json!("NET"))]}]}),
            Box::new(move |r| {
                lines(r) <= 20 && (r["Paid"] == true || notes(r).is_some_and(|n| n.contains("net")))
            }),
        ),
        (
            json!({"queryFilters": [filter("LineCount", "!=", json!(7))]}),
            Box::new(move |r| lines(r) != 7),
        ),
        (
            json!({"queryFilters": [filter("Notes", "not contains", json!("net"))]}),
            Box::new(move |r| notes(r).is_some_and(|n| !n.contains("net"))),
        ),
        (
            json!({"queryFilters": [filter("Notes", "startswith", json!("rush"))]}),
            Box::new(move |r| notes(r).is_some_and(|n| n.starts_with("rush"))),
        ),
        (
            json!({"queryFilters": [filter("InvoiceNumber", "endswith", json!("77"))]}),
            Box::new(|r| r["InvoiceNumber"].as_str().unwrap().ends_with("77")),
        ),
        (
            json!({"queryFilters": [{"fieldName": "Currency", "operator": "in", "valueList": ["USD", 3]}]}),
            Box::new(|r| r["Currency"] == 0 || r["Currency"] == 3),
        ),
        (
            json!({"queryFilters": [{"fieldName": "LineCount", "operator": "not in", "valueList": [1, 2, 3]}]}),
            Box::new(move |r| lines(r) > 3),
        ),
        (
            json!({"queryFilters": [filter("DueDate", "<", json!(cutoff))]}),
            Box::new(move |r| due(r).is_some_and(|d| d.as_str() < cutoff)),
        ),
        (
            json!({"queryFilters": [filter("Notes", "=", Value::Null)]}),
            Box::new(|r| r["Notes"].is_null()),
        ),
        (
            json!({"queryFilters": [filter("Notes", "!=", Value::Null)]}),
            Box::new(|r| !r["Notes"].is_null()),
        ),
        (
            json!({"queryFilters": [filter("Notes", "!=", json!("net 30"))]}),
            Box::new(move |r| notes(r).is_some_and(|n| n != "net 30")),
        ),
    ];
    for (group, predicate) in cases {
        let expected: Vec<String> = ids(&all
            .iter()
            .filter(|r| predicate(r))
            .cloned()
            .collect::<Vec<_>>());
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "a case that cannot tell: {group}"
        );
        let got = ids(&sim
            .query_all("Invoice", &json!({"filterGroup": group}), 1000)
            .await);
        assert_eq!(got, expected, "filter {group}");
    }
    let (status, body) = sim
        .post(
            Some("ro"),
            "EntityService/Invoice/query",
            json!({"filterGroup": {"queryFilters": [filter("Amout", "=", json!(1))]}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("Amout"),
        "{body}"
    );
    let (status, body) = sim
        .post(
            Some("ro"),
            "EntityService/Invoice/query",
            json!({"filterGroup": {"queryFilters": [filter("Amount", "like", json!(1))]}}),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str().unwrap().contains("Amount")),
        (400, true),
        "{body}"
    );
}

#[tokio::test]
async fn sort_options_order_pages_with_id_as_tiebreak_and_selected_fields_trim_records() {
    let sim = start().await;
    let all = sim.read_all("Invoice", 1).await;
    let mut expected = all.clone();
    expected.sort_by(|a, b| {
        (
            b["Currency"].as_i64(),
            a["LineCount"].as_i64(),
            a["Id"].as_str(),
        )
            .cmp(&(
                a["Currency"].as_i64(),
                b["LineCount"].as_i64(),
                b["Id"].as_str(),
            ))
    });
    let body = json!({"sortOptions": [{"fieldName": "Currency", "isDescending": true}, {"fieldName": "LineCount", "isDescending": false}]});
    let got = sim.query_all("Invoice", &body, 333).await;
    assert_eq!(ids(&got), ids(&expected));

    let body = json!({"selectedFields": ["Amount", "Paid"], "filterGroup": {"queryFilters": [filter("Amount", ">=", json!(49_000))]}});
    let got = sim.query_all("Invoice", &body, 1000).await;
    assert!(!got.is_empty());
    for record in &got {
        let keys: BTreeSet<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["Amount", "Id", "Paid"]));
    }
}

#[tokio::test]
async fn incremental_sync_by_update_time_returns_exactly_the_records_updated_after_the_watermark() {
    let sim = start().await;
    let all = sim.read_all("SupportTicket", 1).await;
    let mut times: Vec<&str> = all
        .iter()
        .map(|r| r["UpdateTime"].as_str().unwrap())
        .collect();
    times.sort();
    let watermark = times[times.len() * 3 / 4].to_string();
    let mut expected: Vec<&Value> = all
        .iter()
        .filter(|r| r["UpdateTime"].as_str().unwrap() > watermark.as_str())
        .collect();
    expected.sort_by_key(|r| (r["UpdateTime"].as_str().unwrap(), r["Id"].as_str().unwrap()));
    let body = json!({
        "filterGroup": {"logicalOperator": 0, "queryFilters": [filter("UpdateTime", ">", json!(watermark))]},
        "sortOptions": [{"fieldName": "UpdateTime", "isDescending": false}],
    });
    let got = sim.query_all("SupportTicket", &body, 700).await;
    assert_eq!(
        ids(&got),
        expected
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );
    assert!(got.len() > 1_000, "several pages: {}", got.len());
}

#[tokio::test]
async fn writes_are_visible_to_later_reads_and_updates_do_not_disturb_a_paged_read() {
    let sim = start().await;
    let records = sim.read_all("Customer", 1).await;
    let before = ids(&records);
    // Generated updates all fall before the span end; writes below are stamped with now.
    let watermark = "2025-01-01T00:00:00.000Z";
    assert!(records
        .iter()
        .all(|r| r["UpdateTime"].as_str().unwrap() < watermark));

    // Page through Customer 50 at a time, updating records behind and ahead of the reader.
    let mut seen = Vec::new();
    let mut updated = BTreeSet::new();
    while seen.len() < before.len() {
        let path = format!("EntityService/Customer/read?start={}&limit=50", seen.len());
        let (_, page) = sim.get(Some("ro"), &path).await;
        seen.extend(ids(page["Value"].as_array().unwrap()));
        for target in [seen.len() / 2, (seen.len() + 75).min(before.len() - 1)] {
            let id = &before[target];
            let (status, record) = sim
                .post(
                    Some("rw"),
                    &format!("EntityService/Customer/update/{id}"),
                    json!({"EmployeeCount": seen.len()}),
                )
                .await;
            assert_eq!(status, 200, "{record}");
            assert_eq!(record["EmployeeCount"], seen.len());
            updated.insert(id.clone());
        }
    }
    assert_eq!(
        seen, before,
        "no record skipped or repeated while others were updated"
    );
    assert_eq!(
        sim.stats.snapshot().requests["dataservice/update"][&200],
        20
    );

    let (status, inserted) = sim
        .post(
            Some("rw"),
            "EntityService/Customer/insert",
            json!({"Name": "Initech", "Segment": "MidMarket", "IsActive": true}),
        )
        .await;
    assert_eq!(status, 200, "{inserted}");
    let new_id = inserted["Id"].as_str().unwrap().to_string();
    assert_eq!(
        inserted["CreatedBy"],
        user_id("alice@acme.test").to_string()
    );
    assert_eq!(inserted["CreateTime"], inserted["UpdateTime"]);
    assert_eq!(inserted["Segment"], 1);
    let (status, fetched) = sim
        .get(Some("ro"), &format!("EntityService/Customer/read/{new_id}"))
        .await;
    assert_eq!((status, &fetched), (200, &inserted));

    let gone = before[0].clone();
    let (status, _) = sim
        .post(
            Some("rw"),
            &format!("EntityService/Customer/delete/{gone}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = sim
        .get(Some("ro"), &format!("EntityService/Customer/read/{gone}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = sim
        .post(
            Some("rw"),
            &format!("EntityService/Customer/delete/{gone}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    let after = ids(&sim.read_all("Customer", 1).await);
    let mut expected: Vec<String> = before.iter().filter(|id| **id != gone).cloned().collect();
    expected.push(new_id.clone());
    expected.sort();
    assert_eq!(after, expected);

    // An incremental sync from before the writes sees exactly the updated and inserted records.
    updated.remove(&gone);
    updated.insert(new_id);
    let body = json!({"filterGroup": {"queryFilters": [filter("UpdateTime", ">", json!(watermark))]}, "sortOptions": [{"fieldName": "UpdateTime"}]});
    let changed: BTreeSet<String> = ids(&sim.query_all("Customer", &body, 1000).await)
        .into_iter()
        .collect();
    assert_eq!(changed, updated);

    let (status, body) = sim
        .post(
            Some("rw"),
            "EntityService/Customer/insert",
            json!({"Segment": 0, "IsActive": false}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("Name"), "{body}");
    let (status, body) = sim
        .post(
            Some("rw"),
            "EntityService/Invoice/insert",
            json!({"InvoiceNumber": "X", "Amount": 1, "Currency": "USD", "Customer": gone}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("Customer"),
        "{body}"
    );
}

#[tokio::test]
async fn only_users_with_the_right_scopes_get_in() {
    let sim = start().await;
    let read = "EntityService/Customer/read?limit=1";
    for (token, status) in [
        (None, 401),
        (Some("bogus"), 401),
        (Some("expired"), 401),
        (Some("foreign"), 401),
        (Some("app"), 403),
        (Some("schema-only"), 403),
        (Some("ro"), 200),
    ] {
        assert_eq!(sim.get(token, read).await.0, status, "token {token:?}");
    }
    let response = sim.client.get(sim.url(read)).send().await.unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        sim.post(
            Some("schema-only"),
            "EntityService/Customer/query",
            json!({})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        sim.post(
            Some("ro"),
            "EntityService/Customer/insert",
            json!({"Name": "x"})
        )
        .await
        .0,
        403
    );
    assert_eq!(sim.get(Some("schema-only"), "Entity").await.0, 200);
    assert_eq!(sim.get(Some("app"), "Entity").await.0, 403);
    assert_eq!(
        sim.get(
            Some("ro"),
            "/Acme/Nowhere/dataservice_/api/EntityService/Customer/read"
        )
        .await
        .0,
        404
    );
    assert_eq!(
        sim.get(
            Some("ro"),
            "/acme/dev/dataservice_/api/EntityService/Customer/read"
        )
        .await
        .0,
        200
    );
    let snapshot = sim.stats.snapshot();
    assert_eq!(snapshot.unauthorized, 5);
    assert_eq!(snapshot.requests["dataservice/read"][&403], 2);
}

#[tokio::test]
async fn schema_endpoints_describe_every_entity() {
    let sim = start().await;
    let (status, list) = sim.get(Some("ro"), "Entity").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Customer", "Invoice", "SupportTicket"]);
    let invoice = &list[1];
    assert_eq!(invoice["recordCount"], 5_000);
    let fields = invoice["fields"].as_array().unwrap();
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        (
            field("Id")["isSystemField"].clone(),
            field("Id")["isPrimaryKey"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(field("UpdateTime")["sqlType"]["name"], "DATETIMEOFFSET");
    assert_eq!(field("Amount")["isSystemField"], false);
    assert_eq!(field("Amount")["isRequired"], true);
    assert_eq!(field("Customer")["referenceEntity"]["name"], "Customer");
    assert_eq!(field("Currency")["fieldDisplayType"], "ChoiceSetSingle");

    let id = invoice["id"].as_str().unwrap();
    let (status, by_id) = sim.get(Some("ro"), &format!("Entity/{id}")).await;
    assert_eq!((status, &by_id), (200, invoice));
    let (status, by_name) = sim
        .get(
            Some("ro"),
            "/Acme/Prod/datafabric_/api/Entity/Invoice/metadata",
        )
        .await;
    assert_eq!((status, &by_name), (200, invoice));
    assert_eq!(sim.get(Some("ro"), "Entity/Nope/metadata").await.0, 404);
}

#[tokio::test]
async fn expansion_level_decides_whether_relationships_are_expanded() {
    let sim = start().await;
    let (_, flat) = sim
        .get(
            Some("ro"),
            "EntityService/SupportTicket/read?limit=5&expansionLevel=1",
        )
        .await;
    let (_, expanded) = sim
        .get(Some("ro"), "EntityService/SupportTicket/read?limit=5")
        .await;
    for (flat, expanded) in flat["Value"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expanded["Value"].as_array().unwrap())
    {
        let customer_id = flat["Customer"]
            .as_str()
            .expect("level 1 writes the related Id");
        assert_eq!(expanded["Customer"]["Id"], customer_id);
        let (status, customer) = sim
            .get(
                Some("ro"),
                &format!("EntityService/Customer/read/{customer_id}"),
            )
            .await;
        assert_eq!((status, &customer), (200, &expanded["Customer"]));
    }
}

#[tokio::test]
async fn the_same_inputs_serve_identical_json_and_tenants_differ() {
    let (one, two) = (start().await, start().await);
    let query = json!({"filterGroup": {"queryFilters": [filter("Priority", "=", json!("High"))]}, "sortOptions": [{"fieldName": "CreateTime", "isDescending": true}], "limit": 50});
    for path in [
        "EntityService/SupportTicket/read?start=700&limit=300",
        "Entity",
    ] {
        let raw = |sim: &Sim| sim.client.get(sim.url(path)).bearer_auth("ro").send();
        let (a, b) = (raw(&one).await.unwrap(), raw(&two).await.unwrap());
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
        assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap(), "{path}");
    }
    let path = "EntityService/SupportTicket/query";
    assert_eq!(
        one.post(Some("ro"), path, query.clone()).await,
        two.post(Some("ro"), path, query).await
    );
    let (_, prod) = one
        .get(Some("ro"), "EntityService/Customer/read?limit=10")
        .await;
    let (_, dev) = one
        .get(
            Some("ro"),
            "/Acme/Dev/dataservice_/api/EntityService/Customer/read?limit=10",
        )
        .await;
    assert_ne!(
        ids(prod["Value"].as_array().unwrap()),
        ids(dev["Value"].as_array().unwrap())
    );
}
