//! The tokenizer on arbitrary Unicode (control characters, combining marks, unassigned code
//! points) and on huge inputs.

use biome_core::{Tokenizer, TokenizerConfig};
use proptest::prelude::*;

use crate::cases;

fn config() -> impl Strategy<Value = TokenizerConfig> {
    (
        any::<bool>(),
        prop::option::of(0usize..80),
        prop::option::of(0usize..20),
    )
        .prop_map(|(lowercase, max_length, max_tokens)| TokenizerConfig {
            lowercase,
            max_length,
            max_tokens,
        })
}

/// Text biased towards what breaks tokenizers: whitespace of every kind, control and format
/// characters, combining marks, joiners, surrogate-adjacent and private-use code points.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        prop::sample::select(vec![
            " ",
            "\t",
            "\n",
            "\r\n",
            "\u{0}",
            "\u{7f}",
            "\u{85}",
            "\u{a0}",
            "\u{200b}",
            "\u{200d}",
            "\u{2028}",
            "\u{3000}",
            "\u{301}",
            "\u{feff}",
            "\u{fffd}",
            "\u{e000}",
            "\u{10ffff}",
            "İ",
            "ẞ",
            "Σ",
            "ǅ",
            "👋🏽",
            "🇩🇪",
            "東京",
            "-",
            "'",
            ".",
            "ﬁ",
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9]{1,6}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn non_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn check(config: &TokenizerConfig, text: &str) -> Result<(), TestCaseError> {
    let tokens = Tokenizer::new(config.clone()).tokenize(text);
    for t in &tokens {
        prop_assert!(!t.is_empty(), "empty token from {text:?}");
        prop_assert!(
            !t.chars().all(char::is_whitespace),
            "whitespace-only token {t:?} from {text:?}"
        );
        prop_assert!(
            t.trim() == t,
            "token {t:?} has leading or trailing whitespace (from {text:?})"
        );
        if config.lowercase {
            prop_assert_eq!(t.to_lowercase(), t.clone(), "not lowercase: {:?}", text);
        }
    }
    if let Some(max) = config.max_tokens {
        prop_assert!(tokens.len() <= max);
    }
    if let Some(max) = config.max_length
        && !config.lowercase
    {
        prop_assert!(tokens.iter().map(|t| t.chars().count()).sum::<usize>() <= max);
    }
    // Nothing but whitespace is dropped or invented (when no limit cuts the text short).
    if config.max_length.is_none() && config.max_tokens.is_none() {
        let expected = if config.lowercase {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        prop_assert_eq!(non_ws(&tokens.concat()), non_ws(&expected));
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::settings(cases(300)))]

    #[test]
    fn fuzz_tokenizer_arbitrary_unicode(text in any::<String>(), config in config()) {
        check(&config, &text)?;
    }

    #[test]
    fn fuzz_tokenizer_nasty_unicode(text in nasty_text(), config in config()) {
        check(&config, &text)?;
    }
}

proptest! {
    // Huge inputs cost a few milliseconds each; a tenth of the cases is plenty.
    #![proptest_config(crate::settings((cases(300) / 10).max(1)))]

    #[test]
    fn fuzz_tokenizer_huge_input(
        unit in nasty_text(),
        repeat in 1usize..20_000,
        config in config(),
    ) {
        let text = unit.repeat(repeat.min(1_000_000 / unit.len().max(1)));
        check(&config, &text)?;
    }
}
