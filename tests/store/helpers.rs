//! What the store's crash tests share: a small seeded random generator,
//! so a failing run can be replayed with `PRICEPOOL_CRASH_SEED`. The
//! processes themselves run under `pricepool::testkit::process`.

/// xorshift64: enough randomness for kill timing, no dependency.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// A generator seeded from `PRICEPOOL_CRASH_SEED`, or the clock.
    pub fn from_env() -> (Xorshift, u64) {
        let seed = std::env::var("PRICEPOOL_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros() as u64
                    | 1
            });
        (Xorshift(seed), seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
