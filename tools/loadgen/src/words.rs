//! Vocabulary for headers and bodies. Host names use the reserved
//! example.* domains; client addresses come from documentation ranges.

pub const API_HOSTS: &[&str] = &[
    "api.example.com",
    "api.example.net",
    "shop.example.org",
    "example.com:8080",
];
pub const WEB_HOST: &str = "www.example.com";

/// Client software as it announces itself; `true` marks browsers, which
/// send cookies, Accept-Language and Referer instead of bearer tokens.
pub const USER_AGENTS: &[(&str, bool)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", true),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", true),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", true),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", true),
    ("okhttp/4.12.0", false),
    ("python-requests/2.31.0", false),
    ("Go-http-client/1.1", false),
    ("axios/1.6.8", false),
    ("curl/7.88.1", false),
    ("Java-http-client/17.0.10", false),
];

pub const LANGUAGES: &[&str] = &[
    "en-US,en;q=0.9",
    "de-DE,de;q=0.9,en;q=0.8",
    "fr-FR,fr;q=0.8,en-US;q=0.5",
    "ja-JP,ja;q=0.9",
];

pub const RESOURCES: &[&str] = &[
    "users",
    "orders",
    "products",
    "carts",
    "invoices",
    "payments",
    "accounts",
    "customers",
    "shipments",
    "reviews",
];

pub const FIRST_NAMES: &[&str] = &[
    "alice", "bob", "carol", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jonas", "kemal",
    "lena", "mateo", "nora",
];
/// Display names; a few carry non-ASCII letters, which JSON writers must keep intact.
pub const DISPLAY_NAMES: &[&str] = &[
    "Alice Moreau",
    "Bob Lindqvist",
    "Carol Ng",
    "José Álvarez",
    "Zoë Brandt",
    "Hiro Tanaka",
    "Ines Kowalska",
    "渡辺 結衣",
];
pub const CITIES: &[&str] = &[
    "Lisbon",
    "Toronto",
    "Osaka",
    "Nairobi",
    "Kraków",
    "Austin",
    "Melbourne",
    "São Paulo",
];
pub const COUNTRIES: &[&str] = &["PT", "CA", "JP", "KE", "PL", "US", "AU", "BR"];
pub const STATUSES: &[&str] = &[
    "active",
    "pending",
    "shipped",
    "cancelled",
    "refunded",
    "archived",
];
pub const CURRENCIES: &[&str] = &["USD", "EUR", "JPY", "GBP", "BRL"];
pub const TAGS: &[&str] = &[
    "new", "priority", "gift", "b2b", "trial", "vip", "bulk", "eu",
];
pub const SEARCH_TERMS: &[&str] = &[
    "laptop",
    "running+shoes",
    "coffee",
    "desk%20lamp",
    "headphones",
    "caf%C3%A9",
];
pub const SERVERS: &[&str] = &["nginx/1.22.1", "nginx", "envoy", "openresty"];

pub const ERRORS: &[(u16, &str, &str)] = &[
    (400, "Bad Request", "invalid_request"),
    (401, "Unauthorized", "unauthorized"),
    (403, "Forbidden", "forbidden"),
    (404, "Not Found", "not_found"),
    (404, "Not Found", "not_found"),
    (404, "Not Found", "not_found"),
    (409, "Conflict", "conflict"),
    (422, "Unprocessable Entity", "validation_failed"),
    (429, "Too Many Requests", "rate_limited"),
    (500, "Internal Server Error", "internal"),
    (502, "Bad Gateway", "upstream_unavailable"),
    (503, "Service Unavailable", "maintenance"),
];

/// Static assets: directory, file names, extension, content type, the
/// request's Accept, and whether the body is text (compressible).
pub struct Asset {
    pub dir: &'static str,
    pub names: &'static [&'static str],
    pub ext: &'static str,
    pub ctype: &'static str,
    pub accept: &'static str,
    pub text: bool,
}

const IMAGE_ACCEPT: &str = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";

pub const ASSETS: &[Asset] = &[
    Asset {
        dir: "/static/js/",
        names: &["app", "vendor", "runtime", "chunk-3f9a"],
        ext: "js",
        ctype: "application/javascript",
        accept: "*/*",
        text: true,
    },
    Asset {
        dir: "/static/css/",
        names: &["main", "app", "print"],
        ext: "css",
        ctype: "text/css",
        accept: "text/css,*/*;q=0.1",
        text: true,
    },
    Asset {
        dir: "/static/img/",
        names: &["logo", "hero", "avatar-default"],
        ext: "png",
        ctype: "image/png",
        accept: IMAGE_ACCEPT,
        text: false,
    },
    Asset {
        dir: "/static/img/",
        names: &["banner", "product-1", "product-2"],
        ext: "jpg",
        ctype: "image/jpeg",
        accept: IMAGE_ACCEPT,
        text: false,
    },
    Asset {
        dir: "/static/img/",
        names: &["icons", "spinner"],
        ext: "svg",
        ctype: "image/svg+xml",
        accept: IMAGE_ACCEPT,
        text: true,
    },
    Asset {
        dir: "/fonts/",
        names: &["inter-var", "roboto-regular"],
        ext: "woff2",
        ctype: "font/woff2",
        accept: "*/*",
        text: false,
    },
    Asset {
        dir: "/",
        names: &["favicon"],
        ext: "ico",
        ctype: "image/x-icon",
        accept: IMAGE_ACCEPT,
        text: false,
    },
];
