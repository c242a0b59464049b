//! One line about a request that got no HTTP answer, for messages and `_message` cells:
//! a timeout, a closed connection, or a connection that never opened and why (a refused
//! port, a host name that does not resolve, a TLS failure), since each calls for a
//! different fix. Never the URL's query, never a header.

/// One line about a transport failure, without the URL's query (never secret here, but long).
pub(super) fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out waiting for a response".into()
    } else if e.is_connect() {
        why_not_connected(e)
    } else if e.is_body() || e.is_decode() {
        "connection closed while reading the response".into()
    } else {
        "connection closed before a response".into()
    }
}

/// What stopped a connection, from the innermost cause: a refused port, a host name that
/// does not resolve (a typo in the URL) and a TLS failure call for different fixes.
fn why_not_connected(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    let mut refused = false;
    let mut text = String::new();
    while let Some(inner) = cause.source() {
        cause = inner;
        let io = inner.downcast_ref::<std::io::Error>();
        refused |= io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        text = inner.to_string().to_lowercase();
    }
    if refused {
        "could not connect (connection refused)".into()
    } else if text.contains("dns") || text.contains("lookup") || text.contains("resolve") {
        "could not connect (the host name does not resolve)".into()
    } else if text.contains("corrupt message") {
        // rustls reading a plain-HTTP answer to its hello.
        "could not connect (TLS: the server did not answer in TLS; a local sandbox uses http://)"
            .into()
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        format!(
            "could not connect (TLS: {})",
            crate::text::sanitize(&text, 160)
        )
    } else {
        "could not connect".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_named_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = reqwest::get(format!("http://127.0.0.1:{port}/v1/tags"))
            .await
            .unwrap_err();
        assert_eq!(
            describe_transport_error(&e),
            "could not connect (connection refused)"
        );
    }
}
