//! HTTP/1.1 exchanges: the request and response bytes of one transaction,
//! with realistic header sets, JSON bodies, gzip and chunked framing.

use std::io::Write;
use std::net::Ipv4Addr;

use libdeflater::{CompressionLvl, Compressor};

use crate::dist::SizeDist;
use crate::rng::{Rng, ALNUM, B64URL, HEX};
use crate::words::*;

/// What kind of traffic to make, as shares in parts per million.
#[derive(Clone, Debug)]
pub struct Mix {
    pub static_ppm: u32,
    pub gzip_ppm: u32,
    pub chunked_ppm: u32,
    pub error_ppm: u32,
    pub request_body: SizeDist,
    pub response_body: SizeDist,
    pub static_body: SizeDist,
    pub gzip_level: i32,
}

/// The client behind one connection: the same identity for all its requests.
pub struct Client {
    pub host: &'static str,
    user_agent: &'static str,
    browser: bool,
    language: &'static str,
    real_ip: Ipv4Addr,
    proxy_ip: Ipv4Addr,
    token: String,
    cookie: String,
}

impl Client {
    pub fn new(rng: &mut Rng) -> Self {
        let &(user_agent, browser) = rng.pick(USER_AGENTS);
        let mut token = Vec::with_capacity(160);
        token.extend_from_slice(b"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.");
        rng.push_chars(&mut token, B64URL, 80);
        token.push(b'.');
        rng.push_chars(&mut token, B64URL, 43);
        let mut cookie = Vec::with_capacity(120);
        cookie.extend_from_slice(b"sid=");
        rng.push_chars(&mut cookie, HEX, 32);
        cookie.extend_from_slice(b"; _ga=GA1.2.");
        let _ = write!(
            cookie,
            "{}.{}",
            rng.range(100_000_000, 999_999_999),
            rng.range(1_700_000_000, 1_767_000_000)
        );
        cookie.extend_from_slice(b"; theme=dark");
        Client {
            host: rng.pick_copy(API_HOSTS),
            user_agent,
            browser,
            language: rng.pick_copy(LANGUAGES),
            real_ip: Ipv4Addr::new(203, 0, 113, rng.range(1, 254) as u8),
            proxy_ip: Ipv4Addr::new(192, 0, 2, rng.range(200, 220) as u8),
            token: String::from_utf8(token).expect("ascii"),
            cookie: String::from_utf8(cookie).expect("ascii"),
        }
    }
}

/// Facts about one generated transaction, for the ground truth.
#[derive(Clone, Debug, Default)]
pub struct TxnInfo {
    pub method: &'static str,
    pub path: String,
    pub host: &'static str,
    pub status: u16,
    pub is_static: bool,
    pub gzip: bool,
    pub chunked: bool,
    /// Decoded response body length (0 for HEAD, 204 and 304).
    pub response_body: usize,
    pub request_body: usize,
}

pub struct Content {
    mix: Mix,
    compressor: Compressor,
    body: Vec<u8>,
    packed: Vec<u8>,
}

enum Route {
    Get,
    List,
    Search,
    Create,
    Login,
    Replace,
    Patch,
    Delete,
    Head,
    Conditional,
    Health,
}

const ROUTES: &[(Route, u32)] = &[
    (Route::Get, 30),
    (Route::List, 18),
    (Route::Search, 8),
    (Route::Create, 12),
    (Route::Login, 2),
    (Route::Replace, 5),
    (Route::Patch, 4),
    (Route::Delete, 4),
    (Route::Head, 3),
    (Route::Conditional, 3),
    (Route::Health, 2),
];

impl Content {
    pub fn new(mix: Mix) -> Self {
        let level = CompressionLvl::new(mix.gzip_level).unwrap_or_default();
        Content {
            mix,
            compressor: Compressor::new(level),
            body: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// Appends one request to `req` and its response to `resp`.
    pub fn exchange(
        &mut self,
        rng: &mut Rng,
        client: &Client,
        now_secs: u64,
        close: bool,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> TxnInfo {
        if rng.chance_ppm(self.mix.static_ppm) {
            self.static_asset(rng, client, now_secs, close, req, resp)
        } else {
            self.api_call(rng, client, now_secs, close, req, resp)
        }
    }

    fn api_call(
        &mut self,
        rng: &mut Rng,
        client: &Client,
        now: u64,
        close: bool,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> TxnInfo {
        let weights: Vec<u32> = ROUTES.iter().map(|r| r.1).collect();
        let route = &ROUTES[rng.weighted(&weights)].0;
        let res = rng.pick(RESOURCES);
        let id = rng.range(1, 9_999_999);
        let mut info = TxnInfo {
            host: client.host,
            status: 200,
            ..Default::default()
        };
        let mut has_req_body = false;
        let mut has_resp_body = true;
        let mut etag_match = false;
        match route {
            Route::Get => {
                info.method = "GET";
                info.path = format!("/api/v1/{res}/{id}");
            }
            Route::List => {
                info.method = "GET";
                info.path = format!(
                    "/api/v1/{res}?page={}&limit={}",
                    rng.range(1, 40),
                    rng.pick(&[10, 20, 50, 100])
                );
            }
            Route::Search => {
                info.method = "GET";
                info.path = format!("/api/v2/search?q={}&sort=relevance", rng.pick(SEARCH_TERMS));
            }
            Route::Create => {
                info.method = "POST";
                info.path = format!("/api/v1/{res}");
                info.status = 201;
                has_req_body = true;
            }
            Route::Login => {
                info.method = "POST";
                info.path = "/api/v1/auth/login".to_string();
                has_req_body = true;
            }
            Route::Replace => {
                info.method = "PUT";
                info.path = format!("/api/v1/{res}/{id}");
                has_req_body = true;
            }
            Route::Patch => {
                info.method = "PATCH";
                let mut p = format!("/api/v1/{res}/").into_bytes();
                push_uuid(rng, &mut p);
                info.path = String::from_utf8(p).expect("ascii");
                has_req_body = true;
            }
            Route::Delete => {
                info.method = "DELETE";
                info.path = format!("/api/v1/{res}/{id}");
                info.status = 204;
                has_resp_body = false;
            }
            Route::Head => {
                info.method = "HEAD";
                info.path = format!("/api/v1/{res}/{id}");
            }
            Route::Conditional => {
                info.method = "GET";
                info.path = format!("/api/v1/{res}/{id}");
                info.status = 304;
                has_resp_body = false;
                etag_match = true;
            }
            Route::Health => {
                info.method = "GET";
                info.path = "/healthz".to_string();
            }
        }
        let error = info.method != "HEAD" && rng.chance_ppm(self.mix.error_ppm);

        // Request.
        self.body.clear();
        if has_req_body {
            let size = self.mix.request_body.sample(rng) as usize;
            json_body(rng, size, now, &mut self.body);
        }
        let request_id = uuid(rng);
        let _ = write!(
            req,
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n",
            info.method, info.path, client.host, client.user_agent
        );
        req.extend_from_slice(
            b"Accept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, deflate, br\r\n",
        );
        if client.browser {
            let _ = write!(req, "Accept-Language: {}\r\nOrigin: https://{WEB_HOST}\r\nReferer: https://{WEB_HOST}/app/{res}\r\nCookie: {}\r\n", client.language, client.cookie);
        } else {
            let _ = write!(req, "Authorization: Bearer {}\r\n", client.token);
        }
        let _ = write!(
            req,
            "X-Real-IP: {}\r\nX-Forwarded-For: {}, {}\r\nX-Forwarded-Proto: https\r\nX-Request-ID: {request_id}\r\n",
            client.real_ip, client.real_ip, client.proxy_ip
        );
        if etag_match {
            let _ = write!(
                req,
                "If-None-Match: W/\"{:016x}\"\r\n",
                id.wrapping_mul(0x9e37_79b9)
            );
        }
        if has_req_body {
            let _ = write!(
                req,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                self.body.len()
            );
        }
        if close {
            req.extend_from_slice(b"Connection: close\r\n");
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(&self.body);
        info.request_body = self.body.len();

        // Response.
        self.body.clear();
        let reason;
        if error {
            let &(code, text, slug) = rng.pick(ERRORS);
            info.status = code;
            reason = text;
            has_resp_body = true;
            let _ = write!(
                self.body,
                "{{\"error\":\"{slug}\",\"message\":\"{text}\",\"request_id\":\"{request_id}\",\"path\":\"{}\"}}",
                info.path.split('?').next().unwrap_or("")
            );
        } else {
            reason = reason_phrase(info.status);
            if has_resp_body {
                let size = self.mix.response_body.sample(rng) as usize;
                if matches!(route, Route::Login) {
                    let _ = write!(
                        self.body,
                        "{{\"access_token\":\"{}\",\"token_type\":\"Bearer\",\"expires_in\":3600}}",
                        client.token
                    );
                } else if matches!(route, Route::Health) {
                    self.body.extend_from_slice(b"{\"status\":\"ok\"}");
                } else {
                    json_body(rng, size, now, &mut self.body);
                }
            }
        }
        let head_only = info.method == "HEAD";
        let mut extra = String::new();
        if !error && info.method == "GET" {
            extra = format!(
                "ETag: W/\"{:016x}\"\r\nCache-Control: private, max-age=0, must-revalidate\r\n",
                id.wrapping_mul(0x9e37_79b9)
            );
        } else {
            extra.push_str("Cache-Control: no-store\r\n");
        }
        if matches!(route, Route::Login) && !error {
            let mut sid = Vec::new();
            rng.push_chars(&mut sid, HEX, 32);
            extra.push_str(&format!(
                "Set-Cookie: sid={}; Path=/; HttpOnly; Secure; SameSite=Lax\r\n",
                String::from_utf8(sid).expect("ascii")
            ));
        }
        if matches!(route, Route::Create) && !error {
            extra.push_str(&format!("Location: /api/v1/{res}/{id}\r\n"));
        }
        extra.push_str(&format!(
            "X-Request-ID: {request_id}\r\nX-RateLimit-Remaining: {}\r\n",
            rng.range(0, 999)
        ));
        self.respond(
            rng,
            &mut info,
            reason,
            "application/json; charset=utf-8",
            &extra,
            has_resp_body,
            head_only,
            now,
            close,
            true,
            resp,
        );
        info
    }

    fn static_asset(
        &mut self,
        rng: &mut Rng,
        client: &Client,
        now: u64,
        close: bool,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> TxnInfo {
        let asset = rng.pick(ASSETS);
        let name = rng.pick(asset.names);
        let path = format!("{}{name}.{}", asset.dir, asset.ext);
        let mut info = TxnInfo {
            method: "GET",
            path,
            host: WEB_HOST,
            status: 200,
            is_static: true,
            ..Default::default()
        };
        let not_modified = rng.chance_ppm(100_000);
        let _ = write!(
            req,
            "GET {} HTTP/1.1\r\nHost: {WEB_HOST}\r\nUser-Agent: {}\r\nAccept: {}\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: {}\r\nReferer: https://{WEB_HOST}/\r\nCookie: {}\r\nX-Real-IP: {}\r\nX-Forwarded-For: {}\r\n",
            info.path, client.user_agent, asset.accept, client.language, client.cookie, client.real_ip, client.real_ip
        );
        if not_modified {
            req.extend_from_slice(b"If-Modified-Since: Mon, 05 Jan 2026 08:00:00 GMT\r\n");
        }
        if close {
            req.extend_from_slice(b"Connection: close\r\n");
        }
        req.extend_from_slice(b"\r\n");

        self.body.clear();
        if not_modified {
            info.status = 304;
        } else {
            let size = self.mix.static_body.sample(rng) as usize;
            if asset.text {
                text_asset(rng, asset.ext, size, &mut self.body);
            } else {
                rng.push_bytes(&mut self.body, size);
            }
        }
        let extra = "Cache-Control: public, max-age=31536000, immutable\r\nLast-Modified: Mon, 05 Jan 2026 08:00:00 GMT\r\nAccept-Ranges: bytes\r\n";
        let reason = reason_phrase(info.status);
        self.respond(
            rng,
            &mut info,
            reason,
            asset.ctype,
            extra,
            !not_modified,
            false,
            now,
            close,
            asset.text,
            resp,
        );
        info
    }

    /// Writes the status line, headers and the body in `self.body`, choosing
    /// gzip and chunked framing by the configured shares.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        rng: &mut Rng,
        info: &mut TxnInfo,
        reason: &str,
        ctype: &str,
        extra: &str,
        has_body: bool,
        head_only: bool,
        now: u64,
        close: bool,
        compressible: bool,
        resp: &mut Vec<u8>,
    ) {
        let _ = write!(
            resp,
            "HTTP/1.1 {} {reason}\r\nServer: {}\r\nDate: ",
            info.status,
            rng.pick(SERVERS)
        );
        http_date(now, resp);
        resp.extend_from_slice(b"\r\n");
        if !has_body {
            let _ = write!(resp, "{extra}");
        } else {
            info.response_body = if head_only { 0 } else { self.body.len() };
            let _ = write!(resp, "Content-Type: {ctype}\r\n");
            let gzip = compressible && self.body.len() >= 20 && rng.chance_ppm(self.mix.gzip_ppm);
            // HEAD answers announce the length the GET would have had.
            let chunked = !head_only && rng.chance_ppm(self.mix.chunked_ppm);
            let payload: &[u8] = if gzip {
                self.packed
                    .resize(self.compressor.gzip_compress_bound(self.body.len()), 0);
                let n = self
                    .compressor
                    .gzip_compress(&self.body, &mut self.packed)
                    .expect("bound is enough");
                self.packed.truncate(n);
                resp.extend_from_slice(b"Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
                &self.packed
            } else {
                &self.body
            };
            info.gzip = gzip && !head_only;
            info.chunked = chunked;
            if chunked {
                resp.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            } else {
                let _ = write!(resp, "Content-Length: {}\r\n", payload.len());
            }
            let _ = write!(resp, "{extra}");
            resp.extend_from_slice(if close {
                b"Connection: close\r\n\r\n"
            } else {
                b"Connection: keep-alive\r\n\r\n"
            });
            if chunked {
                write_chunked(rng, payload, resp);
            } else if !head_only {
                resp.extend_from_slice(payload);
            }
            return;
        }
        resp.extend_from_slice(if close {
            b"Connection: close\r\n\r\n"
        } else {
            b"Connection: keep-alive\r\n\r\n"
        });
    }
}

/// Splits `payload` into one to four chunks of uneven size, as streaming
/// servers do.
fn write_chunked(rng: &mut Rng, payload: &[u8], out: &mut Vec<u8>) {
    let mut rest = payload;
    let mut pieces = rng.range(1, 4);
    while !rest.is_empty() {
        let take = if pieces <= 1 {
            rest.len()
        } else {
            rng.range(1, rest.len() as u64) as usize
        };
        let _ = write!(out, "{take:x}\r\n");
        out.extend_from_slice(&rest[..take]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[take..];
        pieces = pieces.saturating_sub(1);
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        _ => "OK",
    }
}

fn uuid(rng: &mut Rng) -> String {
    let mut v = Vec::with_capacity(36);
    push_uuid(rng, &mut v);
    String::from_utf8(v).expect("ascii")
}

fn push_uuid(rng: &mut Rng, out: &mut Vec<u8>) {
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        rng.push_chars(out, HEX, n);
    }
}

/// A JSON document of about `target` bytes: a page of records plus metadata.
pub fn json_body(rng: &mut Rng, target: usize, now: u64, out: &mut Vec<u8>) {
    let start = out.len();
    if target < 96 {
        let _ = write!(out, "{{\"id\":{},\"ok\":true}}", rng.range(1, 9_999_999));
        return;
    }
    out.extend_from_slice(b"{\"data\":[");
    let mut count = 0;
    while out.len() - start + 80 < target || count == 0 {
        if count > 0 {
            out.push(b',');
        }
        json_record(rng, now, out);
        count += 1;
    }
    let _ = write!(out, "],\"meta\":{{\"count\":{count},\"next\":\"");
    // Pad the cursor so the document lands on the requested size.
    let used = out.len() - start + 3;
    rng.push_chars(out, ALNUM, target.saturating_sub(used).clamp(8, 64));
    out.extend_from_slice(b"\"}}");
}

fn json_record(rng: &mut Rng, now: u64, out: &mut Vec<u8>) {
    let first = rng.pick(FIRST_NAMES);
    let i = rng.below(CITIES.len() as u64) as usize;
    let _ = write!(
        out,
        "{{\"id\":{},\"uuid\":\"{}\",\"name\":\"{}\",\"email\":\"{first}.{}@example.com\",\"status\":\"{}\",\"amount\":{}.{:02},\"currency\":\"{}\",\"created_at\":\"",
        rng.range(1, 99_999_999),
        uuid(rng),
        rng.pick(DISPLAY_NAMES),
        rng.range(1, 999),
        rng.pick(STATUSES),
        rng.range(0, 99_999),
        rng.below(100),
        rng.pick(CURRENCIES),
    );
    iso_date(now - rng.below(90 * 86_400), out);
    let _ = write!(
        out,
        "\",\"tags\":[\"{}\",\"{}\"],\"active\":{},\"address\":{{\"city\":\"{}\",\"country\":\"{}\"}}",
        rng.pick(TAGS),
        rng.pick(TAGS),
        rng.below(2) == 1,
        CITIES[i],
        COUNTRIES[i]
    );
    if rng.below(8) == 0 {
        out.extend_from_slice(b",\"note\":\"Leave at the \\\"back door\\\"\\nRing twice\"");
    }
    out.push(b'}');
}

fn text_asset(rng: &mut Rng, ext: &str, target: usize, out: &mut Vec<u8>) {
    let start = out.len();
    while out.len() - start < target {
        let n = rng.below(4096);
        let _ = match ext {
            "css" => writeln!(
                out,
                ".c{n:x}{{margin:{}px;color:#{:06x}}}",
                rng.below(32),
                rng.below(0xffffff)
            ),
            "svg" => writeln!(
                out,
                "<path d=\"M{} {}L{} {}Z\" fill=\"#{:06x}\"/>",
                rng.below(512),
                rng.below(512),
                rng.below(512),
                rng.below(512),
                rng.below(0xffffff)
            ),
            _ => writeln!(
                out,
                "function f{n:x}(a,b){{return a+b*{}}};",
                rng.below(100)
            ),
        };
    }
    out.truncate(start + target);
}

/// `Date:` form, e.g. "Mon, 05 Jan 2026 09:00:00 GMT".
pub fn http_date(secs: u64, out: &mut Vec<u8>) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let t = secs % 86_400;
    let _ = write!(
        out,
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[m as usize - 1],
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

fn iso_date(secs: u64, out: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    let _ = write!(
        out,
        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's well-known algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> Mix {
        Mix {
            static_ppm: 0,
            gzip_ppm: 0,
            chunked_ppm: 0,
            error_ppm: 0,
            request_body: SizeDist::Fixed(200),
            response_body: SizeDist::Fixed(1000),
            static_body: SizeDist::Fixed(500),
            gzip_level: 1,
        }
    }

    #[test]
    fn dates_format() {
        let mut out = Vec::new();
        http_date(1_767_603_600, &mut out);
        assert_eq!(out, b"Mon, 05 Jan 2026 09:00:00 GMT");
    }

    #[test]
    fn json_body_hits_size_roughly() {
        let mut rng = Rng::new(5);
        for target in [100, 500, 4000, 30_000] {
            let mut out = Vec::new();
            json_body(&mut rng, target, 1_767_603_600, &mut out);
            assert!(
                out.len() + 400 > target && out.len() < target + 400,
                "{target} -> {}",
                out.len()
            );
            assert!(std::str::from_utf8(&out).is_ok());
        }
    }

    #[test]
    fn chunked_gzip_response_decodes() {
        let mut m = mix();
        m.gzip_ppm = 1_000_000;
        m.chunked_ppm = 1_000_000;
        let mut content = Content::new(m);
        let mut rng = Rng::new(9);
        let client = Client::new(&mut rng);
        for _ in 0..50 {
            let (mut req, mut resp) = (Vec::new(), Vec::new());
            let info =
                content.exchange(&mut rng, &client, 1_767_603_600, false, &mut req, &mut resp);
            assert!(req.starts_with(info.method.as_bytes()));
            if info.response_body < 20 {
                continue;
            }
            assert!(info.gzip && info.chunked);
            let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let mut body = &resp[head_end..];
            let mut packed = Vec::new();
            loop {
                let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16)
                        .unwrap();
                body = &body[line_end + 2..];
                if size == 0 {
                    assert_eq!(body, b"\r\n");
                    break;
                }
                packed.extend_from_slice(&body[..size]);
                body = &body[size + 2..];
            }
            let mut plain = vec![0; info.response_body];
            let n = libdeflater::Decompressor::new()
                .gzip_decompress(&packed, &mut plain)
                .unwrap();
            assert_eq!(n, info.response_body);
        }
    }
}
