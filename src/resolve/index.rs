//! A record index for online matching (`biome index` writes it, `biome serve --index` loads
//! it): a table's record ids and their vectors under one model, in one file written whole.
//!
//! ```text
//! "BIOMEIX1"             8 bytes of magic
//! header length          u64, little-endian
//! header                 JSON: format version, model fingerprint, dim, source, fields, ids
//! vectors                ids × dim f32, little-endian, row after row
//! checksum               u32 CRC-32 of every byte before it, little-endian
//! ```
//!
//! The vectors are only meaningful under the model that encoded them, so the header keeps the
//! model's fingerprint ([`model_fingerprint`]: the archive's file checksums) and loading
//! compares it, as it compares the vector size with the model's. A binary body rather than CSV
//! or JSON: 10⁵ records of 128 values are 51 MB of floats, read in milliseconds, against
//! seconds of float parsing.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::archive;

/// The first bytes of an index file.
pub const MAGIC: &[u8; 8] = b"BIOMEIX1";
/// The header's format version this build reads and writes.
pub const FORMAT_VERSION: u32 = crate::error::INDEX_FORMAT_VERSION;

pub use crate::error::IndexError;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexHeader {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The biome version that wrote it.
    pub biome_version: String,
    /// [`model_fingerprint`] of the model that encoded the records.
    pub model_fingerprint: String,
    /// Values per vector.
    pub dim: usize,
    /// The table the records came from.
    pub source: String,
    /// The table columns read as the model's fields.
    pub fields: Vec<String>,
    /// Record ids, in row order.
    pub ids: Vec<String>,
}

/// A loaded, validated index.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordIndex {
    /// The header (ids included).
    pub header: IndexHeader,
    /// `ids.len() × dim` values, row after row.
    pub vectors: Vec<f32>,
}

impl RecordIndex {
    /// Records in the index.
    pub fn len(&self) -> usize {
        self.header.ids.len()
    }

    /// Whether it holds no records (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.header.ids.is_empty()
    }
}

/// The model's identity for its vectors: CRC-32 over the archive manifest's file names and
/// checksums (configuration, vocabulary and weights), as 8 hex digits. Any retraining changes
/// the weights' checksum and so the fingerprint; copying the folder does not.
pub fn model_fingerprint(model_dir: &Path) -> Result<String, IndexError> {
    let manifest = archive::read_manifest(model_dir)
        .map_err(|e| IndexError::Model(format!("{}: {e}", model_dir.display())))?;
    let mut hasher = crc32fast::Hasher::new();
    for (name, crc) in &manifest.files {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(&crc.to_le_bytes());
    }
    Ok(format!("{:08x}", hasher.finalize()))
}

/// Writes an index to `path` whole: into a hidden temporary file beside it, synced, then
/// renamed (an interrupted write leaves no file under the name).
pub fn write_index(path: &Path, header: &IndexHeader, vectors: &[f32]) -> Result<(), IndexError> {
    if vectors.len() != header.ids.len() * header.dim {
        return Err(IndexError::Damaged {
            path: path.to_path_buf(),
            reason: format!(
                "{} values for {} ids of {} values",
                vectors.len(),
                header.ids.len(),
                header.dim
            ),
        });
    }
    let json = serde_json::to_vec(header).expect("an index header serialises");
    let mut bytes = Vec::with_capacity(16 + json.len() + vectors.len() * 4 + 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for v in vectors {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());

    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&partial)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&partial, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&partial);
        io(e)
    })
}

/// Reads and checks an index: whole (the checksum), this format version, unique ids, and
/// (with `model`) encoded by that model with its vector size.
pub fn load_index(path: &Path, model: Option<ModelCheck<'_>>) -> Result<RecordIndex, IndexError> {
    let damaged = |reason: String| IndexError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() < MAGIC.len() + 8 + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged(
            "it does not start with the index magic bytes".into(),
        ));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(damaged(format!(
            "checksum mismatch ({} bytes, crc {actual:08x}, expected {stored:08x})",
            bytes.len()
        )));
    }
    let header_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let rest = &body[16..];
    if header_len > rest.len() as u64 {
        return Err(damaged(format!(
            "a header of {header_len} bytes in {} bytes",
            rest.len()
        )));
    }
    let (header_bytes, data) = rest.split_at(header_len as usize);
    // The version first: a newer header may have other keys.
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version =
        serde_json::from_slice(header_bytes).map_err(|e| damaged(format!("header: {e}")))?;
    if version.format_version != FORMAT_VERSION {
        return Err(IndexError::Version {
            path: path.to_path_buf(),
            found: version.format_version,
        });
    }
    let header: IndexHeader =
        serde_json::from_slice(header_bytes).map_err(|e| damaged(format!("header: {e}")))?;
    let expected = header.ids.len() as u128 * header.dim as u128 * 4;
    if data.len() as u128 != expected {
        return Err(damaged(format!(
            "{} bytes of vectors for {} ids of {} values",
            data.len(),
            header.ids.len(),
            header.dim
        )));
    }
    if header.ids.is_empty() {
        return Err(IndexError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(header.ids.len());
    for (row, id) in header.ids.iter().enumerate() {
        if let Some(first) = seen.insert(id, row) {
            return Err(IndexError::DuplicateId {
                path: path.to_path_buf(),
                id: id.clone(),
                first,
                second: row,
            });
        }
    }
    drop(seen);
    if let Some(model) = model {
        if header.model_fingerprint != model.fingerprint {
            return Err(IndexError::OtherModel {
                path: path.to_path_buf(),
                index: header.model_fingerprint.clone(),
                model: model.dir.display().to_string(),
                model_fingerprint: model.fingerprint.to_owned(),
            });
        }
        if header.dim != model.dim {
            return Err(IndexError::Dimension {
                path: path.to_path_buf(),
                index_dim: header.dim,
                model_dim: model.dim,
            });
        }
    }
    let vectors = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Ok(RecordIndex { header, vectors })
}

/// The model an index must belong to.
#[derive(Debug, Clone, Copy)]
pub struct ModelCheck<'a> {
    /// The model folder (for messages).
    pub dir: &'a Path,
    /// Its [`model_fingerprint`].
    pub fingerprint: &'a str,
    /// Its record vector size.
    pub dim: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ids: &[&str], dim: usize) -> IndexHeader {
        IndexHeader {
            format_version: FORMAT_VERSION,
            biome_version: "test".into(),
            model_fingerprint: "0badf00d".into(),
            dim,
            source: "t.csv".into(),
            fields: vec!["name".into()],
            ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn round_trip_and_every_damage_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.bix");
        let h = header(&["a", "b", "c"], 2);
        let v = [1.0, 2.0, -3.5, 4.0, 0.25, f32::MIN_POSITIVE];
        write_index(&path, &h, &v).unwrap();
        // only the file itself: the temporary name is gone
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let check = ModelCheck {
            dir: Path::new("m"),
            fingerprint: "0badf00d",
            dim: 2,
        };
        let got = load_index(&path, Some(check)).unwrap();
        assert_eq!(got.header, h);
        assert_eq!(got.vectors, v);

        let other = ModelCheck {
            fingerprint: "12345678",
            ..check
        };
        let e = load_index(&path, Some(other)).unwrap_err();
        assert!(matches!(e, IndexError::OtherModel { .. }), "{e}");
        assert!(e.to_string().contains("0badf00d") && e.to_string().contains("12345678"));
        let wide = ModelCheck { dim: 3, ..check };
        let e = load_index(&path, Some(wide)).unwrap_err();
        assert!(
            matches!(
                e,
                IndexError::Dimension {
                    index_dim: 2,
                    model_dim: 3,
                    ..
                }
            ),
            "{e}"
        );

        // one flipped bit anywhere, a truncation, another file
        let bytes = fs::read(&path).unwrap();
        for at in [0, 9, 20, bytes.len() - 10, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            fs::write(&path, &flipped).unwrap();
            let e = load_index(&path, None).unwrap_err();
            assert!(matches!(e, IndexError::Damaged { .. }), "byte {at}: {e}");
        }
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(matches!(
            load_index(&path, None),
            Err(IndexError::Damaged { .. })
        ));
        fs::write(&path, b"id,v0\na,1\n").unwrap();
        assert!(matches!(
            load_index(&path, None),
            Err(IndexError::Damaged { .. })
        ));
        let e = load_index(&dir.path().join("missing"), None).unwrap_err();
        assert!(matches!(e, IndexError::Io { .. }), "{e}");

        write_index(&path, &header(&["a", "b", "a"], 1), &[1.0, 2.0, 3.0]).unwrap();
        let e = load_index(&path, None).unwrap_err();
        assert!(
            matches!(
                &e,
                IndexError::DuplicateId {
                    first: 0,
                    second: 2,
                    ..
                }
            ),
            "{e}"
        );
        write_index(&path, &header(&[], 4), &[]).unwrap();
        assert!(matches!(
            load_index(&path, None),
            Err(IndexError::Empty { .. })
        ));
        let mut newer = header(&["a"], 1);
        newer.format_version = 2;
        write_index(&path, &newer, &[1.0]).unwrap();
        assert!(matches!(
            load_index(&path, None),
            Err(IndexError::Version { found: 2, .. })
        ));
    }
}
