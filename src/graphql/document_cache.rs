//! Parsed GraphQL documents, kept by their text.
//!
//! A storefront sends the same few operations over and over (applyPromo, removePromo,
//! the cart query), and parsing one with async-graphql's pest grammar cost more than
//! the rest of async-graphql's work under load (perf of the load benchmark: `pest::*`
//! and the allocations of the syntax tree). The cache hands out a copy of the tree it
//! parsed before; validation, limits and execution still run on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::ServerResult;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;

/// Documents kept at most; when full, the cache starts over (a client sending ever new
/// texts then costs what it would without a cache).
const CAPACITY: usize = 512;

/// Longer texts are parsed every time: the cache's memory stays bounded by
/// `CAPACITY × MAX_TEXT` plus their trees.
const MAX_TEXT: usize = 8 * 1024;

/// The async-graphql extension (one cache per schema).
#[derive(Default)]
pub struct DocumentCache {
    documents: Arc<Mutex<HashMap<String, Arc<ExecutableDocument>>>>,
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCacheExtension { documents: self.documents.clone() })
    }
}

struct DocumentCacheExtension {
    documents: Arc<Mutex<HashMap<String, Arc<ExecutableDocument>>>>,
}

impl DocumentCacheExtension {
    fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.documents.lock().unwrap_or_else(|e| e.into_inner()).get(query).cloned()
    }

    fn put(&self, query: &str, document: &ExecutableDocument) {
        // Copied before the lock: other requests only wait for the map itself.
        let kept = Arc::new(document.clone());
        let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        if documents.len() >= CAPACITY {
            documents.clear();
        }
        documents.insert(query.to_owned(), kept);
    }
}

#[async_trait::async_trait]
impl Extension for DocumentCacheExtension {
    /// A text seen before gets a copy of its tree; a new one is parsed (with the
    /// schema's recursion and directive limits) and kept when it parsed.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_TEXT {
            return next.run(ctx, query, variables).await;
        }
        if let Some(document) = self.get(query) {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = next.run(ctx, query, variables).await?;
        self.put(query, &document);
        Ok(document)
    }
}
