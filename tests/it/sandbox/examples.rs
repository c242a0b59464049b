//! Every documented example of the endpoints the sandbox serves.

use super::*;

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

/// `DELETE /v1/contact` is inferred (see `src/sandbox/routes.rs`): the contact, its email and
/// its tag memberships are gone, and the newest-first pages shift as in a database table.
#[tokio::test]
async fn delete_by_id_or_email_shifts_the_pages() {
    let sb = start(Config {
        seed_tags: 1,
        ..Config::default()
    });
    let ann = sb.create("ann@x.co").await;
    let bob = sb.create("bob@x.co").await;
    let cat = sb.create("cat@x.co").await;
    let r = sb
        .put("/v1/contact", json!({"contact_id": bob, "tag_ids": "1"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sb
        .send(sb.request(Method::DELETE, &format!("/v1/contact?contact_id={bob}")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"success": true, "data": {"id": bob}}));
    assert_error(
        &sb.get(&format!("/v1/contact?contact_id={bob}")).await,
        404,
        "NOT_FOUND",
    );
    let page = sb.get("/v1/contacts?per_page=1&page=2").await.json();
    assert_eq!(page["data"][0]["id"], json!(ann), "ann moved up to page 2");
    assert_eq!(page["meta"]["total"], json!(2));
    let members = sb.get("/v1/tags-contacts?tag_id=1").await.json();
    assert_eq!(members["data"], json!([]));
    let r = sb
        .send(
            sb.request(Method::DELETE, "/v1/contact")
                .json(&json!({"email": "CAT@x.co"})),
        )
        .await;
    assert_eq!(r.json()["data"]["id"], json!(cat));
    let again = sb
        .send(sb.request(Method::DELETE, "/v1/contact?email=cat@x.co"))
        .await;
    assert_error(&again, 404, "NOT_FOUND");
    assert_error(
        &sb.send(sb.request(Method::DELETE, "/v1/contact")).await,
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(sb.handle.contacts().len(), 1);
    assert!(sb.handle.delete_contact(ann));
    assert!(!sb.handle.delete_contact(ann));
    assert!(sb.handle.contacts().is_empty());
}
