//! Pool benchmarks (filled in by the pool benchmark work).
fn main() {}
