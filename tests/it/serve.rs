//! `casework serve`: the real server on a free loopback port, read with plain HTTP/1.1
//! and with headless Chromium; its numbers against `casework measure` for the same
//! scope, its escaping and refusals, the token, and publication.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// A running `casework serve`, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `casework serve ARGS --listen 127.0.0.1:0` in `dir` and waits (at most a
    /// minute) for the address it prints.
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_with_env(dir, args, &[])
    }

    /// [`Server::start`] with these environment variables set.
    pub(crate) fn start_with_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        if !args.contains(&"--listen") {
            all.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_casework"))
            .args(&all)
            .current_dir(dir)
            .env_remove("CASEWORK_WAREHOUSE")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("casework serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if let Some(rest) = line.split("open http://").nth(1) {
                    let address = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(address);
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            child,
            address,
            log,
        }
    }

    /// GET `target` with extra header lines: (status, headers, body).
    pub(crate) fn get(&self, target: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        raw_get(&self.address, target, headers)
    }

    /// The server's log once `done` holds of it (it writes a request's line after
    /// answering, so a test reading at once may be ahead of it), or as it is after ten
    /// seconds.
    fn log_when(&self, done: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log.lock().unwrap().clone();
            if done(&log) || Instant::now() > until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn page(&self, target: &str) -> String {
        let (status, _, body) = self.get(target, &[]);
        let body = String::from_utf8_lossy(&body).to_string();
        assert_eq!(status, 200, "{target}: {body}");
        body
    }
}

fn raw_get(address: &str, target: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    raw_request(address, "GET", target, headers)
}

/// A request with this method; a `Host:` line among `headers` replaces the server's own.
fn raw_request(
    address: &str,
    method: &str,
    target: &str,
    headers: &[&str],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    request.push_str("Connection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, head, body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A path segment percent-encoded by hand (RFC 3986: all but unreserved characters).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Per theme (cases with the theme, cases) from a theme_prevalence CSV.
fn prevalence(csv_text: &str) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().unwrap().clone();
    let at = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (t, x, n) = (at("theme"), at("cases_with_theme"), at("cases"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[t].to_string(), rec[x].to_string(), rec[n].to_string())
        })
        .collect()
}

/// Twelve cases of three organisations, two of them named to break HTML and SQL.
fn hostile_warehouse(d: &Path) {
    let mut cases =
        String::from("case_id,source,organisation_code,organisation_name,region,opened_date\n");
    let mut findings = String::from("case_id,code\n");
    let orgs = [
        ("ORG-A", "<script>alert(1)</script>", "North"),
        ("' OR 1=1 --", "Quote Trust", "South"),
        ("ORG-C", "Plain Trust", "South"),
    ];
    for i in 0..12 {
        let (code, name, region) = orgs[i % 3];
        let code_field = if code.contains('\'') {
            format!("\"{code}\"")
        } else {
            code.to_string()
        };
        cases.push_str(&format!(
            "c{i:02},ombudsman_complaint,{code_field},\"{name}\",{region},2024-{:02}-10\n",
            1 + i % 12
        ));
        if i % 2 == 0 {
            findings.push_str(&format!("c{i:02},UF1\n"));
        }
        if i % 3 == 1 {
            findings.push_str(&format!("c{i:02},DL1\n"));
        }
    }
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases.as_bytes()),
            ("findings.csv", findings.as_bytes()),
        ],
    );
    let out = casework(d, &["ingest", b.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn pages_equal_the_measures_escape_names_and_refuse_odd_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    hostile_warehouse(d);
    let server = Server::start(d, &[]);

    // The overview: the report's page with the filter form; names shown as text.
    let page = server.page("/");
    assert!(page.contains("<form class=\"filters\""), "{page}");
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;"), "{page}");
    assert!(!page.contains("<script"), "no script at all on the page");

    // A filtered view on the organisation whose code is SQL: its numbers are
    // `casework measure`'s for the same scope.
    let quote = "' OR 1=1 --";
    let q = format!("organisation={}", encode(quote));
    let (status, head, body) = server.get(&format!("/table/theme_prevalence.csv?{q}"), &[]);
    assert_eq!(status, 200, "{head}");
    let served = String::from_utf8(body).unwrap();
    let out = casework(
        d,
        &[
            "measure",
            "theme_prevalence",
            "--organisation",
            quote,
            "--format",
            "csv",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let measured = prevalence(&stdout(&out));
    assert_eq!(prevalence(&served), measured);
    // By hand: the organisation has cases c01, c04, c07, c10 (four), of which UF1 on
    // c04 and c10, DL1 on c01, c04, c07, c10.
    assert!(measured.contains(&("unreported_finding".into(), "2".into(), "4".into())));
    assert!(measured.contains(&("delay".into(), "4".into(), "4".into())));
    let filtered = server.page(&format!("/report?{q}"));
    assert!(
        filtered.contains("In 2 of 4 cases"),
        "the full report's headline is the measure's: {filtered}"
    );
    // The overview (from the case index) gives the same counts: the delay theme's row
    // says 4 with the theme, 100.0% of the 4 cases.
    let overview = server.page(&format!("/?{q}"));
    assert!(overview.contains("4 cases"), "{overview}");
    assert!(
        overview.contains("<td class=\"n\">4</td><td class=\"n\">100.0%</td>"),
        "{overview}"
    );
    // An organisation whose code has spaces: its page, and the link the page gives to
    // itself (its form's action), which must lead to the same organisation: a space in
    // a path is %20, never the form encoding's `+` (a plus sign in a path).
    let own = server.page(&format!("/organisation/{}", path_segment(quote)));
    assert!(own.contains("Quote Trust"), "{own}");
    let action = own
        .split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .unwrap_or_else(|| panic!("no form on {own}"))
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(!action.contains('+'), "{action}");
    assert!(server.page(&action).contains("Quote Trust"), "{action}");
    // A filter naming a value the warehouse does not have is said so in plain words,
    // with the nearest value it has, never answered with a page of zeros.
    for (q, said) in [
        (
            "organisation=ORG-Z",
            "no organisation \"ORG-Z\" in the warehouse",
        ),
        ("organisation=org-a", "did you mean \"ORG-A\"?"),
        ("region=Nowhere", "its regions are: North, South"),
        (
            "decision=upheld",
            "no decision \"upheld\": no case in the warehouse has a decision",
        ),
        (
            "stage=review",
            "no stage \"review\": no finding in the warehouse has a stage",
        ),
        (
            "service=radiology",
            "no service \"radiology\": no case in the warehouse has a service",
        ),
    ] {
        for target in [format!("/?{q}"), format!("/table/theme_prevalence.csv?{q}")] {
            let (status, _, body) = server.get(&target, &[]);
            let body = String::from_utf8_lossy(&body).replace("&quot;", "\"");
            assert_eq!(status, 400, "{target}: {body}");
            assert!(body.contains(said), "{target}: {body}");
        }
    }
    // Gzipped where the client accepts it (the same bytes once unzipped), never a PNG;
    // every text answer says it varies by Accept-Encoding.
    for target in [
        "/?region=South",
        "/table/theme_prevalence.csv",
        "/chart/prevalence.svg",
    ] {
        let (status, plain_head, plain) = server.get(target, &[]);
        assert_eq!(status, 200, "{target}");
        assert!(
            !plain_head.to_lowercase().contains("content-encoding"),
            "{plain_head}"
        );
        assert!(
            plain_head.to_lowercase().contains("vary: accept-encoding"),
            "{plain_head}"
        );
        let (status, head, zipped) = server.get(target, &["Accept-Encoding: gzip, br"]);
        assert_eq!(status, 200);
        if plain.len() >= 1024 {
            assert!(
                head.to_lowercase().contains("content-encoding: gzip"),
                "{target}: {head}"
            );
            let mut unzipped = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(zipped.as_slice()),
                &mut unzipped,
            )
            .unwrap();
            assert_eq!(unzipped, plain, "{target}");
            assert!(zipped.len() < plain.len() / 2, "{target}");
        }
    }
    let (_, head, _) = server.get("/chart/prevalence.png", &["Accept-Encoding: gzip"]);
    assert!(!head.to_lowercase().contains("content-encoding"), "{head}");
    // The organisation page is styled as the report, its form shows it chosen, and
    // choosing another there leads to that one's page (no script: a redirect).
    let page_a = server.page("/organisation/ORG-A?from=2024-01-01");
    assert!(page_a.contains("font-family: Arial"), "unstyled: {page_a}");
    assert!(page_a.contains("value=\"ORG-A\" selected"), "{page_a}");
    let (status, head, _) = server.get(
        "/organisation/ORG-A?from=2024-01-01&organisation=ORG-C",
        &[],
    );
    assert_eq!(status, 303, "{head}");
    assert!(
        head.contains("location: /organisation/ORG-C?from=2024-01-01")
            || head.contains("Location: /organisation/ORG-C?from=2024-01-01"),
        "{head}"
    );
    // Search by code or name, case ignored: each match a link to its page, the page's
    // other filters kept; names shown as text.
    let found = server
        .page("/organisations?q=quote&region=South")
        .replace("&#x2f;", "/");
    assert!(found.contains("One organisation matches"), "{found}");
    assert!(
        found.contains("href=\"/organisation/%27%20OR%201%3D1%20--?region=South\""),
        "{found}"
    );
    let found = server.page("/organisations?q=org-");
    assert!(found.contains("2 organisations match"), "{found}");
    assert!(found.contains("&lt;script&gt;") && !found.contains("<script>alert"));
    assert!(
        server
            .page("/organisations?q=zzz")
            .contains("No organisations match")
    );
    assert!(
        server.page("/").contains("href=\"/organisations?\""),
        "the nav links to it"
    );
    // Every row of the organisations' table links to its organisation's page.
    let overview = server.page("/").replace("&#x2f;", "/");
    for code in ["ORG-A", "ORG-C", "%27%20OR%201%3D1%20--"] {
        assert!(
            overview.contains(&format!("<a href=\"/organisation/{code}\">")),
            "{code}: {overview}"
        );
    }
    // The organisation's profile page, and a region filter.
    let org = server.page("/organisation/ORG-A");
    assert!(org.contains("&lt;script&gt;") && !org.contains("<script>alert"));
    let south = server.page("/?region=South");
    assert!(south.contains("<p>8 cases."), "{south}");
    // The scope is in the title and under the heading: a page shared keeps it.
    assert!(
        south.contains("<title>Overview: region South, 8 cases ·")
            && south.contains("<p class=\"scope\">region South, 8 cases</p>"),
        "{south}"
    );
    let all = server.page("/?from=2024-03-01");
    assert!(
        all.contains("<p class=\"scope\">date opened from 2024-03-01, 10 cases</p>"),
        "{all}"
    );

    // Theme pages, charts and figures.
    let delay = server.page("/theme/delay").replace("&#x2f;", "/");
    assert!(
        delay.contains("id=\"spc\"") && delay.contains("src=\"/chart/spc.svg?theme=delay&"),
        "{delay}"
    );
    assert_eq!(server.get("/theme/nothing", &[]).0, 404);
    // Errors in the address's words, not the command line's.
    let (status, _, body) = server.get("/chart/spc.svg", &[]);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("add theme=THEME to the address") && !body.contains("--theme"),
        "{body}"
    );
    let (status, head, svg) = server.get("/chart/prevalence.svg?region=South", &[]);
    assert_eq!(status, 200);
    assert!(head.contains("image/svg+xml"), "{head}");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));
    let (status, _, png) = server.get("/chart/spc.png?theme=delay", &[]);
    assert!(
        status == 200 || status == 404,
        "drawn, or not drawn with its reason"
    );
    if status == 200 {
        assert_eq!(&png[1..4], b"PNG");
    }

    // Paths that try to leave the server's pages are refused, and nothing of the
    // file system is served.
    for target in [
        "/../../etc/passwd",
        "/figure/..%2F..%2F..%2Fetc%2Fpasswd",
        "/figure/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/table/..%2Fetc%2Fpasswd",
        "/chart/..%2F..%2Fetc%2Fpasswd.svg",
    ] {
        let (status, _, body) = server.get(target, &[]);
        assert!(
            (400..500).contains(&status),
            "{target}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!String::from_utf8_lossy(&body).contains("root:"));
    }
    // A bad filter is a clear 400.
    let (status, _, body) = server.get("/?from=yesterday", &[]);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("from must be a date"));
    // One log line per request.
    let log = server.log_when(|log| log.contains("GET /theme/delay 200"));
    assert!(log.contains("GET /theme/delay 200"), "{log}");
}

/// Writes a token file with this mode.
fn token_file(d: &Path, token: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = d.join("token");
    fs::write(&path, format!("{token}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_server_off_loopback_needs_its_token() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    let out = casework(d, &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--token-file"), "{}", stderr(&out));

    let token = "0123456789abcdef0123456789abcdef";
    // A token file others can read is refused, as the key file is.
    token_file(d, token, 0o644);
    let out = casework(
        d,
        &["serve", "--listen", "0.0.0.0:0", "--token-file", "token"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mode 644"), "{}", stderr(&out));
    token_file(d, token, 0o600);
    let server = Server::start(d, &["--listen", "0.0.0.0:0", "--token-file", "token"]);
    let port = server.address.rsplit(':').next().unwrap().to_string();
    let at = format!("127.0.0.1:{port}");
    assert_eq!(raw_get(&at, "/", &[]).0, 401);
    assert_eq!(raw_get(&at, "/table/learning.csv", &[]).0, 401);
    assert_eq!(
        raw_get(&at, "/", &["Authorization: Bearer wrong-token-wrong-token"]).0,
        401
    );
    // The scheme in any case.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            raw_get(&at, "/", &[&format!("Authorization: {scheme} {token}")]).0,
            200,
            "{scheme}"
        );
    }
    assert_eq!(raw_get(&at, "/login?token=nope", &[]).0, 401);
    let (status, head, _) = raw_get(&at, &format!("/login?token={token}"), &[]);
    assert_eq!(status, 303);
    assert!(head.contains("HttpOnly"), "{head}");
    // The cookie is a session of its own, not the token.
    assert!(!head.contains(token), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("casework_session="), "{cookie}");
    assert_eq!(raw_get(&at, "/", &[&format!("Cookie: {cookie}")]).0, 200);
    assert_eq!(
        raw_get(&at, "/", &[&format!("Cookie: casework_token={token}")]).0,
        401
    );
    // The token given in any URL never reaches the log.
    assert_eq!(raw_get(&at, &format!("/?token={token}"), &[]).0, 401);
    raw_get(&at, &format!("/login/?token={token}"), &[]);
    // (The last request's line, once written.)
    let log = server.log_when(|log| log.contains("GET /login/"));
    assert!(!log.contains(token), "{log}");
    assert!(log.contains("token=…"), "{log}");
}

#[test]
fn serve_answers_only_its_own_host_and_get() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    let server = Server::start(d, &[]);
    let port = server.address.rsplit(':').next().unwrap().to_string();
    // DNS rebinding: a page of another site whose name points here gets nothing.
    let (status, _, body) =
        raw_request(&server.address, "GET", "/", &["Host: attacker.example:80"]);
    assert_eq!(status, 421, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        raw_request(
            &server.address,
            "GET",
            "/",
            &[&format!("Host: localhost:{port}")]
        )
        .0,
        200
    );
    // Every answer says no-store.
    let (_, head, _) = server.get("/table/learning.csv", &[]);
    assert!(
        head.to_lowercase().contains("cache-control: no-store"),
        "{head}"
    );
    // A DELETE of a page already answered is not answered from the cache.
    assert_eq!(server.get("/", &[]).0, 200);
    let (status, _, body) = raw_request(&server.address, "DELETE", "/", &[]);
    assert_eq!(status, 405, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("<html"));
}

#[test]
fn the_cache_is_private_names_no_case_and_goes_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A bundle with double coding: its report would list the coding disagreements.
    generated_warehouse(d, 400, 5);
    let scratch = d.join("scratch");
    fs::create_dir(&scratch).unwrap();
    let mut server = Server::start_with_env(d, &[], &[("TMPDIR", scratch.to_str().unwrap())]);
    assert_eq!(server.get("/report", &[]).0, 200);
    assert_eq!(server.get("/report?region=London", &[]).0, 200);
    let caches: Vec<_> = fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    let mut files = 0;
    let mut stack = vec![caches[0].clone()];
    while let Some(p) = stack.pop() {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        if p.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files += 1;
            assert_eq!(mode, 0o600, "{}", p.display());
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            assert!(!name.contains("disagreement"), "{}", p.display());
        }
    }
    assert!(files > 10, "the cache holds the reports: {files} files");
    // SIGTERM: the server stops and removes its cache.
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!caches[0].exists(), "the cache is left behind");
}

#[test]
fn csv_cells_cannot_start_a_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = bundle(
        d,
        "b",
        &[
            (
                "cases.csv",
                b"case_id,source,organisation_code,organisation_name,region,opened_date\nc1,ombudsman_complaint,=1+2,\"=HYPERLINK(\"\"http://x.example\"\")\",@North,2024-01-10\nc2,ombudsman_complaint,ORG,-Minus Trust,+South,2024-02-10\n",
            ),
            ("findings.csv", b"case_id,code\nc1,UF1\n"),
        ],
    );
    let out = casework(d, &["ingest", b.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let server = Server::start(d, &[]);
    let (status, _, body) = server.get("/table/organisation_profile.csv", &[]);
    assert_eq!(status, 200);
    let cli = casework(d, &["measure", "organisation_profile", "--format", "csv"]);
    for text in [String::from_utf8(body).unwrap(), stdout(&cli)] {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for rec in r.records() {
            for cell in rec.unwrap().iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@']),
                    "a cell a spreadsheet would run: {cell:?} in\n{text}"
                );
            }
        }
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains("'-Minus Trust"), "{text}");
    }
}

#[test]
fn under_publish_a_view_is_the_publications() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    generated_warehouse(d, 1500, 8);
    // The smallest organisation, from the measure.
    let profile = measure_json(d, &["organisation_profile"]);
    let (small, n) = profile["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["organisation_code"].as_str().unwrap().to_string(),
                r["cases"].as_u64().unwrap(),
            )
        })
        .min_by_key(|(_, n)| *n)
        .unwrap();
    assert!(n < 8, "a small organisation: {small} with {n}");
    let server = Server::start(d, &["--publish"]);
    // The organisation's view is published: its small counts are suppressed.
    let page = server.page(&format!("/?organisation={small}"));
    assert!(page.contains("*"), "{page}");
    assert!(!page.contains(&format!(" of {n} cases")), "{page}");
    assert!(!page.contains(&format!("<p>{n} cases")), "{page}");
    assert!(!page.contains(&format!(", {n} cases")), "{page}");
    assert!(!page.contains(&format!("<p>{n} case.")), "{page}");
    // Its table equals the CLI's published view of the same organisation.
    let csv_of = |target: &str| {
        let (status, _, body) = server.get(target, &[]);
        assert_eq!(status, 200, "{target}");
        prevalence(&String::from_utf8(body).unwrap())
    };
    let cli = |args: &[&str]| {
        let mut all = vec![
            "measure",
            "theme_prevalence",
            "--publish",
            "--format",
            "csv",
        ];
        all.extend_from_slice(args);
        let out = casework(d, &all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        prevalence(&stdout(&out))
    };
    assert_eq!(
        csv_of(&format!("/table/theme_prevalence.csv?organisation={small}")),
        cli(&["--organisation", &small])
    );
    assert_eq!(csv_of("/table/theme_prevalence.csv"), cli(&[]));
    assert_eq!(
        csv_of("/table/theme_prevalence.csv?period=FY2020-21"),
        cli(&["--period", "FY2020-21"])
    );
    // Dates that are exactly a period are that period.
    assert_eq!(
        csv_of("/table/theme_prevalence.csv?from=2020-04-01&to=2021-03-31"),
        cli(&["--period", "FY2020-21"])
    );
    // Views the publication does not have are refused for reasons that depend on no
    // count: free dates, two filters, an unknown organisation.
    for (target, why) in [
        ("/?from=2020-04-02".to_string(), "calendar grid"),
        (
            format!("/?organisation={small}&region=London"),
            "one filter",
        ),
        ("/?organisation=NOPE".to_string(), "no organisation"),
        // Service is a filter of the explorer and the measures, not of a publication.
        ("/?service=radiology".to_string(), "no views by service"),
        (
            "/table/theme_prevalence.csv?from=2020-04-02&to=2020-04-09".to_string(),
            "calendar grid",
        ),
    ] {
        let (status, _, body) = server.get(&target, &[]);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains(why), "{target}: {body}");
    }
    // The organisation page: its own view beside the published view of all
    // organisations in the same period.
    let page = server.page(&format!("/organisation/{small}?period=2021"));
    let national = cli(&["--period", "2021"]);
    let (_, x, cases) = &national[0];
    let shares = format!(
        "{:.1}",
        x.parse::<f64>().unwrap() / cases.parse::<f64>().unwrap() * 100.0
    );
    assert!(page.contains(&format!("{shares}%")), "{page}");
}

#[test]
fn the_explorer_loads_in_a_real_browser_without_errors_or_outside_requests() {
    let Some(browser) = browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A generated warehouse (regions, hundreds of organisations, years of months), so
    // that the pages are seen at something like their real sizes.
    generated_warehouse(d, 3000, 3);
    let server = Server::start(d, &[]);
    let origin = format!("http://{}/", server.address);
    // Every page type, at a desktop's width and a phone's (each saved beside the test
    // binary as serve-NAME-WIDTH.png, to be looked at).
    let pages = [
        ("overview", ""),
        ("filtered", "?organisation=G001&sort=share&desc=1"),
        (
            "several",
            "?region=London&region=North%20West&period=last-12-months",
        ),
        (
            "excluded",
            "?region=London&exclude=region&sort=cases&desc=1",
        ),
        ("theme", "theme/delay?region=London"),
        ("organisation", "organisation/G001"),
        ("search", "organisations?q=G01"),
        (
            "compare",
            "compare?organisation=G001&versus_organisation=G002",
        ),
        ("periods", "compare?period=2022&versus_period=2023"),
        ("report", "report?region=London"),
    ];
    for (name, target) in pages {
        let (status, _, body) = server.get(&format!("/{target}"), &[]);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "/{target}: {body}");
        assert!(!body.contains("class=\"notice\""), "/{target}: {body}");
        // A desktop's width: the browser's own screenshot, its console and its network
        // log (no request leaves the server).
        let wide = format!("{name}-1400");
        let shot = d.join(format!("{wide}.png"));
        let netlog = d.join(format!("{wide}-netlog.json"));
        let log = screenshot_at(
            &browser,
            &format!("{origin}{target}"),
            &d.join(format!("profile-{wide}")),
            &netlog,
            &shot,
            (1400, 2400),
        );
        for line in log.lines().filter(|l| l.contains("CONSOLE")) {
            assert!(
                !line.contains("Uncaught") && !line.to_lowercase().contains("error"),
                "console: {line}"
            );
        }
        let outside: Vec<String> = page_requests(&netlog)
            .into_iter()
            .filter(|u| !u.starts_with(&origin))
            .collect();
        assert!(
            outside.is_empty(),
            "requests outside the server: {outside:?}"
        );
        keep(&shot, &format!("serve-{wide}.png"));
        // A phone's width, 390 CSS pixels, emulated through the DevTools protocol (a
        // headless window is never narrower than 500), and a desktop's: nothing may be
        // wider than the screen, so that the page never scrolls sideways.
        let narrow = format!("{name}-390");
        let shot = d.join(format!("{narrow}.png"));
        for width in [1400, 390] {
            let measured = fits(&browser, &format!("{origin}{target}"), width, &shot);
            assert!(
                measured.is_empty(),
                "/{target} is wider than {width} px: {measured}"
            );
        }
        keep(&shot, &format!("serve-{narrow}.png"));
    }
    let start = Instant::now();
    assert!(server.page("/?organisation=G001").contains("G001"));
    assert!(start.elapsed() < Duration::from_secs(120));
}

/// An organisation's page shows its place in every theme's funnel of the same view; the
/// funnels are kept for the next organisation's page of that view. A page made from the
/// kept funnels is the page a fresh server makes.
#[test]
fn an_organisations_page_from_kept_funnels_is_the_page_made_afresh() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // G001 is a planted outlier in some themes and not others (truth.json), so that a
    // page given another theme's funnel would read differently.
    generated_warehouse_with(d, 20000, 5, &["--organisations", "40"]);
    let warm = Server::start(d, &[]);
    let fresh = Server::start(d, &[]);
    for view in ["", "?period=2022", "?from=2020-02-11&to=2023-07-30"] {
        // The first page makes the funnels and keeps them; the second reads them.
        let first = warm.page(&format!("/organisation/G002{view}"));
        assert!(first.contains("In the funnel"), "{first}");
        let kept = warm.page(&format!("/organisation/G001{view}"));
        let afresh = fresh.page(&format!("/organisation/G001{view}"));
        assert_eq!(kept, afresh, "{view}");
        assert!(
            kept.contains("within the limits") && kept.contains("above the 99.8% limit"),
            "{view}: {kept}"
        );
    }
}
