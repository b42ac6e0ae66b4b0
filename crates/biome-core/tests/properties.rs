//! Property tests: the tokenizer and batching never panic on arbitrary input, and bucketing
//! is a permutation of the example indices.

use biome_core::{
    Batcher, PairExample, Record, RecordMode, TokenIndexer, Tokenizer, TokenizerConfig,
    bucket_batches_seeded, build_vocabulary,
};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = TokenizerConfig> {
    (
        any::<bool>(),
        proptest::option::of(0usize..50),
        proptest::option::of(0usize..10),
    )
        .prop_map(|(lowercase, max_length, max_tokens)| TokenizerConfig {
            lowercase,
            max_length,
            max_tokens,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tokenizer_never_panics(text in any::<String>(), config in config()) {
        let tokens = Tokenizer::new(config.clone()).tokenize(&text);
        for t in &tokens {
            prop_assert!(!t.chars().all(char::is_whitespace));
        }
        if let Some(max) = config.max_tokens {
            prop_assert!(tokens.len() <= max);
        }
        if let Some(max) = config.max_length {
            prop_assert!(tokens.iter().map(|t| t.chars().count()).sum::<usize>() <= max || config.lowercase);
        }
    }

    #[test]
    fn tokens_cover_the_non_whitespace_text(text in "\\PC{0,60}") {
        let tokens = Tokenizer::default().tokenize(&text);
        // only whitespace-only segments are dropped: no other character is lost or invented
        let non_ws = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        prop_assert_eq!(non_ws(&tokens.concat()), non_ws(&text));
    }

    #[test]
    fn lowercase_is_deterministic(text in any::<String>()) {
        let t = Tokenizer::new(TokenizerConfig { lowercase: true, ..Default::default() });
        let a = t.tokenize(&text);
        let b = t.tokenize(&text);
        prop_assert_eq!(&a, &b);
        for tok in &a {
            prop_assert_eq!(tok.to_lowercase(), tok.clone());
        }
    }

    #[test]
    fn bucketing_is_a_permutation(
        lengths in proptest::collection::vec(0usize..100, 0..200),
        batch_size in 1usize..17,
        noise in 0.0f64..0.5,
        seed in any::<u64>(),
        shuffle in any::<bool>(),
    ) {
        let batches = bucket_batches_seeded(&lengths, batch_size, noise, seed, shuffle).unwrap();
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        prop_assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
        prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= batch_size));
    }

    #[test]
    fn batching_never_panics_and_masks_match_ids(
        fields in proptest::collection::vec(proptest::collection::vec("\\PC{0,12}", 0..4), 1..6),
        multifield in any::<bool>(),
        chars in any::<bool>(),
    ) {
        let examples: Vec<PairExample> = fields
            .iter()
            .map(|f| PairExample::unlabelled(Record::Fields(f.clone()), Record::Fields(f.clone())))
            .collect();
        let mode = if multifield { RecordMode::Multifield } else { RecordMode::Text };
        let tokenizer = Tokenizer::default();
        let vocab = build_vocabulary(&examples[..1], &tokenizer, mode, &Default::default());
        let indexer = TokenIndexer { characters: chars, ..Default::default() };
        let batch = Batcher::new(tokenizer, mode, indexer).batch(&examples, &vocab).unwrap();
        let r = &batch.record1;
        prop_assert_eq!(r.batch_size(), examples.len());
        prop_assert_eq!(r.tokens.len(), r.shape_tokens.iter().product::<usize>());
        for (id, m) in r.tokens.iter().zip(&r.token_mask) {
            prop_assert_eq!(*id != 0, *m);
        }
        if let (Some(shape), Some(c)) = (&r.shape_chars, &r.chars) {
            prop_assert_eq!(c.len(), shape.iter().product::<usize>());
        }
    }
}
