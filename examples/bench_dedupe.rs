//! Not a test: the duplicate-detection benchmark of issue 4 (acceptance 3) on the FEBRL person
//! datasets, through the real pipeline and store (SQLite in a temp dir). Run it with
//! `scripts/bench-dedupe`, or `cargo run --release --example bench_dedupe -- [FEBRL_DIR]`.
//!
//! Records become rows exactly as `../shared/data/febrl/README.md` says, with two choices it leaves
//! open: the random generator deciding a copy's email is SplitMix64 seeded with the FNV-1a hash of
//! the copy's `rec_id`; and spaces inside a name (`di chiera`) are left out of the email's local
//! part, since an address cannot hold one (a row with it would be invalid, not a duplicate).
//!
//! The directory is the shipped `config/directory.toml` with one change, written to a temp dir:
//! campaign 40123 requires `["phone"]` instead of first name, last name and phone. FEBRL records may
//! lack a given name or a surname (the README says so); under the default rules such rows are
//! invalid and could not be caught at all. Every FEBRL record has a phone.
//!
//! Scenarios, each on dataset1 and dataset2 (SPEC §6.4 outcomes, README definitions):
//! - cross-agency: acme submits the originals, then bayanihan the copies. A copy is caught right
//!   when its outcome is `duplicate`, `previously_submitted` or `review` and its candidate is the one
//!   created from its original, or when it is `repeated` (a second copy of a person in the file)
//!   pointing to an earlier copy of the same person (the in-file rule: a `repeated` row carries the
//!   earlier row's candidate, which is not the original's when that row was itself missed or sent
//!   to review).
//! - in-file: acme submits the whole file in its given order. A row with an earlier row of the
//!   same person is caught right when it is `repeated` or `review` pointing to a row of that person.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agency_portal::directory::{self, Directory};
use agency_portal::intake::pipeline::{self, Input, Pipeline, Processed};
use agency_portal::outcome::Outcome;
use agency_portal::settings;
use agency_portal::sheet::Limits;
use agency_portal::store::Store;
use agency_portal::submission::{identity, Channel, Rules};

#[path = "bench_data/mod.rs"]
mod bench_data;
use agency_portal::who_is_who;
use bench_data::Rng;
use chrono::{DateTime, Duration, TimeZone, Utc};

const PRECISION_MIN: f64 = 0.999;
const RECALL_MIN: f64 = 0.98;

#[derive(Debug, Clone)]
struct Record {
    rec_id: String,
    /// The person (`<n>` of `rec-<n>-…`).
    n: u64,
    original: bool,
    given: String,
    surname: String,
    ssn: String,
}

/// A record as a sheet row: first, last, mobile, email.
#[derive(Debug, Clone)]
struct SheetRow {
    first: String,
    last: String,
    mobile: String,
    email: String,
    /// How the email was made (for the analysis of misses): same, edit, empty.
    email_kind: &'static str,
    /// The mapping gives this address to another person too: SPEC §6.3 makes them one person.
    shared: bool,
}

fn read_febrl(path: &Path) -> anyhow::Result<Vec<Record>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let mut out = Vec::new();
    for r in rdr.records() {
        let r = r?;
        let rec_id = r.get(0).unwrap_or_default().to_string();
        let mut parts = rec_id.split('-');
        let n: u64 = parts
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{}: bad rec_id {rec_id}", path.display()))?;
        out.push(Record {
            original: rec_id.ends_with("-org"),
            rec_id,
            n,
            given: r.get(1).unwrap_or_default().trim().to_string(),
            surname: r.get(2).unwrap_or_default().trim().to_string(),
            ssn: r.get(10).unwrap_or_default().trim().to_string(),
        });
    }
    Ok(out)
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn base_local(org: &Record) -> String {
    let fold = |s: &str| -> String {
        deunicode::deunicode(s)
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let parts: Vec<String> = [&org.given, &org.surname]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| fold(s))
        .collect();
    if parts.is_empty() {
        format!("cand{}", org.n)
    } else {
        format!("{}{}", parts.join("."), org.n % 97)
    }
}

fn one_edit(local: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = local.chars().collect();
    let letter = |rng: &mut Rng| ALPHABET[rng.index(ALPHABET.len())] as char;
    match rng.index(4) {
        0 => {
            let at = rng.index(c.len() + 1);
            c.insert(at, letter(rng));
        }
        1 if c.len() > 1 => {
            let at = rng.index(c.len());
            c.remove(at);
        }
        2 | 1 => {
            let at = rng.index(c.len());
            let mut l = letter(rng);
            while l == c[at] {
                l = letter(rng);
            }
            c[at] = l;
        }
        _ => {
            if c.len() > 1 {
                let at = rng.index(c.len() - 1);
                c.swap(at, at + 1);
            }
        }
    }
    c.into_iter().collect()
}

fn sheet_rows(records: &[Record]) -> Vec<SheetRow> {
    let originals: HashMap<u64, &Record> = records
        .iter()
        .filter(|r| r.original)
        .map(|r| (r.n, r))
        .collect();
    let mut rows = records
        .iter()
        .map(|r| {
            let base = format!("{}@gmail.com", base_local(originals[&r.n]));
            let (email, email_kind) = if r.original {
                (base, "same")
            } else {
                let mut rng = Rng::seeded(&r.rec_id);
                match rng.index(100) {
                    0..60 => (base, "same"),
                    60..80 => {
                        let (local, domain) = base.rsplit_once('@').unwrap_or_default();
                        (format!("{}@{domain}", one_edit(local, &mut rng)), "edit")
                    }
                    _ => (String::new(), "empty"),
                }
            };
            SheetRow {
                first: r.given.clone(),
                last: r.surname.clone(),
                mobile: if r.ssn.is_empty() {
                    String::new()
                } else {
                    format!("0917{:0>7}", r.ssn)
                },
                email,
                email_kind,
                shared: false,
            }
        })
        .collect::<Vec<SheetRow>>();
    mark_shared(&mut rows, records);
    rows
}

/// Marks the rows whose email key the mapping gives to two people or more.
fn mark_shared(rows: &mut [SheetRow], records: &[Record]) {
    let key = |r: &SheetRow| agency_portal::normalise::email_key(&r.email);
    let mut people: HashMap<String, std::collections::BTreeSet<u64>> = HashMap::new();
    for (r, rec) in rows.iter().zip(records) {
        if !r.email.is_empty() {
            people.entry(key(r)).or_default().insert(rec.n);
        }
    }
    for r in rows.iter_mut() {
        r.shared = !r.email.is_empty() && people.get(&key(r)).is_some_and(|p| p.len() > 1);
    }
}

fn csv_bytes(rows: &[&SheetRow]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["First Name", "Last Name", "Mobile", "Email", "Campaign"])
        .expect("in memory");
    for r in rows {
        w.write_record([&r.first, &r.last, &r.mobile, &r.email, "40123"])
            .expect("in memory");
    }
    w.into_inner().expect("in memory")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap()
}

/// The bench directory: the shipped one with campaign 40123 requiring only a phone.
fn bench_directory(root: &Path, tmp: &Path) -> anyhow::Result<Directory> {
    let text = std::fs::read_to_string(root.join("config/directory.toml"))?;
    let from = "required = [\"first_name\", \"last_name\", \"phone\"]";
    anyhow::ensure!(
        text.contains(from),
        "config/directory.toml no longer has `{from}`: update the benchmark"
    );
    let path = tmp.join("directory.toml");
    std::fs::write(&path, text.replacen(from, "required = [\"phone\"]", 1))?;
    // Logos resolve against the file's folder.
    let logos = tmp.join("logos");
    std::fs::create_dir_all(&logos)?;
    for e in std::fs::read_dir(root.join("config/logos"))? {
        let e = e?;
        std::fs::copy(e.path(), logos.join(e.file_name()))?;
    }
    directory::load(&path).map_err(|p| anyhow::anyhow!("bench directory: {p}"))
}

struct World {
    pipeline: Pipeline,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn new(root: &Path, rules: Rules) -> anyhow::Result<World> {
        let tmp = tempfile::tempdir()?;
        let dir = bench_directory(root, tmp.path())?;
        let store = Store::open(&format!("sqlite://{}/bench.db", tmp.path().display())).await?;
        let composer = agency_portal::mail::Composer::new(
            "Agency Portal <portal@example.test>",
            "portal@example.test",
            &root.join("config/templates"),
        )?;
        store
            .sync_directory(&dir, "directory.toml", "bench", t0(), &composer)
            .await?;
        Ok(World {
            pipeline: Pipeline {
                store,
                directory: Arc::new(dir),
                rules,
                limits: Limits::default(),
                composer: None,
            },
            _tmp: tmp,
        })
    }

    async fn submit(
        &self,
        agency: &str,
        rows: &[&SheetRow],
        at: DateTime<Utc>,
    ) -> anyhow::Result<Processed> {
        let input = Input {
            file_name: format!("{agency}.csv"),
            bytes: csv_bytes(rows),
            agency_id: agency.into(),
            user_email: None,
            default_campaign: None,
            company_country: None,
            channel: Channel::Cli,
            sender: String::new(),
            check_only: false,
            source_ref: None,
            received_at: at,
            receipt: None,
        };
        match self.pipeline.process(input, None).await? {
            pipeline::Result::Processed(p) => {
                anyhow::ensure!(
                    p.outcomes.len() == rows.len(),
                    "{} outcomes for {} rows",
                    p.outcomes.len(),
                    rows.len()
                );
                Ok(p)
            }
            other => anyhow::bail!("the file was not processed: {other:?}"),
        }
    }
}

#[derive(Default)]
struct Score {
    should: usize,
    auto_caught: usize,
    auto_right: usize,
    review_caught: usize,
    review_right: usize,
    /// Misses by category, wrong catches by category.
    misses: HashMap<String, usize>,
    wrong: HashMap<String, usize>,
    note: String,
}

impl Score {
    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 {
            1.0
        } else {
            a as f64 / b as f64
        }
    }
    fn auto_precision(&self) -> f64 {
        Self::ratio(self.auto_right, self.auto_caught)
    }
    fn auto_recall(&self) -> f64 {
        Self::ratio(self.auto_right, self.should)
    }
    fn all_precision(&self) -> f64 {
        Self::ratio(
            self.auto_right + self.review_right,
            self.auto_caught + self.review_caught,
        )
    }
    fn all_recall(&self) -> f64 {
        Self::ratio(self.auto_right + self.review_right, self.should)
    }
    fn within_budget(&self) -> bool {
        self.auto_precision() >= PRECISION_MIN && self.all_recall() >= RECALL_MIN
    }

    /// `caught`: automatic or review; `right`: pointing to the right person.
    fn count(
        &mut self,
        should: bool,
        outcome: Outcome,
        right: bool,
        category: impl Fn() -> String,
    ) {
        let auto = matches!(
            outcome,
            Outcome::Duplicate | Outcome::Repeated | Outcome::PreviouslySubmitted
        );
        let review = outcome == Outcome::Review;
        if should {
            self.should += 1;
        }
        if auto {
            self.auto_caught += 1;
            self.auto_right += usize::from(right);
        }
        if review {
            self.review_caught += 1;
            self.review_right += usize::from(right);
        }
        if (auto || review) && !right {
            *self.wrong.entry(category()).or_default() += 1;
        } else if should && !right {
            *self.misses.entry(category()).or_default() += 1;
        }
    }
}

/// What kind of row a miss or a wrong catch is (the analysis printed under the figures).
fn category(
    outcome: Outcome,
    row: &SheetRow,
    mine: &who_is_who::Identity<&str>,
    other: Option<&who_is_who::Identity<&str>>,
    phone_same: bool,
    threshold: f64,
) -> String {
    let names = match other {
        Some(o) if who_is_who::names_similar(mine, o, threshold) => "names similar",
        Some(o) if mine.full_is_empty() || o.full_is_empty() => "a name empty",
        Some(_) => "names not similar",
        None => "no earlier row",
    };
    format!(
        "{:<20} email {:<5} phone {:<8} {}{}",
        outcome.as_str(),
        row.email_kind,
        if phone_same { "same" } else { "changed" },
        names,
        if row.shared {
            "; an address the mapping gives two people"
        } else {
            ""
        }
    )
}

trait FullEmpty {
    fn full_is_empty(&self) -> bool;
}

impl FullEmpty for who_is_who::Identity<&str> {
    fn full_is_empty(&self) -> bool {
        self.first.is_empty() && self.last.is_empty()
    }
}

async fn cross_agency(
    root: &Path,
    rules: Rules,
    records: &[Record],
    rows: &[SheetRow],
) -> anyhow::Result<Score> {
    let world = World::new(root, rules).await?;
    let (orig, copies): (Vec<usize>, Vec<usize>) =
        (0..records.len()).partition(|&i| records[i].original);
    let a = world
        .submit(
            "acme",
            &orig.iter().map(|&i| &rows[i]).collect::<Vec<_>>(),
            t0(),
        )
        .await?;
    let b = world
        .submit(
            "bayanihan",
            &copies.iter().map(|&i| &rows[i]).collect::<Vec<_>>(),
            t0() + Duration::hours(1),
        )
        .await?;
    // The candidate created from each original, and its identity.
    let mut created: HashMap<u64, i64> = HashMap::new();
    let mut orig_of: HashMap<u64, usize> = HashMap::new();
    for (k, &i) in orig.iter().enumerate() {
        orig_of.insert(records[i].n, k);
        let o = &a.outcomes[k];
        if o.outcome == Outcome::New {
            if let Some(id) = o.candidate_id {
                created.insert(records[i].n, id);
            }
        }
    }
    let mut s = Score::default();
    for (k, &i) in copies.iter().enumerate() {
        let o = &b.outcomes[k];
        let n = records[i].n;
        // `repeated` is the in-file catch: right when it points to an earlier row of the person.
        let right = if o.outcome == Outcome::Repeated {
            o.same_as_row
                .and_then(|num| usize::try_from(num).ok()?.checked_sub(2))
                .is_some_and(|k2| k2 < k && records[copies[k2]].n == n)
        } else {
            o.candidate_id.is_some() && o.candidate_id == created.get(&n).copied()
        };
        let j = orig_of.get(&n).copied();
        let mine = identity(&b.rows[k]);
        let theirs = j.map(|j| identity(&a.rows[j]));
        let phone_same = j.is_some_and(|j| rows[orig[j]].mobile == rows[i].mobile);
        if std::env::var_os("BENCH_DEDUPE_DEBUG").is_some() && o.outcome != Outcome::New && !right {
            eprintln!(
                "cross {} {:?} cand {:?} (original's {:?}) same_as_row {:?} | {:?} | orig {:?}",
                records[i].rec_id,
                o.outcome,
                o.candidate_id,
                created.get(&n),
                o.same_as_row,
                (
                    &rows[i].first,
                    &rows[i].last,
                    &rows[i].email,
                    &rows[i].mobile
                ),
                j.map(|j| (
                    &rows[orig[j]].first,
                    &rows[orig[j]].last,
                    &rows[orig[j]].email,
                    &rows[orig[j]].mobile,
                    a.outcomes[j].outcome
                )),
            );
        }
        s.count(true, o.outcome, right, || {
            category(
                o.outcome,
                &rows[i],
                &mine,
                theirs.as_ref(),
                phone_same,
                rules.name_similarity,
            )
        });
    }
    Ok(s)
}

async fn in_file(
    root: &Path,
    rules: Rules,
    records: &[Record],
    rows: &[SheetRow],
) -> anyhow::Result<Score> {
    let world = World::new(root, rules).await?;
    let p = world
        .submit("acme", &rows.iter().collect::<Vec<_>>(), t0())
        .await?;
    let mut first_of: HashMap<u64, usize> = HashMap::new();
    let mut s = Score::default();
    // Different people the mapping gives an equal email key or phone key: the same person by
    // SPEC §6.3, so a wrong automatic catch no rule can avoid.
    let mut by_key: HashMap<String, std::collections::BTreeSet<u64>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let id = identity(&p.rows[i]);
        for k in [
            id.email_key.map(|e| format!("e:{e}")),
            id.phone_key.map(|p| format!("p:{p}")),
        ]
        .into_iter()
        .flatten()
        {
            by_key.entry(k).or_default().insert(r.n);
        }
    }
    let shared = |tag: &str| {
        by_key
            .iter()
            .filter(|(k, ns)| k.starts_with(tag) && ns.len() > 1)
            .map(|(_, ns)| ns.len())
            .sum::<usize>()
    };
    s.note = format!(
        "the mapping gives {} people an email key and {} people a phone key that another person has too",
        shared("e:"),
        shared("p:")
    );
    for (i, r) in records.iter().enumerate() {
        let earlier = first_of.get(&r.n).copied();
        first_of.entry(r.n).or_insert(i);
        let o = &p.outcomes[i];
        // Row numbers: the header is row 1.
        let pointed = o
            .same_as_row
            .and_then(|num| usize::try_from(num).ok()?.checked_sub(2));
        let right = pointed.is_some_and(|j| j < i && records[j].n == r.n);
        let mine = identity(&p.rows[i]);
        let theirs = earlier.map(|j| identity(&p.rows[j]));
        let phone_same = earlier.is_some_and(|j| rows[j].mobile == rows[i].mobile);
        if std::env::var_os("BENCH_DEDUPE_DEBUG").is_some()
            && (earlier.is_some() || o.outcome != Outcome::New)
            && !right
        {
            eprintln!(
                "in-file {} {:?} same_as_row {:?} -> {:?} | {:?} | pointed {:?} | first {:?}",
                r.rec_id,
                o.outcome,
                o.same_as_row,
                pointed.map(|j| &records[j].rec_id),
                (
                    &rows[i].first,
                    &rows[i].last,
                    &rows[i].email,
                    &rows[i].mobile
                ),
                pointed.map(|j| (
                    &rows[j].first,
                    &rows[j].last,
                    &rows[j].email,
                    &rows[j].mobile
                )),
                earlier.map(|j| (
                    &rows[j].first,
                    &rows[j].last,
                    &rows[j].email,
                    &rows[j].mobile,
                    p.outcomes[j].outcome
                )),
            );
        }
        s.count(earlier.is_some(), o.outcome, right, || {
            category(
                o.outcome,
                &rows[i],
                &mine,
                theirs.as_ref(),
                phone_same,
                rules.name_similarity,
            )
        });
    }
    Ok(s)
}

fn print_score(scenario: &str, dataset: &str, s: &Score) {
    println!(
        "{scenario:<13} {dataset:<9} should be caught {:>4} | automatic: precision {:.4} ({}/{}) recall {:.4} | automatic + review: precision {:.4} ({}/{}) recall {:.4} ({}/{}) | {}",
        s.should,
        s.auto_precision(),
        s.auto_right,
        s.auto_caught,
        s.auto_recall(),
        s.all_precision(),
        s.auto_right + s.review_right,
        s.auto_caught + s.review_caught,
        s.all_recall(),
        s.auto_right + s.review_right,
        s.should,
        if s.within_budget() { "within budget" } else { "OVER BUDGET" }
    );
}

fn print_analysis(s: &Score) {
    if !s.note.is_empty() {
        println!("    {}", s.note);
    }
    let show = |title: &str, m: &HashMap<String, usize>| {
        if m.is_empty() {
            return;
        }
        println!("    {title}:");
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in v {
            println!("      {n:>5}  {k}");
        }
    };
    show(
        "wrong catches (outcome, email, phone vs. the person's first row, names)",
        &s.wrong,
    );
    show(
        "missed (outcome, email, phone vs. the person's first row, names)",
        &s.misses,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/febrl"));
    let settings = settings::load(&root.join("config/agency-portal.toml"))?;
    let rules = Rules {
        scope: settings.policy.scope,
        ownership_days: settings.policy.ownership_days,
        name_similarity: settings.policy.name_similarity,
    };
    println!(
        "FEBRL from {}; shipped policy: scope {}, name_similarity {}; SQLite; campaign 40123 requiring only a phone",
        data.display(),
        format!("{:?}", rules.scope).to_lowercase(),
        rules.name_similarity
    );
    println!(
        "budget: automatic precision >= {PRECISION_MIN}, automatic + review recall >= {RECALL_MIN}"
    );
    let mut all_ok = true;
    for name in ["dataset1", "dataset2"] {
        let records = read_febrl(&data.join(format!("{name}.csv")))?;
        let rows = sheet_rows(&records);
        let t = std::time::Instant::now();
        let cross = cross_agency(&root, rules, &records, &rows).await?;
        print_score("cross-agency", name, &cross);
        print_analysis(&cross);
        let inf = in_file(&root, rules, &records, &rows).await?;
        print_score("in-file", name, &inf);
        print_analysis(&inf);
        eprintln!("({name}: {:.1}s)", t.elapsed().as_secs_f64());
        all_ok &= cross.within_budget() && inf.within_budget();
    }
    println!(
        "{}",
        if all_ok {
            "bench-dedupe: every run within budget"
        } else {
            "bench-dedupe: OVER BUDGET"
        }
    );
    if !all_ok {
        std::process::exit(1);
    }
    Ok(())
}
