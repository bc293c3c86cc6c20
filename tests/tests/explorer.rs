//! The release explorer (`release serve`) over a generated release with planted turns: browse
//! counts equal the same filters computed with pyarrow, a phrase search finds exactly the
//! conversations holding the phrase, hostile turn text renders inert, the takedown basket's file
//! is what `release amend --remove` takes, compare shows what the amendment removed, the cache
//! built by the first server serves the next, and the access token guards what it must.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e_tests::cluster::Cluster;
use e2e_tests::explorer::{count, get, listed_hashes, request, serve, serve_from};
use e2e_tests::{coordinator, coordinator_command, generated_store};

const PHRASE: &str = "violet harbor lantern";
/// Turns that a page must show as text, never as markup.
const HOSTILE: &[&str] = &[
    "Please explain this snippet: <script>document.title='pwned'</script> xsscheck one",
    "Is this link safe? <a href=\"javascript:alert(1)\">click me</a> xsscheck two",
    "Why is this hidden <!-- a comment --> <img src=x onerror=alert(1)> xsscheck three",
    "Right to left \u{202E}txt.exe\u{202C} and \u{2066}isolate\u{2069} xsscheck four",
];

fn raw_row(id: i64, question: &str) -> String {
    serde_json::json!({
        "id": id,
        "date": format!("2023-06-0{} 10:{:02}:{:02}.000000", 1 + id % 5, (id / 60) % 60, id % 60),
        "text": {
            "payload": {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": question}]},
            "partial_words": format!("Here is a friendly answer to request {id}, with the details you asked for."),
            "model": "gpt-3.5-turbo-0301",
            "headers": {"user-agent": format!("UA {id}"), "x-forwarded-for": "203.0.113.9"},
        }
    })
    .to_string()
}

/// A generated store of `conversations` plus the planted ones, released as `v1`.
fn planted_release(conversations: u64, seed: u64, partitions: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, store) = generated_store(conversations, seed, None);
    plant(&store);
    coordinator(&[
        "run",
        "--store",
        store.to_str().unwrap(),
        "--version",
        "v1",
        "--partitions",
        partitions,
        "--quiet",
    ]);
    (dir, store)
}

/// Planted conversations: the phrase in 7, its words in another order in 3, the hostile turns.
fn plant(store: &Path) {
    let mut lines = Vec::new();
    let mut id = 9_000_000;
    let mut next = || {
        id += 1;
        id
    };
    for copy in 0..7 {
        let id = next();
        lines.push(raw_row(
            id,
            &format!("Could you write a short poem about the Violet Harbor Lantern, version {copy} of request {id}?"),
        ));
    }
    for copy in 0..3 {
        let id = next();
        lines.push(raw_row(
            id,
            &format!("A lantern by the violet harbor at night, scene {copy} of request {id}, please describe it."),
        ));
    }
    for text in HOSTILE {
        let id = next();
        lines.push(raw_row(id, text));
    }
    std::fs::write(store.join("raw/zz-explorer.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn query(params: &serde_json::Map<String, serde_json::Value>) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().unwrap();
            let encoded: String = value
                .bytes()
                .map(|byte| {
                    if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                        (byte as char).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect();
            format!("{name}={encoded}")
        })
        .collect();
    pairs.join("&")
}

#[test]
fn explorer_counts_search_escaping_basket_compare_cache_and_token() {
    let (dir, store) = planted_release(1200, 41, "3");
    let store_arg = store.to_str().unwrap();
    let cache = dir.path().join("explorer-cache");

    let server = serve(&store, &cache, &["v1"], None).expect("release serve starts");
    let built = server.stderr.lock().unwrap().clone();

    // Browse counts against pyarrow, one filter combination after another.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/explorer_queries.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(store.join("releases/v1/nontoxic"))
        .arg(PHRASE)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let truth: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for combo in truth["combos"].as_array().unwrap() {
        let params = combo["params"].as_object().unwrap();
        let page = get(&server, &format!("/browse?{}", query(params)));
        assert_eq!(
            count(&page.body, "match-count"),
            combo["count"].as_u64().unwrap(),
            "browse {params:?}"
        );
    }
    let all = truth["combos"][0]["count"].as_u64().unwrap();
    assert!(all > 1000, "{all} conversations");

    // A phrase search finds the 7 planted conversations and not the 3 with the words reordered.
    let expected: BTreeSet<String> = truth["phrase_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hash| hash.as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 7);
    let page = get(&server, &format!("/search?q=%22{}%22", PHRASE.replace(' ', "+")));
    assert_eq!(count(&page.body, "match-count"), 7);
    assert_eq!(listed_hashes(&page.body), expected);
    assert!(
        page.body.contains("<mark class=\"hit\">Violet</mark>"),
        "matches are highlighted"
    );
    // The words alone (not as a phrase) also match the reordered ones; combined with a filter.
    let page = get(&server, "/search?q=violet+harbor+lantern&min_turns=1");
    assert_eq!(count(&page.body, "match-count"), 10);
    let page = get(&server, "/search?q=violet+harbor+lantern&language=Klingon");
    assert_eq!(count(&page.body, "match-count"), 0);

    // Hostile turns render as text, with the page's own policy forbidding inline script.
    let page = get(&server, "/search?q=xsscheck");
    let hostile = listed_hashes(&page.body);
    assert_eq!(hostile.len(), HOSTILE.len(), "every hostile turn is released and found");
    for hash in &hostile {
        let reply = get(&server, &format!("/conversation/{hash}?q=xsscheck"));
        let body = &reply.body;
        assert!(
            reply
                .head
                .contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{}",
            reply.head
        );
        assert!(!body.contains("<script>document"), "raw script tag in {hash}");
        assert!(!body.contains("href=\"javascript:"), "javascript link in {hash}");
        assert!(
            !body.contains("<!--") && !body.contains("<img src=x"),
            "raw markup in {hash}"
        );
        assert!(
            !body.contains('\u{202E}') && !body.contains('\u{2066}'),
            "raw bidi control in {hash}"
        );
        assert!(body.contains("<mark class=\"hit\">xsscheck</mark>"));
    }
    let escaped = hostile
        .iter()
        .map(|hash| get(&server, &format!("/conversation/{hash}")).body)
        .collect::<String>();
    assert!(escaped.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(escaped.contains("&lt;a href=&quot;javascript:alert(1)&quot;&gt;"));
    assert!(escaped.contains("&lt;!-- a comment --&gt;"));
    assert!(escaped.contains("<span class=\"ctl\">U+202E</span>"));

    // The takedown basket's file is what amend takes.
    let basket: Vec<&String> = expected.iter().take(2).collect();
    let file = get(
        &server,
        &format!("/basket.txt?hash={}&hash={}&hash=notahash", basket[0], basket[1]),
    );
    assert!(file.head.contains("attachment"));
    let lines: Vec<&str> = file.body.lines().filter(|line| !line.starts_with('#')).collect();
    assert_eq!(lines, vec![basket[0].as_str(), basket[1].as_str()]);
    assert!(file.body.contains("# not in this version: notahash"));
    let list = dir.path().join("takedown.txt");
    std::fs::write(&list, &file.body).unwrap();
    coordinator(&[
        "release",
        "amend",
        "v1",
        "--remove",
        list.to_str().unwrap(),
        "--version",
        "v2",
        "--store",
        store_arg,
    ]);
    drop(server);

    // The cache in the store serves a second server without reading any shard again.
    assert!(built.contains("read shard"), "the first server builds: {built}");
    for key in [
        "cache/explorer/v1/nontoxic/catalog.json.zst",
        "cache/explorer/v1/nontoxic/index.json",
    ] {
        assert!(store.join(key).exists(), "{key}");
    }
    let other_cache = dir.path().join("explorer-cache-2");
    let server = serve(&store, &other_cache, &["v1"], None).expect("release serve starts again");
    assert!(!server.stderr.lock().unwrap().contains("read shard"));
    assert_eq!(
        count(
            &get(&server, "/search?q=%22violet+harbor+lantern%22").body,
            "match-count"
        ),
        7
    );
    drop(server);

    // Compare the amended version against v1: exactly the basket was removed.
    let server = serve(&store, &cache, &["v2"], None).expect("release serve v2 starts");
    let page = get(&server, "/compare?with=v1").body;
    assert_eq!(count(&page, "removed"), 2);
    assert_eq!(count(&page, "added"), 0);
    assert_eq!(count(&page, "changed"), 0);
    for hash in &basket {
        assert!(
            page.contains(&format!("/conversation/{hash}?version=v1")),
            "{hash} listed as removed"
        );
    }
    let removed = get(&server, &format!("/conversation/{}?version=v1", basket[0]));
    assert!(removed.body.contains("shown from version v1"));
    let overview = get(&server, "/").body;
    assert!(overview.contains("Release v2") && overview.contains("Amendment"));
    assert!(get(&server, "/chart/languages.svg").head.contains("image/svg+xml"));
    drop(server);

    // The full variant and non-loopback addresses need a token; with one, pages need it too.
    let refused = serve(&store, &cache, &["v1", "--variant", "full"], None)
        .err()
        .expect("full needs a token");
    assert!(refused.contains("only with an access token"), "{refused}");
    let output = coordinator_command()
        .args(["release", "serve", "v1", "--store", store_arg, "--listen", "0.0.0.0:0"])
        .env_remove("WILDCHAT_EXPLORER_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs an access token"));
    let token = "correct horse battery staple";
    let server = serve(&store, &cache, &["v1", "--variant", "full"], Some(token)).expect("full with a token");
    assert_eq!(request(&server, "GET", "/browse", &[], "").status, 401);
    let bearer = format!("Bearer {token}");
    let page = request(&server, "GET", "/browse?toxic=true", &[("Authorization", &bearer)], "");
    assert_eq!(page.status, 200);
    assert!(
        count(&page.body, "match-count") > 0,
        "the full variant holds toxic conversations"
    );
    let wrong = request(
        &server,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=nope",
    );
    assert_eq!(wrong.status, 401);
    let login = request(
        &server,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=correct+horse+battery+staple",
    );
    let cookie = login
        .head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_string();
    assert!(
        !cookie.contains(token) && !cookie.contains("horse"),
        "the cookie does not carry the token"
    );
    assert_eq!(request(&server, "GET", "/", &[("Cookie", &cookie)], "").status, 200);
}

/// A chromedriver process and one headless Chromium session, both ended when dropped.
struct Browser {
    driver: Child,
    address: String,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver command (HTTP/1.1, one connection each); returns the reply's `value`.
fn webdriver(address: &str, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(address).expect("connecting to chromedriver");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).unwrap();
    // chromedriver may keep the connection open: read the head, then Content-Length bytes.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "{method} {path}: the connection closed early"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or_else(|| panic!("{method} {path}: no Content-Length in {head}"));
    let mut body_bytes = vec![0; length];
    reader.read_exact(&mut body_bytes).unwrap();
    let content = String::from_utf8_lossy(&body_bytes).to_string();
    let reply = format!("{head}\n{content}");
    let value: serde_json::Value =
        serde_json::from_str(&content).unwrap_or_else(|_| panic!("{method} {path}: {reply}"));
    assert!(
        value["value"].get("error").is_none(),
        "{method} {path} failed: {}",
        value["value"]
    );
    value["value"].clone()
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (infra/dev/setup.sh installs chromium and chromium-driver)");
        let address = format!("127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if TcpStream::connect(&address).is_ok() {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("chromium is installed");
        let session = webdriver(
            &address,
            "POST",
            "/session",
            Some(serde_json::json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": binary, "args": args}
            }}})),
        );
        Browser {
            driver,
            address,
            session: session["sessionId"].as_str().expect("a session id").to_string(),
            _profile: profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        webdriver(&self.address, method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", Some(serde_json::json!({ "url": url })));
    }

    fn find(&self, selector: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(serde_json::json!({"using": "css selector", "value": selector})),
        );
        found[ELEMENT].as_str().expect("an element").to_string()
    }

    fn click(&self, selector: &str) {
        let element = self.find(selector);
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(serde_json::json!({})),
        );
    }

    fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(serde_json::json!({ "text": text })),
        );
    }

    fn script(&self, script: &str) -> serde_json::Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(serde_json::json!({"script": script, "args": []})),
        )
    }

    /// Waits (bounded) until the page's URL contains `part`.
    fn wait_for_url(&self, part: &str) -> String {
        for _ in 0..100 {
            let url = self.command("GET", "/url", None).as_str().unwrap_or("").to_string();
            if url.contains(part) && self.script("return document.readyState") == "complete" {
                return url;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the browser never reached a URL with {part}");
    }

    fn count(&self, id: &str) -> u64 {
        self.script(&format!(
            "return document.getElementById('{id}').getAttribute('data-count')"
        ))
        .as_str()
        .expect("a count")
        .parse()
        .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            webdriver(&self.address, "DELETE", &format!("/session/{}", self.session), None)
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn explorer_in_a_real_browser() {
    let (dir, store) = planted_release(600, 43, "2");
    let store_arg = store.to_str().unwrap();
    let server = serve(&store, &dir.path().join("explorer-cache"), &["v1"], None).expect("release serve starts");
    let base = format!("http://{}", server.address);
    let browser = Browser::start();

    // The overview.
    browser.open(&format!("{base}/"));
    assert_eq!(
        browser.script("return document.querySelector('h1').textContent"),
        "Release v1"
    );
    assert!(
        browser.script("return document.images.length").as_u64().unwrap() >= 3,
        "the card's charts"
    );

    // Two filters applied through the form: the count is the server's for the same query.
    browser.open(&format!("{base}/browse"));
    browser.click("select[name=language] option[value=English]");
    browser.click("select[name=toxic] option[value=false]");
    browser.click("form.filters button[type=submit]");
    browser.wait_for_url("toxic=false");
    let shown = browser.count("match-count");
    let expected = count(
        &get(&server, "/browse?language=English&toxic=false").body,
        "match-count",
    );
    assert_eq!(shown, expected);
    assert!(shown > 0);

    // A phrase search, then the first result opened.
    browser.open(&format!("{base}/search"));
    browser.type_into("input[name=q]", &format!("\"{PHRASE}\""));
    browser.click("form.filters button[type=submit]");
    browser.wait_for_url("q=");
    assert_eq!(browser.count("match-count"), 7);
    assert!(
        browser
            .script("return document.querySelectorAll('mark.hit').length")
            .as_u64()
            .unwrap()
            >= 7
    );
    browser.click("table.results a");
    browser.wait_for_url("/conversation/");
    assert!(browser
        .script("return document.querySelector('.content').textContent")
        .as_str()
        .unwrap()
        .contains("Violet Harbor Lantern"));

    // The planted hostile turns show as text and run nothing.
    browser.open(&format!("{base}/search?q=xsscheck"));
    let hostile: Vec<String> = serde_json::from_value(browser.script(
        "return Array.from(document.querySelectorAll('input.basket')).map(function (box) { return box.getAttribute('data-hash'); })",
    ))
    .unwrap();
    assert_eq!(hostile.len(), HOSTILE.len());
    let mut seen = String::new();
    for hash in &hostile {
        browser.open(&format!("{base}/conversation/{hash}"));
        let facts = browser.script(
            "return [document.title, document.scripts.length, document.querySelectorAll('img[src=\"x\"], a[href^=\"javascript\"]').length, \
             Array.from(document.querySelectorAll('.content')).map(function (element) { return element.textContent; }).join('\\n')]",
        );
        assert_eq!(facts[0], "Conversation · v1", "the planted script did not run");
        assert_eq!(facts[1], 1, "only the explorer's own script");
        assert_eq!(facts[2], 0, "no planted element");
        seen.push_str(facts[3].as_str().unwrap());
    }
    assert!(seen.contains("<script>document.title='pwned'</script>"));
    assert!(seen.contains("<a href=\"javascript:alert(1)\">click me</a>"));
    assert!(seen.contains("<!-- a comment -->"));
    assert!(seen.contains("U+202E"));

    // The takedown basket: ticked on a conversation, listed on the basket page with its file.
    browser.open(&format!("{base}/conversation/{}", hostile[0]));
    browser.click("input.basket");
    browser.open(&format!("{base}/basket"));
    assert_eq!(
        browser.script("return document.getElementById('basket-count').textContent"),
        "1"
    );
    assert_eq!(
        browser.script("return document.querySelector('#basket-list a').textContent"),
        hostile[0].as_str()
    );
    let href = browser.script("return document.getElementById('basket-download').getAttribute('href')");
    let file = get(&server, href.as_str().unwrap()).body;
    let list = dir.path().join("basket.txt");
    std::fs::write(&list, file).unwrap();
    coordinator(&[
        "release",
        "amend",
        "v1",
        "--remove",
        list.to_str().unwrap(),
        "--version",
        "v2",
        "--store",
        store_arg,
    ]);

    // Compare v1 with the amended v2: v1 holds the one conversation v2 lacks.
    browser.open(&format!("{base}/compare"));
    browser.click("select[name=with] option[value=v2]");
    browser.click("form.filters button[type=submit]");
    browser.wait_for_url("with=v2");
    assert_eq!(browser.count("added"), 1);
    assert_eq!(browser.count("removed"), 0);
    assert_eq!(browser.count("changed"), 0);
}

#[test]
fn explorer_serves_a_release_from_s3() {
    let (dir, store) = planted_release(400, 47, "2");
    let local = serve(&store, &dir.path().join("local-cache"), &["v1"], None).expect("release serve starts");
    let local_counts: Vec<u64> = [
        "/browse",
        "/browse?language=English&min_turns=2",
        "/search?q=%22violet+harbor+lantern%22",
    ]
    .iter()
    .map(|path| count(&get(&local, path).body, "match-count"))
    .collect();
    drop(local);

    let cluster = Cluster::start();
    cluster.upload(&store, "releases");
    let server = serve_from(
        &cluster.store_uri(),
        &dir.path().join("s3-cache"),
        &["v1"],
        None,
        |command| cluster.apply_env(command),
    )
    .expect("release serve starts on S3");
    let s3_counts: Vec<u64> = [
        "/browse",
        "/browse?language=English&min_turns=2",
        "/search?q=%22violet+harbor+lantern%22",
    ]
    .iter()
    .map(|path| count(&get(&server, path).body, "match-count"))
    .collect();
    assert_eq!(s3_counts, local_counts);
    assert_eq!(s3_counts[2], 7);
    let hash = listed_hashes(&get(&server, "/search?q=%22violet+harbor+lantern%22").body)
        .into_iter()
        .next()
        .unwrap();
    assert!(get(&server, &format!("/conversation/{hash}"))
        .body
        .contains("Violet Harbor Lantern"));
    assert!(get(&server, "/").body.contains("<img src=\"/chart/languages.svg\""));
    assert!(get(&server, "/chart/turns.svg").head.contains("image/svg+xml"));
    assert_eq!(cluster.count_keys("cache/explorer/v1/nontoxic/", "index.json"), 1);
    assert_eq!(cluster.count_keys("cache/explorer/v1/nontoxic/", "catalog.json.zst"), 1);
}
