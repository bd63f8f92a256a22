//! Validation of one row (SPEC §6.2) and campaign resolution.
//!
//! Reasons name the field and say what is wrong in plain words for agency staff; they never name
//! other agencies and never repeat the candidate's email or phone. They are structured
//! ([`Reason`]: the problems of the row, in order), worded by the catalogue in the reader's
//! language ([`crate::i18n`]).
//!
//! Campaign of a row: the row's campaign column (a campaign ID, or its name compared case-, accent-
//! and punctuation-insensitively), else the default campaign given with the file (`--campaign`, the
//! drop folder, the subject tag), else the only open campaign in the agency's country.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use email_address::{EmailAddress, Options};

use crate::directory::{Agency, Campaign, Directory};
use crate::field::Field;
use crate::i18n::{CampaignProblem, Part, Reason};
use crate::normalise::{self, Name, PhoneRules};
use crate::sheet::Cell;
use crate::text;

/// What a submission is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub directory: &'a Directory,
    /// The submitting agency.
    pub agency: &'a Agency,
    /// Whether the submitting user is active (the command line passes `true` without `--user`).
    pub submitter_active: bool,
    /// The campaign given with the file (`--campaign`, drop folder, subject tag): an ID or a name.
    pub default_campaign: Option<&'a str>,
}

/// A row's values after normalisation: everything that could be parsed, also for invalid rows.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    pub first_name: Name,
    pub last_name: Name,
    /// The email as written (cleaned), when there was one.
    pub email: Option<String>,
    /// The email match key, only when the email is a valid address.
    pub email_key: Option<String>,
    /// E.164, only when the phone is a valid number.
    pub phone: Option<String>,
    /// The E.164 digits, only when the phone is valid.
    pub phone_key: Option<String>,
    /// The resolved campaign's ID.
    pub campaign_id: Option<String>,
    /// Other columns: (header as written, cleaned value), non-empty values only, left to right.
    /// The header is shared by every row of the submission.
    pub custom: Vec<(Arc<str>, String)>,
}

/// The raw cells of one row, picked out by column role (see [`crate::rows`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RowCells<'r> {
    pub first_name: Option<&'r Cell>,
    pub last_name: Option<&'r Cell>,
    pub full_name: Option<&'r Cell>,
    pub email: Option<&'r Cell>,
    pub phone: Option<&'r Cell>,
    pub campaign: Option<&'r Cell>,
}

/// Why a row is invalid (SPEC §6.2), and what kind of problem it has (SPEC §6.4 (r2), order of
/// decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Every problem of the row.
    pub reason: Reason,
    /// Only missing or malformed fields: a well-formed email or phone of the row that identifies a
    /// known person or an earlier row still gives the row that identity outcome. `false` when the
    /// row is unacceptable whoever the person is (agency or submitter inactive; campaign missing,
    /// unknown, closed or of another country; the agency's own contact).
    pub fields_only: bool,
}

/// A campaign reference resolved, or why not.
type Resolved<'a> = Result<&'a Campaign, CampaignProblem>;

/// Validates rows for one submission; everything that does not depend on the row is prepared once.
pub struct Validator<'a> {
    ctx: Context<'a>,
    phone: Option<PhoneRules>,
    by_id: HashMap<&'a str, &'a Campaign>,
    by_name: HashMap<String, Vec<&'a Campaign>>,
    /// The campaign for rows without one (`None`: no default could be found).
    fallback: Option<Result<&'a Campaign, Part>>,
    open_in_country: usize,
    user_email_keys: HashSet<String>,
    /// Problems of the submission itself (inactive agency or submitter), repeated on every row.
    submission_problems: Vec<Part>,
    email_options: Options,
}

impl<'a> Validator<'a> {
    pub fn new(ctx: Context<'a>) -> Validator<'a> {
        let campaigns = &ctx.directory.campaigns;
        let by_id = campaigns.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut by_name: HashMap<String, Vec<&Campaign>> = HashMap::new();
        for c in campaigns {
            by_name
                .entry(text::compact_key(&c.name))
                .or_default()
                .push(c);
        }
        let open: Vec<&Campaign> = campaigns
            .iter()
            .filter(|c| c.active && c.country == ctx.agency.country)
            .collect();
        let mut submission_problems = Vec::new();
        if !ctx.agency.active {
            submission_problems.push(Part::AgencyInactive);
        }
        if !ctx.submitter_active {
            submission_problems.push(Part::SubmitterInactive);
        }
        let mut v = Validator {
            ctx,
            phone: PhoneRules::new(&ctx.agency.country),
            by_id,
            by_name,
            fallback: None,
            open_in_country: open.len(),
            user_email_keys: ctx
                .agency
                .users
                .iter()
                .map(|u| normalise::email_key(&u.email))
                .collect(),
            submission_problems,
            email_options: Options::default()
                .with_required_tld()
                .without_domain_literal()
                .without_display_text(),
        };
        v.fallback = match ctx
            .default_campaign
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(given) => Some(v.resolve(given).map_err(|problem| Part::Campaign {
                given: true,
                problem,
            })),
            None if open.len() == 1 => Some(Ok(open[0])),
            None => None,
        };
        v
    }

    pub fn context(&self) -> &Context<'a> {
        &self.ctx
    }

    /// Finds a campaign by ID or name and checks it is open to this agency.
    fn resolve(&self, value: &str) -> Resolved<'a> {
        let shown = shorten(value, 60);
        let campaign = if let Some(c) = self.by_id.get(value) {
            *c
        } else {
            let found = self.by_name.get(&text::compact_key(value));
            match found.map(|v| v.as_slice()) {
                Some([one]) => *one,
                Some(many) if !many.is_empty() => {
                    // Same name in several countries: the one open in the agency's country.
                    let mine: Vec<&Campaign> = many
                        .iter()
                        .copied()
                        .filter(|c| c.active && c.country == self.ctx.agency.country)
                        .collect();
                    match mine.as_slice() {
                        [one] => *one,
                        _ => return Err(CampaignProblem::Ambiguous { value: shown }),
                    }
                }
                _ => return Err(CampaignProblem::Unknown { value: shown }),
            }
        };
        if !campaign.active {
            return Err(CampaignProblem::Closed {
                name: campaign.name.clone(),
                id: campaign.id.clone(),
            });
        }
        if campaign.country != self.ctx.agency.country {
            return Err(CampaignProblem::OtherCountry {
                name: campaign.name.clone(),
                id: campaign.id.clone(),
                country: campaign.country.clone(),
                agency_country: self.ctx.agency.country.clone(),
            });
        }
        Ok(campaign)
    }

    fn campaign_for(&self, cell: Option<&Cell>) -> Result<&'a Campaign, Part> {
        if let Some(value) = cell.and_then(normalise::cleaned_value) {
            return self.resolve(&value).map_err(|problem| Part::Campaign {
                given: false,
                problem,
            });
        }
        match &self.fallback {
            Some(r) => r.clone(),
            None => Err(Part::CampaignMissing {
                open: self.open_in_country,
            }),
        }
    }

    /// Whether an address passes the syntax check (the email_address crate, a domain with a dot, no
    /// spaces).
    pub fn email_is_valid(&self, email: &str) -> bool {
        if email.chars().any(char::is_whitespace) || email.matches('@').count() != 1 {
            return false;
        }
        let Ok(parsed) = EmailAddress::parse_with_options(email, self.email_options) else {
            return false;
        };
        let domain = parsed.domain();
        domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
    }

    fn is_agency_contact(&self, email_key: &str) -> bool {
        if self.user_email_keys.contains(email_key) {
            return true;
        }
        let Some(domain) = normalise::email_domain(email_key) else {
            return false;
        };
        self.ctx.agency.domains.iter().any(|d| {
            domain == d
                || (domain.len() > d.len()
                    && domain.ends_with(d.as_str())
                    && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
        })
    }

    /// Normalises and validates one row: what could be parsed, and `Some(reason)` (in English)
    /// when invalid.
    pub fn row(&self, cells: RowCells<'_>) -> (Candidate, Option<String>) {
        let (c, invalid) = self.check(cells);
        (c, invalid.map(|i| i.reason.english()))
    }

    /// [`Validator::row`], saying what kind of problem an invalid row has ([`Invalid`]).
    pub fn check(&self, cells: RowCells<'_>) -> (Candidate, Option<Invalid>) {
        // Problems of the whole row (whoever the person is), then problems of its fields.
        let mut problems: Vec<Part> = self.submission_problems.clone();
        let mut fields: Vec<Part> = Vec::new();
        let mut c = Candidate::default();

        // Names.
        let first = cells.first_name.and_then(normalise::cleaned_value);
        let last = cells.last_name.and_then(normalise::cleaned_value);
        let (first, last) = match (
            cells.full_name.and_then(normalise::cleaned_value),
            first,
            last,
        ) {
            (Some(full), first, last) if first.is_none() || last.is_none() => {
                let (f, l) = normalise::split_full_name(&full);
                (
                    first.or(Some(f).filter(|s| !s.is_empty())),
                    last.or(Some(l).filter(|s| !s.is_empty())),
                )
            }
            (_, first, last) => (first, last),
        };
        c.first_name = first.map(Name::new).unwrap_or_default();
        c.last_name = last.map(Name::new).unwrap_or_default();

        // Email.
        if let Some(raw) = cells.email.and_then(normalise::cleaned_value) {
            let display = normalise::email_display_of_cleaned(raw);
            if self.email_is_valid(&display) {
                let key = normalise::email_key(&display);
                if self.is_agency_contact(&key) {
                    problems.push(Part::AgencyContact);
                }
                c.email_key = Some(key);
            } else {
                fields.push(Part::EmailInvalid);
            }
            c.email = Some(display);
        }

        // Phone.
        let mut phone_given = false;
        if let Some(cell) = cells.phone {
            match &self.phone {
                Some(rules) => match rules.normalise(cell) {
                    Ok(Some(p)) => {
                        phone_given = true;
                        c.phone_key = Some(p.key().to_string());
                        c.phone = Some(p.e164);
                    }
                    Ok(None) => {}
                    Err(problem) => {
                        phone_given = true;
                        fields.push(Part::Phone(problem));
                    }
                },
                None => {
                    if normalise::cleaned_value(cell).is_some() {
                        phone_given = true;
                        fields.push(Part::PhoneUnchecked {
                            country: self.ctx.agency.country.clone(),
                        });
                    }
                }
            }
        }

        // Campaign.
        let campaign = match self.campaign_for(cells.campaign) {
            Ok(campaign) => {
                c.campaign_id = Some(campaign.id.clone());
                Some(campaign)
            }
            Err(why) => {
                problems.push(why);
                None
            }
        };

        // Required fields.
        let present = |f: Field| match f {
            Field::FirstName => !c.first_name.is_empty(),
            Field::LastName => !c.last_name.is_empty(),
            Field::Email => c.email.is_some(),
            Field::Phone => phone_given,
            Field::Campaign => campaign.is_some() || cells.campaign.is_some(),
        };
        let mut missing: Vec<Part> = Vec::new();
        match campaign.and_then(|c| c.required.as_ref()) {
            Some(required) => {
                for f in required {
                    if !present(*f) && *f != Field::Campaign {
                        missing.push(Part::Missing(*f));
                    }
                }
            }
            None => {
                for f in [Field::FirstName, Field::LastName] {
                    if !present(f) {
                        missing.push(Part::Missing(f));
                    }
                }
                if !present(Field::Email) && !present(Field::Phone) {
                    missing.push(Part::EmailOrPhoneMissing);
                }
            }
        }
        // After the submission's own problems, missing fields first: they are what the agency
        // fixes first; then malformed ones, then the rest of the row's.
        let s = self.submission_problems.len();
        let fields_only = problems.is_empty();
        missing.extend(fields);
        problems.splice(s..s, missing);

        let invalid = (!problems.is_empty()).then(|| Invalid {
            reason: Reason::new(problems),
            fields_only,
        });
        (c, invalid)
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::directory::{Role, User};

    pub(crate) fn campaign(id: &str, name: &str, country: &str, active: bool) -> Campaign {
        Campaign {
            id: id.into(),
            name: name.into(),
            country: country.into(),
            active,
            created_by: "olivia@company.example".into(),
            created_on: None,
            required: None,
        }
    }

    pub(crate) fn directory() -> Directory {
        let mut phone_only = campaign("40200", "Phone Only Manila", "PH", true);
        phone_only.required = Some(vec![Field::FirstName, Field::LastName, Field::Phone]);
        Directory {
            owners: vec![],
            recruiters: vec![],
            agencies: vec![
                Agency {
                    id: "acme".into(),
                    name: "Acme Staffing".into(),
                    country: "PH".into(),
                    active: true,
                    added_by: "olivia@company.example".into(),
                    added_on: None,
                    logo: None,
                    domains: vec!["acme-staffing.ph".into()],
                    language: crate::i18n::Lang::En,
                    users: vec![User {
                        email: "ana.admin@gmail.com".into(),
                        name: "Ana Admin".into(),
                        role: Role::Admin,
                    }],
                },
                Agency {
                    id: "bogota".into(),
                    name: "Bogotá Talento".into(),
                    country: "CO".into(),
                    active: false,
                    added_by: "olivia@company.example".into(),
                    added_on: None,
                    logo: None,
                    domains: vec![],
                    language: crate::i18n::Lang::Es,
                    users: vec![],
                },
            ],
            campaigns: vec![
                campaign("40123", "Customer Service Manila", "PH", true),
                campaign("40124", "Atención al Cliente Bogotá", "CO", true),
                campaign("40125", "Tech Support Cebu", "PH", false),
                phone_only,
            ],
        }
    }

    fn ctx<'a>(d: &'a Directory, agency: &str, default: Option<&'a str>) -> Context<'a> {
        Context {
            directory: d,
            agency: d.agency(agency).unwrap(),
            submitter_active: true,
            default_campaign: default,
        }
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn full_row<'r>(cells: &'r [Cell; 4]) -> RowCells<'r> {
        RowCells {
            first_name: Some(&cells[0]),
            last_name: Some(&cells[1]),
            email: Some(&cells[2]),
            phone: Some(&cells[3]),
            ..RowCells::default()
        }
    }

    #[test]
    fn valid_row_with_default_campaign() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40123")));
        let cells = [
            t(" José "),
            t("dela Cruz"),
            t("J.DelaCruz+jobs@Gmail.com"),
            t("0917 123 4567"),
        ];
        let (c, reason) = v.row(full_row(&cells));
        assert_eq!(reason, None);
        assert_eq!(c.first_name.display, "José");
        assert_eq!(c.first_name.key, "jose");
        assert_eq!(c.last_name.key, "dela cruz");
        assert_eq!(c.email.as_deref(), Some("J.DelaCruz+jobs@Gmail.com"));
        assert_eq!(c.email_key.as_deref(), Some("jdelacruz@gmail.com"));
        assert_eq!(c.phone.as_deref(), Some("+639171234567"));
        assert_eq!(c.phone_key.as_deref(), Some("639171234567"));
        assert_eq!(c.campaign_id.as_deref(), Some("40123"));
    }

    #[test]
    fn campaign_by_column_id_or_name() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", None));
        let by = |cell: Cell| {
            let names = [t("Ana"), t("Reyes"), t("ana@example.com"), Cell::Empty];
            let mut rc = full_row(&names);
            rc.campaign = Some(&cell);
            let (c, r) = v.row(rc);
            (c.campaign_id, r)
        };
        assert_eq!(by(t("40123")).0.as_deref(), Some("40123"));
        assert_eq!(by(Cell::Number(40123.0)).0.as_deref(), Some("40123"));
        assert_eq!(by(t("customer service MANILÁ")).0.as_deref(), Some("40123"));
        let (_, r) = by(t("40124"));
        assert_eq!(
            r.as_deref(),
            Some("campaign: \"Atención al Cliente Bogotá\" (40124) is for candidates in Colombia, not in the Philippines")
        );
        let (_, r) = by(t("40125"));
        assert!(r
            .unwrap()
            .starts_with("campaign: \"Tech Support Cebu\" (40125) is closed"));
        let (_, r) = by(t("Night Shift"));
        assert!(r
            .unwrap()
            .starts_with("campaign: \"Night Shift\" is not a campaign ID or name we know"));
    }

    #[test]
    fn campaign_fallbacks() {
        let mut d = directory();
        // Two open campaigns in PH and no default: missing.
        let v = Validator::new(ctx(&d, "acme", None));
        let cells = [t("Ana"), t("Reyes"), t("ana@example.com"), Cell::Empty];
        let (_, r) = v.row(full_row(&cells));
        let r = r.unwrap();
        assert!(
            r.starts_with("campaign: missing; add a Campaign column"),
            "{r}"
        );
        assert!(r.contains("2 open campaigns"), "{r}");
        // The only open campaign in the agency's country.
        d.campaigns.retain(|c| c.id != "40200");
        let v = Validator::new(ctx(&d, "acme", None));
        assert_eq!(
            v.row(full_row(&cells)).0.campaign_id.as_deref(),
            Some("40123")
        );
        // A bad default names itself.
        let v = Validator::new(ctx(&d, "acme", Some("99999")));
        let r = v.row(full_row(&cells)).1.unwrap();
        assert!(
            r.starts_with("campaign: the campaign given with the file \"99999\" is not"),
            "{r}"
        );
    }

    #[test]
    fn required_fields_default_rule() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40123")));
        let cells = [t("Ana"), t("N/A"), Cell::Empty, t("-")];
        let (c, r) = v.row(full_row(&cells));
        assert_eq!(
            r.as_deref(),
            Some("last name: missing; email or phone: missing; give at least one")
        );
        assert_eq!(c.first_name.display, "Ana", "invalid rows keep what parsed");
        // Phone alone is enough.
        let cells = [
            t("Ana"),
            t("Reyes"),
            Cell::Empty,
            Cell::Number(9171234567.0),
        ];
        assert_eq!(v.row(full_row(&cells)).1, None);
    }

    #[test]
    fn required_fields_from_the_campaign() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40200")));
        let cells = [t("Ana"), t("Reyes"), t("ana@example.com"), Cell::Empty];
        assert_eq!(v.row(full_row(&cells)).1.as_deref(), Some("phone: missing"));
    }

    #[test]
    fn email_and_phone_problems_name_the_field() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40123")));
        for bad in [
            "ana@",
            "ana@example",
            "ana example.com",
            "ana@@example.com",
            "Ana <ana@example.com>",
            "ana@example.c0m",
        ] {
            let cells = [t("Ana"), t("Reyes"), t(bad), Cell::Empty];
            let (c, r) = v.row(full_row(&cells));
            assert!(
                r.unwrap().starts_with("email: not a valid address"),
                "{bad}"
            );
            assert_eq!(c.email_key, None);
        }
        let cells = [t("Ana"), t("Reyes"), t("ana@example.com"), t("9.17123E+09")];
        let (c, r) = v.row(full_row(&cells));
        assert!(r.unwrap().starts_with("phone: Excel shortened"));
        assert_eq!(
            c.email_key.as_deref(),
            Some("ana@example.com"),
            "kept what parsed"
        );
        assert_eq!(c.phone, None);
        assert!(v.email_is_valid("ana.reyes+x@sub.example.co"));
    }

    #[test]
    fn agency_contacts_are_refused() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40123")));
        for email in [
            "Ana.Admin+x@googlemail.com",
            "hr@acme-staffing.ph",
            "x@mail.acme-staffing.ph",
        ] {
            let cells = [t("Ana"), t("Reyes"), t(email), Cell::Empty];
            assert_eq!(
                v.row(full_row(&cells)).1.as_deref(),
                Some("email: this is your agency's contact, not the candidate's"),
                "{email}"
            );
        }
        let cells = [
            t("Ana"),
            t("Reyes"),
            t("hr@notacme-staffing.ph"),
            Cell::Empty,
        ];
        assert_eq!(v.row(full_row(&cells)).1, None);
    }

    #[test]
    fn inactive_agency_and_submitter() {
        let d = directory();
        let mut c = ctx(&d, "bogota", Some("40124"));
        c.submitter_active = false;
        let v = Validator::new(c);
        let cells = [
            t("Luis"),
            t("Gómez"),
            t("luis@example.com"),
            t("300 123 4567"),
        ];
        let (cand, r) = v.row(full_row(&cells));
        let r = r.unwrap();
        assert!(r.starts_with("agency: your agency is not active"), "{r}");
        assert!(r.contains("submitter: your user is not active"), "{r}");
        assert_eq!(cand.phone.as_deref(), Some("+573001234567"));
    }

    #[test]
    fn full_name_fills_missing_parts() {
        let d = directory();
        let v = Validator::new(ctx(&d, "acme", Some("40123")));
        let full = t("Reyes, Ana Sofia");
        let email = t("ana@example.com");
        let (c, r) = v.row(RowCells {
            full_name: Some(&full),
            email: Some(&email),
            ..RowCells::default()
        });
        assert_eq!(r, None);
        assert_eq!(
            (c.first_name.display.as_str(), c.last_name.display.as_str()),
            ("Ana Sofia", "Reyes")
        );
        let single = t("Madonna");
        let (_, r) = v.row(RowCells {
            full_name: Some(&single),
            email: Some(&email),
            ..RowCells::default()
        });
        assert_eq!(r.as_deref(), Some("last name: missing"));
    }
}
