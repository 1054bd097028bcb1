//! Reading the `.npy` files an experiment names (f32 or f64, C or Fortran
//! order), each once: [`Files`] keeps what it has read, so the grid points
//! and trials of a sweep built from one base experiment read its files once.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Sparse matrices by the paths of their files and N.
type SparseCache = HashMap<(Vec<PathBuf>, usize), Arc<crate::model::Csr>>;

/// The files of experiments whose relative paths start at one folder, with
/// the arrays read so far (shared by clones).
#[derive(Clone, Debug, Default)]
pub struct Files {
    base: PathBuf,
    read: Arc<Mutex<HashMap<PathBuf, Arc<Array>>>>,
    /// The sparse matrices built so far, by their files and N.
    sparse: Arc<Mutex<SparseCache>>,
    /// How many files were read from disk.
    reads: Arc<Mutex<usize>>,
}

impl Files {
    /// Files relative to `base` (an experiment file's folder).
    pub fn new(base: &Path) -> Self {
        Files {
            base: base.to_path_buf(),
            ..Files::default()
        }
    }

    /// `p` as a path: itself when absolute, else under the base folder.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// The array at `p` (see [`read`]), from disk the first time only.
    pub fn array(&self, key: &str, p: &Path) -> Result<Arc<Array>> {
        let path = self.path(p);
        if let Some(a) = self.read.lock().expect("file cache").get(&path) {
            return Ok(a.clone());
        }
        let a = Arc::new(read(key, &path)?);
        *self.reads.lock().expect("read count") += 1;
        self.read
            .lock()
            .expect("file cache")
            .insert(path, a.clone());
        Ok(a)
    }

    /// The array handed over for path `p` ([`Files::provide`]), if any.
    pub fn provided(&self, p: &Path) -> Option<Arc<Array>> {
        self.read
            .lock()
            .expect("file cache")
            .get(&self.path(p))
            .cloned()
    }

    /// Hands over the array for path `p` (as an experiment names it), so
    /// that the experiments built through these files take it without
    /// reading a file: arrays made in memory (e.g. numpy's).
    pub fn provide(&self, p: &Path, array: Array) {
        let path = self.path(p);
        self.read
            .lock()
            .expect("file cache")
            .insert(path, Arc::new(array));
    }

    /// The sparse matrix of N = `n` in the files `paths`, built by `build`
    /// the first time only.
    pub fn sparse(
        &self,
        paths: &[&Path],
        n: usize,
        build: impl FnOnce() -> Result<crate::model::Csr>,
    ) -> Result<Arc<crate::model::Csr>> {
        let key = (paths.iter().map(|p| self.path(p)).collect::<Vec<_>>(), n);
        if let Some(m) = self.sparse.lock().expect("sparse cache").get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(build()?);
        *self.reads.lock().expect("read count") += paths.len();
        self.sparse
            .lock()
            .expect("sparse cache")
            .insert(key, m.clone());
        Ok(m)
    }

    /// How many `.npy` files were read from disk (each path once).
    pub fn reads(&self) -> usize {
        *self.reads.lock().expect("read count")
    }
}

/// A loaded array: shape and values in C (row-major) order, as f64.
#[derive(Clone, Debug)]
pub struct Array {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// Reads a `.npy` file of f32 or f64 values; `key` names the experiment key in errors.
pub fn read(key: &str, path: &Path) -> Result<Array> {
    let fail = |reason: String| Error::Npy {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    if let Ok(meta) = std::fs::metadata(path) {
        // The file's bytes, its values as f64 (twice an f32 file's size) and a copy.
        crate::memory::check(
            key,
            path.display(),
            "reading this file",
            meta.len().saturating_mul(5),
        )?;
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| fail(format!("not a valid .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype = npy.dtype().descr();
    let data: Vec<f64> = match npy.try_data::<f64>() {
        Ok(r) => r.collect::<std::io::Result<_>>(),
        Err(npy) => match npy.try_data::<f32>() {
            Ok(r) => r.map(|x| x.map(f64::from)).collect::<std::io::Result<_>>(),
            Err(_) => {
                return Err(fail(format!(
                    "has dtype {dtype}; allowed are float32 and float64"
                )))
            }
        },
    }
    .map_err(|e| fail(format!("truncated or unreadable data: {e}")))?;
    let data = if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0.0; data.len()];
        for i in 0..r {
            for j in 0..c {
                t[i * c + j] = data[j * r + i];
            }
        }
        t
    } else {
        data
    };
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(fail(format!(
            "element {i} is {}; all values must be finite",
            data[i]
        )));
    }
    Ok(Array { shape, data })
}

/// Reads a 1-D array of length `n` (a 2-D array of shape [1, n] or [n, 1] is accepted).
pub fn read_vector(files: &Files, key: &str, p: &Path, n: usize) -> Result<Vec<f64>> {
    let a = files.array(key, p)?;
    let path = &files.path(p);
    let ok = match a.shape.as_slice() {
        [m] => *m == n,
        [1, m] | [m, 1] => *m == n,
        _ => false,
    };
    if !ok {
        return Err(Error::Npy {
            key: key.to_string(),
            path: path.to_path_buf(),
            reason: format!(
                "has shape {:?}; expected a vector of length N = {n}",
                a.shape
            ),
        });
    }
    Ok(a.data.clone())
}

/// Reads a 2-D array whose shape is checked by `check` (which returns what
/// was expected when the shape does not fit).
pub fn read_matrix(
    files: &Files,
    key: &str,
    p: &Path,
    check: impl Fn(usize, usize) -> Option<String>,
) -> Result<(usize, usize, Vec<f64>)> {
    let a = files.array(key, p)?;
    let path = &files.path(p);
    let shape_err = |expected: String| Error::Npy {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason: format!("has shape {:?}; expected {expected}", a.shape),
    };
    match a.shape.as_slice() {
        [r, c] => match check(*r, *c) {
            None => Ok((*r, *c, a.data.clone())),
            Some(expected) => Err(shape_err(expected)),
        },
        _ => Err(shape_err(
            check(0, usize::MAX).unwrap_or_else(|| "a 2-D array".into()),
        )),
    }
}
