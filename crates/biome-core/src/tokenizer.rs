//! Word tokenizer.
//!
//! Record fields in entity matching are short, noisy strings (names, street addresses, dates).
//! We split on Unicode word boundaries (UAX #29) rather than on whitespace so that punctuation
//! becomes its own token ("Brandes-Siller," -> `Brandes`, `-`, `Siller`, `,`): a hyphenated name
//! and its unhyphenated variant then share most of their tokens, which is what a siamese
//! similarity model needs. The tokenizer is deterministic and never fails.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// Tokenizer settings (the `tokenizer` section of a configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// Lowercase the text before splitting, so "Müller" and "MÜLLER" share a token.
    pub lowercase: bool,
    /// Maximum number of characters (Unicode scalar values) read from a text; longer texts are
    /// truncated on a character boundary before tokenizing. Bounds the cost of pathological
    /// inputs (a whole document pasted into a name field).
    pub max_length: Option<usize>,
    /// Maximum number of tokens kept per text (the first ones); `None` keeps all.
    pub max_tokens: Option<usize>,
}

/// Splits text into word and punctuation tokens according to a [`TokenizerConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

impl Tokenizer {
    /// A tokenizer with the given settings.
    pub fn new(config: TokenizerConfig) -> Self {
        Self { config }
    }

    /// The settings this tokenizer was built with.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Tokenizes `text`: truncates to `max_length` characters, optionally lowercases, splits on
    /// Unicode word boundaries, trims whitespace off each segment and drops empty ones. Punctuation is kept, one token
    /// per segment. An empty or whitespace-only text gives no tokens.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let text = match self.config.max_length {
            Some(max) => truncate_chars(text, max),
            None => text,
        };
        let lowered;
        let text = if self.config.lowercase {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        let limit = self.config.max_tokens.unwrap_or(usize::MAX);
        // A segment can mix whitespace with a joiner or combining mark that UAX #29 attaches to
        // it (" \u{200d}"): trim it, so no token carries whitespace.
        text.split_word_bounds()
            .map(str::trim)
            .filter(|segment| !segment.is_empty())
            .take(limit)
            .map(str::to_owned)
            .collect()
    }

    /// The characters of a token, one string per Unicode scalar value, for character embedders.
    pub fn characters(token: &str) -> Vec<String> {
        characters(token)
    }
}

/// The characters of a token, one string per Unicode scalar value (`char`). Combining marks
/// stay separate characters: the character vocabulary stays small and closed.
pub fn characters(token: &str) -> Vec<String> {
    token.chars().map(String::from).collect()
}

/// The longest prefix of `text` with at most `max_chars` characters.
pub fn truncate_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((byte, _)) => &text[..byte],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Vec<String> {
        Tokenizer::default().tokenize(text)
    }

    #[test]
    fn empty_and_whitespace_give_no_tokens() {
        assert!(tok("").is_empty());
        assert!(tok("   \t\n \u{00a0} ").is_empty());
    }

    #[test]
    fn punctuation_is_kept() {
        assert_eq!(tok("Brandes-Siller,"), ["Brandes", "-", "Siller", ","]);
        assert_eq!(tok("..!"), [".", ".", "!"]);
        assert_eq!(tok("  - , "), ["-", ","]);
    }

    #[test]
    fn unicode_text() {
        assert_eq!(
            tok("Jürgen Müßig-Öztürk"),
            ["Jürgen", "Müßig", "-", "Öztürk"]
        );
        // CJK ideographs are split one per segment by UAX #29.
        let cjk = tok("東京都 港区");
        assert!(!cjk.is_empty());
        assert_eq!(cjk.concat(), "東京都港区");
        let emoji = tok("hi 👋🏽 there");
        assert_eq!(emoji.first().map(String::as_str), Some("hi"));
        assert_eq!(emoji.last().map(String::as_str), Some("there"));
        assert!(emoji.concat().contains('👋'));
    }

    #[test]
    fn lowercase_and_max_length() {
        let t = Tokenizer::new(TokenizerConfig {
            lowercase: true,
            ..Default::default()
        });
        assert_eq!(t.tokenize("MÜLLER Anna"), ["müller", "anna"]);
        let t = Tokenizer::new(TokenizerConfig {
            max_length: Some(4),
            ..Default::default()
        });
        // truncated on a char boundary inside a multi-byte character sequence
        assert_eq!(t.tokenize("Müller"), ["Müll"]);
        assert_eq!(t.tokenize("ab"), ["ab"]);
        let t = Tokenizer::new(TokenizerConfig {
            max_length: Some(0),
            ..Default::default()
        });
        assert!(t.tokenize("abc").is_empty());
    }

    #[test]
    fn whitespace_joined_to_a_mark_is_trimmed() {
        // Found by fuzzing: UAX #29 keeps a joiner or combining mark with the whitespace before
        // it, which made tokens like " \u{200d}".
        assert_eq!(tok(" \u{200d}"), ["\u{200d}"]);
        assert_eq!(tok("a\t\u{301}b"), ["a", "\u{301}", "b"]);
        assert_eq!(tok("\u{a0}\u{200d} x"), ["\u{200d}", "x"]);
    }

    #[test]
    fn max_tokens() {
        let t = Tokenizer::new(TokenizerConfig {
            max_tokens: Some(2),
            ..Default::default()
        });
        assert_eq!(t.tokenize("a b c d"), ["a", "b"]);
    }

    #[test]
    fn very_long_input() {
        let text = "word ".repeat(100_000);
        assert_eq!(tok(&text).len(), 100_000);
        let t = Tokenizer::new(TokenizerConfig {
            max_length: Some(10),
            ..Default::default()
        });
        assert_eq!(t.tokenize(&text), ["word", "word"]);
    }

    #[test]
    fn characters_per_char() {
        assert_eq!(characters("Müß"), ["M", "ü", "ß"]);
        assert!(characters("").is_empty());
        assert_eq!(Tokenizer::characters("東京"), ["東", "京"]);
    }

    #[test]
    fn config_serde() {
        let c: TokenizerConfig = serde_json::from_str(r#"{"lowercase": true}"#).unwrap();
        assert!(c.lowercase);
        assert_eq!(c.max_length, None);
        assert!(serde_json::from_str::<TokenizerConfig>(r#"{"lowercas": true}"#).is_err());
    }
}
