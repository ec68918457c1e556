//! What the generator detects, on small documents written for each case.

use serde_json::{Value, json};

use crate::{Generated, Options, Sure, generate};

fn gen_doc(doc: Value) -> Generated {
    generate(
        &doc.to_string(),
        &Options {
            name: "t".into(),
            ..Options::default()
        },
    )
    .expect("generates")
}

fn res<'g>(g: &'g Generated, name: &str) -> &'g crate::Resource {
    g.resources
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no resource {name}: {:?}",
                g.resources.iter().map(|r| &r.name).collect::<Vec<_>>()
            )
        })
}

/// An OpenAPI 3 document with `paths` (path → GET operation).
fn oas(paths: Value) -> Value {
    let mut p = serde_json::Map::new();
    for (k, v) in paths.as_object().expect("paths").iter() {
        p.insert(k.clone(), json!({ "get": v }));
    }
    json!({"openapi": "3.0.3", "info": {"title": "T", "version": "1"},
           "servers": [{"url": "https://{env}.api.example.com/v1", "variables": {"env": {"default": "eu"}}}],
           "paths": p})
}

fn returns(schema: Value) -> Value {
    json!({"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}})
}

fn query(name: &str, schema: Value) -> Value {
    json!({"in": "query", "name": name, "schema": schema})
}

#[test]
fn paginators_are_detected_from_parameters_and_answers() {
    let item = json!({"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}}});
    let g = gen_doc(oas(json!({
        "/links": {"operationId": "links", "responses": returns(json!({"type": "object", "properties": {
            "results": {"type": "array", "items": item}, "next": {"type": "string", "format": "uri"}}}))},
        "/headers": {"operationId": "headers", "responses": {"200": {"description": "ok", "headers": {"Link": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"type": "array", "items": item}}}}}},
        "/offsets": {"operationId": "offsets", "parameters": [query("offset", json!({"type": "integer"})), query("limit", json!({"type": "integer", "default": 50}))],
            "responses": returns(json!({"type": "object", "properties": {"items": {"type": "array", "items": item}, "total": {"type": "integer"}}}))},
        "/pages": {"operationId": "pages", "parameters": [query("page", json!({"type": "integer", "minimum": 1}))],
            "responses": returns(json!({"type": "object", "properties": {"data": {"type": "array", "items": item}, "totalPages": {"type": "integer"}}}))},
        "/cursors": {"operationId": "cursors", "parameters": [query("cursor", json!({"type": "string"})), query("since", json!({"type": "string"}))],
            "responses": returns(json!({"type": "object", "properties": {"members": {"type": "array", "items": item},
                "response_metadata": {"type": "object", "properties": {"next_cursor": {"type": "string"}}}}}))},
        "/plain": {"operationId": "plain", "responses": returns(json!({"type": "array", "items": item}))},
    })));
    assert_eq!(g.base_url, "https://eu.api.example.com/v1");
    assert_eq!(g.origin, "https://eu.api.example.com");
    assert_eq!(
        res(&g, "links").paging.config,
        json!({"type": "json_link", "next_url_path": "next"})
    );
    assert_eq!(res(&g, "links").data_selector.as_deref(), Some("results"));
    assert_eq!(res(&g, "headers").paging.config, json!("header_link"));
    assert_eq!(
        res(&g, "offsets").paging.config,
        json!({"type": "offset", "limit": 50, "offset_param": "offset", "limit_param": "limit", "total_path": "total"})
    );
    assert_eq!(
        res(&g, "pages").paging.config,
        json!({"type": "page_number", "page_param": "page", "base_page": 1, "total_path": "totalPages"})
    );
    assert_eq!(
        res(&g, "cursors").paging.config,
        json!({"type": "cursor", "cursor_path": "response_metadata.next_cursor", "cursor_param": "cursor"})
    );
    assert_eq!(res(&g, "cursors").data_selector.as_deref(), Some("members"));
    assert_eq!(res(&g, "plain").paging.config, json!("single_page"));
    assert_eq!(res(&g, "plain").sure, Sure::Likely);
    // the cursor suggestion names the field and the parameter, commented out
    assert!(
        g.toml
            .contains("# endpoint = { path = \"cursors\", data_selector = \"members\""),
        "{}",
        g.toml
    );
    assert!(
        g.toml.contains("since = \"{incremental.start_value}\""),
        "{}",
        g.toml
    );
    assert!(
        g.toml
            .contains("incremental = { cursor_path = \"updated_at\""),
        "{}",
        g.toml
    );
}

#[test]
fn children_come_from_path_parameters_and_what_cannot_be_resolved_is_commented_out() {
    let user = json!({"type": "object", "properties": {"id": {"type": "integer"}, "login": {"type": "string"}}});
    let g = gen_doc(oas(json!({
        "/users": {"operationId": "listUsers", "responses": returns(json!({"type": "array", "items": user}))},
        "/users/{login}": {"operationId": "getUser", "parameters": [{"in": "path", "name": "login", "required": true, "schema": {"type": "string"}}],
            "responses": returns(user.clone())},
        "/users/{id}/repos": {"operationId": "userRepos", "parameters": [{"in": "path", "name": "id", "required": true}],
            "responses": returns(json!({"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}}))},
        "/orgs/{org}/teams/{team}": {"operationId": "team", "responses": returns(user.clone())},
        "/categories": {"operationId": "categories", "responses": returns(json!({"type": "array", "items": {"type": "object", "properties": {"slug": {"type": "string"}}}}))},
        "/category/{slug}": {"operationId": "category", "responses": returns(json!({"type": "object"}))},
        "/search": {"operationId": "search", "parameters": [{"in": "query", "name": "q", "required": true, "schema": {"type": "string"}}],
            "responses": returns(json!({"type": "array", "items": user}))},
        "/events": {"operationId": "events", "parameters": [{"in": "query", "name": "kind", "required": true, "schema": {"type": "string", "enum": ["push", "pull"]}}],
            "responses": returns(json!({"type": "array", "items": user}))},
    })));
    let get_user = res(&g, "get_user");
    assert_eq!(get_user.path, "users/{resources.list_users.login}");
    assert_eq!(get_user.parent, Some(("list_users".into(), "login".into())));
    assert_eq!(get_user.sure, Sure::Certain);
    // a plural list feeds its singular item path
    assert_eq!(
        res(&g, "category").path,
        "category/{resources.categories.slug}"
    );
    let repos = res(&g, "user_repos");
    assert_eq!(repos.path, "users/{resources.list_users.id}/repos");
    assert!(
        res(&g, "team")
            .unresolved
            .as_deref()
            .is_some_and(|w| w.contains("2 path parameters"))
    );
    assert!(
        res(&g, "search")
            .unresolved
            .as_deref()
            .is_some_and(|w| w.contains("`q`"))
    );
    assert_eq!(
        res(&g, "events").params,
        vec![("kind".to_owned(), json!("push"))]
    );
    // unresolved ones are in the file, commented out with the pointer
    assert!(
        g.toml
            .contains("# not generated: `/orgs/{org}/teams/{team}` has 2 path parameters"),
        "{}",
        g.toml
    );
    assert!(g.toml.contains("(/paths/~1search/get)"), "{}", g.toml);
    let parsed: toml::Value = toml::from_str(&g.toml).expect("the file is TOML");
    assert_eq!(
        parsed["config"]["resources"].as_array().map(Vec::len),
        Some(6)
    );
}

#[test]
fn swagger_2_servers_and_security_definitions_are_read() {
    let doc = json!({
        "swagger": "2.0", "info": {"title": "S", "version": "2"},
        "host": "api.example.com", "basePath": "/v2", "schemes": ["https"],
        "securityDefinitions": {
            "key": {"type": "apiKey", "in": "query", "name": "api_key"},
            "basic": {"type": "basic"},
            "cc": {"type": "oauth2", "flow": "application", "tokenUrl": "https://api.example.com/token"}
        },
        "security": [{"basic": []}, {"key": []}],
        "paths": {"/pets": {"get": {"operationId": "pets", "parameters": [{"in": "query", "name": "page", "type": "integer"}],
            "responses": {"200": {"description": "ok", "schema": {"type": "array", "items": {"$ref": "#/definitions/Pet"}}}}}}},
        "definitions": {"Pet": {"type": "object", "properties": {"id": {"type": "integer"}}}}
    });
    let g = gen_doc(doc);
    assert_eq!(g.base_url, "https://api.example.com/v2");
    assert_eq!(g.spec_version, "Swagger 2.0");
    // basic needs a user name: commented out; the key is the first usable requirement
    assert_eq!(g.auth.as_deref(), Some("key"));
    assert!(g.toml.contains("[secrets.key]\nenv = \"T_KEY\"\nhost = \"https://api.example.com\"\nquery = \"api_key\""), "{}", g.toml);
    assert!(g.toml.contains("# [secrets.basic]"), "{}", g.toml);
    assert!(
        g.toml
            .contains("# token_url = \"https://api.example.com/token\""),
        "{}",
        g.toml
    );
    assert_eq!(res(&g, "pets").primary_key.as_deref(), Some("id"));
    assert_eq!(
        res(&g, "pets").paging.config,
        json!({"type": "page_number", "page_param": "page", "base_page": 1, "total_path": ""})
    );
}

#[test]
fn examples_stand_in_for_missing_schemas_and_lists_one_level_down_are_found() {
    let g = gen_doc(oas(json!({
        "/quotes": {"operationId": "quotes", "responses": {"200": {"description": "ok", "content": {"application/json": {
            "examples": {"r": {"value": "{\"contents\": {\"quotes\": [{\"id\": \"q1\", \"quote\": \"hi\"}]}, \"success\": {\"total\": 1}}"}}}}}}},
        "/none": {"operationId": "none", "responses": {"200": {"description": "ok"}}},
    })));
    let q = res(&g, "quotes");
    assert_eq!(q.data_selector.as_deref(), Some("contents.quotes"));
    assert_eq!(q.primary_key.as_deref(), Some("id"));
    assert!(
        res(&g, "none")
            .unresolved
            .as_deref()
            .is_some_and(|w| w.contains("no JSON schema or example"))
    );
    assert!(g.base_url_note.is_none());
}

#[test]
fn a_document_without_servers_gets_a_stand_in_that_never_resolves() {
    let mut doc = oas(
        json!({"/a": {"responses": returns(json!({"type": "array", "items": {"type": "object"}}))}}),
    );
    doc.as_object_mut().map(|m| m.remove("servers"));
    let g = gen_doc(doc);
    assert_eq!(g.base_url, "https://api.example.invalid/");
    assert!(
        g.base_url_note
            .as_deref()
            .is_some_and(|n| n.contains("--base-url"))
    );
    assert!(
        g.toml.contains("# the document names no server"),
        "{}",
        g.toml
    );
    // no operationId: named from the path
    assert_eq!(g.resources[0].name, "a");
}
