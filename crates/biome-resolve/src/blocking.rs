//! Classic blocking: records that agree exactly on every column of a rule are candidates.
//!
//! Values are compared trimmed and lowercased; a record with an empty value in a rule's column
//! is in no block of that rule (an empty postcode says nothing about a match). A block larger
//! than the cap would flood the scorer with pairs that are nearly all non-matches (the
//! surname "smith"), so it is dropped, and the statistics say so.

use std::collections::HashMap;

use serde::Serialize;

/// Columns whose values must all agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingRule {
    /// Column names, at least one.
    pub columns: Vec<String>,
}

impl BlockingRule {
    /// Reads `"surname"` or `"postcode,date_of_birth"`; `None` for an empty spec or an empty
    /// column name.
    pub fn parse(spec: &str) -> Option<Self> {
        let columns: Vec<String> = spec.split(',').map(|c| c.trim().to_owned()).collect();
        (!columns.iter().any(String::is_empty)).then_some(Self { columns })
    }

    /// The rule as written: `postcode,date_of_birth`.
    pub fn name(&self) -> String {
        self.columns.join(",")
    }
}

/// What one rule gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockingStats {
    /// The rule as written.
    pub rule: String,
    /// Blocks with at least one pair.
    pub blocks: usize,
    /// Pairs from the blocks kept (before the union with other rules).
    pub pairs: u64,
    /// Blocks over the cap, dropped.
    pub dropped_blocks: usize,
    /// Pairs those blocks would have given.
    pub dropped_pairs: u64,
    /// Records in the largest dropped block (0 when none was dropped).
    pub largest_dropped_block: usize,
}

/// Each record's key under one rule: its values of the rule's columns (`columns[c][row]`),
/// trimmed and lowercased; `None` when one of them is empty.
pub fn block_keys(columns: &[&[String]]) -> Vec<Option<String>> {
    let rows = columns.first().map_or(0, |c| c.len());
    (0..rows)
        .map(|r| {
            let mut key = String::new();
            for (i, column) in columns.iter().enumerate() {
                let v = column[r].trim();
                if v.is_empty() {
                    return None;
                }
                if i > 0 {
                    // a separator no value contains, so ("a b", "c") differs from ("a", "b c")
                    key.push('\u{1f}');
                }
                key.extend(v.chars().flat_map(char::to_lowercase));
            }
            Some(key)
        })
        .collect()
}

fn groups(keys: &[Option<String>]) -> HashMap<&str, Vec<u32>> {
    let mut groups: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(k) = k {
            groups.entry(k).or_default().push(i as u32);
        }
    }
    groups
}

/// Pairs `(a, b)`, `a < b`, of records with the same key, from blocks of at most `max_block`
/// records, with the statistics of `rule`.
pub fn dedupe_pairs(
    rule: &BlockingRule,
    keys: &[Option<String>],
    max_block: usize,
) -> (Vec<(u32, u32)>, BlockingStats) {
    let mut stats = BlockingStats {
        rule: rule.name(),
        ..Default::default()
    };
    let mut pairs = vec![];
    for members in groups(keys).into_values() {
        let n = members.len();
        if n < 2 {
            continue;
        }
        let count = (n * (n - 1) / 2) as u64;
        if n > max_block {
            stats.dropped_blocks += 1;
            stats.dropped_pairs += count;
            stats.largest_dropped_block = stats.largest_dropped_block.max(n);
            continue;
        }
        stats.blocks += 1;
        stats.pairs += count;
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                pairs.push((a.min(b), a.max(b)));
            }
        }
    }
    (pairs, stats)
}

/// Pairs `(left, right)` of records with the same key in the two tables, from blocks where
/// neither side has more than `max_block` records.
pub fn link_pairs(
    rule: &BlockingRule,
    left_keys: &[Option<String>],
    right_keys: &[Option<String>],
    max_block: usize,
) -> (Vec<(u32, u32)>, BlockingStats) {
    let mut stats = BlockingStats {
        rule: rule.name(),
        ..Default::default()
    };
    let left = groups(left_keys);
    let mut pairs = vec![];
    for (key, rights) in groups(right_keys) {
        let Some(lefts) = left.get(key) else { continue };
        let count = (lefts.len() * rights.len()) as u64;
        if lefts.len().max(rights.len()) > max_block {
            stats.dropped_blocks += 1;
            stats.dropped_pairs += count;
            stats.largest_dropped_block =
                stats.largest_dropped_block.max(lefts.len() + rights.len());
            continue;
        }
        stats.blocks += 1;
        stats.pairs += count;
        for &l in lefts {
            for &r in &rights {
                pairs.push((l, r));
            }
        }
    }
    (pairs, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keys_trim_lowercase_and_skip_empty_values() {
        let a = col(&[" Smith", "smith ", "", "jones"]);
        let b = col(&["2000", "2000", "2000", " "]);
        let keys = block_keys(&[&a, &b]);
        assert_eq!(keys[0], keys[1]);
        assert_eq!(keys[2], None);
        assert_eq!(keys[3], None);
        // the separator keeps ("a b", "c") apart from ("a", "b c")
        let x = block_keys(&[&col(&["a b", "a"]), &col(&["c", "b c"])]);
        assert_ne!(x[0], x[1]);
    }

    #[test]
    fn dedupe_blocks_give_all_pairs_and_big_blocks_are_dropped_and_counted() {
        let rule = BlockingRule::parse("surname").unwrap();
        let s = col(&["a", "b", "a", "a", "c", "b", "c", "c", "c"]);
        let keys = block_keys(&[&s]);
        let (mut pairs, stats) = dedupe_pairs(&rule, &keys, 3);
        pairs.sort();
        // "a": 0,2,3 (3 pairs); "b": 1,5 (1 pair); "c": 4 records > 3, dropped (6 pairs)
        assert_eq!(pairs, vec![(0, 2), (0, 3), (1, 5), (2, 3)]);
        assert_eq!(
            stats,
            BlockingStats {
                rule: "surname".into(),
                blocks: 2,
                pairs: 4,
                dropped_blocks: 1,
                dropped_pairs: 6,
                largest_dropped_block: 4,
            }
        );
    }

    #[test]
    fn link_blocks_pair_left_with_right_only() {
        let rule = BlockingRule::parse("pc").unwrap();
        let left = block_keys(&[&col(&["1", "2", "1"])]);
        let right = block_keys(&[&col(&["1", "3", "2", "2"])]);
        let (mut pairs, stats) = link_pairs(&rule, &left, &right, 10);
        pairs.sort();
        assert_eq!(pairs, vec![(0, 0), (1, 2), (1, 3), (2, 0)]);
        assert_eq!((stats.blocks, stats.pairs), (2, 4));
        let (pairs, stats) = link_pairs(&rule, &left, &right, 1);
        assert_eq!(pairs, vec![]);
        assert_eq!((stats.dropped_blocks, stats.dropped_pairs), (2, 4));
    }

    #[test]
    fn rules_parse_and_reject_empty_columns() {
        assert_eq!(
            BlockingRule::parse("postcode, date_of_birth")
                .unwrap()
                .columns,
            vec!["postcode", "date_of_birth"]
        );
        assert_eq!(BlockingRule::parse(""), None);
        assert_eq!(BlockingRule::parse("a,,b"), None);
    }
}
