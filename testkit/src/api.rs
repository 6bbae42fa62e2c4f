//! Requests to one endpoint as its host hands them over (path parameters extracted), and
//! the JSON of the answers, for tests that drive the handlers in process.

use std::collections::HashMap;

use domains::http::Endpoint;
use lambda_http::{Body, RequestExt};

/// `endpoint`'s request with the API key `key`, the domain or claim `id` where its route
/// has one, and a JSON `body`.
pub fn request(
    key: &str,
    endpoint: Endpoint,
    id: Option<&str>,
    body: &str,
) -> lambda_http::Request {
    let (method, route) = endpoint.route();
    let path = route.replace("{id}", id.unwrap_or(""));
    let request = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    match id {
        Some(id) => request.with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())])),
        None => request,
    }
}

/// The answer's body as JSON (`null` when empty).
pub fn json(response: &lambda_http::Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => serde_json::Value::Null,
    }
}
