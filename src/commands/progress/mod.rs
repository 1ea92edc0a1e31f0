//! The live display of `watch`, `wait` and every `--wait`: live.rs draws it with indicatif
//! on a terminal (or prints plain lines without one), frame.rs lays its lines out,
//! echo.rs keeps a `^C` from landing inside it.

mod echo;
mod frame;
mod live;

pub use live::{Plain, Progress};
