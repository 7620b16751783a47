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

use serde::{Serialize, Serializer};

use crate::UserId;

tokio::task_local! {
    static LINKS: AvatarLinks;
}

/// The URL of `owner`'s avatar with the content hash `hash`.
type UrlOf = dyn Fn(UserId, &str) -> String + Send + Sync;

/// How a transport links to avatars: the URL of a user's avatar with a given content hash.
#[derive(Clone)]
pub struct AvatarLinks(Arc<UrlOf>);

impl AvatarLinks {
    /// Links built by `url(owner, hash)`. The hash changes with the image, so a URL that
    /// contains it may be cached for good.
    pub fn new(url: impl Fn(UserId, &str) -> String + Send + Sync + 'static) -> Self {
        AvatarLinks(Arc::new(url))
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
            .try_with(|links| (links.0)(self.owner, &self.hash))
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
}
