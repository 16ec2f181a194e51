//! The registrar: devices REGISTER their contacts here (RFC 3261 §10). [`Registrar`] is the
//! sans-IO binding table (expiry by `now: Instant`); [`handle_register`] authenticates a
//! REGISTER with digest and answers it.
//! [`nat`] detects NAT the way Kamailio's `nat_uac_test` 19 does; [`Binding::target`] says
//! where requests to a binding go.

pub mod nat;
mod register;
mod table;

pub use register::handle_register;
pub use table::{
    Aor, Binding, ContactUpdate, NatPolicy, RegisterError, RegisterSource, Registrar,
    RegistrarConfig,
};
