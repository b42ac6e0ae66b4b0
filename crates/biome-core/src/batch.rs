//! Padded id batches (plain `Vec`s; the model crate turns them into tensors).
//!
//! A batch of pairs is two [`RecordBatch`]es indexed and padded independently (the two sides
//! of a siamese model are encoded separately, so they need not share a length) plus the label
//! indices. Padding id is 0; every dimension is at least 1, so an all-empty batch still gives
//! valid (all-padding, all-masked) tensors instead of zero-sized ones.

use thiserror::Error;

use crate::indexer::TokenIndexer;
use crate::label::{UnknownLabel, label_index};
use crate::record::{PairExample, Record, RecordMode};
use crate::subword::{SubwordTokenizer, SubwordTokenizerError};
use crate::tokenizer::{Tokenizer, characters};
use crate::vocabulary::{
    LABELS, TOKEN_CHARACTERS, TOKENS, Vocabulary, VocabularyBuilder, VocabularyOptions,
};

/// Errors of batch construction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// No examples were given.
    #[error("cannot build a batch from zero examples")]
    Empty,
    /// An example's label is not in the vocabulary.
    #[error("example {example}: {source}")]
    UnknownLabel {
        /// Position of the example in the batch.
        example: usize,
        /// The label and the known ones.
        #[source]
        source: UnknownLabel,
    },
    /// A transformer's tokenizer failed to encode a text.
    #[error(transparent)]
    Subword(#[from] SubwordTokenizerError),
    /// Some examples have a label and others do not.
    #[error("example {example} has no label, but other examples of the batch have one")]
    MissingLabel {
        /// Position of the unlabelled example in the batch.
        example: usize,
    },
}

/// Padded ids of one side of a batch of pairs.
///
/// Single-field (text mode): tokens `[B, T]`, chars `[B, T, C]`. Multi-field: tokens
/// `[B, F, T]`, chars `[B, F, T, C]`, where F is the largest number of non-empty fields in the
/// batch (records with fewer are padded with empty fields) and T the largest number of tokens of
/// any field. All data is row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// `[B, T]` or `[B, F, T]`.
    pub shape_tokens: Vec<usize>,
    /// Word ids (0 = padding, 1 = OOV), row-major in `shape_tokens`.
    pub tokens: Vec<i64>,
    /// `true` at real tokens, same layout as `tokens`.
    pub token_mask: Vec<bool>,
    /// `[B, T, C]` or `[B, F, T, C]` when character ids are produced.
    pub shape_chars: Option<Vec<usize>>,
    /// Character ids, row-major in `shape_chars`.
    pub chars: Option<Vec<i64>>,
}

impl RecordBatch {
    /// Number of records (B).
    pub fn batch_size(&self) -> usize {
        self.shape_tokens.first().copied().unwrap_or(0)
    }

    /// Whether the batch is `[B, F, T]` (multi-field mode).
    pub fn is_multifield(&self) -> bool {
        self.shape_tokens.len() == 3
    }

    /// Number of fields F (1 in single-field batches).
    pub fn num_fields(&self) -> usize {
        if self.is_multifield() {
            self.shape_tokens[1]
        } else {
            1
        }
    }

    /// Number of token positions T.
    pub fn num_tokens(&self) -> usize {
        self.shape_tokens.last().copied().unwrap_or(0)
    }

    /// Number of character positions C, when characters are produced.
    pub fn num_chars(&self) -> Option<usize> {
        self.shape_chars.as_ref().and_then(|s| s.last().copied())
    }

    /// `[B, F]` (row-major): whether each field has at least one token; lets a multi-field
    /// encoder ignore padded fields. In single-field batches this is `[B]` (F = 1).
    pub fn field_mask(&self) -> Vec<bool> {
        let t = self.num_tokens().max(1);
        self.token_mask
            .chunks(t)
            .map(|row| row.iter().any(|&m| m))
            .collect()
    }

    /// Tokenizes, indexes and pads `records`.
    pub fn from_records(
        records: &[&Record],
        tokenizer: &Tokenizer,
        mode: RecordMode,
        vocab: &Vocabulary,
        indexer: &TokenIndexer,
    ) -> Self {
        // per record, per field, the tokens
        let tokenized: Vec<Vec<Vec<String>>> = records
            .iter()
            .map(|r| {
                r.texts(mode)
                    .iter()
                    .map(|text| tokenizer.tokenize(text))
                    .collect()
            })
            .collect();
        let b = records.len();
        let f = match mode {
            RecordMode::Text => 1,
            RecordMode::Multifield => tokenized.iter().map(Vec::len).max().unwrap_or(0).max(1),
        };
        let t = tokenized
            .iter()
            .flatten()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(1);
        let mut tokens = vec![0i64; b * f * t];
        let mut token_mask = vec![false; b * f * t];
        let char_ids: Option<Vec<Vec<Vec<Vec<i64>>>>> = indexer.characters.then(|| {
            tokenized
                .iter()
                .map(|fields| {
                    fields
                        .iter()
                        .map(|toks| toks.iter().map(|tk| indexer.char_ids(vocab, tk)).collect())
                        .collect()
                })
                .collect()
        });
        let c = char_ids
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .flatten()
                    .flatten()
                    .map(Vec::len)
                    .max()
                    .unwrap_or(0)
                    .max(indexer.min_chars)
                    .max(1)
            })
            .unwrap_or(0);
        let mut chars = char_ids.as_ref().map(|_| vec![0i64; b * f * t * c]);
        for (bi, fields) in tokenized.iter().enumerate() {
            for (fi, toks) in fields.iter().enumerate() {
                for (ti, tk) in toks.iter().enumerate() {
                    let pos = (bi * f + fi) * t + ti;
                    tokens[pos] = indexer.word_id(vocab, tk);
                    token_mask[pos] = true;
                    if let (Some(chars), Some(ids)) = (chars.as_mut(), char_ids.as_ref()) {
                        let start = pos * c;
                        let row = &ids[bi][fi][ti];
                        chars[start..start + row.len()].copy_from_slice(row);
                    }
                }
            }
        }
        let shape_tokens = match mode {
            RecordMode::Text => vec![b, t],
            RecordMode::Multifield => vec![b, f, t],
        };
        let shape_chars = chars.as_ref().map(|_| {
            let mut s = shape_tokens.clone();
            s.push(c);
            s
        });
        Self {
            shape_tokens,
            tokens,
            token_mask,
            shape_chars,
            chars,
        }
    }
}

impl RecordBatch {
    /// Encodes `records` with a transformer's own tokenizer: each text (one per record in text
    /// mode, one per non-empty field in multi-field mode) is its own `[CLS] … [SEP]` sequence,
    /// truncated to the tokenizer's `max_length`, padded with its pad id; the mask marks the
    /// model's ids (special tokens included). No characters. All texts of the batch are encoded
    /// in one parallel call.
    pub fn from_records_subword(
        records: &[&Record],
        tokenizer: &SubwordTokenizer,
        mode: RecordMode,
    ) -> Result<Self, SubwordTokenizerError> {
        let texts: Vec<Vec<std::borrow::Cow<'_, str>>> =
            records.iter().map(|r| r.texts(mode)).collect();
        let flat: Vec<&str> = texts.iter().flatten().map(|t| t.as_ref()).collect();
        let mut encoded = tokenizer.encode(&flat)?.into_iter();
        let b = records.len();
        let f = match mode {
            RecordMode::Text => 1,
            RecordMode::Multifield => texts.iter().map(Vec::len).max().unwrap_or(0).max(1),
        };
        let per_record: Vec<Vec<Vec<i64>>> = texts
            .iter()
            .map(|fields| encoded.by_ref().take(fields.len()).collect())
            .collect();
        let t = per_record
            .iter()
            .flatten()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(1);
        let mut tokens = vec![tokenizer.pad_id(); b * f * t];
        let mut token_mask = vec![false; b * f * t];
        for (bi, fields) in per_record.iter().enumerate() {
            for (fi, ids) in fields.iter().enumerate() {
                let start = (bi * f + fi) * t;
                tokens[start..start + ids.len()].copy_from_slice(ids);
                token_mask[start..start + ids.len()].fill(true);
            }
        }
        let shape_tokens = match mode {
            RecordMode::Text => vec![b, t],
            RecordMode::Multifield => vec![b, f, t],
        };
        Ok(Self {
            shape_tokens,
            tokens,
            token_mask,
            shape_chars: None,
            chars: None,
        })
    }
}

/// A batch of pairs: both sides and, for labelled data, the label indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairBatch {
    /// The first records.
    pub record1: RecordBatch,
    /// The second records.
    pub record2: RecordBatch,
    /// Label index per example, `None` when the examples are unlabelled.
    pub labels: Option<Vec<i64>>,
}

impl PairBatch {
    /// Number of pairs.
    pub fn batch_size(&self) -> usize {
        self.record1.batch_size()
    }
}

/// Turns examples into [`PairBatch`]es with fixed tokenizer, record mode and indexer settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batcher {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Text or multi-field.
    pub mode: RecordMode,
    /// Which ids to produce.
    pub indexer: TokenIndexer,
    /// A pretrained transformer's tokenizer: when set, it makes the ids (the model's vocabulary)
    /// and the word tokenizer, the indexer and the token vocabulary are not used (labels still
    /// come from the vocabulary).
    pub subwords: Option<SubwordTokenizer>,
}

impl Batcher {
    /// A batcher with these settings.
    pub fn new(tokenizer: Tokenizer, mode: RecordMode, indexer: TokenIndexer) -> Self {
        Self {
            tokenizer,
            mode,
            indexer,
            subwords: None,
        }
    }

    /// A batcher whose ids come from a transformer's own tokenizer (see
    /// [`RecordBatch::from_records_subword`]).
    pub fn subword(subwords: SubwordTokenizer, mode: RecordMode) -> Self {
        Self {
            tokenizer: Tokenizer::default(),
            mode,
            indexer: TokenIndexer::default(),
            subwords: Some(subwords),
        }
    }

    /// Builds the batch of `examples`. Labels must be all present (training/evaluation) or all
    /// absent (prediction); an unknown label is an error naming it.
    pub fn batch(
        &self,
        examples: &[PairExample],
        vocab: &Vocabulary,
    ) -> Result<PairBatch, BatchError> {
        match &self.subwords {
            None => batch_pairs(examples, &self.tokenizer, self.mode, vocab, &self.indexer),
            Some(subwords) => {
                let labels = batch_labels(examples, vocab)?;
                let r1: Vec<&Record> = examples.iter().map(|e| &e.record1).collect();
                let r2: Vec<&Record> = examples.iter().map(|e| &e.record2).collect();
                Ok(PairBatch {
                    record1: RecordBatch::from_records_subword(&r1, subwords, self.mode)?,
                    record2: RecordBatch::from_records_subword(&r2, subwords, self.mode)?,
                    labels,
                })
            }
        }
    }

    /// One side's batch of `records` (for encoding records alone, e.g. a whole table), read
    /// as [`Batcher::batch`] reads them: with the transformer's tokenizer when there is one.
    pub fn records(
        &self,
        records: &[&Record],
        vocab: &Vocabulary,
    ) -> Result<RecordBatch, BatchError> {
        Ok(match &self.subwords {
            Some(subwords) => RecordBatch::from_records_subword(records, subwords, self.mode)?,
            None => {
                RecordBatch::from_records(records, &self.tokenizer, self.mode, vocab, &self.indexer)
            }
        })
    }

    /// Builds the batch of the examples at `indices` (e.g. from [`crate::bucket_batches`]).
    /// Indices out of range are skipped.
    pub fn batch_indices(
        &self,
        examples: &[PairExample],
        indices: &[usize],
        vocab: &Vocabulary,
    ) -> Result<PairBatch, BatchError> {
        let picked: Vec<PairExample> = indices
            .iter()
            .filter_map(|&i| examples.get(i).cloned())
            .collect();
        self.batch(&picked, vocab)
    }

    /// The length used for bucketing: see [`pair_length`]; with a transformer's tokenizer, the
    /// ids it gives (special tokens included).
    pub fn pair_length(&self, example: &PairExample) -> usize {
        match &self.subwords {
            None => pair_length(example, &self.tokenizer, self.mode),
            Some(subwords) => {
                let len = |r: &Record| -> usize {
                    let texts = r.texts(self.mode);
                    let texts: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
                    // An encoding error shows in the batch itself; for the length, count none.
                    subwords
                        .encode(&texts)
                        .map(|ids| ids.iter().map(Vec::len).sum())
                        .unwrap_or(0)
                };
                len(&example.record1).max(len(&example.record2))
            }
        }
    }
}

/// Builds the batch of `examples`; see [`Batcher::batch`].
pub fn batch_pairs(
    examples: &[PairExample],
    tokenizer: &Tokenizer,
    mode: RecordMode,
    vocab: &Vocabulary,
    indexer: &TokenIndexer,
) -> Result<PairBatch, BatchError> {
    let labels = batch_labels(examples, vocab)?;
    let r1: Vec<&Record> = examples.iter().map(|e| &e.record1).collect();
    let r2: Vec<&Record> = examples.iter().map(|e| &e.record2).collect();
    Ok(PairBatch {
        record1: RecordBatch::from_records(&r1, tokenizer, mode, vocab, indexer),
        record2: RecordBatch::from_records(&r2, tokenizer, mode, vocab, indexer),
        labels,
    })
}

/// The label indices of `examples`: all present or all absent; an error for zero examples.
fn batch_labels(
    examples: &[PairExample],
    vocab: &Vocabulary,
) -> Result<Option<Vec<i64>>, BatchError> {
    if examples.is_empty() {
        return Err(BatchError::Empty);
    }
    let labels = if examples.iter().all(|e| e.label.is_none()) {
        None
    } else {
        let mut ids = Vec::with_capacity(examples.len());
        for (i, e) in examples.iter().enumerate() {
            let label = e
                .label
                .as_deref()
                .ok_or(BatchError::MissingLabel { example: i })?;
            let id = label_index(vocab, label)
                .map_err(|source| BatchError::UnknownLabel { example: i, source })?;
            ids.push(id as i64);
        }
        Some(ids)
    };
    Ok(labels)
}

/// The length of a pair for bucketing: the larger token count of its two records (summed over
/// fields), so pairs of similar padded size end up together.
pub fn pair_length(example: &PairExample, tokenizer: &Tokenizer, mode: RecordMode) -> usize {
    let len = |r: &Record| -> usize {
        r.texts(mode)
            .iter()
            .map(|t| tokenizer.tokenize(t).len())
            .sum()
    };
    len(&example.record1).max(len(&example.record2))
}

/// Counts the tokens ([`TOKENS`]), their characters ([`TOKEN_CHARACTERS`]) and the labels
/// ([`LABELS`]) of `examples` into `builder`, tokenizing as the batches will (same record mode,
/// same lowercasing), so that the vocabulary matches what the model sees.
pub fn count_examples(
    builder: &mut VocabularyBuilder,
    examples: &[PairExample],
    tokenizer: &Tokenizer,
    mode: RecordMode,
) {
    for e in examples {
        for record in [&e.record1, &e.record2] {
            for text in record.texts(mode) {
                for token in tokenizer.tokenize(&text) {
                    builder.count_all(TOKEN_CHARACTERS, characters(&token));
                    builder.count(TOKENS, &token);
                }
            }
        }
        if let Some(label) = &e.label {
            builder.count(LABELS, label);
        }
    }
}

/// Builds a vocabulary from `examples` (see [`count_examples`]). The [`TOKENS`],
/// [`TOKEN_CHARACTERS`] and [`LABELS`] namespaces always exist, even when empty.
pub fn build_vocabulary(
    examples: &[PairExample],
    tokenizer: &Tokenizer,
    mode: RecordMode,
    options: &VocabularyOptions,
) -> Vocabulary {
    let mut builder = VocabularyBuilder::new();
    count_examples(&mut builder, examples, tokenizer, mode);
    let mut vocab = builder.build(options);
    for ns in [TOKENS, TOKEN_CHARACTERS, LABELS] {
        vocab.add_namespace(ns);
    }
    vocab
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TokenizerConfig;
    use crate::vocabulary::NamespaceOptions;

    fn named(pairs: &[(&str, &str)]) -> Record {
        Record::named(pairs.iter().copied())
    }

    fn examples() -> Vec<PairExample> {
        vec![
            PairExample::new(
                named(&[("first", "anna"), ("mid", ""), ("last", "meyer-lang")]),
                named(&[("first", "anna"), ("mid", " "), ("last", "meyer")]),
                "duplicate",
            ),
            PairExample::new(
                named(&[("first", "bob"), ("mid", "j"), ("last", "smith")]),
                named(&[("first", ""), ("mid", ""), ("last", "")]),
                "not_duplicate",
            ),
        ]
    }

    fn vocab() -> Vocabulary {
        build_vocabulary(
            &examples(),
            &Tokenizer::default(),
            RecordMode::Text,
            &VocabularyOptions::default(),
        )
    }

    #[test]
    fn vocabulary_from_examples() {
        let v = vocab();
        assert_eq!(v.tokens(LABELS), ["duplicate", "not_duplicate"]);
        // "anna" x2, "meyer" x2 first
        assert_eq!(v.index(TOKENS, "anna"), 2);
        assert_eq!(v.index(TOKENS, "meyer"), 3);
        assert!(v.try_index(TOKEN_CHARACTERS, "y").is_some());
        assert!(v.try_index(TOKEN_CHARACTERS, "-").is_some());
        let lower = Tokenizer::new(TokenizerConfig {
            lowercase: true,
            ..Default::default()
        });
        let ex = vec![PairExample::new("Anna", "ANNA", "x")];
        let v = build_vocabulary(&ex, &lower, RecordMode::Text, &Default::default());
        assert_eq!(v.tokens(TOKENS)[2..], ["anna"]);
        let opts = VocabularyOptions::default().with(
            TOKENS,
            NamespaceOptions {
                min_count: 5,
                max_size: None,
            },
        );
        let v = build_vocabulary(&ex, &lower, RecordMode::Text, &opts);
        assert_eq!(v.size(TOKENS), 2);
    }

    #[test]
    fn single_field_shapes_and_masks() {
        let v = vocab();
        let b = Batcher::default().batch(&examples(), &v).unwrap();
        assert_eq!(b.batch_size(), 2);
        let r1 = &b.record1;
        assert!(!r1.is_multifield());
        // "anna meyer - lang" = 4 tokens, "bob j smith" = 3
        assert_eq!(r1.shape_tokens, [2, 4]);
        assert_eq!(
            r1.token_mask,
            [true, true, true, true, true, true, true, false]
        );
        assert_eq!(r1.tokens[7], 0);
        assert_eq!(r1.tokens[0], v.index(TOKENS, "anna") as i64);
        assert!(r1.chars.is_none() && r1.shape_chars.is_none());
        // record2 of the second example is all-empty: all padding
        let r2 = &b.record2;
        assert_eq!(r2.shape_tokens, [2, 2]);
        assert_eq!(r2.token_mask, [true, true, false, false]);
        assert_eq!(r2.field_mask(), [true, false]);
        assert_eq!(b.labels, Some(vec![0, 1]));
        // masks agree with ids
        for (id, m) in r1.tokens.iter().zip(&r1.token_mask) {
            assert_eq!(*id != 0, *m);
        }
    }

    #[test]
    fn multifield_shapes_with_empty_middle_field() {
        let v = vocab();
        let batcher = Batcher::new(
            Tokenizer::default(),
            RecordMode::Multifield,
            TokenIndexer::default(),
        );
        let b = batcher.batch(&examples(), &v).unwrap();
        let r1 = &b.record1;
        assert!(r1.is_multifield());
        // ex0: [anna], [meyer - lang] (empty middle dropped); ex1: [bob], [j], [smith]
        assert_eq!(r1.shape_tokens, [2, 3, 3]);
        assert_eq!(r1.num_fields(), 3);
        #[rustfmt::skip]
        let expected = [
            true, false, false,   true, true, true,    false, false, false,
            true, false, false,   true, false, false,  true, false, false,
        ];
        assert_eq!(r1.token_mask, expected);
        assert_eq!(r1.field_mask(), [true, true, false, true, true, true]);
        assert_eq!(r1.tokens[3], v.index(TOKENS, "meyer") as i64);
        // all-empty record: its row is all padding
        let r2 = &b.record2;
        assert_eq!(r2.shape_tokens, [2, 2, 1]);
        assert_eq!(r2.token_mask, [true, true, false, false]);
        assert!(r2.tokens[2..].iter().all(|&x| x == 0));
    }

    #[test]
    fn character_ids() {
        let v = vocab();
        let indexer = TokenIndexer {
            max_chars_per_token: Some(4),
            ..TokenIndexer::words_and_characters(6)
        };
        let batcher = Batcher::new(Tokenizer::default(), RecordMode::Text, indexer);
        let ex = vec![PairExample::unlabelled("anna zz", "smithsonian")];
        let b = batcher.batch(&ex, &v).unwrap();
        assert_eq!(b.labels, None);
        let r1 = &b.record1;
        assert_eq!(r1.shape_chars.as_deref(), Some(&[1, 2, 6][..]));
        let chars = r1.chars.as_ref().unwrap();
        let a = v.index(TOKEN_CHARACTERS, "a") as i64;
        let n = v.index(TOKEN_CHARACTERS, "n") as i64;
        assert_eq!(chars[..6], [a, n, n, a, 0, 0]);
        // 'z' never seen: OOV
        assert_eq!(r1.tokens[1], 1);
        assert_eq!(chars[6..], [1, 1, 0, 0, 0, 0]);
        // truncated to 4 chars; C = max(4, min_chars 6)
        let r2 = &b.record2;
        assert_eq!(r2.shape_chars.as_deref(), Some(&[1, 1, 6][..]));
        assert_eq!(r2.chars.as_ref().unwrap()[4..], [0, 0]);
        // multifield chars are 4-d
        let mb = Batcher::new(
            Tokenizer::default(),
            RecordMode::Multifield,
            TokenIndexer::words_and_characters(0),
        )
        .batch(&examples(), &v)
        .unwrap();
        assert_eq!(mb.record1.shape_chars.as_deref(), Some(&[2, 3, 3, 5][..]));
        assert_eq!(mb.record1.num_chars(), Some(5));
    }

    #[test]
    fn label_errors() {
        let v = vocab();
        let mut ex = examples();
        ex[1].label = Some("dupe".into());
        let err = Batcher::default().batch(&ex, &v).unwrap_err();
        assert!(
            matches!(&err, BatchError::UnknownLabel { example: 1, source } if source.label == "dupe")
        );
        assert!(err.to_string().contains("\"dupe\""), "{err}");
        ex[1].label = None;
        assert_eq!(
            Batcher::default().batch(&ex, &v).unwrap_err(),
            BatchError::MissingLabel { example: 1 }
        );
        assert_eq!(
            Batcher::default().batch(&[], &v).unwrap_err(),
            BatchError::Empty
        );
    }

    #[test]
    fn indices_and_lengths() {
        let v = vocab();
        let batcher = Batcher::default();
        let ex = examples();
        let b = batcher.batch_indices(&ex, &[1, 99], &v).unwrap();
        assert_eq!(b.batch_size(), 1);
        assert_eq!(batcher.pair_length(&ex[0]), 4);
        assert_eq!(batcher.pair_length(&ex[1]), 3);
    }
}

/// The transformer-tokenizer path of the batcher (the tokenizer itself is tested in
/// `subword`).
#[cfg(test)]
mod subword_tests {
    use super::*;
    use crate::subword::{SubwordTokenizer, bert_tokenizer_json};
    use crate::vocabulary::VocabularyBuilder;

    /// The vocabulary of `subword`'s tests: ids are positions.
    const VOCAB: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "anna", "muller", "mull", "##er", "koln",
        "street", "st", ".", ",", "-", "12", "##3", "the", "hotel", "##s",
    ];

    fn tiny(max_length: usize) -> SubwordTokenizer {
        SubwordTokenizer::from_json(&bert_tokenizer_json(VOCAB, true), "tiny.json", max_length)
            .unwrap()
    }

    #[test]
    fn batches_pad_each_field_as_its_own_sequence() {
        let t = tiny(8);
        let r1 = Record::named([("name", "Anna Müller"), ("city", "Köln"), ("x", " ")]);
        let r2 = Record::from("the hotels");
        let records = [&r1, &r2];
        let multi =
            RecordBatch::from_records_subword(&records, &t, RecordMode::Multifield).unwrap();
        // [B=2, F=2 (blank fields dropped), T=5 (the longest field: [CLS] the hotel ##s [SEP])]
        assert_eq!(multi.shape_tokens, [2, 2, 5]);
        #[rustfmt::skip]
        assert_eq!(multi.tokens, [
            2, 5, 6, 3, 0,     2, 9, 3, 0, 0,   // Anna Müller | Köln
            2, 17, 18, 19, 3,  0, 0, 0, 0, 0,   // the hotels | (padded field)
        ]);
        let mask: Vec<bool> = multi.tokens.iter().map(|&id| id != 0).collect();
        assert_eq!(multi.token_mask, mask);
        assert_eq!(multi.field_mask(), [true, true, true, false]);
        assert!(multi.chars.is_none());
        let single = RecordBatch::from_records_subword(&records, &t, RecordMode::Text).unwrap();
        // fields joined by a space: one sequence per record
        assert_eq!(single.shape_tokens, [2, 5]);
        assert_eq!(single.tokens, [2, 5, 6, 9, 3, 2, 17, 18, 19, 3]);
    }

    #[test]
    fn batcher_takes_labels_from_the_vocabulary_and_ids_from_the_tokenizer() {
        let examples = vec![
            PairExample::new("anna", "anna muller", "duplicate"),
            PairExample::new("koln", "street", "not_duplicate"),
        ];
        let mut builder = VocabularyBuilder::new();
        for e in &examples {
            builder.count(LABELS, e.label.as_deref().unwrap());
        }
        let vocab = builder.build(&VocabularyOptions::default());
        let batcher = Batcher::subword(tiny(8), RecordMode::Text);
        let batch = batcher.batch(&examples, &vocab).unwrap();
        assert_eq!(batch.record1.tokens, [2, 5, 3, 2, 9, 3]);
        assert_eq!(batch.record2.tokens, [2, 5, 6, 3, 2, 10, 3, 0]);
        assert_eq!(batch.labels, Some(vec![0, 1]));
        // bucketing length: the longer record's ids, special tokens included
        assert_eq!(batcher.pair_length(&examples[0]), 4);
    }
}
