//! Every error code of the errors page, and the request rules behind them.

use super::*;

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
        (Method::DELETE, "/v1/contacts"),
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
