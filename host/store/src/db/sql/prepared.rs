//! The prepared statements of one PostgreSQL writer connection, used from statement text.
//!
//! The commit writer sends a whole group as text in one round trip ([`super::Batch`]); sent
//! as plain statements, every one of them is parsed, analysed and planned again on every
//! exit, which measured as over a third of the server's time. Sent instead as
//! `PREPARE w1 (uuid, …) AS INSERT …` the first time and `EXECUTE w1 ('…'::uuid, …)` after,
//! the group still goes in one round trip and the server only parses the short `EXECUTE`.

use super::params::{Value, postgres_sql};
use std::borrow::Borrow;
use std::collections::HashMap;

/// Most statements prepared per connection; later new ones go as plain text. Multi-row
/// inserts differ by their row count, so the set grows with the shapes the writer meets.
pub const MOST: usize = 256;

/// What one connection has prepared: statement (text as written and parameter types) to name.
/// A name is recorded when its `PREPARE` is written into a text; if that text then fails,
/// [`Prepared::forget`] drops them all (some ran, some did not).
#[derive(Debug, Default)]
pub struct Prepared {
    names: HashMap<String, String>,
}

impl Prepared {
    /// Writes to `out` the text that runs `sql` (SQLite form, `?` parameters) with `values`,
    /// whose literals `literal` writes: `EXECUTE` of its prepared statement, preceded by its
    /// `PREPARE` the first time, or `None` when this connection prepared [`MOST`] already.
    pub fn write<V: Borrow<Value>, E>(
        &mut self,
        sql: &str,
        values: &[V],
        out: &mut String,
        literal: impl Fn(&Value, &mut String) -> Result<(), E>,
    ) -> Result<bool, E> {
        let types: Vec<&str> = values.iter().map(|v| type_of(v.borrow())).collect();
        // Keyed by the statement as written: its PostgreSQL form is derived only to prepare.
        let key = format!("{sql}\u{0}{}", types.join(","));
        let name = match self.names.get(&key) {
            Some(name) => name.clone(),
            None if self.names.len() >= MOST => return Ok(false),
            None => {
                let name = format!("wtb_{}", self.names.len() + 1);
                let typed = match types.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", types.join(", ")),
                };
                out.push_str(&format!("PREPARE {name}{typed} AS {};\n", postgres_sql(sql)));
                self.names.insert(key, name.clone());
                name
            }
        };
        out.push_str("EXECUTE ");
        out.push_str(&name);
        if !values.is_empty() {
            out.push('(');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                literal(v.borrow(), out)?;
            }
            out.push(')');
        }
        Ok(true)
    }

    /// Forgets every statement; returns the text that drops them on the server, to run once a
    /// text that may have prepared some failed.
    pub fn forget(&mut self) -> &'static str {
        self.names.clear();
        "DEALLOCATE ALL"
    }
}

/// A parameter's PostgreSQL type, as the literal for `value` is cast.
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Uuid(_) => "uuid",
        Value::Int(_) => "int8",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytea",
        Value::Bool(_) => "boolean",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: &Value, out: &mut String) -> Result<(), ()> {
        out.push_str(&format!("{v:?}"));
        Ok(())
    }

    #[test]
    fn a_statement_is_prepared_once_per_shape_then_executed_by_name() {
        let mut p = Prepared::default();
        let mut out = String::new();
        let sql = "UPDATE t SET a = ? WHERE id = ?";
        assert!(p.write(sql, &[Value::Int(Some(1)), Value::Text(None)], &mut out, lit).unwrap());
        out.push_str(";\n");
        assert!(p.write(sql, &[Value::Int(Some(2)), Value::Text(Some("x".into()))], &mut out, lit).unwrap());
        out.push_str(";\n");
        // The same text with other parameter types is another statement.
        assert!(p.write(sql, &[Value::Text(None), Value::Text(None)], &mut out, lit).unwrap());
        assert_eq!(
            out,
            "PREPARE wtb_1 (int8, text) AS UPDATE t SET a = $1 WHERE id = $2;\n\
             EXECUTE wtb_1(Int(Some(1)), Text(None));\n\
             EXECUTE wtb_1(Int(Some(2)), Text(Some(\"x\")));\n\
             PREPARE wtb_2 (text, text) AS UPDATE t SET a = $1 WHERE id = $2;\n\
             EXECUTE wtb_2(Text(None), Text(None))"
        );
        assert_eq!(p.forget(), "DEALLOCATE ALL");
        let mut again = String::new();
        p.write::<Value, _>("SELECT 1", &[], &mut again, lit).unwrap();
        assert_eq!(again, "PREPARE wtb_1 AS SELECT 1;\nEXECUTE wtb_1");
    }

    #[test]
    fn a_full_connection_prepares_nothing_more() {
        let mut p = Prepared::default();
        for n in 0..MOST {
            assert!(p.write::<Value, _>(&format!("SELECT {n}"), &[], &mut String::new(), lit).unwrap());
        }
        let mut out = String::new();
        assert!(!p.write::<Value, _>("SELECT 'new'", &[], &mut out, lit).unwrap());
        assert!(out.is_empty());
        assert!(p.write::<Value, _>("SELECT 0", &[], &mut out, lit).unwrap(), "known ones still run by name");
    }
}
