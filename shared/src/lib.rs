//! The custom-domain service of the email platform: everything that is not a `main`.
//!
//! The crate, by layer; data flows one way, down this list (a test keeps it so):
//!
//! - [`http`]: one thin handler per endpoint, request parsing, the JSON views, list cursors.
//! - [`workflows`]: what the API and the sweep do (register, delete, update, verify, claims,
//!   DKIM rotation, the sweep), on an [`App`], answering in [`ApiError`]s.
//! - [`outbox`]: delivery of lifecycle events from the table's stream to a sink, and to
//!   organizations' webhook endpoints ([`outbox::webhooks`]).
//! - [`dns`]: what to publish ([`dns::plan`]) and what is published ([`dns::check`]), asked
//!   of each zone's authoritative servers.
//! - [`aws`]: outbound ports as traits, one adapter per service (SES v2, Route 53, KMS,
//!   EventBridge), and how SDK failures read.
//! - [`store`]: persistence as small traits per aggregate behind one [`store::Store`]; a
//!   DynamoDB implementation (the product) and an in-memory one (the local default).
//! - [`model`]: validated newtypes, the domain's state machine, lifecycle events as data.
//! - Beside them: [`app`] (what a cold start builds), [`config`] (the only reader of the
//!   environment), [`error`], [`auth`], [`clock`], [`crypto`], [`telemetry`] (logs),
//!   [`metrics`] (CloudWatch EMF lines), [`lambda`] (what every function's `main` calls),
//!   `fair_queue` (organizations in turn, for the sweep and the webhook deliverer) and
//!   [`faults`] (test-only crash points).
//!
//! A request: the host (Lambda behind API Gateway, `cargo lambda watch`, or the local server)
//! hands a `lambda_http` request to [`App::handle`] or to one [`http::Handler`], which
//! authenticates the key, reads the request, runs its workflow and shapes the answer.
//!
//! A cold start: a function's `main` is one call into [`lambda`], generic over its endpoint,
//! which reads [`config`] once and builds only what that endpoint needs ([`http::Needs`]: the
//! store always; DNS and the AWS adapters only where used), so the rest is not linked.

pub mod app;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dns;
pub mod error;
mod fair_queue;
pub mod faults;
pub mod http;
pub mod lambda;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod store;
pub mod telemetry;
pub mod workflows;

pub use app::App;
pub use error::ApiError;
