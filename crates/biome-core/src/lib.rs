//! biome-core: everything between raw pair data and padded id batches, with no neural code.
//!
//! - [`tokenizer`]: Unicode word-boundary tokenizer and character splitting.
//! - [`subword`]: a pretrained transformer's own `tokenizer.json` (Hugging Face `tokenizers`).
//! - [`vocabulary`] / [`label`]: namespaced token <-> index maps (padding 0, OOV 1) and labels.
//! - [`record`]: records (text, fields, named fields), record modes, labelled pairs.
//! - [`indexer`] / [`batch`] / [`bucketing`]: ids, padded batches, length bucketing.
//! - [`mapping`] / [`reader`]: CSV and JSONL readers mapping columns to pairs.
//! - [`table`]: whole tables (CSV, TSV, JSON lines, Parquet) as records with ids, for
//!   deduplication and linkage.
//! - [`read_error`]: the readers' error, naming the file and the line.
//!
//! ```
//! use biome_core::*;
//!
//! let csv = "name1,city1,name2,city2,label\n\
//!            Anna Meyer,Köln,Anna Meier,Koeln,duplicate\n\
//!            Bob Smith,,Rob Smyth,Leeds,not_duplicate\n";
//! let mapping = DataMapping::new("label", ["name1", "city1"], ["name2", "city2"]);
//! let data = read_csv_from(csv.as_bytes(), "inline.csv", &mapping).unwrap();
//! assert_eq!(data.len(), 2);
//!
//! let tokenizer = Tokenizer::new(TokenizerConfig { lowercase: true, ..Default::default() });
//! let mode = RecordMode::Multifield;
//! let vocab = build_vocabulary(&data.examples, &tokenizer, mode, &VocabularyOptions::default());
//! let batcher = Batcher::new(tokenizer, mode, TokenIndexer::words_and_characters(3));
//! let batch = batcher.batch(&data.examples, &vocab).unwrap();
//! assert_eq!(batch.record1.shape_tokens, [2, 2, 2]); // [B, F, T]
//! assert_eq!(batch.labels, Some(vec![0, 1]));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod bucketing;
mod csv_input;
mod csv_rows;
pub mod indexer;
mod json_row;
pub mod label;
pub mod mapping;
#[cfg(feature = "parquet")]
mod parquet_rows;
pub mod read_error;
pub mod reader;
pub mod record;
pub mod subword;
pub mod table;
pub mod tokenizer;
pub mod vocabulary;

pub use batch::{
    BatchError, Batcher, PairBatch, RecordBatch, batch_pairs, build_vocabulary, count_examples,
    pair_length,
};
pub use bucketing::{BucketError, bucket_batches, bucket_batches_seeded, sequential_batches};
pub use indexer::TokenIndexer;
pub use label::{LabelSet, UnknownLabel, label_index, label_name};
pub use mapping::{DataMapping, MappingError};
pub use reader::{
    Dataset, ReadError, read_csv, read_csv_from, read_dataset, read_jsonl, read_jsonl_from,
};
pub use record::{PairExample, Record, RecordError, RecordMode};
pub use subword::{SubwordTokenizer, SubwordTokenizerError, bert_tokenizer_json};
#[cfg(feature = "parquet")]
pub use table::read_table_parquet;
pub use table::{
    Table, TableRecords, read_table, read_table_csv_from, read_table_jsonl_from,
    read_table_tsv_from, table_records,
};
pub use tokenizer::{Tokenizer, TokenizerConfig, characters};
pub use vocabulary::{
    LABELS, NamespaceOptions, OOV_INDEX, OOV_TOKEN, PADDING_INDEX, PADDING_TOKEN, TOKEN_CHARACTERS,
    TOKENS, Vocabulary, VocabularyBuilder, VocabularyError, VocabularyOptions,
};
