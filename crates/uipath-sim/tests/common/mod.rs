//! Helpers shared by the simulator's HTTP tests: start a simulator in-process, get tokens,
//! and issue OData reads the way a client would.

#![allow(dead_code)]

use serde_json::Value;
use uipath_sim::config::{SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT};
use uipath_sim::server::RunningSim;

pub struct Client {
    pub sim: RunningSim,
    pub http: reqwest::Client,
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Client {
    pub async fn start(config: SimConfig) -> Client {
        let sim = RunningSim::start(config).await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client { sim, http }
    }

    pub async fn demo() -> Client {
        Client::start(SimConfig::default()).await
    }

    /// A client-credentials token of the demo app with `scope`.
    pub async fn token(&self, scope: &str) -> String {
        self.token_for(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scope)
            .await
    }

    /// POSTs a form-encoded token request to the cloud token endpoint.
    pub async fn token_request(&self, pairs: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.sim.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, client_id: &str, secret: &str, scope: &str) -> String {
        let resp = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .await;
        assert_eq!(
            resp.status(),
            200,
            "token request failed: {:?}",
            resp.text().await
        );
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn all_scopes(&self) -> String {
        self.token(&uipath_sim::config::OR_READ_SCOPES.join(" "))
            .await
    }

    pub fn odata_url(&self, entity: &str) -> String {
        format!(
            "{}/odata/{entity}",
            self.sim.orchestrator_url(DEMO_ORG, DEMO_TENANT)
        )
    }

    /// GET an OData entity set with query pairs and an optional folder path header.
    pub async fn get(
        &self,
        entity: &str,
        token: &str,
        folder: Option<&str>,
        query: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .get(self.odata_url(entity))
            .bearer_auth(token)
            .query(query);
        if let Some(f) = folder {
            req = req.header("X-UIPATH-FolderPath", f);
        }
        req.send().await.unwrap()
    }

    /// GET that must succeed; returns the JSON body.
    pub async fn get_ok(
        &self,
        entity: &str,
        token: &str,
        folder: Option<&str>,
        query: &[(&str, &str)],
    ) -> Value {
        let resp = self.get(entity, token, folder, query).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "GET {entity} {query:?}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/_sim/stats", Value::Null)
            .await
    }

    /// Fully qualified names of the demo tenant's folders.
    pub async fn folders(&self) -> Vec<String> {
        let t = self
            .control(reqwest::Method::GET, "/_sim/tenants", Value::Null)
            .await;
        t[0]["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["FullyQualifiedName"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub fn values(body: &Value) -> &Vec<Value> {
    body["value"].as_array().expect("value is an array")
}
