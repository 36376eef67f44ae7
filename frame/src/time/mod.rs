//! Time: the TSC, its frequency, and time since the first instruction.

mod pit;
mod tsc;

pub use tsc::{FrequencySource, tsc_frequency_hz, since_entry_ns};
pub(crate) use tsc::{init, set_entry_tsc};
