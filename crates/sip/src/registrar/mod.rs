//! The registrar: devices REGISTER their contacts here (RFC 3261 §10). [`Registrar`] is the
//! sans-IO binding table (expiry by `now: Instant`); [`handle_register`] authenticates a
//! REGISTER with digest and answers it.

mod register;
mod table;

pub use register::handle_register;
pub use table::{Aor, Binding, ContactUpdate, RegisterError, Registrar, RegistrarConfig};
