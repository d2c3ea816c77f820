//! The stored cases' set: what every other row's `case_id` is checked against.

use super::*;

/// The stored cases, by a 128-bit fingerprint of their case_id (no string kept or
/// compared; a false match among n cases has probability about n²/2¹²⁹) → the line or
/// row it came from and its case key.
///
/// Hand-written (open addressing, linear probing, one 32-byte slot per case, at most
/// 70% full) rather than a `HashMap`, for one reason: [`CaseSet::find`] prefetches the
/// slots of the rows ahead of the one it looks up. The set is far larger than the caches
/// and every look-up of a row of a shuffled file is a miss; a `HashMap` look-up waits
/// for two (its control bytes, then its slot), one after the other. The memory is a
/// `HashMap`'s (32 bytes a slot, a power of two of them).
pub struct CaseSet {
    /// Fingerprint 0: an empty slot (a text whose fingerprint is 0 is taken as 1).
    pub(super) slots: Vec<CaseSlot>,
    len: usize,
    /// The fingerprint's two hashers (also the validator's, for codings).
    pub(super) fingerprint: (RandomState, RandomState),
}

#[derive(Clone, Copy, Default)]
pub(super) struct CaseSlot {
    print: u128,
    line: u64,
    key: i64,
}

/// Rows looked ahead by [`CaseSet::find`]: enough misses in flight to cover a memory
/// access, few enough that the prefetched lines are still in the cache when read.
pub(super) const PREFETCH_AHEAD: usize = 16;

impl CaseSet {
    pub(super) fn new() -> CaseSet {
        CaseSet {
            slots: vec![CaseSlot::default(); 1024],
            len: 0,
            fingerprint: (RandomState::new(), RandomState::new()),
        }
    }

    /// The 128-bit fingerprint of a text (two independent 64-bit hashes; never 0).
    pub(super) fn print<T: std::hash::Hash>(&self, value: T) -> u128 {
        let p = (u128::from(self.fingerprint.0.hash_one(&value)) << 64)
            | u128::from(self.fingerprint.1.hash_one(&value));
        p.max(1)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The slot holding `print`, or the empty slot where it would go.
    pub(super) fn slot(&self, print: u128) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = print as usize & mask;
        while self.slots[i].print != 0 && self.slots[i].print != print {
            i = (i + 1) & mask;
        }
        i
    }

    /// (line, key) of the case with this fingerprint.
    pub(super) fn get(&self, print: u128) -> Option<(u64, i64)> {
        let s = &self.slots[self.slot(print)];
        (s.print != 0).then_some((s.line, s.key))
    }

    /// Makes room for `cases` in all without growing on the way (growing moves every
    /// case to a new slot, a cache miss each). Only an empty set is resized.
    pub(super) fn reserve(&mut self, cases: usize) {
        let slots = (cases.saturating_mul(10) / 7 + 1).next_power_of_two();
        if self.len == 0 && slots > self.slots.len() {
            self.slots = vec![CaseSlot::default(); slots];
        }
    }

    /// Adds a case not in the set.
    pub(super) fn insert(&mut self, print: u128, line: u64, key: i64) {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            let grown = vec![CaseSlot::default(); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            for s in old.into_iter().filter(|s| s.print != 0) {
                let i = self.slot(s.print);
                self.slots[i] = s;
            }
        }
        let i = self.slot(print);
        debug_assert_eq!(self.slots[i].print, 0, "a case is added once");
        self.slots[i] = CaseSlot { print, line, key };
        self.len += 1;
    }

    /// Asks the processor to fetch the cache line of `print`'s first slot.
    #[inline]
    pub(super) fn prefetch(&self, print: u128) {
        let slot = &self.slots[print as usize & (self.slots.len() - 1)];
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot
        // fault; the address is of a slot of this set.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const CaseSlot).cast::<i8>(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The keys of the cases `ids` name (`None`: no such case), into `keys`. Each
    /// row's slot is prefetched [`PREFETCH_AHEAD`] rows before it is read, so the
    /// misses overlap. The ingest runs this on the thread that reads the file;
    /// [`Validator::check_fields`] takes the result as `found`.
    pub fn find<'a>(
        &self,
        ids: impl Iterator<Item = Option<&'a str>>,
        keys: &mut Vec<Option<i64>>,
    ) {
        let prints: Vec<u128> = ids.map(|id| id.map_or(0, |id| self.print(id))).collect();
        keys.clear();
        for p in prints.iter().take(PREFETCH_AHEAD) {
            self.prefetch(*p);
        }
        for (i, p) in prints.iter().enumerate() {
            if let Some(ahead) = prints.get(i + PREFETCH_AHEAD) {
                self.prefetch(*ahead);
            }
            keys.push(if *p == 0 {
                None
            } else {
                self.get(*p).map(|(_, k)| k)
            });
        }
    }
}
