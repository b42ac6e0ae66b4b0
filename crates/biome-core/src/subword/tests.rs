use super::*;

/// A BERT vocabulary in `vocab.txt` order: the ids below are the positions.
const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", // 0..=4
    "anna", "muller", "mull", "##er", "koln", // 5..=9
    "street", "st", ".", ",", "-", // 10..=14
    "12", "##3", "the", "hotel", "##s", // 15..=19
];

fn tiny(max_length: usize) -> SubwordTokenizer {
    SubwordTokenizer::from_json(&bert_tokenizer_json(VOCAB, true), "tiny.json", max_length).unwrap()
}

fn encode_one(t: &SubwordTokenizer, text: &str) -> Vec<i64> {
    t.encode(&[text]).unwrap().remove(0)
}

#[test]
fn ids_with_special_tokens_lowercase_and_accents() {
    let t = tiny(64);
    // BERT's normalizer lowercases and strips accents ("Müller" -> "muller", "Köln" -> "koln");
    // the pre-tokenizer splits punctuation off; [CLS] = 2 first, [SEP] = 3 last.
    assert_eq!(encode_one(&t, "Anna Müller, Köln"), [2, 5, 6, 13, 9, 3]);
    // WordPiece: longest prefix first, then `##` continuations; an unknown word is [UNK] = 1.
    assert_eq!(encode_one(&t, "hotels 123 zzz"), [2, 18, 19, 15, 16, 1, 3]);
    assert_eq!(encode_one(&t, "St.-Street"), [2, 11, 12, 14, 10, 3]);
    // An empty text is the two special tokens.
    assert_eq!(encode_one(&t, ""), [2, 3]);
    assert_eq!(t.pad_id(), 0);
    assert_eq!(t.vocab_size(), VOCAB.len());
    assert_eq!(t.token_id("##er"), Some(8));
}

#[test]
fn truncation_counts_the_special_tokens() {
    let t = tiny(4);
    // 2 special + 2 text ids: the first two words survive, [SEP] is kept last.
    assert_eq!(encode_one(&t, "anna muller koln street"), [2, 5, 6, 3]);
    assert_eq!(encode_one(&t, "anna"), [2, 5, 3]);
    let err =
        SubwordTokenizer::from_json(&bert_tokenizer_json(VOCAB, true), "tiny.json", 2).unwrap_err();
    assert!(matches!(
        err,
        SubwordTokenizerError::MaxLengthTooSmall { special: 2, .. }
    ));
    assert!(err.to_string().contains("tiny.json"));
}

#[test]
fn padding_in_the_file_is_replaced_by_ours() {
    // A file that pads to a fixed 16 (as all-MiniLM-L6-v2's does) and truncates at 8: ours
    // wins on both, and its pad id is kept.
    let mut json: serde_json::Value =
        serde_json::from_str(&bert_tokenizer_json(VOCAB, true)).unwrap();
    json["padding"] = serde_json::json!({"strategy": {"Fixed": 16}, "direction": "Right",
        "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
    json["truncation"] = serde_json::json!({"max_length": 8, "strategy": "LongestFirst",
        "stride": 0});
    let t = SubwordTokenizer::from_json(&json.to_string(), "padded.json", 5).unwrap();
    assert_eq!(encode_one(&t, "anna"), [2, 5, 3]);
    assert_eq!(encode_one(&t, "anna muller koln street"), [2, 5, 6, 9, 3]);
}

#[test]
fn bad_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tokenizer.json");
    let err = SubwordTokenizer::from_file(&missing, 16).unwrap_err();
    assert!(matches!(err, SubwordTokenizerError::Read { .. }));
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    std::fs::write(&missing, r#"{"version": "1.0", "model": {"type": "Nope"}}"#).unwrap();
    let err = SubwordTokenizer::from_file(&missing, 16).unwrap_err();
    assert!(matches!(err, SubwordTokenizerError::Parse { .. }));
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    std::fs::write(&missing, bert_tokenizer_json(VOCAB, true)).unwrap();
    let t = SubwordTokenizer::from_file(&missing, 16).unwrap();
    assert_eq!(t, tiny(16));
    assert_ne!(t, tiny(15));
}
