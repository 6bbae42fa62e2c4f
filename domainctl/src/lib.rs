//! The local host of the Domains API: one process, every route, the same handlers as the
//! Lambda functions. Also the host the API tests spawn.

pub mod cli;
pub mod counts;
pub mod dev;
pub mod events;
pub mod local;
pub mod preflight;
pub mod server;
pub mod status;
