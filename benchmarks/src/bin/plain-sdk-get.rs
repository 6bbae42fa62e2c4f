//! Baseline: the DynamoDB calls `get-domain` makes, with the plain SDK and nothing else:
//! the API key, then the domain and its organization, answered as JSON.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("DOMAINS_TABLE")?;
    let (client, table) = (&client, table.as_str());
    lambda_http::run(service_fn(move |request: Request| async move {
        let key = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let get = |pk: String, sk: &str| {
            let request = client
                .get_item()
                .table_name(table)
                .key("PK", AttributeValue::S(pk))
                .key("SK", AttributeValue::S(sk.to_owned()))
                .consistent_read(true);
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(e).to_string())
            }
        };
        let found = get(format!("KEY#{}", domains::auth::hash_key(key)), "KEY").await?;
        let org = found
            .item
            .as_ref()
            .and_then(|i| i.get("orgId"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let id = request
            .path_parameters_ref()
            .and_then(|p| p.first("id"))
            .unwrap_or_default()
            .to_owned();
        let (domain, _) = tokio::try_join!(
            get(format!("ORG#{org}"), &format!("DOMAIN#{id}")),
            get(format!("ORG#{org}"), "ORG")
        )?;
        let body = serde_json::json!({ "found": domain.item.is_some() }).to_string();
        Ok::<_, Error>(Response::new(Body::from(body)))
    }))
    .await
}
