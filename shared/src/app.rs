//! The state every handler shares, built once per cold start.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::aws::Cloud;
use crate::clock::Clock;
use crate::dns::DnsChecker;
use crate::model::Timestamp;
use crate::store::Store;

#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    /// `None` in a function whose endpoint never checks DNS ([`crate::http::Needs`]).
    dns: Option<DnsChecker>,
    cloud: Cloud,
    /// How often an active domain is checked again.
    watch: time::Duration,
    /// How long a retired DKIM record stays in a managed zone.
    dkim_retire_after: time::Duration,
    /// Verifies an organization may ask for a minute (`VERIFY_RATE`).
    verify_rate: u32,
    /// What sends to webhook endpoints and seals their secrets, where the host built it.
    deliverer: Option<crate::outbox::webhooks::Deliverer>,
    /// The store's cursor key, read the first time a list needs it.
    cursor_key: tokio::sync::OnceCell<[u8; 32]>,
    #[cfg(feature = "fault-injection")]
    faults: Option<Arc<crate::faults::Faults>>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, dns: DnsChecker) -> Self {
        Self::built(store, clock, Some(dns))
    }

    /// An app for endpoints that never check DNS: no resolver is built (nor linked).
    pub fn without_dns(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self::built(store, clock, None)
    }

    fn built(store: Arc<dyn Store>, clock: Arc<dyn Clock>, dns: Option<DnsChecker>) -> Self {
        let auth = Authenticator::new(store.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                auth,
                clock,
                dns,
                cloud: Cloud::default(),
                watch: crate::model::WATCH_INTERVAL,
                dkim_retire_after: crate::model::DKIM_RETIRE_AFTER,
                verify_rate: crate::model::DEFAULT_VERIFY_RATE,
                deliverer: None,
                cursor_key: tokio::sync::OnceCell::new(),
                #[cfg(feature = "fault-injection")]
                faults: None,
            }),
        }
    }

    /// Changes the app while it is being built, before it is shared.
    fn rebuilt(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("an app is configured before it is shared"));
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Turns on the SES and Route 53 adapters.
    pub fn with_cloud(self, cloud: Cloud) -> Self {
        self.rebuilt(|inner| inner.cloud = cloud)
    }

    /// Checks active domains again every `watch` instead of every 24 hours.
    pub fn with_watch_interval(self, watch: time::Duration) -> Self {
        self.rebuilt(|inner| inner.watch = watch)
    }

    /// Allows an organization `per_minute` verifies a minute instead of 60.
    pub fn with_verify_rate(self, per_minute: u32) -> Self {
        self.rebuilt(|inner| inner.verify_rate = per_minute)
    }

    /// Turns webhooks on: endpoints' secrets sealed, and test events sent, by `deliverer`.
    pub fn with_deliverer(self, deliverer: crate::outbox::webhooks::Deliverer) -> Self {
        self.rebuilt(|inner| inner.deliverer = Some(deliverer))
    }

    /// What sends to webhook endpoints; a function built without it answers `503` to the
    /// endpoints that need it (a host that has not configured webhooks).
    pub fn deliverer(&self) -> Result<&crate::outbox::webhooks::Deliverer, crate::ApiError> {
        self.inner.deliverer.as_ref().ok_or_else(|| {
            crate::ApiError::Unavailable("webhooks are not configured on this host".into())
        })
    }

    /// Verifies an organization may ask for a minute.
    pub fn verify_rate(&self) -> u32 {
        self.inner.verify_rate
    }

    /// How often an active domain is checked again.
    pub fn watch_interval(&self) -> time::Duration {
        self.inner.watch
    }

    /// Keeps a retired DKIM record in a managed zone for `after` instead of 48 hours.
    pub fn with_dkim_retire_after(self, after: time::Duration) -> Self {
        self.rebuilt(|inner| inner.dkim_retire_after = after)
    }

    /// How long a retired DKIM record stays in a managed zone.
    pub fn dkim_retire_after(&self) -> time::Duration {
        self.inner.dkim_retire_after
    }

    /// Arms a fault: provisioning stops for good after the step it names.
    #[cfg(feature = "fault-injection")]
    pub fn with_faults(self, faults: Arc<crate::faults::Faults>) -> Self {
        self.rebuilt(|inner| inner.faults = Some(faults))
    }

    /// Marks a step of provisioning done; where a test armed a fault, the work stops here.
    pub(crate) async fn step_done(&self, _step: crate::faults::Step) {
        #[cfg(feature = "fault-injection")]
        if let Some(faults) = &self.inner.faults {
            faults.at(_step).await;
        }
    }

    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store, shared: for work a host runs beside the requests.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn dns(&self) -> &DnsChecker {
        // Reached only through an endpoint whose `needs()` leaves DNS out: a bug, answered
        // with a logged 500 (the panic is caught), which a test rules out for every endpoint.
        self.inner
            .dns
            .as_ref()
            .expect("this function was built without DNS; its endpoint's needs() is wrong")
    }

    /// The key list cursors are sealed with, read from the store once per process.
    pub async fn cursor_key(&self) -> Result<[u8; 32], crate::store::StoreError> {
        self.inner
            .cursor_key
            .get_or_try_init(|| self.store().cursor_key())
            .await
            .copied()
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
}
