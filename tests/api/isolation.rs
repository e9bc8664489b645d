//! Tenant isolation over the whole admin surface, found rather than listed.
//!
//! The schema is read by introspection and every field of Query and Mutation is
//! classified by calling it without a key: a field answering UNAUTHENTICATED is an admin
//! field and is walked; any other field must be in [`PUBLIC_FIELDS`]. Each admin field is
//! built automatically (arguments from their types and names, pointing at the demo
//! shop's objects; a selection of every field of the answer, `__typename` on every
//! object) and sent with ANOTHER account's admin key, once with the required arguments
//! and once more per optional argument. No demo data may come back in any answer (demo
//! ids by `__typename`, demo `…Id` values, demo strings such as codes, order numbers,
//! tokens, secrets), and every operation aimed at a demo object must be refused (a
//! not-found userError, null, an empty list or connection, or a FORBIDDEN error). An
//! operation that aims at nothing (`viewer`, `apiKeys`, `createApiKey`, …) answers with
//! the caller's own account, and only the no-leak rule applies to it. The same
//! operations sent with the demo key must see or reach the demo objects, so a refusal
//! is known to be the tenant check and not a malformed operation. The REST routes are
//! read from the router's source and walked the same way. The demo shop's rows are
//! compared before and after.
//!
//! A new admin field or route is walked without touching this file; if it cannot be
//! built (an ID argument of an unknown kind, an unknown scalar) the test fails until it is
//! taught, or the field is put in [`UNBUILDABLE_FIELDS`] with a reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};
use tixshop::domain::account::NewAccount;
use tixshop::domain::api_key::{KeyName, Scope};
use tixshop::entities::{
    api_key, event, order, partner, partner_share_link, promo_batch, promo_code, redemption, refund, ticket_type,
    webhook_delivery, webhook_endpoint,
};
use tixshop::services::{accounts, api_keys};

use crate::checkout::{cart_with, checkout, ticket_ids};
use crate::helpers::{TestApp, spawn_app_with};

/// Fields anyone may call without a key. They are not tenant-scoped by a key: the shop
/// slug, the cart id or the order's access token is the capability. A field missing here
/// that answers without a key fails the test (a new field that forgot its key check).
const PUBLIC_FIELDS: &[(&str, &str)] = &[
    // The storefront: a shop by its public slug.
    ("Query", "shop"),
    // A cart by its unguessable id.
    ("Query", "cart"),
    // The buyer's thank-you page: the order's unguessable access token.
    ("Query", "receipt"),
    // Buyer cart mutations: the cart id is the capability.
    ("Mutation", "createCart"),
    ("Mutation", "addToCart"),
    ("Mutation", "updateCartLine"),
    ("Mutation", "removeCartLine"),
    ("Mutation", "setCartEmail"),
    ("Mutation", "applyPromo"),
    ("Mutation", "removePromo"),
    ("Mutation", "checkout"),
    // The buyer returns from PayPal with the order's access token.
    ("Mutation", "capturePaypalOrder"),
    // A partner's share page: the link's unguessable token (stored hashed, revocable).
    ("Query", "partnerShare"),
];

/// Admin fields the walk may skip because no operation can be built for them
/// automatically, each with the reason and where it is tested instead. Empty today:
/// every admin field is walked. Adding to this list needs a reason next to the entry.
const UNBUILDABLE_FIELDS: &[(&str, &str)] = &[];

/// Routes of `src/http/` that are not tenant-scoped by an API key, with the reason. Any
/// other route must be walked below.
const ROUTES_WITHOUT_KEY: &[(&str, &str)] = &[
    // GraphQL: its admin fields are the schema walk above.
    ("GET", "/graphql"),
    ("POST", "/graphql"),
    // The same schema over a socket (the key comes in connection_init).
    ("GET", "/graphql/ws"),
    // Payment providers, authenticated by their signatures.
    ("POST", "/webhooks/stripe"),
    ("POST", "/webhooks/paypal"),
    // Operators' metrics: their own bearer token (TIXSHOP_METRICS_TOKEN), no shop data.
    ("GET", "/metrics"),
    // Probes.
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    // The static demo storefront.
    ("GET", "/"),
    // The dashboard's static files: it signs in with a key and calls the API.
    ("GET", "/admin"),
    ("GET", "/admin/"),
    ("GET", "/admin/admin.js"),
    // Demo mode's test-mode payments (never in production): the emulated Stripe API,
    // checked by its own test key, and the hosted page, whose session id is the capability.
    ("POST", "/test-mode/stripe/v1/checkout/sessions"),
    ("POST", "/test-mode/stripe/v1/checkout/sessions/{id}/expire"),
    ("POST", "/test-mode/stripe/v1/refunds"),
    ("GET", "/test-mode/pay/{id}"),
    ("POST", "/test-mode/pay/{id}"),
    ("GET", "/shops/{slug}"),
    ("GET", "/storefront.js"),
    // A partner's share page: the link's unguessable token is the capability (hashed,
    // revocable; `partners::share_view` reads only that link's account).
    ("GET", "/partners/{token}"),
];

/// How deep the automatic selection goes below the walked field.
const SELECTION_DEPTH: usize = 4;

const INTROSPECTION: &str = r#"
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
query Introspect { __schema { queryType { name } mutationType { name } types { kind name
    fields(includeDeprecated: true) { name args { name description defaultValue type { ...T } } type { ...T } }
    inputFields { name description defaultValue type { ...T } }
    enumValues(includeDeprecated: true) { name } } } }"#;

// ---------------------------------------------------------------------------------------
// The schema, as introspection tells it.

#[derive(Debug, Clone)]
struct TypeRef {
    kind: String,
    name: Option<String>,
    of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    fn parse(v: &Value) -> Self {
        TypeRef {
            kind: v["kind"].as_str().expect("a type kind").to_owned(),
            name: v["name"].as_str().map(str::to_owned),
            of_type: v.get("ofType").filter(|o| !o.is_null()).map(|o| Box::new(TypeRef::parse(o))),
        }
    }

    fn inner(&self) -> &TypeRef {
        match &self.of_type {
            Some(t) => t.inner(),
            None => self,
        }
    }

    fn named(&self) -> &str {
        self.inner().name.as_deref().expect("a named type at the bottom")
    }

    fn sdl(&self) -> String {
        match self.kind.as_str() {
            "NON_NULL" => format!("{}!", self.of_type.as_ref().unwrap().sdl()),
            "LIST" => format!("[{}]", self.of_type.as_ref().unwrap().sdl()),
            _ => self.name.clone().unwrap(),
        }
    }
}

#[derive(Debug, Clone)]
struct InputValue {
    name: String,
    description: String,
    ty: TypeRef,
    has_default: bool,
}

impl InputValue {
    fn parse(v: &Value) -> Self {
        InputValue {
            name: v["name"].as_str().unwrap().to_owned(),
            description: v["description"].as_str().unwrap_or_default().to_owned(),
            ty: TypeRef::parse(&v["type"]),
            has_default: !v["defaultValue"].is_null(),
        }
    }

    fn required(&self) -> bool {
        self.ty.kind == "NON_NULL" && !self.has_default
    }
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    args: Vec<InputValue>,
    ty: TypeRef,
}

#[derive(Debug, Clone)]
struct TypeDef {
    kind: String,
    fields: Vec<Field>,
    input_fields: Vec<InputValue>,
    enum_values: Vec<String>,
}

struct Schema {
    types: HashMap<String, TypeDef>,
    query: String,
    mutation: String,
}

impl Schema {
    fn parse(body: &Value) -> Self {
        let schema = &body["data"]["__schema"];
        assert!(schema.is_object(), "introspection answered: {body}");
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        let types = list(&schema["types"])
            .iter()
            .map(|t| {
                let def = TypeDef {
                    kind: t["kind"].as_str().unwrap().to_owned(),
                    fields: list(&t["fields"])
                        .iter()
                        .map(|f| Field {
                            name: f["name"].as_str().unwrap().to_owned(),
                            args: list(&f["args"]).iter().map(InputValue::parse).collect(),
                            ty: TypeRef::parse(&f["type"]),
                        })
                        .collect(),
                    input_fields: list(&t["inputFields"]).iter().map(InputValue::parse).collect(),
                    enum_values: list(&t["enumValues"])
                        .iter()
                        .map(|e| e["name"].as_str().unwrap().to_owned())
                        .collect(),
                };
                (t["name"].as_str().unwrap().to_owned(), def)
            })
            .collect();
        Schema {
            types,
            query: schema["queryType"]["name"].as_str().unwrap().to_owned(),
            mutation: schema["mutationType"]["name"].as_str().unwrap().to_owned(),
        }
    }

    fn kind(&self, name: &str) -> &str {
        self.types.get(name).map(|t| t.kind.as_str()).unwrap_or("SCALAR")
    }
}

// ---------------------------------------------------------------------------------------
// The demo shop's objects: what the walk aims at and what must never come back.

/// Object kinds an ID can point at, with the words that name them in argument and
/// field names (`orderId`, `deletePromoCode(id:)`, `endpointId`, …).
const KINDS: &[(&str, &[&str])] = &[
    ("PromoCode", &["promocode"]),
    ("Order", &["order"]),
    ("Cart", &["cart"]),
    ("TicketType", &["tickettype"]),
    ("Event", &["event"]),
    ("WebhookEndpoint", &["webhookendpoint", "endpoint"]),
    ("WebhookDelivery", &["webhookdelivery", "delivery"]),
    ("ApiKey", &["apikey", "key"]),
    ("Shop", &["shop", "account"]),
    ("Partner", &["partner"]),
    ("PromoBatch", &["promobatch", "batch"]),
    ("PartnerShareLink", &["partnersharelink", "sharelink"]),
];

/// Leading verbs of mutation names: `revokeApiKey` is about an `ApiKey`.
const VERBS: &[&str] =
    &["create", "update", "delete", "deactivate", "reactivate", "revoke", "redeliver", "refund", "capture", "remove"];

fn kind_of(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    KINDS.iter().find(|(_, aliases)| aliases.contains(&word.as_str())).map(|(kind, _)| *kind)
}

fn strip_verb(name: &str) -> &str {
    let split = name.find(|c: char| c.is_ascii_uppercase()).unwrap_or(name.len());
    if VERBS.contains(&&name[..split]) { &name[split..] } else { name }
}

/// The kind of object an ID argument named `arg` of `owner` (a field or input type
/// name, answering `returns`) points at.
fn id_kind(arg: &str, owner: &str, returns: &str) -> Option<&'static str> {
    if arg == "id" {
        let base = returns.trim_end_matches("Payload").trim_end_matches("Connection");
        kind_of(strip_verb(owner)).or_else(|| kind_of(base))
    } else {
        kind_of(arg.strip_suffix("Id")?)
    }
}

struct Demo {
    account_id: i64,
    /// Ids by kind; the first of each is what the walk aims at.
    ids: BTreeMap<&'static str, Vec<String>>,
    /// A live code of the demo shop that an order used (for `code:` arguments).
    code: String,
    /// The demo order's access token (for `accessToken:` arguments).
    access_token: String,
    /// Strings only the demo shop's data contains.
    markers: Vec<String>,
}

impl Demo {
    fn is_demo(&self, kind: &str, id: &str) -> bool {
        self.ids.get(kind).is_some_and(|ids| ids.iter().any(|i| i == id))
    }

    /// Demo data in `body`: objects of a demo id (by `__typename`), `…Id` fields holding a
    /// demo id, and demo strings that were not in the request itself.
    fn leaks(&self, body: &Value, sent: &str) -> Vec<String> {
        let mut found = vec![];
        self.scan(body, &mut found);
        let text = body.to_string();
        for marker in &self.markers {
            if text.contains(marker.as_str()) && !sent.contains(marker.as_str()) {
                found.push(format!("the string {marker:?}"));
            }
        }
        found
    }

    fn scan(&self, value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| self.scan(v, found)),
            Value::Object(object) => {
                if let (Some(typename), Some(id)) =
                    (object.get("__typename").and_then(Value::as_str), object.get("id").and_then(Value::as_str))
                    && self.is_demo(typename, id)
                {
                    found.push(format!("{typename} {id}"));
                }
                for (key, v) in object {
                    if let Some(kind) = key.strip_suffix("Id").and_then(kind_of)
                        && let Some(id) = v.as_str()
                        && self.is_demo(kind, id)
                    {
                        found.push(format!("{key} = {id} ({kind})"));
                    }
                    self.scan(v, found);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building operations from the schema.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Values that point at nothing (classifying fields without a key: no side effects).
    Probe,
    /// Values that point at the demo shop's objects.
    Walk,
}

#[derive(Debug)]
struct Op {
    field: String,
    /// Which arguments were given, for messages.
    variant: String,
    query: String,
    /// The same operation as a dry run where the field has `dryRun` (the demo key's
    /// control runs this one).
    control_query: String,
    variables: Value,
    /// Whether an argument points at a demo object: then the other key must be refused.
    aims_at_demo: bool,
}

impl Op {
    fn sent(&self) -> String {
        format!("{} {}", self.query, self.variables)
    }
}

struct Builder<'a> {
    schema: &'a Schema,
    demo: &'a Demo,
}

impl Builder<'_> {
    /// The base operation (required arguments only) and one more per optional argument.
    fn ops(&self, root: &'static str, field: &Field, fill: Fill) -> Result<Vec<Op>, String> {
        let required: Vec<&InputValue> = field.args.iter().filter(|a| a.required()).collect();
        let mut ops = vec![self.op(root, field, &required, fill)?];
        if fill == Fill::Walk {
            for optional in field.args.iter().filter(|a| !a.required()) {
                if ["dryRun", "after", "first"].contains(&optional.name.as_str()) {
                    continue;
                }
                let mut args = required.clone();
                args.push(optional);
                ops.push(self.op(root, field, &args, fill)?);
            }
        }
        Ok(ops)
    }

    fn op(&self, root: &'static str, field: &Field, args: &[&InputValue], fill: Fill) -> Result<Op, String> {
        let mut aims_at_demo = false;
        let mut definitions = vec![];
        let mut passed = vec![];
        let mut variables = Map::new();
        for (i, arg) in args.iter().enumerate() {
            let value = self
                .value(&arg.ty, &arg.name, &arg.description, &field.name, field.ty.named(), fill, &mut aims_at_demo)
                .map_err(|e| format!("argument `{}`: {e}", arg.name))?;
            definitions.push(format!("$a{i}: {}", arg.ty.sdl()));
            passed.push(format!("{}: $a{i}", arg.name));
            variables.insert(format!("a{i}"), value);
        }
        let has_dry_run = field.args.iter().any(|a| a.name == "dryRun");
        let selection = self.selection_of(&field.ty, 1);
        let document = |dry_run: bool| {
            let mut passed = passed.clone();
            if dry_run && has_dry_run {
                passed.push("dryRun: true".into());
            }
            let definitions =
                if definitions.is_empty() { String::new() } else { format!("({})", definitions.join(", ")) };
            let passed = if passed.is_empty() { String::new() } else { format!("({})", passed.join(", ")) };
            let operation = if root == "Mutation" { "mutation" } else { "query" };
            format!("{operation} Walk{definitions} {{ {}{passed} {selection} }}", field.name)
        };
        let variant = if args.is_empty() {
            "no arguments".to_owned()
        } else {
            args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
        };
        Ok(Op {
            field: field.name.clone(),
            variant,
            query: document(false),
            control_query: document(true),
            variables: Value::Object(variables),
            aims_at_demo,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn value(
        &self,
        ty: &TypeRef,
        name: &str,
        description: &str,
        owner: &str,
        returns: &str,
        fill: Fill,
        aims: &mut bool,
    ) -> Result<Value, String> {
        match ty.kind.as_str() {
            "NON_NULL" => self.value(ty.of_type.as_ref().unwrap(), name, description, owner, returns, fill, aims),
            "LIST" => {
                Ok(json!([self.value(ty.of_type.as_ref().unwrap(), name, description, owner, returns, fill, aims)?]))
            }
            "ENUM" => {
                let values = &self.schema.types[ty.named()].enum_values;
                Ok(json!(values.first().ok_or("an enum without values")?))
            }
            "INPUT_OBJECT" => self.input_object(ty.named(), fill, aims),
            _ => self.scalar(ty.named(), name, description, owner, returns, fill, aims),
        }
    }

    /// Required fields, plus optional ID and `promoCode` fields (to aim at demo objects)
    /// and a `percentOff` so that a new percentage code is otherwise valid.
    fn input_object(&self, type_name: &str, fill: Fill, aims: &mut bool) -> Result<Value, String> {
        let mut object = Map::new();
        for f in &self.schema.types[type_name].input_fields {
            // `count` of generatePromoCodes: one of it and the recipient lists is needed.
            let wanted =
                f.required() || f.ty.named() == "ID" || ["percentOff", "promoCode", "count"].contains(&f.name.as_str());
            if wanted {
                let value = self
                    .value(&f.ty, &f.name, &f.description, type_name, type_name, fill, aims)
                    .map_err(|e| format!("{type_name}.{}: {e}", f.name))?;
                object.insert(f.name.clone(), value);
            }
        }
        Ok(Value::Object(object))
    }

    #[allow(clippy::too_many_arguments)]
    fn scalar(
        &self,
        scalar: &str,
        name: &str,
        description: &str,
        owner: &str,
        returns: &str,
        fill: Fill,
        aims: &mut bool,
    ) -> Result<Value, String> {
        let lower = name.to_ascii_lowercase();
        Ok(match scalar {
            "ID" => match fill {
                Fill::Probe => json!("999999999"),
                Fill::Walk => {
                    let kind = id_kind(name, owner, returns)
                        .ok_or_else(|| format!("cannot tell what kind of object `{name}` of `{owner}` points at"))?;
                    // The audit log's key filter aims at the admin key, which wrote the
                    // demo's entries (the read key, first elsewhere, wrote none).
                    let nth = usize::from(owner == "AuditLogFilter" && name == "keyId");
                    let id = self
                        .demo
                        .ids
                        .get(kind)
                        .and_then(|ids| ids.get(nth))
                        .ok_or_else(|| format!("the demo shop has no {kind} to aim `{name}` at"))?;
                    *aims = true;
                    json!(id)
                }
            },
            "String" => json!(self.string(&lower, description, owner, fill, aims)),
            "Int" => json!(if lower == "first" { 10 } else { 1 }),
            "Float" => json!(1.5),
            "Boolean" => json!(false),
            "DateTime" => {
                // Open intervals as wide as possible: a leak of old or future data shows.
                if ["from", "createdafter"].contains(&lower.as_str()) {
                    json!("2000-01-01T00:00:00Z")
                } else {
                    json!("2099-12-31T23:59:59Z")
                }
            }
            // Money-like scalars are described as decimal strings.
            _ if description.to_ascii_lowercase().contains("decimal") => json!("1.00"),
            other => return Err(format!("no value for the scalar {other}")),
        })
    }

    fn string(&self, name: &str, description: &str, owner: &str, fill: Fill, aims: &mut bool) -> String {
        let walk = fill == Fill::Walk;
        if name == "code" && owner.starts_with("Create") {
            // A new code's string: fresh, so the code would be valid but for what it aims at.
            return "ISOWALK1".into();
        }
        if name == "code" || name.ends_with("promocode") {
            if walk {
                *aims = true;
                return self.demo.code.clone();
            }
            return "NOSUCHCODE".into();
        }
        if name == "accesstoken" {
            if walk {
                *aims = true;
                return self.demo.access_token.clone();
            }
            return "no-such-token".into();
        }
        if name.contains("slug") {
            return "no-such-shop".into();
        }
        if name.contains("email") {
            return "isolation-walker@example.com".into();
        }
        if name.contains("url") {
            return "https://example.com/isolation-walk".into();
        }
        if name == "events" {
            return "order.paid".into();
        }
        if name == "percentoff" {
            return "10".into();
        }
        if name == "prefix" {
            return "ISOWALK".into();
        }
        if name == "token" {
            // A share link's token: the demo's, when aimed at.
            if walk {
                *aims = true;
                return self.demo.markers.iter().find(|m| m.starts_with("tps_")).cloned().unwrap_or_default();
            }
            return "tps_nosuchtoken".into();
        }
        if description.to_ascii_lowercase().contains("decimal string") {
            return "1.00".into();
        }
        "iso-walk".into()
    }

    /// `{ … }` for object types (every field without required arguments, `__typename`
    /// on every object), nothing for leaves.
    fn selection_of(&self, ty: &TypeRef, depth: usize) -> String {
        let name = ty.named();
        match self.schema.kind(name) {
            "OBJECT" => format!("{{ {} }}", self.object_fields(name, depth)),
            "INTERFACE" | "UNION" => "{ __typename }".into(),
            _ => String::new(),
        }
    }

    fn object_fields(&self, type_name: &str, depth: usize) -> String {
        let mut parts = vec!["__typename".to_owned()];
        for f in &self.schema.types[type_name].fields {
            if f.args.iter().any(InputValue::required) {
                continue;
            }
            match self.schema.kind(f.ty.named()) {
                "SCALAR" | "ENUM" => parts.push(f.name.clone()),
                "OBJECT" | "INTERFACE" | "UNION" if depth < SELECTION_DEPTH => {
                    parts.push(format!("{} {}", f.name, self.selection_of(&f.ty, depth + 1)))
                }
                _ => {}
            }
        }
        parts.join(" ")
    }
}

// ---------------------------------------------------------------------------------------
// Judging answers.

/// Top-level error codes that refuse without saying more.
const REFUSING_CODES: &[&str] = &["NOT_FOUND", "FORBIDDEN"];

/// Every top-level error carries a message and a code (a resolver refused it); an error
/// without a code is a validation error, i.e. the walk built a broken operation.
fn typed_errors(body: &Value) -> Result<Vec<String>, String> {
    let mut codes = vec![];
    for e in body["errors"].as_array().into_iter().flatten() {
        if e["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!("an error without a message: {e}"));
        }
        let Some(code) = e["extensions"]["code"].as_str() else {
            return Err(format!("an error without extensions.code (a broken operation?): {e}"));
        };
        codes.push(code.to_owned());
    }
    Ok(codes)
}

/// How the other account's key was refused, or why the answer is no refusal.
fn refusal(body: &Value, field: &str) -> Result<String, String> {
    let codes = typed_errors(body)?;
    let value = &body["data"][field];
    if !codes.is_empty() {
        if let Some(code) = codes.iter().find(|c| !REFUSING_CODES.contains(&c.as_str())) {
            return Err(format!("refused with {code}, not as not found / forbidden"));
        }
        return if value.is_null() {
            Ok(format!("error {}", codes.join(",")))
        } else {
            Err("data beside errors".into())
        };
    }
    match value {
        Value::Null => Ok("null".into()),
        Value::Array(items) if items.is_empty() => Ok("empty list".into()),
        Value::Object(object) => {
            if let Some(errors) = object.get("userErrors").and_then(Value::as_array)
                && !errors.is_empty()
            {
                let codes: Vec<&str> = errors.iter().filter_map(|e| e["code"].as_str()).collect();
                if let Some(code) = codes.iter().find(|c| !c.ends_with("NOT_FOUND") && **c != "FORBIDDEN") {
                    return Err(format!("userError {code}, not a not-found"));
                }
                let carried: Vec<&String> = object
                    .iter()
                    // Null, false or an empty list carry nothing.
                    .filter(|(k, v)| {
                        *k != "userErrors"
                            && *k != "__typename"
                            && !v.is_null()
                            && **v != json!(false)
                            && **v != json!([])
                    })
                    .map(|(k, _)| k)
                    .collect();
                return if carried.is_empty() {
                    Ok(format!("userErrors {}", codes.join(",")))
                } else {
                    Err(format!("userErrors but also {carried:?}"))
                };
            }
            let lists: Vec<&Value> = ["edges", "nodes"].iter().filter_map(|k| object.get(*k)).collect();
            if !lists.is_empty() && lists.iter().all(|l| l.as_array().is_some_and(Vec::is_empty)) {
                return Ok("empty connection".into());
            }
            Err("answered with an object".into())
        }
        _ => Err("answered with data".into()),
    }
}

/// A mutation the demo key reached its object with: no top-level error, no not-found.
fn accepted(body: &Value, field: &str) -> Result<(), String> {
    if body["errors"].as_array().is_some_and(|e| !e.is_empty()) {
        return Err(format!("errors: {}", body["errors"]));
    }
    let payload = &body["data"][field];
    if payload.is_null() {
        return Err("no payload".into());
    }
    let not_found: Vec<&Value> = payload["userErrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["code"].as_str().is_some_and(|c| c.ends_with("NOT_FOUND")))
        .collect();
    if not_found.is_empty() { Ok(()) } else { Err(format!("not found: {not_found:?}")) }
}

// ---------------------------------------------------------------------------------------
// Arranging the demo shop and the other account.

const DEMO_BUYER: &str = "isolation-buyer@example.com";
const DEMO_HOOK: &str = "http://127.0.0.1:9/isolation-demo-hook";

async fn arrange_demo(app: &TestApp) -> Demo {
    let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut markers: Vec<String> = vec![DEMO_BUYER.into(), DEMO_HOOK.into(), app.admin_key.clone()];

    let shop = app.gql(r#"{ shop(slug: "demo") { id name events { id name ticketTypes { id } } } }"#, json!({})).await
        ["data"]["shop"]
        .clone();
    ids.insert("Shop", vec![shop["id"].as_str().unwrap().to_owned()]);
    markers.push(shop["name"].as_str().unwrap().to_owned());
    for e in shop["events"].as_array().unwrap() {
        ids.entry("Event").or_default().push(e["id"].as_str().unwrap().to_owned());
        markers.push(e["name"].as_str().unwrap().to_owned());
        for t in e["ticketTypes"].as_array().unwrap() {
            ids.entry("TicketType").or_default().push(t["id"].as_str().unwrap().to_owned());
        }
    }

    // A webhook endpoint first, so the order below queues a delivery to it.
    let hook = app
        .gql_admin(
            "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [\"order.paid\", \"order.refunded\"], description: \"isolation demo hook\" }) {
                endpoint { id } secret userErrors { code } } }",
            json!({ "url": DEMO_HOOK }),
        )
        .await;
    let hook = &hook["data"]["createWebhookEndpoint"];
    assert_eq!(hook["userErrors"], json!([]), "{hook}");
    ids.insert("WebhookEndpoint", vec![hook["endpoint"]["id"].as_str().unwrap().to_owned()]);
    markers.push(hook["secret"].as_str().unwrap().to_owned());

    // A free order: FREEPASS through the buyer's flow.
    let tickets = ticket_ids(app, "demo").await;
    let cart = cart_with(app, "demo", &[(&tickets[0], 1)], Some("FREEPASS")).await;
    let paid = checkout(app, &cart, DEMO_BUYER, "STRIPE").await;
    assert_eq!(paid["order"]["status"], "PAID", "{paid}");
    ids.insert("Order", vec![paid["order"]["id"].as_str().unwrap().to_owned()]);
    markers.push(paid["order"]["number"].as_str().unwrap().to_owned());
    let access_token = paid["accessToken"].as_str().unwrap().to_owned();
    markers.push(access_token.clone());
    let open_cart = cart_with(app, "demo", &[(&tickets[1], 2)], Some("NEWS10")).await;
    ids.insert("Cart", vec![open_cart.clone(), cart]);
    markers.push(open_cart);

    let deliveries = app.gql_admin("{ webhookDeliveries { id messageId } }", json!({})).await;
    let deliveries = deliveries["data"]["webhookDeliveries"].as_array().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "the order queued one delivery: {deliveries:?}");
    ids.insert("WebhookDelivery", vec![deliveries[0]["id"].as_str().unwrap().to_owned()]);
    markers.push(deliveries[0]["messageId"].as_str().unwrap().to_owned());

    // A read key (aimed at first: revoking it in the control leaves the admin key working).
    let read = app
        .gql_admin(
            r#"mutation { createApiKey(input: { name: "isolation read", scope: READ }) { apiKey { id prefix } secret } }"#,
            json!({}),
        )
        .await;
    let read = &read["data"]["createApiKey"];
    markers.push(read["secret"].as_str().unwrap().to_owned());
    let keys = app.gql_admin("{ apiKeys { id prefix } }", json!({})).await;
    let mut key_ids = vec![read["apiKey"]["id"].as_str().unwrap().to_owned()];
    for k in keys["data"]["apiKeys"].as_array().unwrap() {
        markers.push(k["prefix"].as_str().unwrap().to_owned());
        let id = k["id"].as_str().unwrap().to_owned();
        if !key_ids.contains(&id) {
            key_ids.push(id);
        }
    }
    assert_eq!(key_ids.len(), 2);
    ids.insert("ApiKey", key_ids);

    // The demo's partners, a batch of generated codes and a share link.
    let partners = app.gql_admin("{ partners { id name } }", json!({})).await;
    let partner_ids: Vec<String> =
        partners["data"]["partners"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert!(!partner_ids.is_empty(), "{partners}");
    let batch = app
        .gql_admin(
            // Of the first event and partner too: a list filtered by all three finds them.
            "mutation($p: ID!, $e: ID!) { generatePromoCodes(input: { batchName: \"isolation demo batch\", prefix: \"ISO\",
                count: 3, discountType: PERCENTAGE, percentOff: \"5\", partnerId: $p, eventId: $e }) { batch { id } userErrors { code } } }",
            json!({ "p": partner_ids[0], "e": ids["Event"][0] }),
        )
        .await;
    ids.insert("PromoBatch", vec![batch["data"]["generatePromoCodes"]["batch"]["id"].as_str().unwrap().to_owned()]);
    markers.push("isolation demo batch".into());
    let link = app
        .gql_admin(
            "mutation($p: ID!) { createPartnerShareLink(partnerId: $p) { shareLink { id } token } }",
            json!({ "p": partner_ids[0] }),
        )
        .await;
    let link = &link["data"]["createPartnerShareLink"];
    ids.insert("PartnerShareLink", vec![link["shareLink"]["id"].as_str().unwrap().to_owned()]);
    markers.push(link["token"].as_str().unwrap().to_owned());
    ids.insert("Partner", partner_ids);

    // A code scoped to an event (so filtering by the event finds something), then every
    // code; NEWS10 first (FREEPASS is used by the order).
    let scoped = app
        .gql_admin(
            "mutation($e: ID!) { createPromoCode(input: { code: \"JAZZWALK\", discountType: PERCENTAGE, percentOff: \"7\", eventId: $e }) { userErrors { code } } }",
            json!({ "e": ids["Event"][0] }),
        )
        .await;
    assert_eq!(scoped["data"]["createPromoCode"]["userErrors"], json!([]), "{scoped}");
    let codes =
        app.gql_admin("{ promoCodes(filter: { status: ALL }, first: 200) { nodes { id code } } }", json!({})).await;
    let mut code_ids = vec![];
    for c in codes["data"]["promoCodes"]["nodes"].as_array().unwrap() {
        let (id, code) = (c["id"].as_str().unwrap().to_owned(), c["code"].as_str().unwrap().to_owned());
        if code == "NEWS10" {
            code_ids.insert(0, id);
        } else {
            code_ids.push(id);
        }
        markers.push(code);
    }
    assert!(code_ids.len() >= 6, "{codes}");
    ids.insert("PromoCode", code_ids);

    let account_id = ids["Shop"][0].parse().unwrap();
    Demo { account_id, ids, code: "FREEPASS".into(), access_token, markers }
}

/// The demo shop's rows, per table, in id order (API keys without their use time, which
/// the server records in the background).
async fn snapshot(app: &TestApp, account: i64) -> BTreeMap<&'static str, Vec<String>> {
    let db = &app.db;
    macro_rules! rows {
        ($entity:ident) => {
            $entity::Entity::find()
                .filter($entity::Column::AccountId.eq(account))
                .order_by_asc($entity::Column::Id)
                .all(db)
                .await
                .unwrap()
        };
    }
    fn debug<T: std::fmt::Debug>(rows: Vec<T>) -> Vec<String> {
        rows.iter().map(|r| format!("{r:?}")).collect()
    }
    let keys = rows!(api_key)
        .iter()
        .map(|k| format!("{} {} {} {} {} {:?}", k.id, k.name, k.prefix, k.key_hash, k.scope, k.revoked_at))
        .collect();
    BTreeMap::from([
        ("promo_codes", debug(rows!(promo_code))),
        ("orders", debug(rows!(order))),
        ("webhook_endpoints", debug(rows!(webhook_endpoint))),
        ("webhook_deliveries", debug(rows!(webhook_delivery))),
        ("api_keys", keys),
        ("events", debug(rows!(event))),
        ("ticket_types", debug(rows!(ticket_type))),
        ("refunds", debug(rows!(refund))),
        ("redemptions", debug(rows!(redemption))),
        ("partners", debug(rows!(partner))),
        ("promo_batches", debug(rows!(promo_batch))),
        ("partner_share_links", debug(rows!(partner_share_link))),
    ])
}

// ---------------------------------------------------------------------------------------
// REST routes, as the router declares them.

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(METHOD, path)` of every `.route(…)` in the crate's source (the router is built in
/// `src/http/`; a route added anywhere is found).
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut files = vec![];
    rust_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let file = file.display();
        for (start, _) in source.match_indices(".route(") {
            // The path may follow on the next line, as rustfmt breaks long routes.
            let Some(rest) = source[start + ".route(".len()..].trim_start().strip_prefix('"') else { continue };
            let path = &rest[..rest.find('"').unwrap()];
            let end = [".route(", ".layer(", ".merge(", ";"]
                .iter()
                .filter_map(|stop| rest[1..].find(stop))
                .min()
                .unwrap_or(rest.len() - 1);
            let call = &rest[..=end];
            let mut found = false;
            for method in ["get", "post", "patch", "put", "delete"] {
                let needle = format!("{method}(");
                let named = call
                    .match_indices(&needle)
                    .any(|(i, _)| i == 0 || !call[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
                if named {
                    routes.insert((method.to_ascii_uppercase(), path.to_owned()));
                    found = true;
                }
            }
            assert!(found, "no method found for the route {path} in {file}: {call}");
        }
    }
    routes
}

struct Rest<'a> {
    app: &'a TestApp,
    demo: &'a Demo,
    other_key: &'a str,
    walked: BTreeSet<(String, String)>,
    requests: usize,
}

impl Rest<'_> {
    async fn send(
        &mut self,
        method: reqwest::Method,
        route: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut request = self.app.http.request(method.clone(), format!("{}{path}", self.app.address)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        if key == self.other_key {
            self.requests += 1;
            self.walked.insert((method.as_str().to_owned(), route.to_owned()));
            let leaks = self.demo.leaks(&serde_json::from_str(&text).unwrap_or(Value::Null), path);
            assert!(leaks.is_empty(), "{method} {path} with the other key leaked {leaks:?}: {text}");
            for marker in &self.demo.markers {
                assert!(!text.contains(marker.as_str()), "{method} {path} with the other key shows {marker:?}: {text}");
            }
        }
        (status, text)
    }

    /// The other key gets a JSON 404 NOT_FOUND.
    async fn not_found(&mut self, method: reqwest::Method, route: &str, path: &str, body: Option<Value>) {
        let key = self.other_key.to_owned();
        let (status, text) = self.send(method.clone(), route, path, &key, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} with the other key: {text}");
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!(json["error"]["code"], "NOT_FOUND", "{method} {path}: {text}");
    }

    /// The demo key gets `expected` for the same request (the control).
    async fn control(&mut self, method: reqwest::Method, route: &str, path: &str, body: Option<Value>, expected: u16) {
        let key = self.app.admin_key.clone();
        let (status, text) = self.send(method.clone(), route, path, &key, body).await;
        assert_eq!(status.as_u16(), expected, "{method} {path} with the demo key (control): {text}");
    }
}

// ---------------------------------------------------------------------------------------

/// Every admin field and mutation (found by introspection) and every REST route (found
/// in the router's source), called with another account's admin key against the demo
/// shop's objects: nothing of the demo shop comes back, every aimed operation is refused,
/// and the demo shop's rows are unchanged. The demo key's control proves each refusal is
/// the tenant check.
#[tokio::test]
async fn another_accounts_key_reaches_nothing_of_the_demo_shop() {
    let app = spawn_app_with(|c| {
        // Deliveries stay queued: their rows must not move while the walk compares them.
        c.webhook_dispatch = false;
        c.promo_attempts_per_minute = 10_000;
    })
    .await;
    let demo = arrange_demo(&app).await;

    // The other account, with its own admin key and a code of its own (so its lists are
    // not trivially empty).
    let other = accounts::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        &NewAccount::parse("rival-walk", "Rival Walk", "EUR", "19", true).unwrap(),
    )
    .await
    .unwrap();
    let other_key = api_keys::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        other.id,
        &KeyName::parse("rival admin").unwrap(),
        Scope::Admin,
    )
    .await
    .unwrap()
    .secret;
    let own = app
        .gql_as(
            Some(&other_key),
            r#"mutation { createPromoCode(input: { code: "RIVALONLY", discountType: PERCENTAGE, percentOff: "5" }) { userErrors { code } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(own["data"]["createPromoCode"]["userErrors"], json!([]), "{own}");

    let before = snapshot(&app, demo.account_id).await;
    for (table, rows) in &before {
        // No refund was made (a free order has nothing to refund); the rest have rows.
        assert!(*table == "refunds" || !rows.is_empty(), "the demo shop has {table} to protect: {before:?}");
    }

    let schema = Schema::parse(&app.gql_admin(INTROSPECTION, json!({})).await);
    let builder = Builder { schema: &schema, demo: &demo };

    // Classify every root field by calling it without a key (values that point at nothing).
    let mut admin_fields: Vec<(&'static str, Field)> = vec![];
    let mut public_seen = BTreeSet::new();
    for (root, root_name) in [("Query", schema.query.clone()), ("Mutation", schema.mutation.clone())] {
        for field in &schema.types[&root_name].fields {
            let unbuildable = UNBUILDABLE_FIELDS.contains(&(root, field.name.as_str()));
            let probe = match builder.ops(root, field, Fill::Probe) {
                Ok(probe) => probe,
                Err(_) if unbuildable => {
                    admin_fields.push((root, field.clone()));
                    continue;
                }
                Err(e) => panic!(
                    "cannot build {root}.{} ({e}): teach the builder, or list it in UNBUILDABLE_FIELDS with a reason",
                    field.name
                ),
            };
            let body = app.gql(&probe[0].query, probe[0].variables.clone()).await;
            let codes = typed_errors(&body).unwrap_or_else(|e| panic!("{root}.{} without a key: {e}", field.name));
            let needs_key = codes.iter().any(|c| c == "UNAUTHENTICATED");
            let listed = PUBLIC_FIELDS.contains(&(root, field.name.as_str()));
            if needs_key {
                assert!(!listed, "{root}.{} needs a key now: take it out of PUBLIC_FIELDS", field.name);
                admin_fields.push((root, field.clone()));
            } else {
                assert!(
                    listed,
                    "{root}.{} answers without an API key ({body}); if it is meant to be public, add it to \
                     PUBLIC_FIELDS with the reason, else it lacks its key check",
                    field.name
                );
                public_seen.insert((root, field.name.as_str()));
            }
        }
    }
    for (root, name) in PUBLIC_FIELDS {
        assert!(public_seen.contains(&(*root, *name)), "PUBLIC_FIELDS lists {root}.{name}, which the schema lacks");
    }

    // The walk, with the other account's key.
    let mut unbuilt: Vec<String> = vec![];
    let mut walked: Vec<(&'static str, String, Vec<Op>)> = vec![];
    let mut operations = 0;
    for (root, field) in &admin_fields {
        let ops = match builder.ops(root, field, Fill::Walk) {
            Ok(ops) => ops,
            Err(e) => {
                if UNBUILDABLE_FIELDS.iter().any(|(r, n)| r == root && *n == field.name) {
                    continue;
                }
                unbuilt.push(format!("{root}.{}: {e}", field.name));
                continue;
            }
        };
        assert!(
            ops.iter().any(|op| op.aims_at_demo) || field.args.iter().all(|a| a.ty.named() != "ID"),
            "{root}.{} takes an ID but no operation aims at a demo object",
            field.name
        );
        for op in &ops {
            let body = app.gql_as(Some(&other_key), &op.query, op.variables.clone()).await;
            operations += 1;
            let leaks = demo.leaks(&body, &op.sent());
            assert!(
                leaks.is_empty(),
                "{root}.{} ({}) with the other key leaked {leaks:?}: {body}",
                op.field,
                op.variant
            );
            let codes = typed_errors(&body)
                .unwrap_or_else(|e| panic!("{root}.{} ({}): {e}\n{}", op.field, op.variant, op.query));
            assert!(!codes.iter().any(|c| c == "UNAUTHENTICATED" || c == "INTERNAL"), "{root}.{}: {body}", op.field);
            if op.aims_at_demo {
                refusal(&body, &op.field).unwrap_or_else(|e| {
                    panic!("{root}.{} ({}) aimed at demo objects with the other key: {e}: {body}", op.field, op.variant)
                });
            }
        }
        walked.push((root, field.name.clone(), ops));
    }
    let allowed_unbuilt: Vec<String> = UNBUILDABLE_FIELDS.iter().map(|(r, n)| format!("{r}.{n}")).collect();
    assert!(
        unbuilt.is_empty(),
        "admin fields the walk could not build (teach the builder, or add them to UNBUILDABLE_FIELDS with a reason; \
         allowed now: {allowed_unbuilt:?}): {unbuilt:#?}"
    );
    for (root, name) in UNBUILDABLE_FIELDS {
        assert!(
            admin_fields.iter().any(|(r, f)| r == root && f.name == *name),
            "UNBUILDABLE_FIELDS lists {root}.{name}, which is no admin field"
        );
    }

    // The REST routes, with the other key.
    let routes = declared_routes();
    let mut rest = Rest { app: &app, demo: &demo, other_key: &other_key, walked: BTreeSet::new(), requests: 0 };
    use reqwest::Method;
    let list_route = "/admin/promo_codes";
    let one_route = "/admin/promo_codes/{id}";
    let event = demo.ids["Event"][0].clone();
    for query in ["", "?status=all", "?status=deleted", "?status=inactive", "?search=15", &format!("?event_id={event}")]
    {
        let key = other_key.clone();
        let (status, text) = rest.send(Method::GET, list_route, &format!("{list_route}{query}"), &key, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let list: Value = serde_json::from_str(&text).unwrap();
        let codes: Vec<&str> = list["data"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
        assert!(codes.iter().all(|c| *c == "RIVALONLY"), "the other key lists only its own code: {codes:?}");
    }
    let aimed = json!({ "code": "ISOREST", "discount_type": "PERCENTAGE", "percent_off": "5", "event_id": event.parse::<i64>().unwrap() });
    for query in ["", "?dry_run=true"] {
        let key = other_key.clone();
        let (status, text) =
            rest.send(Method::POST, list_route, &format!("{list_route}{query}"), &key, Some(aimed.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a code for the demo shop's event: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["errors"][0]["code"], "EVENT_NOT_FOUND", "{text}");
    }
    for id in &demo.ids["PromoCode"] {
        let path = format!("{list_route}/{id}");
        rest.not_found(Method::GET, one_route, &path, None).await;
        for query in ["", "?dry_run=true"] {
            let path = format!("{path}{query}");
            rest.not_found(Method::PATCH, one_route, &path, Some(json!({ "active": false, "percent_off": "99" })))
                .await;
            rest.not_found(Method::DELETE, one_route, &path, None).await;
        }
    }
    let csv_route = "/admin/reports/promo_codes.csv";
    for group in ["code", "code_and_utm_source"] {
        let path = format!("{csv_route}?from=2000-01-01T00:00:00Z&to=2099-12-31T23:59:59Z&group_by={group}");
        let key = other_key.clone();
        let (status, csv) = rest.send(Method::GET, csv_route, &path, &key, None).await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert!(csv.lines().count() >= 1, "a header at least: {csv}");
        for code in ["NEWS10", "FREEPASS", "FRIEND5", "MARIA15", "ALEX15", "JANE15"] {
            assert!(!csv.contains(code), "the other key's CSV shows the demo code {code}: {csv}");
        }
        // Control: the demo key's report has the demo order's code.
        let key = app.admin_key.clone();
        let (status, csv) = rest.send(Method::GET, csv_route, &path, &key, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(csv.contains("FREEPASS"), "the demo key's CSV shows FREEPASS: {csv}");
    }
    let invoice_route = "/orders/{id}/invoice.html";
    let order_id = demo.ids["Order"][0].clone();
    let invoice = format!("/orders/{order_id}/invoice.html");
    rest.not_found(Method::GET, invoice_route, &invoice, None).await;
    // With the order's own token but the other account's key: the key decides.
    rest.not_found(Method::GET, invoice_route, &format!("{invoice}?token={}", demo.access_token), None).await;

    // The back office: the other key lists, reads and writes only its own shop.
    let events_route = "/admin/events";
    for query in ["", "?status=on_sale", "?deleted=true", "?search=jazz"] {
        let key = other_key.clone();
        let (status, text) = rest.send(Method::GET, events_route, &format!("{events_route}{query}"), &key, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let list: Value = serde_json::from_str(&text).unwrap();
        assert!(list["data"].as_array().unwrap().iter().all(|e| e["name"] != "Summer Jazz Night"), "{text}");
    }
    rest.control(Method::GET, events_route, "/admin/events?search=jazz", None, 200).await;
    let key = other_key.clone();
    let new_event = json!({ "name": "Rival Night", "starts_at": "2099-01-01T20:00:00Z" });
    let (status, text) = rest.send(Method::POST, events_route, events_route, &key, Some(new_event)).await;
    assert_eq!(status, StatusCode::CREATED, "an event of its own: {text}");
    let one_event = "/admin/events/{id}";
    let tickets_route = "/admin/events/{id}/ticket_types";
    for id in &demo.ids["Event"] {
        let path = format!("/admin/events/{id}");
        rest.not_found(Method::GET, one_event, &path, None).await;
        for query in ["", "?dry_run=true"] {
            let path = format!("{path}{query}");
            rest.not_found(Method::PATCH, one_event, &path, Some(json!({ "status": "cancelled" }))).await;
            rest.not_found(Method::DELETE, one_event, &path, None).await;
            let tickets = format!("/admin/events/{id}/ticket_types{query}");
            rest.not_found(Method::POST, tickets_route, &tickets, Some(json!({ "name": "X", "price": "1" }))).await;
        }
    }
    rest.control(Method::GET, one_event, &format!("/admin/events/{event}"), None, 200).await;
    let one_ticket = "/admin/ticket_types/{id}";
    for id in &demo.ids["TicketType"] {
        for query in ["", "?dry_run=true"] {
            let path = format!("/admin/ticket_types/{id}{query}");
            rest.not_found(Method::PATCH, one_ticket, &path, Some(json!({ "price": "0.01", "capacity": 0 }))).await;
            rest.not_found(Method::DELETE, one_ticket, &path, None).await;
        }
    }
    let shop_route = "/admin/shop";
    let key = other_key.clone();
    let (status, text) = rest.send(Method::GET, shop_route, shop_route, &key, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains("\"demo\""), "its own shop: {text}");
    let (status, text) =
        rest.send(Method::PATCH, shop_route, shop_route, &key, Some(json!({ "seller_vat_id": "XX1" }))).await;
    assert_eq!(status, StatusCode::OK, "its own shop: {text}");
    let audit_route = "/admin/audit_log";
    for query in ["", "?target_type=event", &format!("?target_type=event&target_id={event}")] {
        let (status, text) = rest.send(Method::GET, audit_route, &format!("{audit_route}{query}"), &key, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let log: Value = serde_json::from_str(&text).unwrap();
        assert!(log["data"].as_array().unwrap().iter().all(|e| e["key_name"] != "demo admin"), "{text}");
    }

    // A batch's codes: not found for the other key, the CSV for the demo's.
    let batch_route = "/admin/promo_batches/{id}/codes.csv";
    let batch_csv = format!("/admin/promo_batches/{}/codes.csv", demo.ids["PromoBatch"][0]);
    rest.not_found(Method::GET, batch_route, &batch_csv, None).await;
    rest.control(Method::GET, batch_route, &batch_csv, None, 200).await;
    // Partners, share links and batches: the other key sees and reaches only its own.
    let key = other_key.clone();
    for list in ["/admin/partners", "/admin/share_links", "/admin/promo_batches"] {
        let (status, text) = rest.send(Method::GET, list, list, &key, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        rest.control(Method::GET, list, list, None, 200).await;
    }
    let (status, text) = rest
        .send(Method::POST, "/admin/partners", "/admin/partners", &key, Some(json!({ "name": "Rival partner" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "a partner of its own: {text}");
    let partner = demo.ids["Partner"][0].clone();
    rest.not_found(
        Method::PATCH,
        "/admin/partners/{id}",
        &format!("/admin/partners/{partner}"),
        Some(json!({ "name": "X" })),
    )
    .await;
    let links = "/admin/partners/{id}/share_links";
    rest.not_found(Method::POST, links, &format!("/admin/partners/{partner}/share_links"), None).await;
    let code_links = "/admin/promo_codes/{id}/share_links";
    rest.not_found(
        Method::POST,
        code_links,
        &format!("/admin/promo_codes/{}/share_links", demo.ids["PromoCode"][0]),
        None,
    )
    .await;
    let link = demo.ids["PartnerShareLink"][0].clone();
    rest.not_found(Method::DELETE, "/admin/share_links/{id}", &format!("/admin/share_links/{link}"), None).await;
    let batch = demo.ids["PromoBatch"][0].clone();
    rest.not_found(Method::GET, "/admin/promo_batches/{id}", &format!("/admin/promo_batches/{batch}"), None).await;
    rest.control(Method::GET, "/admin/promo_batches/{id}", &format!("/admin/promo_batches/{batch}"), None, 200).await;
    let deactivate = "/admin/promo_batches/{id}/deactivate";
    rest.not_found(Method::POST, deactivate, &format!("/admin/promo_batches/{batch}/deactivate"), None).await;
    for query in ["", "?dry_run=true"] {
        let aimed = json!({ "batch_name": "x", "prefix": "RIV", "count": 2, "discount_type": "PERCENTAGE",
                            "percent_off": "5", "partner_id": partner.parse::<i64>().unwrap() });
        let path = format!("/admin/promo_batches{query}");
        rest.not_found(Method::POST, "/admin/promo_batches", &path, Some(aimed)).await;
    }

    let missing: Vec<&(String, String)> = routes
        .iter()
        .filter(|(m, p)| !ROUTES_WITHOUT_KEY.contains(&(m.as_str(), p.as_str())))
        .filter(|r| !rest.walked.contains(*r))
        .collect();
    assert!(missing.is_empty(), "routes neither walked nor in ROUTES_WITHOUT_KEY: {missing:?}");
    for (m, p) in ROUTES_WITHOUT_KEY {
        assert!(routes.contains(&(m.to_string(), p.to_string())), "ROUTES_WITHOUT_KEY lists {m} {p}, which is gone");
    }

    // Nothing of the demo shop changed.
    let after = snapshot(&app, demo.account_id).await;
    for (table, rows) in &before {
        assert_eq!(rows, &after[table], "the demo shop's {table} changed during the walk");
    }

    // Controls with the demo key: each walked field sees (queries) or reaches (mutations)
    // the demo objects with the same operations, so the refusals above were the tenant
    // check. Deleting and revoking go last; dry runs where the field has them.
    walked
        .sort_by_key(|(root, name, _)| (*root == "Mutation", name.starts_with("delete") || name.starts_with("revoke")));
    for (root, name, ops) in &walked {
        let mut outcomes = vec![];
        for op in ops {
            let body = app.gql_admin(&op.control_query, op.variables.clone()).await;
            let outcome = if *root == "Query" {
                let seen = demo.leaks(&body, "");
                if seen.is_empty() { Err(format!("no demo data: {body}")) } else { Ok(()) }
            } else {
                accepted(&body, name)
            };
            outcomes.push((op.variant.clone(), outcome));
        }
        assert!(
            outcomes.iter().any(|(_, o)| o.is_ok()),
            "{root}.{name}: with the demo key no variant reached demo data, so the walk proves nothing: {outcomes:#?}"
        );
        for (variant, outcome) in &outcomes {
            let op = ops.iter().find(|o| &o.variant == variant).unwrap();
            if op.aims_at_demo {
                assert!(outcome.is_ok(), "{root}.{name} ({variant}) with the demo key (control): {outcome:?}");
            }
        }
    }
    // REST controls.
    let code = demo.ids["PromoCode"][0].clone();
    rest.control(Method::GET, one_route, &format!("{list_route}/{code}"), None, 200).await;
    rest.control(
        Method::PATCH,
        one_route,
        &format!("{list_route}/{code}?dry_run=true"),
        Some(json!({ "active": false })),
        200,
    )
    .await;
    rest.control(Method::DELETE, one_route, &format!("{list_route}/{code}?dry_run=true"), None, 200).await;
    rest.control(Method::POST, list_route, &format!("{list_route}?dry_run=true"), Some(aimed.clone()), 200).await;
    rest.control(Method::GET, invoice_route, &invoice, None, 200).await;
    let by_token = app.http.get(format!("{}{invoice}?token={}", app.address, demo.access_token)).send().await.unwrap();
    assert_eq!(by_token.status(), StatusCode::OK, "the buyer's token opens the invoice");

    let n_query = walked.iter().filter(|(r, _, _)| *r == "Query").count();
    let n_mut = walked.iter().filter(|(r, _, _)| *r == "Mutation").count();
    let n_rest = rest.walked.len();
    println!(
        "isolation walk: {n_query} query fields, {n_mut} mutations, {n_rest} REST routes \
         ({operations} GraphQL operations, {} REST requests with the other key)",
        rest.requests
    );
    // What the schema and router have today; fewer means the walk lost something.
    assert!(n_query >= 9, "admin query fields walked: {n_query}");
    assert!(n_mut >= 12, "admin mutations walked: {n_mut}");
    assert!(n_rest >= 7, "REST routes walked: {n_rest}");
}
