//! `/auth`: registration, login, logout, passwords and verification.

use chatcore::users::{
    Authenticated, DisplayName, Email, Login, Password, Phone, Register, Status, Username,
};
use poem::web::TypedHeader;
use poem::web::headers::UserAgent;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::{Auth, cleared_cookie, session_set_cookie};
use crate::models::{
    ChangePasswordRequest, LoginRequest, PasswordResetConfirm, PasswordResetRequest,
    RegisterRequest, VerificationConfirm,
};

pub(crate) struct AuthApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Registered {
    /// The account and its first session; the session cookie is set too.
    #[oai(status = 201)]
    Created(Json<Authenticated>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum LoggedIn {
    /// The account and a new session; the session cookie is set too.
    #[oai(status = 200)]
    Ok(Json<Authenticated>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum LoggedOut {
    /// The session ended; the session cookie is cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted; a token is on its way if the account exists.
    #[oai(status = 202)]
    Accepted,
}

fn optional<T>(
    value: Option<String>,
    parse: impl Fn(String) -> chatcore::Result<T>,
) -> chatcore::Result<Option<T>> {
    value.map(parse).transpose()
}

impl AuthApi {
    fn cookie_for(&self, auth: &Authenticated) -> String {
        session_set_cookie(&auth.session, &self.0.options)
    }
}

/// Registration, login, logout, passwords and verification.
#[OpenApi(prefix_path = "/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Creates an account and opens its first session: the answer carries the access token,
    /// and sets the session cookie for browsers.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        body: Json<RegisterRequest>,
        user_agent: Option<TypedHeader<UserAgent>>,
    ) -> ApiResult<Registered> {
        let body = body.0;
        let mut request = Register::new(
            Username::parse(body.username)?,
            Password::parse(body.password)?,
        );
        request.email = optional(body.email, Email::parse)?;
        request.display_name = optional(body.display_name, DisplayName::parse)?;
        request.phone = optional(body.phone, Phone::parse)?;
        request.status = optional(body.status, Status::parse)?;
        request.user_agent = user_agent.map(|agent| agent.0.to_string());
        let auth = self.0.service.register(request).await?;
        let cookie = self.cookie_for(&auth);
        Ok(Registered::Created(Json(auth), cookie))
    }

    /// Log in
    ///
    /// Opens a session for a username or email and password.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        body: Json<LoginRequest>,
        user_agent: Option<TypedHeader<UserAgent>>,
    ) -> ApiResult<LoggedIn> {
        let auth = self
            .0
            .service
            .login(Login {
                login: body.0.login,
                password: body.0.password,
                user_agent: user_agent.map(|agent| agent.0.to_string()),
            })
            .await?;
        let cookie = self.cookie_for(&auth);
        Ok(LoggedIn::Ok(Json(auth), cookie))
    }

    /// Log out
    ///
    /// Ends the current session at once, on every transport and node, and clears the cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: Auth) -> ApiResult<LoggedOut> {
        self.0.service.logout(auth.caller()).await?;
        Ok(LoggedOut::NoContent(cleared_cookie(&self.0.options)))
    }

    /// Change password
    ///
    /// Needs the current password; every other session of the caller ends.
    #[oai(path = "/password", method = "post", operation_id = "change_password")]
    async fn change_password(
        &self,
        auth: Auth,
        body: Json<ChangePasswordRequest>,
    ) -> ApiResult<Done> {
        let new = Password::parse(body.0.new_password)?;
        self.0
            .service
            .change_password(auth.caller(), &body.0.current_password, new)
            .await?;
        Ok(Done::NoContent)
    }

    /// Request a password reset
    ///
    /// Always answers 202, whether or not the account exists; if it does, a single-use token
    /// is delivered to its owner.
    #[oai(
        path = "/password-reset",
        method = "post",
        operation_id = "request_password_reset"
    )]
    async fn request_password_reset(
        &self,
        body: Json<PasswordResetRequest>,
    ) -> ApiResult<Accepted> {
        self.0.service.request_password_reset(&body.0.login).await?;
        Ok(Accepted::Accepted)
    }

    /// Confirm a password reset
    ///
    /// Sets the new password; every session of the account ends.
    #[oai(
        path = "/password-reset/confirm",
        method = "post",
        operation_id = "confirm_password_reset"
    )]
    async fn confirm_password_reset(&self, body: Json<PasswordResetConfirm>) -> ApiResult<Done> {
        let new = Password::parse(body.0.new_password)?;
        self.0
            .service
            .confirm_password_reset(&body.0.token, new)
            .await?;
        Ok(Done::NoContent)
    }

    /// Request verification
    ///
    /// Sends the caller a verification token.
    #[oai(
        path = "/verification",
        method = "post",
        operation_id = "request_verification"
    )]
    async fn request_verification(&self, auth: Auth) -> ApiResult<Accepted> {
        self.0.service.request_verification(auth.caller()).await?;
        Ok(Accepted::Accepted)
    }

    /// Confirm verification
    ///
    /// Marks the token's account as verified.
    #[oai(
        path = "/verification/confirm",
        method = "post",
        operation_id = "confirm_verification"
    )]
    async fn confirm_verification(&self, body: Json<VerificationConfirm>) -> ApiResult<Done> {
        self.0.service.confirm_verification(&body.0.token).await?;
        Ok(Done::NoContent)
    }
}
