//! Owner views (SPEC §9): filtering and rendering of agencies and campaigns, as a table grouped by
//! country for people and as JSON for scripts (the JSON keys are the contract).

use crate::store::{AgencyView, CampaignView};
use crate::text::folded_contains;

/// Which agencies `agencies` lists.
#[derive(Debug, Clone, Default)]
pub struct AgencyFilter {
    pub country: Option<String>,
    /// `Some(true)`: only active; `Some(false)`: only inactive.
    pub active: Option<bool>,
    pub search: Option<String>,
}

impl AgencyFilter {
    pub fn matches(&self, a: &AgencyView) -> bool {
        country_matches(&self.country, &a.country)
            && self.active.is_none_or(|want| a.active == want)
            && search_matches(&self.search, &a.id, &a.name)
    }
}

/// Which campaigns `campaigns` lists.
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub country: Option<String>,
    pub search: Option<String>,
}

impl CampaignFilter {
    pub fn matches(&self, c: &CampaignView) -> bool {
        country_matches(&self.country, &c.country) && search_matches(&self.search, &c.id, &c.name)
    }
}

fn country_matches(wanted: &Option<String>, country: &str) -> bool {
    wanted
        .as_deref()
        .is_none_or(|w| w.eq_ignore_ascii_case(country))
}

/// `--search` matches case- and accent-insensitively anywhere in the name or id.
fn search_matches(search: &Option<String>, id: &str, name: &str) -> bool {
    search
        .as_deref()
        .is_none_or(|s| folded_contains(name, s) || folded_contains(id, s))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub fn agencies_table(rows: &[AgencyView]) -> String {
    grouped(
        rows,
        |a| &a.country,
        ("agency", "agencies"),
        &[
            "ID",
            "Name",
            "Active",
            "Added by",
            "Added on",
            "Users",
            "Candidates",
        ],
        |a| {
            vec![
                a.id.clone(),
                a.name.clone(),
                yes_no(a.active),
                a.added_by.clone(),
                date(a.added_on),
                a.users.to_string(),
                a.candidates.to_string(),
            ]
        },
    )
}

pub fn campaigns_table(rows: &[CampaignView]) -> String {
    grouped(
        rows,
        |c| &c.country,
        ("campaign", "campaigns"),
        &[
            "ID",
            "Name",
            "Active",
            "Created by",
            "Created on",
            "Candidates",
        ],
        |c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                yes_no(c.active),
                c.created_by.clone(),
                date(c.created_on),
                c.candidates.to_string(),
            ]
        },
    )
}

/// Rows (already sorted by country) as one aligned table per country, each under a heading.
fn grouped<T>(
    rows: &[T],
    country: impl Fn(&T) -> &String,
    noun: (&str, &str),
    headers: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) -> String {
    if rows.is_empty() {
        return format!("no {} matches\n", noun.0);
    }
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let c = country(&rows[start]);
        let end = start + rows[start..].iter().take_while(|r| country(r) == c).count();
        let n = end - start;
        let word = if n == 1 { noun.0 } else { noun.1 };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{c} ({n} {word})\n"));
        let body: Vec<Vec<String>> = rows[start..end].iter().map(&cells).collect();
        out.push_str(&table(headers, &body));
        start = end;
    }
    out
}

/// A plain aligned text table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from("  ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(id: &str, name: &str, country: &str, active: bool) -> AgencyView {
        AgencyView {
            id: id.into(),
            name: name.into(),
            country: country.into(),
            active,
            added_by: "olivia@company.example".into(),
            added_on: None,
            users: 2,
            candidates: 0,
        }
    }

    #[test]
    fn filters() {
        let a = agency("acme", "Acme Staffing Señor", "PH", true);
        let f = AgencyFilter {
            country: Some("ph".into()),
            active: Some(true),
            search: Some("SENOR".into()),
        };
        assert!(f.matches(&a));
        assert!(!AgencyFilter {
            active: Some(false),
            ..Default::default()
        }
        .matches(&a));
    }

    #[test]
    fn grouped_by_country() {
        let rows = vec![
            agency("b", "B", "MX", true),
            agency("a", "A", "PH", true),
            agency("c", "C", "PH", false),
        ];
        let t = agencies_table(&rows);
        assert!(t.starts_with("MX (1 agency)\n"), "{t}");
        assert!(t.contains("\nPH (2 agencies)\n"), "{t}");
    }
}
