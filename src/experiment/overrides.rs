//! `--set key=value` overrides applied to the parsed TOML tree before it is
//! checked, so an override is validated exactly like the file itself.

use crate::error::{Error, Result};
use toml::{Table, Value};

/// Parses the value of an override: any TOML value (`2.0`, `true`, `[1, 2]`,
/// `{ kind = "tanh", beta = 2 }`, `"text"`), or else a bare string (`rk4`).
pub fn parse_value(text: &str) -> Value {
    let text = text.trim();
    match format!("v = {text}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(text.into())),
        Err(_) => Value::String(text.into()),
    }
}

/// Applies one `key=value` override to `table`. Dotted keys walk into
/// tables, creating them if absent; a numeric part indexes an array
/// (`input.0.c=2` sets `c` of the first `[[input]]`), a name picks the
/// table of that name (`population.E.tau=0.01`; a projection is named by
/// its `name`, else its `from` then its `to`: `projection.EI.weights.value`).
pub fn apply(table: &mut Table, given: &str) -> Result<()> {
    let fail = |reason: String| Error::Override {
        given: given.to_string(),
        reason,
    };
    let (key, value) = given
        .split_once('=')
        .ok_or_else(|| fail("expected KEY=VALUE, e.g. network.weights.lambda1=2.0".into()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(fail(format!(
            "`{key}` is not a dotted key such as simulation.dt"
        )));
    }
    let value = parse_value(value);
    set_in_table(table, &parts, 0, value).map_err(fail)
}

fn set_in_table(t: &mut Table, parts: &[&str], depth: usize, value: Value) -> Result<(), String> {
    let part = parts[depth];
    if depth + 1 == parts.len() {
        t.insert(part.to_string(), value);
        return Ok(());
    }
    let child = t
        .entry(part.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    set_in_value(child, parts, depth + 1, value)
}

fn set_in_value(
    node: &mut Value,
    parts: &[&str],
    depth: usize,
    value: Value,
) -> Result<(), String> {
    let here = parts[..depth].join(".");
    let part = parts[depth];
    match node {
        Value::Table(t) => set_in_table(t, parts, depth, value),
        Value::Array(a) => {
            let len = a.len();
            let i: usize = match part.parse() {
                Ok(i) => i,
                Err(_) => by_name(a, part).ok_or_else(|| {
                    let names: Vec<String> = a.iter().filter_map(name_of).collect();
                    if names.is_empty() {
                        format!("`{here}` is a list; `{part}` must be an index below {len}")
                    } else {
                        format!(
                            "`{here}` is a list; `{part}` must be an index below {len} or one of \
                             its names: {}",
                            names.join(", ")
                        )
                    }
                })?,
            };
            let slot = a
                .get_mut(i)
                .ok_or_else(|| format!("`{here}` has {len} entries; index {i} is out of range"))?;
            if depth + 1 == parts.len() {
                *slot = value;
                Ok(())
            } else {
                set_in_value(slot, parts, depth + 1, value)
            }
        }
        other => Err(format!(
            "`{here}` is the value {other}, not a table, so it has no key `{part}`"
        )),
    }
}

/// The name of a table in a list: its `name`, or for a projection without
/// one its `from` then its `to` (`EI`).
fn name_of(v: &Value) -> Option<String> {
    let t = v.as_table()?;
    if let Some(n) = t.get("name").and_then(Value::as_str) {
        return Some(n.to_string());
    }
    let from = t.get("from")?.as_str()?;
    let to = t.get("to")?.as_str()?;
    Some(format!("{from}{to}"))
}

/// The index of the table named `name` in a list (`population.E.tau`,
/// `projection.EI.weights.value`).
fn by_name(list: &[Value], name: &str) -> Option<usize> {
    list.iter()
        .position(|v| name_of(v).as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_toml_or_strings() {
        assert_eq!(parse_value("2.5"), Value::Float(2.5));
        assert_eq!(parse_value("7"), Value::Integer(7));
        assert_eq!(parse_value("rk4"), Value::String("rk4".into()));
        assert_eq!(parse_value("\"rk4\""), Value::String("rk4".into()));
        assert!(matches!(
            parse_value("{ kind = \"tanh\" }"),
            Value::Table(_)
        ));
    }
}
