//! Token -> id indexing settings and helpers.
//!
//! A model may embed words, characters of words, or both (biome.text's `features.word` and
//! `features.char`). The indexer says which ids a batch carries and how character sequences are
//! cut and padded, so that every batch fits the embedders it is fed to.

use serde::{Deserialize, Serialize};

use crate::vocabulary::{TOKEN_CHARACTERS, TOKENS, Vocabulary};

/// Which ids to produce for each token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenIndexer {
    /// Produce word ids from the [`TOKENS`] namespace. When false, `RecordBatch::tokens` holds
    /// the OOV id 1 at every real token so that the mask (`id != 0`) stays meaningful.
    pub words: bool,
    /// Produce character ids from the [`TOKEN_CHARACTERS`] namespace.
    pub characters: bool,
    /// Keep at most this many characters of each token (the first ones); bounds the char tensor
    /// when the data holds long junk tokens.
    pub max_chars_per_token: Option<usize>,
    /// Pad the character dimension to at least this many positions, so that a character CNN
    /// with n-gram filters up to `k` always has `k` positions (set it to the largest n-gram).
    pub min_chars: usize,
}

impl Default for TokenIndexer {
    fn default() -> Self {
        Self {
            words: true,
            characters: false,
            max_chars_per_token: None,
            min_chars: 0,
        }
    }
}

impl TokenIndexer {
    /// Word ids and character ids, characters padded to at least `min_chars`.
    pub fn words_and_characters(min_chars: usize) -> Self {
        Self {
            words: true,
            characters: true,
            max_chars_per_token: None,
            min_chars,
        }
    }

    /// The word id of `token` (OOV id 1 when unknown, or when word ids are disabled).
    pub fn word_id(&self, vocab: &Vocabulary, token: &str) -> i64 {
        if self.words {
            vocab.index(TOKENS, token) as i64
        } else {
            crate::vocabulary::OOV_INDEX as i64
        }
    }

    /// The character ids of `token`, cut to `max_chars_per_token`. Unknown characters get the
    /// OOV id 1, so a real token never has an all-padding character row.
    pub fn char_ids(&self, vocab: &Vocabulary, token: &str) -> Vec<i64> {
        let limit = self.max_chars_per_token.unwrap_or(usize::MAX);
        let mut buf = [0u8; 4];
        token
            .chars()
            .take(limit)
            .map(|c| vocab.index(TOKEN_CHARACTERS, c.encode_utf8(&mut buf)) as i64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let mut vocab = Vocabulary::new();
        vocab.extend(TOKENS, ["anna"]);
        vocab.extend(TOKEN_CHARACTERS, ["a", "n"]);
        let ix = TokenIndexer {
            max_chars_per_token: Some(3),
            ..TokenIndexer::words_and_characters(2)
        };
        assert_eq!(ix.word_id(&vocab, "anna"), 2);
        assert_eq!(ix.word_id(&vocab, "bob"), 1);
        assert_eq!(ix.char_ids(&vocab, "anna"), [2, 3, 3]);
        assert_eq!(ix.char_ids(&vocab, "ax"), [2, 1]);
        let no_words = TokenIndexer {
            words: false,
            ..Default::default()
        };
        assert_eq!(no_words.word_id(&vocab, "anna"), 1);
        let parsed: TokenIndexer = serde_json::from_str(r#"{"characters": true}"#).unwrap();
        assert!(parsed.words && parsed.characters);
        assert!(serde_json::from_str::<TokenIndexer>(r#"{"chars": true}"#).is_err());
    }
}
