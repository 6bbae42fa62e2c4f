//! What IAM authorizes for each recorded request: its actions (a `TransactWriteItems` is one
//! `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem` per item; a
//! `CreateEmailIdentity` with tags is also `ses:TagResource`), the resource each acts on,
//! and the condition keys the template uses. A request this module cannot read fails the
//! test: nothing the functions send goes unjudged.

use std::collections::BTreeSet;

use domains::aws::recording::RecordedCall;
use serde::Serialize;
use serde_json::{Value, json};

/// Where the test's resources sit in the simulated account.
pub struct Account {
    pub partition: &'static str,
    pub id: &'static str,
    pub region: &'static str,
    /// The table's name in the template's resolution, and in DynamoDB Local.
    pub table: &'static str,
    pub local_table: String,
    /// The sealing key's name in the template's resolution, and the KMS key the tests use.
    pub key: &'static str,
    pub local_key: String,
}

impl Account {
    fn table_arn(&self) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            self.partition, self.region, self.id, self.table
        )
    }

    fn key_arn(&self) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            self.partition, self.region, self.id, self.key
        )
    }
}

/// One decision IAM makes about a request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Authorization {
    pub function: String,
    pub partition: String,
    pub action: String,
    pub resource: String,
    pub context: serde_json::Map<String, Value>,
}

impl Authorization {
    pub fn new(function: &str, account: &Account, action: &str, resource: String) -> Self {
        Self {
            function: function.to_owned(),
            partition: account.partition.to_owned(),
            action: action.to_owned(),
            resource,
            context: serde_json::Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.context.insert(key.to_owned(), value);
        self
    }

    /// A table request with these partition keys (`dynamodb:LeadingKeys`).
    pub fn table(function: &str, account: &Account, action: &str, keys: Vec<String>) -> Self {
        Self::new(function, account, action, account.table_arn()).with(
            "dynamodb:LeadingKeys",
            json!(keys.into_iter().collect::<BTreeSet<_>>()),
        )
    }

    pub fn key(function: &str, account: &Account, action: &str, context_keys: &[&str]) -> Self {
        let mut request = Self::new(function, account, action, account.key_arn());
        if !context_keys.is_empty() {
            request = request.with("kms:EncryptionContextKeys", json!(context_keys));
        }
        request
    }
}

/// The region and service a request was signed for (its SigV4 credential scope).
fn scope(call: &RecordedCall) -> (String, String) {
    let authorization = call.authorization.as_deref().unwrap_or_default();
    let credential = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .unwrap_or_else(|| panic!("an unsigned request: {call:?}"));
    let parts: Vec<&str> = credential.split('/').collect();
    assert!(parts.len() >= 5, "a credential scope: {credential}");
    (parts[2].to_owned(), parts[3].to_owned())
}

fn body(call: &RecordedCall) -> Value {
    serde_json::from_slice(&call.body).unwrap_or(Value::Null)
}

/// The path of the request, percent-decoded, without its query.
fn path(call: &RecordedCall) -> String {
    let after_host = call
        .uri
        .split_once("://")
        .map_or(call.uri.as_str(), |(_, rest)| rest);
    let path = after_host.find('/').map_or("/", |at| &after_host[at..]);
    let path = path.split('?').next().unwrap_or(path);
    let mut decoded = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = path
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(decoded).expect("a UTF-8 path")
}

/// Every authorization a recorded request needs.
pub fn authorizations(call: &RecordedCall, account: &Account) -> Vec<Authorization> {
    let (region, service) = scope(call);
    let f = call.function.as_str();
    match service.as_str() {
        "dynamodb" => dynamodb(call, account),
        "ses" => ses(call, account, &region),
        "route53" => route53(call, account),
        "kms" => kms(call, account),
        "events" => events(call, account, &region),
        other => panic!("{f}: a call to {other} that no role is meant to make: {call:?}"),
    }
}

fn string(value: &Value, what: &str) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"))
        .to_owned()
}

/// The partition key (`PK`) of an item or key as DynamoDB JSON.
fn leading_key(item: &Value) -> String {
    string(&item["PK"]["S"], "an item's PK")
}

fn dynamodb(call: &RecordedCall, account: &Account) -> Vec<Authorization> {
    let operation = call
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .unwrap_or_else(|| panic!("a DynamoDB request without its target: {call:?}"));
    let f = call.function.as_str();
    let body = body(call);
    let own_table = |table: &Value| {
        assert_eq!(
            string(table, "TableName"),
            account.local_table,
            "{f}: {operation} on another table"
        );
    };
    let one = |action: &str, keys: Vec<String>| {
        vec![Authorization::table(
            f,
            account,
            &format!("dynamodb:{action}"),
            keys,
        )]
    };
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => {
            own_table(&body["TableName"]);
            one(operation, vec![leading_key(&body["Key"])])
        }
        "PutItem" => {
            own_table(&body["TableName"]);
            one(operation, vec![leading_key(&body["Item"])])
        }
        "Query" | "Scan" => {
            own_table(&body["TableName"]);
            let mut resource = account.table_arn();
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            let mut request =
                Authorization::new(f, account, &format!("dynamodb:{operation}"), resource);
            if operation == "Query" {
                request = request.with("dynamodb:LeadingKeys", json!([query_partition(&body)]));
            }
            vec![request]
        }
        "BatchGetItem" => {
            let tables = body["RequestItems"].as_object().expect("RequestItems");
            tables
                .iter()
                .map(|(table, request)| {
                    own_table(&Value::from(table.as_str()));
                    let keys = request["Keys"]
                        .as_array()
                        .expect("Keys")
                        .iter()
                        .map(leading_key)
                        .collect();
                    Authorization::table(f, account, "dynamodb:BatchGetItem", keys)
                })
                .collect()
        }
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .expect("TransactItems")
            .iter()
            .map(|item| {
                let (kind, detail) = item
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("a transaction item");
                own_table(&detail["TableName"]);
                let (action, key) = match kind.as_str() {
                    "Put" => ("PutItem", &detail["Item"]),
                    "Update" => ("UpdateItem", &detail["Key"]),
                    "Delete" => ("DeleteItem", &detail["Key"]),
                    "ConditionCheck" => ("ConditionCheckItem", &detail["Key"]),
                    other => panic!("{f}: a transaction item {other}"),
                };
                Authorization::table(
                    f,
                    account,
                    &format!("dynamodb:{action}"),
                    vec![leading_key(key)],
                )
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .expect("TransactItems")
            .iter()
            .map(|item| {
                own_table(&item["Get"]["TableName"]);
                Authorization::table(
                    f,
                    account,
                    "dynamodb:GetItem",
                    vec![leading_key(&item["Get"]["Key"])],
                )
            })
            .collect(),
        other => panic!("{f}: DynamoDB {other} is not read here: {call:?}"),
    }
}

/// The partition key value a `Query`'s key condition names (`PK = :v`, `#pk = :v`).
fn query_partition(body: &Value) -> String {
    let condition = string(&body["KeyConditionExpression"], "KeyConditionExpression");
    let names = &body["ExpressionAttributeNames"];
    let values = &body["ExpressionAttributeValues"];
    for clause in condition.split(" AND ").chain(condition.split(" and ")) {
        let Some((left, right)) = clause.split_once('=') else {
            continue;
        };
        let (left, right) = (
            left.trim().trim_start_matches('('),
            right.trim().trim_end_matches(')'),
        );
        let attribute = match left.strip_prefix('#') {
            Some(_) => string(&names[left], "an attribute name"),
            None => left.to_owned(),
        };
        if ["PK", "GSI1PK", "GSI2PK"].contains(&attribute.as_str()) {
            return string(&values[right]["S"], "the partition key's value");
        }
    }
    panic!("a Query without a partition key condition: {condition}")
}

fn ses(call: &RecordedCall, account: &Account, region: &str) -> Vec<Authorization> {
    let f = call.function.as_str();
    let path = path(call);
    let identity_arn = |name: &str| {
        format!(
            "arn:{}:ses:{region}:{}:identity/{name}",
            account.partition, account.id
        )
    };
    let rest = path
        .strip_prefix("/v2/email/identities")
        .unwrap_or_else(|| panic!("{f}: SES {} {path} is not read here", call.method));
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let action = |name: &str, identity: &str| {
        Authorization::new(f, account, &format!("ses:{name}"), identity_arn(identity))
    };
    match (call.method.as_str(), segments.as_slice()) {
        ("POST", []) => {
            let body = body(call);
            let name = string(&body["EmailIdentity"], "EmailIdentity");
            let mut requests = vec![action("CreateEmailIdentity", &name)];
            if body["Tags"].as_array().is_some_and(|tags| !tags.is_empty()) {
                requests.push(action("TagResource", &name));
            }
            requests
        }
        ("GET", [name]) => vec![action("GetEmailIdentity", name)],
        ("DELETE", [name]) => vec![action("DeleteEmailIdentity", name)],
        ("PUT", [name, "mail-from"]) => vec![action("PutEmailIdentityMailFromAttributes", name)],
        ("PUT", [name, "dkim", "signing"]) => {
            vec![action("PutEmailIdentityDkimSigningAttributes", name)]
        }
        _ => panic!("{f}: SES {} {path} is not read here", call.method),
    }
}

/// The text of every `<tag>…</tag>` in an XML body.
fn xml_values<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.match_indices(&open)
        .filter_map(|(at, _)| {
            let start = at + open.len();
            let end = xml[start..].find(&close)? + start;
            Some(&xml[start..end])
        })
        .collect()
}

fn route53(call: &RecordedCall, account: &Account) -> Vec<Authorization> {
    let f = call.function.as_str();
    let path = path(call);
    let zone_arn = |zone: &str| format!("arn:{}:route53:::hostedzone/{zone}", account.partition);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (call.method.as_str(), segments.as_slice()) {
        ("GET", ["2013-04-01", "hostedzonesbyname"]) => vec![Authorization::new(
            f,
            account,
            "route53:ListHostedZonesByName",
            "*".into(),
        )],
        ("GET", ["2013-04-01", "hostedzone", zone, "rrset"]) => vec![Authorization::new(
            f,
            account,
            "route53:ListResourceRecordSets",
            zone_arn(zone),
        )],
        ("POST", ["2013-04-01", "hostedzone", zone, "rrset"]) => {
            let xml = String::from_utf8_lossy(&call.body);
            let set = |tag: &str| -> BTreeSet<String> {
                xml_values(&xml, tag)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            };
            let names: BTreeSet<String> = set("Name")
                .into_iter()
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .collect();
            vec![
                Authorization::new(
                    f,
                    account,
                    "route53:ChangeResourceRecordSets",
                    zone_arn(zone),
                )
                .with(
                    "route53:ChangeResourceRecordSetsActions",
                    json!(set("Action")),
                )
                .with(
                    "route53:ChangeResourceRecordSetsRecordTypes",
                    json!(set("Type")),
                )
                .with(
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                    json!(names),
                ),
            ]
        }
        ("GET", ["2013-04-01", "change", _]) => {
            vec![Authorization::new(
                f,
                account,
                "route53:GetChange",
                format!("arn:{}:route53:::change/*", account.partition),
            )]
        }
        _ => panic!("{f}: Route 53 {} {path} is not read here", call.method),
    }
}

fn kms(call: &RecordedCall, account: &Account) -> Vec<Authorization> {
    let f = call.function.as_str();
    let operation = call
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("TrentService."))
        .unwrap_or_else(|| panic!("a KMS request without its target: {call:?}"));
    let body = body(call);
    let key = string(&body["KeyId"], "KeyId");
    assert_eq!(key, account.local_key, "{f}: {operation} with another key");
    let keys: Vec<&str> = body["EncryptionContext"]
        .as_object()
        .map(|c| c.keys().map(String::as_str).collect())
        .unwrap_or_default();
    match operation {
        "GenerateDataKey" | "Decrypt" => {
            vec![Authorization::key(
                f,
                account,
                &format!("kms:{operation}"),
                &keys,
            )]
        }
        other => panic!("{f}: KMS {other} is not read here"),
    }
}

fn events(call: &RecordedCall, account: &Account, region: &str) -> Vec<Authorization> {
    let f = call.function.as_str();
    let operation = call
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("AWSEvents."))
        .unwrap_or_else(|| panic!("an EventBridge request without its target: {call:?}"));
    assert_eq!(operation, "PutEvents", "{f}: EventBridge {operation}");
    let body = body(call);
    let buses: BTreeSet<String> = body["Entries"]
        .as_array()
        .expect("Entries")
        .iter()
        .map(|e| e["EventBusName"].as_str().unwrap_or("default").to_owned())
        .collect();
    buses
        .into_iter()
        .map(|bus| {
            Authorization::new(
                f,
                account,
                "events:PutEvents",
                format!(
                    "arn:{}:events:{region}:{}:event-bus/{bus}",
                    account.partition, account.id
                ),
            )
        })
        .collect()
}
