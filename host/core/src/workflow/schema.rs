//! JSON Schema checks on the initial state and on node updates.
//!
//! Validation is the `jsonschema` crate's (drafts 4 to 2020-12), built without its HTTP and
//! file resolvers: a schema is self-contained, so checking it is pure and a stored workflow
//! validates the same way on every machine. A manifest names a schema by path or writes it
//! inline; [`wtb_engine::executor::load`] resolves paths, so stored definitions hold only values.

use serde_json::Value;
use std::fmt;

/// Where a manifest's schema comes from, as written.
#[derive(Clone, PartialEq, Debug)]
pub enum SchemaSource {
    /// A JSON file, relative to the manifest.
    File(String),
    /// The schema itself (an inline TOML table, or a resolved file).
    Inline(Value),
}

/// A schema reference in a manifest, with where it was written.
#[derive(Clone, PartialEq, Debug)]
pub struct SchemaSpec {
    /// The file or the value.
    pub source: SchemaSource,
    /// Its position, for errors found when it is read or compiled.
    pub at: super::Position,
    /// The field, e.g. `nodes[1].update_schema`.
    pub field: String,
}

impl SchemaSpec {
    /// The schema value once resolved (`None` while it still names a file).
    pub fn inline(&self) -> Option<&Value> {
        match &self.source {
            SchemaSource::Inline(v) => Some(v),
            SchemaSource::File(_) => None,
        }
    }

    /// A schema as a TOML value may write it: the path of a JSON file, or an inline table.
    /// `field` names it (`state_schema`, `case[0].expect.schema`) in the error and later ones.
    pub fn from_toml(
        file: &str,
        text: &str,
        raw: &toml::Spanned<toml::Value>,
        field: String,
    ) -> Result<Self, super::ManifestError> {
        let source = match raw.get_ref() {
            toml::Value::String(path) if !path.trim().is_empty() => SchemaSource::File(path.clone()),
            toml::Value::Table(t) => SchemaSource::Inline(toml_to_json(toml::Value::Table(t.clone()))),
            _ => {
                let message = "must be the path of a JSON Schema file or an inline table".to_owned();
                return Err(super::ManifestError::at_offset(file, text, raw.span().start, &field, message));
            }
        };
        Ok(Self { source, at: super::Position::of_offset(text, raw.span().start), field })
    }
}

/// TOML → JSON. Datetimes become RFC 3339 strings (JSON has no datetime type).
pub(crate) fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

/// A compiled schema.
pub struct Schema {
    validator: jsonschema::Validator,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schema")
    }
}

/// How many violations a message lists before it says "and N more".
const SHOWN: usize = 5;

/// Everything an instance got wrong, each with its JSON pointer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SchemaViolation {
    /// `at /path: message`, in the order the validator found them.
    pub errors: Vec<String>,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&str> = self.errors.iter().take(SHOWN).map(String::as_str).collect();
        f.write_str(&shown.join("; "))?;
        if self.errors.len() > SHOWN {
            write!(f, "; and {} more", self.errors.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaViolation {}

impl Schema {
    /// Compiles `schema`; the error says why it is not a usable schema (bad keyword value,
    /// an unresolvable `$ref`, ...).
    pub fn compile(schema: &Value) -> Result<Self, String> {
        if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
            return Err(format!(
                "a JSON Schema is an object or a boolean, got {}",
                super::reduce::describe(schema)
            ));
        }
        jsonschema::validator_for(schema).map(|validator| Self { validator }).map_err(|e| e.to_string())
    }

    /// Checks `instance`, listing every violation.
    pub fn check(&self, instance: &Value) -> Result<(), SchemaViolation> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(instance)
            .map(|e| {
                let path = e.instance_path().to_string();
                format!("at {}: {e}", if path.is_empty() { "/" } else { &path })
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(SchemaViolation { errors }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_the_path_and_the_rule() {
        let s = Schema::compile(&json!({
            "type": "object",
            "properties": { "count": { "type": "integer", "minimum": 0 }, "tags": { "type": "array", "items": { "type": "string" } } },
            "required": ["count"],
        }))
        .unwrap();
        assert!(s.check(&json!({ "count": 3, "tags": ["a"] })).is_ok());
        let v = s.check(&json!({ "count": -1, "tags": ["a", 2] })).unwrap_err();
        assert_eq!(v.errors.len(), 2, "{v}");
        assert!(v.to_string().contains("at /count:") && v.to_string().contains("at /tags/1:"), "{v}");
        let v = s.check(&json!({})).unwrap_err();
        assert!(v.to_string().starts_with("at /: ") && v.to_string().contains("\"count\""), "{v}");
    }

    #[test]
    fn unusable_schemas_are_refused() {
        assert!(Schema::compile(&json!({ "type": "no-such-type" })).is_err());
        assert!(Schema::compile(&json!(["not", "a", "schema"])).unwrap_err().contains("object or a boolean"));
        assert!(Schema::compile(&json!({ "$ref": "https://example.com/s.json" })).is_err(), "no network");
    }

    #[test]
    fn long_lists_are_cut() {
        let s = Schema::compile(&json!({ "additionalProperties": { "type": "integer" } })).unwrap();
        let many: serde_json::Map<String, Value> = (0..8).map(|i| (format!("k{i}"), json!("x"))).collect();
        let v = s.check(&Value::Object(many)).unwrap_err();
        assert_eq!(v.errors.len(), 8);
        assert!(v.to_string().ends_with("; and 3 more"), "{v}");
    }
}
