//! Directory-index (htree) name hashes, as Linux's `fs/ext4/hash.c`: the legacy hash, half-MD4 and TEA, each
//! over name bytes taken as signed or unsigned `char`.

/// `DX_HASH_LEGACY`.
pub const LEGACY: u8 = 0;
/// `DX_HASH_HALF_MD4`.
pub const HALF_MD4: u8 = 1;
/// `DX_HASH_TEA`.
pub const TEA: u8 = 2;
/// Added to a signed version for its unsigned variant (`DX_HASH_LEGACY_UNSIGNED` is 3, and so on).
pub const UNSIGNED: u8 = 3;

/// The seed used when the superblock's is all zeros.
const DEFAULT_SEED: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// A name byte as a C `char` of the chosen signedness, widened to `int`.
fn char_value(b: u8, unsigned: bool) -> u32 {
    if unsigned { b as u32 } else { b as i8 as i32 as u32 }
}

fn legacy(name: &[u8], unsigned: bool) -> u32 {
    let (mut h0, mut h1) = (0x12a3_fe2du32, 0x37ab_e8f9u32);
    for &b in name {
        let mut h = h1.wrapping_add(h0 ^ char_value(b, unsigned).wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7fff_ffff);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// Linux's `str2hashbuf`: up to `out.len() * 4` bytes of `msg` packed into words, padded with the length.
fn str2hashbuf(msg: &[u8], out: &mut [u32], unsigned: bool) {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut val = pad;
    let mut k = 0;
    for (i, &b) in msg.iter().take(out.len() * 4).enumerate() {
        val = char_value(b, unsigned).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[k] = val;
            k += 1;
            val = pad;
        }
    }
    if k < out.len() {
        out[k] = val;
        k += 1;
    }
    out[k..].fill(pad);
}

fn half_md4(buf: &mut [u32; 4], x: &[u32; 8]) {
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    let [mut a, mut b, mut c, mut d] = *buf;
    macro_rules! round {
        ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x).rotate_left($s)
        };
    }
    round!(f, a, b, c, d, x[0], 3);
    round!(f, d, a, b, c, x[1], 7);
    round!(f, c, d, a, b, x[2], 11);
    round!(f, b, c, d, a, x[3], 19);
    round!(f, a, b, c, d, x[4], 3);
    round!(f, d, a, b, c, x[5], 7);
    round!(f, c, d, a, b, x[6], 11);
    round!(f, b, c, d, a, x[7], 19);
    round!(g, a, b, c, d, x[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, x[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[6].wrapping_add(K2), 13);
    round!(h, a, b, c, d, x[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, x[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[4].wrapping_add(K3), 15);
    for (v, n) in buf.iter_mut().zip([a, b, c, d]) {
        *v = v.wrapping_add(n);
    }
}

fn tea(buf: &mut [u32; 4], x: &[u32; 4]) {
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let [a, b, c, d] = *x;
    let mut sum = 0u32;
    for _ in 0..16 {
        sum = sum.wrapping_add(0x9E37_79B9);
        b0 = b0.wrapping_add((b1 << 4).wrapping_add(a) ^ b1.wrapping_add(sum) ^ (b1 >> 5).wrapping_add(b));
        b1 = b1.wrapping_add((b0 << 4).wrapping_add(c) ^ b0.wrapping_add(sum) ^ (b0 >> 5).wrapping_add(d));
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

/// The major hash of `name` with hash `version` (0–5: legacy, half-MD4, TEA, then their unsigned variants)
/// and the superblock's `seed`, low bit clear as the index stores it; `None` for an unknown version.
pub fn hash(name: &[u8], version: u8, seed: [u32; 4]) -> Option<u32> {
    let mut buf = if seed == [0; 4] { DEFAULT_SEED } else { seed };
    let unsigned = version >= UNSIGNED;
    let h = match version % UNSIGNED {
        _ if version > TEA + UNSIGNED => return None,
        LEGACY => legacy(name, unsigned),
        HALF_MD4 => {
            let mut x = [0u32; 8];
            // Linux passes the remaining length each round (it sets the padding); an empty name runs none.
            for at in (0..name.len()).step_by(32) {
                str2hashbuf(&name[at..], &mut x, unsigned);
                half_md4(&mut buf, &x);
            }
            buf[1]
        }
        _ => {
            let mut x = [0u32; 4];
            for at in (0..name.len()).step_by(16) {
                str2hashbuf(&name[at..], &mut x, unsigned);
                tea(&mut buf, &x);
            }
            buf[0]
        }
    };
    let h = h & !1;
    // The top value is the end-of-directory marker of 32-bit positions: Linux moves it down.
    Some(if h == 0x7fff_ffff << 1 { 0x7fff_fffe << 1 } else { h })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from e2fsprogs 1.47's `debugfs -R "dx_hash -h HASHALG_<v> [-s SEED] NAME"`.
    #[test]
    fn hashes_match_e2fsprogs() {
        let seed = [0x0403_0201, 0x0807_0605, 0x0c0b_0a09, 0x100f_0e0d];
        let cafe = "caf\u{e9}".as_bytes();
        let want = [0x96ca5a2c, 0xeeef3446, 0x3037ce66, 0x6dde4230, 0xaa032ce8, 0xe0a9758c];
        for (v, w) in want.into_iter().enumerate() {
            assert_eq!(hash(cafe, v as u8, seed), Some(w), "version {v}");
        }
        let mut long = [b'x'; 42].to_vec();
        long[40..].copy_from_slice("\u{e9}".as_bytes());
        let want = [0x1224be54, 0x9eb66706, 0x437e810c, 0xbf08ae52, 0xbe85ded6, 0xf30cc20e];
        for (v, w) in want.into_iter().enumerate() {
            assert_eq!(hash(&long, v as u8, [0; 4]), Some(w), "version {v}");
        }
        assert_eq!(hash(b"hello", HALF_MD4, [0; 4]), Some(0x1746da32));
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert_eq!(hash(b"a", 6, [0; 4]), None);
    }

    #[test]
    fn signedness_only_matters_for_high_bytes() {
        for v in [LEGACY, HALF_MD4, TEA] {
            assert_eq!(hash(b"plain", v, [0; 4]), hash(b"plain", v + UNSIGNED, [0; 4]));
            assert_ne!(
                hash(b"caf\xc3\xa9", v, [0; 4]),
                hash(b"caf\xc3\xa9", v + UNSIGNED, [0; 4])
            );
        }
    }

    #[test]
    fn the_low_bit_is_clear() {
        for v in 0..6 {
            for n in [&b"a"[..], b"lost+found", &[b'x'; 255]] {
                assert_eq!(hash(n, v, [1, 2, 3, 4]).unwrap() & 1, 0);
            }
        }
    }
}
