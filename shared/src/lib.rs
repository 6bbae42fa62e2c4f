//! The custom-domain service of the email platform: everything that is not a `main`.
//!
//! Three hosts run the same handlers ([`http::Endpoint`]): AWS Lambda behind API Gateway
//! ([`lambda`]), `cargo lambda watch`, and the local server of the `domainctl` crate.

pub mod app;
pub mod auth;
pub mod claims;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod crypto;
pub mod dns;
pub mod error;
pub mod events;
pub mod faults;
pub mod http;
pub mod lambda;
pub mod model;
pub mod provision;
pub mod rotation;
pub mod route53;
pub mod sealing;
pub mod ses;
pub mod store;
pub mod sweep;
pub mod telemetry;
pub mod verify;

pub use app::App;
pub use error::ApiError;
