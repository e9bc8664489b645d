//! A bounded, seeded fuzz of the real server: random and malformed GraphQL documents and
//! variables built from the committed `schema.graphql` (parsed with async-graphql's own
//! parser), and malformed REST requests. Random cases per category (wrong-typed and
//! missing arguments, extreme ints, long strings, unicode and NUL bytes, deep nesting,
//! unknown fields, broken JSON, content types, wrong variables, aliases, batches, random
//! mutations and queries with and without the admin key, GET, token soup; REST bodies,
//! ids, parameters), then deterministic sweeps: every String/ID argument and input field
//! of every root field holding a NUL byte, then 60 000 characters, and every decimal one
//! holding extreme decimals.
//!
//! Whatever comes in, the server answers: no 5xx, no dropped connection (a panicking
//! handler), still healthy at the end, and every refusal typed: GraphQL errors carry a
//! message and, where there is a code, a known one (never INTERNAL); REST errors are the
//! JSON envelope with a known code. The seed is fixed, so a failure reproduces; set
//! `TIXSHOP_FUZZ_SEED` (a decimal number) to explore others. What the fuzz found is at
//! the end of this file as exact cases, each marked BUG and asserting the correct answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use base64::Engine;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const SEED: u64 = 0x7153_0F22;

/// `extensions.code`s the server sets on GraphQL errors for a client's mistake.
const GRAPHQL_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "BAD_REQUEST",
    "BATCH_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "METHOD_NOT_ALLOWED",
];

/// `error.code`s of the REST envelope for a client's mistake.
const REST_CODES: &[&str] =
    &["MALFORMED_REQUEST", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "DUPLICATE_CODE", "VALIDATION_FAILED"];

// ---------------------------------------------------------------------------------------
// The schema, from schema.graphql.

struct Sdl {
    objects: BTreeMap<String, Vec<FieldDefinition>>,
    inputs: BTreeMap<String, Vec<InputValueDefinition>>,
    enums: BTreeMap<String, Vec<String>>,
}

impl Sdl {
    fn load() -> Self {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
        let document = parse_schema(&text).expect("schema.graphql parses");
        let mut sdl = Sdl { objects: BTreeMap::new(), inputs: BTreeMap::new(), enums: BTreeMap::new() };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(t) = definition else { continue };
            let t = t.node;
            let name = t.name.node.to_string();
            match t.kind {
                TypeKind::Object(o) => {
                    sdl.objects.insert(name, o.fields.into_iter().map(|f| f.node).collect());
                }
                TypeKind::InputObject(i) => {
                    sdl.inputs.insert(name, i.fields.into_iter().map(|f| f.node).collect());
                }
                TypeKind::Enum(e) => {
                    sdl.enums.insert(name, e.values.iter().map(|v| v.node.value.node.to_string()).collect());
                }
                _ => {}
            }
        }
        assert!(sdl.objects.contains_key("Query") && sdl.objects.contains_key("Mutation"));
        sdl
    }

    fn roots(&self, root: &str) -> &[FieldDefinition] {
        &self.objects[root]
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

// ---------------------------------------------------------------------------------------
// GraphQL values, as literals or as JSON variables.

#[derive(Debug, Clone)]
enum Lit {
    Null,
    /// Number text as is: `1`, `-0`, `99999999999999999999999`, `1e400`.
    Num(String),
    Str(String),
    /// Already-escaped GraphQL string source, e.g. `"\uD800"`.
    RawStr(String),
    Bool(bool),
    Enum(String),
    List(Vec<Lit>),
    Obj(Vec<(String, Lit)>),
    Var(String),
}

impl Lit {
    fn graphql(&self) -> String {
        match self {
            Lit::Null => "null".into(),
            Lit::Num(n) => n.clone(),
            Lit::Str(s) => serde_json::to_string(s).unwrap(),
            Lit::RawStr(s) => s.clone(),
            Lit::Bool(b) => b.to_string(),
            Lit::Enum(e) => e.clone(),
            Lit::List(items) => format!("[{}]", items.iter().map(Lit::graphql).collect::<Vec<_>>().join(", ")),
            Lit::Obj(fields) => {
                format!(
                    "{{{}}}",
                    fields.iter().map(|(k, v)| format!("{k}: {}", v.graphql())).collect::<Vec<_>>().join(", ")
                )
            }
            Lit::Var(v) => format!("${v}"),
        }
    }

    /// JSON source (numbers as their text, so `1e400` stays what it is).
    fn json(&self) -> String {
        match self {
            Lit::Null | Lit::Var(_) => "null".into(),
            Lit::Num(n) => n.clone(),
            Lit::Str(s) => serde_json::to_string(s).unwrap(),
            Lit::RawStr(s) => s.clone(),
            Lit::Bool(b) => b.to_string(),
            Lit::Enum(e) => serde_json::to_string(e).unwrap(),
            Lit::List(items) => format!("[{}]", items.iter().map(Lit::json).collect::<Vec<_>>().join(",")),
            Lit::Obj(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v.json()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Knobs {
    /// Chance that a value is of a wrong type.
    wrong: f64,
    extreme_ints: bool,
    long_strings: bool,
    unicode: bool,
}

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "10",
    "50",
    "51",
    "200",
    "201",
    "2147483647",
    "-2147483648",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999999999999",
    "-0",
];

const IDS: &[&str] = &[
    "1",
    "2",
    "3",
    "4",
    "6",
    "7",
    "0",
    "-1",
    "999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "abc",
    "",
    " 1",
    "1.5",
    "1e3",
    "0x10",
    "\u{0}",
    "١٢",
];

const DATES: &[&str] = &[
    "2099-01-01T00:00:00Z",
    "2099-12-31T23:59:59+14:00",
    "2000-01-01T00:00:00-12:00",
    "1970-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2099-01-01",
    "2099-01-01T00:00:00",
    "2099-01-01T00:00:00.123456789Z",
    "2099-01-01T25:61:61Z",
    "yesterday",
    "",
    "1e10",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "x",
    "NEWS10",
    "news10",
    "FREEPASS",
    "demo",
    "other",
    "order.paid",
    "order.refunded",
    "10",
    "12.5",
    "100",
    "100.01",
    "0",
    "-5",
    "5.00",
    "5.001",
    "1e400",
    "NaN",
    "Infinity",
    "79228162514264337593543950335",
    "99999999999999999999999999999999",
    "0.0000000000000000000000000001",
    "1_000",
    "ann@example.com",
    "a+tag@EXAMPLE.com",
    "not an email",
    "https://example.com/hook",
    "http://127.0.0.1:1/hook",
    "http://[::1]/x",
    "http://user:pw@example.com/",
    "javascript:alert(1)",
    "ftp://example.com",
    "%_",
    "'; DROP TABLE promo_codes; --",
    "\\",
    "\"",
    "{}",
    "A-B_C",
    "CODE WITH SPACES",
];

const UNICODE: &[&str] = &[
    "\u{0}",
    "a\u{0}b",
    "NEWS10\u{0}",
    "\u{1}\u{7}\u{1b}[31m",
    "ß",
    "İstanbul",
    "ǅ",
    "ﬃ",
    "🎟️🎫",
    "👩‍👩‍👧‍👦",
    "\u{202e}01SWEN",
    "\u{feff}NEWS10",
    "e\u{301}\u{301}\u{301}",
    "\u{ffff}",
    "\u{10ffff}",
    "日本語のコード",
    "ＮＥＷＳ１０",
    "\r\n\t",
    "\u{2028}\u{2029}",
];

struct Gen<'a> {
    sdl: &'a Sdl,
    rng: StdRng,
}

impl Gen<'_> {
    fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        items.choose(&mut self.rng).expect("a non-empty pool")
    }

    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items.choose(&mut self.rng).expect("a non-empty pool")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn name(&mut self) -> String {
        let len = self.rng.random_range(1..12);
        let mut s: String =
            (0..len).map(|_| *self.pick(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") as char).collect();
        if self.chance(0.3) {
            s.push_str(&self.rng.random_range(0..100).to_string());
        }
        s
    }

    fn long_string(&mut self) -> String {
        let len = *self.pick(&[1_000, 10_000, 65_536, 200_000]);
        let unit = *self.pick(&["x", "é", "🎟", "A1-", "\u{0}"]);
        unit.repeat(len / unit.len().max(1))
    }

    fn string(&mut self, knobs: Knobs) -> String {
        if knobs.long_strings && self.chance(0.5) {
            return self.long_string();
        }
        if knobs.unicode && self.chance(0.7) {
            let mut s = self.pick(UNICODE).to_string();
            if self.chance(0.3) {
                s.push_str(self.word(STRINGS));
            }
            return s;
        }
        if self.chance(0.2) {
            return self.name();
        }
        self.pick(STRINGS).to_string()
    }

    fn int(&mut self, knobs: Knobs) -> Lit {
        if knobs.extreme_ints || self.chance(0.3) {
            Lit::Num(self.pick(INTS).to_string())
        } else {
            Lit::Num(self.rng.random_range(-5..300).to_string())
        }
    }

    /// A value of the wrong kind for anything.
    fn wrong(&mut self) -> Lit {
        match self.rng.random_range(0..13) {
            0 => Lit::Null,
            1 => Lit::Num(self.pick(INTS).to_string()),
            2 => Lit::Num(self.pick(&["1.5", "-0.0", "1e400", "1E-400", "3.4028235e39"]).to_string()),
            3 => Lit::Str(self.string(Knobs::default())),
            4 => Lit::Bool(self.chance(0.5)),
            5 => Lit::Enum(self.pick(&["ADMIN", "PERCENTAGE", "NOPE", "true", "null_"]).to_string()),
            6 => Lit::List(vec![Lit::Num("1".into()), Lit::Str("x".into())]),
            7 => Lit::Obj(vec![("a".into(), Lit::Num("1".into()))]),
            8 => Lit::List(vec![]),
            9 => Lit::Obj(vec![]),
            10 => Lit::RawStr(
                self.pick(&["\"\\uD800\"", "\"\\u{1F600}\"", "\"\"\"block\nstring\"\"\"", "\"\\q\""]).to_string(),
            ),
            11 => Lit::Var("undeclared".into()),
            _ => Lit::Str("\u{0}".into()),
        }
    }

    fn value(&mut self, ty: &Type, knobs: Knobs, depth: usize) -> Lit {
        if self.chance(knobs.wrong) {
            return self.wrong();
        }
        if ty.nullable && self.chance(0.1) {
            return Lit::Null;
        }
        match &ty.base {
            BaseType::List(inner) => {
                if self.chance(0.1) {
                    // A single value where a list is expected (GraphQL coerces it).
                    return self.value(inner, knobs, depth + 1);
                }
                let n = if knobs.long_strings { 1 } else { self.rng.random_range(0..4) };
                Lit::List((0..n).map(|_| self.value(inner, knobs, depth + 1)).collect())
            }
            BaseType::Named(name) => self.named_value(name.as_str(), knobs, depth),
        }
    }

    fn named_value(&mut self, name: &str, knobs: Knobs, depth: usize) -> Lit {
        match name {
            "Int" => self.int(knobs),
            "Float" => Lit::Num(self.pick(&["1.5", "0", "-1e308", "1e308"]).to_string()),
            "Boolean" => Lit::Bool(self.chance(0.5)),
            "String" => Lit::Str(self.string(knobs)),
            "ID" => {
                if knobs.long_strings && self.chance(0.3) {
                    Lit::Str(self.long_string())
                } else if knobs.unicode && self.chance(0.5) {
                    Lit::Str(self.pick(UNICODE).to_string())
                } else if self.chance(0.1) {
                    Lit::Num(self.pick(INTS).to_string())
                } else {
                    Lit::Str(self.pick(IDS).to_string())
                }
            }
            "DateTime" => Lit::Str(self.pick(DATES).to_string()),
            other => {
                if let Some(values) = self.sdl.enums.get(other).cloned() {
                    if self.chance(0.1) {
                        return Lit::Enum(self.name().to_uppercase());
                    }
                    return Lit::Enum(self.pick(&values).clone());
                }
                if let Some(fields) = self.sdl.inputs.get(other).cloned() {
                    if depth > 4 {
                        return Lit::Null;
                    }
                    let mut out = vec![];
                    for f in &fields {
                        let required = !f.ty.node.nullable && f.default_value.is_none();
                        let include = if required { !self.chance(0.05) } else { self.chance(0.5) };
                        if include {
                            out.push((f.name.node.to_string(), self.value(&f.ty.node, knobs, depth + 1)));
                        }
                    }
                    if self.chance(0.05) {
                        out.push((self.name(), Lit::Num("1".into())));
                    }
                    if self.chance(0.03) && !out.is_empty() {
                        // The same field twice.
                        let first = out[0].clone();
                        out.push(first);
                    }
                    return Lit::Obj(out);
                }
                Lit::Str(self.string(knobs))
            }
        }
    }

    /// A selection set for `type_name` (empty for leaves).
    fn selection(&mut self, type_name: &str, depth: usize) -> String {
        let Some(fields) = self.sdl.objects.get(type_name).cloned() else { return String::new() };
        let mut parts = vec![];
        let n = self.rng.random_range(1..=4.min(fields.len()));
        for _ in 0..n {
            let f = self.pick(&fields).clone();
            if f.arguments.iter().any(|a| !a.node.ty.node.nullable && a.node.default_value.is_none()) {
                continue;
            }
            let child = named(&f.ty.node).to_owned();
            if self.sdl.objects.contains_key(&child) {
                if depth >= 4 {
                    continue;
                }
                let inner = self.selection(&child, depth + 1);
                parts.push(format!("{} {inner}", f.name.node));
            } else {
                parts.push(f.name.node.to_string());
            }
        }
        if parts.is_empty() || self.chance(0.2) {
            parts.push("__typename".into());
        }
        format!("{{ {} }}", parts.join(" "))
    }

    fn root_field(&mut self, root: &str) -> FieldDefinition {
        self.pick(self.sdl.roots(root)).clone()
    }

    /// `field(args…) { selection }` with inline argument literals.
    fn field_call(&mut self, field: &FieldDefinition, knobs: Knobs, omit_required: bool) -> String {
        let mut args = vec![];
        for a in &field.arguments {
            let a = &a.node;
            let required = !a.ty.node.nullable && a.default_value.is_none();
            let include = if omit_required && required { false } else { required || self.chance(0.5) };
            if include {
                args.push(format!("{}: {}", a.name.node, self.value(&a.ty.node, knobs, 0).graphql()));
            }
        }
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        let selection = self.selection(named(&field.ty.node), 1);
        format!("{}{args} {selection}", field.name.node)
    }

    fn operation(&mut self, root: &str, knobs: Knobs) -> String {
        let field = self.root_field(root);
        let call = self.field_call(&field, knobs, false);
        let keyword = if root == "Mutation" { "mutation" } else { "query" };
        format!("{keyword} {{ {call} }}")
    }

    /// A plausible value by type and name (the NUL sweep's background values).
    fn plausible(&self, ty: &Type, name: &str, serial: usize) -> Lit {
        match &ty.base {
            BaseType::List(inner) => Lit::List(vec![self.plausible(inner, name, serial)]),
            BaseType::Named(n) => match n.as_str() {
                "Int" => Lit::Num("1".into()),
                "Float" => Lit::Num("1.5".into()),
                "Boolean" => Lit::Bool(false),
                "ID" => Lit::Str("1".into()),
                "DateTime" => Lit::Str("2099-01-01T00:00:00Z".into()),
                "String" => Lit::Str(match name {
                    "code" => format!("NULSWEEP{serial}"),
                    "shopSlug" | "slug" => "demo".into(),
                    "email" => "sweep@example.com".into(),
                    "url" | "successUrl" | "cancelUrl" => "https://example.com/sweep".into(),
                    "events" => "order.paid".into(),
                    "percentOff" => "10".into(),
                    "amount" | "amountOff" => "1.00".into(),
                    _ => "sweep".into(),
                }),
                other => {
                    if let Some(values) = self.sdl.enums.get(other) {
                        return Lit::Enum(values[0].clone());
                    }
                    let fields = self.sdl.inputs.get(other).map(Vec::as_slice).unwrap_or_default();
                    Lit::Obj(
                        fields
                            .iter()
                            .filter(|f| !f.ty.node.nullable && f.default_value.is_none())
                            .map(|f| {
                                (f.name.node.to_string(), self.plausible(&f.ty.node, f.name.node.as_str(), serial))
                            })
                            .collect(),
                    )
                }
            },
        }
    }

    fn any_root(&mut self) -> &'static str {
        if self.chance(0.5) { "Query" } else { "Mutation" }
    }
}

// ---------------------------------------------------------------------------------------
// Sending and judging.

#[derive(Default)]
struct Tally {
    graphql: usize,
    rest: usize,
    server_errors: usize,
    per_category: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

struct Fuzz<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    tally: Tally,
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// A GraphQL response object is well-formed and its errors are typed.
fn check_graphql_response(v: &Value) -> Result<(), String> {
    let Some(object) = v.as_object() else { return Err("a response that is no object".into()) };
    if !object.contains_key("data") && !object.contains_key("errors") {
        return Err("neither data nor errors".into());
    }
    for e in v["errors"].as_array().into_iter().flatten() {
        if e["message"].as_str().is_none_or(|m| m.trim().is_empty()) {
            return Err(format!("an error without a message: {e}"));
        }
        match &e["extensions"]["code"] {
            Value::Null => {}
            Value::String(code) if GRAPHQL_CODES.contains(&code.as_str()) => {}
            other => return Err(format!("error code {other} (INTERNAL means a server fault on client input): {e}")),
        }
    }
    Ok(())
}

impl Fuzz<'_> {
    fn fail(&mut self, category: &'static str, request: &str, problem: String) {
        self.tally.failures.push(format!("[{category}] {problem}\n    request: {}", clip(request, 400)));
    }

    /// Sends a raw request; `None` (recorded as a failure) when no answer came.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        category: &'static str,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        auth: Option<&str>,
        body: Option<Vec<u8>>,
        describe: &str,
    ) -> Option<(u16, String, String)> {
        *self.tally.per_category.entry(category).or_default() += 1;
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.app.address));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.fail(category, describe, format!("{method} {path}: no response ({e}); did a handler panic?"));
                return None;
            }
        };
        let status = response.status().as_u16();
        let ct = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = match response.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                self.fail(category, describe, format!("{method} {path}: the body broke off ({e})"));
                return None;
            }
        };
        if status >= 500 {
            self.tally.server_errors += 1;
            self.fail(category, describe, format!("{method} {path}: {status}: {}", clip(&text, 300)));
        }
        Some((status, ct, text))
    }

    /// A GraphQL POST of raw `body` bytes; checks the answer.
    async fn graphql_raw(
        &mut self,
        category: &'static str,
        content_type: Option<&str>,
        auth: Option<&str>,
        body: Vec<u8>,
    ) -> Option<(u16, Value)> {
        self.tally.graphql += 1;
        let describe = String::from_utf8_lossy(&body).into_owned();
        let (status, _, text) =
            self.send(category, Method::POST, "/graphql", content_type, auth, Some(body), &describe).await?;
        self.judge_graphql(category, &describe, status, &text)
    }

    fn judge_graphql(
        &mut self,
        category: &'static str,
        describe: &str,
        status: u16,
        text: &str,
    ) -> Option<(u16, Value)> {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            self.fail(category, describe, format!("{status}: not JSON: {}", clip(text, 300)));
            return None;
        };
        let responses: Vec<&Value> = match &value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for r in responses {
            if let Err(problem) = check_graphql_response(r) {
                self.fail(category, describe, format!("{status}: {problem}"));
            }
        }
        if status >= 400 && value["errors"].as_array().is_none_or(Vec::is_empty) {
            self.fail(category, describe, format!("{status} without errors: {}", clip(text, 300)));
        }
        Some((status, value))
    }

    async fn graphql(&mut self, category: &'static str, auth: Option<&str>, body: String) -> Option<(u16, Value)> {
        self.graphql_raw(category, Some("application/json"), auth, body.into_bytes()).await
    }

    async fn graphql_get(&mut self, category: &'static str, auth: Option<&str>, query: &str) -> Option<(u16, Value)> {
        self.tally.graphql += 1;
        let path = format!("/graphql?{query}");
        let (status, ct, text) = self.send(category, Method::GET, &path, None, auth, None, &path).await?;
        if ct.starts_with("text/html") {
            // No `query` parameter: the GraphiQL page.
            if status != 200 {
                self.fail(category, &path, format!("GraphiQL answered {status}"));
            }
            return None;
        }
        self.judge_graphql(category, &path, status, &text)
    }

    /// A REST request; checks the envelope on refusals.
    async fn rest(
        &mut self,
        category: &'static str,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        auth: Option<&str>,
        body: Option<String>,
    ) -> Option<(u16, Value)> {
        self.tally.rest += 1;
        let describe = format!("{method} {path} {}", body.as_deref().unwrap_or(""));
        let (status, ct, text) =
            self.send(category, method, path, content_type, auth, body.map(String::into_bytes), &describe).await?;
        if status == 204 {
            return Some((status, Value::Null));
        }
        if (200..300).contains(&status) && (ct.starts_with("text/csv") || ct.starts_with("text/html")) {
            return Some((status, Value::Null));
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            self.fail(category, &describe, format!("{status} ({ct}): not JSON: {}", clip(&text, 300)));
            return None;
        };
        if (400..500).contains(&status) {
            let code = value["error"]["code"].as_str();
            let message = value["error"]["message"].as_str();
            if !code.is_some_and(|c| REST_CODES.contains(&c)) || message.is_none_or(str::is_empty) {
                self.fail(category, &describe, format!("{status}: not a typed error envelope: {}", clip(&text, 300)));
            }
        }
        Some((status, value))
    }
}

fn request_body(query: &str, variables: Option<&str>) -> String {
    let mut body = format!("{{\"query\":{}", serde_json::to_string(query).unwrap());
    if let Some(v) = variables {
        write!(body, ",\"variables\":{v}").unwrap();
    }
    body.push('}');
    body
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------

/// Random and malformed GraphQL and REST requests against the real server: no 5xx, no
/// panic, every refusal typed, the server healthy afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_survives_random_and_malformed_requests() {
    let started = Instant::now();
    let seed = std::env::var("TIXSHOP_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(SEED);
    let app = spawn_app_with(|c| {
        c.webhook_dispatch = false;
        c.request_timeout_secs = 20;
    })
    .await;
    // The fuzz's own admin key, at an id no generated value names (so random
    // `revokeApiKey` calls, which may well revoke the demo key, leave it working).
    let admin = format!("Bearer {}", fuzz_admin_key(&app).await);
    let sdl = Sdl::load();
    let mut g = Gen { sdl: &sdl, rng: StdRng::seed_from_u64(seed) };
    // A fresh connection per request: a refusal sent before a large body was read closes
    // its connection, and a pooled client could pick that closed connection for the next
    // case (a client-side race, not the server's failure).
    let client = reqwest::Client::builder().timeout(Duration::from_secs(25)).pool_max_idle_per_host(0).build().unwrap();
    let mut f = Fuzz { app: &app, client, tally: Tally::default() };
    let auths = |g: &mut Gen, admin: &str| -> Option<String> {
        match g.rng.random_range(0..6) {
            0 | 1 => None,
            2 => Some("Bearer tix_wrongwrongwrongwrongwrongwrongwrongwrongwro".into()),
            3 => Some("Basic Zm9vOmJhcg==".into()),
            _ => Some(admin.to_owned()),
        }
    };

    // --- GraphQL -------------------------------------------------------------------------

    // Valid fields, arguments of the wrong type.
    for _ in 0..120 {
        let root = g.any_root();
        let op = g.operation(root, Knobs { wrong: 0.6, ..Knobs::default() });
        let auth = auths(&mut g, &admin);
        f.graphql("wrong-typed args", auth.as_deref(), request_body(&op, None)).await;
    }
    // Huge and negative ints.
    for _ in 0..80 {
        let root = g.any_root();
        let op = g.operation(root, Knobs { extreme_ints: true, wrong: 0.02, ..Knobs::default() });
        f.graphql("extreme ints", Some(&admin), request_body(&op, None)).await;
    }
    // Very long strings (bodies stay under the 1 MiB limit).
    for _ in 0..25 {
        let root = g.any_root();
        let op = g.operation(root, Knobs { long_strings: true, ..Knobs::default() });
        if op.len() > 900_000 {
            continue;
        }
        f.graphql("long strings", Some(&admin), request_body(&op, None)).await;
    }
    // Unicode, control characters and NUL bytes, as literals and as variables.
    for i in 0..80 {
        let root = g.any_root();
        let knobs = Knobs { unicode: true, ..Knobs::default() };
        let auth = if i % 2 == 0 { Some(admin.as_str()) } else { None };
        if i % 3 == 0 {
            let field = g.root_field(root);
            let (doc, vars) = with_variables(&mut g, root, &field, knobs);
            f.graphql("unicode/NUL", auth, request_body(&doc, Some(&vars))).await;
        } else {
            let op = g.operation(root, knobs);
            f.graphql("unicode/NUL", auth, request_body(&op, None)).await;
        }
    }
    // Deep nesting of selections, fragments, values, JSON. Value literals nest at most
    // 150 deep here: deeper ones crash the whole process today (see
    // `deeply_nested_values_do_not_crash_the_server`, which runs them in a child process).
    for _ in 0..40 {
        let depth = *g.pick(&[8, 13, 30, 63, 64, 65, 100, 129, 500, 2_000, 10_000, 40_000]);
        let value_depth = depth.min(150);
        let doc = match g.rng.random_range(0..6) {
            0 => format!("{{ {} __typename {} }}", "... on Query { ".repeat(depth), "}".repeat(depth)),
            1 => format!("{{ shop(slug: {}\"demo\"{}) {{ name }} }}", "[".repeat(value_depth), "]".repeat(value_depth)),
            2 => format!(
                "{{ promoCodes(filter: {}1{}) {{ nodes {{ id }} }} }}",
                "{a: ".repeat(value_depth),
                "}".repeat(value_depth)
            ),
            3 => "{".repeat(depth),
            4 => format!("{{ __schema {{ types {{ {} name {} }} }} }}", "ofType { ".repeat(depth), "}".repeat(depth)),
            _ => "{ __typename }".into(),
        };
        let vars =
            if g.chance(0.3) { Some(format!("{{\"v\":{}1{}}}", "[".repeat(depth), "]".repeat(depth))) } else { None };
        f.graphql("deep nesting", Some(&admin), request_body(&doc, vars.as_deref())).await;
    }
    // Unknown fields, arguments, types, directives, fragments.
    for _ in 0..60 {
        let name = g.name();
        let field = g.root_field("Query");
        let doc = match g.rng.random_range(0..6) {
            0 => format!("{{ {name} }}"),
            1 => format!("{{ {name}(x: 1) {{ id }} }}"),
            2 => format!("{{ {}({name}: 1) {{ __typename }} }}", field.name.node),
            3 => format!("query($v: {name}) {{ __typename }}"),
            4 => format!("{{ __typename @{name} }}"),
            _ => format!("{{ ...{name} }}"),
        };
        let auth = auths(&mut g, &admin);
        f.graphql("unknown fields", auth.as_deref(), request_body(&doc, None)).await;
    }
    // Broken JSON bodies.
    for _ in 0..80 {
        let valid = request_body(&g.operation("Query", Knobs::default()), Some("{}"));
        let body: Vec<u8> = match g.rng.random_range(0..8) {
            0 => valid.as_bytes()[..g.rng.random_range(0..valid.len())].to_vec(),
            1 => (0..g.rng.random_range(0..200)).map(|_| g.rng.random::<u8>()).collect(),
            2 => g
                .pick(&[
                    "",
                    "null",
                    "1",
                    "\"q\"",
                    "true",
                    "{}",
                    "[]",
                    "[1]",
                    "[null]",
                    "{\"query\":1}",
                    "{\"query\":null}",
                ])
                .as_bytes()
                .to_vec(),
            3 => format!("{valid}garbage").into_bytes(),
            4 => format!("\u{feff}{valid}").into_bytes(),
            5 => {
                let extra = *g.pick(&[
                    "\"variables\":\"x\"",
                    "\"variables\":[1]",
                    "\"operationName\":5",
                    "\"extensions\":1",
                    "\"query\":\"{ shop }\"",
                ]);
                format!("{{\"query\":\"{{ __typename }}\",{extra}}}").into_bytes()
            }
            6 => {
                let mut bytes = valid.into_bytes();
                let at = g.rng.random_range(0..bytes.len());
                bytes[at] = *g.pick(&[0xff, 0xc3, 0x00, b'"', b'\\']);
                bytes
            }
            _ => format!("[{valid},").into_bytes(),
        };
        let auth = auths(&mut g, &admin);
        if let Some((status, _)) =
            f.graphql_raw("broken JSON", Some("application/json"), auth.as_deref(), body.clone()).await
            && status != 200
            && status != 400
        {
            f.fail("broken JSON", &String::from_utf8_lossy(&body), format!("answered {status}, expected 200 or 400"));
        }
    }
    // Wrong content types (a valid operation inside).
    for _ in 0..30 {
        let ct = *g.pick(&[
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/graphql"),
            Some("application/jsonx"),
            Some("application/ld+json"),
            Some(""),
            None,
            Some("application/json; charset=utf-8"),
            Some("APPLICATION/JSON"),
        ]);
        let body = request_body("mutation { createCart(shopSlug: \"demo\") { cart { id } } }", None);
        let json_like =
            ct.is_some_and(|c| c.split(';').next().unwrap().trim().eq_ignore_ascii_case("application/json"));
        if let Some((status, _)) = f.graphql_raw("content types", ct, None, body.into_bytes()).await {
            let expected = if json_like { 200 } else { 415 };
            if status != expected {
                f.fail("content types", &format!("{ct:?}"), format!("answered {status}, expected {expected}"));
            }
        }
    }
    // Variables of wrong types, missing, extra, not an object.
    for _ in 0..80 {
        let root = g.any_root();
        let field = g.root_field(root);
        let knobs = Knobs { wrong: 0.5, extreme_ints: g.chance(0.3), ..Knobs::default() };
        let (doc, vars) = with_variables(&mut g, root, &field, knobs);
        let vars = match g.rng.random_range(0..8) {
            0 => "[]".into(),
            1 => "\"x\"".into(),
            2 => "1".into(),
            3 => "{}".into(),
            4 => "{\"zzz\":1}".into(),
            5 => vars.replacen(':', ":1e400,\"_\":", 1),
            _ => vars,
        };
        let auth = auths(&mut g, &admin);
        f.graphql("wrong variables", auth.as_deref(), request_body(&doc, Some(&vars))).await;
    }
    // Missing required arguments.
    for _ in 0..50 {
        let root = g.any_root();
        let field = g.root_field(root);
        let call = g.field_call(&field, Knobs::default(), true);
        let keyword = if root == "Mutation" { "mutation" } else { "query" };
        f.graphql("missing args", Some(&admin), request_body(&format!("{keyword} {{ {call} }}"), None)).await;
    }
    // Repeated aliases (and conflicting ones).
    for _ in 0..40 {
        let root = g.any_root();
        let field = g.root_field(root);
        let n = *g.pick(&[2, 5, 30, 120, 400]);
        let conflict = g.chance(0.3);
        let mut doc = String::from(if root == "Mutation" { "mutation { " } else { "{ " });
        for i in 0..n {
            let call = g.field_call(&field, Knobs { wrong: 0.05, ..Knobs::default() }, false);
            let alias = if conflict { "same".to_owned() } else { format!("a{i}") };
            write!(doc, "{alias}: {call} ").unwrap();
        }
        doc.push('}');
        let auth = auths(&mut g, &admin);
        f.graphql("aliases", auth.as_deref(), request_body(&doc, None)).await;
    }
    // Batches: 0–13 operations, some broken.
    for _ in 0..40 {
        let n = g.rng.random_range(0..14);
        let items: Vec<String> = (0..n)
            .map(|_| match g.rng.random_range(0..6) {
                0 => "1".into(),
                1 => "{\"query\":\"{\"}".into(),
                2 => request_body(&g.operation("Mutation", Knobs { wrong: 0.1, ..Knobs::default() }), None),
                _ => request_body(&g.operation("Query", Knobs { wrong: 0.1, ..Knobs::default() }), None),
            })
            .collect();
        let body = format!("[{}]", items.join(","));
        let auth = auths(&mut g, &admin);
        // More than 10 is too large, unless an item is no request at all (then the body is
        // no GraphQL request).
        let all_requests = items.iter().all(|i| i.starts_with('{'));
        if let Some((status, value)) = f.graphql("batches", auth.as_deref(), body.clone()).await
            && n > 10
        {
            let code = value["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
            let expected = if all_requests { "BATCH_TOO_LARGE" } else { "BAD_REQUEST" };
            if status != 400 || code != expected {
                f.fail("batches", &body, format!("a batch of {n}: {status} {code}, expected 400 {expected}"));
            }
        }
    }
    // Random mutations with random inputs, anonymous and with the admin key.
    for i in 0..300 {
        let field = g.root_field("Mutation");
        let op = format!("mutation {{ {} }}", g.field_call(&field, Knobs { wrong: 0.03, ..Knobs::default() }, false));
        let auth = if i % 2 == 0 { Some(admin.as_str()) } else { None };
        f.graphql("random mutations", auth, request_body(&op, None)).await;
    }
    // Random queries, anonymous and with the admin key; crafted `after` cursors.
    for i in 0..100 {
        let mut op = g.operation("Query", Knobs { wrong: 0.03, ..Knobs::default() });
        if i % 4 == 0 {
            let value = g
                .pick(&["2099-01-01T00:00:00Z", "-262143-01-01T00:00:00Z", "x", "", "FREEPASS", "99999999999999999999"])
                .to_string();
            let id = g.pick(&["1", "-1", "9223372036854775807", "\"x\"", "null", "1e400"]).to_string();
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{{\"value\":{},\"id\":{id}}}", serde_json::to_string(&value).unwrap()));
            let sort = g.pick(&["CREATED_AT", "PROMO_CODE", "TOTAL"]).to_string();
            op = format!("{{ orders(orderBy: {{ field: {sort} }}, after: \"{cursor}\") {{ edges {{ cursor }} }} }}");
        }
        let auth = if i % 3 == 0 { None } else { Some(admin.as_str()) };
        f.graphql("random queries", auth, request_body(&op, None)).await;
    }
    // GET: queries, mutations (405), garbage parameters.
    for _ in 0..40 {
        let query = match g.rng.random_range(0..5) {
            0 => format!("query={}", percent(&g.operation("Query", Knobs::default()))),
            1 => format!("query={}", percent(&g.operation("Mutation", Knobs::default()))),
            2 => format!(
                "query={}&variables={}",
                percent("query($s: String!) { shop(slug: $s) { name } }"),
                percent(g.word(&["{\"s\":1}", "x", "[", "{\"s\":\"demo\"}"]))
            ),
            3 => format!("query=%ZZ{}&operationName=%FF", g.name()),
            _ => format!(
                "query={}&operationName={}",
                percent("query A { __typename } mutation B { removePromo(cartId: \"x\") { cart { id } } }"),
                g.pick(&["A", "B", "C", ""])
            ),
        };
        let auth = auths(&mut g, &admin);
        let is_mutation = query.starts_with("query=mutation") || query.ends_with("operationName=B");
        if let Some((status, _)) = f.graphql_get("GET", auth.as_deref(), &query).await
            && is_mutation
            && status != 405
        {
            f.fail("GET", &query, format!("a mutation over GET answered {status}, expected 405"));
        }
    }
    // Token soup: syntactically random documents.
    for _ in 0..80 {
        let tokens = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "$",
            "...",
            "@",
            "=",
            "!",
            "|",
            "&",
            "query",
            "mutation",
            "subscription",
            "fragment",
            "on",
            "shop",
            "promoCodes",
            "createPromoCode",
            "input",
            "\"x\"",
            "\"\"\"b\"\"\"",
            "1",
            "-1.5e9",
            "null",
            "true",
            "#c\n",
            ",",
            "\u{0}",
            "\"\\u0000\"",
            "__schema",
            "__typename",
            "slug",
            "Query",
        ];
        let n = g.rng.random_range(1..60);
        let doc: Vec<&str> = (0..n).map(|_| *g.pick(&tokens)).collect();
        f.graphql("token soup", Some(&admin), request_body(&doc.join(" "), None)).await;
    }

    // Sweeps with the admin key: every String and ID argument and input field of every
    // root field holding a NUL byte, then 60 000 characters, and every decimal one (`percentOff`, `amountOff`,
    // `amount`) holding extreme decimals, in turn, the rest plausible.
    let mut serial = 0;
    let strings = |ty: &str, _: &str| ty == "String" || ty == "ID";
    sweep(&mut f, &mut g, &admin, "NUL sweep", strings, &["sweep\u{0}nul".to_owned()], &mut serial).await;
    let long = vec!["x".repeat(60_000)];
    sweep(&mut f, &mut g, &admin, "long-string sweep", strings, &long, &mut serial).await;
    let decimals = |ty: &str, name: &str| ty == "String" && ["percentOff", "amountOff", "amount"].contains(&name);
    let extremes: Vec<String> = DECIMALS.iter().map(|d| d.to_string()).collect();
    sweep(&mut f, &mut g, &admin, "decimal sweep", decimals, &extremes, &mut serial).await;

    // --- REST ----------------------------------------------------------------------------

    let fields = [
        "code",
        "discount_type",
        "percent_off",
        "amount_off",
        "event_id",
        "expires_at",
        "usage_limit",
        "max_per_customer",
        "description",
        "active",
    ];
    let rest_value = |g: &mut Gen, field: &str| -> String {
        let right = match field {
            "code" => Lit::Str(if g.chance(0.5) {
                format!("FZ{}", g.rng.random_range(0..100_000))
            } else {
                let unicode = g.chance(0.3);
                g.string(Knobs { unicode, ..Knobs::default() })
            }),
            "discount_type" => Lit::Str(
                g.pick(&["PERCENTAGE", "FIXED_AMOUNT", "percentage", "fixed_amount", "Percentage", "BOGO", ""])
                    .to_string(),
            ),
            "percent_off" | "amount_off" => {
                if g.chance(0.5) {
                    Lit::Str(g.pick(STRINGS).to_string())
                } else {
                    Lit::Num(
                        g.pick(&[
                            "5",
                            "10",
                            "100",
                            "101",
                            "0",
                            "-1",
                            "12.5",
                            "1e2",
                            "1e400",
                            "9223372036854775807",
                            "9223372036854775808",
                            "99999999999999999999999",
                        ])
                        .to_string(),
                    )
                }
            }
            "event_id" | "usage_limit" | "max_per_customer" => Lit::Num(g.pick(INTS).to_string()),
            "expires_at" => Lit::Str(g.pick(DATES).to_string()),
            "description" => Lit::Str(if g.chance(0.1) {
                g.long_string()
            } else {
                g.string(Knobs { unicode: true, ..Knobs::default() })
            }),
            "active" => Lit::Bool(g.chance(0.5)),
            _ => Lit::Null,
        };
        if g.chance(0.15) { g.wrong().json() } else { right.json() }
    };
    let rest_body = |g: &mut Gen| -> String {
        let mut parts = vec![];
        for field in fields {
            if g.chance(0.5) {
                parts.push(format!("\"{field}\":{}", rest_value(g, field)));
            }
        }
        if g.chance(0.1) {
            parts.push(format!("\"{}\":1", g.name()));
        }
        if g.chance(0.05) && !parts.is_empty() {
            parts.push(parts[0].clone());
        }
        let body = format!("{{{}}}", parts.join(","));
        match g.rng.random_range(0..20) {
            0 => {
                let mut cut = g.rng.random_range(0..body.len());
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body[..cut].to_owned()
            }
            1 => g.pick(&["", "null", "[]", "1", "\"x\"", "[{}]", "{\"code\":{\"a\":[]}}"]).to_string(),
            _ => body,
        }
    };
    let ids: Vec<String> = [
        "1",
        "2",
        "3",
        "6",
        "7",
        "0",
        "-1",
        "999999",
        "9223372036854775807",
        "9223372036854775808",
        "abc",
        "1.0",
        "%20",
        "%00",
        "%E2%82%AC",
        "1%2F2",
        "%FF",
        "%C3",
        "1;2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dry = |g: &mut Gen| -> String {
        g.pick(&[
            "",
            "",
            "?dry_run=true",
            "?dry_run=false",
            "?dry_run=1",
            "?dry_run=maybe",
            "?x=1",
            "?dry_run=true&dry_run=false",
        ])
        .to_string()
    };
    let rest_auth = |g: &mut Gen, admin: &str| -> Option<String> {
        match g.rng.random_range(0..10) {
            0 => None,
            1 => Some("Bearer nope".into()),
            2 => Some("Bearer".into()),
            3 => Some(format!("bearer {}", &admin[7..])),
            _ => Some(admin.to_owned()),
        }
    };

    // POST /admin/promo_codes: wrong types, missing and extra fields, huge numbers.
    for _ in 0..150 {
        let body = rest_body(&mut g);
        let query = dry(&mut g);
        let auth = rest_auth(&mut g, &admin);
        f.rest(
            "REST POST",
            Method::POST,
            &format!("/admin/promo_codes{query}"),
            Some("application/json"),
            auth.as_deref(),
            Some(body),
        )
        .await;
    }
    // PATCH /admin/promo_codes/{id}.
    for _ in 0..120 {
        let id = g.pick(&ids).clone();
        let body = rest_body(&mut g);
        let query = dry(&mut g);
        let auth = rest_auth(&mut g, &admin);
        f.rest(
            "REST PATCH",
            Method::PATCH,
            &format!("/admin/promo_codes/{id}{query}"),
            Some("application/json"),
            auth.as_deref(),
            Some(body),
        )
        .await;
    }
    // GET and DELETE one code.
    for _ in 0..40 {
        let id = g.pick(&ids).clone();
        let method = if g.chance(0.5) { Method::GET } else { Method::DELETE };
        let query = if method == Method::DELETE { "?dry_run=true".to_owned() } else { dry(&mut g) };
        let auth = rest_auth(&mut g, &admin);
        f.rest("REST GET/DELETE", method, &format!("/admin/promo_codes/{id}{query}"), None, auth.as_deref(), None)
            .await;
    }
    // The list's query parameters.
    for _ in 0..60 {
        let mut params = vec![];
        let pools: [(&str, &[&str]); 6] = [
            ("status", &["all", "ACTIVE", "expired", "deleted", "sleeping", "", "%00"]),
            ("limit", &["1", "0", "-1", "200", "201", "18446744073709551616", "x", ""]),
            ("cursor", &["1", "-1", "9223372036854775808", "abc", ""]),
            ("event_id", &["1", "0", "99999999999999999999", "x"]),
            ("search", &["15", "%25", "_", "%00", "%E2%82%AC", "%FF", "NEWS"]),
            ("bogus", &["1"]),
        ];
        for (key, values) in pools {
            if g.chance(0.4) {
                params.push(format!("{key}={}", g.pick(values)));
            }
        }
        let auth = rest_auth(&mut g, &admin);
        f.rest(
            "REST list",
            Method::GET,
            &format!("/admin/promo_codes?{}", params.join("&")),
            None,
            auth.as_deref(),
            None,
        )
        .await;
    }
    // The CSV report.
    for _ in 0..40 {
        let mut params = vec![];
        if g.chance(0.8) {
            params.push(format!("from={}", percent(g.word(DATES))));
        }
        if g.chance(0.8) {
            params.push(format!("to={}", percent(g.word(DATES))));
        }
        if g.chance(0.4) {
            params.push(format!("group_by={}", g.pick(&["code", "code_and_utm_source", "utm", "", "%FF"])));
        }
        if g.chance(0.1) {
            params.push("extra=1".into());
        }
        let auth = rest_auth(&mut g, &admin);
        f.rest(
            "REST CSV",
            Method::GET,
            &format!("/admin/reports/promo_codes.csv?{}", params.join("&")),
            None,
            auth.as_deref(),
            None,
        )
        .await;
    }
    // Invoices: ids, tokens, keys.
    for _ in 0..30 {
        let id = g.pick(&ids).clone();
        let token = *g.pick(&["", "?token=", "?token=abc", "?token=%00", "?token=a&token=b", "?token=%FF", "?other=1"]);
        let auth = rest_auth(&mut g, &admin);
        f.rest("REST invoice", Method::GET, &format!("/orders/{id}/invoice.html{token}"), None, auth.as_deref(), None)
            .await;
    }
    // Wrong content types and broken bodies on the writes.
    for _ in 0..40 {
        let mut ct = *g.pick(&[
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json; charset=latin1"),
            Some("application/json"),
        ]);
        let body = match g.rng.random_range(0..4) {
            0 => "{\"code\": ".to_owned(),
            1 => "code=X&discount_type=PERCENTAGE".to_owned(),
            2 => {
                // A large body goes as JSON: refused by its content type, it would be
                // answered before it is read and the connection reset under the client
                // still sending it (an HTTP race, not the server's failure).
                ct = Some("application/json");
                format!("{{\"code\":\"BIG\",\"description\":\"{}\"}}", "x".repeat(600_000))
            }
            _ => "{\"code\":\"\\ud800\"}".to_owned(),
        };
        let (method, path) = if g.chance(0.5) {
            (Method::POST, "/admin/promo_codes".to_owned())
        } else {
            (Method::PATCH, "/admin/promo_codes/1?dry_run=true".to_owned())
        };
        f.rest("REST bodies", method, &path, ct, Some(&admin), Some(body)).await;
    }

    // The REST NUL sweep: each string field, parameter and token holding a NUL byte.
    for field in ["code", "discount_type", "percent_off", "amount_off", "expires_at", "description"] {
        let mut body = json!({ "code": "RESTNUL", "discount_type": "PERCENTAGE", "percent_off": "10" });
        body[field] = json!("nul\u{0}byte");
        f.rest(
            "REST NUL sweep",
            Method::POST,
            "/admin/promo_codes",
            Some("application/json"),
            Some(&admin),
            Some(body.to_string()),
        )
        .await;
        let patch = json!({ field: "nul\u{0}byte" });
        f.rest(
            "REST NUL sweep",
            Method::PATCH,
            "/admin/promo_codes/1?dry_run=true",
            Some("application/json"),
            Some(&admin),
            Some(patch.to_string()),
        )
        .await;
    }
    for path in [
        "/admin/promo_codes?search=%00",
        "/admin/promo_codes?status=%00",
        "/admin/promo_codes/%00",
        "/admin/reports/promo_codes.csv?from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z&group_by=%00",
        "/orders/1/invoice.html?token=%00",
        "/orders/1/invoice.html?token=a%00b",
    ] {
        let auth = if path.starts_with("/orders") { None } else { Some(admin.as_str()) };
        f.rest("REST NUL sweep", Method::GET, path, None, auth, None).await;
    }

    // The REST long-string sweep: 60 000 characters in each string field and parameter.
    let long = "x".repeat(60_000);
    for field in ["code", "discount_type", "percent_off", "amount_off", "expires_at", "description"] {
        let mut body = json!({ "code": "RESTLONG", "discount_type": "PERCENTAGE", "percent_off": "10" });
        body[field] = json!(long);
        let post = "/admin/promo_codes?dry_run=true";
        f.rest(
            "REST long-string sweep",
            Method::POST,
            post,
            Some("application/json"),
            Some(&admin),
            Some(body.to_string()),
        )
        .await;
    }
    for path in [
        format!("/admin/promo_codes?search={long}"),
        format!("/admin/promo_codes?status={long}"),
        format!("/admin/promo_codes/{long}"),
        format!("/admin/reports/promo_codes.csv?from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z&group_by={long}"),
    ] {
        f.rest("REST long-string sweep", Method::GET, &path, None, Some(&admin), None).await;
    }
    f.rest("REST long-string sweep", Method::GET, &format!("/orders/1/invoice.html?token={long}"), None, None, None)
        .await;

    // The REST decimal sweep.
    for value in DECIMALS {
        for (field, kind) in [("percent_off", "PERCENTAGE"), ("amount_off", "FIXED_AMOUNT")] {
            let body = json!({ "code": "RESTDEC", "discount_type": kind, field: value });
            let post = "/admin/promo_codes?dry_run=true";
            f.rest(
                "REST decimal sweep",
                Method::POST,
                post,
                Some("application/json"),
                Some(&admin),
                Some(body.to_string()),
            )
            .await;
            let patch = json!({ "discount_type": kind, field: value }).to_string();
            let path = "/admin/promo_codes/1?dry_run=true";
            f.rest("REST decimal sweep", Method::PATCH, path, Some("application/json"), Some(&admin), Some(patch))
                .await;
        }
    }

    // --- Afterwards ----------------------------------------------------------------------

    let health = f.client.get(format!("{}/healthz", app.address)).send().await.expect("the server still answers");
    assert_eq!(health.status(), 200, "/healthz after the fuzz");
    // (Random `updateShopSettings` calls may rename the shop: a valid write.)
    let shop = app.gql(r#"{ shop(slug: "demo") { slug events { id } } }"#, json!({})).await;
    assert_eq!(shop["data"]["shop"]["slug"], "demo", "the storefront still works: {shop}");
    let viewer = app.gql_as(Some(&admin[7..]), "{ viewer { scope } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"]["scope"], "ADMIN", "the admin key still works: {viewer}");

    let Tally { graphql, rest, server_errors, per_category, failures } = f.tally;
    for (category, n) in &per_category {
        println!("fuzz: {n:5} {category}");
    }
    println!(
        "fuzz: {graphql} GraphQL cases, {rest} REST cases, {server_errors} 5xx (seed {seed:#x}, {:.1?})",
        started.elapsed()
    );
    assert!(graphql >= 1_000 && rest >= 400, "the fuzz ran its cases: {graphql} GraphQL, {rest} REST");
    if std::env::var("TIXSHOP_FUZZ_DUMP").is_ok() {
        for failure in &failures {
            eprintln!("FAILURE {failure}");
        }
    }
    // One line per kind of wrong answer, with its count and a first request.
    let mut kinds: BTreeMap<String, (usize, &String)> = BTreeMap::new();
    for failure in &failures {
        let kind: String =
            failure.lines().next().unwrap_or_default().chars().filter(|c| !c.is_ascii_digit()).take(160).collect();
        kinds.entry(kind).or_insert((0, failure)).0 += 1;
    }
    let summary: Vec<String> = kinds.values().map(|(n, first)| format!("{n} × {first}")).collect();
    assert!(
        failures.is_empty(),
        "{} of the fuzz's requests were answered wrongly:\n{}",
        failures.len(),
        summary.join("\n")
    );
    assert_eq!(server_errors, 0);
}

/// Decimal strings at and beyond what `rust_decimal` holds.
const DECIMALS: &[&str] = &[
    "79228162514264337593543950335",
    "-79228162514264337593543950335",
    "7922816251426433759354395033.5",
    "1000000000000000000000000000",
    "792281625142643375935439503.35",
    "0.0000000000000000000000000001",
    "99999999999999999999999999999999",
    "1e27",
    "-0",
    "100.001",
];

/// Every argument and input field (one level into input objects) that `targeted(type,
/// name)` picks, of every root field, holding each of `poisons` in turn while the rest is
/// plausible; sent with `admin`.
async fn sweep(
    f: &mut Fuzz<'_>,
    g: &mut Gen<'_>,
    admin: &str,
    category: &'static str,
    targeted: impl Fn(&str, &str) -> bool,
    poisons: &[String],
    serial: &mut usize,
) {
    let sdl = g.sdl;
    for root in ["Query", "Mutation"] {
        for field in sdl.roots(root) {
            let args: Vec<&InputValueDefinition> = field.arguments.iter().map(|a| &a.node).collect();
            // (argument, input field) to poison.
            let mut targets: Vec<(usize, Option<String>)> = vec![];
            for (i, a) in args.iter().enumerate() {
                let ty = named(&a.ty.node);
                if targeted(ty, a.name.node.as_str()) {
                    targets.push((i, None));
                }
                for f in sdl.inputs.get(ty).into_iter().flatten() {
                    if targeted(named(&f.ty.node), f.name.node.as_str()) {
                        targets.push((i, Some(f.name.node.to_string())));
                    }
                }
            }
            for (target, inner) in targets {
                for poison in poisons {
                    *serial += 1;
                    let mut passed = vec![];
                    for (i, a) in args.iter().enumerate() {
                        let required = !a.ty.node.nullable && a.default_value.is_none();
                        if i != target && !required {
                            continue;
                        }
                        let mut value = g.plausible(&a.ty.node, a.name.node.as_str(), *serial);
                        if i == target {
                            let bad = Lit::Str(poison.clone());
                            value = match (inner.as_deref(), value) {
                                (Some(name), Lit::Obj(mut fields)) => {
                                    fields.retain(|(k, _)| k != name);
                                    let list = sdl.inputs[named(&a.ty.node)]
                                        .iter()
                                        .any(|f| f.name.node == name && matches!(f.ty.node.base, BaseType::List(_)));
                                    fields.push((name.to_owned(), if list { Lit::List(vec![bad]) } else { bad }));
                                    Lit::Obj(fields)
                                }
                                (_, Lit::List(_)) => Lit::List(vec![bad]),
                                _ => bad,
                            };
                        }
                        passed.push(format!("{}: {}", a.name.node, value.graphql()));
                    }
                    let selection = g.selection(named(&field.ty.node), 3);
                    let keyword = if root == "Mutation" { "mutation" } else { "query" };
                    let doc = format!("{keyword} {{ {}({}) {selection} }}", field.name.node, passed.join(", "));
                    f.graphql(category, Some(admin), request_body(&doc, None)).await;
                }
            }
        }
    }
}

/// An admin key of the demo shop with the id 4242: out of reach of the generated ids.
async fn fuzz_admin_key(app: &TestApp) -> String {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tixshop::domain::api_key::{KeyName, Scope};
    use tixshop::entities::api_key;
    use tixshop::services::{accounts, api_keys};
    let demo = accounts::find_by_slug(&app.db, "demo").await.unwrap().unwrap();
    let created = api_keys::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        demo.id,
        &KeyName::parse("fuzz").unwrap(),
        Scope::Admin,
    )
    .await
    .unwrap();
    api_key::Entity::update_many()
        .col_expr(api_key::Column::Id, Expr::value(4242_i64))
        .filter(api_key::Column::Id.eq(created.key.id))
        .exec(&app.db)
        .await
        .unwrap();
    created.secret
}

/// `field` called with every argument as a variable: the document and the variables'
/// JSON (values per `knobs`, so possibly of the wrong type).
fn with_variables(g: &mut Gen, root: &str, field: &FieldDefinition, knobs: Knobs) -> (String, String) {
    let mut definitions = vec![];
    let mut passed = vec![];
    let mut values = vec![];
    for (i, a) in field.arguments.iter().enumerate() {
        let a = &a.node;
        definitions.push(format!("$v{i}: {}", a.ty.node));
        passed.push(format!("{}: $v{i}", a.name.node));
        if g.chance(0.9) {
            values.push(format!("\"v{i}\":{}", g.value(&a.ty.node, knobs, 0).json()));
        }
    }
    let keyword = if root == "Mutation" { "mutation" } else { "query" };
    let definitions = if definitions.is_empty() { String::new() } else { format!("({})", definitions.join(", ")) };
    let passed = if passed.is_empty() { String::new() } else { format!("({})", passed.join(", ")) };
    let selection = g.selection(named(&field.ty.node), 1);
    (
        format!("{keyword} F{definitions} {{ {}{passed} {selection} }}", field.name.node),
        format!("{{{}}}", values.join(",")),
    )
}

// ---------------------------------------------------------------------------------------
// What the fuzz found, as exact cases (each asserts the correct behaviour).

const CHILD: &str = "TIXSHOP_FUZZ_CHILD";

/// BUG found by this fuzz: a GraphQL argument whose value literal nests lists or input
/// objects a few hundred to a few thousand levels deep (`{ shop(slug: [[[…"demo"…]]]) {
/// name } }`, 2 000 levels ≈ 4 KB) overflows the stack of the worker thread inside
/// `async_graphql_parser::parse::parse_value` (recursive, not bounded by
/// `limit_recursive_depth`, which counts selection sets only) and aborts the whole server
/// process: from about 400 levels in a debug build, about 1 500 in release, on POST and
/// on GET (whose mutation check parses the document too). The correct answer is a typed
/// GraphQL error, the server staying up. The cases run in a child process so that the
/// crash fails this test instead of killing every test of the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_values_do_not_crash_the_server() {
    if std::env::var_os(CHILD).is_none() {
        let exe = std::env::current_exe().unwrap();
        let child = tokio::process::Command::new(exe)
            .args(["--exact", "fuzz::deeply_nested_values_do_not_crash_the_server", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output();
        let output =
            tokio::time::timeout(Duration::from_secs(120), child).await.expect("the child ends within 120 s").unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the server process with deeply nested values: {} (a stack overflow aborts it)\n{}\n{}",
            output.status,
            clip(&stdout, 3_000),
            clip(&stderr, 3_000)
        );
        return;
    }
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for (open, close, inner) in [("[", "]", "\"demo\""), ("{a: ", "}", "\"demo\"")] {
        for depth in [500, 1_000, 2_000, 5_000] {
            let doc = format!("{{ shop(slug: {}{inner}{}) {{ name }} }}", open.repeat(depth), close.repeat(depth));
            for get in [false, true] {
                eprintln!("nesting {depth} levels of `{open}` over {}", if get { "GET" } else { "POST" });
                let request = if get {
                    client.get(format!("{}/graphql?query={}", app.address, percent(&doc)))
                } else {
                    client.post(format!("{}/graphql", app.address)).json(&json!({ "query": doc }))
                };
                let response = request.send().await.unwrap_or_else(|e| panic!("no answer to depth {depth}: {e}"));
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                assert!(status < 500, "{status}: {body}");
                check_graphql_response(&body).unwrap();
                assert!(
                    body["errors"].as_array().is_some_and(|e| !e.is_empty()),
                    "refused: {}",
                    clip(&body.to_string(), 300)
                );
            }
        }
    }
    let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// BUG found by this fuzz: REST refusals that are not the JSON error envelope, because
/// axum's own extractors answer `text/plain` before the handler runs:
/// - a path `{id}` that is not UTF-8 after percent-decoding (`/admin/promo_codes/%FF`,
///   `/orders/%FF/invoice.html`): 400 "Invalid URL: Invalid UTF-8 in `id`" (`Path<String>`
///   in `rest::show`/`update`/`delete` and `reports::invoice_html`);
/// - a repeated `token` on the invoice (`?token=a&token=b`): 400 "Failed to deserialize
///   query string: duplicate field `token`" (`Query<InvoiceParams>`, not wrapped in a
///   `Result` as the other handlers' queries are).
#[tokio::test]
async fn rest_refusals_are_always_the_json_envelope() {
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/admin/promo_codes/%FF", None),
        (Method::PATCH, "/admin/promo_codes/%FF", Some(json!({ "active": false }))),
        (Method::DELETE, "/admin/promo_codes/%C3?dry_run=true", None),
        (Method::GET, "/orders/%FF/invoice.html", None),
        (Method::GET, "/orders/1/invoice.html?token=a&token=b", None),
    ];
    for (method, path, body) in cases {
        let mut request =
            app.http.request(method.clone(), format!("{}{path}", app.address)).headers(app.admin_headers());
        if path.contains("token=") {
            request = app.http.request(method.clone(), format!("{}{path}", app.address));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!((400..500).contains(&status), "{method} {path}: {status} {text}");
        let envelope: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: {status}, not the JSON envelope: {text}"));
        let code = envelope["error"]["code"].as_str().unwrap_or_default();
        assert!(REST_CODES.contains(&code), "{method} {path}: {text}");
    }
}

/// BUG found by this fuzz on PostgreSQL (SQLite stores NUL bytes, so it passes there):
/// a NUL byte in any string that reaches a query is refused by PostgreSQL ("invalid byte
/// sequence for encoding UTF8: 0x00") and the server answers an internal error (GraphQL
/// `INTERNAL`, REST 500) instead of refusing the input: slugs, cart ids, access tokens,
/// searches and filters, descriptions and names. Run with
/// `TIXSHOP_TEST_DATABASE_URL=postgres://…` to see it.
#[tokio::test]
async fn nul_bytes_are_refused_not_internal_errors() {
    let app = spawn_app().await;
    let operations = [
        "{ shop(slug: \"demo\\u0000\") { name } }",
        "{ cart(id: \"x\\u0000\") { id } }",
        "mutation { createCart(shopSlug: \"demo\\u0000\") { userErrors { code } } }",
        "mutation { addToCart(cartId: \"x\\u0000\", ticketTypeId: \"1\") { userErrors { code } } }",
        "mutation { setCartEmail(cartId: \"x\\u0000\", email: \"a@example.com\") { userErrors { code } } }",
        "mutation { applyPromo(cartId: \"x\\u0000\", code: \"NEWS10\") { userErrors { code } } }",
        "mutation { removePromo(cartId: \"x\\u0000\") { userErrors { code } } }",
        "mutation { checkout(cartId: \"x\\u0000\", input: { email: \"a@example.com\", provider: STRIPE, successUrl: \"https://e.example/s\", cancelUrl: \"https://e.example/c\" }) { userErrors { code } } }",
        "mutation { capturePaypalOrder(orderId: \"1\", accessToken: \"t\\u0000\") { userErrors { code } } }",
        "{ promoCodes(filter: { search: \"a\\u0000\" }) { nodes { id } } }",
        "{ orders(filter: { promoCode: \"a\\u0000\" }) { edges { cursor } } }",
        "{ orders(filter: { utmSource: \"a\\u0000\" }) { edges { cursor } } }",
        "mutation { updatePromoCode(id: \"1\", input: { description: \"a\\u0000\" }) { userErrors { code } } }",
        "mutation { createWebhookEndpoint(input: { url: \"https://e.example/h\", events: [\"order.paid\"], description: \"a\\u0000\" }) { userErrors { code } } }",
        "mutation { createApiKey(input: { name: \"a\\u0000\", scope: READ }) { userErrors { code } } }",
    ];
    let mut internal = vec![];
    for op in operations {
        let body = app.gql_admin(op, json!({})).await;
        if check_graphql_response(&body).is_err() {
            internal.push(format!("{op}\n    -> {body}"));
        }
    }
    let url = |p: &str| format!("{}{p}", app.address);
    let rest = [
        app.http.get(url("/admin/promo_codes?search=%00")).headers(app.admin_headers()),
        app.http.post(url("/admin/promo_codes")).headers(app.admin_headers()).json(
            &json!({ "code": "NULDESC", "discount_type": "PERCENTAGE", "percent_off": "5", "description": "a\u{0}" }),
        ),
        app.http.get(url("/orders/1/invoice.html?token=a%00b")),
    ];
    for request in rest {
        let request = request.build().unwrap();
        let line = format!("{} {}", request.method(), request.url());
        let response = app.http.execute(request).await.unwrap();
        if response.status().is_server_error() {
            internal.push(format!("{line}\n    -> {} {}", response.status(), response.text().await.unwrap()));
        }
    }
    assert!(internal.is_empty(), "internal errors for NUL bytes:\n{}", internal.join("\n"));
}

/// BUG found by this fuzz: a percentage too large for `rust_decimal` to multiply by 100
/// (above about 7.9e26, e.g. "1000000000000000000000000000") panics the handler with
/// "Multiplication overflowed" in `PercentOff::from_decimal` (`value *
/// Decimal::ONE_HUNDRED`, unchecked), so the client gets no answer at all: the connection
/// is dropped. On `createPromoCode`, `updatePromoCode` and the REST POST and PATCH, dry
/// runs included. The correct answer is the INVALID_PERCENT_OFF refusal.
#[tokio::test]
async fn huge_percentages_are_refused_not_a_panic() {
    let app = spawn_app().await;
    let news10 = crate::helpers::promo_code_id(&app, "NEWS10").await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let huge = "1000000000000000000000000000";
    let graphql = [
        format!(
            "mutation {{ createPromoCode(input: {{ code: \"HUGEPCT\", discountType: PERCENTAGE, percentOff: \"{huge}\" }}, dryRun: true) {{ userErrors {{ code }} }} }}"
        ),
        format!(
            "mutation {{ updatePromoCode(id: \"{news10}\", input: {{ percentOff: \"{huge}\" }}, dryRun: true) {{ userErrors {{ code }} }} }}"
        ),
    ];
    for op in &graphql {
        let response = client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({ "query": op }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer (the handler panicked?) to {op}: {e}"));
        let body: Value = response.json().await.unwrap();
        let payload = body["data"].as_object().and_then(|d| d.values().next()).cloned().unwrap_or_default();
        assert_eq!(payload["userErrors"][0]["code"], "INVALID_PERCENT_OFF", "{op}: {body}");
    }
    let rest = [
        (
            Method::POST,
            "/admin/promo_codes?dry_run=true".to_owned(),
            json!({ "code": "HUGEPCT", "discount_type": "PERCENTAGE", "percent_off": huge }),
        ),
        (Method::PATCH, format!("/admin/promo_codes/{news10}?dry_run=true"), json!({ "percent_off": huge })),
    ];
    for (method, path, body) in rest {
        let response = client
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer (the handler panicked?) to {method} {path}: {e}"));
        assert_eq!(response.status(), 422, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["errors"][0]["code"], "INVALID_PERCENT_OFF", "{method} {path}: {body}");
    }
}

/// BUG found by this fuzz on SQLite: a promo code search longer than about 50 000 bytes
/// is an internal error (GraphQL `INTERNAL`, REST 500): the search becomes a LIKE pattern
/// and SQLite refuses patterns above SQLITE_MAX_LIKE_PATTERN_LENGTH (50 000 bytes: "LIKE
/// or GLOB pattern too complex"). The correct answer refuses the input (or finds nothing).
#[tokio::test]
async fn long_searches_are_refused_not_internal_errors() {
    let app = spawn_app().await;
    let search = "x".repeat(60_000);
    let mut wrong = vec![];
    let body = app
        .gql_admin("query($s: String!) { promoCodes(filter: { search: $s }) { nodes { id } } }", json!({ "s": search }))
        .await;
    if let Err(e) = check_graphql_response(&body) {
        wrong.push(format!("promoCodes(filter: {{ search: <60 000 × x> }}): {e}"));
    }
    let response = app
        .http
        .get(format!("{}/admin/promo_codes?search={search}", app.address))
        .headers(app.admin_headers())
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status.is_server_error() {
        wrong.push(format!("GET /admin/promo_codes?search=<60 000 × x>: {status} {}", response.text().await.unwrap()));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
