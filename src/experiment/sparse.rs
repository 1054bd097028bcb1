//! Reading sparse weights (`kind = "sparse"`): the `.npz` files
//! `scipy.sparse.save_npz` writes (CSR, CSC and COO; float32 or float64
//! values; any integer indices) and COO triplets as three `.npy` files.
//! Entries at the same place are summed (as scipy does converting COO to
//! CSR); an index outside 0..N, a value that is not finite, arrays that do
//! not agree, or a dense array where a sparse one is expected are refused,
//! naming the key.

use super::npy::Files;
use crate::error::{Error, Result};
use crate::model::Csr;
use std::io::Read;
use std::path::Path;

/// A 1-D array's values: integers (indices) or floats.
enum Numbers {
    Ints(Vec<i128>),
    Floats(Vec<f64>),
}

fn npy_error(key: &str, path: &Path, reason: String) -> Error {
    Error::Npy {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason,
    }
}

/// The file's bytes, after the memory check (the bytes, the arrays as
/// 8-byte numbers, and the matrix built from them).
fn bytes_of(key: &str, path: &Path) -> Result<Vec<u8>> {
    if let Ok(meta) = std::fs::metadata(path) {
        crate::memory::check(
            key,
            path.display(),
            "reading this file",
            meta.len().saturating_mul(8),
        )?;
    }
    std::fs::read(path).map_err(|e| npy_error(key, path, format!("cannot be read: {e}")))
}

/// Parses one `.npy` array of `bytes` (what `what` names in errors) as
/// its shape and values.
fn numbers(bytes: &[u8], what: &str) -> std::result::Result<(Vec<usize>, Numbers), String> {
    let npy =
        npyz::NpyFile::new(bytes).map_err(|e| format!("{what} is not a valid .npy array: {e}"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let dtype = npy.dtype().descr();
    let unreadable = |e: std::io::Error| format!("{what}: truncated or unreadable data: {e}");
    macro_rules! ints {
        ($npy:expr, $($t:ty),*) => {{
            let npy = $npy;
            $(
                let npy = match npy.try_data::<$t>() {
                    Ok(r) => {
                        let v = r
                            .map(|x| x.map(|x| x as i128))
                            .collect::<std::io::Result<Vec<_>>>()
                            .map_err(unreadable)?;
                        return Ok((shape, Numbers::Ints(v)));
                    }
                    Err(npy) => npy,
                };
            )*
            npy
        }};
    }
    let npy = ints!(npy, i64, i32, u64, u32, i16, u16, i8, u8);
    let data = match npy.try_data::<f64>() {
        Ok(r) => r.collect::<std::io::Result<Vec<_>>>(),
        Err(npy) => match npy.try_data::<f32>() {
            Ok(r) => r.map(|x| x.map(f64::from)).collect(),
            Err(_) => {
                return Err(format!(
                    "{what} has dtype {dtype}; allowed are integers and float32 or float64"
                ))
            }
        },
    }
    .map_err(unreadable)?;
    Ok((shape, Numbers::Floats(data)))
}

/// Indices from `numbers`: integers from 0 (a float array is refused).
fn indices(n: Numbers, what: &str) -> std::result::Result<Vec<u64>, String> {
    match n {
        Numbers::Ints(v) => v
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                u64::try_from(i).map_err(|_| format!("{what}[{k}] is {i}; indices are from 0"))
            })
            .collect(),
        Numbers::Floats(_) => Err(format!("{what} holds floats; indices must be integers")),
    }
}

/// Values from `numbers` (integers accepted).
fn values(n: Numbers) -> Vec<f64> {
    match n {
        Numbers::Ints(v) => v.into_iter().map(|i| i as f64).collect(),
        Numbers::Floats(v) => v,
    }
}

/// A 1-D array, or the error that it is not one.
fn vector((shape, n): (Vec<usize>, Numbers), what: &str) -> std::result::Result<Numbers, String> {
    if shape.len() != 1 {
        return Err(format!("{what} has shape {shape:?}; expected a 1-D array"));
    }
    Ok(n)
}

/// The matrix of a `.npz` written by `scipy.sparse.save_npz` (key `key`,
/// N = `n`).
pub fn read_npz(files: &Files, key: &str, p: &Path, n: usize) -> Result<Csr> {
    let path = files.path(p);
    let fail = |reason: String| npy_error(key, &path, reason);
    if path.extension().is_some_and(|e| e == "npy") {
        return Err(fail(
            "is a .npy file, a dense array; sparse weights are read from the .npz that \
             scipy.sparse.save_npz writes (or from rows, cols and values .npy files); for a \
             dense N×N .npy use kind = \"file\""
                .into(),
        ));
    }
    let bytes = bytes_of(key, &path)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| fail(format!("is not an .npz (zip) archive: {e}")))?;
    // Every array of the archive, by name (a few small ones beside the
    // entries).
    let mut arrays = std::collections::HashMap::new();
    for k in 0..zip.len() {
        let mut f = zip
            .by_index(k)
            .map_err(|e| fail(format!("member {k} cannot be read: {e}")))?;
        let name = f.name().trim_end_matches(".npy").to_string();
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| fail(format!("{name}.npy cannot be read: {e}")))?;
        arrays.insert(name, out);
    }
    let csr = (|| -> std::result::Result<Csr, String> {
        let format = arrays.get("format").ok_or_else(|| {
            "has no `format` array: it is not a scipy.sparse.save_npz file (np.savez of a dense \
             array?); save the matrix with scipy.sparse.save_npz, or use kind = \"file\" with a \
             dense .npy"
                .to_string()
        })?;
        // A 3-character byte string, the array's last bytes.
        let format =
            String::from_utf8_lossy(&format[format.len().saturating_sub(3)..]).into_owned();
        let need = |name: &str| -> std::result::Result<Numbers, String> {
            let bytes = arrays
                .get(name)
                .ok_or_else(|| format!("has no `{name}` array"))?;
            vector(numbers(bytes, name)?, name)
        };
        let shape = indices(need("shape")?, "shape")?;
        if shape != [n as u64, n as u64] {
            return Err(format!(
                "holds a matrix of shape {shape:?}; expected N×N with N = {n} (network.n)"
            ));
        }
        let data = values(need("data")?);
        match format.as_str() {
            "csr" | "csc" => {
                let ptr = indices(need("indptr")?, "indptr")?;
                let idx = indices(need("indices")?, "indices")?;
                Csr::from_compressed(n, &ptr, &idx, &data, format == "csr")
            }
            "coo" => {
                let r = indices(need("row")?, "row")?;
                let c = indices(need("col")?, "col")?;
                Csr::from_triplets(n, &r, &c, &data)
            }
            other => Err(format!(
                "holds a matrix in format {other:?}; allowed are csr, csc and coo (convert with \
                 .tocsr() before saving)"
            )),
        }
    })()
    .map_err(fail)?;
    Ok(csr)
}

/// The matrix of COO triplets in three `.npy` files (keys
/// `network.weights.rows`, `.cols`, `.values`), N = `n`.
pub fn read_triplets(
    files: &Files,
    rows: &Path,
    cols: &Path,
    vals: &Path,
    n: usize,
) -> Result<Csr> {
    let read = |key: &str, p: &Path| -> Result<(std::path::PathBuf, Numbers)> {
        let path = files.path(p);
        // An array handed over in memory (Python's): f64 values, whole
        // numbers standing for integers.
        if let Some(a) = files.provided(p) {
            if a.shape.len() != 1 {
                let reason = format!("has shape {:?}; expected a 1-D array", a.shape);
                return Err(npy_error(key, &path, reason));
            }
            let whole = a
                .data
                .iter()
                .all(|x| x.fract() == 0.0 && x.abs() < 2f64.powi(53));
            let n = if whole && !key.ends_with("values") {
                Numbers::Ints(a.data.iter().map(|&x| x as i128).collect())
            } else {
                Numbers::Floats(a.data.clone())
            };
            return Ok((path, n));
        }
        let bytes = bytes_of(key, &path)?;
        let what = key.rsplit('.').next().unwrap_or(key);
        let n = numbers(&bytes, what)
            .and_then(|s| vector(s, what))
            .map_err(|r| npy_error(key, &path, r))?;
        Ok((path, n))
    };
    let (rp, r) = read("network.weights.rows", rows)?;
    let (cp, c) = read("network.weights.cols", cols)?;
    let (_, v) = read("network.weights.values", vals)?;
    let r = indices(r, "rows").map_err(|e| npy_error("network.weights.rows", &rp, e))?;
    let c = indices(c, "cols").map_err(|e| npy_error("network.weights.cols", &cp, e))?;
    Csr::from_triplets(n, &r, &c, &values(v)).map_err(|e| {
        Error::invalid(
            "network.weights",
            format!(
                "rows = {}, cols = {}, values = {}",
                rows.display(),
                cols.display(),
                vals.display()
            ),
            e,
        )
    })
}
