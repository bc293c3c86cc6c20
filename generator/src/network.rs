//! Who sends the requests: browser user-agents, accept-language values, client addresses
//! drawn from real national allocations, shared NAT addresses, CDN proxy hops, and the
//! header dict the proxy logged for each request.

use std::net::{Ipv4Addr, Ipv6Addr};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One browser (or script) user-agent. `languages` restricts regional browsers to the
/// languages whose users actually run them; empty means anyone.
pub struct UserAgent {
    pub text: &'static str,
    pub weight: f64,
    pub languages: &'static [&'static str],
}

/// The fingerprint pool's user-agents. The last few are deliberately odd (quotes, a tab,
/// non-ASCII, a no-break space) so both Python quote styles and repr escapes occur.
pub const USER_AGENTS: &[UserAgent] = &[
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36", weight: 14.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36", weight: 10.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36", weight: 8.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", weight: 7.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36", weight: 6.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/115.0.0.0 Safari/537.36 Edg/115.0.1901.188", weight: 5.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/112.0", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", weight: 3.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.0.0 Safari/537.36", weight: 5.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Safari/605.1.15", weight: 3.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", weight: 2.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/115.0", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36 Edg/118.0.2088.76", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36", weight: 2.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/113.0", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36", weight: 0.5, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (iPhone; CPU iPhone OS 16_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Mobile/15E148 Safari/604.1", weight: 5.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (iPad; CPU OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36", weight: 6.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", weight: 4.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/21.0 Chrome/110.0.5481.154 Mobile Safari/537.36", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", weight: 0.5, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 OPR/100.0.0.0", weight: 1.0, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 YaBrowser/23.5.1.667 Yowser/2.5 Safari/537.36", weight: 8.0, languages: &["Russian", "Ukrainian"] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.71 Safari/537.36 Core/1.94.197.400 QQBrowser/11.7.5287.400", weight: 8.0, languages: &["Chinese"] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 12; V2134A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5061 MMWEBSDK/20230405 MicroMessenger/8.0.35.2360(0x2800235D) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64", weight: 6.0, languages: &["Chinese"] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 10; HarmonyOS; NOH-AN00; HMSCore 6.11.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.0.322 Mobile Safari/537.36", weight: 5.0, languages: &["Chinese"] },
    UserAgent { text: "Mozilla/5.0 (Linux; U; Android 12; zh-cn; 2201123C Build/SKQ1.211006.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.127 Mobile Safari/537.36 XiaoMi/MiuiBrowser/17.4.80113", weight: 4.0, languages: &["Chinese"] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 11; Infinix X6812) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/111.0.0.0 Mobile Safari/537.36 OPR/74.3.3922.70976", weight: 3.0, languages: &["English", "Arabic", "Hindi", "Indonesian"] },
    UserAgent { text: "python-requests/2.31.0", weight: 0.8, languages: &[] },
    UserAgent { text: "curl/7.88.1", weight: 0.3, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36 Bob's-Toolbar/2.1", weight: 0.6, languages: &[] },
    UserAgent { text: "O'Reilly Learning/5.3 (iPad; iOS 16.4; Scale/2.00)", weight: 0.4, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (compatible; \"QuoteBot\" O'Neil-Crawler/1.0)", weight: 0.3, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Linux; Android 11) \"Custom\" WebView/1.0", weight: 0.2, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)\tNavigateur-Équipe/2.1", weight: 0.2, languages: &[] },
    UserAgent { text: "Mozilla/5.0 (X11; Linux x86_64) Chrome/112.0.0.0\u{a0}Safari/537.36", weight: 0.2, languages: &[] },
];

/// An IPv4 block as (first address, prefix length).
pub type Ipv4Block = ([u8; 4], u8);

/// An IPv6 allocation: the fixed first group and the range of the second.
pub type Ipv6Prefix = (u16, u16, u16);

/// A country with a few of its large national ISP allocations.
pub struct Country {
    pub code: &'static str,
    pub ipv4: &'static [Ipv4Block],
    pub ipv6: &'static [Ipv6Prefix],
}

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        ipv4: &[
            ([73, 0, 0, 0], 8),
            ([12, 0, 0, 0], 8),
            ([99, 0, 0, 0], 9),
            ([172, 56, 0, 0], 14),
        ],
        ipv6: &[(0x2601, 0x0001, 0x0fff), (0x2600, 0x1700, 0x17ff)],
    },
    Country {
        code: "CN",
        ipv4: &[
            ([117, 128, 0, 0], 10),
            ([123, 112, 0, 0], 12),
            ([183, 0, 0, 0], 10),
            ([220, 160, 0, 0], 11),
        ],
        ipv6: &[(0x240e, 0x0001, 0x0fff), (0x2409, 0x8a00, 0x8aff)],
    },
    Country {
        code: "RU",
        ipv4: &[
            ([95, 24, 0, 0], 13),
            ([176, 59, 0, 0], 16),
            ([213, 87, 128, 0], 17),
            ([91, 76, 0, 0], 14),
        ],
        ipv6: &[(0x2a00, 0x1fa0, 0x1fa7)],
    },
    Country {
        code: "HK",
        ipv4: &[([42, 2, 0, 0], 15), ([218, 102, 0, 0], 16), ([112, 118, 0, 0], 16)],
        ipv6: &[],
    },
    Country {
        code: "GB",
        ipv4: &[([86, 128, 0, 0], 10), ([81, 96, 0, 0], 12)],
        ipv6: &[(0x2a00, 0x23c0, 0x23ff)],
    },
    Country {
        code: "DE",
        ipv4: &[([79, 192, 0, 0], 10), ([91, 0, 0, 0], 10), ([93, 192, 0, 0], 10)],
        ipv6: &[(0x2003, 0x0001, 0x1fff)],
    },
    Country {
        code: "FR",
        ipv4: &[([90, 0, 0, 0], 9), ([82, 64, 0, 0], 14)],
        ipv6: &[(0x2a01, 0xcb00, 0xcbff)],
    },
    Country {
        code: "JP",
        ipv4: &[([126, 0, 0, 0], 8), ([60, 32, 0, 0], 12)],
        ipv6: &[(0x240b, 0x0010, 0x025f)],
    },
    Country {
        code: "CA",
        ipv4: &[([99, 224, 0, 0], 11), ([174, 88, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "IN",
        ipv4: &[([117, 192, 0, 0], 10), ([49, 32, 0, 0], 11)],
        ipv6: &[(0x2409, 0x4000, 0x43ff)],
    },
    Country {
        code: "BR",
        ipv4: &[([177, 0, 0, 0], 10), ([189, 0, 0, 0], 11)],
        ipv6: &[(0x2804, 0x0001, 0xffff)],
    },
    Country {
        code: "UA",
        ipv4: &[([93, 72, 0, 0], 13), ([176, 36, 0, 0], 14)],
        ipv6: &[],
    },
    Country {
        code: "KZ",
        ipv4: &[([2, 132, 0, 0], 14), ([95, 56, 0, 0], 14)],
        ipv6: &[],
    },
    Country {
        code: "BY",
        ipv4: &[([178, 120, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "TW",
        ipv4: &[([1, 160, 0, 0], 12), ([114, 32, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "SG",
        ipv4: &[([118, 200, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "AU",
        ipv4: &[([101, 160, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "PH",
        ipv4: &[([112, 198, 0, 0], 16), ([120, 28, 0, 0], 16)],
        ipv6: &[],
    },
    Country {
        code: "ES",
        ipv4: &[([83, 32, 0, 0], 11), ([88, 0, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "MX",
        ipv4: &[([187, 128, 0, 0], 10)],
        ipv6: &[],
    },
    Country {
        code: "AR",
        ipv4: &[([181, 0, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "IT",
        ipv4: &[([79, 0, 0, 0], 10)],
        ipv6: &[],
    },
    Country {
        code: "TR",
        ipv4: &[([78, 160, 0, 0], 11), ([88, 224, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "KR",
        ipv4: &[([175, 192, 0, 0], 10)],
        ipv6: &[],
    },
    Country {
        code: "VN",
        ipv4: &[([113, 160, 0, 0], 11), ([14, 160, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "PL",
        ipv4: &[([83, 0, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "IR",
        ipv4: &[([2, 176, 0, 0], 12), ([5, 112, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "ID",
        ipv4: &[([36, 64, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "TH",
        ipv4: &[([171, 96, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "GR",
        ipv4: &[([79, 128, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "IL",
        ipv4: &[([79, 176, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "NL",
        ipv4: &[([77, 160, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "SA",
        ipv4: &[([51, 36, 0, 0], 14)],
        ipv6: &[],
    },
    Country {
        code: "EG",
        ipv4: &[([41, 32, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "AE",
        ipv4: &[([94, 200, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "MY",
        ipv4: &[([175, 136, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "PK",
        ipv4: &[([39, 32, 0, 0], 11)],
        ipv6: &[],
    },
    Country {
        code: "NG",
        ipv4: &[([105, 112, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "BE",
        ipv4: &[([81, 240, 0, 0], 12)],
        ipv6: &[],
    },
    Country {
        code: "CH",
        ipv4: &[([85, 0, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "PT",
        ipv4: &[([85, 240, 0, 0], 13)],
        ipv6: &[],
    },
    Country {
        code: "AT",
        ipv4: &[([80, 108, 0, 0], 14)],
        ipv6: &[],
    },
    Country {
        code: "CO",
        ipv4: &[([181, 48, 0, 0], 12)],
        ipv6: &[],
    },
];

/// Cloudflare edge ranges: the second `x-forwarded-for` hop.
const PROXY_BLOCKS: &[Ipv4Block] = &[
    ([172, 64, 0, 0], 13),
    ([162, 158, 0, 0], 15),
    ([141, 101, 64, 0], 18),
    ([108, 162, 192, 0], 18),
];

/// Share of users on IPv6 among those whose country has an IPv6 allocation listed.
const IPV6_SHARE_WHERE_AVAILABLE: f64 = 0.155;

pub fn country_index(code: &str) -> usize {
    COUNTRIES.iter().position(|country| country.code == code).unwrap_or(0)
}

/// A uniformly drawn host address inside one of the blocks, never the network or the
/// broadcast-looking `.0`/`.255` last octet.
pub fn draw_ipv4(rng: &mut ChaCha8Rng, blocks: &[Ipv4Block]) -> String {
    let (base, prefix) = blocks[rng.random_range(0..blocks.len())];
    let base = u32::from_be_bytes(base);
    let host_bits = 32 - u32::from(prefix);
    let host_mask = if host_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << host_bits) - 1
    };
    let offset = rng.random::<u32>() & host_mask;
    let mut address = (base & !host_mask) | offset;
    let last_octet = address & 0xff;
    if last_octet == 0 || last_octet == 255 {
        address = (address & !0xff) | rng.random_range(1..255);
    }
    Ipv4Addr::from(address).to_string()
}

fn draw_ipv6(rng: &mut ChaCha8Rng, prefixes: &[Ipv6Prefix]) -> String {
    let (first, second_low, second_high) = prefixes[rng.random_range(0..prefixes.len())];
    let mut groups = [0u16; 8];
    groups[0] = first;
    groups[1] = rng.random_range(second_low..=second_high);
    for group in groups.iter_mut().skip(2) {
        // Non-zero groups keep the text free of `::`, so it is already the canonical form.
        *group = rng.random_range(1..=u16::MAX);
    }
    Ipv6Addr::from(groups).to_string()
}

/// A client address in the country: IPv6 for a share of users where the country has it.
pub fn draw_client_ip(rng: &mut ChaCha8Rng, country: &Country) -> String {
    if !country.ipv6.is_empty() && rng.random_bool(IPV6_SHARE_WHERE_AVAILABLE) {
        draw_ipv6(rng, country.ipv6)
    } else {
        draw_ipv4(rng, country.ipv4)
    }
}

/// Redraws until the address differs from `avoid` (a changed or twin address must differ).
pub fn draw_client_ip_other_than(rng: &mut ChaCha8Rng, country: &Country, avoid: &str) -> String {
    loop {
        let candidate = draw_client_ip(rng, country);
        if candidate != avoid {
            return candidate;
        }
    }
}

pub fn draw_proxy_ip(rng: &mut ChaCha8Rng) -> String {
    draw_ipv4(rng, PROXY_BLOCKS)
}

/// Picks an index by weight.
pub fn pick_weighted<T>(rng: &mut ChaCha8Rng, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut remaining = rng.random::<f64>() * total;
    for (index, item) in items.iter().enumerate() {
        remaining -= weight(item);
        if remaining < 0.0 {
            return index;
        }
    }
    items.len() - 1
}

/// Picks a user-agent index for a user writing in `language`.
pub fn pick_user_agent(rng: &mut ChaCha8Rng, language: &str) -> usize {
    pick_weighted(rng, USER_AGENTS, |agent| {
        if agent.languages.is_empty() || agent.languages.contains(&language) {
            agent.weight
        } else {
            0.0
        }
    })
}

/// Per-user header habits that stay fixed across that user's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderHabits {
    pub accept_encoding: &'static str,
    /// Whether the proxy appended its own hop to `x-forwarded-for`.
    pub forwarded_through_cdn: bool,
    pub sends_real_ip: bool,
}

const ACCEPT_ENCODINGS: &[&str] = &["gzip, deflate, br", "gzip, deflate", "gzip, deflate, br, zstd"];

pub fn draw_header_habits(rng: &mut ChaCha8Rng) -> HeaderHabits {
    HeaderHabits {
        accept_encoding: ACCEPT_ENCODINGS[pick_weighted(rng, &[6.0, 2.0, 2.0], |weight| *weight)],
        forwarded_through_cdn: rng.random_bool(0.65),
        sends_real_ip: rng.random_bool(0.4),
    }
}

/// The host each model's front end was served from.
pub fn host_for_model(is_gpt4: bool) -> &'static str {
    if is_gpt4 {
        "yuntian-deng-chatgpt4.hf.space"
    } else {
        "yuntian-deng-chatgpt.hf.space"
    }
}

/// What one request's headers hold. `client_ip: None` leaves out both address headers
/// (the `missing_client_ip` defect).
pub struct HeaderInput<'a> {
    pub host: &'a str,
    pub user_agent: &'a str,
    pub accept_language: Option<&'a str>,
    pub habits: &'a HeaderHabits,
    pub client_ip: Option<&'a str>,
    pub proxy_ip: &'a str,
}

/// The headers as ordered (name, value) pairs, the order the proxy logged them in.
pub fn header_entries(input: &HeaderInput<'_>) -> Vec<(&'static str, String)> {
    let mut entries: Vec<(&'static str, String)> = Vec::with_capacity(8);
    entries.push(("host", input.host.to_string()));
    entries.push(("user-agent", input.user_agent.to_string()));
    entries.push(("accept", "*/*".to_string()));
    if let Some(language) = input.accept_language {
        entries.push(("accept-language", language.to_string()));
    }
    entries.push(("accept-encoding", input.habits.accept_encoding.to_string()));
    entries.push(("content-type", "application/json".to_string()));
    if let Some(client_ip) = input.client_ip {
        let forwarded = if input.habits.forwarded_through_cdn {
            format!("{client_ip}, {}", input.proxy_ip)
        } else {
            client_ip.to_string()
        };
        entries.push(("x-forwarded-for", forwarded));
        entries.push(("x-forwarded-proto", "https".to_string()));
        if input.habits.sends_real_ip {
            entries.push(("x-real-ip", client_ip.to_string()));
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn addresses_stay_inside_their_blocks_and_parse() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!(COUNTRIES.len() >= 25);
        for country in COUNTRIES {
            for _ in 0..50 {
                let address = draw_client_ip(&mut rng, country);
                let parsed: std::net::IpAddr = address.parse().expect("generated address parses");
                assert_eq!(parsed.to_string(), address, "addresses are written canonically");
                if let std::net::IpAddr::V4(v4) = parsed {
                    let value = u32::from(v4);
                    assert!(country.ipv4.iter().any(|(base, prefix)| {
                        let mask = u32::MAX << (32 - u32::from(*prefix));
                        value & mask == u32::from_be_bytes(*base) & mask
                    }));
                    assert!(!matches!(value & 0xff, 0 | 255));
                }
            }
        }
    }

    #[test]
    fn user_agent_pool_has_both_quote_styles() {
        assert!(USER_AGENTS.len() >= 40);
        assert!(USER_AGENTS
            .iter()
            .any(|agent| agent.text.contains('\'') && !agent.text.contains('"')));
        assert!(USER_AGENTS
            .iter()
            .any(|agent| agent.text.contains('\'') && agent.text.contains('"')));
    }
}
