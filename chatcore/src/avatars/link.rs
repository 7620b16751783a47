//! Where an avatar is served. chatcore knows an avatar by its owner and its content hash; the
//! transport that serves the image decides its URL.
//!
//! A transport installs its [`AvatarLinks`] around whatever it serializes
//! ([`AvatarLinks::scope`] for a request, [`AvatarLinks::in_scope`] for one value). Inside, each
//! [`AvatarUrl`] serializes as that transport's URL; outside (a value that the embedding
//! application serializes itself, or an event as it is stored), `avatar_url` is left out, and
//! `avatar`, the hash, is what to build a link from.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Serialize, Serializer};

use crate::UserId;

tokio::task_local! {
    static LINKS: AvatarLinks;
}

/// The URL of `owner`'s avatar with the content hash `hash`.
type UrlOf = dyn Fn(UserId, &str) -> String + Send + Sync;

/// How a transport links to avatars: the URL of a user's avatar with a given content hash.
#[derive(Clone)]
pub struct AvatarLinks {
    url: Arc<UrlOf>,
    key: LinksKey,
}

/// What tells links apart: links with the same key give every avatar the same URL, so that
/// an event serialized under one serves the others
/// ([`SharedEvent::json`](crate::events::SharedEvent::json)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinksKey {
    /// Made by [`AvatarLinks::new`]: equal only to its own clones.
    Made(u64),
    /// Made by [`AvatarLinks::under`] with this base.
    Under(Arc<str>),
}

impl AvatarLinks {
    /// Links built by `url(owner, hash)`. The hash changes with the image, so a URL that
    /// contains it may be cached for good.
    pub fn new(url: impl Fn(UserId, &str) -> String + Send + Sync + 'static) -> Self {
        static MADE: AtomicU64 = AtomicU64::new(0);
        AvatarLinks {
            url: Arc::new(url),
            key: LinksKey::Made(MADE.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Links `{base}/{owner}/avatar?v={hash}`. Links under the same base are the same links:
    /// an event serialized for one connection is sent as it is to the others.
    pub fn under(base: impl Into<String>) -> Self {
        let base: Arc<str> = base.into().into();
        let prefix = base.clone();
        AvatarLinks {
            url: Arc::new(move |owner, hash| format!("{prefix}/{owner}/avatar?v={hash}")),
            key: LinksKey::Under(base),
        }
    }

    pub(crate) fn key(&self) -> &LinksKey {
        &self.key
    }

    /// Runs `work` (a request's handling, serialization included) with these links.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        LINKS.scope(self.clone(), work).await
    }

    /// Runs `work` (typically one `serde_json::to_string`) with these links.
    pub fn in_scope<R>(&self, work: impl FnOnce() -> R) -> R {
        LINKS.sync_scope(self.clone(), work)
    }
}

impl fmt::Debug for AvatarLinks {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("AvatarLinks")
    }
}

/// A user's avatar as something to link to: serialized as the URL that the current
/// transport's [`AvatarLinks`] give it, and left out where there are none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvatarUrl {
    owner: UserId,
    hash: String,
}

impl AvatarUrl {
    pub(crate) fn of(owner: UserId, hash: Option<&str>) -> Option<AvatarUrl> {
        hash.map(|hash| AvatarUrl {
            owner,
            hash: hash.to_owned(),
        })
    }

    /// The URL under the links in scope, if any.
    pub fn resolve(&self) -> Option<String> {
        LINKS
            .try_with(|links| (links.url)(self.owner, &self.hash))
            .ok()
    }

    /// Whether `url` has nothing to serialize (as `skip_serializing_if`).
    pub fn unlinked(url: &Option<AvatarUrl>) -> bool {
        url.as_ref().is_none_or(|url| url.resolve().is_none())
    }
}

impl Serialize for AvatarUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.resolve() {
            Some(url) => serializer.serialize_str(&url),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(feature = "openapi")]
mod openapi {
    use std::borrow::Cow;

    use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
    use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
    use serde_json::Value;

    use super::AvatarUrl;

    impl Type for AvatarUrl {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn name() -> Cow<'static, str> {
            "string".into()
        }

        fn schema_ref() -> MetaSchemaRef {
            MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
        }

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            Some(self)
        }

        fn raw_element_iter<'a>(
            &'a self,
        ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    }

    impl ToJSON for AvatarUrl {
        fn to_json(&self) -> Option<Value> {
            self.resolve().map(Value::String)
        }
    }

    /// Only ever answered: a request that sends one is refused.
    impl ParseFromJSON for AvatarUrl {
        fn parse_from_json(_: Option<Value>) -> ParseResult<Self> {
            Err(ParseError::custom("avatar_url is read only"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_link_in_scope_and_not_at_all_outside() {
        let owner = UserId::new();
        let url = AvatarUrl::of(owner, Some("abc"));
        assert!(AvatarUrl::unlinked(&url));
        assert!(AvatarUrl::unlinked(&None));
        let links = AvatarLinks::new(|owner, hash| format!("/u/{owner}?v={hash}"));
        links.in_scope(|| {
            assert!(!AvatarUrl::unlinked(&url));
            assert_eq!(
                serde_json::to_value(&url).unwrap(),
                serde_json::json!(format!("/u/{owner}?v=abc"))
            );
        });
    }

    #[test]
    fn links_under_one_base_are_the_same_links() {
        let owner = UserId::new();
        let url = AvatarUrl::of(owner, Some("abc"));
        let (a, b) = (
            AvatarLinks::under("/api/users"),
            AvatarLinks::under("/api/users"),
        );
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), AvatarLinks::under("/chat/api/users").key());
        assert_eq!(
            b.in_scope(|| url.as_ref().and_then(AvatarUrl::resolve)),
            Some(format!("/api/users/{owner}/avatar?v=abc"))
        );
        let made = AvatarLinks::new(|_, _| String::new());
        assert_eq!(made.key(), made.clone().key());
        assert_ne!(made.key(), AvatarLinks::new(|_, _| String::new()).key());
    }
}
