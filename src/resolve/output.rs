//! The output folder, written whole or not at all: files go into a hidden sibling folder,
//! which is renamed to the requested name once everything is in it. An interrupted run leaves
//! no folder that looks complete (at most the hidden `.NAME.partial-PID`, removed when the run
//! fails in an orderly way).

use std::fs;
use std::path::{Path, PathBuf};

use super::error::ResolveError;
use crate::error::{BiomeError, Result};

/// A folder being written.
#[derive(Debug)]
pub struct OutputFolder {
    target: PathBuf,
    partial: PathBuf,
    overwrite: bool,
    done: bool,
}

impl OutputFolder {
    /// Starts writing `target`; fails at once when it exists and `overwrite` is off (before any
    /// work is done).
    pub fn create(target: &Path, overwrite: bool) -> Result<Self> {
        if target.exists() && !overwrite {
            return Err(ResolveError::OutputExists(target.to_path_buf()).into());
        }
        let name = target
            .file_name()
            .ok_or_else(|| {
                BiomeError::Invalid(format!("--output {}: not a folder name", target.display()))
            })?
            .to_string_lossy();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| BiomeError::io(&parent, e))?;
        let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            fs::remove_dir_all(&partial).map_err(|e| BiomeError::io(&partial, e))?;
        }
        fs::create_dir(&partial).map_err(|e| BiomeError::io(&partial, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            partial,
            overwrite,
            done: false,
        })
    }

    /// Where a file of the folder is written now.
    pub fn file(&self, name: &str) -> PathBuf {
        self.partial.join(name)
    }

    /// Moves the finished folder into place (replacing an old one under `overwrite`).
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.target.exists() {
            if !self.overwrite {
                return Err(ResolveError::OutputExists(self.target.clone()).into());
            }
            let old = self.partial.with_extension("old");
            fs::rename(&self.target, &old).map_err(|e| BiomeError::io(&self.target, e))?;
            fs::rename(&self.partial, &self.target).map_err(|e| BiomeError::io(&self.target, e))?;
            fs::remove_dir_all(&old).map_err(|e| BiomeError::io(&old, e))?;
        } else {
            fs::rename(&self.partial, &self.target).map_err(|e| BiomeError::io(&self.target, e))?;
        }
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a failed run should not leave its half-written files behind.
            let _ = fs::remove_dir_all(&self.partial);
        }
    }
}

/// A CSV writer on `path`, its errors naming the file.
pub fn csv_writer(path: &Path) -> Result<csv::Writer<fs::File>> {
    csv::Writer::from_path(path).map_err(|e| csv_error(path, e))
}

/// Writes `header` and `rows` as CSV to `path`, errors naming the file.
pub fn write_csv<const N: usize>(
    path: &Path,
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> Result<()> {
    let mut w = csv_writer(path)?;
    w.write_record(header).map_err(|e| csv_error(path, e))?;
    for row in rows {
        w.write_record(&row).map_err(|e| csv_error(path, e))?;
    }
    w.flush().map_err(|e| BiomeError::io(path, e))
}

/// A CSV error as a [`BiomeError`] naming the file.
pub fn csv_error(path: &Path, e: csv::Error) -> BiomeError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => BiomeError::io(path, source),
        other => BiomeError::Invalid(format!("{}: {other:?}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_finish_and_a_dropped_folder_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let folder = OutputFolder::create(&target, false).unwrap();
        fs::write(folder.file("a.csv"), "x").unwrap();
        assert!(!target.exists());
        drop(folder);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "partial folder removed"
        );

        let folder = OutputFolder::create(&target, false).unwrap();
        fs::write(folder.file("a.csv"), "1").unwrap();
        folder.finish().unwrap();
        assert_eq!(fs::read_to_string(target.join("a.csv")).unwrap(), "1");
        // exists: refused at once without --overwrite, replaced whole with it
        assert!(matches!(
            OutputFolder::create(&target, false),
            Err(BiomeError::Resolve(ResolveError::OutputExists(_)))
        ));
        let folder = OutputFolder::create(&target, true).unwrap();
        fs::write(folder.file("b.csv"), "2").unwrap();
        folder.finish().unwrap();
        assert!(!target.join("a.csv").exists());
        assert_eq!(fs::read_to_string(target.join("b.csv")).unwrap(), "2");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
