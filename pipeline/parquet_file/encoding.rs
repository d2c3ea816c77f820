//! The Parquet encodings `TableFile`'s hand-written chunks use: the RLE/bit-packing
//! hybrid (dictionary keys, definition levels) and `DELTA_BINARY_PACKED` (the prefix and
//! suffix lengths of `DELTA_BYTE_ARRAY`), as the format's Encodings.md describes them.

/// Appends `values` in `DELTA_BINARY_PACKED`, as the parquet crate writes it: blocks of
/// 128 deltas in four miniblocks of 32, each miniblock at the width of its greatest
/// delta less the block's least (a partial last miniblock padded to 32; the widths of
/// miniblocks past the values are 0, with no bytes).
pub(super) fn delta_binary_packed(values: &[i64], out: &mut Vec<u8>) {
    const BLOCK: usize = 128;
    const MINIBLOCK: usize = 32;
    uleb128(BLOCK as u64, out);
    uleb128((BLOCK / MINIBLOCK) as u64, out);
    uleb128(values.len() as u64, out);
    uleb128(zigzag(values.first().copied().unwrap_or(0)), out);
    let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let mut relative = Vec::with_capacity(MINIBLOCK);
    for block in deltas.chunks(BLOCK) {
        let least = *block.iter().min().expect("chunks are not empty");
        uleb128(zigzag(least), out);
        let widths: Vec<u8> = (0..BLOCK / MINIBLOCK)
            .map(|m| {
                let mini = block.get(m * MINIBLOCK..).unwrap_or(&[]);
                let greatest = mini
                    .iter()
                    .take(MINIBLOCK)
                    .map(|&d| d.wrapping_sub(least) as u64)
                    .max();
                greatest.map_or(0, |g| (u64::BITS - g.leading_zeros()) as u8)
            })
            .collect();
        out.extend_from_slice(&widths);
        for (mini, &width) in block.chunks(MINIBLOCK).zip(&widths) {
            relative.clear();
            relative.extend(mini.iter().map(|&d| d.wrapping_sub(least) as u64));
            relative.resize(MINIBLOCK, 0);
            pack_groups(&relative, width, out);
        }
    }
}

/// Zigzag: signed to unsigned, small magnitudes to small numbers.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bits for values up to `max` (at least one: a one-value dictionary's keys still take a
/// bit, which every reader decodes).
pub(super) fn bits_for(max: u32) -> u8 {
    (u32::BITS - max.leading_zeros()).max(1) as u8
}

/// Appends an RLE run of the RLE/bit-packing hybrid: `count` times `value` (`value` < 256,
/// one byte: the widths used here are at most 8 bits for levels).
pub(super) fn rle_run(count: usize, value: u8, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    out.push(value);
}

/// Appends `values` (each below 2^`width`) as bit-packed runs of the RLE/bit-packing
/// hybrid: runs of at most 63 groups of eight values (a one-byte header, as parquet-rs
/// writes them), each value's bits from the least significant, the last group padded with
/// zeros (a reader stops at the page's count of values).
pub(super) fn bit_pack(values: &[u32], width: u8, out: &mut Vec<u8>) {
    for run in values.chunks(8 * 63) {
        let groups = run.len().div_ceil(8);
        uleb128(((groups as u64) << 1) | 1, out);
        pack_groups(run, width, out);
    }
}

/// Appends `values` (each below 2^`width`, `width` at most 64) bit-packed in groups of
/// eight, each value's bits from the least significant, the last group padded with
/// zeros.
fn pack_groups<T: Copy + Into<u64>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    let w = usize::from(width);
    for group in values.chunks(8) {
        if w <= 8 {
            // Eight values of up to 8 bits: one word, its first `w` bytes.
            let word = group
                .iter()
                .enumerate()
                .fold(0u64, |word, (j, &v)| word | v.into() << (j * w));
            out.extend_from_slice(&word.to_le_bytes()[..w]);
        } else {
            let (mut acc, mut bits) = (0u128, 0);
            for j in 0..8 {
                acc |= u128::from(group.get(j).map_or(0, |&v| v.into())) << bits;
                bits += w;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
        }
    }
}

/// Appends `v` as an unsigned LEB128 varint.
fn uleb128(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published example: the Parquet format's encoding spec (Encodings.md, "Bit-packed")
    /// packs 0..=7 at width 3 as 10001000 11000110 11111010.
    #[test]
    fn bit_packing_matches_the_format_example() {
        let mut out = Vec::new();
        bit_pack(&[0, 1, 2, 3, 4, 5, 6, 7], 3, &mut out);
        assert_eq!(
            out,
            vec![0b0000_0011, 0b1000_1000, 0b1100_0110, 0b1111_1010]
        );
    }

    /// Every width from 1 to 32 against packing bit by bit (LSB first, as the format
    /// says), on values that use all of each width and a last group that is not full.
    #[test]
    fn bit_packing_matches_a_bit_by_bit_packing() {
        for width in 1..=32u8 {
            let values: Vec<u32> = (0..1013u64)
                .map(|i| ((i * 2_654_435_761) % (1u64 << width)) as u32)
                .collect();
            let mut out = Vec::new();
            bit_pack(&values, width, &mut out);
            let mut want = Vec::new();
            for run in values.chunks(504) {
                let groups = run.len().div_ceil(8);
                uleb128(((groups as u64) << 1) | 1, &mut want);
                let mut bits = vec![false; groups * 8 * usize::from(width)];
                for (j, &v) in run.iter().enumerate() {
                    for b in 0..usize::from(width) {
                        bits[j * usize::from(width) + b] = v >> b & 1 == 1;
                    }
                }
                want.extend(bits.chunks(8).map(|byte| {
                    byte.iter()
                        .enumerate()
                        .fold(0u8, |acc, (k, &bit)| acc | u8::from(bit) << k)
                }));
            }
            assert_eq!(out, want, "width {width}");
        }
    }

    #[test]
    fn runs_are_cut_at_63_groups_and_padded() {
        let values: Vec<u32> = (0..1000).map(|i| i % 2).collect();
        let mut out = Vec::new();
        bit_pack(&values, 1, &mut out);
        // 504 values: header 127 and 63 bytes; 496 values: 62 groups, header 125, 62 bytes.
        assert_eq!(out.len(), 1 + 63 + 1 + 62);
        assert_eq!(out[0], 127);
        assert_eq!(out[64], 125);
        assert_eq!(out[1], 0b1010_1010);
        let mut rle = Vec::new();
        rle_run(300, 1, &mut rle);
        assert_eq!(rle, vec![0xd8, 0x04, 1]);
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 2);
        assert_eq!(bits_for(255), 8);
        assert_eq!(bits_for(256), 9);
    }
}
