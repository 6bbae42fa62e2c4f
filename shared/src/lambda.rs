//! The Lambda host: what every function's `main` calls.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Error, service_fn};

use crate::App;
use crate::clock::SystemClock;
use crate::config;
use crate::dns::DnsChecker;
use crate::http::Endpoint;
use crate::telemetry;

/// Builds the state once per cold start, then serves `endpoint` until the runtime stops.
pub async fn run(endpoint: Endpoint) -> Result<(), Error> {
    telemetry::init_json();
    let table =
        config::table_from_env().ok_or_else(|| format!("{} is not set", config::TABLE_VAR))?;
    let store = Arc::new(config::dynamo_store(table).await);
    let dns = DnsChecker::from_env()?;
    let app = App::new(store, Arc::new(SystemClock), dns);
    lambda_http::run(service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(endpoint, request).await) }
    }))
    .await
}
