//! Whether a message really comes from its From domain (SPEC §4.1 "Who sent it", `require_auth`).
//!
//! Our own receiving server (`authserv_id`) adds an `Authentication-Results` header on top of what
//! arrived. Only that topmost header counts: a header further down claiming our `authserv_id` was
//! written by the sender and is ignored. It must show `dmarc=pass`, or a `dkim=pass` whose signing
//! domain (`header.d`, or the domain of `header.i`) is the From domain.

/// Checks the headers (topmost first) against `authserv_id` for `from_domain`.
pub fn authenticated(
    headers_topmost_first: &[String],
    authserv_id: &str,
    from_domain: &str,
) -> bool {
    let Some(ours) = headers_topmost_first
        .iter()
        .find(|h| serv_id(h).eq_ignore_ascii_case(authserv_id))
    else {
        return false;
    };
    let from_domain = from_domain.to_ascii_lowercase();
    results(ours).any(|r| {
        (r.method == "dmarc" && r.result == "pass")
            || (r.method == "dkim"
                && r.result == "pass"
                && r.props.iter().any(|(k, v)| match k.as_str() {
                    "header.d" => v.eq_ignore_ascii_case(&from_domain),
                    "header.i" => v
                        .rsplit_once('@')
                        .map(|(_, d)| d)
                        .unwrap_or(v)
                        .eq_ignore_ascii_case(&from_domain),
                    _ => false,
                }))
    })
}

/// The authserv-id: the first token, before the first `;` (an optional version follows it).
fn serv_id(header: &str) -> &str {
    header
        .split(';')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

struct MethodResult {
    method: String,
    result: String,
    props: Vec<(String, String)>,
}

/// The `method=result prop=value …` clauses after the authserv-id, comments removed.
fn results(header: &str) -> impl Iterator<Item = MethodResult> + '_ {
    let without_comments = strip_comments(header);
    without_comments
        .split(';')
        .skip(1)
        .map(|clause| {
            let mut words = clause.split_whitespace();
            let (method, result) = words
                .next()
                .and_then(|w| w.split_once('='))
                .map(|(m, r)| (m.to_ascii_lowercase(), r.to_ascii_lowercase()))
                .unwrap_or_default();
            let props = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
                .collect();
            MethodResult {
                method,
                result,
                props,
            }
        })
        .collect::<Vec<_>>()
        .into_iter()
}

fn strip_comments(s: &str) -> String {
    let mut depth = 0usize;
    s.chars()
        .filter(|&c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const ID: &str = "mx.example.test";

    #[test]
    fn dmarc_or_aligned_dkim_pass() {
        assert!(authenticated(
            &h(&["mx.example.test; dmarc=pass (p=none) header.from=acme.ph"]),
            ID,
            "acme.ph"
        ));
        assert!(authenticated(
            &h(&[
                "mx.example.test 1; spf=fail; dkim=pass header.d=Acme.PH header.s=s1; dmarc=none"
            ]),
            ID,
            "acme.ph"
        ));
        assert!(authenticated(
            &h(&["mx.example.test; dkim=pass header.i=@acme.ph"]),
            ID,
            "acme.ph"
        ));
    }

    #[test]
    fn failures_unaligned_and_foreign_servers() {
        assert!(!authenticated(
            &h(&["mx.example.test; dmarc=fail"]),
            ID,
            "acme.ph"
        ));
        assert!(!authenticated(
            &h(&["mx.example.test; dkim=pass header.d=evil.test"]),
            ID,
            "acme.ph"
        ));
        assert!(!authenticated(
            &h(&["other.example; dmarc=pass"]),
            ID,
            "acme.ph"
        ));
        assert!(!authenticated(&h(&[]), ID, "acme.ph"));
        // A comment saying pass is not a pass.
        assert!(!authenticated(
            &h(&["mx.example.test; dmarc=fail (dmarc=pass)"]),
            ID,
            "acme.ph"
        ));
    }

    #[test]
    fn only_the_topmost_header_counts() {
        // The real one (ours, on top) fails; a forged one below claims a pass.
        assert!(!authenticated(
            &h(&["mx.example.test; dmarc=fail", "mx.example.test; dmarc=pass"]),
            ID,
            "acme.ph"
        ));
        // Headers of other servers (a filter after ours) do not hide ours.
        assert!(authenticated(
            &h(&[
                "filter.example.test; spam=clean",
                "mx.example.test; dmarc=pass"
            ]),
            ID,
            "acme.ph"
        ));
    }
}
