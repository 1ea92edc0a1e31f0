//! Finding secrets in text a program printed, in every form it may have printed them:
//! as they are, percent-encoded or decoded, escaped for JSON, HTML or a shell (mixed
//! freely, nested too), a URL's password cut out of it, or a piece of one left at an
//! edge where the text was cut. Pure: no I/O.

/// Values shorter than this are not taken for secrets (`PORT=5432`, `DEBUG=true`).
pub const VALUE_FROM: usize = 8;
/// A password cut out of a URL is a secret from this length.
pub const PASSWORD_FROM: usize = 4;
/// A piece of a secret at least this long, left where the text was cut, is masked.
pub const PIECE_FROM: usize = 4;
/// What stands in for a secret, or a piece of one.
pub const MASK: &str = "****";
/// How deep escapes are undone: backslashes before a character, `%25`s before a byte.
const NESTING: usize = 8;

/// Whether a (percent-encoded) URL query key names a password: `password`, `sslpassword`,
/// `pass`, `pwd`, ... in any case.
pub fn is_password_key(key: &str) -> bool {
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy().to_lowercase();
    key.contains("pass") || key.contains("pwd")
}

/// The secrets to keep out of some text, each as the characters it stands for.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Longest first, so a secret that holds another is masked whole.
    forms: Vec<Vec<char>>,
}

impl Secrets {
    /// The secrets in these values: each value of at least [`VALUE_FROM`] characters, its
    /// percent-decoded form, and the passwords of a URL (in `user:password@` and in
    /// password query parameters), raw and decoded.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut forms: Vec<Vec<char>> = Vec::new();
        let mut add = |form: String, from: usize| {
            let chars: Vec<char> = form.chars().collect();
            if chars.len() >= from && !forms.contains(&chars) {
                forms.push(chars);
            }
        };
        for value in values {
            if value.chars().count() < VALUE_FROM {
                continue;
            }
            add(value.to_string(), VALUE_FROM);
            add(decoded(value), VALUE_FROM);
            for password in url_passwords(value) {
                add(decoded(&password), PASSWORD_FROM);
                add(password, PASSWORD_FROM);
            }
        }
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        Secrets { forms }
    }

    /// `text` with every secret, in any form, replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while at < text.len() {
            match self.forms.iter().find_map(|form| longest_match(text, at, form)) {
                Some(end) => {
                    out.push_str(MASK);
                    at = end;
                }
                None => {
                    let c = text[at..].chars().next().expect("at is a char boundary");
                    out.push(c);
                    at += c.len_utf8();
                }
            }
        }
        out
    }

    /// `text` masked, where `text` may begin in the middle of a secret (older text was
    /// dropped) and end in the middle of one (the program was stopped): the longest
    /// piece of a secret (at least [`PIECE_FROM`] characters) it begins or ends with is
    /// masked too.
    pub fn mask_cut(&self, text: &str, cut_before: bool) -> String {
        let (head, rest) = match cut_before.then(|| self.piece_at_start(text)).flatten() {
            Some(end) => (MASK, &text[end..]),
            None => ("", text),
        };
        let (rest, tail) = match self.piece_at_end(rest) {
            Some(start) => (&rest[..start], MASK),
            None => (rest, ""),
        };
        format!("{head}{}{tail}", self.mask(rest))
    }

    /// Where the longest end of a secret that `text` starts with ends.
    fn piece_at_start(&self, text: &str) -> Option<usize> {
        let ends = self.forms.iter().flat_map(|form| {
            (PIECE_FROM..=form.len()).rev().find_map(|length| longest_match(text, 0, &form[form.len() - length..]))
        });
        ends.max()
    }

    /// Where the longest beginning of a secret that `text` ends with starts.
    fn piece_at_end(&self, text: &str) -> Option<usize> {
        // An encoded character is at most 12 bytes (`\uD83D\uDE00`), a form's piece as
        // long as the form: only so far back can a piece start.
        let longest = self.forms.first().map_or(0, |form| form.len() * 12);
        let mut starts = (text.len().saturating_sub(longest)..text.len()).filter(|&at| text.is_char_boundary(at));
        starts.find(|&at| {
            self.forms.iter().any(|form| {
                ends_of_prefixes(text, at, form).iter().any(|&(length, end)| length >= PIECE_FROM && end == text.len())
            })
        })
    }
}

/// The percent-decoded form of a value.
fn decoded(value: &str) -> String {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
}

/// The passwords a URL holds, as they are written in it.
fn url_passwords(value: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(value) else { return Vec::new() };
    let mut passwords: Vec<String> = url.password().map(String::from).into_iter().collect();
    if let Some(query) = url.query() {
        let pairs = query.split('&').filter_map(|pair| pair.split_once('='));
        passwords.extend(pairs.filter(|(key, _)| is_password_key(key)).map(|(_, value)| value.to_string()));
    }
    passwords
}

/// The end of the longest match of `form`, in any encoding, at byte `at` of `text`.
fn longest_match(text: &str, at: usize, form: &[char]) -> Option<usize> {
    let mut positions = vec![at];
    for &c in form {
        let mut next: Vec<usize> = positions.iter().flat_map(|&p| encoded_ends(text.as_bytes(), p, c)).collect();
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        positions = next;
    }
    positions.into_iter().max()
}

/// For each beginning of `form` that matches at byte `at` of `text`: its length in
/// characters and where it ends.
fn ends_of_prefixes(text: &str, at: usize, form: &[char]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut positions = vec![at];
    for (length, &c) in form.iter().enumerate() {
        let mut next: Vec<usize> = positions.iter().flat_map(|&p| encoded_ends(text.as_bytes(), p, c)).collect();
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            break;
        }
        found.extend(next.iter().map(|&end| (length + 1, end)));
        positions = next;
    }
    found
}

/// Where each way of writing `c` that starts at byte `at` of `text` ends: as it is,
/// after backslashes (`\/`, `\\"`; up to [`NESTING`]), as `\uHHHH` (a surrogate pair above
/// U+FFFF), `\u{H..}` or `\xHH` (per UTF-8 byte), as `%HH` per UTF-8 byte (`%25HH` too:
/// encoded again), `+` for a space, or an HTML character reference.
fn encoded_ends(text: &[u8], at: usize, c: char) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut utf8 = [0u8; 4];
    let bytes = c.encode_utf8(&mut utf8).as_bytes();
    let rest = &text[at..];
    if rest.starts_with(bytes) {
        ends.push(at + bytes.len());
    }
    if c == ' ' && rest.starts_with(b"+") {
        ends.push(at + 1);
    }
    let slashes = rest.iter().take(NESTING).take_while(|&&b| b == b'\\').count();
    if slashes > 0 {
        let escaped = &rest[slashes..];
        if escaped.starts_with(bytes) {
            ends.push(at + slashes + bytes.len());
        }
        ends.extend(unicode_escape(escaped, c).map(|length| at + slashes + length));
        ends.extend(each_byte(escaped, bytes, b"\\x", slashes).map(|length| at + slashes + length));
    }
    ends.extend(percent_encoded(rest, bytes).map(|length| at + length));
    ends.extend(html_reference(rest, c).map(|length| at + length));
    ends
}

/// The length of `uHHHH` (or a surrogate pair, or `u{H..}`) for `c` at the start of
/// `text` (the backslash before it already read).
fn unicode_escape(text: &[u8], c: char) -> Option<usize> {
    let text = text.strip_prefix(b"u")?;
    if let Some(braced) = text.strip_prefix(b"{") {
        let digits = braced.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let value = u32::from_str_radix(std::str::from_utf8(&braced[..digits]).ok()?, 16).ok()?;
        return (braced.get(digits) == Some(&b'}') && value == c as u32).then_some(digits + 3);
    }
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    let first = hex_value(text, 4)?;
    if units.len() == 1 {
        return (first == u32::from(units[0])).then_some(5);
    }
    let second = text.get(4..)?.strip_prefix(b"\\u").and_then(|rest| hex_value(rest, 4))?;
    (first == u32::from(units[0]) && second == u32::from(units[1])).then_some(11)
}

/// The length of `bytes` written as `PREFIXhh` each at the start of `text` (the first
/// prefix's backslash already read as one of `slashes`).
fn each_byte(text: &[u8], bytes: &[u8], prefix: &[u8], slashes: usize) -> Option<usize> {
    let mut length = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let mut rest = &text[length..];
        if i > 0 {
            // Later bytes carry their own backslashes, as many as the first.
            let own = rest.iter().take(NESTING).take_while(|&&b| b == b'\\').count();
            if own != slashes {
                return None;
            }
            rest = &rest[own..];
            length += own;
        }
        let rest = rest.strip_prefix(&prefix[1..])?;
        if hex_value(rest, 2)? != u32::from(byte) {
            return None;
        }
        length += prefix.len() - 1 + 2;
    }
    Some(length)
}

/// The length of `bytes` percent-encoded (once or twice) at the start of `text`.
fn percent_encoded(text: &[u8], bytes: &[u8]) -> Option<usize> {
    let mut length = 0;
    for &byte in bytes {
        let mut rest = text[length..].strip_prefix(b"%")?;
        length += 1;
        for _ in 0..NESTING {
            if !rest.starts_with(b"25") || hex_value(rest, 2) == Some(u32::from(byte)) {
                break;
            }
            rest = &rest[2..];
            length += 2;
        }
        if hex_value(rest, 2)? != u32::from(byte) {
            return None;
        }
        length += 2;
    }
    Some(length)
}

/// The length of an HTML character reference to `c` at the start of `text`: `&#38;`,
/// `&#x26;`, or one of the named ones HTML escapers write.
fn html_reference(text: &[u8], c: char) -> Option<usize> {
    let text = text.strip_prefix(b"&")?;
    let end = text.iter().take(10).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&text[..end]).ok()?;
    let value = match name.strip_prefix('#') {
        Some(number) => match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        },
        None => match name {
            "amp" => '&' as u32,
            "lt" => '<' as u32,
            "gt" => '>' as u32,
            "quot" => '"' as u32,
            "apos" => '\'' as u32,
            _ => return None,
        },
    };
    (value == c as u32).then_some(end + 2)
}

/// The value of exactly `digits` hex digits at the start of `text`.
fn hex_value(text: &[u8], digits: usize) -> Option<u32> {
    let digits = text.get(..digits)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Replaces every password in a URL with `****`: the one in `user:password@` and the value
/// of every query parameter that some client reads a password from (`password=` and
/// `sslpassword=` for PostgreSQL, `password=` for MySQL, `pass=` for Redis, and any other
/// key holding `pass` or `pwd`, in any case). A string that is not such a URL comes back
/// unchanged.
pub fn mask_url_password(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else { return text.to_string() };
    let mut changed = false;
    if url.password().is_some() {
        changed = url.set_password(Some(MASK)).is_ok();
    }
    if let Some(query) = url.query() {
        let masked = mask_query(query);
        if masked != query {
            url.set_query(Some(&masked));
            changed = true;
        }
    }
    if changed {
        url.to_string()
    } else {
        text.to_string()
    }
}

/// A URL query with the value of every password parameter replaced.
fn mask_query(query: &str) -> String {
    let pairs = query.split('&').map(|pair| match pair.split_once('=') {
        Some((key, _)) if is_password_key(key) => format!("{key}={MASK}"),
        _ => pair.to_string(),
    });
    pairs.collect::<Vec<_>>().join("&")
}

/// Masks the password of every URL in a line of text (an error message that quotes
/// a config value, say): each `scheme://...` up to a space or a quote.
pub fn mask_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at].rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c))).map_or(0, |i| i + 1);
        let end = rest[at..].find(|c: char| c.is_whitespace() || "\"'`<>".contains(c)).map_or(rest.len(), |i| at + i);
        out += &rest[..start];
        let url = &rest[start..end];
        // A URL the parser refuses may still hold a password: show only its scheme.
        out += &match url::Url::parse(url) {
            Ok(_) => mask_url_password(url),
            Err(_) => format!("{}{MASK}", &rest[start..at + 3]),
        };
        rest = &rest[end..];
    }
    out + rest
}

/// A config var's value as shown without `--reveal`: URLs keep everything but their
/// password; any other value is hidden whole.
pub fn masked(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(url) if url.has_host() || url.scheme() == "sqlite" => mask_url_password(value),
        _ => "********".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://app:Pa55w0rd%2Fx%40y@db.internal:5432/app?sslpassword=k3y-pass&x=1";

    fn hidden(values: &[&str], text: &str) -> String {
        Secrets::new(values.iter().copied()).mask(text)
    }

    #[test]
    fn masking_hides_passwords_and_opaque_values() {
        assert_eq!(masked("postgres://u:secretpw@h:5432/d"), "postgres://u:****@h:5432/d");
        assert_eq!(masked("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(masked("abcdef0123"), "********");
        assert_eq!(mask_url_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn masking_hides_query_passwords_in_every_spelling() {
        for (url, shown) in [
            ("postgres://h/d?password=SECRET", "postgres://h/d?password=****"),
            ("postgres://h/d?sslmode=disable&PassWord=SECRET&x=1", "postgres://h/d?sslmode=disable&PassWord=****&x=1"),
            ("postgresql://h/d?sslpassword=SECRET", "postgresql://h/d?sslpassword=****"),
            ("postgres://h/d?pass%77ord=SECRET", "postgres://h/d?pass%77ord=****"),
            ("mysql://root@h:3306/d?password=SECRET", "mysql://root@h:3306/d?password=****"),
            ("mysql://h/d?Pwd=SECRET", "mysql://h/d?Pwd=****"),
            ("redis://h:6379/0?pass=SECRET", "redis://h:6379/0?pass=****"),
            ("redis://:SECRET@h:6379", "redis://:****@h:6379"),
            ("redis://u:SECRET@h/0?password=SECRET2", "redis://u:****@h/0?password=****"),
        ] {
            assert_eq!(mask_url_password(url), shown, "{url}");
            assert_eq!(masked(url), shown, "{url}");
        }
        assert_eq!(mask_url_password("postgres://h/d?sslmode=require"), "postgres://h/d?sslmode=require");
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            mask_urls_in("invalid type: string \"postgres://u:SECRET@h/d?password=SECRET\", expected i64"),
            "invalid type: string \"postgres://u:****@h/d?password=****\", expected i64"
        );
        assert_eq!(mask_urls_in("no url here"), "no url here");
        assert_eq!(mask_urls_in("bad 'mysql://u:SECRET@h:99999'"), "bad 'mysql://****'");
        assert_eq!(mask_urls_in("a redis://:x@h b mysql://h?pwd=y"), "a redis://:****@h b mysql://h?pwd=****");
    }

    #[test]
    fn a_value_is_masked_as_it_is_and_short_values_are_left_alone() {
        assert_eq!(hidden(&["s3cr3t-value", "5432"], "key=s3cr3t-value port=5432"), "key=**** port=5432");
    }

    #[test]
    fn a_urls_passwords_are_masked_raw_and_decoded() {
        let text = "pw Pa55w0rd%2Fx%40y or Pa55w0rd/x@y, ssl k3y-pass";
        assert_eq!(hidden(&[URL], text), "pw **** or ****, ssl ****");
        assert_eq!(hidden(&[URL], &format!("url {URL}.")), "url ****.");
    }

    #[test]
    fn escaped_forms_are_masked_in_any_mix() {
        let value = "https://u:p4ss-w0rd@api.example/v1?a=1&b=<2>";
        let forms = [
            r#"https:\/\/u:p4ss-w0rd@api.example\/v1?a=1\u0026b=\u003c2\u003e"#,
            r#"https:\\\/\\\/u:p4ss-w0rd@api.example\\\/v1?a=1\\u0026b=<2>"#,
            "https%3A%2F%2Fu%3Ap4ss-w0rd%40api.example%2Fv1%3Fa%3D1%26b%3D%3C2%3E",
            "https%253A%252F%252Fu%253Ap4ss-w0rd%2540api.example%252Fv1%253Fa%253D1%2526b%253D%253C2%253E",
            "https://u:p4ss-w0rd@api.example/v1?a=1&amp;b=&lt;2&#x3E;",
            r"https:\x2f\x2fu:p4ss-w0rd@api.example/v1?a=1&b=<2\u{3e}",
        ];
        for form in forms {
            assert_eq!(hidden(&[value], &format!("[{form}]")), "[****]", "{form}");
        }
        assert_eq!(hidden(&["caf\u{e9}-\u{1f600}-secret"], r"caf\u00e9-\ud83d\ude00-secret"), "****");
        assert_eq!(hidden(&["caf\u{e9}-secret-1"], "caf%C3%A9-secret-1"), "****");
    }

    #[test]
    fn long_runs_of_escapes_are_read_once() {
        let secrets = Secrets::new(["s3cr3t-value"]);
        for filler in ["\\", "%25", "&#"] {
            let text = format!("{}s3cr3t-value", filler.repeat(64 * 1024 / filler.len()));
            let started = std::time::Instant::now();
            assert!(secrets.mask(&text).ends_with("****"));
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{filler}: {:?}", started.elapsed());
        }
    }

    #[test]
    fn a_piece_of_a_secret_at_a_cut_edge_is_masked() {
        let secrets = Secrets::new(["0123456789abcdefghij"]);
        assert_eq!(secrets.mask_cut("bcdefghij\nmore", true), "****\nmore");
        assert_eq!(secrets.mask_cut("more\n0123456", false), "more\n****");
        assert_eq!(secrets.mask_cut("ghij rest", true), "**** rest");
        // Shorter pieces, and pieces not at an edge, are not secrets.
        assert_eq!(secrets.mask_cut("hij rest 012", true), "hij rest 012");
        assert_eq!(secrets.mask_cut("x bcdefghij y", true), "x bcdefghij y");
        assert_eq!(secrets.mask_cut("bcdefghij", false), "bcdefghij");
    }

    #[test]
    fn password_keys_are_found_in_any_spelling() {
        for key in ["password", "sslpassword", "PASS", "pwd", "my%50ass"] {
            assert!(is_password_key(key), "{key}");
        }
        assert!(!is_password_key("sslmode"));
    }
}
