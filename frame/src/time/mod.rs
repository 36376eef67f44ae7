//! Time: the TSC, its frequency, and time since the first instruction.

mod pit;
mod tsc;

pub use tsc::{FrequencySource, since_entry_ns, tsc_frequency_hz};
pub(crate) use tsc::{init, set_entry_tsc};
