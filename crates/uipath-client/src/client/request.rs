//! One API request as the pipeline sees it: which API root, method, relative path, query
//! pairs, folder, JSON body, and the budget it draws from.
//!
//! Query strings are encoded here rather than by `application/x-www-form-urlencoded`
//! rules: OData option names keep their `$`, and spaces become `%20`, which is what
//! UiPath's own clients send and what every ASP.NET front end decodes the same way.

use fleet_core::{EndpointFamily, Priority};
use url::Url;

use crate::error::ClientError;
use crate::source::SourceConfig;

/// The API root a request's path is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `SourceConfig::orchestrator_url` (`.../orchestrator_/`): `odata/Jobs`.
    Orchestrator,
    /// `SourceConfig::dataservice_url` (`.../dataservice_/api/`): `EntityService/X/query`.
    DataService,
}

/// The HTTP methods the extractor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One request. Build with [`ApiRequest::get`] / [`ApiRequest::post`] and the setters.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub api: Api,
    pub method: Method,
    /// Relative to the API root, without a leading `/`: `odata/Jobs`.
    pub path: String,
    /// Query pairs, unencoded, in order.
    pub query: Vec<(String, String)>,
    /// Folder Key (uuid) sent as `X-UIPATH-FolderKey`.
    pub folder: Option<String>,
    /// JSON body (POST).
    pub body: Option<serde_json::Value>,
    /// The rate budget the request draws from.
    pub family: EndpointFamily,
    pub priority: Priority,
}

impl ApiRequest {
    /// A GET in the `Other` family at sync priority.
    pub fn get(api: Api, path: impl Into<String>) -> ApiRequest {
        ApiRequest {
            api,
            method: Method::Get,
            path: path.into(),
            query: Vec::new(),
            folder: None,
            body: None,
            family: EndpointFamily::Other,
            priority: Priority::Sync,
        }
    }

    /// A POST of `body` in the `Other` family at sync priority.
    pub fn post(api: Api, path: impl Into<String>, body: serde_json::Value) -> ApiRequest {
        ApiRequest {
            method: Method::Post,
            body: Some(body),
            ..ApiRequest::get(api, path)
        }
    }

    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn folder(mut self, key: Option<impl Into<String>>) -> Self {
        self.folder = key.map(Into::into);
        self
    }

    pub fn family(mut self, family: EndpointFamily) -> Self {
        self.family = family;
        self
    }

    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The path as errors and logs name it: `/odata/Jobs` (never the query, which can be
    /// long; never a header).
    pub fn display_path(&self) -> String {
        format!("/{}", self.path.trim_start_matches('/'))
    }

    /// The absolute URL of this request on `source`.
    pub fn url(&self, source: &SourceConfig) -> Result<Url, ClientError> {
        let root = match self.api {
            Api::Orchestrator => source.orchestrator_url(),
            Api::DataService => source.dataservice_url().ok_or_else(|| {
                ClientError::Config(format!(
                    "source `{}` is a standalone Orchestrator, which has no Data Service",
                    source.name
                ))
            })?,
        };
        let mut url = root
            .join(self.path.trim_start_matches('/'))
            .map_err(|e| ClientError::Config(format!("bad request path `{}`: {e}", self.path)))?;
        if !self.query.is_empty() {
            url.set_query(Some(&encode_query(&self.query)));
        }
        Ok(url)
    }
}

/// `name=value&...` with everything outside a small safe set percent-encoded.
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (n, (name, value)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        // Unreserved characters, plus the ones OData text is made of and no query-string
        // parser treats specially.
        if b.is_ascii_alphanumeric() || b"-._~$'(),:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{AuthConfig, Deployment};
    use fleet_core::Secret;

    fn source(deployment: Deployment) -> SourceConfig {
        SourceConfig {
            name: "acme".into(),
            deployment,
            auth: AuthConfig::PersonalAccessToken {
                token: Secret::new("t"),
            },
            token_url: None,
            timeout_secs: 60,
        }
    }

    #[test]
    fn odata_options_keep_their_dollar_and_spaces_are_percent_encoded() {
        let q = encode_query(&[
            (
                "$filter".into(),
                "(CreationTime ge 2025-01-01T00:00:00.000Z) and Name eq 'a&b+c'".into(),
            ),
            ("$top".into(), "100".into()),
        ]);
        assert_eq!(
            q,
            "$filter=(CreationTime%20ge%202025-01-01T00:00:00.000Z)%20and%20Name%20eq%20'a%26b%2Bc'&$top=100"
        );
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            decoded[0].1,
            "(CreationTime ge 2025-01-01T00:00:00.000Z) and Name eq 'a&b+c'"
        );
    }

    #[test]
    fn urls_join_onto_the_api_roots() {
        let cloud = source(Deployment::Cloud {
            base_url: Url::parse("http://127.0.0.1:9/").unwrap(),
            organization: "org".into(),
            tenant: "T".into(),
        });
        let r = ApiRequest::get(Api::Orchestrator, "odata/Jobs").query("$top", "5");
        assert_eq!(
            r.url(&cloud).unwrap().as_str(),
            "http://127.0.0.1:9/org/T/orchestrator_/odata/Jobs?$top=5"
        );
        assert_eq!(r.display_path(), "/odata/Jobs");
        let ds = ApiRequest::post(
            Api::DataService,
            "EntityService/Invoice/query",
            serde_json::json!({}),
        );
        assert_eq!(
            ds.url(&cloud).unwrap().as_str(),
            "http://127.0.0.1:9/org/T/dataservice_/api/EntityService/Invoice/query"
        );
        let standalone = source(Deployment::Standalone {
            base_url: Url::parse("http://127.0.0.1:9/").unwrap(),
            tenancy_name: "Default".into(),
        });
        assert!(matches!(ds.url(&standalone), Err(ClientError::Config(_))));
    }
}
