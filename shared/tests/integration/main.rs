//! The library's integration tests, one binary of modules: each links the library and the
//! AWS SDKs once, not once per file. Tests that install a process-wide log subscriber
//! (`logs.rs`, `lambda_logs.rs`) keep a process of their own.

mod bodies;
mod cloud;
mod crash;
mod dns;
mod events;
mod fuzz_corpus;
mod hostile;
mod idempotency;
mod layers;
mod lists;
mod metrics;
mod needs;
mod outbound;
mod panics;
mod schedule;
mod store;
mod sweep;
mod verify;
mod webhooks;
