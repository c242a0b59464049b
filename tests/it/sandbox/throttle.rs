//! The throttle in real time, with small windows.

use super::*;

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
