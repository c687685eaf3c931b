//! What the generated OpenAPI document cannot say by itself, added in one place so every
//! operation says it the same way: the problem responses any handler can give (RFC 9457 as
//! `application/problem+json`), by what the operation takes — every operation 400, 401, 404
//! and 500; the admin ones 403; one with a body 413, 415 and 422; one that starts work 429 —
//! and ids in paths as UUIDs. Pure: a JSON document in, the same document completed out.

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
            if method == "post" {
                statuses.push(("429", "the tenant is at a quota"));
            }
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            if let Some(responses) = responses.as_object_mut() {
                for r in responses.values_mut() {
                    problem_media_type(r);
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
        assert_eq!(sorted(admin), ["400", "401", "403", "404", "413", "415", "422", "429", "500"]);
    }
}
