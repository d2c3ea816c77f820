//! SplitMix64 (Steele, Lea and Flood, 2014, "Fast splittable pseudorandom number
//! generators"): the seeded generator of the generator's bundles and of the bootstrap
//! intervals. Hand-written (eight lines): its output for a seed is fixed by the published
//! algorithm, so a bundle or an interval is the same on every machine and every version,
//! and it is fast in the unoptimised builds the tests use.

pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In 0..n, as the remainder (the generator's bundles are written with it).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// So that rand_distr's samplers draw from it (the alpha bootstrap's binomials): the
/// same 64-bit outputs, the upper half of one for 32 bits.
impl rand_core::RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (SplitMix64::next_u64(self) >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        SplitMix64::next_u64(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs for seed 1234567 of the reference C implementation
    /// (splitmix64.c, Vigna), as the test suites of its ports quote them.
    #[test]
    fn splitmix64_gives_the_published_sequence() {
        let mut r = SplitMix64(1234567);
        let want = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }
}
