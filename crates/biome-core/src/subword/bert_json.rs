//! The `tokenizer.json` of a BERT WordPiece vocabulary (what Hugging Face writes for
//! `BertTokenizerFast`), built from the words of a `vocab.txt`.

use serde_json::{Value, json};

/// The special tokens of BERT, in the order they are looked up.
const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// The `tokenizer.json` text of a BERT WordPiece tokenizer whose vocabulary is `vocab` (a
/// `vocab.txt`'s lines: id = position; continuation pieces start with `##`): BERT's normalizer
/// (clean text, Chinese characters split, optional lowercasing with accent stripping), BERT's
/// pre-tokenizer (whitespace and punctuation) and the `[CLS] A [SEP]` post-processor. Those of
/// `[PAD] [UNK] [CLS] [SEP] [MASK]` that `vocab` holds become special tokens; `[UNK]`, `[CLS]`
/// and `[SEP]` must be in it for the result to load. Used by tests to write tiny tokenizers
/// and by anyone holding only a `vocab.txt`.
pub fn bert_tokenizer_json(vocab: &[&str], lowercase: bool) -> String {
    let id = |token: &str| vocab.iter().position(|v| *v == token);
    let added: Vec<Value> = SPECIAL
        .iter()
        .filter_map(|&t| id(t).map(|i| (t, i)))
        .map(|(t, i)| {
            json!({"id": i, "special": true, "content": t, "single_word": false,
                   "lstrip": false, "rstrip": false, "normalized": false})
        })
        .collect();
    let words: serde_json::Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_owned(), json!(i)))
        .collect();
    let special = |t: &str| json!({"SpecialToken": {"id": t, "type_id": 0}});
    let seq = |s: &str, type_id: u32| json!({"Sequence": {"id": s, "type_id": type_id}});
    let special_ids = |t: &str| json!({"id": t, "ids": [id(t).unwrap_or(0)], "tokens": [t]});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]"), seq("A", 0), special("[SEP]")],
            "pair": [special("[CLS]"), seq("A", 0), special("[SEP]"), seq("B", 1),
                     json!({"SpecialToken": {"id": "[SEP]", "type_id": 1}})],
            "special_tokens": {"[CLS]": special_ids("[CLS]"), "[SEP]": special_ids("[SEP]")}
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": words}
    })
    .to_string()
}
