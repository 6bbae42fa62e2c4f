//! The state every handler shares, built once per cold start.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::cloud::Cloud;
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
    dns: DnsChecker,
    cloud: Cloud,
}

impl App {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, dns: DnsChecker) -> Self {
        let auth = Authenticator::new(store.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                auth,
                clock,
                dns,
                cloud: Cloud::default(),
            }),
        }
    }

    /// Turns on the SES and Route 53 adapters. Called while building, before the app is
    /// shared.
    pub fn with_cloud(self, cloud: Cloud) -> Self {
        let mut inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("with_cloud is called before the app is shared"));
        inner.cloud = cloud;
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn dns(&self) -> &DnsChecker {
        &self.inner.dns
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
}
