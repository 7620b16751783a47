//! JWT access tokens: HS256 only, with issuer, audience and expiry validated.

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

/// Signs and checks access tokens.
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// What a valid token says.
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
        }
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

    pub(crate) fn check(&self, token: &str) -> Result<TokenSubject> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::NotAuthorized)?;
        Ok(TokenSubject {
            user_id: data.claims.sub.into(),
            session_id: data.claims.sid.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", "chatcore", "chatcore")
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
        let expired = keys
            .issue(
                UserId::new(),
                SessionId::new(),
                now - Duration::hours(2),
                now - Duration::hours(1),
            )
            .unwrap();
        assert!(keys.check(&expired).is_err());

        // alg=none with the same claims.
        let valid = keys
            .issue(
                UserId::new(),
                SessionId::new(),
                now,
                now + Duration::hours(1),
            )
            .unwrap();
        let payload = valid.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(keys.check(&format!("{none_header}.{payload}.")).is_err());
    }
}
