//! SplitMix64: small, fast, and the same everywhere for a given seed.
//!
//! One generator for the tests' random choices (kill moments, bytes to flip,
//! garbage cursors) and for `slipstream-sim`'s traffic, so that a seed a test
//! prints replays the same run.

/// The golden-ratio increment of SplitMix64.
pub const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser: a bijective mix of 64 bits.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A SplitMix64 generator.
///
/// ```
/// use slipstream_testkit::rng::Rng;
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for `test`: the seed is `env` (decimal, or hex with `0x`)
    /// if that variable is set, else `default`, mixed with the test's name so
    /// that tests sharing a base seed still draw different numbers. Prints
    /// the base seed and how to replay it.
    ///
    /// # Panics
    ///
    /// If `env` is set to something that is not a number.
    pub fn for_test(test: &str, env: &str, default: u64) -> Rng {
        Rng(seed_for(test, env, default))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// A number in `0..n` (0 if `n` is 0), by multiply-and-shift (no modulo bias
    /// worth the name, no division).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True `n` times in `d`.
    #[inline]
    pub fn chance(&mut self, n: u64, d: u64) -> bool {
        self.below(d) < n
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

/// The seed of `test`: the base seed (`env` if set, else `default`) mixed
/// with the test's name. Prints the base seed and the variable that replays it.
///
/// # Panics
///
/// If `env` is set to something that is not a number.
pub fn seed_for(test: &str, env: &str, default: u64) -> u64 {
    let base = env_u64(env, default);
    eprintln!("{test}: seed {base} (replay with {env}={base})");
    test.bytes().fold(base, |h, b| mix(h ^ b as u64))
}

/// Parses a decimal number, or a hexadecimal one with a `0x` prefix.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The number in environment variable `key` (see [`parse_u64`]), or `default`
/// if it is not set.
///
/// # Panics
///
/// If `key` is set to something that is not a number: a typo in a replay
/// seed must not silently run another seed.
pub fn env_u64(key: &str, default: u64) -> u64 {
    match std::env::var(key) {
        Ok(v) => parse_u64(&v).unwrap_or_else(|| panic!("{key}={v} is not a number")),
        Err(_) => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence() {
        // SplitMix64's published first outputs for seed 1234567.
        let mut r = Rng::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn below_and_fill() {
        let mut r = Rng::new(1);
        assert_eq!(r.below(0), 0);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
        }
        let mut b = [0u8; 13];
        r.fill(&mut b);
        assert!(b.iter().any(|&x| x != 0));
        assert_eq!(parse_u64("0x10"), Some(16));
        assert_eq!(parse_u64(" 12 "), Some(12));
        assert_eq!(parse_u64("x"), None);
    }
}
