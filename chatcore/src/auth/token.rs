//! JWT access tokens: HS256 only, with issuer, audience and expiry validated.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result, SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// How many verified tokens [`TokenKeys`] remembers.
const VERIFIED_TOKENS: usize = 16_384;

/// Signs and checks access tokens.
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Tokens whose signature and claims were checked, with their expiry (unix seconds): a
    /// client sends the same token with every request, and checking it again (an HMAC, two
    /// base64 decodings, a JSON parse) was the largest part of authenticating one. Keyed by
    /// the whole token, so only the very same bytes skip the check.
    verified: Mutex<HashMap<String, (TokenSubject, i64)>>,
}

/// What a valid token says.
#[derive(Clone, Copy)]
pub(crate) struct TokenSubject {
    pub(crate) user_id: UserId,
    pub(crate) session_id: SessionId,
}

impl TokenKeys {
    pub(crate) fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        // The algorithm is pinned: a token naming any other (including `none`) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn verified(&self) -> MutexGuard<'_, HashMap<String, (TokenSubject, i64)>> {
        // The map holds only checked tokens whatever a panic interrupted.
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String> {
        let claims = Claims {
            sub: user_id.as_uuid(),
            sid: session_id.as_uuid(),
            iat: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::internal)
    }

    /// The subject of a valid token: signed with this key, for this issuer and audience, not
    /// expired (a token is valid through its `exp` second, as `jsonwebtoken` counts).
    pub(crate) fn check(&self, token: &str) -> Result<TokenSubject> {
        let now = Utc::now().timestamp();
        if let Some((subject, expires)) = self.verified().get(token)
            && *expires >= now
        {
            return Ok(*subject);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::NotAuthorized)?;
        let subject = TokenSubject {
            user_id: data.claims.sub.into(),
            session_id: data.claims.sid.into(),
        };
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_TOKENS {
            verified.retain(|_, (_, expires)| *expires >= now);
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), (subject, data.claims.exp));
        Ok(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", "chatcore", "chatcore")
    }

    /// A token for a new user and session, valid from `issued_at` until `expires_at`.
    fn issued(keys: &TokenKeys, issued_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> String {
        keys.issue(UserId::new(), SessionId::new(), issued_at, expires_at)
            .unwrap()
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let keys = keys();
        let (user, session, now) = (UserId::new(), SessionId::new(), Utc::now());
        let token = keys
            .issue(user, session, now, now + Duration::hours(1))
            .unwrap();
        let subject = keys.check(&token).unwrap();
        assert_eq!((subject.user_id, subject.session_id), (user, session));

        let other = TokenKeys::new(b"another secret of enough length!", "chatcore", "chatcore");
        assert!(matches!(other.check(&token), Err(Error::NotAuthorized)));
        let wrong_audience = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "chatcore", "x");
        assert!(wrong_audience.check(&token).is_err());
        assert!(keys.check("not.a.token").is_err());
    }

    #[test]
    fn refuses_expired_and_unsigned_tokens() {
        let keys = keys();
        let now = Utc::now();
        let expired = issued(&keys, now - Duration::hours(2), now - Duration::hours(1));
        assert!(keys.check(&expired).is_err());

        // alg=none with the same claims.
        let valid = issued(&keys, now, now + Duration::hours(1));
        let payload = valid.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(keys.check(&format!("{none_header}.{payload}.")).is_err());
    }

    /// Remembering a checked token changes nothing of what is valid: a copy with another
    /// signature is still refused, and the token itself once its `exp` second has passed.
    #[test]
    fn remembered_tokens_are_still_checked() {
        let keys = keys();
        let now = Utc::now();
        let token = issued(&keys, now, now + Duration::seconds(1));
        assert!(keys.check(&token).is_ok());
        assert!(keys.check(&token).is_ok());
        let (unsigned, signature) = token.rsplit_once('.').unwrap();
        let mut forged = signature.as_bytes().to_vec();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = format!("{unsigned}.{}", String::from_utf8(forged).unwrap());
        assert!(matches!(keys.check(&forged), Err(Error::NotAuthorized)));

        std::thread::sleep(std::time::Duration::from_millis(2_100));
        assert!(matches!(keys.check(&token), Err(Error::NotAuthorized)));
    }

    #[test]
    fn remembers_a_bounded_number_of_tokens() {
        let keys = keys();
        let now = Utc::now();
        for _ in 0..VERIFIED_TOKENS + 10 {
            let token = issued(&keys, now, now + Duration::hours(1));
            keys.check(&token).unwrap();
            assert!(keys.verified().len() <= VERIFIED_TOKENS);
        }
    }
}
