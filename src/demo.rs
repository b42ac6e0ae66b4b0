//! The embedded default data: a small, deterministic generator of person-record pairs with the
//! errors real customer data has (swapped, dropped and doubled letters, nicknames, moved house
//! numbers, mistyped digits, missing fields), in the spirit of the FEBRL generator.
//!
//! No downloads are possible on our users' first run, so the README's main job trains on this.

use std::io::Write;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Column names of one record, in order; the CSV has `record1_<name>`, `record2_<name>`, `label`.
pub const FIELDS: [&str; 8] = [
    "given_name",
    "surname",
    "street_number",
    "address",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
];

const GIVEN: &[(&str, &[&str])] = &[
    ("william", &["bill", "will", "liam"]),
    ("robert", &["bob", "rob", "bobby"]),
    ("elizabeth", &["liz", "beth", "lizzie"]),
    ("katherine", &["kate", "kathy", "kat"]),
    ("margaret", &["maggie", "meg", "peggy"]),
    ("thomas", &["tom", "tommy"]),
    ("jennifer", &["jen", "jenny"]),
    ("michael", &["mike", "mick"]),
    ("alexander", &["alex", "sasha"]),
    ("christopher", &["chris", "kit"]),
    ("samantha", &["sam", "sammy"]),
    ("benjamin", &["ben", "benny"]),
    ("rebecca", &["becky", "bec"]),
    ("joshua", &["josh"]),
    ("isabella", &["bella", "izzy"]),
    ("nathan", &["nate"]),
    ("charlotte", &["lottie", "charlie"]),
    ("daniel", &["dan", "danny"]),
    ("emily", &["em", "emmy"]),
    ("matthew", &["matt"]),
    ("olivia", &["liv"]),
    ("jessica", &["jess"]),
    ("andrew", &["andy", "drew"]),
    ("victoria", &["vicky", "tori"]),
    ("sebastian", &["seb"]),
    ("hannah", &[]),
    ("lachlan", &["lachie"]),
    ("chloe", &[]),
    ("ingo", &[]),
    ("herbert", &["herb", "bert"]),
    ("zoe", &[]),
    ("riley", &[]),
    ("mia", &[]),
    ("jack", &["jackie"]),
    ("ella", &[]),
    ("oscar", &["ossie"]),
    ("grace", &["gracie"]),
    ("henry", &["hal", "harry"]),
    ("amelia", &["millie"]),
    ("lucas", &["luke"]),
];

const SURNAMES: &[&str] = &[
    "smith",
    "nguyen",
    "brandes",
    "siller",
    "crofts",
    "mcdonald",
    "oconnor",
    "papadopoulos",
    "goetsch",
    "boelke",
    "farris",
    "thompson",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "anderson",
    "martin",
    "white",
    "harris",
    "kelly",
    "ryan",
    "walker",
    "young",
    "king",
    "wright",
    "lee",
    "campbell",
    "mitchell",
    "roberts",
    "carter",
    "hughes",
    "edwards",
    "morris",
    "cooper",
    "richardson",
    "clarke",
    "baker",
    "stewart",
    "murphy",
    "schmidt",
    "mueller",
    "weber",
    "fischer",
    "becker",
    "hoffmann",
    "schulz",
    "koch",
    "richter",
    "wolf",
    "tran",
    "le",
    "pham",
    "huynh",
    "soulemezis",
    "gohl",
    "moody",
    "ditty",
    "saines",
    "jean",
];

const STREETS: &[&str] = &[
    "marshall street",
    "charlton street",
    "banjine street",
    "beattie crescent",
    "lambell close",
    "staaten crescent",
    "chippindall circuit",
    "throssell street",
    "gooreen street",
    "dorfstrasse",
    "wiehagen",
    "williams street",
    "kent road",
    "queen street",
    "king street",
    "george street",
    "high street",
    "station road",
    "church street",
    "park avenue",
    "victoria road",
    "bridge road",
    "elizabeth street",
    "hill street",
    "railway parade",
    "ocean drive",
    "river terrace",
];

const SUBURBS: &[(&str, &str, u32)] = &[
    ("st albans", "vic", 3021),
    ("kellyville", "nsw", 2155),
    ("penguin", "tas", 7316),
    ("casino", "nsw", 2470),
    ("moura", "qld", 4718),
    ("buff point", "nsw", 2262),
    ("greensborough", "vic", 3088),
    ("jones hill", "qld", 4570),
    ("tarnagulla", "vic", 3551),
    ("altona", "vic", 3018),
    ("yarrabee", "qld", 4455),
    ("kindilan", "qld", 4350),
    ("fremantle", "wa", 6160),
    ("glenelg", "sa", 5045),
    ("belconnen", "act", 2617),
    ("darwin", "nt", 800),
    ("parramatta", "nsw", 2150),
    ("geelong", "vic", 3220),
    ("toowoomba", "qld", 4350),
    ("launceston", "tas", 7250),
];

/// One synthetic person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub fields: [String; 8],
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_person(rng: &mut StdRng) -> Person {
    let (given, _) = pick(rng, GIVEN);
    let surname = pick(rng, SURNAMES);
    let (suburb, state, postcode) = pick(rng, SUBURBS);
    let dob = format!(
        "{}{:02}{:02}",
        rng.random_range(1920..2008),
        rng.random_range(1..13),
        rng.random_range(1..29)
    );
    Person {
        fields: [
            given.to_string(),
            surname.to_string(),
            rng.random_range(1..400).to_string(),
            pick(rng, STREETS).to_string(),
            suburb.to_string(),
            format!("{postcode:04}"),
            state.to_string(),
            dob,
        ],
    }
}

/// A typo in one word: swap two neighbours, drop, double or replace a character.
fn typo(rng: &mut StdRng, word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return word.to_string();
    }
    let i = rng.random_range(0..chars.len() - 1);
    match rng.random_range(0..4) {
        0 => chars.swap(i, i + 1),
        1 => {
            chars.remove(i);
        }
        2 => chars.insert(i, chars[i]),
        _ => {
            chars[i] = if chars[i].is_ascii_digit() {
                char::from(b'0' + rng.random_range(0..10u8))
            } else {
                char::from(b'a' + rng.random_range(0..26u8))
            }
        }
    }
    chars.into_iter().collect()
}

/// The same person as another clerk would have typed them: one to three corruptions.
fn corrupt(rng: &mut StdRng, person: &Person) -> Person {
    let mut out = person.clone();
    let n = rng.random_range(1..4);
    for _ in 0..n {
        let field = rng.random_range(0..FIELDS.len());
        match (field, rng.random_range(0..10)) {
            // nickname instead of the given name
            (0, 0..=3) => {
                if let Some((_, nicks)) = GIVEN.iter().find(|(g, _)| *g == person.fields[0])
                    && !nicks.is_empty()
                {
                    out.fields[0] = pick(rng, nicks).to_string();
                }
            }
            // house number moved into the address line
            (2, 0..=2) => {
                out.fields[3] = format!("{} {}", out.fields[2], out.fields[3]);
                out.fields[2].clear();
            }
            // a missing value
            (_, 9) => out.fields[field].clear(),
            _ => out.fields[field] = typo(rng, &out.fields[field]),
        }
    }
    out
}

/// A different person who shares a lot with `person` (a relative at the same address, or a
/// namesake elsewhere): the hard negatives that make the task worth learning.
fn near_miss(rng: &mut StdRng, person: &Person) -> Person {
    let mut other = random_person(rng);
    if rng.random_bool(0.5) {
        // family member: same surname and address, different given name and birth date
        for i in 1..7 {
            other.fields[i] = person.fields[i].clone();
        }
        while other.fields[0] == person.fields[0] {
            other.fields[0] = pick(rng, GIVEN).0.to_string();
        }
    } else {
        // namesake: same names, different place and birth date
        other.fields[0] = person.fields[0].clone();
        other.fields[1] = person.fields[1].clone();
    }
    other
}

/// `n` labelled pairs, about half duplicates; a third of the non-duplicates are near misses.
pub fn generate_pairs(n: usize, seed: u64) -> Vec<(Person, Person, &'static str)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let a = random_person(&mut rng);
            if rng.random_bool(0.5) {
                let b = corrupt(&mut rng, &a);
                (a, b, "duplicate")
            } else if rng.random_bool(0.35) {
                let b = near_miss(&mut rng, &a);
                (a, b, "not_duplicate")
            } else {
                let b = random_person(&mut rng);
                (a, b, "not_duplicate")
            }
        })
        .collect()
}

/// Write pairs as a CSV with a `record1_*`, `record2_*`, `label` header.
pub fn write_csv(path: &Path, pairs: &[(Person, Person, &str)]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header: Vec<String> = ["record1", "record2"]
        .iter()
        .flat_map(|r| FIELDS.iter().map(move |f| format!("{r}_{f}")))
        .chain(std::iter::once("label".to_string()))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    for (a, b, label) in pairs {
        let row: Vec<&str> = a
            .fields
            .iter()
            .chain(b.fields.iter())
            .map(String::as_str)
            .chain(std::iter::once(*label))
            .collect();
        // No generated value contains a comma or a quote, so no quoting is needed.
        writeln!(out, "{}", row.join(","))?;
    }
    out.flush()
}

/// Column names of record 1 or 2 (`which` is 1 or 2).
pub fn record_columns(which: u8) -> Vec<String> {
    FIELDS
        .iter()
        .map(|f| format!("record{which}_{f}"))
        .collect()
}

/// Write `train.csv`, `validation.csv` and `test.csv` into `dir`; returns their paths.
pub fn write_splits(
    dir: &Path,
    sizes: (usize, usize, usize),
    seed: u64,
) -> std::io::Result<[std::path::PathBuf; 3]> {
    std::fs::create_dir_all(dir)?;
    let paths = [
        dir.join("train.csv"),
        dir.join("validation.csv"),
        dir.join("test.csv"),
    ];
    let counts = [sizes.0, sizes.1, sizes.2];
    for (i, (path, n)) in paths.iter().zip(counts).enumerate() {
        write_csv(path, &generate_pairs(n, seed.wrapping_add(i as u64 * 7919)))?;
    }
    Ok(paths)
}

/// One row of a generated table: a record id, its true entity and the person as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// `rec-<entity>-org` for the original, `rec-<entity>-dup-<k>` for its duplicates (FEBRL's
    /// scheme).
    pub rec_id: String,
    /// The true entity.
    pub entity_id: u64,
    /// The record.
    pub person: Person,
}

/// A table of `n` person records to deduplicate, in random order: entities with one original
/// and, for 40 % of them, one to five duplicates (each one to three corruptions of the
/// original), and a share of near misses (relatives and namesakes of other entities) among
/// the originals, as in FEBRL's dataset 3.
pub fn generate_table(n: usize, seed: u64) -> Vec<TableRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows: Vec<TableRow> = Vec::with_capacity(n);
    let mut entity = 0u64;
    while rows.len() < n {
        let person = match rows.last() {
            Some(last) if rng.random_bool(0.1) => near_miss(&mut rng, &last.person),
            _ => random_person(&mut rng),
        };
        let duplicates = if rng.random_bool(0.4) {
            rng.random_range(1..=5usize)
        } else {
            0
        };
        rows.push(TableRow {
            rec_id: format!("rec-{entity}-org"),
            entity_id: entity,
            person: person.clone(),
        });
        for k in 0..duplicates {
            if rows.len() == n {
                break;
            }
            rows.push(TableRow {
                rec_id: format!("rec-{entity}-dup-{k}"),
                entity_id: entity,
                person: corrupt(&mut rng, &person),
            });
        }
        entity += 1;
    }
    // Fisher–Yates with the same generator: the order says nothing about the entities.
    for i in (1..rows.len()).rev() {
        let j = rng.random_range(0..=i);
        rows.swap(i, j);
    }
    rows
}

/// Write a generated table as CSV: `rec_id,entity_id,<FIELDS>`.
pub fn write_table_csv(path: &Path, rows: &[TableRow]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "rec_id,entity_id,{}", FIELDS.join(","))?;
    for row in rows {
        // No generated value contains a comma or a quote, so no quoting is needed.
        writeln!(
            out,
            "{},{},{}",
            row.rec_id,
            row.entity_id,
            row.person.fields.join(",")
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_n_rows_unique_ids_and_entities_with_duplicates() {
        let rows = generate_table(3000, 11);
        assert_eq!(rows.len(), 3000);
        let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.rec_id.as_str()).collect();
        assert_eq!(ids.len(), 3000);
        let mut sizes = std::collections::HashMap::new();
        for r in &rows {
            *sizes.entry(r.entity_id).or_insert(0usize) += 1;
            assert!(r.rec_id.starts_with(&format!("rec-{}-", r.entity_id)));
        }
        let multi = sizes.values().filter(|&&n| n > 1).count();
        let share = multi as f64 / sizes.len() as f64;
        assert!((0.3..0.5).contains(&share), "{share}");
        assert!(sizes.values().all(|&n| n <= 6));
        assert_eq!(generate_table(50, 2), generate_table(50, 2));
        // shuffled: the first rows are not one entity after another
        assert!(
            rows.windows(2)
                .filter(|w| w[0].entity_id + 1 == w[1].entity_id)
                .count()
                < 100
        );
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        assert_eq!(generate_pairs(50, 3), generate_pairs(50, 3));
        assert_ne!(generate_pairs(50, 3), generate_pairs(50, 4));
    }

    #[test]
    fn roughly_balanced_and_duplicates_differ_from_their_source_a_little() {
        let pairs = generate_pairs(2000, 1);
        let dups = pairs.iter().filter(|p| p.2 == "duplicate").count();
        assert!((800..1200).contains(&dups), "{dups}");
        for (a, b, label) in &pairs {
            let same = a
                .fields
                .iter()
                .zip(&b.fields)
                .filter(|(x, y)| x == y)
                .count();
            if *label == "duplicate" {
                assert!(same >= 4, "duplicate too different: {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn csv_has_header_and_one_row_per_pair() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_splits(dir.path(), (10, 5, 5), 9).unwrap();
        let text = std::fs::read_to_string(&paths[0]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert!(lines[0].starts_with("record1_given_name,record1_surname"));
        assert!(lines[0].ends_with(",label"));
        assert!(lines.iter().all(|l| l.split(',').count() == 17));
    }
}
