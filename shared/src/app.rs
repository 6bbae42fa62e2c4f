//! The state every handler shares, built once per cold start.

use std::sync::Arc;

use crate::auth::Authenticator;
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
    dns: DnsChecker,
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
            }),
        }
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
