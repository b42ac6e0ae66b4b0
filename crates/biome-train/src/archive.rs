//! The model archive: one folder with the config, vocabulary, weights and a manifest holding a
//! format version and a checksum of every file. Files are written to a temporary name and
//! renamed, and the manifest goes last, so an interrupted write never leaves a folder that
//! loads; a truncated or bit-flipped file fails its checksum instead of giving garbage output.
//!
//! The configuration is kept as the JSON text the caller gives (the user-facing crate parses
//! it), so the format does not depend on which configuration type wrote it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biome_core::{LABELS, Vocabulary};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The newest archive format this build reads and writes. Version 2 added the model's own
/// files (a pretrained transformer's tokenizer and configuration, [`ASSETS`]); an archive
/// without them is still written as version 1, so older builds keep reading word models.
/// Version 3 lists the [`ANNEXES`] under their checksums too (an archive becomes version 3
/// when [`add_annex`] adds one).
pub const FORMAT_VERSION: u32 = 3;
/// The first format version whose manifest may list [`ANNEXES`].
const FORMAT_VERSION_WITH_ANNEXES: u32 = 3;
/// The format version of an archive with no [`ASSETS`].
const FORMAT_VERSION_WITHOUT_ASSETS: u32 = 1;
/// The format version [`save_weights`] writes with [`ASSETS`].
const FORMAT_VERSION_WITH_ASSETS: u32 = 2;
const FORMAT_NAME: &str = "biome-model";
/// The manifest's file name in an archive.
pub const MANIFEST: &str = "archive.json";
/// The configuration's file name in an archive.
pub const CONFIG: &str = "config.json";
/// The vocabulary's file name in an archive.
pub const VOCABULARY: &str = "vocabulary.json";
/// The weights' file name in an archive (and in a checkpoint's `best`).
pub const WEIGHTS: &str = "model.bpk";
/// A pretrained transformer's `tokenizer.json`, kept so the model needs no original folder.
pub const TRANSFORMER_TOKENIZER: &str = "transformer_tokenizer.json";
/// A pretrained transformer's `config.json` (its architecture; the weights are in [`WEIGHTS`]).
pub const TRANSFORMER_CONFIG: &str = "transformer_config.json";
/// The optional files an archive may carry beside the configuration, vocabulary and weights,
/// each under its checksum like the others.
pub const ASSETS: [&str; 2] = [TRANSFORMER_TOKENIZER, TRANSFORMER_CONFIG];

/// The match threshold `biome train` chooses after the archive is written (the user-facing
/// crate's `threshold` module reads and writes its contents).
pub const THRESHOLD: &str = "threshold.json";
/// Files added to a complete archive afterwards ([`add_annex`]), each then under its checksum.
pub const ANNEXES: [&str; 1] = [THRESHOLD];

/// `archive.json`. Read strictly (unknown keys and repeated file names are errors): it is the
/// one file without a checksum, so anything unexpected in it means damage, not a variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `biome-model`.
    pub format: String,
    /// See [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The biome version that wrote it.
    pub biome_version: String,
    /// Label names in class order.
    pub labels: Vec<String>,
    /// File name → CRC-32 of its bytes.
    #[serde(deserialize_with = "unique_keys")]
    pub files: BTreeMap<String, u32>,
}

/// A JSON object as a map, refusing a key given twice (serde's map would keep the last one).
fn unique_keys<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, u32>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, u32>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of file names and checksums")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((name, crc)) = map.next_entry::<String, u32>()? {
                if out.insert(name.clone(), crc).is_some() {
                    return Err(serde::de::Error::custom(format!("{name:?} listed twice")));
                }
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique)
}

/// Write `bytes` to `path` through a temporary file and a rename, so readers see the old file
/// or the new one, never half of one (a full disk fails the write, not the old file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::io(path, e)
    })?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// Make the renames inside `dir` durable (a rename is only on disk once its folder is synced).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TrainError::io(dir, e))
}

/// The weights of `module` as burnpack bytes.
pub fn module_bytes<M: Module + Clone>(module: &M) -> Result<Vec<u8>> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::Invalid(format!("cannot serialize the weights: {e}")))?;
    Ok(bytes.to_vec())
}

/// Load burnpack `bytes` into `module` (same architecture), or explain why not.
pub fn load_module_bytes<M: Module>(module: M, bytes: Vec<u8>, origin: &Path) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::archive(origin, format!("unreadable weights: {e}")))?;
    module
        .try_load_record(record)
        .map_err(|e| TrainError::archive(origin, format!("weights do not fit the model: {e}")))
}

fn read_checked(dir: &Path, name: &str, manifest: &Manifest) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let expected = manifest.files.get(name).copied().ok_or_else(|| {
        TrainError::archive(dir, format!("manifest lists no checksum for {name}"))
    })?;
    let bytes = std::fs::read(&path).map_err(|e| TrainError::archive(&path, e.to_string()))?;
    let actual = crc32fast::hash(&bytes);
    if actual != expected {
        return Err(TrainError::archive(
            &path,
            format!(
                "checksum mismatch ({} bytes, crc {actual:08x}, expected {expected:08x} by \
                 {MANIFEST}): the file is truncated or corrupted (or {MANIFEST} is)",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Write a complete archive into `dir` (created if needed), with `config_json` as its
/// configuration.
pub fn save<M: Module + Clone>(
    dir: &Path,
    config_json: &str,
    vocab: &Vocabulary,
    model: &M,
    assets: &[(String, Vec<u8>)],
) -> Result<()> {
    save_weights(dir, config_json, vocab, &module_bytes(model)?, assets)
}

/// Write a complete archive into `dir` from burnpack `weights` (see [`module_bytes`]), with
/// `assets`: files named from [`ASSETS`] (any other name is an error).
pub fn save_weights(
    dir: &Path,
    config_json: &str,
    vocab: &Vocabulary,
    weights: &[u8],
    assets: &[(String, Vec<u8>)],
) -> Result<()> {
    if let Some((name, _)) = assets.iter().find(|(n, _)| !ASSETS.contains(&n.as_str())) {
        return Err(TrainError::Invalid(format!(
            "{name:?} is not a file a model archive can carry (known: {})",
            ASSETS.join(", ")
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let vocab_json = vocab.to_json();
    let mut files: Vec<(&str, &[u8])> = vec![
        (CONFIG, config_json.as_bytes()),
        (VOCABULARY, vocab_json.as_bytes()),
        (WEIGHTS, weights),
    ];
    files.extend(assets.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let mut sums = BTreeMap::new();
    for (name, bytes) in files {
        write_atomic(&dir.join(name), bytes)?;
        sums.insert(name.to_string(), crc32fast::hash(bytes));
    }
    // A crash here leaves new files under the old manifest: the folder fails its checksums
    // until the next save (a resumed run rewrites the archive from its checkpoint).
    crate::pause::point("archive-files-written");
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: if assets.is_empty() {
            FORMAT_VERSION_WITHOUT_ASSETS
        } else {
            FORMAT_VERSION_WITH_ASSETS
        },
        biome_version: env!("CARGO_PKG_VERSION").into(),
        labels: vocab.tokens(LABELS).to_vec(),
        files: sums,
    };
    write_manifest(dir, &manifest)
}

/// Write `manifest` as the archive's `archive.json` (atomically; the last write of a save).
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
    write_atomic(&dir.join(MANIFEST), &json)
}

/// What [`open`] reads before the model is built.
pub struct OpenedArchive {
    /// The folder.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The configuration's JSON text (checked against its checksum, not parsed).
    pub config_json: String,
    /// The vocabulary (labels included).
    pub vocab: Vocabulary,
    /// The [`ASSETS`] the archive carries, by name (checked against their checksums).
    pub assets: BTreeMap<String, Vec<u8>>,
    weights: Vec<u8>,
}

impl OpenedArchive {
    /// Load the weights into a freshly built model of the archived architecture.
    pub fn load_weights<M: Module>(self, model: M) -> Result<M> {
        load_module_bytes(model, self.weights, &self.dir.join(WEIGHTS))
    }
}

/// Read and check an archive folder's manifest (`archive.json`) alone.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        TrainError::archive(
            dir,
            format!("not a biome model folder (cannot read {MANIFEST}: {e})"),
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| TrainError::archive(&manifest_path, format!("corrupted manifest: {e}")))?;
    if manifest.format != FORMAT_NAME {
        return Err(TrainError::archive(
            &manifest_path,
            format!("unknown format {:?}", manifest.format),
        ));
    }
    if manifest.format_version == 0 {
        return Err(TrainError::archive(
            &manifest_path,
            "corrupted manifest: format_version 0 does not exist",
        ));
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(TrainError::archive(
            &manifest_path,
            format!(
                "written by biome {} in format version {}, newer than this build reads ({}); \
                 upgrade biome",
                manifest.biome_version, manifest.format_version, FORMAT_VERSION
            ),
        ));
    }
    // Version 1 knew only the three files; version 2 added the assets.
    let known = |name: &str| {
        [CONFIG, VOCABULARY, WEIGHTS].contains(&name)
            || (manifest.format_version >= FORMAT_VERSION_WITH_ASSETS && ASSETS.contains(&name))
            || (manifest.format_version >= FORMAT_VERSION_WITH_ANNEXES && ANNEXES.contains(&name))
    };
    if let Some(extra) = manifest.files.keys().find(|name| !known(name)) {
        return Err(TrainError::archive(
            &manifest_path,
            format!("corrupted manifest: it lists an unknown file {extra:?}"),
        ));
    }
    // Only `add_annex` writes version 3, always with an annex: a version 3 without one is a
    // flipped bit of version 1 or 2.
    if manifest.format_version >= FORMAT_VERSION_WITH_ANNEXES
        && !ANNEXES
            .iter()
            .any(|name| manifest.files.contains_key(*name))
    {
        return Err(TrainError::archive(
            &manifest_path,
            format!(
                "corrupted manifest: format version {} lists none of {}",
                manifest.format_version,
                ANNEXES.join(", ")
            ),
        ));
    }
    Ok(manifest)
}

/// Add (or replace) `name`, one of [`ANNEXES`], in the complete archive `dir`: the file is
/// written atomically, then the manifest again with its checksum (and version 3). A crash
/// between the two leaves a file the manifest does not vouch for: [`read_annex`] then fails
/// its checksum (replaced file) or reads it as an older archive's unlisted file (new one).
pub fn add_annex(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    if !ANNEXES.contains(&name) {
        return Err(TrainError::Invalid(format!(
            "{name:?} is not a file that can be added to a model archive (known: {})",
            ANNEXES.join(", ")
        )));
    }
    let mut manifest = read_manifest(dir)?;
    write_atomic(&dir.join(name), bytes)?;
    manifest
        .files
        .insert(name.to_owned(), crc32fast::hash(bytes));
    manifest.format_version = manifest.format_version.max(FORMAT_VERSION_WITH_ANNEXES);
    write_manifest(dir, &manifest)
}

/// The bytes of annex `name` in archive `dir`, checked against the manifest's checksum; `None`
/// when there is no such file (an error when the manifest lists it). A file the manifest does
/// not list (archives written before version 3, or an interrupted [`add_annex`]) is read
/// unchecked, as those builds did.
pub fn read_annex(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let manifest = read_manifest(dir);
    if let Ok(listed) = &manifest
        && listed.files.contains_key(name)
    {
        // listed: checked, and a listed file that is gone is damage (the read names it)
        return read_checked(dir, name, listed).map(Some);
    }
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    manifest?;
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| TrainError::io(&path, e))
}

/// Read and verify an archive folder.
pub fn open(dir: &Path) -> Result<OpenedArchive> {
    let manifest = read_manifest(dir)?;
    let manifest_path = dir.join(MANIFEST);
    let config_json = String::from_utf8_lossy(&read_checked(dir, CONFIG, &manifest)?).into_owned();
    let vocab_bytes = read_checked(dir, VOCABULARY, &manifest)?;
    let vocab = Vocabulary::from_json(&String::from_utf8_lossy(&vocab_bytes))?;
    if manifest.labels != vocab.tokens(LABELS) {
        return Err(TrainError::archive(
            &manifest_path,
            format!(
                "corrupted manifest: labels {:?} differ from the vocabulary's {:?}",
                manifest.labels,
                vocab.tokens(LABELS)
            ),
        ));
    }
    let weights = read_checked(dir, WEIGHTS, &manifest)?;
    let mut assets = BTreeMap::new();
    for name in ASSETS {
        if manifest.files.contains_key(name) {
            assets.insert(name.to_owned(), read_checked(dir, name, &manifest)?);
        }
    }
    Ok(OpenedArchive {
        dir: dir.to_path_buf(),
        manifest,
        config_json,
        vocab,
        assets,
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use biome_core::{VocabularyBuilder, VocabularyOptions};

    fn vocab() -> Vocabulary {
        let mut b = VocabularyBuilder::new();
        b.count(LABELS, "duplicate");
        b.count(LABELS, "not_duplicate");
        b.build(&VocabularyOptions::default())
    }

    fn assets() -> Vec<(String, Vec<u8>)> {
        vec![
            (TRANSFORMER_TOKENIZER.to_owned(), b"{\"model\": 1}".to_vec()),
            (
                TRANSFORMER_CONFIG.to_owned(),
                b"{\"hidden_size\": 8}".to_vec(),
            ),
        ]
    }

    #[test]
    fn assets_round_trip_under_their_checksums() {
        let dir = tempfile::tempdir().unwrap();
        save_weights(dir.path(), "{}", &vocab(), b"weights", &assets()).unwrap();
        let opened = open(dir.path()).unwrap();
        assert_eq!(opened.manifest.format_version, 2);
        let got: Vec<(String, Vec<u8>)> = opened.assets.into_iter().collect();
        let mut want = assets();
        want.sort();
        assert_eq!(got, want);
        // a flipped byte in an asset fails its checksum, naming the file
        let path = dir.path().join(TRANSFORMER_TOKENIZER);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(TRANSFORMER_TOKENIZER) && err.contains("checksum"),
            "{err}"
        );
        // a deleted asset is an error too, not a model without its tokenizer
        std::fs::remove_file(&path).unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(TRANSFORMER_TOKENIZER), "{err}");
    }

    #[test]
    fn archives_without_assets_stay_version_1_and_reject_asset_names() {
        let dir = tempfile::tempdir().unwrap();
        save_weights(dir.path(), "{}", &vocab(), b"weights", &[]).unwrap();
        let opened = open(dir.path()).unwrap();
        assert_eq!(opened.manifest.format_version, 1);
        assert!(opened.assets.is_empty());
        // a version-1 manifest listing an asset is damage (version 1 had none)
        let manifest_path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        let edited = text.replace(
            "\"files\": {",
            &format!("\"files\": {{\n    \"{TRANSFORMER_CONFIG}\": 1,"),
        );
        assert_ne!(edited, text);
        std::fs::write(&manifest_path, edited).unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("unknown file"), "{err}");
        // version 1 may not list an annex either
        save_weights(dir.path(), "{}", &vocab(), b"weights", &[]).unwrap();
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        let edited = text.replace(
            "\"files\": {",
            &format!("\"files\": {{\n    \"{THRESHOLD}\": 1,"),
        );
        std::fs::write(&manifest_path, edited).unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("unknown file"), "{err}");
        let bad = [("weights.txt".to_owned(), vec![1u8])];
        let err = save_weights(dir.path(), "{}", &vocab(), b"w", &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("weights.txt"), "{err}");
    }

    #[test]
    fn an_annex_goes_under_the_manifest_and_fails_its_checksum_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        save_weights(dir.path(), "{}", &vocab(), b"weights", &[]).unwrap();
        assert_eq!(read_annex(dir.path(), THRESHOLD).unwrap(), None);
        add_annex(dir.path(), THRESHOLD, b"{\"t\": 0.5}").unwrap();
        let opened = open(dir.path()).unwrap();
        assert_eq!(opened.manifest.format_version, 3);
        assert_eq!(
            opened.manifest.files[THRESHOLD],
            crc32fast::hash(b"{\"t\": 0.5}")
        );
        assert_eq!(
            read_annex(dir.path(), THRESHOLD).unwrap().unwrap(),
            b"{\"t\": 0.5}"
        );
        // replacing it keeps one entry with the new checksum
        add_annex(dir.path(), THRESHOLD, b"{\"t\": 0.7}").unwrap();
        assert_eq!(
            read_annex(dir.path(), THRESHOLD).unwrap().unwrap(),
            b"{\"t\": 0.7}"
        );
        // one changed digit is caught, where a JSON parse alone would take it
        std::fs::write(dir.path().join(THRESHOLD), b"{\"t\": 0.1}").unwrap();
        let err = read_annex(dir.path(), THRESHOLD).unwrap_err().to_string();
        assert!(err.contains(THRESHOLD) && err.contains("checksum"), "{err}");
        // and a listed annex that is gone is an error, not "no threshold"
        std::fs::remove_file(dir.path().join(THRESHOLD)).unwrap();
        let err = read_annex(dir.path(), THRESHOLD).unwrap_err().to_string();
        assert!(err.contains(THRESHOLD), "{err}");
        // only annexes can be added, and only to an archive
        let err = add_annex(dir.path(), WEIGHTS, b"w")
            .unwrap_err()
            .to_string();
        assert!(err.contains(WEIGHTS), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(add_annex(empty.path(), THRESHOLD, b"{}").is_err());
        assert!(!empty.path().join(THRESHOLD).exists());
    }

    #[test]
    fn an_unlisted_annex_of_an_older_archive_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        save_weights(dir.path(), "{}", &vocab(), b"weights", &[]).unwrap();
        // what builds before version 3 wrote: the file beside a manifest that does not list it
        std::fs::write(dir.path().join(THRESHOLD), b"{}").unwrap();
        assert_eq!(open(dir.path()).unwrap().manifest.format_version, 1);
        assert_eq!(read_annex(dir.path(), THRESHOLD).unwrap().unwrap(), b"{}");
        // a version 1 or 2 manifest turned into version 3 (one flipped bit) lists no annex
        let manifest_path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        let edited = text.replace("\"format_version\": 1", "\"format_version\": 3");
        assert_ne!(edited, text);
        std::fs::write(&manifest_path, edited).unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("format version 3"), "{err}");
    }
}
