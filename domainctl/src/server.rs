//! An axum front for the shared handlers: it does on `127.0.0.1` what API Gateway does in
//! AWS (route matching, path and query parameters, body collection) and nothing more.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use domains::App;
use domains::error::ApiError;
use domains::http::{Endpoint, MAX_BODY_BYTES, error_response};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Body, RequestExt};
use tokio::net::TcpListener;

/// Every route of the contract, each handing its request to the shared handler.
pub fn router(app: App) -> Router {
    Endpoint::ALL
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            let (method, path) = endpoint.route();
            let filter =
                MethodFilter::try_from(method.parse::<axum::http::Method>().expect("valid method"))
                    .expect("standard method");
            router.route(
                path,
                on(
                    filter,
                    move |state: State<App>,
                          params: Option<Path<HashMap<String, String>>>,
                          request: Request| {
                        forward(state, endpoint, params, request)
                    },
                ),
            )
        })
        .with_state(app)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn forward(
    State(app): State<App>,
    endpoint: Endpoint,
    params: Option<Path<HashMap<String, String>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let query: QueryMap = parts
        .uri
        .query()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    // One byte over the limit is enough for the handler to refuse the body.
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = ApiError::PayloadTooLarge(MAX_BODY_BYTES);
            return into_axum(error_response(&error, "local"));
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(raw) => Body::Binary(raw.into_bytes()),
        }
    };
    let request = lambda_http::Request::from_parts(parts, body)
        .with_path_parameters(params.map(|Path(p)| p).unwrap_or_default())
        .with_query_string_parameters(query);
    into_axum(app.handle(endpoint, request).await)
}

fn into_axum(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    (parts, AxumBody::from(bytes)).into_response()
}
