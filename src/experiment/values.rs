//! Checks of single values of the experiment file: each error names the
//! key, the value and what is allowed.

use crate::error::{Error, Result};

pub(crate) fn finite(key: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a finite number"))
    }
}

pub(crate) fn positive(key: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a finite number > 0"))
    }
}

pub(crate) fn fraction(key: &str, x: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a fraction between 0 and 1"))
    }
}

pub(crate) fn vector(key: &str, values: Vec<f64>, n: usize) -> Result<Vec<f64>> {
    if values.len() != n {
        return Err(Error::invalid(
            key,
            format!("a list of {} numbers", values.len()),
            format!("must have N = {n} entries (network.n)"),
        ));
    }
    for (i, x) in values.iter().enumerate() {
        finite(&format!("{key}[{i}]"), *x)?;
    }
    Ok(values)
}

/// Parses TOML text into a table; syntax errors give the line and column.
pub fn parse_table(text: &str) -> Result<toml::Table> {
    text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map_or(String::new(), |s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" at line {line}, column {column}")
        });
        let msg: Vec<&str> = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Error::Schema(format!("not valid TOML{at}: {}", msg.join("; ")))
    })
}

/// Deserializes `value`, naming the dotted key of any error (`prefix` is
/// prepended, e.g. `input[2]`).
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = match (prefix.is_empty(), path == ".") {
            (true, _) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        let inner = e.into_inner();
        let msg: Vec<&str> = inner
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let msg = msg.join("; ");
        if key == "." || key.is_empty() {
            Error::Schema(msg)
        } else {
            Error::Schema(format!("key `{key}`: {msg}"))
        }
    })
}

/// 1: the default of a weight, a sparsity, a gain (serde's `default`).
pub(super) fn one() -> f64 {
    1.0
}
