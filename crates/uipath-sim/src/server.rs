//! The running simulator: its tenants, the shared services (identity, stats, faults, rate
//! budget) and the HTTP router that ties them together.
//!
//! [`serve`] takes its listener and a shutdown token as arguments, so tests start the real
//! server in-process on `127.0.0.1:0` ([`RunningSim::start`]) exactly as the binary does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::data::{DataConfig, LiveData, TenantData};
use crate::dataservice::{self, DataService};
use crate::faults::Faults;
use crate::http;
use crate::identity::Identity;
use crate::overlay::TenantOverlay;
use crate::ratelimit::RateLimiter;
use crate::stats::Stats;

/// One tenant: its generated universe and the records changed at run time.
#[derive(Debug)]
pub struct Tenant {
    pub org: String,
    pub name: String,
    pub data: TenantData,
    pub overlay: TenantOverlay,
}

impl Tenant {
    /// `org/tenant`, the key of rate budgets and fault scopes.
    pub fn key(&self) -> String {
        format!("{}/{}", self.org, self.name)
    }

    /// The instant a query asked now sees: the wall clock for a live tenant, the end of
    /// the span for a frozen one.
    pub fn now_ms(&self) -> i64 {
        if self.data.is_live() {
            wall_clock_ms().min(self.data.span_end_ms)
        } else {
            self.data.span_end_ms
        }
    }

    /// The tenant's data as of now ([`Tenant::now_ms`]): what a request without
    /// `X-Sim-As-Of` sees. Ground truth for an earlier instant: `self.data.as_of(ms)`.
    pub fn view(&self) -> crate::data::AsOf<'_> {
        self.data.as_of(self.now_ms())
    }
}

/// The wall clock in Unix milliseconds.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Everything the handlers share.
pub struct Simulator {
    pub config: SimConfig,
    pub identity: Arc<Identity>,
    pub stats: Arc<Stats>,
    pub faults: Arc<Faults>,
    pub limiter: RateLimiter,
    /// Keyed by lowercase (org, tenant): UiPath resolves both names case-insensitively.
    tenants: HashMap<(String, String), Arc<Tenant>>,
    dataservices: HashMap<(String, String), Arc<DataService>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("tenants", &self.tenants.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn key(org: &str, tenant: &str) -> (String, String) {
    (org.to_ascii_lowercase(), tenant.to_ascii_lowercase())
}

impl Simulator {
    /// Builds every tenant's universe. Fails on an invalid configuration.
    pub fn new(config: SimConfig) -> Result<Arc<Simulator>, String> {
        config.validate()?;
        let stats = Arc::new(Stats::default());
        let mut tenants = HashMap::new();
        let mut dataservices = HashMap::new();
        for org in &config.orgs {
            for t in &org.tenants {
                let data_config = t.data.as_ref().unwrap_or(&config.data);
                let data = if config.live.enabled {
                    TenantData::build_live(
                        &org.name,
                        &t.name,
                        data_config,
                        live_span_end(data_config, config.live.horizon_days),
                        LiveData {
                            reference_change_ms: config.live.reference_change_secs as i64 * 1000,
                            epoch_ms: live_epoch_ms(),
                        },
                    )
                } else {
                    TenantData::build(&org.name, &t.name, data_config)
                };
                let live = data.live;
                tenants.insert(
                    key(&org.name, &t.name),
                    Arc::new(Tenant {
                        org: org.name.clone(),
                        name: t.name.clone(),
                        data,
                        overlay: TenantOverlay::default(),
                    }),
                );
                let mut dataservice = DataService::new(&config.dataservice, &org.name, &t.name);
                if let Some(live) = live {
                    dataservice.set_live(live.epoch_ms, live.reference_change_ms);
                }
                dataservices.insert(key(&org.name, &t.name), Arc::new(dataservice));
            }
        }
        let limiter = RateLimiter::new(config.rate_limit);
        for (tenant, rl) in &config.tenant_rate_limits {
            limiter.set_override(tenant, *rl);
        }
        Ok(Arc::new(Simulator {
            identity: Arc::new(Identity::new(config.identity.clone(), stats.clone())),
            faults: Arc::new(Faults::new(config.faults.clone(), stats.clone())),
            limiter,
            stats,
            tenants,
            dataservices,
            config,
        }))
    }

    /// The tenant `org/tenant` (names case-insensitive).
    pub fn tenant(&self, org: &str, tenant: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(&key(org, tenant))
    }

    /// Every tenant, in no particular order.
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.tenants.values()
    }

    /// The tenant a standalone-Orchestrator request (no org/tenant in the URL) goes to: the
    /// token's tenant when it is bound to one, else the first configured tenant.
    pub fn standalone_tenant(&self, bound: Option<&str>) -> Option<&Arc<Tenant>> {
        match bound {
            Some(name) => self
                .tenants
                .values()
                .find(|t| t.name.eq_ignore_ascii_case(name)),
            None => {
                let org = self.config.orgs.first()?;
                self.tenant(&org.name, &org.tenants.first()?.name)
            }
        }
    }

    /// The full HTTP surface: identity, Orchestrator OData, Data Service and `/_sim`.
    pub fn router(self: &Arc<Self>) -> Router {
        let identity = self.identity.clone();
        let verifier: dataservice::Verifier = Arc::new(move |token: &str| identity.verify(token));
        let dataservice =
            dataservice::router(self.dataservices.clone(), verifier, self.stats.clone());
        // Faults wrap every API (the middleware spares identity unless asked, and `/_sim`).
        let apis = self
            .identity
            .router()
            .merge(http::odata::routes(self.clone()))
            .merge(dataservice)
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                crate::faults::middleware,
            ));
        Router::new()
            .merge(apis)
            .merge(http::control::routes(self.clone()))
    }
}

/// Midnight UTC of today: where a live tenant's reference changes start.
fn live_epoch_ms() -> i64 {
    let day = 86_400_000;
    wall_clock_ms() / day * day
}

/// The end of a live tenant's span: `horizon_days` after today (UTC), never before the
/// configured end.
fn live_span_end(config: &DataConfig, horizon_days: u32) -> chrono::NaiveDate {
    let today = chrono::DateTime::from_timestamp_millis(wall_clock_ms())
        .map_or(config.span_end, |t| t.date_naive());
    (today + chrono::Days::new(u64::from(horizon_days))).max(config.span_end)
}

/// Serves `sim` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    sim: Arc<Simulator>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// A simulator running in-process, for tests and the embedded fleet.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub sim: Arc<Simulator>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    /// Starts a simulator on `127.0.0.1:0`.
    pub async fn start(config: SimConfig) -> Result<RunningSim, String> {
        let sim = Simulator::new(config)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(sim.clone(), listener, shutdown.clone()));
        Ok(RunningSim {
            addr,
            sim,
            shutdown,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Orchestrator base of a tenant: `http://127.0.0.1:PORT/{org}/{tenant}/orchestrator_`.
    pub fn orchestrator_url(&self, org: &str, tenant: &str) -> String {
        format!("{}/{org}/{tenant}/orchestrator_", self.base_url())
    }

    /// The cloud token endpoint: `http://127.0.0.1:PORT/identity_/connect/token`.
    pub fn token_url(&self) -> String {
        format!("{}/identity_/connect/token", self.base_url())
    }

    /// The legacy User Key endpoint (account.uipath.com's `/oauth/token`).
    pub fn user_key_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}
