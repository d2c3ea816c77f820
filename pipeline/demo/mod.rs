//! Demonstration data: the example bundle built into the binary (fourteen cases coded
//! from the founding report) and the synthetic generator with planted truths.

pub mod example;
pub mod generate;
