//! The REST API in-process, over an in-memory SQLite service: every resource, and the error
//! cases a client meets.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use chatcore::users::{Role, UserRef, Username};
use chatcore::{ChatCore, Service};
use chatcore_http::{HttpOptions, app};
use poem::EndpointExt;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use serde_json::{Value, json};

struct Api {
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    service: ChatCore,
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: HeaderMap,
}

impl Reply {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }

    /// Asserts the one error shape, and returns the code.
    #[track_caller]
    fn error(self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let code = self.body["error"]["code"].as_str().expect("an error code");
        assert!(self.body["error"]["message"].is_string(), "{}", self.body);
        code.to_owned()
    }
}

impl Api {
    async fn new() -> Api {
        let service = chatcore_sqlite::open_in_memory().await.unwrap();
        let shared: Arc<dyn Service> = Arc::new(service.clone());
        let endpoint = app(shared, HttpOptions::default())
            .map_to_response()
            .boxed();
        Api {
            client: TestClient::new(endpoint),
            service,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        let response = request.send().await.0;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().into_bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn register(&self, username: &str) -> (String, String) {
        let body = self
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"username": username, "password": format!("{username} long secret")})),
            )
            .await
            .expect(201);
        (
            body["session"]["token"].as_str().unwrap().to_owned(),
            body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn auth_flow_with_bearer_and_cookie() {
    let api = Api::new().await;
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "ada", "password": "analytical engine", "email": "Ada@Example.com"})),
        )
        .await;
    let cookie = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // `Secure` by default (browsers treat http://localhost as secure).
    assert!(cookie.contains("; Secure"), "{cookie}");
    let body = reply.expect(201);
    assert_eq!(body["user"]["email"], "ada@example.com");
    let token = body["session"]["token"].as_str().unwrap().to_owned();

    // Taken names and bad fields.
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "ADA", "password": "another long one"})),
        )
        .await;
    assert_eq!(reply.body["error"]["field"], "username");
    assert_eq!(reply.error(409), "user_already_exists");
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "a b", "password": "another long one"})),
        )
        .await;
    assert_eq!(reply.body["error"]["field"], "username");
    assert_eq!(reply.error(400), "invalid_input");

    // Login by email, any case; wrong passwords.
    let login = |password: &str| json!({"login": "ADA@example.com", "password": password});
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login("analytical engine")),
        )
        .await;
    let cookie = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    reply.expect(200);
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login("wrong password")),
        )
        .await;
    assert_eq!(reply.error(401), "invalid_login");

    // The cookie alone authenticates.
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = api
        .client
        .get("/api/v1/users/me")
        .header("cookie", session.clone())
        .send()
        .await;
    response.assert_status_is_ok();
    let me = api.get("/api/v1/users/me", &token).await.expect(200);
    assert_eq!(me["username"], "ada");

    // Logout clears the cookie and ends the session at once.
    let response = api
        .client
        .post("/api/v1/auth/logout")
        .header("cookie", session.clone())
        .send()
        .await;
    response.assert_status(StatusCode::NO_CONTENT);
    let cleared = response.0.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let response = api
        .client
        .get("/api/v1/users/me")
        .header("cookie", session)
        .send()
        .await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    // The other session still works; without any credentials: 401 in the one shape.
    api.get("/api/v1/users/me", &token).await.expect(200);
    let reply = api.call(Method::GET, "/api/v1/users/me", None, None).await;
    assert_eq!(reply.error(401), "not_authorized");
    let reply = api.get("/api/v1/users/me", "not.a.token").await;
    assert_eq!(reply.error(401), "not_authorized");
}

#[tokio::test]
async fn malformed_requests_get_the_error_shape() {
    let api = Api::new().await;
    let (token, _) = api.register("bob").await;
    // Malformed JSON, a wrong content type, a bad parameter, a bad id, unknown routes.
    let response = api
        .client
        .post("/api/v1/auth/login")
        .content_type("application/json")
        .body("{\"login\":")
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value =
        serde_json::from_slice(&response.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_input");
    let response = api
        .client
        .post("/api/v1/auth/login")
        .content_type("text/plain")
        .body("hello")
        .send()
        .await;
    response.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        api.get("/api/v1/users?limit=abc", &token).await.error(400),
        "invalid_input"
    );
    assert_eq!(
        api.get("/api/v1/users?limit=1000", &token).await.error(400),
        "invalid_input"
    );
    assert_eq!(
        api.get("/api/v1/chats/not-a-uuid", &token).await.error(400),
        "invalid_input"
    );
    assert_eq!(
        api.get("/api/v1/nowhere", &token).await.error(404),
        "not_found"
    );
    let reply = api
        .call(Method::DELETE, "/api/v1/auth/register", None, None)
        .await;
    assert_eq!(reply.error(405), "method_not_allowed");
    // Too large.
    let huge = "x".repeat(6 * 1024 * 1024);
    let reply = api
        .post(
            "/api/v1/auth/login",
            &token,
            json!({"login": huge, "password": "x"}),
        )
        .await;
    assert_eq!(reply.error(413), "payload_too_large");
}

#[tokio::test]
async fn users_sessions_contacts_and_blocks() {
    let api = Api::new().await;
    let (ann, ann_id) = api.register("ann").await;
    let (bea, bea_id) = api.register("bea").await;

    // Profile edits: absent keeps, null clears.
    let reply = api
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ann),
            Some(json!({"display_name": "Ann", "status": "here"})),
        )
        .await
        .expect(200);
    assert_eq!(
        (reply["display_name"].as_str(), reply["status"].as_str()),
        (Some("Ann"), Some("here"))
    );
    let reply = api
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ann),
            Some(json!({"status": null})),
        )
        .await
        .expect(200);
    assert_eq!(reply["display_name"], "Ann");
    assert!(reply["status"].is_null());

    let page = api
        .get("/api/v1/users?q=be&limit=1", &ann)
        .await
        .expect(200);
    assert_eq!(page["items"][0]["username"], "bea");
    assert_eq!(page["has_more"], false);
    let profile = api
        .get(&format!("/api/v1/users/{bea_id}"), &ann)
        .await
        .expect(200);
    assert!(
        profile.get("email").is_none(),
        "profiles are public: {profile}"
    );
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        api.get(&format!("/api/v1/users/{missing}"), &ann)
            .await
            .error(404),
        "not_found"
    );

    let sessions = api.get("/api/v1/sessions", &ann).await.expect(200);
    let id = sessions[0]["id"].as_str().unwrap();
    assert_eq!(sessions[0]["current"], true);
    api.call(
        Method::DELETE,
        &format!("/api/v1/sessions/{id}"),
        Some(&ann),
        None,
    )
    .await
    .expect(204);
    assert_eq!(
        api.get("/api/v1/sessions", &ann).await.error(401),
        "not_authorized"
    );
    let ann = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"login": "ann", "password": "ann long secret"})),
        )
        .await
        .expect(200)["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let added = api
        .call(
            Method::PUT,
            &format!("/api/v1/contacts/{bea_id}"),
            Some(&ann),
            None,
        )
        .await
        .expect(200);
    assert_eq!(added["user"]["username"], "bea");
    let contacts = api.get("/api/v1/contacts", &ann).await.expect(200);
    assert_eq!(contacts["items"].as_array().unwrap().len(), 1);
    api.call(
        Method::DELETE,
        &format!("/api/v1/contacts/{bea_id}"),
        Some(&ann),
        None,
    )
    .await
    .expect(204);

    // Blocks stop direct chats.
    api.call(
        Method::PUT,
        &format!("/api/v1/blocks/{bea_id}"),
        Some(&ann),
        None,
    )
    .await
    .expect(200);
    let reply = api
        .post("/api/v1/chats/direct", &bea, json!({"user_id": ann_id}))
        .await;
    assert_eq!(reply.error(403), "blocked");
    let blocks = api.get("/api/v1/blocks", &ann).await.expect(200);
    assert_eq!(blocks["items"][0]["user"]["id"], bea_id.as_str());
    api.call(
        Method::DELETE,
        &format!("/api/v1/blocks/{bea_id}"),
        Some(&ann),
        None,
    )
    .await
    .expect(204);
    api.post("/api/v1/chats/direct", &bea, json!({"user_id": ann_id}))
        .await
        .expect(201);
}

#[tokio::test]
async fn chats_groups_members_and_invites() {
    let api = Api::new().await;
    let (cat, _) = api.register("cat").await;
    let (dan, dan_id) = api.register("dan").await;
    let (eve, eve_id) = api.register("eve").await;

    let direct = api
        .post("/api/v1/chats/direct", &cat, json!({"user_id": dan_id}))
        .await
        .expect(201);
    let again = api
        .post(
            "/api/v1/chats/direct",
            &dan,
            json!({"user_id": api.get("/api/v1/users/me", &cat).await.expect(200)["id"]}),
        )
        .await
        .expect(200);
    assert_eq!(direct["id"], again["id"]);
    let reply = api
        .post("/api/v1/chats/direct", &cat, json!({"user_id": "nope"}))
        .await;
    assert_eq!(reply.error(400), "invalid_input");

    let group = api
        .post(
            "/api/v1/chats/groups",
            &cat,
            json!({"title": "Team", "members": [dan_id]}),
        )
        .await
        .expect(201);
    let chat = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["kind"], "group");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    let reply = api
        .post("/api/v1/chats/groups", &cat, json!({"title": " "}))
        .await;
    assert_eq!(reply.body["error"]["field"], "title");
    reply.error(400);

    // Roles: a plain member may not rename or add.
    let reply = api
        .call(
            Method::PATCH,
            &format!("/api/v1/chats/{chat}"),
            Some(&dan),
            Some(json!({"title": "Mine"})),
        )
        .await;
    assert_eq!(reply.error(403), "forbidden");
    let renamed = api
        .call(
            Method::PATCH,
            &format!("/api/v1/chats/{chat}"),
            Some(&cat),
            Some(json!({"title": "Crew"})),
        )
        .await
        .expect(200);
    assert_eq!(renamed["title"], "Crew");
    let members_path = format!("/api/v1/chats/{chat}/members");
    assert_eq!(
        api.post(&members_path, &dan, json!({"user_id": eve_id}))
            .await
            .error(403),
        "forbidden"
    );
    api.call(
        Method::PATCH,
        &format!("{members_path}/{dan_id}"),
        Some(&cat),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect(200);
    let added = api
        .post(&members_path, &dan, json!({"user_id": eve_id}))
        .await
        .expect(201);
    assert_eq!(added["role"], "member");
    let members = api.get(&members_path, &eve).await.expect(200);
    assert_eq!(members.as_array().unwrap().len(), 3);
    // Leaving.
    api.call(
        Method::DELETE,
        &format!("{members_path}/{eve_id}"),
        Some(&eve),
        None,
    )
    .await
    .expect(204);
    assert_eq!(
        api.get(&format!("/api/v1/chats/{chat}"), &eve)
            .await
            .error(404),
        "not_found"
    );

    // Invites.
    let invites_path = format!("/api/v1/chats/{chat}/invites");
    let invite = api
        .post(&invites_path, &cat, json!({"max_uses": 1}))
        .await
        .expect(201);
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(invite["state"], "valid");
    let preview = api
        .get(&format!("/api/v1/invites/{code}"), &eve)
        .await
        .expect(200);
    assert_eq!(preview["title"], "Crew");
    let joined = api
        .post(&format!("/api/v1/invites/{code}/accept"), &eve, json!({}))
        .await
        .expect(200);
    assert_eq!(joined["joined"], true);
    let (fay, _) = api.register("fay").await;
    let reply = api
        .post(&format!("/api/v1/invites/{code}/accept"), &fay, json!({}))
        .await;
    assert_eq!(reply.error(410), "invite_exhausted");
    assert_eq!(api.get(&invites_path, &eve).await.error(403), "forbidden");
    api.call(
        Method::DELETE,
        &format!("{invites_path}/{code}"),
        Some(&cat),
        None,
    )
    .await
    .expect(204);
    let listed = api.get(&invites_path, &cat).await.expect(200);
    assert_eq!(listed[0]["state"], "revoked");
    assert_eq!(
        api.get("/api/v1/invites/short", &fay).await.error(400),
        "invalid_input"
    );

    // The chat list, hiding, reporting, deleting.
    let list = api.get("/api/v1/chats?limit=10", &cat).await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    api.post(&format!("/api/v1/chats/{chat}/hide"), &cat, json!({}))
        .await
        .expect(204);
    let list = api.get("/api/v1/chats", &cat).await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let report = api
        .post(
            &format!("/api/v1/chats/{chat}/report"),
            &eve,
            json!({"reason": "spam"}),
        )
        .await
        .expect(202);
    assert_eq!(report["reason"], "spam");
    let reply = api
        .post(
            &format!("/api/v1/chats/{chat}/report"),
            &eve,
            json!({"reason": "boring"}),
        )
        .await;
    assert_eq!(reply.error(400), "invalid_input");
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/v1/chats/{chat}"),
            Some(&dan),
            None
        )
        .await
        .error(403),
        "forbidden"
    );
    api.call(
        Method::DELETE,
        &format!("/api/v1/chats/{chat}"),
        Some(&cat),
        None,
    )
    .await
    .expect(204);
    assert_eq!(
        api.get(&format!("/api/v1/chats/{chat}"), &dan)
            .await
            .error(404),
        "not_found"
    );
}

#[tokio::test]
async fn messages_reactions_receipts_and_moderation() {
    let api = Api::new().await;
    let (gil, _) = api.register("gil").await;
    let (hana, hana_id) = api.register("hana").await;
    let (mod_token, _) = api.register("modder").await;
    let chat = api
        .post("/api/v1/chats/direct", &gil, json!({"user_id": hana_id}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let messages = format!("/api/v1/chats/{chat}/messages");

    let first = api
        .post(
            &messages,
            &gil,
            json!({"text": "hello", "client_id": "c-1"}),
        )
        .await
        .expect(201);
    let retry = api
        .post(
            &messages,
            &gil,
            json!({"text": "hello", "client_id": "c-1"}),
        )
        .await
        .expect(201);
    assert_eq!(first["id"], retry["id"]);
    let first_id = first["id"].as_str().unwrap().to_owned();
    let reply = api
        .post(
            &messages,
            &hana,
            json!({"text": "hi!", "reply_to": first_id}),
        )
        .await
        .expect(201);
    assert_eq!(reply["reply_to"]["text"], "hello");
    for i in 0..3 {
        api.post(&messages, &gil, json!({"text": format!("more {i}")}))
            .await
            .expect(201);
    }
    assert_eq!(
        api.post(&messages, &gil, json!({"text": "  "}))
            .await
            .error(400),
        "invalid_message"
    );

    let page = api
        .get(&format!("{messages}?limit=2"), &hana)
        .await
        .expect(200);
    let seqs: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);
    let page = api
        .get(&format!("{messages}?before=4&limit=2"), &hana)
        .await
        .expect(200);
    assert_eq!(page[0]["seq"], 2);
    let page = api
        .get(&format!("{messages}?after=4"), &hana)
        .await
        .expect(200);
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&format!("{messages}?limit=0"), &hana)
            .await
            .error(400),
        "invalid_input"
    );

    // Edit, react, read, receipts, typing, forward, delete.
    let edited = api
        .call(
            Method::PATCH,
            &format!("{messages}/{first_id}"),
            Some(&gil),
            Some(json!({"text": "hello, edited"})),
        )
        .await
        .expect(200);
    assert!(edited["edited_at"].is_string());
    assert_eq!(
        api.call(
            Method::PATCH,
            &format!("{messages}/{first_id}"),
            Some(&hana),
            Some(json!({"text": "no"}))
        )
        .await
        .error(403),
        "forbidden"
    );
    let counts = api
        .call(
            Method::PUT,
            &format!("{messages}/{first_id}/reactions/%F0%9F%91%8D"),
            Some(&hana),
            None,
        )
        .await
        .expect(200);
    assert_eq!(counts[0]["count"], 1);
    assert_eq!(counts[0]["mine"], true);
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("{messages}/{first_id}/reactions/nope"),
            Some(&hana),
            None
        )
        .await
        .error(400),
        "invalid_input"
    );
    let counts = api
        .call(
            Method::DELETE,
            &format!("{messages}/{first_id}/reactions/%F0%9F%91%8D"),
            Some(&hana),
            None,
        )
        .await
        .expect(200);
    assert!(counts.as_array().unwrap().is_empty());
    let marker = api
        .post(
            &format!("/api/v1/chats/{chat}/read"),
            &hana,
            json!({"seq": 5}),
        )
        .await
        .expect(200);
    assert_eq!(marker["seq"], 5);
    let receipts = api
        .get(&format!("{messages}/{first_id}/receipts"), &gil)
        .await
        .expect(200);
    assert_eq!(receipts[0]["user"]["username"], "hana");
    api.post(&format!("/api/v1/chats/{chat}/typing"), &hana, json!({}))
        .await
        .expect(204);

    let own = api
        .post("/api/v1/chats/groups", &hana, json!({"title": "Notes"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forwarded = api
        .post(
            &format!("{messages}/{first_id}/forward"),
            &hana,
            json!({"to_chat_id": own}),
        )
        .await
        .expect(201);
    assert_eq!(forwarded["forwarded_from"]["message_id"], first_id.as_str());
    api.call(
        Method::DELETE,
        &format!("{messages}/{first_id}"),
        Some(&gil),
        None,
    )
    .await
    .expect(204);

    // Moderation: only server admins.
    let report = api
        .post(
            &format!("/api/v1/chats/{chat}/report"),
            &hana,
            json!({"reason": "abuse", "message_id": reply["id"]}),
        )
        .await
        .expect(202);
    assert_eq!(
        api.get("/api/v1/admin/reports", &mod_token)
            .await
            .error(403),
        "forbidden"
    );
    api.service
        .set_server_role(
            UserRef::Username(Username::parse("modder").unwrap()),
            Role::Admin,
        )
        .await
        .unwrap();
    let queue = api
        .get("/api/v1/admin/reports", &mod_token)
        .await
        .expect(200);
    assert_eq!(queue["items"][0]["id"], report["id"]);
    let resolved = api
        .post(
            &format!(
                "/api/v1/admin/reports/{}/resolve",
                report["id"].as_str().unwrap()
            ),
            &mod_token,
            json!({"resolution": "ok"}),
        )
        .await
        .expect(200);
    assert!(resolved["resolved_at"].is_string());
    let gil_id = api.get("/api/v1/users/me", &gil).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        &format!("/api/v1/admin/users/{gil_id}/deactivate"),
        &mod_token,
        json!({}),
    )
    .await
    .expect(204);
    assert_eq!(
        api.get("/api/v1/users/me", &gil).await.error(401),
        "not_authorized"
    );
}

#[tokio::test]
async fn password_reset_and_verification_answer_the_same() {
    let api = Api::new().await;
    let (token, _) = api.register("ivy").await;
    for login in ["ivy", "nobody"] {
        api.call(
            Method::POST,
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"login": login})),
        )
        .await
        .expect(202);
    }
    let reply = api
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": "bogus", "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(reply.error(400), "invalid_token");
    api.post("/api/v1/auth/verification", &token, json!({}))
        .await
        .expect(202);
    api.post(
        "/api/v1/auth/password",
        &token,
        json!({"current_password": "ivy long secret", "new_password": "ivy newer secret"}),
    )
    .await
    .expect(204);
    let reply = api
        .post(
            "/api/v1/auth/password",
            &token,
            json!({"current_password": "wrong one", "new_password": "ivy newest secret"}),
        )
        .await;
    assert_eq!(reply.error(401), "invalid_login");
}

#[tokio::test]
async fn docs_and_health() {
    let api = Api::new().await;
    let spec = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(spec["openapi"], "3.0.0");
    assert!(spec["paths"]["/chats/{id}/messages"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["components"]["securitySchemes"]["cookie"].is_object());
    let served = api
        .client
        .get("/api/v1/openapi.json")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    let response = api.client.get("/docs").send().await;
    response.assert_status_is_ok();
    let page = response.0.into_body().into_string().await.unwrap();
    // The docs page shows the very document that is served, finished, not the raw one.
    assert!(page.contains(&served), "/docs embeds another document");
    let health = api
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn avatars_upload_serve_cache_and_refuse_bad_images() {
    use chatcore::testkit::{png_bomb, sample_jpeg_with_orientation, sample_png};
    use poem::test::{TestForm, TestFormField};

    let api = Api::new().await;
    let (token, id) = api.register("pic").await;
    let (other, _) = api.register("viewer").await;
    let bearer = format!("Bearer {token}");

    // Raw body: the content type is not trusted, the bytes are.
    let response = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .content_type("image/png")
        .body(sample_jpeg_with_orientation(800, 600, 6))
        .send()
        .await;
    response.assert_status_is_ok();
    let body: Value =
        serde_json::from_slice(&response.0.into_body().into_bytes().await.unwrap()).unwrap();
    let url = body["avatar_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/api/v1/users/{id}/avatar?v=")),
        "{url}"
    );
    assert_eq!(body["user"]["avatar_url"], url.as_str());

    // Others see it in profiles and fetch it, with caching headers.
    let profile = api
        .get(&format!("/api/v1/users/{id}"), &other)
        .await
        .expect(200);
    assert_eq!(profile["avatar_url"], url.as_str());
    let response = api
        .client
        .get(&url)
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_content_type("image/jpeg");
    response.assert_header("x-content-type-options", "nosniff");
    let etag = response.0.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        response.0.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let bytes = response.0.into_body().into_bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "metadata survived");
    let response = api
        .client
        .get(&url)
        .header("authorization", format!("Bearer {other}"))
        .header("if-none-match", etag.clone())
        .send()
        .await;
    response.assert_status(StatusCode::NOT_MODIFIED);
    let small = api
        .client
        .get(format!("{url}&size=128"))
        .header("authorization", bearer.clone())
        .send()
        .await;
    small.assert_status_is_ok();
    assert_ne!(small.0.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        api.get(&format!("{url}&size=77"), &other).await.error(400),
        "invalid_input"
    );

    // Multipart, field `file`.
    let response = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .multipart(
            TestForm::new().field(
                TestFormField::bytes(sample_png(300, 200))
                    .name("file")
                    .filename("me.png"),
            ),
        )
        .send()
        .await;
    response.assert_status_is_ok();
    let body: Value =
        serde_json::from_slice(&response.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_ne!(body["avatar_url"], url.as_str());

    // Bombs, garbage and truncated files are refused and change nothing.
    let current = api.get("/api/v1/users/me", &token).await.expect(200)["avatar_url"].clone();
    let png = sample_png(64, 64);
    for bad in [
        png_bomb(),
        b"definitely not an image".to_vec(),
        png[..png.len() / 2].to_vec(),
    ] {
        let response = api
            .client
            .put("/api/v1/users/me/avatar")
            .header("authorization", bearer.clone())
            .content_type("application/octet-stream")
            .body(bad)
            .send()
            .await;
        response.assert_status(StatusCode::BAD_REQUEST);
        let body: Value =
            serde_json::from_slice(&response.0.into_body().into_bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_file");
    }
    assert_eq!(
        api.get("/api/v1/users/me", &token).await.expect(200)["avatar_url"],
        current
    );
    let response = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .content_type("image/jpeg")
        .body(vec![0u8; 6 * 1024 * 1024])
        .send()
        .await;
    response.assert_status(StatusCode::PAYLOAD_TOO_LARGE);

    // Removing it.
    let user = api
        .call(
            Method::DELETE,
            "/api/v1/users/me/avatar",
            Some(&token),
            None,
        )
        .await
        .expect(200);
    assert!(user["avatar_url"].is_null());
    assert_eq!(api.get(&url, &other).await.error(404), "not_found");
}

#[tokio::test]
async fn events_stream_as_sse_and_resume_from_last_event_id() {
    use futures::StreamExt;

    let api = Api::new().await;
    let (ann, _) = api.register("sseann").await;
    let (ben, ben_id) = api.register("sseben").await;
    let chat = api
        .post("/api/v1/chats/direct", &ann, json!({"user_id": ben_id}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = api
        .client
        .get("/api/v1/events")
        .header("authorization", format!("Bearer {ben}"))
        .header("accept", "text/event-stream")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_content_type("text/event-stream");
    let mut events = response.sse_stream();
    let messages = format!("/api/v1/chats/{chat}/messages");
    api.post(&messages, &ann, json!({"text": "one"}))
        .await
        .expect(201);
    api.post(&messages, &ann, json!({"text": "two"}))
        .await
        .expect(201);
    let mut texts = Vec::new();
    let mut last_id = String::new();
    while texts.len() < 2 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap();
        if let poem::web::sse::Event::Message { id, data, event } = event {
            assert_eq!(event, "message_created");
            let body: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(body["cursor"].to_string(), id);
            texts.push(body["data"]["text"].as_str().unwrap().to_owned());
            if texts.len() == 1 {
                last_id = id;
            }
        }
    }
    assert_eq!(texts, ["one", "two"]);
    drop(events);

    // Reconnecting with Last-Event-ID replays what came after it, once.
    let response = api
        .client
        .get("/api/v1/events")
        .header("authorization", format!("Bearer {ben}"))
        .header("last-event-id", last_id)
        .send()
        .await;
    response.assert_status_is_ok();
    let mut events = response.sse_stream();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap();
    match event {
        poem::web::sse::Event::Message { data, .. } => {
            let body: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(body["data"]["text"], "two");
        }
        other => panic!("{other:?}"),
    }

    // Bad cursors and missing credentials get the error shape.
    assert_eq!(
        api.get("/api/v1/events?since=999999", &ben)
            .await
            .error(400),
        "invalid_input"
    );
    let reply = api.call(Method::GET, "/api/v1/events", None, None).await;
    assert_eq!(reply.error(401), "not_authorized");
    // Browsers may pass the token in the query.
    let response = api
        .client
        .get(format!("/api/v1/events?access_token={ben}"))
        .send()
        .await;
    response.assert_status_is_ok();
}

#[tokio::test]
async fn profile_identity_changes_need_the_current_password() {
    let api = Api::new().await;
    let (token, _) = api.register("ivy").await;
    let patch = |body: Value| api.call(Method::PATCH, "/api/v1/users/me", Some(&token), Some(body));

    let reply = patch(json!({"email": "ivy@example.com"})).await;
    assert_eq!(reply.error(403), "forbidden");
    let reply = patch(json!({"username": "ivy2", "current_password": "wrong password"})).await;
    assert_eq!(reply.error(401), "invalid_login");
    // Display name and status need nothing more.
    patch(json!({"display_name": "Ivy", "status": "here"}))
        .await
        .expect(200);

    let me = patch(json!({"email": "ivy@example.com", "current_password": "ivy long secret"}))
        .await
        .expect(200);
    assert_eq!(
        (&me["email"], &me["verified"]),
        (&json!("ivy@example.com"), &json!(false))
    );
    // The password is never echoed, and the document marks it write-only.
    assert!(me.get("current_password").is_none());
    let document = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(
        document["components"]["schemas"]["ProfilePatch"]["properties"]["current_password"]["writeOnly"],
        true
    );
}

#[tokio::test]
async fn avatar_uploads_stream_within_the_limit_and_over_budget_images_are_refused() {
    use chatcore::testkit::{png_header_only, sample_png};
    use poem::Body;
    use poem::test::{TestForm, TestFormField};

    let api = Api::new().await;
    let (token, _) = api.register("spooler").await;
    let bearer = format!("Bearer {token}");
    let streamed = |bytes: Vec<u8>| {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes
            .chunks(64 * 1024)
            .map(|piece| Ok(piece.to_vec()))
            .collect();
        Body::from_bytes_stream(futures::stream::iter(pieces))
    };

    // Streamed in pieces, without a declared length: spooled and accepted.
    let response = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .content_type("application/octet-stream")
        .body(streamed(sample_png(120, 80)))
        .send()
        .await;
    response.assert_status_is_ok();
    let current = api.get("/api/v1/users/me", &token).await.expect(200)["avatar_url"].clone();
    assert!(current.is_string());

    // One byte over the upload limit, streamed: refused while reading.
    let response = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .content_type("application/octet-stream")
        .body(streamed(vec![0; 5 * 1024 * 1024 + 1]))
        .send()
        .await;
    response.assert_status(StatusCode::PAYLOAD_TOO_LARGE);

    // Over the pixel budget, raw or in a form: 400 naming the limit.
    let raw = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .content_type("image/png")
        .body(png_header_only(4097, 4096, 2))
        .send()
        .await;
    let form = api
        .client
        .put("/api/v1/users/me/avatar")
        .header("authorization", bearer.clone())
        .multipart(
            TestForm::new().field(
                TestFormField::bytes(png_header_only(4097, 4096, 2))
                    .name("file")
                    .filename("huge.png"),
            ),
        )
        .send()
        .await;
    for response in [raw, form] {
        response.assert_status(StatusCode::BAD_REQUEST);
        let body: Value =
            serde_json::from_slice(&response.0.into_body().into_bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_file");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("16777216 pixels"), "{message}");
    }
    assert_eq!(
        api.get("/api/v1/users/me", &token).await.expect(200)["avatar_url"],
        current
    );
}
