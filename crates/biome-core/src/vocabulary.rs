//! Namespaced vocabulary (token <-> index), AllenNLP style.
//!
//! Word ids, character ids and label ids live in separate namespaces so that one file holds
//! everything a trained model needs to index new input. Namespaces whose name does not end in
//! `labels` are *padded*: index 0 is the padding token and index 1 the out-of-vocabulary token,
//! so batches can pad with 0 and unseen words map to 1. Label namespaces have neither, so label
//! index `i` is directly the `i`-th output of the classifier.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Namespace of word tokens.
pub const TOKENS: &str = "tokens";
/// Namespace of the characters of tokens.
pub const TOKEN_CHARACTERS: &str = "token_characters";
/// Namespace of the classification labels.
pub const LABELS: &str = "labels";
/// The padding token, index 0 of every padded namespace.
pub const PADDING_TOKEN: &str = "@@PADDING@@";
/// The out-of-vocabulary token, index 1 of every padded namespace.
pub const OOV_TOKEN: &str = "@@UNKNOWN@@";
/// Index of [`PADDING_TOKEN`].
pub const PADDING_INDEX: usize = 0;
/// Index of [`OOV_TOKEN`].
pub const OOV_INDEX: usize = 1;

/// Whether a namespace reserves padding and OOV entries: every namespace whose name does not
/// end in `labels` (the AllenNLP convention).
pub fn is_padded_namespace(namespace: &str) -> bool {
    !namespace.ends_with("labels")
}

/// Errors of vocabulary construction, lookup and (de)serialization.
#[derive(Debug, Error)]
pub enum VocabularyError {
    /// Reading or writing a vocabulary file failed.
    #[error("vocabulary file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The vocabulary JSON could not be parsed.
    #[error("invalid vocabulary JSON{}: {source}", .path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Json {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON parsed but does not describe a valid vocabulary.
    #[error("invalid vocabulary: namespace {namespace:?}: {reason}")]
    Invalid {
        /// The offending namespace.
        namespace: String,
        /// What is wrong.
        reason: String,
    },
    /// A token is not in a namespace that has no OOV entry.
    #[error("unknown token {token:?} in namespace {namespace:?}")]
    UnknownToken {
        /// The namespace.
        namespace: String,
        /// The token.
        token: String,
    },
}

/// The tokens of one namespace with their reverse index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Namespace {
    tokens: Vec<String>,
    index: HashMap<String, usize>,
}

impl Namespace {
    fn new(padded: bool) -> Self {
        let mut ns = Self::default();
        if padded {
            ns.push(PADDING_TOKEN);
            ns.push(OOV_TOKEN);
        }
        ns
    }

    /// Adds `token` at the end unless present; returns whether it was added.
    fn push(&mut self, token: &str) -> bool {
        if self.index.contains_key(token) {
            return false;
        }
        self.index.insert(token.to_owned(), self.tokens.len());
        self.tokens.push(token.to_owned());
        true
    }
}

/// Token <-> index maps, one per namespace. Serialized as a JSON object
/// `{"namespace": ["token0", "token1", ...]}`, ordered by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    namespaces: BTreeMap<String, Namespace>,
}

impl Vocabulary {
    /// An empty vocabulary with no namespaces. Absent namespaces behave as empty: `size` is 0,
    /// and `index` maps every token to [`OOV_INDEX`] in padded namespaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates `namespace` if absent (with padding/OOV when it is padded).
    pub fn add_namespace(&mut self, namespace: &str) {
        self.namespaces
            .entry(namespace.to_owned())
            .or_insert_with(|| Namespace::new(is_padded_namespace(namespace)));
    }

    /// Names of the namespaces present, sorted.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// Whether `namespace` exists.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    /// Index of `token`. Unknown tokens (and any token of an absent namespace) map to
    /// [`OOV_INDEX`]. Label namespaces have no OOV entry: for those, an unknown token also gives
    /// [`OOV_INDEX`] as a placeholder, so use [`Vocabulary::try_index`] or
    /// [`Vocabulary::label_index`] there, which report unknown labels.
    pub fn index(&self, namespace: &str, token: &str) -> usize {
        self.try_index(namespace, token).unwrap_or(OOV_INDEX)
    }

    /// Index of `token` if it is in `namespace`.
    pub fn try_index(&self, namespace: &str, token: &str) -> Option<usize> {
        self.namespaces.get(namespace)?.index.get(token).copied()
    }

    /// Index of `token`, or [`VocabularyError::UnknownToken`] when absent from a namespace
    /// without an OOV entry; padded namespaces map unknown tokens to [`OOV_INDEX`].
    pub fn checked_index(&self, namespace: &str, token: &str) -> Result<usize, VocabularyError> {
        match self.try_index(namespace, token) {
            Some(i) => Ok(i),
            None if is_padded_namespace(namespace) => Ok(OOV_INDEX),
            None => Err(VocabularyError::UnknownToken {
                namespace: namespace.to_owned(),
                token: token.to_owned(),
            }),
        }
    }

    /// The token at `index`, if any.
    pub fn token(&self, namespace: &str, index: usize) -> Option<&str> {
        self.namespaces
            .get(namespace)?
            .tokens
            .get(index)
            .map(String::as_str)
    }

    /// Number of entries in `namespace`, padding and OOV included; 0 when absent.
    pub fn size(&self, namespace: &str) -> usize {
        self.namespaces
            .get(namespace)
            .map_or(0, |ns| ns.tokens.len())
    }

    /// All tokens of `namespace` in index order; empty when absent.
    pub fn tokens(&self, namespace: &str) -> &[String] {
        self.namespaces
            .get(namespace)
            .map_or(&[], |ns| ns.tokens.as_slice())
    }

    /// Appends the tokens not yet present at the end of `namespace` (creating it if needed),
    /// keeping every existing index stable; used e.g. to add labels after training data was
    /// indexed. Returns how many were added.
    pub fn extend<I, S>(&mut self, namespace: &str, tokens: I) -> usize
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ns = self
            .namespaces
            .entry(namespace.to_owned())
            .or_insert_with(|| Namespace::new(is_padded_namespace(namespace)));
        tokens.into_iter().filter(|t| ns.push(t.as_ref())).count()
    }

    /// The vocabulary as JSON: `{"namespace": ["token0", ...]}`.
    pub fn to_json(&self) -> String {
        let map: BTreeMap<&str, &[String]> = self
            .namespaces
            .iter()
            .map(|(k, v)| (k.as_str(), v.tokens.as_slice()))
            .collect();
        serde_json::to_string_pretty(&map).expect("a map of string lists always serializes")
    }

    /// Parses [`Vocabulary::to_json`] output, checking that padded namespaces start with the
    /// padding and OOV tokens and that no namespace repeats a token.
    pub fn from_json(json: &str) -> Result<Self, VocabularyError> {
        Self::parse(json, None)
    }

    fn parse(json: &str, path: Option<&Path>) -> Result<Self, VocabularyError> {
        let map: BTreeMap<String, Vec<String>> =
            serde_json::from_str(json).map_err(|source| VocabularyError::Json {
                path: path.map(Path::to_path_buf),
                source,
            })?;
        Self::from_map(map)
    }

    /// Builds a vocabulary from `namespace -> tokens in index order`, checking that padded
    /// namespaces start with the padding and OOV tokens and that no namespace repeats a token.
    pub fn from_map(map: BTreeMap<String, Vec<String>>) -> Result<Self, VocabularyError> {
        let mut vocab = Vocabulary::new();
        for (name, tokens) in map {
            let invalid = |reason: String| VocabularyError::Invalid {
                namespace: name.clone(),
                reason,
            };
            if is_padded_namespace(&name)
                && (tokens.first().map(String::as_str) != Some(PADDING_TOKEN)
                    || tokens.get(1).map(String::as_str) != Some(OOV_TOKEN))
            {
                return Err(invalid(format!(
                    "a padded namespace must start with {PADDING_TOKEN:?} and {OOV_TOKEN:?}"
                )));
            }
            let mut ns = Namespace::default();
            for token in &tokens {
                if !ns.push(token) {
                    return Err(invalid(format!("duplicate token {token:?}")));
                }
            }
            vocab.namespaces.insert(name, ns);
        }
        Ok(vocab)
    }

    /// Writes [`Vocabulary::to_json`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), VocabularyError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| VocabularyError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a vocabulary written by [`Vocabulary::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, VocabularyError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| VocabularyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&json, Some(path))
    }
}

impl Serialize for Vocabulary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &[String]> = self
            .namespaces
            .iter()
            .map(|(k, v)| (k.as_str(), v.tokens.as_slice()))
            .collect();
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Vocabulary {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Vec<String>>::deserialize(deserializer)?;
        Self::from_map(map).map_err(serde::de::Error::custom)
    }
}

/// Per-namespace limits applied when building a vocabulary from counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceOptions {
    /// Tokens seen fewer times are left out (they map to OOV); rare typos would otherwise get
    /// embeddings that are never trained.
    pub min_count: usize,
    /// At most this many tokens (padding and OOV not counted), the most frequent ones.
    pub max_size: Option<usize>,
}

impl Default for NamespaceOptions {
    fn default() -> Self {
        Self {
            min_count: 1,
            max_size: None,
        }
    }
}

/// Options for [`VocabularyBuilder::build`]: a default and per-namespace overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VocabularyOptions {
    /// Applied to namespaces without an override.
    pub default: NamespaceOptions,
    /// Overrides by namespace name.
    pub namespaces: BTreeMap<String, NamespaceOptions>,
}

impl VocabularyOptions {
    /// Sets the options of one namespace.
    pub fn with(mut self, namespace: &str, options: NamespaceOptions) -> Self {
        self.namespaces.insert(namespace.to_owned(), options);
        self
    }

    /// The options that apply to `namespace`.
    pub fn for_namespace(&self, namespace: &str) -> NamespaceOptions {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.default)
    }
}

/// Counts of one namespace in first-seen order.
#[derive(Debug, Clone, Default)]
struct Counter {
    order: Vec<String>,
    counts: HashMap<String, usize>,
}

/// Counts tokens per namespace, remembering first-seen order so that equal counts keep a
/// deterministic order (first seen, lower index) independent of hashing.
#[derive(Debug, Clone, Default)]
pub struct VocabularyBuilder {
    counters: BTreeMap<String, Counter>,
}

impl VocabularyBuilder {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one occurrence of `token` in `namespace`.
    pub fn count(&mut self, namespace: &str, token: &str) {
        self.count_n(namespace, token, 1);
    }

    /// Counts `n` occurrences of `token` in `namespace`.
    pub fn count_n(&mut self, namespace: &str, token: &str, n: usize) {
        let counter = self.counters.entry(namespace.to_owned()).or_default();
        match counter.counts.get_mut(token) {
            Some(c) => *c += n,
            None => {
                counter.order.push(token.to_owned());
                counter.counts.insert(token.to_owned(), n);
            }
        }
    }

    /// Counts every token of `tokens` in `namespace`.
    pub fn count_all<I, S>(&mut self, namespace: &str, tokens: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for t in tokens {
            self.count(namespace, t.as_ref());
        }
    }

    /// The count of `token` in `namespace` so far.
    pub fn get(&self, namespace: &str, token: &str) -> usize {
        self.counters
            .get(namespace)
            .and_then(|c| c.counts.get(token))
            .copied()
            .unwrap_or(0)
    }

    /// Builds the vocabulary: in each namespace, tokens with at least `min_count` occurrences,
    /// by descending count (ties: first seen first), cut to `max_size`, after the padding and
    /// OOV entries for padded namespaces. Padding/OOV strings that occur in the data are not
    /// duplicated.
    pub fn build(&self, options: &VocabularyOptions) -> Vocabulary {
        let mut vocab = Vocabulary::new();
        for (name, counter) in &self.counters {
            let opts = options.for_namespace(name);
            let mut ranked: Vec<(usize, &String)> = counter
                .order
                .iter()
                .map(|t| (counter.counts[t], t))
                .filter(|(c, _)| *c >= opts.min_count)
                .collect();
            // stable sort: equal counts keep first-seen order
            ranked.sort_by_key(|&(count, _)| std::cmp::Reverse(count));
            let limit = opts.max_size.unwrap_or(usize::MAX);
            vocab.extend(name, ranked.into_iter().take(limit).map(|(_, t)| t));
        }
        vocab
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> VocabularyBuilder {
        let mut b = VocabularyBuilder::new();
        b.count_all(TOKENS, ["b", "a", "c", "a", "d", "c", "a", "e"]);
        b.count_all(LABELS, ["no", "yes", "yes"]);
        b
    }

    #[test]
    fn ordering_and_ties() {
        let v = builder().build(&VocabularyOptions::default());
        // a:3, then c:2, then ties of 1 in first-seen order: b, d, e
        assert_eq!(
            v.tokens(TOKENS),
            [PADDING_TOKEN, OOV_TOKEN, "a", "c", "b", "d", "e"]
        );
        assert_eq!(v.index(TOKENS, "a"), 2);
        assert_eq!(v.token(TOKENS, 3), Some("c"));
        assert_eq!(v.size(TOKENS), 7);
        assert_eq!(v.tokens(LABELS), ["yes", "no"]);
    }

    #[test]
    fn min_count_and_max_size() {
        let opts = VocabularyOptions::default().with(
            TOKENS,
            NamespaceOptions {
                min_count: 2,
                max_size: None,
            },
        );
        let v = builder().build(&opts);
        assert_eq!(v.tokens(TOKENS), [PADDING_TOKEN, OOV_TOKEN, "a", "c"]);
        // labels use the default options
        assert_eq!(v.size(LABELS), 2);
        let opts = VocabularyOptions {
            default: NamespaceOptions {
                min_count: 1,
                max_size: Some(3),
            },
            ..Default::default()
        };
        let v = builder().build(&opts);
        assert_eq!(v.tokens(TOKENS), [PADDING_TOKEN, OOV_TOKEN, "a", "c", "b"]);
    }

    #[test]
    fn padding_oov_and_labels() {
        let v = builder().build(&VocabularyOptions::default());
        assert_eq!(v.index(TOKENS, PADDING_TOKEN), PADDING_INDEX);
        assert_eq!(v.index(TOKENS, "zzz"), OOV_INDEX);
        assert_eq!(v.try_index(TOKENS, "zzz"), None);
        assert_eq!(v.index("absent", "x"), OOV_INDEX);
        assert_eq!(v.size("absent"), 0);
        assert!(v.tokens("absent").is_empty());
        assert_eq!(v.try_index(LABELS, "yes"), Some(0));
        assert_eq!(v.try_index(LABELS, "maybe"), None);
        assert_eq!(v.token(LABELS, 5), None);
        assert!(matches!(
            v.checked_index(LABELS, "maybe"),
            Err(VocabularyError::UnknownToken { .. })
        ));
        assert_eq!(v.checked_index(TOKENS, "maybe").unwrap(), OOV_INDEX);
        assert!(!is_padded_namespace("labels"));
        assert!(!is_padded_namespace("pair_labels"));
        assert!(is_padded_namespace(TOKEN_CHARACTERS));
    }

    #[test]
    fn extend_appends() {
        let mut v = builder().build(&VocabularyOptions::default());
        assert_eq!(v.extend(LABELS, ["maybe", "yes"]), 1);
        assert_eq!(v.tokens(LABELS), ["yes", "no", "maybe"]);
        assert_eq!(v.extend("chars", ["x"]), 1);
        assert_eq!(v.tokens("chars"), [PADDING_TOKEN, OOV_TOKEN, "x"]);
    }

    #[test]
    fn save_load_round_trip() {
        let v = builder().build(&VocabularyOptions::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        v.save(&path).unwrap();
        let loaded = Vocabulary::load(&path).unwrap();
        assert_eq!(loaded, v);
        assert_eq!(Vocabulary::from_json(&v.to_json()).unwrap(), v);
        let via_serde: Vocabulary =
            serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(via_serde, v);
    }

    #[test]
    fn corrupt_json_errors() {
        let err = Vocabulary::from_json("{\"tokens\": [").unwrap_err();
        assert!(matches!(err, VocabularyError::Json { .. }));
        let err = Vocabulary::from_json(r#"{"tokens": ["a", "b"]}"#).unwrap_err();
        assert!(err.to_string().contains("tokens"), "{err}");
        let err = Vocabulary::from_json(r#"{"labels": ["a", "a"]}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        let err = Vocabulary::load("/nonexistent/vocab.json").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vocab.json"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "not json").unwrap();
        let err = Vocabulary::load(&path).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
    }
}
