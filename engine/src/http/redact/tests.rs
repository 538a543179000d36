use super::*;

fn red(fields: &str) -> Redactor {
    Redactor::new("", fields, None)
}

fn json(r: &Redactor, body: &str) -> String {
    match r.redact_json(body.as_bytes()) {
        Some((out, _)) => String::from_utf8(out).unwrap(),
        None => body.to_string(),
    }
}

#[test]
fn nested_values_of_any_type_are_masked() {
    let r = red("password,card_number");
    assert_eq!(
        json(&r, r#"{"a":[{"password":"s3cret"}]}"#),
        r#"{"a":[{"password":"[redacted]"}]}"#
    );
    assert_eq!(
        json(
            &r,
            r#"{"Password" : {"x":[1,"}"]}, "card_number":4111, "ok":"password", "n":null}"#
        ),
        r#"{"Password" : "[redacted]", "card_number":"[redacted]", "ok":"password", "n":null}"#
    );
    assert_eq!(
        json(&r, r#"[{"password":true},{"password":[1,2]}]"#),
        r#"[{"password":"[redacted]"},{"password":"[redacted]"}]"#
    );
    // Escapes in keys and values are no way around it.
    assert_eq!(
        json(&r, r#"{"pass\u0077ord":"a\"b","x\"y":"password"}"#),
        r#"{"pass\u0077ord":"[redacted]","x\"y":"password"}"#
    );
    // Nothing listed: the body is left as it is, byte for byte.
    assert!(r.redact_json(br#"{"user":"bob","list":[1,2]}"#).is_none());
}

#[test]
fn a_cut_body_never_shows_a_listed_value() {
    let r = red("password");
    let body = r#"{"user":"bob","password":"s3cret-and-long","next":{"password":[1,2,3]}}"#;
    for cut in 0..=body.len() {
        let prefix = &body.as_bytes()[..cut];
        let out = match r.redact_json(prefix) {
            Some((o, _)) => o,
            None => prefix.to_vec(),
        };
        let text = String::from_utf8_lossy(&out);
        for secret in ["s3", "s3cret", "1,2", "[1"] {
            assert!(!text.contains(secret), "cut {cut}: {text}");
        }
    }
}

#[test]
fn garbage_never_panics() {
    let r = Redactor::new("", "a,b", Some(b"0123456789abcdef"));
    for body in [
        &b"{\"a\":"[..],
        b"{\"a\":\"\\",
        b"{\"a\":\"\\u12",
        b"{\"a\\ud800\":1}",
        b"{\"a\":}}}]]]",
        b"\"a\":\"b\":\"a\":",
        b"{\"b\" :  ",
        b"{\"\\",
    ] {
        let _ = r.redact_json(body);
    }
}

proptest::proptest! {
    /// Any bytes of JSON's alphabet: no panic, and the search that rules
    /// bodies out never rules out one the scan would change.
    #[test]
    fn any_bytes_are_safe(body in proptest::collection::vec(
        proptest::sample::select(b"{}[]\":,\\ au0pPwW1/".to_vec()), 0..64)) {
        for fields in ["pw", "a/w,u"] {
            let r = Redactor::new("", fields, Some(b"0123456789abcdef"));
            let scanned = r.scan_json(&body);
            proptest::prop_assert_eq!(r.redact_json(&body), scanned.clone());
            if !r.may_hold_listed_key(&body) {
                proptest::prop_assert!(scanned.is_none());
            }
        }
    }
}

#[test]
fn keys_spelled_with_escapes_are_found() {
    let r = red("a/b,password");
    assert_eq!(json(&r, r#"{"a\/b":1}"#), r#"{"a\/b":"[redacted]"}"#);
    assert_eq!(
        json(&r, r#"{"\u0050ASSWORD":1}"#),
        r#"{"\u0050ASSWORD":"[redacted]"}"#
    );
    assert_eq!(json(&r, r#"{"x":"PassWord"}"#), r#"{"x":"PassWord"}"#);
    assert!(r.redact_json(br#"{"pass":"word"}"#).is_none());
}

/// RFC 4231, test case 2: key "Jefe".
#[test]
fn hash_is_hmac_sha256() {
    let r = Redactor::new("x", "", Some(b"Jefe"));
    assert_eq!(
        r.replacement(b"what do ya want for nothing?"),
        "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn hash_mode_keeps_equal_values_equal() {
    let key_a = Redactor::new("", "password", Some(b"key-a-0123456789"));
    let key_b = Redactor::new("", "password", Some(b"key-b-0123456789"));
    let body = r#"{"password":"s3cret","u":{"password":"s3cret"},"v":{"password":"other"}}"#;
    let a: serde_json::Value = serde_json::from_str(&json(&key_a, body)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&json(&key_b, body)).unwrap();
    assert_eq!(a["password"], a["u"]["password"]);
    assert_ne!(a["password"], a["v"]["password"]);
    assert_ne!(a["password"], b["password"]);
    assert_eq!(
        a["password"].as_str().unwrap(),
        key_a.replacement(b"s3cret")
    );
    // A string hashes as its text, escapes undone, like a header value.
    assert_eq!(
        json(&key_a, r#"{"password":"s3\u0063ret"}"#),
        json(&key_a, r#"{"password":"s3cret"}"#)
    );
    assert!(!json(&key_a, body).contains("s3cret"));
}

#[test]
fn headers_are_replaced_field_by_field() {
    use crate::http::Head;
    let mut h = Head::parse(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: y\r\nset-cookie: b=2\r\nAuthorization: Basic Zm9v\r\n\r\n",
        false,
    )
    .unwrap();
    let r = Redactor::new("set-cookie, AUTHORIZATION", "", None);
    let n = h.replace_values(|n, v| r.is_listed_header(n).then(|| r.replacement(v).into_bytes()));
    assert_eq!(n, 3);
    let fields: Vec<(&[u8], &[u8])> = h.headers().collect();
    assert_eq!(
        fields,
        vec![
            (&b"Set-Cookie"[..], &b"[redacted]"[..]),
            (b"X", b"y"),
            (b"set-cookie", b"[redacted]"),
            (b"Authorization", b"[redacted]"),
        ]
    );
    assert_eq!(h.status(), 200);
    assert_eq!(h.reason(), b"OK");
}

fn message(head: &[u8], body: &[u8]) -> Message {
    let mut m = Message::new(crate::http::Head::parse(head, true).unwrap(), 0);
    m.body = body.to_vec();
    m.body_size = body.len() as u64;
    m.complete = true;
    m
}

fn transaction(m: Message, decode_failed: bool) -> Transaction {
    let mut t = Transaction::new(0);
    t.request = Some(m);
    if decode_failed {
        t.flags.set(Flags::BODY_DECODE_FAILED);
    }
    t
}

#[test]
fn after_a_hole_a_json_body_ends() {
    let stats = ShardStats::default();
    // The hole took the quote that opened the key: the scanner could read
    // what follows inside out, so it is dropped.
    let mut m = message(b"POST / HTTP/1.1\r\n\r\n", br#"{"a":1,password":"s3cret"}"#);
    m.body_gap_at = Some(7);
    m.gap = true;
    let mut t = transaction(m, false);
    red("password").apply(&mut t, 1 << 20, &stats);
    let m = t.request.unwrap();
    assert_eq!(m.body, br#"{"a":1,"#);
    assert!(m.body_truncated);
    assert_eq!(stats.get(Counter::RedactedJsonCut), 1);
}

#[test]
fn a_body_left_encoded_is_dropped() {
    let stats = ShardStats::default();
    let head = b"POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n";
    let mut t = transaction(message(head, b"\x1f\x8b\x08garbage s3cret"), true);
    red("password").apply(&mut t, 1 << 20, &stats);
    assert!(t.request.as_ref().unwrap().body.is_empty());
    assert_eq!(stats.get(Counter::RedactedBodiesDropped), 1);
    // Without REDACT_JSON_FIELDS it is left alone.
    let mut t = transaction(message(head, b"\x1f\x8b\x08garbage"), true);
    Redactor::new("authorization", "", None).apply(&mut t, 1 << 20, &stats);
    assert_eq!(t.request.unwrap().body, b"\x1f\x8b\x08garbage");
}

#[test]
fn replacements_keep_a_body_within_max_body() {
    let stats = ShardStats::default();
    let r = Redactor::new("", "p", Some(b"0123456789abcdef"));
    let body = br#"{"p":1,"p":2,"p":3}"#;
    let mut t = transaction(message(b"POST / HTTP/1.1\r\n\r\n", body), false);
    r.apply(&mut t, 30, &stats);
    let m = t.request.unwrap();
    assert_eq!(m.body.len(), 30);
    assert!(m.body_truncated);
    assert!(m.body.starts_with(b"{\"p\":\"hmac-sha256:"));
    assert_eq!(stats.get(Counter::RedactedJsonFields), 3);
}

#[test]
fn json_inside_a_json_string_is_redacted_too() {
    let r = red("password");
    assert_eq!(
        json(
            &r,
            r#"{"payload":"{\"password\":\"s3cret\",\"x\":\"a\\nb\"}","n":1}"#
        ),
        r#"{"payload":"{\"password\":\"[redacted]\",\"x\":\"a\\nb\"}","n":1}"#
    );
    // Quotes escaped as \u0022 (System.Text.Json's default) too.
    let out = json(
        &r,
        r#"{"payload":"{\u0022password\u0022:\u0022hunter2\u0022}"}"#,
    );
    assert!(!out.contains("hunter2"), "{out}");
    assert_eq!(out, r#"{"payload":"{\"password\":\"[redacted]\"}"}"#);
    // A string that is not JSON text is left alone.
    let plain = r#"{"note":"say \"password\": no","password":1}"#;
    assert_eq!(
        json(&r, plain),
        r#"{"note":"say \"password\": no","password":"[redacted]"}"#
    );
    // Cut anywhere, the embedded value does not show either.
    let body = r#"{"user":"bob","payload":"{\"password\":\"s3cret-long\"}"}"#;
    for cut in 0..=body.len() {
        let prefix = &body.as_bytes()[..cut];
        let out = r.redact_json(prefix).map_or(prefix.to_vec(), |(o, _)| o);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("s3"), "cut {cut}: {text}");
    }
}

/// gRPC-JSON: each message is redacted as a JSON body is, and the raw
/// body, whose length-prefixed frames hold the same text, is dropped; a
/// protobuf call without a listed key keeps its body.
#[test]
fn grpc_json_messages_are_redacted_and_their_raw_body_dropped() {
    let framed = |msgs: &[&[u8]]| {
        let mut body = Vec::new();
        for m in msgs {
            body.push(0);
            body.extend((m.len() as u32).to_be_bytes());
            body.extend(*m);
        }
        body
    };
    let call = |content_type: &str, body: &[u8], stats: &ShardStats| {
        let head = format!("POST /pkg.Svc/Login HTTP/1.1\r\ncontent-type: {content_type}\r\n\r\n");
        let mut t = transaction(message(head.as_bytes(), body), false);
        t.stream_id = Some(1);
        crate::http::exchange::decode_for_output(&mut t, 1 << 20, 4096, stats);
        red("password").apply(&mut t, 1 << 20, stats);
        t
    };
    let stats = ShardStats::default();
    let body = framed(&[
        br#"{"user":"bob","password":"s3cret"}"#,
        br#"{"password":1}"#,
    ]);
    let t = call("application/grpc+json", &body, &stats);
    assert_eq!(
        t.grpc.as_ref().unwrap().request.kept,
        [
            br#"{"user":"bob","password":"[redacted]"}"#.to_vec(),
            br#"{"password":"[redacted]"}"#.to_vec()
        ]
    );
    let m = t.request.as_ref().unwrap();
    assert!(m.body.is_empty() && m.body_truncated);
    assert_eq!(stats.get(Counter::RedactedJsonFields), 2);
    assert_eq!(stats.get(Counter::RedactedBodiesDropped), 1);

    let stats = ShardStats::default();
    let body = framed(&[b"\x0a\x03bob\x12\x06s3cret"]);
    let t = call("application/grpc", &body, &stats);
    assert_eq!(t.request.as_ref().unwrap().body, body);
    assert_eq!(stats.get(Counter::RedactedBodiesDropped), 0);
}

/// A proxy request's userinfo is a credential: replaced when
/// `authorization` (or `proxy-authorization`) is listed, left otherwise.
#[test]
fn credentials_in_an_absolute_form_target_are_replaced() {
    let stats = ShardStats::default();
    let head = b"GET http://bob:pw-s3cret@h.test/p?q=1 HTTP/1.1\r\nHost: h.test\r\n\r\n";
    let mut t = transaction(message(head, b""), false);
    Redactor::new("proxy-authorization", "", None).apply(&mut t, 1 << 20, &stats);
    let h = &t.request.as_ref().unwrap().head;
    assert_eq!(h.target(), "http://[redacted]@h.test/p?q=1");
    assert_eq!(h.method(), "GET");
    assert_eq!(h.header("host"), Some(&b"h.test"[..]));
    assert_eq!(stats.get(Counter::RedactedHeaders), 1);
    let mut t = transaction(message(head, b""), false);
    Redactor::new("cookie", "", None).apply(&mut t, 1 << 20, &stats);
    let h = &t.request.as_ref().unwrap().head;
    assert_eq!(h.target(), "http://bob:pw-s3cret@h.test/p?q=1");
}
