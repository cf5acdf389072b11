//! Authentication: passwords, SMS codes, tokens, the login flow and the per-request actor.

pub mod access;
pub mod actor;
pub mod flow;
pub mod otp;
pub mod password;
pub mod tokens;

pub use access::{ClientActor, ClientRequest};
pub use actor::{Actor, Authenticator, PendingTermsActor};
