//! Checks on raw client input that must run before anything parses or stores it.
//!
//! - Nesting: async-graphql's parser recurses on nested values (`[[[…]]]`,
//!   `{a: {a: …}}`), and the depth limit it offers bounds selection sets only, so a few
//!   kilobytes of brackets would overflow the stack and abort the process. Documents
//!   nested deeper than [`MAX_NESTING`] are refused unparsed.
//! - NUL characters: PostgreSQL text cannot hold U+0000 (the statement fails), and no
//!   name, code or address needs one. Requests carrying one are refused up front, on
//!   both databases alike, instead of failing somewhere inside a query.

use async_graphql::Variables;

/// Deepest bracket nesting (`{`, `[`, `(`) a GraphQL document may have. Real queries
/// stay far below it (selection depth is limited separately); the parser's stack is
/// safe far above it.
pub const MAX_NESTING: usize = 64;

/// Why a document was refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nested deeper than [`MAX_NESTING`].
    #[error("the document is nested deeper than {MAX_NESTING} levels")]
    TooDeep,
    /// A NUL character (U+0000), literally or escaped.
    #[error("text may not contain NUL characters (U+0000)")]
    Nul,
}

/// The deepest bracket nesting of a GraphQL document, not counting brackets inside
/// strings, block strings or comments.
pub fn nesting(document: &str) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0_usize, 0_usize, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Whether `text` has a `\u0000` escape (JSON's or GraphQL's, also `\u{0}`), counting
/// only backslashes that are not themselves escaped.
pub fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut backslashes = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 {
            let rest = &bytes[i + 1..];
            let fixed = rest.len() >= 4 && rest[..4].iter().all(|&c| c == b'0');
            let braced = rest.first() == Some(&b'{')
                && rest[1..]
                    .iter()
                    .position(|&c| c == b'}')
                    .is_some_and(|end| end > 0 && rest[1..=end].iter().all(|&c| c == b'0'));
            if fixed || braced {
                return true;
            }
        }
        backslashes = 0;
    }
    false
}

fn value_has_nul(value: &async_graphql::Value) -> bool {
    use async_graphql::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Enum(name) => name.contains('\0'),
        Value::List(items) => items.iter().any(value_has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || value_has_nul(v)),
        _ => false,
    }
}

/// Checks one GraphQL request: its document and its (already decoded) variables.
pub fn check_request(query: &str, variables: &Variables) -> Result<(), Refusal> {
    if nesting(query) > MAX_NESTING {
        return Err(Refusal::TooDeep);
    }
    if query.contains('\0')
        || has_nul_escape(query)
        || variables.iter().any(|(k, v)| k.contains('\0') || value_has_nul(v))
    {
        return Err(Refusal::Nul);
    }
    Ok(())
}

/// Checks a raw JSON body or a decoded query string for NUL characters.
pub fn check_text(text: &str) -> Result<(), Refusal> {
    if text.contains('\0') || has_nul_escape(text) { Err(Refusal::Nul) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(nesting("{ shop(slug: \"demo\") { name } }"), 2);
        assert_eq!(nesting("{ a(x: [[[1]]]) }"), 5);
        assert_eq!(nesting("{ a(x: \"[[[[[[\") # {{{{{{\n }"), 2);
        assert_eq!(nesting("{ a(x: \"\"\" {{{{ \\\"\"\" {{{{ \"\"\") }"), 2);
        assert_eq!(nesting("{ a(x: \"\\\"{{{{\") }"), 2);
        let deep = format!("{{ shop(slug: {}\"demo\"{}) {{ name }} }}", "[".repeat(500), "]".repeat(500));
        assert_eq!(nesting(&deep), 502);
    }

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(r#"{"a":"x\u0000y"}"#));
        assert!(has_nul_escape(r#"{ a(x: "\u{0}") }"#));
        assert!(!has_nul_escape(r#"{"a":"x\\u0000y"}"#), "an escaped backslash, then text");
        assert!(!has_nul_escape(r#"{"a":"\u00e9 \u0041"}"#));
        assert!(check_text("plain").is_ok());
        assert_eq!(check_text("a\0b"), Err(Refusal::Nul));
    }
}
