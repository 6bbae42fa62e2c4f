//! API tests: real HTTP requests to the real router on a free port, against both stores.

mod harness;

mod auth;
mod claims;
mod clients;
mod cloud;
mod contract;
mod delete;
mod get;
mod idempotency;
mod lifecycle;
mod limits;
mod list;
mod openapi;
mod races;
mod register;
mod rotation;
mod tls;
mod truth;
mod update;
mod verify;
mod webhooks;
mod zonefile;
