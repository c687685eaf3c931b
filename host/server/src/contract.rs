//! What the generated OpenAPI document cannot say by itself, added in one place so every
//! operation says it the same way: the problem responses any handler can give (RFC 9457 as
//! `application/problem+json`), by what the operation takes — every operation 400, 401, 404
//! and 500; the admin ones 403; one that changes something 409; one with a body 413, 415 and
//! 422; one that starts work 429 —
//! ids in paths as UUIDs, and byte bodies as binary strings. Domain bodies need nothing here:
//! they are the model's own types (`ToSchema` on `wtb-core` and `wtb-engine` types). Pure: a JSON document in, the same document completed out.

use serde_json::{Map, Value, json};

/// The media type of every error response.
pub const PROBLEM: &str = "application/problem+json";

/// Path parameters that are ids (UUIDs) wherever they appear.
const ID_PARAMS: &[&str] = &["id", "a", "b", "token"];

/// `doc` with the problem responses and id formats of every operation completed.
pub fn complete(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return doc };
    for (path, item) in paths.iter_mut() {
        let admin = path.starts_with("/admin/") || path == "/metrics";
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let Some(op) = op.as_object_mut() else { continue };
            let has_body = op.contains_key("requestBody");
            let mut statuses: Vec<(&str, &str)> = vec![
                ("400", "malformed input: a path, query or body value the server does not accept"),
                ("401", "missing or malformed credentials, or a token that is not valid"),
                ("404", "an id this tenant does not have"),
                ("500", "the server failed (storage, I/O)"),
            ];
            if admin {
                statuses.push(("403", "a valid token without the right: not the admin token"));
            }
            if has_body {
                statuses.push(("413", "the body is larger than the server takes"));
                statuses.push(("415", "the body's content type is not the one the operation takes"));
                statuses
                    .push(("422", "the body is well-formed but its data is not what the operation takes"));
            }
            if method != "get" {
                statuses.push((
                    "409",
                    "the change conflicts with what stands: a status that does not allow it, an execution another process holds, a name taken",
                ));
            }
            if method == "post" {
                statuses.push(("429", "the tenant is at a quota"));
            }
            if let Some(body) = op.get_mut("requestBody") {
                binary_bodies(body);
            }
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            if let Some(responses) = responses.as_object_mut() {
                for r in responses.values_mut() {
                    problem_media_type(r);
                    binary_bodies(r);
                }
                for (status, description) in statuses {
                    responses.entry(status).or_insert_with(|| problem_response(description));
                }
            }
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in params.iter_mut().filter(|p| p["in"] == "path") {
                    if ID_PARAMS.contains(&p["name"].as_str().unwrap_or_default()) {
                        p["schema"] = json!({ "type": "string", "format": "uuid" });
                    }
                }
            }
        }
    }
    doc
}

/// A problem response described by `description`.
fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

/// Bytes (`Vec<u8>` in a handler, which the generator writes as an array of integers) as the
/// binary string they are on the wire, in every media type that is not JSON or text.
fn binary_bodies(body: &mut Value) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else { return };
    for (media, v) in content.iter_mut() {
        if !media.contains("json") && !media.starts_with("text/") && v["schema"]["type"] == "array" {
            v["schema"] = json!({ "type": "string", "format": "binary" });
        }
    }
}

/// A response whose body is a problem, served as `application/problem+json`.
fn problem_media_type(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else { return };
    let is_problem = |v: &Value| v["schema"]["$ref"] == "#/components/schemas/Problem";
    if let Some(json) = content.get("application/json").filter(|v| is_problem(v)).cloned() {
        content.remove("application/json");
        let mut moved = Map::new();
        moved.insert(PROBLEM.to_owned(), json);
        content.extend(moved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_problem_json_and_every_operation_lists_its_statuses() {
        let doc = json!({ "paths": {
            "/executions/{id}": { "get": {
                "parameters": [{ "name": "id", "in": "path", "schema": { "type": "string" } }],
                "responses": {
                    "200": { "description": "ok", "content": { "application/json": { "schema": { "type": "object" } } } },
                    "404": { "description": "no", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
                },
            } },
            "/admin/tenants": { "post": { "requestBody": {}, "responses": {} } },
        } });
        let done = complete(doc);
        let get = &done["paths"]["/executions/{id}"]["get"];
        assert_eq!(get["parameters"][0]["schema"]["format"], "uuid");
        assert!(
            get["responses"]["200"]["content"]["application/json"].is_object(),
            "domain bodies stay JSON"
        );
        assert!(get["responses"]["404"]["content"][PROBLEM].is_object());
        assert!(get["responses"]["404"]["content"].get("application/json").is_none());
        assert_eq!(get["responses"]["404"]["description"], "no", "what a handler says is kept");
        let sorted = |v: &Value| {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(sorted(&get["responses"]), ["200", "400", "401", "404", "500"]);
        let admin = &done["paths"]["/admin/tenants"]["post"]["responses"];
        assert_eq!(sorted(admin), ["400", "401", "403", "404", "409", "413", "415", "422", "429", "500"]);
    }
}

/// The document as served: every body typed through the model.
#[cfg(test)]
mod document {
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// Where a schema allows any JSON (an object, or any value) in `x`, as paths.
    fn free_form(x: &Value, at: &str, found: &mut BTreeSet<String>) {
        match x {
            Value::Object(m) => {
                let object = m.get("type").is_some_and(|t| {
                    t == "object" || t.as_array().is_some_and(|t| t.contains(&"object".into()))
                });
                let untyped = m.keys().all(|k| k == "description");
                if (object && !m.contains_key("properties") && !m.contains_key("additionalProperties"))
                    || untyped
                {
                    found.insert(at.to_owned());
                }
                for (k, v) in m {
                    free_form(v, &format!("{at}/{k}"), found);
                }
            }
            Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, v)| free_form(v, &format!("{at}/{i}"), found))
            }
            _ => {}
        }
    }

    #[test]
    fn domain_bodies_are_typed_through_the_model() {
        let doc = crate::openapi();
        let schemas = &doc["components"]["schemas"];
        // Every JSON success body is a named schema of the model.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, r) in op["responses"].as_object().unwrap() {
                    let Some(json) = r["content"].get("application/json") else { continue };
                    let name =
                        json["schema"]["$ref"].as_str().unwrap_or_else(|| panic!("{method} {path} {status}"));
                    let name = name.trim_start_matches("#/components/schemas/");
                    assert!(schemas[name].is_object(), "{method} {path}: {name}");
                }
            }
        }
        // Only what is free JSON by nature is untyped: states, payloads, configs, patch values.
        let mut found = BTreeSet::new();
        free_form(schemas, "", &mut found);
        let expected = [
            "/Checkpoint/properties/state",
            "/CheckpointFiles/properties/state",
            "/Differences/properties/events/items/items",
            "/EventView/properties/payload",
            "/ForkBody/properties/node_config",
            "/ForkBody/properties/state_patch",
            "/NodeChange/properties/config",
            "/PatchOperation/properties/value",
            "/StartBody/properties/state",
        ];
        assert_eq!(found.iter().map(String::as_str).collect::<Vec<_>>(), expected);
        // Ids, instants, digests and statuses say what they are.
        let field = |schema: &str, f: &str| {
            let p = &schemas[schema]["properties"][f];
            let r = p["$ref"].as_str().or_else(|| p["oneOf"][0]["$ref"].as_str());
            r.map_or_else(|| p.clone(), |r| schemas[r.trim_start_matches("#/components/schemas/")].clone())
        };
        assert_eq!(field("Execution", "id")["format"], "uuid");
        assert_eq!(field("Execution", "created_at")["format"], "date-time");
        assert_eq!(field("NodeBoundary", "finished_at")["format"], "date-time");
        assert_eq!(field("WorkflowSummary", "digest")["pattern"], "^[0-9a-f]{64}$");
        let statuses = field("Execution", "status")["enum"].clone();
        assert_eq!(
            statuses,
            serde_json::json!(["pending", "running", "paused", "completed", "failed", "cancelled"])
        );
        assert!(field("NodeBoundary", "status")["enum"].as_array().is_some_and(|e| e.len() == 6));
        assert!(
            field("NodeBoundary", "trap")["enum"].as_array().is_some_and(|e| e.contains(&"timeout".into()))
        );
        assert!(field("CellReport", "status")["enum"].is_array());
        assert_eq!(field("NodeReplay", "verdict")["enum"], serde_json::json!(["same", "differs", "failed"]));
        // Bytes are binary strings, not arrays of numbers.
        let file = &doc["paths"]["/checkpoints/{id}/file"]["get"]["responses"]["200"]["content"];
        assert_eq!(file["application/octet-stream"]["schema"]["format"], "binary");
    }
}
