//! Byte-level mutations of a valid input, the way a damaged file or a bad copy changes it.

use proptest::prelude::*;

/// One change to a byte string; positions are taken modulo the length.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(usize, u8),
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

/// Bytes that matter to CSV and JSON syntax, plus invalid UTF-8 and NUL, often picked.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"\",\n\r{}[]:\\ \xff\xc3\x00".to_vec()),
        1 => any::<u8>(),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (any::<usize>(), byte()).prop_map(|(p, b)| Mutation::Replace(p, b)),
        (any::<usize>(), byte()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
    ]
}

pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..5)
}

/// `bytes` with `mutations` applied in order.
pub fn apply(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in mutations {
        let len = b.len();
        let at = |p: usize| if len == 0 { 0 } else { p % len };
        match *m {
            Mutation::FlipBit(p, bit) if len > 0 => b[at(p)] ^= 1 << bit,
            Mutation::Replace(p, v) if len > 0 => b[at(p)] = v,
            Mutation::Insert(p, v) => b.insert(p % (len + 1), v),
            Mutation::Delete(p) if len > 0 => {
                b.remove(at(p));
            }
            Mutation::Truncate(p) => b.truncate(p % (len + 1)),
            Mutation::Duplicate(p, n) if len > 0 => {
                let start = at(p);
                let piece = b[start..(start + n).min(len)].to_vec();
                b.splice(start..start, piece);
            }
            _ => {}
        }
    }
    b
}
