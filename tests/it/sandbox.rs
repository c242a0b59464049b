//! The sandbox over real HTTP: every documented example of the endpoints it serves, every error
//! code of the errors page, the throttle in real time with small windows, faults, stats, state.
//! Each test starts its own sandbox on port 0; nothing is shared between tests.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wolfeo_bulk::api::{self, Contact, Success};
use wolfeo_bulk::sandbox::{Config, RateLimit, SandboxHandle, Stats, WindowKind, spawn};

const UNAUTHORIZED: &str =
    r#"{"success":false,"error":{"code":"UNAUTHORIZED","message":"Invalid or missing API key"}}"#;
const TOO_MANY: &str = r#"{"message":"Too Many Attempts."}"#;

struct Sandbox {
    handle: SandboxHandle,
    http: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

fn start(config: Config) -> Sandbox {
    Sandbox {
        handle: spawn(config).expect("sandbox starts"),
        http: reqwest::Client::new(),
    }
}

fn unlimited() -> Config {
    Config {
        rate_limit: None,
        ..Config::default()
    }
}

impl Sandbox {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("response");
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.handle.api_key())
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    async fn create(&self, email: &str) -> u64 {
        let r = self.post("/v1/contact", json!({ "email": email })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["data"]["id"].as_u64().unwrap()
    }
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    let v = r.json();
    assert_eq!(v["success"], json!(false), "{}", r.text);
    assert_eq!(v["error"]["code"], json!(code), "{}", r.text);
    assert!(v["error"]["message"].is_string(), "{}", r.text);
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

// ---- documented examples -------------------------------------------------------------------

#[tokio::test]
async fn list_contacts_matches_the_documented_sample() {
    let sb = start(Config {
        seed_contacts: 120,
        ..Config::default()
    });
    // GET https://api.wolfeo.me/v1/contacts?period=last30days&per_page=25
    let r = sb.get("/v1/contacts?period=last30days&per_page=25").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(keys(&v), ["data", "meta", "success"]);
    assert_eq!(v["success"], json!(true));
    assert_eq!(
        keys(&v["meta"]),
        ["current_page", "last_page", "per_page", "total"]
    );
    let item = &v["data"][0];
    assert_eq!(
        keys(item),
        [
            "created_at",
            "email",
            "email_marketing",
            "first_name",
            "gdpr",
            "id",
            "last_name"
        ]
    );
    let created = item["created_at"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2024-01-01T09:00:00.000000Z".len(),
        "{created}"
    );
    assert!(created.ends_with('Z'));

    // Defaults: period all, page 1, 50 per page, newest first.
    let page: Success<Vec<Contact>> =
        serde_json::from_str(&sb.get("/v1/contacts").await.text).unwrap();
    assert_eq!(
        page.meta,
        Some(api::Meta {
            current_page: 1,
            last_page: 3,
            per_page: 50,
            total: 120
        })
    );
    let times: Vec<_> = page
        .data
        .iter()
        .map(|c| c.created_at.clone().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let expected: Vec<u64> = sb.handle.contacts().iter().take(50).map(|c| c.id).collect();
    assert_eq!(page.data.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    let last: Success<Vec<Contact>> =
        serde_json::from_str(&sb.get("/v1/contacts?page=3").await.text).unwrap();
    assert_eq!(last.data.len(), 20);
}

#[tokio::test]
async fn retrieve_by_contact_id_and_by_email() {
    let sb = start(Config {
        seed_contacts: 3,
        seed_tags: 3,
        seed_sequences: 2,
        ..Config::default()
    });
    let id = sb
        .post(
            "/v1/contact",
            json!({"email": "John@Ted.com", "first_name": "John", "last_name": "Doe",
                   "gdpr": true, "tag_ids": "2,3", "sequence_ids": "1"}),
        )
        .await
        .json()["data"]["id"]
        .as_u64()
        .unwrap();
    assert_eq!(id, 4);
    // GET https://api.wolfeo.me/v1/contact?contact_id=1 (here the new contact's id)
    let by_id = sb.get(&format!("/v1/contact?contact_id={id}")).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    let v = by_id.json();
    assert_eq!(v["success"], json!(true));
    assert_eq!(v["data"]["id"], json!(id));
    assert_eq!(v["data"]["email"], json!("John@Ted.com"));
    assert_eq!(v["data"]["first_name"], json!("John"));
    assert_eq!(v["data"]["gdpr"], json!(true));
    assert_eq!(v["data"]["email_marketing"], json!(false));
    assert_eq!(v["data"]["tags"], json!([2, 3]));
    assert_eq!(v["data"]["sequences"], json!([1]));
    assert!(v["data"]["created_at"].is_string());
    assert!(v.get("meta").is_none());
    // By email, case-insensitively, with the key in the query string (legacy auth example).
    let by_email = sb
        .send(sb.http.get(sb.url(&format!(
            "/v1/contact?email=john%40ted.COM&api_key={}",
            sb.handle.api_key()
        ))))
        .await;
    assert_eq!(by_email.json(), v);
    assert_error(
        &sb.get("/v1/contact?contact_id=999").await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &sb.get("/v1/contact?email=nobody%40x.co").await,
        404,
        "NOT_FOUND",
    );
    let neither = sb.get("/v1/contact").await;
    assert_error(&neither, 422, "VALIDATION_ERROR");
    assert_eq!(
        neither.json()["error"]["details"],
        json!({"contact_id": ["The contact id field is required when email is not present."]})
    );
}

#[tokio::test]
async fn create_returns_201_with_the_id_only() {
    let sb = start(Config::default());
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": "john@doe.ie", "first_name": "John", "last_name": "Doe",
                   "email_marketing": true, "gdpr": false}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.text, r#"{"success":true,"data":{"id":1}}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let stored = &sb.handle.contacts()[0];
    assert_eq!(
        (stored.email.as_str(), stored.email_marketing, stored.gdpr),
        ("john@doe.ie", true, false)
    );
}

#[tokio::test]
async fn create_accepts_json_form_and_query_string() {
    let sb = start(Config {
        seed_tags: 3,
        ..Config::default()
    });
    sb.create("json@x.co").await;
    let form = sb
        .send(
            sb.request(Method::POST, "/v1/contact")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("email=form%2Btag%40x.co&first_name=Form&gdpr=1&tag_ids=1%2C3"),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.text);
    // The legacy example: POST https://api.wolfeo.me/contact?api_key=demokey&email=john@doe.ie
    let query = sb
        .send(sb.http.post(sb.url(&format!(
            "/v1/contact?api_key={}&email=john@doe.ie&email_marketing=1",
            sb.handle.api_key()
        ))))
        .await;
    assert_eq!(query.status, 201, "{}", query.text);
    // JSON body wins over the query string.
    let both = sb
        .post(
            "/v1/contact?email=query%40x.co&last_name=Q",
            json!({"email": "body@x.co"}),
        )
        .await;
    assert_eq!(both.status, 201);
    let contacts = sb.handle.contacts();
    let emails: Vec<&str> = contacts.iter().map(|c| c.email.as_str()).collect();
    assert_eq!(
        emails,
        ["body@x.co", "john@doe.ie", "form+tag@x.co", "json@x.co"]
    );
    assert_eq!(contacts[0].last_name.as_deref(), Some("Q"));
    assert!(contacts[1].email_marketing);
    assert_eq!(contacts[2].tags, Some(vec![1, 3]));
    assert!(contacts[2].gdpr);
}

#[tokio::test]
async fn tags_endpoints_match_the_documented_samples() {
    let sb = start(Config::default());
    for name in ["First Tag", "Second Tag"] {
        let r = sb.post("/v1/tag", json!({ "name": name })).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = sb.get("/v1/tags").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        v["meta"],
        json!({"current_page": 1, "last_page": 1, "per_page": 50, "total": 2})
    );
    assert_eq!(v["data"][0]["id"], json!(1));
    assert_eq!(v["data"][0]["name"], json!("First Tag"));
    assert_eq!(v["data"][1]["name"], json!("Second Tag"));
    let created = v["data"][0]["created_at"].as_str().unwrap();
    assert!(
        api::parse_time(created).is_some() && !created.contains('T'),
        "{created}"
    );
    assert_eq!(created.len(), "2021-01-01 09:00:00".len());

    let id = sb
        .post(
            "/v1/contact",
            json!({"email": "first_contact@wolfeo.ie", "first_name": "First",
                                    "last_name": "Contact", "tag_ids": "2"}),
        )
        .await
        .json()["data"]["id"]
        .as_u64()
        .unwrap();
    // GET /v1/contacts-tags?contact_id=1: a data array, no meta.
    let r = sb.get(&format!("/v1/contacts-tags?contact_id={id}")).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(keys(&v), ["data", "success"]);
    assert_eq!(
        v["data"],
        json!([{"id": 2, "name": "Second Tag", "created_at": v["data"][0]["created_at"]}])
    );
    assert_eq!(
        sb.get("/v1/contacts-tags?email=FIRST_contact%40wolfeo.ie")
            .await
            .json(),
        v
    );
    assert_error(
        &sb.get("/v1/contacts-tags?contact_id=77").await,
        404,
        "NOT_FOUND",
    );
    assert_error(&sb.get("/v1/contacts-tags").await, 422, "VALIDATION_ERROR");

    // GET /v1/tags-contacts?tag_id=2: paginated contacts having the tag.
    let r = sb.get("/v1/tags-contacts?tag_id=2").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"][0]["id"], json!(id));
    assert_eq!(v["data"][0]["email"], json!("first_contact@wolfeo.ie"));
    assert_eq!(v["data"][0]["first_name"], json!("First"));
    assert_eq!(v["data"][0]["last_name"], json!("Contact"));
    assert_eq!(
        v["meta"],
        json!({"current_page": 1, "last_page": 1, "per_page": 50, "total": 1})
    );
    assert_eq!(
        sb.get("/v1/tags-contacts?tag_id=1").await.json()["data"],
        json!([])
    );
    assert_error(
        &sb.get("/v1/tags-contacts?tag_id=9").await,
        404,
        "NOT_FOUND",
    );
    let missing = sb.get("/v1/tags-contacts").await;
    assert_error(&missing, 422, "VALIDATION_ERROR");
    assert_eq!(
        missing.json()["error"]["details"],
        json!({"tag_id": ["The tag id field is required."]})
    );
}

#[tokio::test]
async fn tags_contacts_pages_by_contact_id() {
    let sb = start(Config {
        seed_contacts: 60,
        seed_tags: 1,
        ..Config::default()
    });
    let members: Vec<u64> = {
        let mut ids: Vec<u64> = sb
            .handle
            .contacts()
            .iter()
            .filter(|c| c.tags.as_ref().unwrap().contains(&1))
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert!(members.len() > 3);
    let page: Success<Vec<Contact>> = serde_json::from_str(
        &sb.get("/v1/tags-contacts?tag_id=1&per_page=2&page=2")
            .await
            .text,
    )
    .unwrap();
    assert_eq!(
        page.data.iter().map(|c| c.id).collect::<Vec<_>>(),
        members[2..4]
    );
    let meta = page.meta.unwrap();
    assert_eq!(meta.total, members.len() as u64);
    assert_eq!(meta.last_page, members.len().div_ceil(2) as u64);
}

#[tokio::test]
async fn tag_creation_rules_and_sequences_list() {
    let sb = start(Config {
        seed_sequences: 2,
        ..Config::default()
    });
    let r = sb.post("/v1/tag", json!({"name": "VIP"})).await;
    assert_eq!(r.text, r#"{"success":true,"data":{"id":1,"name":"VIP"}}"#);
    assert_error(
        &sb.post("/v1/tag", json!({"name": "vip"})).await,
        409,
        "TAG_EXISTS",
    );
    let r = sb.post("/v1/tag", json!({})).await;
    assert_error(&r, 422, "VALIDATION_ERROR");
    assert_eq!(
        r.json()["error"]["details"],
        json!({"name": ["The name field is required."]})
    );
    let r = sb.get("/v1/sequences").await;
    assert_eq!(
        r.json(),
        json!({"success": true, "data": [
            {"id": 1, "name": "Sequence 1", "type": "normal"},
            {"id": 2, "name": "Sequence 2", "type": "normal"}]})
    );
}

#[tokio::test]
async fn update_is_partial_and_appends_lists() {
    let sb = start(Config {
        seed_tags: 3,
        seed_sequences: 1,
        ..Config::default()
    });
    let ann = sb.create("ann@x.co").await;
    sb.create("bob@x.co").await;
    let r = sb
        .put(
            "/v1/contact",
            json!({"contact_id": ann, "first_name": "Ann", "tag_ids": "1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sb
        .put(
            "/v1/contact",
            json!({"email": "ANN@x.co", "last_name": "Lee", "tag_ids": "3,1",
                                   "sequence_ids": "1", "gdpr": "1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = &r.json()["data"];
    assert_eq!(data["email"], json!("ann@x.co"));
    assert_eq!(data["first_name"], json!("Ann"));
    assert_eq!(data["last_name"], json!("Lee"));
    assert_eq!(data["gdpr"], json!(true));
    assert_eq!(data["tags"], json!([1, 3]));
    assert_eq!(data["sequences"], json!([1]));
    // The legacy example style: identifiers and fields in the query string.
    let r = sb
        .send(sb.request(
            Method::PUT,
            &format!("/v1/contact?contact_id={ann}&first_name=John"),
        ))
        .await;
    assert_eq!(r.json()["data"]["first_name"], json!("John"));
    let r = sb
        .put(
            "/v1/contact",
            json!({"contact_id": ann, "email": "Bob@X.co"}),
        )
        .await;
    assert_error(&r, 409, "CONTACT_EXISTS");
    let r = sb
        .put(
            "/v1/contact",
            json!({"contact_id": ann, "email": "ann2@x.co"}),
        )
        .await;
    assert_eq!(r.json()["data"]["email"], json!("ann2@x.co"));
    assert_error(
        &sb.put("/v1/contact", json!({"contact_id": 99})).await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &sb.put("/v1/contact", json!({"contact_id": ann, "tag_ids": "7"}))
            .await,
        404,
        "NOT_FOUND",
    );
    let r = sb
        .put("/v1/contact", json!({"first_name": "X", "gdpr": "yes"}))
        .await;
    assert_error(&r, 422, "VALIDATION_ERROR");
    assert_eq!(
        r.json()["error"]["details"],
        json!({"contact_id": ["The contact id field is required when email is not present."],
               "gdpr": ["The gdpr field must be true or false."]})
    );
}

// ---- every error code of the errors page ---------------------------------------------------

#[tokio::test]
async fn unauthorized_is_exact_for_missing_wrong_and_malformed_keys() {
    let sb = start(Config::default());
    let url = sb.url("/v1/contacts");
    for req in [
        sb.http.get(&url),
        sb.http.get(&url).bearer_auth("wrong"),
        sb.http
            .get(&url)
            .header("authorization", "Basic c2FuZGJveC1rZXk="),
        sb.http.get(format!("{url}?api_key=wrong")),
        sb.http
            .post(sb.url("/v1/contact"))
            .json(&json!({"email": "a@b.co"})),
    ] {
        let r = sb.send(req).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.text, UNAUTHORIZED);
        assert_eq!(
            r.header("x-ratelimit-limit"),
            None,
            "401s are not throttled"
        );
    }
    assert!(sb.handle.contacts().is_empty());
    let lower = sb
        .send(
            sb.http
                .get(&url)
                .header("authorization", "bearer sandbox-key"),
        )
        .await;
    assert_eq!(lower.status, 200);
}

#[tokio::test]
async fn forbidden_for_restricted_keys_and_at_the_contact_cap() {
    let sb = start(Config {
        restricted_keys: vec!["read-only".into()],
        contact_cap: Some(2),
        ..Config::default()
    });
    for path in [
        "/v1/contacts",
        "/v1/tags",
        "/v1/sequences",
        "/v1/contact?contact_id=1",
    ] {
        let r = sb
            .send(sb.http.get(sb.url(path)).bearer_auth("read-only"))
            .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
    sb.create("a@x.co").await;
    sb.create("b@x.co").await;
    let r = sb.post("/v1/contact", json!({"email": "c@x.co"})).await;
    assert_error(&r, 403, "FORBIDDEN");
    assert_eq!(sb.handle.contacts().len(), 2);
}

#[tokio::test]
async fn not_found_for_routes_tags_sequences_and_contacts() {
    let sb = start(Config {
        seed_tags: 2,
        seed_sequences: 1,
        ..Config::default()
    });
    for (method, path) in [
        (Method::GET, "/v1/nothing"),
        (Method::GET, "/nothing"),
        (Method::DELETE, "/v1/contact"),
        (Method::POST, "/v1/contacts"),
    ] {
        let r = sb.send(sb.request(method, path)).await;
        assert_error(&r, 404, "NOT_FOUND");
    }
    // Unknown routes need no key.
    assert_error(
        &sb.send(sb.http.get(sb.url("/v2/x"))).await,
        404,
        "NOT_FOUND",
    );
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": "a@x.co", "tag_ids": "1,2,3"}),
        )
        .await;
    assert_error(&r, 404, "NOT_FOUND");
    assert_eq!(
        r.json()["error"]["message"],
        json!(api::messages::TAG_NOT_FOUND)
    );
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": "a@x.co", "sequence_ids": "2"}),
        )
        .await;
    assert_error(&r, 404, "NOT_FOUND");
    assert!(sb.handle.contacts().is_empty(), "nothing is created");
    assert_error(&sb.get("/v1/contact?contact_id=1").await, 404, "NOT_FOUND");
}

#[tokio::test]
async fn contact_exists_compares_emails_case_insensitively() {
    let sb = start(Config::default());
    sb.create("John@Doe.ie").await;
    for email in ["John@Doe.ie", "john@doe.ie", "  JOHN@DOE.IE  "] {
        let r = sb.post("/v1/contact", json!({ "email": email })).await;
        assert_error(&r, 409, "CONTACT_EXISTS");
    }
    assert_eq!(sb.handle.contacts().len(), 1);
}

#[tokio::test]
async fn validation_errors_422_with_details_and_400_without() {
    let sb = start(Config::default());
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": "not-an-email", "first_name": "x".repeat(256)}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"success": false, "error": {"code": "VALIDATION_ERROR",
            "message": "The given data was invalid",
            "details": {"email": ["The email must be a valid email address."],
                        "first_name": ["The first name must not be greater than 255 characters."]}}})
    );
    let r = sb.post("/v1/contact", json!({})).await;
    assert_eq!(
        r.json()["error"]["details"],
        json!({"email": ["The email field is required."]})
    );
    let r = sb
        .post("/v1/contact", json!({"email": "a@x.co", "tag_ids": "1,,x"}))
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(r.json()["error"].get("details").is_none());
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": "a@x.co", "sequence_ids": "1;2"}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(sb.handle.contacts().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_400_never_500() {
    let sb = start(Config::default());
    for (ct, body) in [
        ("application/json", "{"),
        ("application/json", "[1,2]"),
        ("application/json", "\"email\""),
        ("application/json", "{\"email\": \"a@b.co\",}"),
        ("text/plain", "email=a@b.co"),
        ("application/json", "\u{0}\u{1}"),
    ] {
        for path in ["/v1/contact", "/v1/tag"] {
            let r = sb
                .send(
                    sb.request(Method::POST, path)
                        .header("content-type", ct)
                        .body(body),
                )
                .await;
            assert_error(&r, 400, "VALIDATION_ERROR");
            assert_eq!(r.json()["error"]["message"], json!("Malformed JSON body"));
        }
        let r = sb
            .send(
                sb.request(Method::PUT, "/v1/contact")
                    .header("content-type", ct)
                    .body(body),
            )
            .await;
        assert_error(&r, 400, "VALIDATION_ERROR");
    }
    // Wrong types inside valid JSON are 422s.
    let r = sb
        .post(
            "/v1/contact",
            json!({"email": ["a@b.co"], "first_name": {}, "gdpr": [true]}),
        )
        .await;
    assert_error(&r, 422, "VALIDATION_ERROR");
    assert_eq!(
        keys(&r.json()["error"]["details"]),
        ["email", "first_name", "gdpr"]
    );
    let r = sb
        .send(
            sb.request(Method::POST, "/v1/contact")
                .body(vec![b'x'; 2 << 20]),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(sb.handle.stats().responses_by_status.get(&500), None);
}

#[tokio::test]
async fn server_error_from_the_fail_rate_stores_nothing() {
    let sb = start(Config {
        fail_rate: 1.0,
        ..Config::default()
    });
    let r = sb.post("/v1/contact", json!({"email": "a@x.co"})).await;
    assert_error(&r, 500, "SERVER_ERROR");
    assert_eq!(
        r.header("x-ratelimit-remaining"),
        Some("599"),
        "counted before failing"
    );
    assert_error(&sb.get("/v1/tags").await, 500, "SERVER_ERROR");
    assert!(sb.handle.contacts().is_empty());
    sb.handle.set_fault_rates(0.0, 0.0);
    sb.create("a@x.co").await;
}

#[tokio::test]
async fn same_seed_same_failures() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sb = start(Config {
            fail_rate: 0.5,
            seed,
            ..unlimited()
        });
        let mut out = Vec::new();
        for i in 0..40 {
            let r = sb
                .post("/v1/contact", json!({ "email": format!("c{i}@x.co") }))
                .await;
            out.push(r.status.as_u16());
        }
        out
    }
    let a = statuses(11).await;
    assert_eq!(a, statuses(11).await);
    assert!(a.contains(&500) && a.contains(&201), "{a:?}");
}

#[tokio::test]
async fn invalid_period_and_pagination_errors() {
    let sb = start(Config {
        seed_contacts: 5,
        ..Config::default()
    });
    for q in [
        "period=lastweek",
        "period=between",
        "period=between&range=2023-06-29to2023-06-01",
        "period=between&range=2023-06-01",
    ] {
        let r = sb.get(&format!("/v1/contacts?{q}")).await;
        assert_error(&r, 400, "INVALID_PERIOD");
        assert!(r.json()["error"].get("details").is_none());
    }
    for per_page in ["0", "101", "abc", "-1", "1.5"] {
        for path in ["/v1/contacts", "/v1/tags", "/v1/tags-contacts?tag_id=1&x=1"] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = sb.get(&format!("{path}{sep}per_page={per_page}")).await;
            assert_eq!(r.status, 422, "{path} {per_page}: {}", r.text);
            assert_eq!(
                r.json()["error"]["details"]["per_page"],
                json!(["The per page must be between 1 and 100."])
            );
        }
    }
    let r = sb.get("/v1/contacts?page=0").await;
    assert_eq!(
        r.json()["error"]["details"],
        json!({"page": ["The page must be at least 1."]})
    );
    let r = sb.get("/v1/contacts?page=7&per_page=2").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"success": true, "data": [],
               "meta": {"current_page": 7, "last_page": 3, "per_page": 2, "total": 5}})
    );
    let empty = start(Config::default());
    let r = empty.get("/v1/contacts").await;
    assert_eq!(r.json()["meta"]["last_page"], json!(1));
}

#[tokio::test]
async fn period_filters_select_by_created_at() {
    let sb = start(Config {
        seed_contacts: 400,
        ..unlimited()
    });
    sb.handle.insert_contact("new@x.co");
    let contacts = sb.handle.contacts();
    let now = chrono::Utc::now();
    let created = |c: &Contact| api::parse_time(c.created_at.as_deref().unwrap()).unwrap();
    let sb = &sb;
    let total = |q: &str| {
        let q = q.to_string();
        async move {
            let r = sb.get(&format!("/v1/contacts?per_page=1&{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()["meta"]["total"].as_u64().unwrap()
        }
    };
    let count = |f: &dyn Fn(chrono::DateTime<chrono::Utc>) -> bool| {
        contacts.iter().filter(|c| f(created(c))).count() as u64
    };
    let today = now.date_naive();
    let yesterday = today.pred_opt().unwrap();
    assert_eq!(total("period=all").await, 401);
    assert_eq!(total("").await, 401);
    assert_eq!(
        total("period=today").await,
        count(&|t| t.date_naive() == today)
    );
    assert_eq!(
        total("period=yesterday").await,
        count(&|t| t.date_naive() == yesterday)
    );
    let last7 = total("period=last7days").await;
    let last30 = total("period=last30days").await;
    // Allow for contacts crossing the boundary between our clock read and the server's.
    let expected7 = count(&|t| t >= now - chrono::Duration::days(7));
    let expected30 = count(&|t| t >= now - chrono::Duration::days(30));
    assert!(last7.abs_diff(expected7) <= 1, "{last7} vs {expected7}");
    assert!(last30.abs_diff(expected30) <= 1, "{last30} vs {expected30}");
    assert!(last7 < last30 && last30 < 401);

    // between includes both end days.
    let day = created(&contacts[200]).date_naive();
    let next = day.succ_opt().unwrap();
    let q = format!("period=between&range={day}to{day}");
    assert_eq!(total(&q).await, count(&|t| t.date_naive() == day));
    assert!(total(&q).await >= 1);
    let q = format!("period=between&range={day}to{next}");
    assert_eq!(
        total(&q).await,
        count(&|t| t.date_naive() == day || t.date_naive() == next)
    );
}

// ---- the throttle, in real time --------------------------------------------------------------

fn limited(max: u32, window_ms: u64, window: WindowKind) -> Config {
    Config {
        rate_limit: Some(RateLimit {
            max,
            window: Duration::from_millis(window_ms),
        }),
        window,
        ..Config::default()
    }
}

#[tokio::test]
async fn fixed_window_like_laravel_20_per_2s() {
    let sb = start(limited(20, 2000, WindowKind::Fixed));
    let first = sb.get("/v1/tags").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("20"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("19"));
    assert_eq!(first.header("retry-after"), None);
    assert_eq!(first.header("x-ratelimit-reset"), None);
    for i in 2..=20 {
        // Failures count too: half of these are 422s.
        let path = if i % 2 == 0 {
            "/v1/tags"
        } else {
            "/v1/tags?per_page=0"
        };
        let r = sb.get(path).await;
        assert_ne!(r.status, 429, "request {i}");
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(&*(20 - i).to_string())
        );
    }
    let r = sb.get("/v1/tags").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text, TOO_MANY);
    assert_eq!(r.header("x-ratelimit-limit"), Some("20"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now..=now + 3).contains(&reset), "{reset} vs {now}");
    // Rejected requests are not counted and do not extend the window.
    assert_eq!(sb.get("/v1/tags").await.status, 429);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let again = sb.get("/v1/tags").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("x-ratelimit-remaining"), Some("19"));
    let stats = sb.handle.stats();
    assert_eq!(stats.throttled_total, 2);
    assert_eq!(stats.responses_by_status[&429], 2);
    assert_eq!(stats.peak_requests_per_window, 22);
}

#[tokio::test]
async fn sliding_window_refuses_bursts_across_the_edge() {
    // 4 per second: 2 at t=0, 2 at t=0.6. At t=1.15 a fixed window would be fresh (4 allowed);
    // the sliding one still holds the 2 from t=0.6, so only 2 pass.
    let run = |kind| async move {
        let sb = start(limited(4, 1000, kind));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(sb.get("/v1/sequences").await.status, 200);
        }
        tokio::time::sleep_until((t0 + Duration::from_millis(600)).into()).await;
        for _ in 0..2 {
            assert_eq!(sb.get("/v1/sequences").await.status, 200);
        }
        tokio::time::sleep_until((t0 + Duration::from_millis(1150)).into()).await;
        let mut passed = 0;
        for _ in 0..4 {
            if sb.get("/v1/sequences").await.status == 200 {
                passed += 1;
            }
        }
        passed
    };
    let (fixed, sliding) = tokio::join!(run(WindowKind::Fixed), run(WindowKind::Sliding));
    assert_eq!(fixed, 4);
    assert_eq!(sliding, 2);
}

#[tokio::test]
async fn limits_are_per_key_and_headers_can_be_switched_off() {
    let sb = start(Config {
        api_keys: vec!["k1".into(), "k2".into()],
        rate_headers: false,
        ..limited(2, 5000, WindowKind::Fixed)
    });
    let get = |key: &'static str| sb.send(sb.http.get(sb.url("/v1/tags")).bearer_auth(key));
    let r = get("k1").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .keys()
            .all(|k| !k.as_str().starts_with("x-ratelimit"))
    );
    get("k1").await;
    let r = get("k1").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text, TOO_MANY);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.header("x-ratelimit-reset"), None);
    assert_eq!(get("k2").await.status, 200);
    let off = start(unlimited());
    let r = off.get("/v1/tags").await;
    assert_eq!(r.header("x-ratelimit-limit"), None);
}

// ---- faults, stats, state, load -------------------------------------------------------------

#[tokio::test]
async fn dropped_create_is_stored_but_unanswered() {
    let sb = start(Config {
        drop_rate: 1.0,
        ..Config::default()
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = http
        .post(sb.url("/v1/contact"))
        .bearer_auth("sandbox-key")
        .json(&json!({"email": "lost@x.co"}))
        .send()
        .await
        .expect_err("no response");
    assert!(
        !err.is_timeout(),
        "the connection is closed, not left hanging: {err}"
    );
    assert_eq!(sb.handle.contacts()[0].email, "lost@x.co");
    let stats = sb.handle.stats();
    assert_eq!(stats.dropped_total, 1);
    assert_eq!(stats.responses_by_status.values().sum::<u64>(), 0);
    // The retry an importer makes sees the contact, and reads and failures are not dropped.
    sb.handle.set_fault_rates(0.0, 0.0);
    let r = sb.post("/v1/contact", json!({"email": "lost@x.co"})).await;
    assert_error(&r, 409, "CONTACT_EXISTS");
    sb.handle.set_fault_rates(0.0, 1.0);
    assert_eq!(sb.get("/v1/contact?email=lost%40x.co").await.status, 200);
}

#[tokio::test]
async fn stats_endpoint_needs_no_key_and_is_not_counted() {
    let sb = start(Config {
        seed_contacts: 3,
        ..Config::default()
    });
    sb.get("/v1/contacts").await;
    sb.send(sb.http.get(sb.url("/v1/contacts"))).await;
    sb.send(sb.http.get(sb.url("/nope"))).await;
    let r = sb.send(sb.http.get(sb.url("/_sandbox/stats"))).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    for field in [
        "requests_total",
        "responses_by_status",
        "contacts_total",
        "throttled_total",
        "dropped_total",
        "peak_requests_per_window",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    let stats: Stats = serde_json::from_value(v).unwrap();
    assert_eq!(stats, sb.handle.stats());
    assert_eq!(stats.requests_total, 3);
    assert_eq!(
        stats.responses_by_status,
        [(200, 1), (401, 1), (404, 1)].into_iter().collect()
    );
    assert_eq!(stats.contacts_total, 3);
    assert_eq!(
        stats.peak_requests_per_window, 1,
        "only authenticated requests"
    );
    assert_eq!(stats.peak_window_ms, 60_000);
}

#[tokio::test]
async fn latency_delays_responses() {
    let sb = start(Config {
        latency: Some((Duration::from_millis(150), Duration::from_millis(200))),
        ..Config::default()
    });
    let t0 = Instant::now();
    assert_eq!(sb.get("/v1/tags").await.status, 200);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");
}

#[test]
fn state_file_round_trip_from_a_plain_test() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("account.json");
    let first = spawn(Config {
        state_file: Some(path.clone()),
        seed_contacts: 10,
        seed_tags: 2,
        ..Config::default()
    })
    .unwrap();
    let id = first.insert_contact("kept@x.co");
    assert_eq!(id, 11);
    let before = first.contacts();
    let tags = first.tags();
    first.shutdown();
    assert!(path.exists());

    // The saved account wins over seed options, and ids continue.
    let second = spawn(Config {
        state_file: Some(path.clone()),
        seed_contacts: 99,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(second.contacts(), before);
    assert_eq!(second.tags(), tags);
    assert_eq!(second.insert_contact("next@x.co"), 12);
    assert_eq!(second.insert_contact("KEPT@x.co"), 11);
    drop(second);
    let third = spawn(Config {
        state_file: Some(path),
        ..Config::default()
    })
    .unwrap();
    assert_eq!(third.stats().contacts_total, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_all_succeed() {
    let sb = start(unlimited());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = sb.url("/v1/contact");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (http, url, barrier) = (http.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                http.post(url)
                    .bearer_auth("sandbox-key")
                    .json(&json!({ "email": format!("load{i}@x.co") }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(201) => created += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1000);
    let stats = sb.handle.stats();
    assert_eq!(stats.contacts_total, 1000);
    assert_eq!(stats.requests_total, 1000);
}

#[test]
fn spawn_works_inside_another_runtime_and_ports_differ() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = rt.block_on(async { (start(Config::default()), start(Config::default())) });
    assert_ne!(a.handle.addr(), b.handle.addr());
    assert_eq!(
        a.handle.base_url(),
        format!("http://127.0.0.1:{}/v1", a.handle.addr().port())
    );
    rt.block_on(async {
        assert_eq!(a.get("/v1/tags").await.status, 200);
    });
    drop(a);
    drop(b);
}

/// `wolfeo-bulk sandbox` prints one line with the URL and key, serves, logs requests with
/// `-v` (never the query string, which may hold the key), and stops on SIGTERM.
#[test]
fn the_sandbox_subcommand_prints_its_url_and_serves_until_terminated() {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wolfeo-bulk"))
        .args([
            "-v",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k-cli",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("api key: k-cli"), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    assert!(url.ends_with("/v1"), "{url}");
    assert!(!url.ends_with(":0/v1"), "prints the port it got: {url}");
    let body = reqwest::blocking::get(url.replace("/v1", "/_sandbox/stats"))
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("requests_total"), "{body}");
    let listed = reqwest::blocking::get(format!("{url}/contacts?api_key=k-cli")).unwrap();
    assert_eq!(listed.status(), 200);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("GET /v1/contacts -> 200"), "{log}");
    assert!(!log.contains("k-cli"), "the key leaked into the log: {log}");
}
